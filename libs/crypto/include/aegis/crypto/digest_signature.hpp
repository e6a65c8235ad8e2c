#pragma once

// Signatures over a SHA-256 digest the caller has already computed, in the exact encodings that
// MCUboot-format firmware images carry (docs reference/secure-boot.md §2.4). The general API
// (signature.hpp) signs whole messages in JOSE encodings; an image signer hashes a region once
// and then signs that digest, so it needs these instead:
//
//   ecdsa_p256_sha256  ECDSA P-256 over the digest, DER SEQUENCE{r,s}: the same bytes as
//                      ECDSA-SHA256 over the data (imgtool's `key.sign(payload)`).
//   ed25519_digest     Ed25519 with the 32-byte digest itself as the message (imgtool's
//                      `sign_digest`); NOT Ed25519 over the data.
//   rsa_pss_sha256     RSASSA-PSS, SHA-256, MGF1-SHA-256, salt length exactly 32: the only salt
//                      length MCUboot's bootloader accepts. Any RSA size the key type allows.

#include "aegis/base/bytes.hpp"
#include "aegis/base/error.hpp"
#include "aegis/crypto/keys.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace aegis::crypto {

inline constexpr std::size_t sha256_size = 32;
inline constexpr int rsa_pss_salt_length = 32;
// Longest DER ECDSA P-256 signature: SEQUENCE header 2 + two INTEGERs of up to 2 + 33 bytes.
inline constexpr std::size_t max_ecdsa_p256_der_size = 72;
inline constexpr std::size_t ed25519_signature_size = 64;

using sha256_digest = std::array<std::uint8_t, sha256_size>;

result<sha256_digest> sha256(bytes_view data);

enum class digest_sig_scheme { ecdsa_p256_sha256, ed25519_digest, rsa_pss_sha256 };
std::string_view to_string(digest_sig_scheme s) noexcept;
// The only scheme a key of this type may be used with.
digest_sig_scheme scheme_for(key_type type) noexcept;

// `digest` must be 32 bytes (std::errc::invalid_argument otherwise). A scheme that does not
// belong to the key's type is sig_errc::alg_key_mismatch. ECDSA and RSA-PSS output is
// randomised; Ed25519 output is deterministic.
result<bytes> sign_digest(const private_key& key, digest_sig_scheme scheme, bytes_view digest);

// ECDSA signatures must be canonical DER with no trailing bytes; RSA signatures must be exactly
// the modulus size; Ed25519 signatures exactly 64 bytes (sig_errc::bad_signature_length).
result<void> verify_digest(const public_key& key, digest_sig_scheme scheme, bytes_view digest,
                           bytes_view signature);

// The key's own public structure in DER, as MCUboot embeds it (PUBKEY TLV) and hashes it
// (KEYHASH TLV): PKCS#1 RSAPublicKey for RSA, SubjectPublicKeyInfo for EC and Ed25519.
result<bytes> key_structure_der(const public_key& key);

} // namespace aegis::crypto
