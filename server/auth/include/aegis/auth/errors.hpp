#pragma once

// Why a connection or a topic was refused (STYLE.md habit 4). Each value is one precise internal
// reason for the audit log, and knows the code the client is told. The client learns as little
// as the protocol allows: an unknown device, a wrong project and a bad signature all look the
// same on the wire (0x86 / 5), so probing reveals nothing about which devices exist.
//
// MQTT 3.1.1 codes follow IoT Core's observed behaviour (reference §1.5): device-credential
// failures answer 5 (not authorized), as devices written for IoT Core expect, while application
// accounts get 4 (bad user name or password).

#include "aegis/base/error.hpp"

#include <cstdint>
#include <string_view>

namespace aegis::auth {

enum class auth_errc {
  // --- client identifier: v5 0x85, v3.1.1 2 ---
  client_id_malformed = 1, // a device path that does not parse (bad segment, NUL, too long)
  client_id_mismatch,      // the verified credential names another device than the client id

  // --- device credentials: v5 0x86, v3.1.1 5 ---
  device_unknown,       // no such project, registry or device
  token_missing,        // no password where a JWT is expected
  token_malformed,      // not a well-formed JWT (structure, base64, JSON, claims' types)
  token_refused_alg,    // alg none, HMAC or any algorithm Aegis does not accept
  token_key_mismatch,   // no usable credential of the key type the token's alg needs
  token_bad_signature,  // no credential verifies the signature
  token_expired,        // exp + skew has passed
  token_not_yet_valid,  // iat - skew is in the future
  token_lifetime,       // exp - iat over 24 h, or exp <= iat
  token_wrong_audience, // aud is not the device's project
  no_usable_credential, // every credential of the device has expired (or it has none)
  certificate_unparsable,
  certificate_untrusted, // does not chain to a registry CA or Aegis' CA
  certificate_expired,   // outside its validity period
  certificate_revoked,   // listed on a CRL, or the issuer's CRL is unusable (fail closed)
  certificate_rejected,  // key usage, weak algorithm, missing or ambiguous identity

  // --- application accounts: v5 0x86, v3.1.1 4 ---
  password_missing,
  password_mismatch,
  account_disabled,

  // --- not authorized: v5 0x87, v3.1.1 5 ---
  device_blocked,
  mqtt_disabled,    // the device's registry has the MQTT bridge turned off
  http_disabled,    // the device's registry has the HTTP bridge turned off
  no_authenticator, // every authenticator abstained
  // gateway attach (reference §1.11); answered on the gateway's /errors topic, 0x87 in a PUBACK
  not_a_gateway,         // an attach by a device whose gateway_type is not GATEWAY
  gateway_auth_disabled, // the gateway's auth method is unspecified: no device may use it
  device_not_bound,      // association required and the device is not bound to the gateway
  device_is_gateway,     // a gateway cannot act for another gateway

  // --- too many failures from the source address: v5 0x9F, v3.1.1 5 ---
  rate_limited,

  // --- our side failed: v5 0x88, v3.1.1 3 ---
  server_unavailable,
};
std::string_view describe(auth_errc e) noexcept;
// The enumerator's name ("token_expired"): a stable label for metrics and logs.
std::string_view name(auth_errc e) noexcept;
// MQTT 5 CONNACK reason code.
std::uint8_t connack_v5(auth_errc e) noexcept;
// MQTT 3.1.1 CONNACK return code.
std::uint8_t connack_v311(auth_errc e) noexcept;

// Why a publish or subscribe was refused.
enum class authz_errc {
  topic_invalid = 1,   // publish topic empty, with a wildcard or NUL, or too long (v5 0x90)
  filter_invalid,      // malformed filter: '#' not last, '+'/'#' inside a level, NUL (v5 0x8F)
  outside_namespace,   // not under /devices/ (the device profile has no other topics)
  other_device,        // names a device that is neither the client nor bound to it
  wildcard_escape,     // a wildcard where it could reach another device's topics
  topic_not_allowed,   // own namespace, but not a topic the direction allows
  dot_segment,         // a "." or ".." or empty level in a subfolder
  not_a_gateway,       // attach/detach/errors by a device that is not a gateway
  wrong_identity_kind, // this authorizer does not serve the identity's kind
  no_matching_rule,    // no ACL rule grants the access
  unsafe_substitution, // the only rules that could match substitute a value with '/', '+',
                       // '#' or NUL (or an empty one)
};
std::string_view describe(authz_errc e) noexcept;
// MQTT 5 PUBACK/SUBACK reason code (v3.1.1 SUBACK answers 0x80 for every refusal, and a
// refused PUBLISH has no code there).
std::uint8_t reason_code_v5(authz_errc e) noexcept;

} // namespace aegis::auth

AEGIS_ERROR_ENUM(aegis::auth, auth_errc, "aegis.auth", describe)
AEGIS_ERROR_ENUM(aegis::auth, authz_errc, "aegis.authz", describe)
