#pragma once

// JWT (JWS compact serialization, RFC 7515/7519) minting and verification.
//
// Verification never lets the token choose the algorithm: each candidate key admits exactly one
// algorithm (alg_for(key.type())), and the header's "alg" must equal it. "none", every HMAC
// algorithm, any other algorithm and any "crit" header are refused.

#include "aegis/base/clock.hpp"
#include "aegis/base/error.hpp"
#include "aegis/crypto/keys.hpp"
#include "aegis/crypto/signature.hpp"

#include <chrono>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace aegis::crypto {

struct jwt_policy {
  std::string audience;                         // the expected project id; must equal "aud"
  std::chrono::seconds skew{600};               // allowed clock difference for iat and exp
  std::chrono::seconds max_lifetime{24 * 3600}; // exp - iat at most this
  std::size_t max_token_size = 8192;
};

struct jwt_claims {
  std::string audience;
  wall_time issued_at;
  wall_time expires_at;
  std::string subject;      // "sub" when present and a string, else empty
  std::string payload_json; // the whole verified payload, for callers needing more claims
};

struct verified_jwt {
  jwt_claims claims;
  sig_alg alg;
  std::size_t key_index; // which candidate key verified the signature
};

result<verified_jwt> jwt_verify(std::string_view token, std::span<const public_key> candidates,
                                const jwt_policy& policy, wall_time now);

struct jwt_mint_options {
  std::string audience;
  wall_time issued_at;
  std::chrono::seconds lifetime{3600};
  std::string subject;           // omitted when empty
  std::string extra_claims_json; // a JSON object merged into the payload, or empty
};

// Signs with alg_for(key.type()); the header is {"alg":...,"typ":"JWT"}.
result<std::string> jwt_mint(const private_key& key, const jwt_mint_options& options);

} // namespace aegis::crypto
