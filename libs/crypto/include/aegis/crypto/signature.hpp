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
// converted inside.
result<bytes> sign(const private_key& key, sig_alg alg, bytes_view message);
result<void> verify(const public_key& key, sig_alg alg, bytes_view message, bytes_view signature);

} // namespace aegis::crypto
