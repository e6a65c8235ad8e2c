#include "aegis/device/keystore.hpp"

#include "aegis/crypto/keys.hpp"
#include "aegis/device/errors.hpp"
#include "keystore_file.hpp"
#include "pkcs11_token.hpp"

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include <array>
#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace aegis::device {

namespace detail {

result<crypto::secure_buffer> read_private_file(const std::filesystem::path& path,
                                                std::size_t max_size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) {
      return keystore_errc::not_found;
    }
    if (errno == ELOOP) {
      return keystore_errc::insecure_permissions;
    }
    return std::error_code(errno, std::generic_category());
  }
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } close_fd{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return std::error_code(errno, std::generic_category());
  }
  // Group or other access, another owner, or a device/FIFO: the secret may already be known.
  if (!S_ISREG(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & 077) != 0) {
    return keystore_errc::insecure_permissions;
  }
  if (static_cast<std::uint64_t>(st.st_size) > max_size) {
    return keystore_errc::unsupported_key;
  }
  crypto::secure_buffer buf(static_cast<std::size_t>(st.st_size) + 1);
  std::size_t done = 0;
  while (done < buf.size()) {
    const ssize_t n = ::read(fd, buf.data() + done, buf.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return std::error_code(errno, std::generic_category());
    }
    if (n == 0) {
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  if (done > max_size) {
    return keystore_errc::unsupported_key;
  }
  return crypto::secure_buffer(bytes_view(buf.data(), done));
}

} // namespace detail

namespace {

constexpr std::size_t max_key_file_size = 64 * 1024;

class file_signer final : public signer {
public:
  file_signer(crypto::private_key key, std::filesystem::path path)
      : key_(std::move(key)), path_(std::move(path)) {}

  crypto::sig_alg algorithm() const noexcept override { return crypto::alg_for(key_.type()); }
  result<bytes> sign(bytes_view message) const override {
    return crypto::sign(key_, algorithm(), message);
  }
  result<std::string> public_key_pem() const override { return key_.public_part().to_pem(); }
  std::string describe() const override { return "file:" + path_.string(); }

private:
  crypto::private_key key_;
  std::filesystem::path path_;
};

class pkcs11_signer final : public signer {
public:
  pkcs11_signer(std::shared_ptr<detail::pkcs11_token> token, std::string key_label,
                std::string public_pem)
      : token_(std::move(token)), key_label_(std::move(key_label)),
        public_pem_(std::move(public_pem)) {}

  crypto::sig_alg algorithm() const noexcept override { return crypto::sig_alg::es256; }

  // CKM_ECDSA signs a digest the caller made; its r||s output is already the JOSE encoding.
  result<bytes> sign(bytes_view message) const override {
    std::array<std::uint8_t, 32> digest{};
    unsigned int len = 0;
    if (EVP_Digest(message.data(), message.size(), digest.data(), &len, EVP_sha256(), nullptr) !=
            1 ||
        len != digest.size()) {
      return keystore_errc::pkcs11_failure;
    }
    return token_->sign_ecdsa_digest(key_label_, digest);
  }
  result<std::string> public_key_pem() const override { return public_pem_; }
  std::string describe() const override {
    return detail::pkcs11_key_uri(token_->label(), key_label_);
  }

private:
  std::shared_ptr<detail::pkcs11_token> token_;
  std::string key_label_;
  std::string public_pem_;
};

bool valid_key_label(std::string_view label) {
  return !label.empty() && label.size() <= 256 && label.find('\0') == std::string_view::npos;
}

} // namespace

result<std::unique_ptr<signer>> open_key_file(const std::filesystem::path& path) {
  auto pem = detail::read_private_file(path, max_key_file_size);
  if (!pem) {
    return pem.error();
  }
  auto key = crypto::private_key::from_pem(as_string_view(pem->view()));
  if (!key) {
    return key.error();
  }
  return std::unique_ptr<signer>(std::make_unique<file_signer>(std::move(*key), path));
}

result<std::unique_ptr<signer>> generate_pkcs11_key(const pkcs11_slot& slot,
                                                    std::string_view key_label) {
  if (!valid_key_label(key_label)) {
    return device_errc::bad_config;
  }
  auto token = detail::pkcs11_token::open(slot);
  if (!token) {
    return token.error();
  }
  auto pem = (*token)->generate_ec_p256(key_label);
  if (!pem) {
    return pem.error();
  }
  return std::unique_ptr<signer>(
      std::make_unique<pkcs11_signer>(std::move(*token), std::string(key_label), std::move(*pem)));
}

result<std::unique_ptr<signer>> open_pkcs11_key(const pkcs11_slot& slot,
                                                std::string_view key_label) {
  if (!valid_key_label(key_label)) {
    return device_errc::bad_config;
  }
  auto token = detail::pkcs11_token::open(slot);
  if (!token) {
    return token.error();
  }
  auto pem = (*token)->ec_p256_public_pem(key_label);
  if (!pem) {
    return pem.error();
  }
  return std::unique_ptr<signer>(
      std::make_unique<pkcs11_signer>(std::move(*token), std::string(key_label), std::move(*pem)));
}

result<std::string> mint_device_jwt(const signer& key, const device_jwt_options& options,
                                    wall_time now) {
  using std::chrono::seconds;
  if (options.project_id.empty() || options.lifetime <= seconds{0} ||
      options.lifetime > seconds{24 * 3600}) {
    return device_errc::bad_config;
  }
  const auto iat = std::chrono::duration_cast<seconds>(now.time_since_epoch()).count();
  if (iat < 0) {
    return device_errc::bad_config;
  }
  nlohmann::json header{{"alg", std::string(crypto::jose_name(key.algorithm()))}, {"typ", "JWT"}};
  nlohmann::json payload{
      {"iat", iat}, {"exp", iat + options.lifetime.count()}, {"aud", options.project_id}};
  std::string signing_input;
  try {
    // strict UTF-8: a project id that is not UTF-8 throws here instead of minting garbage
    signing_input = base64url_encode(as_bytes(header.dump())) + '.' +
                    base64url_encode(as_bytes(payload.dump()));
  } catch (const nlohmann::json::exception&) {
    return device_errc::bad_config;
  }
  auto signature = key.sign(as_bytes(signing_input));
  if (!signature) {
    return signature.error();
  }
  return signing_input + '.' + base64url_encode(*signature);
}

} // namespace aegis::device
