#pragma once

// The registry's input rules, as free functions so that registry_service (which runs them on
// every write) and the later API layer (which may pre-check a request) share one definition.
// Every refusal is a precise registry_errc.

#include "aegis/base/clock.hpp"
#include "aegis/base/error.hpp"
#include "aegis/crypto/keys.hpp"
#include "aegis/crypto/x509.hpp"
#include "aegis/registry/errors.hpp"
#include "aegis/registry/model.hpp"

#include <optional>
#include <vector>

namespace aegis::registry {

// A credential's key material, parsed and checked against its declared format.
struct parsed_credential {
  crypto::public_key key;
  std::optional<crypto::certificate> certificate; // for *_X509_PEM formats
};

// Parses `c` and checks what can be checked on it alone: format known, size, PEM kind, key
// type matches the format (RSA_* -> RSA, ES256_* -> EC P-256, ED25519_PEM -> Ed25519), RSA
// 2048..4096 bits. Expiry is not checked here: see check_new_credential.
result<parsed_credential> parse_credential(const credential& c);

// Everything a credential being added to a device must satisfy at `now`: parse_credential, an
// expiration_time (if set) and an X.509 not_after in the future, and, when the registry has CA
// certificates, an X.509 certificate issued directly by one of them and not equal to one.
result<parsed_credential> check_new_credential(const credential& c, const device_registry& reg,
                                               wall_time now);

// The whole credential list of a device after a create or update. `previous` is the list the
// device had before: credentials found unchanged in it are not re-checked (IoT Core checks
// only new or added credentials; an expired certificate already on a device stays until an
// operator removes it). Refuses more than 3 and the same public key twice.
result<void> check_device_credentials(const std::vector<credential>& creds,
                                      const std::vector<credential>& previous,
                                      const device_registry& reg, wall_time now);

// A registry's CA certificate list: at most 10, each a parseable CA:TRUE certificate with an
// accepted key, not expired at `now`, no duplicates.
result<void> check_ca_certificates(const std::vector<ca_certificate>& cas, wall_time now);

// Metadata: at most 500 entries; keys 1-128 chars of [a-zA-Z][-a-zA-Z0-9._+~%]*; values at
// most 32 KiB; keys plus values at most 256 KiB. Values are opaque text.
result<void> check_metadata(const string_map& metadata);

// Group labels (GCP label rules): at most 64; keys [a-z][a-z0-9_-]{0,62}; values
// [a-z0-9_-]{0,63}.
result<void> check_labels(const string_map& labels);

bool is_valid(device_log_level v) noexcept;
bool is_valid(gateway_type v) noexcept;
bool is_valid(gateway_auth_method v) noexcept;

} // namespace aegis::registry
