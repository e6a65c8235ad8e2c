#pragma once

// Signatures with the algorithm tied to the key type: ES256 <-> EC P-256, RS256 <-> RSA,
// EdDSA <-> Ed25519. A caller can never verify with an algorithm the key was not made for.

#include "aegis/base/bytes.hpp"
#include "aegis/base/error.hpp"
#include "aegis/crypto/keys.hpp"

#include <optional>
#include <string_view>

namespace aegis::crypto {

enum class sig_alg { es256, rs256, eddsa };

// The JOSE name: "ES256", "RS256", "EdDSA".
std::string_view jose_name(sig_alg alg) noexcept;
std::optional<sig_alg> from_jose_name(std::string_view name) noexcept;
// The only algorithm a key of this type may be used with.
sig_alg alg_for(key_type type) noexcept;

// ES256 signatures are raw R||S (64 bytes), as JWS and COSE carry them; OpenSSL's DER form is
// converted inside. EdDSA is PureEdDSA over the whole message (RFC 8032); RS256 is RSASSA-PKCS1
// v1.5 with SHA-256, its signature exactly as long as the modulus.
// Errors: sig_errc::alg_key_mismatch when `alg` is not alg_for(key.type()); sign() on an empty
// key gives key_errc::no_private_key; verify() gives bad_signature_length before any
// cryptography when the size is wrong for the key (so a DER ES256 signature never verifies), and
// bad_signature otherwise (an empty key verifies nothing).
result<bytes> sign(const private_key& key, sig_alg alg, bytes_view message);
result<void> verify(const public_key& key, sig_alg alg, bytes_view message, bytes_view signature);

} // namespace aegis::crypto
