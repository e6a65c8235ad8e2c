#pragma once

// JWT (JWS compact serialization, RFC 7515/7519) minting and verification.
//
// Verification never lets the token choose the algorithm: each candidate key admits exactly one
// algorithm (alg_for(key.type())), and the header's "alg" must equal it. "none", every HMAC
// algorithm, any other algorithm and any "crit" header are refused.
//
// Order of checks, each failure with its own jwt_errc: size (before any parsing), structure,
// base64url, header JSON, alg, crit, key type, signature length/encoding, signature against every
// candidate of the admitted type, and only then the payload and its claims.
// JSON: exactly one object, no repeated member name at any depth, no byte order mark, nesting up
// to 32. Claims: "iat" and "exp" (and "nbf" when present) are JSON integers in [0, 2^33); a
// fraction, exponent, negative or larger value is bad_claim_type. "aud" must be a single string
// equal to policy.audience: an array is bad_claim_type (the IoT Core profile sends a string),
// and an empty policy.audience matches nothing. "sub" is reported when it is a string.
// jwt_verify may run on many threads at once; it keeps its decode buffers per thread.

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
  std::string extra_claims_json; // a JSON object merged into the payload, or empty; it may not
                                 // name iat, exp, nbf, aud or sub (bad_mint_input)
};

// Signs with alg_for(key.type()); the header is {"alg":...,"typ":"JWT"}.
result<std::string> jwt_mint(const private_key& key, const jwt_mint_options& options);

} // namespace aegis::crypto
