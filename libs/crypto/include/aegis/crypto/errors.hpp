#pragma once

// Error values of libs/crypto, one enum per area. Every rejection has its own value so that
// callers (and the audit log) can say exactly why something was refused.

#include "aegis/base/error.hpp"

#include <string_view>

namespace aegis::crypto {

enum class key_errc {
  unsupported_key_type = 1, // not EC P-256, RSA or Ed25519
  unsupported_curve,        // EC but not P-256
  rsa_too_small,            // RSA below 2048 bits
  rsa_too_large,            // RSA above 4096 bits
  bad_pem,                  // not parseable PEM of the expected kind
  bad_der,                  // not parseable DER of the expected kind
  bad_passphrase,           // encrypted private key and the passphrase does not open it
  passphrase_required,      // encrypted private key and no passphrase given
  no_private_key,           // operation needs a private key
  generation_failed,
  encoding_failed,
};
std::string_view describe(key_errc e) noexcept;

enum class sig_errc {
  alg_key_mismatch = 1, // the algorithm does not belong to the key's type
  bad_signature,        // the signature does not verify
  bad_signature_length, // wrong size for the algorithm (e.g. ES256 not 64 bytes)
  signing_failed,
};
std::string_view describe(sig_errc e) noexcept;

enum class jwt_errc {
  too_large = 1,        // token over the size limit (8 KiB by default)
  malformed,            // not three dot-separated segments, or bad structure
  bad_base64,           // a segment is not canonical unpadded base64url
  bad_header,           // header is not a JSON object, or a field has the wrong type
  bad_payload,          // payload is not a JSON object
  duplicate_key,        // a JSON object repeats a member name
  alg_none,             // "alg":"none"
  hmac_refused,         // HS256/384/512: Aegis never accepts shared-secret tokens
  unsupported_alg,      // any alg other than ES256, RS256, EdDSA
  crit_present,         // "crit" header: no extensions are understood
  key_mismatch,         // no candidate key has the type the alg requires
  bad_signature_length, // signature has the wrong size for the alg
  der_signature,        // ES256 signature in DER instead of raw R||S
  bad_signature,        // no candidate key verifies the signature
  missing_claim,        // iat, exp or aud absent
  bad_claim_type,       // iat/exp not an integer in range, aud not a string
  expired,              // exp + skew <= now
  not_yet_valid,        // iat (or nbf) - skew > now
  lifetime_too_long,    // exp - iat over the policy's maximum (24 h)
  bad_lifetime,         // exp <= iat
  bad_audience,         // aud differs from the expected project
  no_candidate_keys,    // the caller passed no keys
  bad_mint_input,       // jwt_mint: extra claims not a JSON object, redefine iat/exp/aud/sub/nbf,
                        // or a string is not UTF-8
};
std::string_view describe(jwt_errc e) noexcept;

enum class x509_errc {
  bad_certificate = 1, // not parseable
  bad_csr,
  csr_signature_invalid,
  bad_crl,
  untrusted, // does not chain to the trust store
  expired,
  not_yet_valid,
  revoked,
  wrong_key_usage, // key usage / extended key usage does not allow the purpose
  not_a_ca,        // issuer lacks basicConstraints CA:TRUE
  no_identity,     // verified certificate names no device identity
  issuance_failed,
  signature_invalid,    // a signature in the chain does not verify
  revocation_unknown,   // a CRL for the issuer exists but is expired, not yet valid or invalid
  ambiguous_identity,   // several CNs, several aegis: URIs, or a URI naming another device
  bad_request,          // issuance input refused: name, address, URI, serial or validity
  key_mismatch,         // the private key does not belong to the certificate
  weak_algorithm,       // key or signature digest below the 112-bit security level
  unsupported_critical, // an extension marked critical that is not understood
};
std::string_view describe(x509_errc e) noexcept;

enum class aead_errc {
  bad_key_size = 1,
  bad_envelope,      // truncated, unknown version or malformed
  decryption_failed, // wrong key, wrong associated data or tampered ciphertext
  encryption_failed,
  random_failed,
  bad_nonce_size,
  kdf_failed, // HKDF refused its input (e.g. output length above 255 * 32)
};
std::string_view describe(aead_errc e) noexcept;

} // namespace aegis::crypto

AEGIS_ERROR_ENUM(aegis::crypto, key_errc, "aegis.crypto.key", describe)
AEGIS_ERROR_ENUM(aegis::crypto, sig_errc, "aegis.crypto.sig", describe)
AEGIS_ERROR_ENUM(aegis::crypto, jwt_errc, "aegis.crypto.jwt", describe)
AEGIS_ERROR_ENUM(aegis::crypto, x509_errc, "aegis.crypto.x509", describe)
AEGIS_ERROR_ENUM(aegis::crypto, aead_errc, "aegis.crypto.aead", describe)
