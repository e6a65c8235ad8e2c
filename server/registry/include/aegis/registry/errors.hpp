#pragma once

// Error values of the device registry (STYLE.md habit 4). Each value names one precise reason,
// and knows the HTTP status and the google.rpc-style code the admin API and the HTTP bridge
// answer with, so a handler maps any registry failure to the wire in one line.

#include "aegis/base/error.hpp"

#include <string_view>
#include <system_error>

namespace aegis::registry {

// google.rpc.Code, as IoT Core's REST and gRPC surfaces report it.
// TODO(adr): belongs in libs/base once a second module (admin, bridge) needs it.
enum class rpc_code {
  ok = 0,
  cancelled = 1,
  unknown = 2,
  invalid_argument = 3,
  deadline_exceeded = 4,
  not_found = 5,
  already_exists = 6,
  permission_denied = 7,
  resource_exhausted = 8,
  failed_precondition = 9,
  aborted = 10,
  out_of_range = 11,
  unimplemented = 12,
  internal = 13,
  unavailable = 14,
  data_loss = 15,
  unauthenticated = 16,
};
// "INVALID_ARGUMENT", "NOT_FOUND", ...
std::string_view to_string(rpc_code c) noexcept;

enum class registry_errc {
  // --- 400 INVALID_ARGUMENT: identifiers (IoT Core §1.13) ---
  id_too_short = 1,       // under the minimum length for its kind (see ids.hpp)
  id_too_long,            // over the maximum length for its kind
  id_bad_first_character, // must start with a letter ("../x" lands here)
  id_bad_character,       // outside the kind's alphabet ("a/../b", quotes, NUL, spaces)
  id_bad_last_character,  // project ids and locations must not end with '-'
  id_reserved_prefix,     // registry/device/group ids must not start with "goog"

  // --- 400 INVALID_ARGUMENT: device credentials ---
  too_many_credentials,          // more than 3 on one device
  credential_format_unspecified, // format 0 or an unknown value
  credential_too_large,          // PEM text over 16 KiB
  bad_public_key,                // not a PEM SubjectPublicKeyInfo
  bad_certificate,               // not a PEM X.509 certificate
  key_format_mismatch,           // key type differs from the declared format (ES256_PEM + RSA)
  unsupported_key_type,          // not RSA, EC P-256 or Ed25519 (e.g. P-384)
  rsa_key_too_small,             // RSA below 2048 bits
  rsa_key_too_large,             // RSA above 4096 bits
  weak_certificate,              // certificate signed with a digest below 112-bit security
  credential_expired,            // expiration_time is not in the future
  certificate_expired,           // X.509 not_after is not in the future
  duplicate_credential,          // the same public key twice on one device
  certificate_required,          // registry has CA certificates: bare public keys refused
  certificate_not_signed_by_registry_ca, // not issued directly by one of the registry's CAs
  credential_is_registry_ca,             // a registry CA certificate used as a device credential

  // --- 400 INVALID_ARGUMENT: registry CA certificates ---
  too_many_ca_certificates, // more than 10
  ca_certificate_not_ca,    // lacks basicConstraints CA:TRUE
  ca_certificate_expired,
  duplicate_ca_certificate,

  // --- 400 INVALID_ARGUMENT: metadata, labels, payloads, arguments ---
  too_many_metadata_entries, // more than 500 pairs
  bad_metadata_key,          // empty, over 128 chars, or outside [a-zA-Z][-a-zA-Z0-9._+~%]*
  metadata_value_too_large,  // one value over 32 KiB
  metadata_too_large,        // keys + values over 256 KiB
  too_many_labels,           // more than 64 labels on a group
  bad_label_key,             // not [a-z][a-z0-9_-]{0,62}
  bad_label_value,           // not [a-z0-9_-]{0,63}
  config_too_large,          // over 64 KiB
  state_too_large,           // over 64 KiB
  bad_config_version,        // negative version_to_update
  bad_page_size,             // over 500
  bad_enum_value,            // an enum field holds a value outside its range
  gateway_type_immutable,    // gateway_type cannot change after creation
  bad_error_status,          // last error message over 1 KiB

  // --- 404 NOT_FOUND ---
  project_not_found,
  registry_not_found,
  device_not_found,
  group_not_found,
  config_version_not_found, // not (or no longer) among the retained versions
  binding_not_found,

  // --- 409 ALREADY_EXISTS ---
  project_exists,
  registry_exists,
  device_exists,
  group_exists,

  // --- 409 ABORTED ---
  config_version_mismatch, // compare-and-set: version_to_update differs from the current one

  // --- 400 FAILED_PRECONDITION ---
  project_not_empty,         // has registries
  registry_not_empty,        // has devices
  gateway_has_bound_devices, // unbind them before deleting the gateway
  not_a_gateway,             // binding target's gateway_type is not GATEWAY
  gateway_cannot_be_bound,   // a gateway cannot be bound to another gateway
  too_many_gateways,         // a device bound to more than 10 gateways
  too_many_bound_devices,    // a gateway with more than 10,000 bound devices

  // --- 5xx: the store ---
  num_id_collision,        // 500 INTERNAL; the service draws a new number and retries
  storage_busy,            // 503 UNAVAILABLE: the database stayed locked past the busy timeout
  storage_unavailable,     // 503 UNAVAILABLE: storage executor stopped or its queue is full
  storage_failed,          // 500 INTERNAL: any other database failure (logged with detail)
  storage_corrupt,         // 500 DATA_LOSS: the database file is damaged
  sealed_value_unreadable, // 500 DATA_LOSS: wrong master key, or a sealed value was tampered
                           // with or moved to another row

  // --- operators (operators.hpp); appended, so the values above keep their numbers ---
  token_not_found, // 404 NOT_FOUND: no operator token with that id
  token_exists,    // 409 ALREADY_EXISTS: an operator token with that id already exists
};
std::string_view describe(registry_errc e) noexcept;

struct wire_status {
  int http_status;
  rpc_code code;
};
wire_status to_wire(registry_errc e) noexcept;
inline int http_status(registry_errc e) noexcept {
  return to_wire(e).http_status;
}
inline rpc_code rpc_code_of(registry_errc e) noexcept {
  return to_wire(e).code;
}

} // namespace aegis::registry

AEGIS_ERROR_ENUM(aegis::registry, registry_errc, "aegis.registry", describe)
