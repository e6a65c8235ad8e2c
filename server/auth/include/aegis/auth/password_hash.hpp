#pragma once

// Password hashes for application accounts: PBKDF2-HMAC-SHA256 through OpenSSL's EVP_KDF, a
// 16-byte random salt, and an encoded string that carries its parameters, so the iteration
// count can be raised later without invalidating stored hashes:
//
//   $pbkdf2-sha256$i=<iterations>$<base64 salt>$<base64 32-byte hash>
//
// Verification recomputes with the stored parameters and compares in constant time.
// TODO(adr): move to libs/crypto once a second module needs it.

#include "aegis/base/bytes.hpp"
#include "aegis/base/error.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace aegis::auth {

// OWASP's 2023 figure for PBKDF2-HMAC-SHA256.
inline constexpr std::uint32_t pbkdf2_min_iterations = 210'000;
// Stored hashes above this are refused: a tampered record must not pin a CPU.
inline constexpr std::uint32_t pbkdf2_max_iterations = 10'000'000;

struct password_hash_params {
  std::uint32_t iterations = pbkdf2_min_iterations;
};

enum class password_hash_errc {
  weak_parameters = 1, // fewer iterations than pbkdf2_min_iterations when hashing
  bad_encoding,        // not the format above, or parameters out of range
  kdf_failed,          // OpenSSL refused (or the CSPRNG failed)
};
std::string_view describe(password_hash_errc e) noexcept;

result<std::string> hash_password(bytes_view password, password_hash_params params = {});
// True when `password` matches; false when it does not; an error when `encoded` is unusable.
result<bool> verify_password(bytes_view password, std::string_view encoded);
// True when `encoded` was made with weaker parameters than `params` (re-hash on next login).
bool needs_rehash(std::string_view encoded, password_hash_params params = {});

} // namespace aegis::auth

AEGIS_ERROR_ENUM(aegis::auth, password_hash_errc, "aegis.auth.password", describe)
