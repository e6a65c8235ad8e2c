#include "aegis/auth/errors.hpp"

namespace aegis::auth {

std::string_view name(auth_errc e) noexcept {
  switch (e) {
  case auth_errc::client_id_malformed:
    return "client_id_malformed";
  case auth_errc::client_id_mismatch:
    return "client_id_mismatch";
  case auth_errc::device_unknown:
    return "device_unknown";
  case auth_errc::token_missing:
    return "token_missing";
  case auth_errc::token_malformed:
    return "token_malformed";
  case auth_errc::token_refused_alg:
    return "token_refused_alg";
  case auth_errc::token_key_mismatch:
    return "token_key_mismatch";
  case auth_errc::token_bad_signature:
    return "token_bad_signature";
  case auth_errc::token_expired:
    return "token_expired";
  case auth_errc::token_not_yet_valid:
    return "token_not_yet_valid";
  case auth_errc::token_lifetime:
    return "token_lifetime";
  case auth_errc::token_wrong_audience:
    return "token_wrong_audience";
  case auth_errc::no_usable_credential:
    return "no_usable_credential";
  case auth_errc::certificate_unparsable:
    return "certificate_unparsable";
  case auth_errc::certificate_untrusted:
    return "certificate_untrusted";
  case auth_errc::certificate_expired:
    return "certificate_expired";
  case auth_errc::certificate_revoked:
    return "certificate_revoked";
  case auth_errc::certificate_rejected:
    return "certificate_rejected";
  case auth_errc::password_missing:
    return "password_missing";
  case auth_errc::password_mismatch:
    return "password_mismatch";
  case auth_errc::account_disabled:
    return "account_disabled";
  case auth_errc::device_blocked:
    return "device_blocked";
  case auth_errc::mqtt_disabled:
    return "mqtt_disabled";
  case auth_errc::http_disabled:
    return "http_disabled";
  case auth_errc::no_authenticator:
    return "no_authenticator";
  case auth_errc::not_a_gateway:
    return "not_a_gateway";
  case auth_errc::gateway_auth_disabled:
    return "gateway_auth_disabled";
  case auth_errc::device_not_bound:
    return "device_not_bound";
  case auth_errc::device_is_gateway:
    return "device_is_gateway";
  case auth_errc::rate_limited:
    return "rate_limited";
  case auth_errc::server_unavailable:
    return "server_unavailable";
  }
  return "unknown";
}

std::string_view describe(auth_errc e) noexcept {
  switch (e) {
  case auth_errc::client_id_malformed:
    return "client id is not a well-formed device path";
  case auth_errc::client_id_mismatch:
    return "client id names another device than the credential";
  case auth_errc::device_unknown:
    return "unknown project, registry or device";
  case auth_errc::token_missing:
    return "no JWT in the password";
  case auth_errc::token_malformed:
    return "malformed JWT";
  case auth_errc::token_refused_alg:
    return "JWT algorithm refused";
  case auth_errc::token_key_mismatch:
    return "no usable credential of the key type the JWT algorithm needs";
  case auth_errc::token_bad_signature:
    return "JWT signature verifies with no credential";
  case auth_errc::token_expired:
    return "JWT expired";
  case auth_errc::token_not_yet_valid:
    return "JWT issued in the future";
  case auth_errc::token_lifetime:
    return "JWT lifetime over 24 h or not positive";
  case auth_errc::token_wrong_audience:
    return "JWT audience is not the device's project";
  case auth_errc::no_usable_credential:
    return "device has no unexpired credential";
  case auth_errc::certificate_unparsable:
    return "client certificate does not parse";
  case auth_errc::certificate_untrusted:
    return "client certificate does not chain to a trusted CA";
  case auth_errc::certificate_expired:
    return "client certificate outside its validity period";
  case auth_errc::certificate_revoked:
    return "client certificate revoked or revocation unknown";
  case auth_errc::certificate_rejected:
    return "client certificate refused (usage, strength or identity)";
  case auth_errc::password_missing:
    return "no password";
  case auth_errc::password_mismatch:
    return "wrong password";
  case auth_errc::account_disabled:
    return "account disabled";
  case auth_errc::device_blocked:
    return "device blocked";
  case auth_errc::mqtt_disabled:
    return "MQTT disabled on the registry";
  case auth_errc::http_disabled:
    return "HTTP disabled on the registry";
  case auth_errc::no_authenticator:
    return "no authenticator recognised the client";
  case auth_errc::not_a_gateway:
    return "attach by a device that is not a gateway";
  case auth_errc::gateway_auth_disabled:
    return "gateway auth method unspecified: no device may use the gateway";
  case auth_errc::device_not_bound:
    return "device not bound to the gateway";
  case auth_errc::device_is_gateway:
    return "a gateway cannot act for another gateway";
  case auth_errc::rate_limited:
    return "too many failed attempts from the source address";
  case auth_errc::server_unavailable:
    return "authentication backend unavailable";
  }
  return "unknown auth error";
}

std::uint8_t connack_v5(auth_errc e) noexcept {
  switch (e) {
  case auth_errc::client_id_malformed:
  case auth_errc::client_id_mismatch:
    return 0x85;
  case auth_errc::device_blocked:
  case auth_errc::mqtt_disabled:
  case auth_errc::http_disabled:
  case auth_errc::no_authenticator:
  case auth_errc::not_a_gateway:
  case auth_errc::gateway_auth_disabled:
  case auth_errc::device_not_bound:
  case auth_errc::device_is_gateway:
    return 0x87;
  case auth_errc::rate_limited:
    return 0x9F;
  case auth_errc::server_unavailable:
    return 0x88;
  default:
    return 0x86;
  }
}

std::uint8_t connack_v311(auth_errc e) noexcept {
  switch (e) {
  case auth_errc::client_id_malformed:
  case auth_errc::client_id_mismatch:
    return 2;
  case auth_errc::password_missing:
  case auth_errc::password_mismatch:
  case auth_errc::account_disabled:
    return 4;
  case auth_errc::server_unavailable:
    return 3;
  default:
    return 5;
  }
}

std::string_view describe(authz_errc e) noexcept {
  switch (e) {
  case authz_errc::topic_invalid:
    return "invalid topic name";
  case authz_errc::filter_invalid:
    return "invalid topic filter";
  case authz_errc::outside_namespace:
    return "topic outside /devices/";
  case authz_errc::other_device:
    return "topic of another device";
  case authz_errc::wildcard_escape:
    return "wildcard could reach another device's topics";
  case authz_errc::topic_not_allowed:
    return "topic not allowed in this direction";
  case authz_errc::dot_segment:
    return "'.', '..' or empty level in a subfolder";
  case authz_errc::not_a_gateway:
    return "gateway topic used by a device that is not a gateway";
  case authz_errc::wrong_identity_kind:
    return "authorizer does not serve this kind of identity";
  case authz_errc::no_matching_rule:
    return "no ACL rule grants access";
  case authz_errc::unsafe_substitution:
    return "ACL substitution value holds '/', '+', '#' or NUL, or is empty";
  }
  return "unknown authz error";
}

std::uint8_t reason_code_v5(authz_errc e) noexcept {
  switch (e) {
  case authz_errc::topic_invalid:
    return 0x90;
  case authz_errc::filter_invalid:
    return 0x8F;
  default:
    return 0x87;
  }
}

} // namespace aegis::auth
