#include "aegis/auth/password_hash.hpp"

#include "aegis/crypto/random.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <charconv>
#include <memory>
#include <optional>
#include <vector>

namespace aegis::auth {

std::string_view describe(password_hash_errc e) noexcept {
  switch (e) {
  case password_hash_errc::weak_parameters:
    return "password hash parameters below the minimum";
  case password_hash_errc::bad_encoding:
    return "malformed password hash";
  case password_hash_errc::kdf_failed:
    return "password key derivation failed";
  }
  return "unknown password hash error";
}

namespace {

constexpr std::string_view prefix = "$pbkdf2-sha256$i=";
constexpr std::size_t salt_size = 16;
constexpr std::size_t hash_size = 32;

struct kdf_deleter {
  void operator()(EVP_KDF* k) const noexcept { EVP_KDF_free(k); }
  void operator()(EVP_KDF_CTX* c) const noexcept { EVP_KDF_CTX_free(c); }
};

result<crypto::secure_buffer> pbkdf2(bytes_view password, bytes_view salt,
                                     std::uint32_t iterations) {
  std::unique_ptr<EVP_KDF, kdf_deleter> kdf(EVP_KDF_fetch(nullptr, OSSL_KDF_NAME_PBKDF2, nullptr));
  if (!kdf) {
    return password_hash_errc::kdf_failed;
  }
  std::unique_ptr<EVP_KDF_CTX, kdf_deleter> ctx(EVP_KDF_CTX_new(kdf.get()));
  if (!ctx) {
    return password_hash_errc::kdf_failed;
  }
  // OpenSSL takes non-const pointers but does not write through them.
  char digest[] = "SHA256";
  std::uint64_t iter = iterations;
  // An empty password is legal for PBKDF2; OpenSSL wants a valid pointer even for 0 bytes.
  static const unsigned char empty = 0;
  const void* pw = password.empty() ? &empty : password.data();
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, const_cast<void*>(pw),
                                        password.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<std::uint8_t*>(salt.data()),
                                        salt.size()),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_ITER, &iter),
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  crypto::secure_buffer out(hash_size);
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) {
    return password_hash_errc::kdf_failed;
  }
  return out;
}

struct decoded {
  std::uint32_t iterations;
  bytes salt;
  bytes hash;
};

std::optional<decoded> decode(std::string_view s) {
  if (s.substr(0, prefix.size()) != prefix) {
    return std::nullopt;
  }
  s.remove_prefix(prefix.size());
  auto d1 = s.find('$');
  if (d1 == std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view iter_text = s.substr(0, d1);
  std::uint32_t iterations = 0;
  auto [end, ec] =
      std::from_chars(iter_text.data(), iter_text.data() + iter_text.size(), iterations);
  if (ec != std::errc{} || end != iter_text.data() + iter_text.size() || iter_text.empty() ||
      iter_text.front() == '0' || iterations > pbkdf2_max_iterations) {
    return std::nullopt;
  }
  s.remove_prefix(d1 + 1);
  auto d2 = s.find('$');
  if (d2 == std::string_view::npos) {
    return std::nullopt;
  }
  auto salt = base64_decode(s.substr(0, d2));
  auto hash = base64_decode(s.substr(d2 + 1));
  if (!salt || !hash || salt->size() < salt_size || hash->size() != hash_size) {
    return std::nullopt;
  }
  return decoded{iterations, *std::move(salt), *std::move(hash)};
}

} // namespace

result<std::string> hash_password(bytes_view password, password_hash_params params) {
  if (params.iterations < pbkdf2_min_iterations || params.iterations > pbkdf2_max_iterations) {
    return password_hash_errc::weak_parameters;
  }
  auto salt = crypto::random_bytes(salt_size);
  if (!salt) {
    return password_hash_errc::kdf_failed;
  }
  auto derived = pbkdf2(password, *salt, params.iterations);
  if (!derived) {
    return derived.error();
  }
  return std::string(prefix) + std::to_string(params.iterations) + "$" + base64_encode(*salt) +
         "$" + base64_encode(derived->view());
}

result<bool> verify_password(bytes_view password, std::string_view encoded) {
  auto d = decode(encoded);
  if (!d) {
    return password_hash_errc::bad_encoding;
  }
  auto derived = pbkdf2(password, d->salt, d->iterations);
  if (!derived) {
    return derived.error();
  }
  return crypto::constant_time_equal(derived->view(), d->hash);
}

bool needs_rehash(std::string_view encoded, password_hash_params params) {
  auto d = decode(encoded);
  return !d || d->iterations < params.iterations;
}

} // namespace aegis::auth
