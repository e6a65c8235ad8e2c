#include "aegis/device/secure_store.hpp"

#include "aegis/base/log.hpp"
#include "aegis/crypto/aead.hpp"
#include "aegis/crypto/random.hpp"
#include "aegis/device/errors.hpp"
#include "keystore_file.hpp"
#include "pkcs11_token.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <mutex>
#include <sys/stat.h>
#include <unistd.h>

// File layout (integers big-endian):
//   header  magic "AEGISSTO" | version 0x01 | key kind | salt[32] | key_id[16] |
//           wrap_nonce[12] | wrapped data key[32] + tag[16]
//   body    record count u32 | per record, names strictly ascending:
//           name_len u16 | name | nonce[12] | sealed_len u32 | ciphertext + tag[16]
//   trailer commit_nonce[12] | commit_tag[16]
//
// The data key is wrapped with AES-256-GCM whose associated data is the header up to the salt,
// so the magic, version, kind and salt are authenticated by the unwrap. The key_id is left out of
// that associated data on purpose: it tells a wrong key (key_id differs, unwrap fails) from an
// edited header (key_id matches, unwrap fails) and an edited key_id (unwrap succeeds, key_id
// differs); both of the latter are tampering. key_id is HKDF(secret, info "key-id") for a secret
// file and the wrapping key's random CKA_ID for a token.
// Each record is sealed under the data key with the store's salt and the record's name as
// associated data (a record moved to another name or from another store fails), and the commit
// tag is a GMAC under the data key over every byte before it (truncation, removed, reordered or
// replayed records fail).

namespace aegis::device {

namespace {

constexpr std::string_view log_component = "device.store";
constexpr std::array<std::uint8_t, 8> magic{'A', 'E', 'G', 'I', 'S', 'S', 'T', 'O'};
constexpr std::uint8_t format_version = 1;
constexpr std::uint8_t kind_secret_file = 1;
constexpr std::uint8_t kind_pkcs11 = 2;
constexpr std::size_t salt_size = 32;
constexpr std::size_t key_id_size = 16;
constexpr std::size_t nonce_size = crypto::aead_nonce_size;
constexpr std::size_t tag_size = crypto::aead_tag_size;
constexpr std::size_t data_key_size = crypto::aead_key_size;

constexpr std::size_t salt_at = magic.size() + 2;
constexpr std::size_t key_id_at = salt_at + salt_size;
constexpr std::size_t wrap_nonce_at = key_id_at + key_id_size;
constexpr std::size_t wrapped_key_at = wrap_nonce_at + nonce_size;
constexpr std::size_t header_size = wrapped_key_at + data_key_size + tag_size;
constexpr std::size_t trailer_size = nonce_size + tag_size;

constexpr std::size_t min_secret_size = 32;
constexpr std::size_t max_secret_size = 64 * 1024;
constexpr std::size_t max_name_size = 256;
constexpr std::size_t max_value_size = 16U * 1024U * 1024U;
constexpr std::size_t max_file_size = 256U * 1024U * 1024U;

constexpr std::string_view wrap_label = "aegis.store.v1.wrap";
constexpr std::string_view kek_info = "aegis.store.v1.kek";
constexpr std::string_view key_id_info = "aegis.store.v1.key-id";
constexpr std::string_view record_label = "aegis.store.v1.record";
constexpr std::string_view commit_label = "aegis.store.v1.commit";

std::error_code errno_error() {
  return {errno, std::generic_category()};
}

void put_u16(bytes& out, std::size_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}
void put_u32(bytes& out, std::size_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<std::uint8_t>(v >> shift));
  }
}
void append(bytes& out, bytes_view b) {
  out.insert(out.end(), b.begin(), b.end());
}

// Bounds-checked reading of an untrusted file.
class reader {
public:
  explicit reader(bytes_view data) : data_(data) {}
  bool take(std::size_t n, bytes_view& out) {
    if (data_.size() - at_ < n) {
      return false;
    }
    out = data_.subspan(at_, n);
    at_ += n;
    return true;
  }
  bool u16(std::size_t& v) { return number(2, v); }
  bool u32(std::size_t& v) { return number(4, v); }
  std::size_t offset() const noexcept { return at_; }
  std::size_t remaining() const noexcept { return data_.size() - at_; }

private:
  bool number(std::size_t n, std::size_t& v) {
    bytes_view b;
    if (!take(n, b)) {
      return false;
    }
    v = 0;
    for (const auto byte : b) {
      v = (v << 8) | byte;
    }
    return true;
  }
  bytes_view data_;
  std::size_t at_ = 0;
};

bool valid_name(std::string_view name) {
  return !name.empty() && name.size() <= max_name_size && name.find('\0') == std::string_view::npos;
}

struct sealed_record {
  bytes nonce;
  bytes sealed; // ciphertext || tag
};

// What wraps and unwraps the data key, and identifies itself by key_id.
class key_wrapper {
public:
  virtual ~key_wrapper() = default;
  virtual std::uint8_t kind() const noexcept = 0;
  virtual bytes_view key_id() const noexcept = 0;
  virtual result<bytes> wrap(bytes_view salt, bytes_view nonce, bytes_view data_key,
                             bytes_view aad) const = 0;
  // Any failure means "does not open": the caller tells wrong key from tampering by key_id.
  virtual result<crypto::secure_buffer> unwrap(bytes_view salt, bytes_view nonce,
                                               bytes_view wrapped, bytes_view aad) const = 0;
};

class secret_file_wrapper final : public key_wrapper {
public:
  static result<std::unique_ptr<key_wrapper>> open(const std::filesystem::path& path) {
    auto secret = detail::read_private_file(path, max_secret_size);
    if (!secret) {
      return secret.error();
    }
    if (secret->size() < min_secret_size) {
      log::warn(log_component, "device secret {} holds {} bytes; at least {} are required",
                path.string(), secret->size(), min_secret_size);
      return keystore_errc::unsupported_key;
    }
    auto id = crypto::hkdf_sha256(secret->view(), {}, as_bytes(key_id_info), key_id_size);
    if (!id) {
      return id.error();
    }
    auto w = std::make_unique<secret_file_wrapper>();
    w->secret_ = std::move(*secret);
    w->key_id_.assign(id->view().begin(), id->view().end());
    return std::unique_ptr<key_wrapper>(std::move(w));
  }

  std::uint8_t kind() const noexcept override { return kind_secret_file; }
  bytes_view key_id() const noexcept override { return key_id_; }

  result<bytes> wrap(bytes_view salt, bytes_view nonce, bytes_view data_key,
                     bytes_view aad) const override {
    auto kek = crypto::hkdf_sha256(secret_.view(), salt, as_bytes(kek_info), data_key_size);
    if (!kek) {
      return kek.error();
    }
    return crypto::aes256gcm_encrypt(kek->view(), nonce, data_key, aad);
  }
  result<crypto::secure_buffer> unwrap(bytes_view salt, bytes_view nonce, bytes_view wrapped,
                                       bytes_view aad) const override {
    auto kek = crypto::hkdf_sha256(secret_.view(), salt, as_bytes(kek_info), data_key_size);
    if (!kek) {
      return kek.error();
    }
    auto plain = crypto::aes256gcm_decrypt(kek->view(), nonce, wrapped, aad);
    if (!plain) {
      return plain.error();
    }
    crypto::secure_buffer key(*plain);
    crypto::secure_wipe(plain->data(), plain->size());
    return key;
  }

private:
  crypto::secure_buffer secret_;
  bytes key_id_;
};

class token_wrapper final : public key_wrapper {
public:
  static result<std::unique_ptr<key_wrapper>> open(const store_key_source& source, bool create) {
    auto token = detail::pkcs11_token::open(*source.token);
    if (!token) {
      return token.error();
    }
    auto id = (*token)->aes_key_id(source.wrapping_key_label, create);
    if (!id) {
      if (id.error() == make_error_code(keystore_errc::not_found)) {
        return store_errc::wrong_key;
      }
      return id.error();
    }
    auto w = std::make_unique<token_wrapper>();
    w->token_ = std::move(*token);
    w->label_ = source.wrapping_key_label;
    w->key_id_ = std::move(*id);
    return std::unique_ptr<key_wrapper>(std::move(w));
  }

  std::uint8_t kind() const noexcept override { return kind_pkcs11; }
  bytes_view key_id() const noexcept override { return key_id_; }

  result<bytes> wrap(bytes_view /*salt*/, bytes_view nonce, bytes_view data_key,
                     bytes_view aad) const override {
    return token_->aes_gcm_encrypt(label_, nonce, data_key, aad);
  }
  result<crypto::secure_buffer> unwrap(bytes_view /*salt*/, bytes_view nonce, bytes_view wrapped,
                                       bytes_view aad) const override {
    return token_->aes_gcm_decrypt(label_, nonce, wrapped, aad);
  }

private:
  std::shared_ptr<detail::pkcs11_token> token_;
  std::string label_;
  bytes key_id_;
};

class file_store final : public secure_store {
public:
  file_store(std::filesystem::path path, bytes header, crypto::secure_buffer data_key)
      : path_(std::move(path)), header_(std::move(header)), data_key_(std::move(data_key)) {}

  // Validates every byte of an existing file; fills records_.
  result<void> load(bytes_view file) {
    if (file.size() < header_size + 4 + trailer_size) {
      return store_errc::tampered;
    }
    const std::size_t body_end = file.size() - trailer_size;
    const bytes_view trailer = file.subspan(body_end);
    auto commit =
        crypto::aes256gcm_decrypt(data_key_.view(), trailer.first(nonce_size),
                                  trailer.subspan(nonce_size), commit_aad(file.first(body_end)));
    if (!commit) {
      return store_errc::tampered;
    }
    reader r(file.first(body_end));
    bytes_view skipped;
    std::size_t count = 0;
    if (!r.take(header_size, skipped) || !r.u32(count)) {
      return store_errc::tampered;
    }
    std::map<std::string, sealed_record, std::less<>> records;
    for (std::size_t i = 0; i < count; ++i) {
      std::size_t name_len = 0;
      std::size_t sealed_len = 0;
      bytes_view name;
      bytes_view nonce;
      bytes_view sealed;
      if (!r.u16(name_len) || !r.take(name_len, name) || !r.take(nonce_size, nonce) ||
          !r.u32(sealed_len) || sealed_len < tag_size || !r.take(sealed_len, sealed)) {
        return store_errc::tampered;
      }
      const std::string key(as_string_view(name));
      if (!valid_name(key) || (!records.empty() && records.rbegin()->first >= key)) {
        return store_errc::tampered;
      }
      sealed_record rec{bytes(nonce.begin(), nonce.end()), bytes(sealed.begin(), sealed.end())};
      if (!open_record(key, rec)) {
        return store_errc::tampered;
      }
      records.emplace_hint(records.end(), key, std::move(rec));
    }
    if (r.remaining() != 0) {
      return store_errc::tampered;
    }
    records_ = std::move(records);
    return ok();
  }

  result<std::optional<bytes>> get(std::string_view name) const override {
    if (!valid_name(name)) {
      return store_errc::bad_name;
    }
    const std::lock_guard lock(mutex_);
    const auto it = records_.find(name);
    if (it == records_.end()) {
      return std::optional<bytes>{};
    }
    auto plain = open_record(name, it->second);
    if (!plain) {
      return store_errc::tampered; // memory corruption: never return a guess
    }
    return std::optional<bytes>(std::move(*plain));
  }

  result<void> put(std::string_view name, bytes_view value) override {
    return apply({change{std::string(name), bytes(value.begin(), value.end())}});
  }

  result<void> erase(std::string_view name) override {
    return apply({change{std::string(name), std::nullopt}});
  }

  result<void> apply(const std::vector<change>& changes) override {
    for (const auto& c : changes) {
      if (!valid_name(c.name)) {
        return store_errc::bad_name;
      }
      if (c.value && c.value->size() > max_value_size) {
        return device_errc::payload_too_large;
      }
    }
    const std::lock_guard lock(mutex_);
    auto next = records_;
    bool changed = false;
    for (const auto& c : changes) {
      if (!c.value) {
        changed = next.erase(c.name) > 0 || changed;
        continue;
      }
      auto rec = seal_record(c.name, *c.value);
      if (!rec) {
        return rec.error();
      }
      next.insert_or_assign(c.name, std::move(*rec));
      changed = true;
    }
    if (!changed) {
      return ok();
    }
    auto written = write(next);
    if (!written) {
      return written;
    }
    records_ = std::move(next);
    return ok();
  }

  std::vector<std::string> names(std::string_view prefix) const override {
    const std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (auto it = records_.lower_bound(prefix);
         it != records_.end() && std::string_view(it->first).substr(0, prefix.size()) == prefix;
         ++it) {
      out.push_back(it->first);
    }
    return out;
  }

  // Serialises `records` and replaces the file atomically and durably.
  result<void> write(const std::map<std::string, sealed_record, std::less<>>& records) const {
    bytes file = header_;
    put_u32(file, records.size());
    for (const auto& [name, rec] : records) {
      put_u16(file, name.size());
      append(file, as_bytes(name));
      append(file, rec.nonce);
      put_u32(file, rec.sealed.size());
      append(file, rec.sealed);
    }
    if (file.size() + trailer_size > max_file_size) {
      return device_errc::payload_too_large;
    }
    auto nonce = crypto::random_bytes(nonce_size);
    if (!nonce) {
      return nonce.error();
    }
    auto tag = crypto::aes256gcm_encrypt(data_key_.view(), *nonce, {}, commit_aad(file));
    if (!tag) {
      return tag.error();
    }
    append(file, *nonce);
    append(file, *tag);
    return replace_file(path_, file);
  }

  static result<void> replace_file(const std::filesystem::path& path, bytes_view content) {
    auto random = crypto::random_bytes(8);
    if (!random) {
      return random.error();
    }
    const std::filesystem::path dir = path.parent_path().empty() ? "." : path.parent_path();
    const std::filesystem::path tmp =
        dir / (path.filename().string() + std::string(temp_infix) + to_hex(*random));
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                          S_IRUSR | S_IWUSR);
    if (fd < 0) {
      return io_failure("create", tmp);
    }
    bool good = ::fchmod(fd, S_IRUSR | S_IWUSR) == 0;
    for (std::size_t done = 0; good && done < content.size();) {
      const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      good = n > 0;
      done += good ? static_cast<std::size_t>(n) : 0;
    }
    good = good && ::fsync(fd) == 0;
    good = (::close(fd) == 0) && good;
    if (!good || ::rename(tmp.c_str(), path.c_str()) != 0) {
      const auto e = io_failure("write", tmp);
      ::unlink(tmp.c_str());
      return e;
    }
    // The rename is durable only once the directory entry is.
    const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) {
      return io_failure("open directory", dir);
    }
    const bool synced = ::fsync(dir_fd) == 0;
    ::close(dir_fd);
    if (!synced) {
      return io_failure("fsync directory", dir);
    }
    return ok();
  }

  static constexpr std::string_view temp_infix = ".tmp.";

private:
  static std::error_code io_failure(const char* what, const std::filesystem::path& p) {
    log::warn(log_component, "{} {} failed: {}", what, p.string(), std::strerror(errno));
    return make_error_code(store_errc::io_error);
  }

  static bytes commit_aad(bytes_view prefix) {
    bytes aad = to_bytes(commit_label);
    append(aad, prefix);
    return aad;
  }

  bytes record_aad(std::string_view name) const {
    bytes aad = to_bytes(record_label);
    append(aad, bytes_view(header_).subspan(salt_at, salt_size));
    append(aad, as_bytes(name));
    return aad;
  }

  result<sealed_record> seal_record(std::string_view name, bytes_view value) const {
    auto nonce = crypto::random_bytes(nonce_size);
    if (!nonce) {
      return nonce.error();
    }
    auto sealed = crypto::aes256gcm_encrypt(data_key_.view(), *nonce, value, record_aad(name));
    if (!sealed) {
      return sealed.error();
    }
    return sealed_record{std::move(*nonce), std::move(*sealed)};
  }

  result<bytes> open_record(std::string_view name, const sealed_record& rec) const {
    return crypto::aes256gcm_decrypt(data_key_.view(), rec.nonce, rec.sealed, record_aad(name));
  }

  std::filesystem::path path_;
  bytes header_;
  crypto::secure_buffer data_key_;
  mutable std::mutex mutex_;
  std::map<std::string, sealed_record, std::less<>> records_;
};

bytes header_prefix(std::uint8_t kind, bytes_view salt) {
  bytes h(magic.begin(), magic.end());
  h.push_back(format_version);
  h.push_back(kind);
  append(h, salt);
  return h;
}

bytes wrap_aad(bytes_view prefix) {
  bytes aad = to_bytes(wrap_label);
  append(aad, prefix);
  return aad;
}

result<bytes> read_store_file(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    return errno_error();
  }
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } close_fd{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return store_errc::io_error;
  }
  if (static_cast<std::uint64_t>(st.st_size) > max_file_size) {
    return store_errc::tampered;
  }
  bytes content(static_cast<std::size_t>(st.st_size) + 1);
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::read(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return store_errc::io_error;
    }
    if (n == 0) {
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  content.resize(done);
  return content;
}

// Temporary files of writes that a power cut or a kill interrupted.
void remove_stale_temporaries(const std::filesystem::path& path) {
  const std::filesystem::path dir = path.parent_path().empty() ? "." : path.parent_path();
  const std::string prefix = path.filename().string() + std::string(file_store::temp_infix);
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.starts_with(prefix)) {
      std::filesystem::remove(it->path(), ec);
    }
  }
}

result<std::unique_ptr<secure_store>> create_store(const std::filesystem::path& path,
                                                   const key_wrapper& wrapper) {
  auto salt = crypto::random_bytes(salt_size);
  auto data_key = crypto::random_bytes(data_key_size);
  auto wrap_nonce = crypto::random_bytes(nonce_size);
  if (!salt || !data_key || !wrap_nonce) {
    return store_errc::io_error;
  }
  crypto::secure_buffer key(*data_key);
  crypto::secure_wipe(data_key->data(), data_key->size());
  bytes header = header_prefix(wrapper.kind(), *salt);
  auto wrapped = wrapper.wrap(*salt, *wrap_nonce, key.view(), wrap_aad(header));
  if (!wrapped) {
    return wrapped.error();
  }
  append(header, wrapper.key_id());
  append(header, *wrap_nonce);
  append(header, *wrapped);
  if (header.size() != header_size) {
    return store_errc::io_error;
  }
  auto store = std::make_unique<file_store>(path, std::move(header), std::move(key));
  auto written = store->write({});
  if (!written) {
    return written.error();
  }
  return std::unique_ptr<secure_store>(std::move(store));
}

} // namespace

result<std::unique_ptr<secure_store>> secure_store::open(const std::filesystem::path& path,
                                                         const store_key_source& key) {
  remove_stale_temporaries(path);
  auto content = read_store_file(path);
  const bool exists = content || content.error() != std::errc::no_such_file_or_directory;
  if (!content && exists) {
    log::warn(log_component, "cannot read secure store {}: {}", path.string(),
              content.error().message());
    return content.error().category() == std::generic_category()
               ? make_error_code(store_errc::io_error)
               : content.error();
  }
  auto wrapper =
      key.token ? token_wrapper::open(key, !exists) : secret_file_wrapper::open(key.secret_file);
  if (!wrapper) {
    return wrapper.error();
  }
  if (!exists) {
    return create_store(path, **wrapper);
  }

  const bytes& file = *content;
  if (file.size() < header_size || !std::equal(magic.begin(), magic.end(), file.begin()) ||
      file[magic.size()] != format_version) {
    return store_errc::tampered;
  }
  const bytes_view view(file);
  const bytes_view salt = view.subspan(salt_at, salt_size);
  const bytes_view key_id = view.subspan(key_id_at, key_id_size);
  auto data_key = (*wrapper)->unwrap(salt, view.subspan(wrap_nonce_at, nonce_size),
                                     view.subspan(wrapped_key_at, data_key_size + tag_size),
                                     wrap_aad(view.first(key_id_at)));
  const bool same_key = crypto::constant_time_equal(key_id, (*wrapper)->key_id());
  if (!data_key) {
    return same_key ? store_errc::tampered : store_errc::wrong_key;
  }
  if (!same_key || data_key->size() != data_key_size) {
    return store_errc::tampered;
  }
  auto store = std::make_unique<file_store>(
      path, bytes(view.first(header_size).begin(), view.first(header_size).end()),
      std::move(*data_key));
  auto loaded = store->load(view);
  if (!loaded) {
    return loaded.error();
  }
  return std::unique_ptr<secure_store>(std::move(store));
}

} // namespace aegis::device
