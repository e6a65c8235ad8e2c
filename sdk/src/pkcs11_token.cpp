#include "pkcs11_token.hpp"

#include "aegis/base/log.hpp"
#include "aegis/crypto/keys.hpp"
#include "aegis/crypto/random.hpp"
#include "aegis/device/errors.hpp"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <dlfcn.h>
#include <map>
#include <mutex>
#include <vector>

// Last, and with the GNU names: the compatibility names are macros such as `value` and `count`.
#define CRYPTOKI_GNU 1
#include <p11-kit/pkcs11.h>

namespace aegis::device::detail {

namespace {

constexpr std::string_view log_component = "device.pkcs11";

std::string rv_name(ck_rv_t rv) {
  struct named {
    ck_rv_t rv;
    const char* name;
  };
  static constexpr std::array<named, 24> names{{
      {CKR_OK, "CKR_OK"},
      {CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR"},
      {CKR_HOST_MEMORY, "CKR_HOST_MEMORY"},
      {CKR_FUNCTION_FAILED, "CKR_FUNCTION_FAILED"},
      {CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD"},
      {CKR_ATTRIBUTE_SENSITIVE, "CKR_ATTRIBUTE_SENSITIVE"},
      {CKR_ATTRIBUTE_TYPE_INVALID, "CKR_ATTRIBUTE_TYPE_INVALID"},
      {CKR_ATTRIBUTE_VALUE_INVALID, "CKR_ATTRIBUTE_VALUE_INVALID"},
      {CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR"},
      {CKR_DEVICE_REMOVED, "CKR_DEVICE_REMOVED"},
      {CKR_ENCRYPTED_DATA_INVALID, "CKR_ENCRYPTED_DATA_INVALID"},
      {CKR_KEY_HANDLE_INVALID, "CKR_KEY_HANDLE_INVALID"},
      {CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID"},
      {CKR_MECHANISM_PARAM_INVALID, "CKR_MECHANISM_PARAM_INVALID"},
      {CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT"},
      {CKR_PIN_LEN_RANGE, "CKR_PIN_LEN_RANGE"},
      {CKR_PIN_LOCKED, "CKR_PIN_LOCKED"},
      {CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID"},
      {CKR_TEMPLATE_INCOMPLETE, "CKR_TEMPLATE_INCOMPLETE"},
      {CKR_TEMPLATE_INCONSISTENT, "CKR_TEMPLATE_INCONSISTENT"},
      {CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT"},
      {CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN"},
      {CKR_USER_PIN_NOT_INITIALIZED, "CKR_USER_PIN_NOT_INITIALIZED"},
      {CKR_BUFFER_TOO_SMALL, "CKR_BUFFER_TOO_SMALL"},
  }};
  for (const auto& n : names) {
    if (n.rv == rv) {
      return n.name;
    }
  }
  std::array<char, 32> hex{};
  std::snprintf(hex.data(), hex.size(), "CKR 0x%lx", rv);
  return hex.data();
}

// Logs the CKR_ value (the error code alone cannot carry it) and maps it to pkcs11_failure.
std::error_code failure(const char* what, ck_rv_t rv) {
  log::warn(log_component, "{} failed: {}", what, rv_name(rv));
  return make_error_code(keystore_errc::pkcs11_failure);
}

// DER of the named curve prime256v1 (1.2.840.10045.3.1.7), as CKA_EC_PARAMS holds it.
constexpr std::array<std::uint8_t, 10> p256_oid_der{0x06, 0x08, 0x2a, 0x86, 0x48,
                                                    0xce, 0x3d, 0x03, 0x01, 0x07};
constexpr std::size_t p256_point_size = 65; // 0x04 || X || Y
constexpr std::size_t p256_signature_size = 64;
constexpr std::size_t gcm_tag_size = 16;

struct ck_attribute attr(ck_attribute_type_t type, const void* data, std::size_t size) {
  return {type, const_cast<void*>(data), static_cast<unsigned long>(size)};
}

std::string trimmed_label(const unsigned char (&label)[32]) {
  std::string s(reinterpret_cast<const char*>(label), sizeof label);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) {
    s.pop_back();
  }
  return s;
}

struct pkey_free {
  void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
struct pkey_ctx_free {
  void operator()(EVP_PKEY_CTX* c) const noexcept { EVP_PKEY_CTX_free(c); }
};

result<std::string> p256_public_pem(bytes_view ec_params, bytes_view ec_point) {
  if (!std::equal(ec_params.begin(), ec_params.end(), p256_oid_der.begin(), p256_oid_der.end())) {
    return keystore_errc::unsupported_key;
  }
  // PKCS#11 2.40: CKA_EC_POINT is DER OCTET STRING { 04 || X || Y }; some tokens give the bare
  // point. The lengths tell the two apart (67 vs 65 bytes).
  bytes_view point = ec_point;
  if (ec_point.size() == p256_point_size + 2 && ec_point[0] == 0x04 &&
      ec_point[1] == p256_point_size) {
    point = ec_point.subspan(2);
  }
  if (point.size() != p256_point_size || point[0] != 0x04) {
    return keystore_errc::unsupported_key;
  }
  std::unique_ptr<EVP_PKEY_CTX, pkey_ctx_free> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  std::array<char, 11> group{"prime256v1"};
  std::array<OSSL_PARAM, 3> params{
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group.data(), 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                        const_cast<std::uint8_t*>(point.data()), point.size()),
      OSSL_PARAM_construct_end()};
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.data()) <= 0 ||
      raw == nullptr) {
    ERR_clear_error();
    return keystore_errc::unsupported_key;
  }
  std::unique_ptr<EVP_PKEY, pkey_free> pkey(raw);
  std::unique_ptr<EVP_PKEY_CTX, pkey_ctx_free> check_ctx(
      EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
  if (!check_ctx || EVP_PKEY_public_check(check_ctx.get()) != 1) {
    ERR_clear_error();
    return keystore_errc::unsupported_key;
  }
  auto key = crypto::public_key::adopt(pkey.release());
  if (!key) {
    return key.error();
  }
  return key->to_pem();
}

// A loaded and initialised module, shared by every token of the process that uses it.
class module {
public:
  static result<std::shared_ptr<module>> load(const std::string& path) {
    static std::mutex mutex;
    static std::map<std::string, std::weak_ptr<module>> loaded;
    const std::lock_guard lock(mutex);
    if (auto existing = loaded[path].lock()) {
      return existing;
    }
    auto m = std::shared_ptr<module>(new module());
    m->lib_ = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (m->lib_ == nullptr) {
      const char* e = ::dlerror();
      log::warn(log_component, "cannot load PKCS#11 module {}: {}", path,
                e != nullptr ? e : "dlopen failed");
      return keystore_errc::pkcs11_module;
    }
    void* sym = ::dlsym(m->lib_, "C_GetFunctionList");
    if (sym == nullptr) {
      log::warn(log_component, "{} is not a PKCS#11 module (no C_GetFunctionList)", path);
      return keystore_errc::pkcs11_module;
    }
    ck_rv_t (*get_list)(struct ck_function_list**) = nullptr;
    static_assert(sizeof(get_list) == sizeof(sym));
    std::memcpy(&get_list, &sym, sizeof sym); // object pointer -> function pointer (POSIX)
    ck_rv_t rv = get_list(&m->fl_);
    if (rv != CKR_OK || m->fl_ == nullptr) {
      log::warn(log_component, "C_GetFunctionList of {} failed: {}", path, rv_name(rv));
      return keystore_errc::pkcs11_module;
    }
    struct ck_c_initialize_args args {};
    args.flags = CKF_OS_LOCKING_OK;
    rv = m->fl_->C_Initialize(&args);
    // Initialised by another library of this process: theirs to finalise.
    m->owns_init_ = rv == CKR_OK;
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
      log::warn(log_component, "C_Initialize of {} failed: {}", path, rv_name(rv));
      return keystore_errc::pkcs11_module;
    }
    loaded[path] = m;
    return m;
  }

  ~module() {
    if (owns_init_) {
      (void)fl_->C_Finalize(nullptr);
    }
    if (lib_ != nullptr) {
      ::dlclose(lib_);
    }
  }
  module(const module&) = delete;
  module& operator=(const module&) = delete;

  struct ck_function_list* fl() const noexcept {
    return fl_;
  }

private:
  module() = default;
  void* lib_ = nullptr;
  struct ck_function_list* fl_ = nullptr;
  bool owns_init_ = false;
};

} // namespace

struct pkcs11_token::impl {
  std::shared_ptr<module> mod;
  std::string module_path;
  std::string label;
  crypto::secure_buffer pin;
  std::mutex mutex; // a PKCS#11 session may not be used by two threads at once
  ck_session_handle_t session = 0;
  bool session_open = false;
  bool logged_in = false;

  ~impl() {
    if (logged_in) {
      (void)fl()->C_Logout(session);
    }
    if (session_open) {
      (void)fl()->C_CloseSession(session);
    }
  }

  struct ck_function_list* fl() const noexcept {
    return mod->fl();
  }

  result<std::vector<ck_object_handle_t>> find(std::vector<struct ck_attribute> templ) {
    ck_rv_t rv =
        fl()->C_FindObjectsInit(session, templ.data(), static_cast<unsigned long>(templ.size()));
    if (rv != CKR_OK) {
      return failure("C_FindObjectsInit", rv);
    }
    std::vector<ck_object_handle_t> found;
    for (int rounds = 0; rounds < 1024; ++rounds) {
      std::array<ck_object_handle_t, 16> batch{};
      unsigned long n = 0;
      rv = fl()->C_FindObjects(session, batch.data(), batch.size(), &n);
      if (rv != CKR_OK || n == 0) {
        break;
      }
      found.insert(found.end(), batch.begin(), batch.begin() + static_cast<std::ptrdiff_t>(n));
    }
    (void)fl()->C_FindObjectsFinal(session);
    if (rv != CKR_OK) {
      return failure("C_FindObjects", rv);
    }
    return found;
  }

  result<ck_object_handle_t> find_one(ck_object_class_t cls, std::string_view key_label) {
    auto found = find(
        {attr(CKA_CLASS, &cls, sizeof cls), attr(CKA_LABEL, key_label.data(), key_label.size())});
    if (!found) {
      return found.error();
    }
    if (found->empty()) {
      return keystore_errc::not_found;
    }
    if (found->size() > 1) {
      log::warn(log_component, "{} objects of class {} are labelled \"{}\" in token \"{}\"",
                found->size(), cls, key_label, label);
      return keystore_errc::pkcs11_failure;
    }
    return found->front();
  }

  result<bool> has_object(std::string_view key_label) {
    auto by_label = find({attr(CKA_LABEL, key_label.data(), key_label.size())});
    if (!by_label) {
      return by_label.error();
    }
    auto by_id = find({attr(CKA_ID, key_label.data(), key_label.size())});
    if (!by_id) {
      return by_id.error();
    }
    return !by_label->empty() || !by_id->empty();
  }

  attribute_probe get(ck_object_handle_t obj, ck_attribute_type_t type) {
    attribute_probe r;
    struct ck_attribute a = attr(type, nullptr, 0);
    r.rv = fl()->C_GetAttributeValue(session, obj, &a, 1);
    if (r.rv != CKR_OK) {
      return r;
    }
    if (a.value_len == CK_UNAVAILABLE_INFORMATION) {
      r.rv = CKR_ATTRIBUTE_SENSITIVE;
      return r;
    }
    r.value.resize(a.value_len);
    a.value = r.value.data();
    r.rv = fl()->C_GetAttributeValue(session, obj, &a, 1);
    r.value.resize(r.rv == CKR_OK ? a.value_len : 0);
    return r;
  }

  result<bytes> get_value(ck_object_handle_t obj, ck_attribute_type_t type, const char* name) {
    attribute_probe r = get(obj, type);
    if (r.rv != CKR_OK) {
      return failure(name, r.rv);
    }
    return std::move(r.value);
  }

  result<bool> get_bool(ck_object_handle_t obj, ck_attribute_type_t type, const char* name) {
    auto v = get_value(obj, type, name);
    if (!v) {
      return v.error();
    }
    return v->size() == 1 && (*v)[0] != 0;
  }

  result<std::string> public_pem_of(ck_object_handle_t pub) {
    auto params = get_value(pub, CKA_EC_PARAMS, "C_GetAttributeValue(CKA_EC_PARAMS)");
    if (!params) {
      return params.error();
    }
    auto point = get_value(pub, CKA_EC_POINT, "C_GetAttributeValue(CKA_EC_POINT)");
    if (!point) {
      return point.error();
    }
    return p256_public_pem(*params, *point);
  }

  // Leaves no half-made key behind when the token did not honour the template.
  void destroy_quietly(ck_object_handle_t obj) noexcept {
    (void)fl()->C_DestroyObject(session, obj);
  }
};

result<std::shared_ptr<pkcs11_token>> pkcs11_token::open(const pkcs11_slot& slot) {
  if (slot.token_label.empty() || slot.token_label.size() > 32) {
    return keystore_errc::pkcs11_login;
  }
  static std::mutex mutex;
  static std::map<std::string, std::weak_ptr<pkcs11_token>> opened;
  const std::lock_guard lock(mutex);
  const std::string key = slot.module.string() + '\n' + slot.token_label;
  if (auto existing = opened[key].lock()) {
    // The token is logged in for the whole process: only the same PIN may share it.
    if (!crypto::constant_time_equal(existing->p_->pin.view(), slot.user_pin.view())) {
      log::warn(log_component, "token \"{}\": PIN differs from the open session's",
                slot.token_label);
      return keystore_errc::pkcs11_login;
    }
    return existing;
  }

  auto mod = module::load(slot.module.string());
  if (!mod) {
    return mod.error();
  }
  auto p = std::make_unique<impl>();
  p->mod = std::move(*mod);
  p->module_path = slot.module.string();
  p->label = slot.token_label;
  p->pin = crypto::secure_buffer(slot.user_pin.view());
  auto* fl = p->fl();

  unsigned long n = 0;
  ck_rv_t rv = fl->C_GetSlotList(1, nullptr, &n);
  if (rv != CKR_OK) {
    (void)failure("C_GetSlotList", rv);
    return keystore_errc::pkcs11_module;
  }
  std::vector<ck_slot_id_t> slots(n);
  rv = fl->C_GetSlotList(1, slots.data(), &n);
  if (rv != CKR_OK) {
    (void)failure("C_GetSlotList", rv);
    return keystore_errc::pkcs11_module;
  }
  slots.resize(n);
  std::vector<ck_slot_id_t> matches;
  for (const auto s : slots) {
    struct ck_token_info info {};
    if (fl->C_GetTokenInfo(s, &info) == CKR_OK && trimmed_label(info.label) == slot.token_label) {
      matches.push_back(s);
    }
  }
  if (matches.size() != 1) {
    log::warn(log_component, "{} tokens labelled \"{}\" in {}", matches.size(), slot.token_label,
              p->module_path);
    return keystore_errc::pkcs11_login;
  }
  rv = fl->C_OpenSession(matches.front(), CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr,
                         &p->session);
  if (rv != CKR_OK) {
    return failure("C_OpenSession", rv);
  }
  p->session_open = true;
  rv = fl->C_Login(p->session, CKU_USER, const_cast<unsigned char*>(slot.user_pin.data()),
                   static_cast<unsigned long>(slot.user_pin.size()));
  if (rv == CKR_OK) {
    p->logged_in = true;
  } else if (rv != CKR_USER_ALREADY_LOGGED_IN) {
    log::warn(log_component, "login to token \"{}\" failed: {}", slot.token_label, rv_name(rv));
    return keystore_errc::pkcs11_login;
  }
  auto token = std::shared_ptr<pkcs11_token>(new pkcs11_token(std::move(p)));
  opened[key] = token;
  return token;
}

pkcs11_token::pkcs11_token(std::unique_ptr<impl> p) : p_(std::move(p)) {}
pkcs11_token::~pkcs11_token() = default;

const std::string& pkcs11_token::label() const noexcept {
  return p_->label;
}
const std::string& pkcs11_token::module_path() const noexcept {
  return p_->module_path;
}

result<std::string> pkcs11_token::generate_ec_p256(std::string_view key_label) {
  const std::lock_guard lock(p_->mutex);
  auto exists = p_->has_object(key_label);
  if (!exists) {
    return exists.error();
  }
  if (*exists) {
    return keystore_errc::key_exists;
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
  ck_object_handle_t pub_handle = 0;
  ck_object_handle_t priv_handle = 0;
  const ck_rv_t rv =
      p_->fl()->C_GenerateKeyPair(p_->session, &mech, pub.data(), pub.size(), priv.data(),
                                  priv.size(), &pub_handle, &priv_handle);
  if (rv != CKR_OK) {
    return failure("C_GenerateKeyPair (EC P-256)", rv);
  }
  // Trust, but verify: a token that silently ignored the template must not get a device key.
  auto sensitive = p_->get_bool(priv_handle, CKA_SENSITIVE, "C_GetAttributeValue(CKA_SENSITIVE)");
  auto extractable =
      p_->get_bool(priv_handle, CKA_EXTRACTABLE, "C_GetAttributeValue(CKA_EXTRACTABLE)");
  auto on_token = p_->get_bool(priv_handle, CKA_TOKEN, "C_GetAttributeValue(CKA_TOKEN)");
  result<std::string> pem = p_->public_pem_of(pub_handle);
  if (!sensitive || !extractable || !on_token || !*sensitive || *extractable || !*on_token ||
      !pem) {
    log::warn(log_component,
              "token \"{}\" did not make \"{}\" a sensitive, non-extractable token "
              "key; destroyed it",
              p_->label, key_label);
    p_->destroy_quietly(priv_handle);
    p_->destroy_quietly(pub_handle);
    return pem ? make_error_code(keystore_errc::pkcs11_failure) : pem.error();
  }
  return pem;
}

result<std::string> pkcs11_token::ec_p256_public_pem(std::string_view key_label) {
  const std::lock_guard lock(p_->mutex);
  auto priv = p_->find_one(CKO_PRIVATE_KEY, key_label);
  if (!priv) {
    return priv.error();
  }
  auto type = p_->get_value(*priv, CKA_KEY_TYPE, "C_GetAttributeValue(CKA_KEY_TYPE)");
  if (!type) {
    return type.error();
  }
  ck_key_type_t key_type = 0;
  if (type->size() != sizeof key_type) {
    return keystore_errc::unsupported_key;
  }
  std::memcpy(&key_type, type->data(), sizeof key_type);
  if (key_type != CKK_EC) {
    return keystore_errc::unsupported_key;
  }
  auto pub = p_->find_one(CKO_PUBLIC_KEY, key_label);
  if (!pub) {
    return pub.error();
  }
  return p_->public_pem_of(*pub);
}

result<bytes> pkcs11_token::sign_ecdsa_digest(std::string_view key_label, bytes_view digest) {
  const std::lock_guard lock(p_->mutex);
  auto key = p_->find_one(CKO_PRIVATE_KEY, key_label);
  if (!key) {
    return key.error();
  }
  struct ck_mechanism mech {
    CKM_ECDSA, nullptr, 0
  };
  ck_rv_t rv = p_->fl()->C_SignInit(p_->session, &mech, *key);
  if (rv != CKR_OK) {
    return failure("C_SignInit (CKM_ECDSA)", rv);
  }
  bytes sig(p256_signature_size);
  unsigned long len = sig.size();
  rv = p_->fl()->C_Sign(p_->session, const_cast<std::uint8_t*>(digest.data()), digest.size(),
                        sig.data(), &len);
  if (rv != CKR_OK) {
    return failure("C_Sign (CKM_ECDSA)", rv);
  }
  if (len != p256_signature_size) {
    log::warn(log_component, "CKM_ECDSA gave a {}-byte signature, not 64", len);
    return keystore_errc::pkcs11_failure;
  }
  return sig;
}

result<bytes> pkcs11_token::aes_key_id(std::string_view key_label, bool create) {
  const std::lock_guard lock(p_->mutex);
  auto existing = p_->find_one(CKO_SECRET_KEY, key_label);
  if (existing) {
    return p_->get_value(*existing, CKA_ID, "C_GetAttributeValue(CKA_ID)");
  }
  if (existing.error() != make_error_code(keystore_errc::not_found) || !create) {
    return existing.error();
  }
  auto id = crypto::random_bytes(16);
  if (!id) {
    return id.error();
  }
  unsigned char yes = 1;
  unsigned char no = 0;
  ck_object_class_t cls = CKO_SECRET_KEY;
  ck_key_type_t key_type = CKK_AES;
  unsigned long value_len = 32;
  std::vector<struct ck_attribute> templ{
      attr(CKA_CLASS, &cls, sizeof cls),
      attr(CKA_KEY_TYPE, &key_type, sizeof key_type),
      attr(CKA_VALUE_LEN, &value_len, sizeof value_len),
      attr(CKA_TOKEN, &yes, 1),
      attr(CKA_PRIVATE, &yes, 1),
      attr(CKA_SENSITIVE, &yes, 1),
      attr(CKA_EXTRACTABLE, &no, 1),
      attr(CKA_ENCRYPT, &yes, 1),
      attr(CKA_DECRYPT, &yes, 1),
      attr(CKA_WRAP, &no, 1),
      attr(CKA_UNWRAP, &no, 1),
      attr(CKA_SIGN, &no, 1),
      attr(CKA_VERIFY, &no, 1),
      attr(CKA_DERIVE, &no, 1),
      attr(CKA_ID, id->data(), id->size()),
      attr(CKA_LABEL, key_label.data(), key_label.size()),
  };
  struct ck_mechanism mech {
    CKM_AES_KEY_GEN, nullptr, 0
  };
  ck_object_handle_t handle = 0;
  const ck_rv_t rv =
      p_->fl()->C_GenerateKey(p_->session, &mech, templ.data(), templ.size(), &handle);
  if (rv != CKR_OK) {
    return failure("C_GenerateKey (AES-256)", rv);
  }
  auto sensitive = p_->get_bool(handle, CKA_SENSITIVE, "C_GetAttributeValue(CKA_SENSITIVE)");
  auto extractable = p_->get_bool(handle, CKA_EXTRACTABLE, "C_GetAttributeValue(CKA_EXTRACTABLE)");
  if (!sensitive || !extractable || !*sensitive || *extractable) {
    p_->destroy_quietly(handle);
    log::warn(log_component, "token \"{}\" did not make \"{}\" a sensitive, non-extractable key",
              p_->label, key_label);
    return keystore_errc::pkcs11_failure;
  }
  return std::move(*id);
}

namespace {

struct ck_gcm_params gcm_params(bytes_view iv, bytes_view aad) {
  struct ck_gcm_params params {};
  params.iv_ptr = const_cast<unsigned char*>(iv.data());
  params.iv_len = iv.size();
  params.iv_bits = iv.size() * 8;
  params.aad_ptr = const_cast<unsigned char*>(aad.data());
  params.aad_len = aad.size();
  params.tag_bits = gcm_tag_size * 8;
  return params;
}

} // namespace

result<bytes> pkcs11_token::aes_gcm_encrypt(std::string_view key_label, bytes_view iv,
                                            bytes_view plaintext, bytes_view aad) {
  const std::lock_guard lock(p_->mutex);
  auto key = p_->find_one(CKO_SECRET_KEY, key_label);
  if (!key) {
    return key.error();
  }
  struct ck_gcm_params params = gcm_params(iv, aad);
  struct ck_mechanism mech {
    CKM_AES_GCM, &params, sizeof params
  };
  ck_rv_t rv = p_->fl()->C_EncryptInit(p_->session, &mech, *key);
  if (rv != CKR_OK) {
    return failure("C_EncryptInit (CKM_AES_GCM)", rv);
  }
  bytes out(plaintext.size() + gcm_tag_size);
  unsigned long len = out.size();
  rv = p_->fl()->C_Encrypt(p_->session, const_cast<std::uint8_t*>(plaintext.data()),
                           plaintext.size(), out.data(), &len);
  if (rv != CKR_OK) {
    return failure("C_Encrypt (CKM_AES_GCM)", rv);
  }
  if (len != out.size()) {
    log::warn(log_component, "CKM_AES_GCM gave {} bytes, expected {}", len, out.size());
    return keystore_errc::pkcs11_failure;
  }
  return out;
}

result<crypto::secure_buffer> pkcs11_token::aes_gcm_decrypt(std::string_view key_label,
                                                            bytes_view iv,
                                                            bytes_view ciphertext_and_tag,
                                                            bytes_view aad) {
  const std::lock_guard lock(p_->mutex);
  if (ciphertext_and_tag.size() < gcm_tag_size) {
    return keystore_errc::pkcs11_failure;
  }
  auto key = p_->find_one(CKO_SECRET_KEY, key_label);
  if (!key) {
    return key.error();
  }
  struct ck_gcm_params params = gcm_params(iv, aad);
  struct ck_mechanism mech {
    CKM_AES_GCM, &params, sizeof params
  };
  ck_rv_t rv = p_->fl()->C_DecryptInit(p_->session, &mech, *key);
  if (rv != CKR_OK) {
    return failure("C_DecryptInit (CKM_AES_GCM)", rv);
  }
  // Some modules want room for the tag too before they strip it.
  crypto::secure_buffer out(ciphertext_and_tag.size());
  unsigned long len = out.size();
  rv = p_->fl()->C_Decrypt(p_->session, const_cast<std::uint8_t*>(ciphertext_and_tag.data()),
                           ciphertext_and_tag.size(), out.data(), &len);
  if (rv != CKR_OK) {
    log::debug(log_component, "C_Decrypt (CKM_AES_GCM) refused: {}", rv_name(rv));
    return keystore_errc::pkcs11_failure;
  }
  if (len != ciphertext_and_tag.size() - gcm_tag_size) {
    return keystore_errc::pkcs11_failure;
  }
  return crypto::secure_buffer(bytes_view(out.data(), len));
}

attribute_probe pkcs11_token::private_key_attribute(std::string_view key_label,
                                                    unsigned long type) {
  const std::lock_guard lock(p_->mutex);
  auto key = p_->find_one(CKO_PRIVATE_KEY, key_label);
  if (!key) {
    key = p_->find_one(CKO_SECRET_KEY, key_label);
  }
  if (!key) {
    return {CKR_OBJECT_HANDLE_INVALID, {}};
  }
  return p_->get(*key, type);
}

result<void> pkcs11_token::destroy_objects(std::string_view key_label) {
  const std::lock_guard lock(p_->mutex);
  auto found = p_->find({attr(CKA_LABEL, key_label.data(), key_label.size())});
  if (!found) {
    return found.error();
  }
  for (const auto h : *found) {
    const ck_rv_t rv = p_->fl()->C_DestroyObject(p_->session, h);
    if (rv != CKR_OK) {
      return failure("C_DestroyObject", rv);
    }
  }
  return ok();
}

std::string pkcs11_key_uri(std::string_view token_label, std::string_view key_label) {
  auto enc = [](std::string_view s) {
    static constexpr std::string_view hex = "0123456789ABCDEF";
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

} // namespace aegis::device::detail
