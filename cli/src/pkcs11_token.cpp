#include "pkcs11_token.hpp"

#include "aegis/crypto/keys.hpp"
#include "aegis/ctl/transport.hpp"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

// Last, and with the GNU names: the compatibility names are macros such as `value` and `count`.
#define CRYPTOKI_GNU 1
#include <p11-kit/pkcs11.h>

namespace aegis::ctl::pkcs11 {

namespace {

ctl_error p11_error(const std::string& message) {
  return ctl_error("pkcs11", message);
}

std::string rv_name(ck_rv_t rv) {
  struct named {
    ck_rv_t rv;
    const char* name;
  };
  static constexpr std::array<named, 30> names{{
      {CKR_OK, "CKR_OK"},
      {CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR"},
      {CKR_HOST_MEMORY, "CKR_HOST_MEMORY"},
      {CKR_FUNCTION_FAILED, "CKR_FUNCTION_FAILED"},
      {CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD"},
      {CKR_ATTRIBUTE_READ_ONLY, "CKR_ATTRIBUTE_READ_ONLY"},
      {CKR_ATTRIBUTE_SENSITIVE, "CKR_ATTRIBUTE_SENSITIVE"},
      {CKR_ATTRIBUTE_TYPE_INVALID, "CKR_ATTRIBUTE_TYPE_INVALID"},
      {CKR_ATTRIBUTE_VALUE_INVALID, "CKR_ATTRIBUTE_VALUE_INVALID"},
      {CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR"},
      {CKR_DEVICE_MEMORY, "CKR_DEVICE_MEMORY"},
      {CKR_DEVICE_REMOVED, "CKR_DEVICE_REMOVED"},
      {CKR_KEY_HANDLE_INVALID, "CKR_KEY_HANDLE_INVALID"},
      {CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID"},
      {CKR_OBJECT_HANDLE_INVALID, "CKR_OBJECT_HANDLE_INVALID"},
      {CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT"},
      {CKR_PIN_LEN_RANGE, "CKR_PIN_LEN_RANGE"},
      {CKR_PIN_EXPIRED, "CKR_PIN_EXPIRED"},
      {CKR_PIN_LOCKED, "CKR_PIN_LOCKED"},
      {CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID"},
      {CKR_SESSION_READ_ONLY, "CKR_SESSION_READ_ONLY"},
      {CKR_TEMPLATE_INCOMPLETE, "CKR_TEMPLATE_INCOMPLETE"},
      {CKR_TEMPLATE_INCONSISTENT, "CKR_TEMPLATE_INCONSISTENT"},
      {CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT"},
      {CKR_TOKEN_WRITE_PROTECTED, "CKR_TOKEN_WRITE_PROTECTED"},
      {CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN"},
      {CKR_USER_PIN_NOT_INITIALIZED, "CKR_USER_PIN_NOT_INITIALIZED"},
      {CKR_DOMAIN_PARAMS_INVALID, "CKR_DOMAIN_PARAMS_INVALID"},
      {CKR_CRYPTOKI_NOT_INITIALIZED, "CKR_CRYPTOKI_NOT_INITIALIZED"},
      {CKR_BUFFER_TOO_SMALL, "CKR_BUFFER_TOO_SMALL"},
  }};
  for (const auto& n : names) {
    if (n.rv == rv) {
      return n.name;
    }
  }
  char hex[32];
  std::snprintf(hex, sizeof hex, "CKR 0x%lx", rv);
  return hex;
}

void check(ck_rv_t rv, const char* what) {
  if (rv != CKR_OK) {
    throw p11_error(std::string(what) + " failed: " + rv_name(rv));
  }
}

// DER of the named curve prime256v1 (1.2.840.10045.3.1.7), as CKA_EC_PARAMS holds it.
constexpr std::array<std::uint8_t, 10> p256_oid_der{0x06, 0x08, 0x2a, 0x86, 0x48,
                                                    0xce, 0x3d, 0x03, 0x01, 0x07};
constexpr std::size_t p256_point_size = 65; // 0x04 || X || Y

// A loaded and initialised module: C_Finalize and dlclose on destruction.
class module_handle {
public:
  explicit module_handle(const std::string& path) {
    if (path.empty()) {
      throw usage_error("--module needs the path of a PKCS#11 module");
    }
    lib_ = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib_ == nullptr) {
      const char* e = ::dlerror();
      throw p11_error("cannot load the PKCS#11 module " + path + ": " +
                      (e != nullptr ? e : "dlopen failed"));
    }
    void* sym = ::dlsym(lib_, "C_GetFunctionList");
    if (sym == nullptr) {
      ::dlclose(lib_);
      throw p11_error(path + " is not a PKCS#11 module (no C_GetFunctionList)");
    }
    ck_rv_t (*get_list)(struct ck_function_list**) = nullptr;
    static_assert(sizeof(get_list) == sizeof(sym));
    std::memcpy(&get_list, &sym, sizeof sym); // object pointer -> function pointer (POSIX)
    ck_rv_t rv = get_list(&fl_);
    if (rv != CKR_OK || fl_ == nullptr) {
      ::dlclose(lib_);
      throw p11_error("C_GetFunctionList of " + path + " failed: " + rv_name(rv));
    }
    struct ck_c_initialize_args args {};
    args.flags = CKF_OS_LOCKING_OK;
    rv = fl_->C_Initialize(&args);
    // Already initialised by someone else in this process: theirs to finalise.
    owns_init_ = rv == CKR_OK;
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
      ::dlclose(lib_);
      throw p11_error("C_Initialize of " + path + " failed: " + rv_name(rv));
    }
  }
  ~module_handle() {
    if (owns_init_) {
      (void)fl_->C_Finalize(nullptr);
    }
    ::dlclose(lib_);
  }
  module_handle(const module_handle&) = delete;
  module_handle& operator=(const module_handle&) = delete;

  struct ck_function_list* fl() const noexcept {
    return fl_;
  }

private:
  void* lib_ = nullptr;
  struct ck_function_list* fl_ = nullptr;
  bool owns_init_ = false;
};

// An open R/W session, logged in once login() succeeded: logout and close on destruction.
class session_handle {
public:
  session_handle(struct ck_function_list* fl, ck_slot_id_t slot) : fl_(fl) {
    check(fl_->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &h_),
          "C_OpenSession");
  }
  ~session_handle() {
    if (logged_in_) {
      (void)fl_->C_Logout(h_);
    }
    (void)fl_->C_CloseSession(h_);
  }
  session_handle(const session_handle&) = delete;
  session_handle& operator=(const session_handle&) = delete;

  void login(const std::string& token_label, bytes_view pin) {
    const ck_rv_t rv = fl_->C_Login(h_, CKU_USER, const_cast<unsigned char*>(pin.data()),
                                    static_cast<unsigned long>(pin.size()));
    if (rv == CKR_USER_ALREADY_LOGGED_IN) {
      return;
    }
    const std::string who = "token \"" + token_label + "\"";
    switch (rv) {
    case CKR_OK:
      logged_in_ = true;
      return;
    case CKR_PIN_INCORRECT:
      throw p11_error(who + " refused the PIN (CKR_PIN_INCORRECT)");
    case CKR_PIN_LEN_RANGE:
      throw p11_error(who + " refused the PIN: wrong length (CKR_PIN_LEN_RANGE)");
    case CKR_PIN_LOCKED:
      throw p11_error(who + ": the user PIN is locked (CKR_PIN_LOCKED)");
    case CKR_USER_PIN_NOT_INITIALIZED:
      throw p11_error(who + " has no user PIN yet (CKR_USER_PIN_NOT_INITIALIZED)");
    default:
      throw p11_error("login to " + who + " failed: " + rv_name(rv));
    }
  }

  ck_session_handle_t get() const noexcept { return h_; }

private:
  struct ck_function_list* fl_;
  ck_session_handle_t h_ = 0;
  bool logged_in_ = false;
};

std::string trimmed_label(const unsigned char (&label)[32]) {
  std::string s(reinterpret_cast<const char*>(label), sizeof label);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) {
    s.pop_back();
  }
  return s;
}

struct ck_attribute attr(ck_attribute_type_t type, const void* data, std::size_t size) {
  return {type, const_cast<void*>(data), static_cast<unsigned long>(size)};
}

struct pkey_free {
  void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
struct pkey_ctx_free {
  void operator()(EVP_PKEY_CTX* c) const noexcept { EVP_PKEY_CTX_free(c); }
};

} // namespace

// --- PIN sources ---------------------------------------------------------------------------

crypto::secure_buffer pin_from_env(const std::string& var) {
  const char* v = std::getenv(var.c_str());
  if (v == nullptr || *v == '\0') {
    throw usage_error("--pin-env: the environment variable " + var + " is not set or empty");
  }
  return crypto::secure_buffer(
      bytes_view(reinterpret_cast<const std::uint8_t*>(v), std::strlen(v)));
}

crypto::secure_buffer pin_from_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    const int e = errno;
    if (e == ELOOP) {
      throw usage_error("PIN file " + path + " is a symbolic link; refusing to read it");
    }
    throw ctl_error("file", "cannot read PIN file " + path + ": " + std::strerror(e));
  }
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } close_fd{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    throw ctl_error("file", "cannot stat PIN file " + path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    throw usage_error("PIN file " + path + " is not a regular file");
  }
  if (st.st_uid != ::geteuid()) {
    throw usage_error("PIN file " + path + " belongs to another user; refusing to read it");
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    throw usage_error("PIN file " + path + " has mode " + mode +
                      ": group or others may access it (chmod 600 it)");
  }
  constexpr std::size_t max_pin_file = 1024;
  crypto::secure_buffer buf(max_pin_file);
  std::size_t done = 0;
  while (done < buf.size()) {
    const ssize_t n = ::read(fd, buf.data() + done, buf.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      throw ctl_error("file", "cannot read PIN file " + path + ": " + std::strerror(errno));
    }
    if (n == 0) {
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  if (done == buf.size()) {
    throw usage_error("PIN file " + path + " is too large to hold a PIN");
  }
  while (done > 0 && (buf.data()[done - 1] == '\n' || buf.data()[done - 1] == '\r')) {
    --done;
  }
  if (done == 0) {
    throw usage_error("PIN file " + path + " is empty");
  }
  return crypto::secure_buffer(bytes_view(buf.data(), done));
}

// --- URI and public key --------------------------------------------------------------------

std::string key_uri(std::string_view token_label, std::string_view key_label) {
  auto enc = [](std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (const char ch : s) {
      const auto c = static_cast<unsigned char>(ch);
      if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '.' || c == '_' || c == '~') {
        out += ch;
      } else {
        out += '%';
        out += hex[c >> 4];
        out += hex[c & 0xF];
      }
    }
    return out;
  };
  return "pkcs11:token=" + enc(token_label) + ";object=" + enc(key_label) + ";type=private";
}

std::string ec_p256_public_pem(bytes_view ec_params, bytes_view ec_point) {
  if (!std::equal(ec_params.begin(), ec_params.end(), p256_oid_der.begin(), p256_oid_der.end())) {
    throw p11_error("the token's key is not on curve P-256 (CKA_EC_PARAMS)");
  }
  // PKCS#11 2.40: CKA_EC_POINT is DER OCTET STRING { 04 || X || Y }. Some tokens give the bare
  // point; the lengths tell the two apart (67 vs 65 bytes).
  bytes_view point = ec_point;
  if (ec_point.size() == p256_point_size + 2 && ec_point[0] == 0x04 &&
      ec_point[1] == p256_point_size) {
    point = ec_point.subspan(2);
  }
  if (point.size() != p256_point_size || point[0] != 0x04) {
    throw p11_error("the token's CKA_EC_POINT is not an uncompressed P-256 point");
  }
  std::unique_ptr<EVP_PKEY_CTX, pkey_ctx_free> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  char group[] = "prime256v1";
  std::array<OSSL_PARAM, 3> params{
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                        const_cast<std::uint8_t*>(point.data()), point.size()),
      OSSL_PARAM_construct_end()};
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.data()) <= 0 ||
      raw == nullptr) {
    ERR_clear_error();
    throw p11_error("the token's public key is not a valid P-256 point");
  }
  std::unique_ptr<EVP_PKEY, pkey_free> pkey(raw);
  std::unique_ptr<EVP_PKEY_CTX, pkey_ctx_free> check_ctx(
      EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
  if (!check_ctx || EVP_PKEY_public_check(check_ctx.get()) != 1) {
    ERR_clear_error();
    throw p11_error("the token's public key fails the P-256 public key check");
  }
  auto key = crypto::public_key::adopt(pkey.release());
  if (!key) {
    throw p11_error("the token's public key is refused: " + key.error().message());
  }
  auto pem = key->to_pem();
  if (!pem) {
    throw p11_error("cannot encode the token's public key: " + pem.error().message());
  }
  return *pem;
}

// --- token ---------------------------------------------------------------------------------

struct token::impl {
  std::string label;
  module_handle mod;
  std::unique_ptr<session_handle> sess; // destroyed before mod

  impl(const std::string& module_path, const std::string& token_label)
      : label(token_label), mod(module_path) {}

  struct ck_function_list* fl() const noexcept {
    return mod.fl();
  }
  ck_session_handle_t h() const noexcept { return sess->get(); }

  std::vector<ck_object_handle_t> find(std::vector<struct ck_attribute> templ) {
    check(fl()->C_FindObjectsInit(h(), templ.data(), static_cast<unsigned long>(templ.size())),
          "C_FindObjectsInit");
    std::vector<ck_object_handle_t> found;
    ck_rv_t rv = CKR_OK;
    for (;;) {
      std::array<ck_object_handle_t, 16> batch{};
      unsigned long n = 0;
      rv = fl()->C_FindObjects(h(), batch.data(), batch.size(), &n);
      if (rv != CKR_OK || n == 0) {
        break;
      }
      found.insert(found.end(), batch.begin(), batch.begin() + static_cast<std::ptrdiff_t>(n));
    }
    (void)fl()->C_FindObjectsFinal(h());
    check(rv, "C_FindObjects");
    return found;
  }

  ck_object_handle_t find_one(ck_object_class_t cls, std::string_view key_label) {
    const auto found = find(
        {attr(CKA_CLASS, &cls, sizeof cls), attr(CKA_LABEL, key_label.data(), key_label.size())});
    if (found.size() != 1) {
      throw p11_error(std::to_string(found.size()) + " " +
                      (cls == CKO_PRIVATE_KEY ? "private" : "public") + " key(s) labelled \"" +
                      std::string(key_label) + "\" in token \"" + label + "\"");
    }
    return found.front();
  }

  attribute_read get(ck_object_handle_t obj, ck_attribute_type_t type) {
    attribute_read r;
    struct ck_attribute a = attr(type, nullptr, 0);
    r.rv = fl()->C_GetAttributeValue(h(), obj, &a, 1);
    if (r.rv != CKR_OK) {
      return r;
    }
    if (a.value_len == CK_UNAVAILABLE_INFORMATION) {
      r.rv = CKR_ATTRIBUTE_SENSITIVE;
      return r;
    }
    r.value.resize(a.value_len);
    a.value = r.value.data();
    r.rv = fl()->C_GetAttributeValue(h(), obj, &a, 1);
    r.value.resize(r.rv == CKR_OK ? a.value_len : 0);
    return r;
  }

  bytes get_or_throw(ck_object_handle_t obj, ck_attribute_type_t type, const char* name) {
    attribute_read r = get(obj, type);
    if (r.rv != CKR_OK) {
      throw p11_error(std::string("cannot read ") + name + ": " + rv_name(r.rv));
    }
    return std::move(r.value);
  }

  bool get_bool(ck_object_handle_t obj, ck_attribute_type_t type, const char* name) {
    const bytes v = get_or_throw(obj, type, name);
    return v.size() == 1 && v[0] != 0;
  }

  std::string public_pem_of(ck_object_handle_t pub) {
    const bytes params = get_or_throw(pub, CKA_EC_PARAMS, "CKA_EC_PARAMS");
    const bytes point = get_or_throw(pub, CKA_EC_POINT, "CKA_EC_POINT");
    return ec_p256_public_pem(params, point);
  }
};

token::token(const std::string& module_path, const std::string& token_label, bytes_view pin) {
  if (token_label.empty() || token_label.size() > 32) {
    throw usage_error("--token-label must be 1 to 32 bytes (a PKCS#11 token label)");
  }
  p_ = std::make_unique<impl>(module_path, token_label);
  auto* fl = p_->fl();
  unsigned long n = 0;
  check(fl->C_GetSlotList(1, nullptr, &n), "C_GetSlotList");
  std::vector<ck_slot_id_t> slots(n);
  check(fl->C_GetSlotList(1, slots.data(), &n), "C_GetSlotList");
  slots.resize(n);
  std::vector<ck_slot_id_t> matches;
  for (const auto slot : slots) {
    struct ck_token_info info {};
    if (fl->C_GetTokenInfo(slot, &info) == CKR_OK && trimmed_label(info.label) == token_label) {
      if ((info.flags & CKF_WRITE_PROTECTED) != 0) {
        throw p11_error("token \"" + token_label + "\" is write-protected");
      }
      matches.push_back(slot);
    }
  }
  if (matches.empty()) {
    throw p11_error("no token labelled \"" + token_label + "\" in the module");
  }
  if (matches.size() > 1) {
    throw p11_error(std::to_string(matches.size()) + " tokens are labelled \"" + token_label +
                    "\"; give each token its own label");
  }
  p_->sess = std::make_unique<session_handle>(fl, matches.front());
  p_->sess->login(token_label, pin);
}

token::~token() = default;

const std::string& token::label() const noexcept {
  return p_->label;
}

bool token::has_object(std::string_view key_label) {
  return !p_->find({attr(CKA_LABEL, key_label.data(), key_label.size())}).empty() ||
         !p_->find({attr(CKA_ID, key_label.data(), key_label.size())}).empty();
}

generated_key token::generate_ec_p256(const std::string& key_label) {
  if (key_label.empty()) {
    throw usage_error("the key label must not be empty");
  }
  if (has_object(key_label)) {
    throw p11_error("token \"" + p_->label + "\" already holds an object with label or id \"" +
                    key_label + "\"; refusing to create another (pick --key-label)");
  }
  unsigned char yes = 1;
  unsigned char no = 0;
  ck_object_class_t pub_class = CKO_PUBLIC_KEY;
  ck_object_class_t priv_class = CKO_PRIVATE_KEY;
  ck_key_type_t key_type = CKK_EC;
  std::vector<struct ck_attribute> pub{
      attr(CKA_CLASS, &pub_class, sizeof pub_class),
      attr(CKA_KEY_TYPE, &key_type, sizeof key_type),
      attr(CKA_TOKEN, &yes, 1),
      attr(CKA_PRIVATE, &no, 1),
      attr(CKA_VERIFY, &yes, 1),
      attr(CKA_EC_PARAMS, p256_oid_der.data(), p256_oid_der.size()),
      attr(CKA_ID, key_label.data(), key_label.size()),
      attr(CKA_LABEL, key_label.data(), key_label.size()),
  };
  std::vector<struct ck_attribute> priv{
      attr(CKA_CLASS, &priv_class, sizeof priv_class),
      attr(CKA_KEY_TYPE, &key_type, sizeof key_type),
      attr(CKA_TOKEN, &yes, 1),
      attr(CKA_PRIVATE, &yes, 1),
      attr(CKA_SENSITIVE, &yes, 1),
      attr(CKA_EXTRACTABLE, &no, 1),
      attr(CKA_SIGN, &yes, 1),
      attr(CKA_DERIVE, &no, 1),
      attr(CKA_ID, key_label.data(), key_label.size()),
      attr(CKA_LABEL, key_label.data(), key_label.size()),
  };
  struct ck_mechanism mech {
    CKM_EC_KEY_PAIR_GEN, nullptr, 0
  };
  generated_key k;
  check(p_->fl()->C_GenerateKeyPair(p_->h(), &mech, pub.data(), pub.size(), priv.data(),
                                    priv.size(), &k.public_handle, &k.private_handle),
        "C_GenerateKeyPair (EC P-256)");
  k.label = key_label;
  try {
    // Trust, but verify: a token that silently ignored the template must not get a device key.
    if (!p_->get_bool(k.private_handle, CKA_SENSITIVE, "CKA_SENSITIVE") ||
        p_->get_bool(k.private_handle, CKA_EXTRACTABLE, "CKA_EXTRACTABLE") ||
        !p_->get_bool(k.private_handle, CKA_TOKEN, "CKA_TOKEN")) {
      throw p11_error("token \"" + p_->label +
                      "\" did not make the private key a sensitive, non-extractable token "
                      "object");
    }
    k.public_pem = p_->public_pem_of(k.public_handle);
  } catch (...) {
    (void)destroy(k);
    throw;
  }
  k.uri = key_uri(p_->label, key_label);
  return k;
}

bool token::destroy(const generated_key& k) noexcept {
  const ck_rv_t a = p_->fl()->C_DestroyObject(p_->h(), k.private_handle);
  const ck_rv_t b = p_->fl()->C_DestroyObject(p_->h(), k.public_handle);
  return a == CKR_OK && b == CKR_OK;
}

std::string token::public_key_pem(std::string_view key_label) {
  return p_->public_pem_of(p_->find_one(CKO_PUBLIC_KEY, key_label));
}

bytes token::sign_digest(std::string_view key_label, bytes_view digest) {
  const ck_object_handle_t key = p_->find_one(CKO_PRIVATE_KEY, key_label);
  struct ck_mechanism mech {
    CKM_ECDSA, nullptr, 0
  };
  check(p_->fl()->C_SignInit(p_->h(), &mech, key), "C_SignInit (CKM_ECDSA)");
  bytes sig(2 * 32);
  unsigned long len = sig.size();
  check(p_->fl()->C_Sign(p_->h(), const_cast<std::uint8_t*>(digest.data()), digest.size(),
                         sig.data(), &len),
        "C_Sign");
  sig.resize(len);
  return sig;
}

attribute_read token::private_key_attribute(std::string_view key_label, unsigned long type) {
  return p_->get(p_->find_one(CKO_PRIVATE_KEY, key_label), type);
}

} // namespace aegis::ctl::pkcs11
