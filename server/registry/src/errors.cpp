#include "aegis/registry/errors.hpp"

namespace aegis::registry {

std::string_view to_string(rpc_code c) noexcept {
  switch (c) {
  case rpc_code::ok:
    return "OK";
  case rpc_code::cancelled:
    return "CANCELLED";
  case rpc_code::unknown:
    return "UNKNOWN";
  case rpc_code::invalid_argument:
    return "INVALID_ARGUMENT";
  case rpc_code::deadline_exceeded:
    return "DEADLINE_EXCEEDED";
  case rpc_code::not_found:
    return "NOT_FOUND";
  case rpc_code::already_exists:
    return "ALREADY_EXISTS";
  case rpc_code::permission_denied:
    return "PERMISSION_DENIED";
  case rpc_code::resource_exhausted:
    return "RESOURCE_EXHAUSTED";
  case rpc_code::failed_precondition:
    return "FAILED_PRECONDITION";
  case rpc_code::aborted:
    return "ABORTED";
  case rpc_code::out_of_range:
    return "OUT_OF_RANGE";
  case rpc_code::unimplemented:
    return "UNIMPLEMENTED";
  case rpc_code::internal:
    return "INTERNAL";
  case rpc_code::unavailable:
    return "UNAVAILABLE";
  case rpc_code::data_loss:
    return "DATA_LOSS";
  case rpc_code::unauthenticated:
    return "UNAUTHENTICATED";
  }
  return "UNKNOWN";
}

std::string_view describe(registry_errc e) noexcept {
  switch (e) {
  case registry_errc::id_too_short:
    return "id is too short (project ids need 6 characters; registry, device and group ids 3; "
           "locations 1)";
  case registry_errc::id_too_long:
    return "id is too long (project ids have at most 30 characters; registry, device and group "
           "ids 255; locations 63)";
  case registry_errc::id_bad_first_character:
    return "id must start with a letter";
  case registry_errc::id_bad_character:
    return "id contains a character outside its alphabet ([-a-zA-Z0-9._+~%] for registry, "
           "device and group ids, [a-z0-9-] for project ids and locations; path separators, "
           "quotes, spaces and NUL are never allowed)";
  case registry_errc::id_bad_last_character:
    return "project id or location must not end with '-'";
  case registry_errc::id_reserved_prefix:
    return "id must not start with \"goog\"";
  case registry_errc::too_many_credentials:
    return "a device has at most 3 credentials";
  case registry_errc::credential_format_unspecified:
    return "credential format must be RSA_PEM, ES256_PEM, ED25519_PEM, RSA_X509_PEM or "
           "ES256_X509_PEM";
  case registry_errc::credential_too_large:
    return "credential PEM text is over 16 KiB";
  case registry_errc::bad_public_key:
    return "credential is not a PEM public key (-----BEGIN PUBLIC KEY-----)";
  case registry_errc::bad_certificate:
    return "not a PEM X.509 certificate (-----BEGIN CERTIFICATE-----)";
  case registry_errc::key_format_mismatch:
    return "the key's type does not match the declared format (RSA_* needs RSA, ES256_* needs "
           "EC P-256, ED25519_PEM needs Ed25519)";
  case registry_errc::unsupported_key_type:
    return "unsupported key type: only RSA (2048-4096 bits), EC P-256 and Ed25519 are accepted";
  case registry_errc::rsa_key_too_small:
    return "RSA key is shorter than 2048 bits";
  case registry_errc::rsa_key_too_large:
    return "RSA key is longer than 4096 bits";
  case registry_errc::weak_certificate:
    return "certificate uses an algorithm below 112-bit security";
  case registry_errc::credential_expired:
    return "credential expiration_time is not in the future";
  case registry_errc::certificate_expired:
    return "certificate has expired";
  case registry_errc::duplicate_credential:
    return "the same public key appears twice in the device's credentials";
  case registry_errc::certificate_required:
    return "the registry has CA certificates: device credentials must be X.509 certificates "
           "signed by one of them";
  case registry_errc::certificate_not_signed_by_registry_ca:
    return "certificate is not signed directly by any of the registry's CA certificates";
  case registry_errc::credential_is_registry_ca:
    return "a registry CA certificate cannot be a device credential";
  case registry_errc::too_many_ca_certificates:
    return "a registry has at most 10 CA certificates";
  case registry_errc::ca_certificate_not_ca:
    return "CA certificate lacks basicConstraints CA:TRUE";
  case registry_errc::ca_certificate_expired:
    return "CA certificate has expired";
  case registry_errc::duplicate_ca_certificate:
    return "the same CA certificate appears twice";
  case registry_errc::too_many_metadata_entries:
    return "metadata has more than 500 entries";
  case registry_errc::bad_metadata_key:
    return "metadata key must be 1-128 characters of [a-zA-Z][-a-zA-Z0-9._+~%]*";
  case registry_errc::metadata_value_too_large:
    return "a metadata value is over 32 KiB";
  case registry_errc::metadata_too_large:
    return "metadata keys and values total over 256 KiB";
  case registry_errc::too_many_labels:
    return "a group has at most 64 labels";
  case registry_errc::bad_label_key:
    return "label key must match [a-z][a-z0-9_-]{0,62}";
  case registry_errc::bad_label_value:
    return "label value must match [a-z0-9_-]{0,63}";
  case registry_errc::config_too_large:
    return "config data is over 64 KiB";
  case registry_errc::state_too_large:
    return "state data is over 64 KiB";
  case registry_errc::bad_config_version:
    return "version_to_update must be 0 (unconditional) or a positive version";
  case registry_errc::bad_page_size:
    return "page size is over 500";
  case registry_errc::bad_enum_value:
    return "an enum field holds an unknown value";
  case registry_errc::gateway_type_immutable:
    return "gateway_type cannot change after the device is created";
  case registry_errc::bad_error_status:
    return "error status message is over 1 KiB";
  case registry_errc::project_not_found:
    return "project not found";
  case registry_errc::registry_not_found:
    return "registry not found";
  case registry_errc::device_not_found:
    return "device not found";
  case registry_errc::group_not_found:
    return "group not found";
  case registry_errc::config_version_not_found:
    return "config version not found among the retained versions";
  case registry_errc::binding_not_found:
    return "device is not bound to that gateway";
  case registry_errc::project_exists:
    return "a project with that id already exists";
  case registry_errc::registry_exists:
    return "a registry with that id already exists in the project and location";
  case registry_errc::device_exists:
    return "a device with that id already exists in the registry";
  case registry_errc::group_exists:
    return "a group with that id already exists in the registry";
  case registry_errc::config_version_mismatch:
    return "config version_to_update does not match the current version";
  case registry_errc::project_not_empty:
    return "project still has registries";
  case registry_errc::registry_not_empty:
    return "registry still has devices";
  case registry_errc::gateway_has_bound_devices:
    return "gateway still has bound devices; unbind them first";
  case registry_errc::not_a_gateway:
    return "device is not a gateway (gateway_type GATEWAY)";
  case registry_errc::gateway_cannot_be_bound:
    return "a gateway cannot be bound to a gateway";
  case registry_errc::too_many_gateways:
    return "a device can be bound to at most 10 gateways";
  case registry_errc::too_many_bound_devices:
    return "a gateway can have at most 10,000 bound devices";
  case registry_errc::num_id_collision:
    return "numeric device id collision";
  case registry_errc::storage_busy:
    return "storage is busy; retry";
  case registry_errc::storage_unavailable:
    return "storage is not accepting work (stopped or queue full); retry";
  case registry_errc::storage_failed:
    return "storage failure";
  case registry_errc::storage_corrupt:
    return "storage is corrupt";
  case registry_errc::sealed_value_unreadable:
    return "a sealed value cannot be opened (wrong master key or tampered data)";
  case registry_errc::token_not_found:
    return "operator token not found";
  case registry_errc::token_exists:
    return "an operator token with that id already exists";
  }
  return "unknown registry error";
}

wire_status to_wire(registry_errc e) noexcept {
  switch (e) {
  case registry_errc::project_not_found:
  case registry_errc::registry_not_found:
  case registry_errc::device_not_found:
  case registry_errc::group_not_found:
  case registry_errc::config_version_not_found:
  case registry_errc::binding_not_found:
  case registry_errc::token_not_found:
    return {404, rpc_code::not_found};
  case registry_errc::project_exists:
  case registry_errc::registry_exists:
  case registry_errc::device_exists:
  case registry_errc::group_exists:
  case registry_errc::token_exists:
    return {409, rpc_code::already_exists};
  case registry_errc::config_version_mismatch:
    return {409, rpc_code::aborted};
  case registry_errc::project_not_empty:
  case registry_errc::registry_not_empty:
  case registry_errc::gateway_has_bound_devices:
  case registry_errc::not_a_gateway:
  case registry_errc::gateway_cannot_be_bound:
  case registry_errc::too_many_gateways:
  case registry_errc::too_many_bound_devices:
    // Google's HTTP mapping for FAILED_PRECONDITION (and what IoT Core answered) is 400.
    return {400, rpc_code::failed_precondition};
  case registry_errc::num_id_collision:
  case registry_errc::storage_failed:
    return {500, rpc_code::internal};
  case registry_errc::storage_busy:
  case registry_errc::storage_unavailable:
    return {503, rpc_code::unavailable};
  case registry_errc::storage_corrupt:
  case registry_errc::sealed_value_unreadable:
    return {500, rpc_code::data_loss};
  default:
    break;
  }
  return {400, rpc_code::invalid_argument};
}

} // namespace aegis::registry
