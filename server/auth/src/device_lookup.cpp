#include "device_lookup.hpp"

#include "aegis/registry/errors.hpp"

namespace aegis::auth::detail {

bool looks_like_device_path(std::string_view client_id) noexcept {
  return client_id.substr(0, device_path_prefix.size()) == device_path_prefix;
}

std::variant<registry::device_key, auth_decision> parse_client_id(std::string_view client_id) {
  if (client_id.size() > max_client_id) {
    return auth_decision::deny(auth_errc::client_id_malformed,
                               make_error_code(registry::registry_errc::id_too_long));
  }
  // IoT Core's id alphabet admits '+', but a device named so could not use a single topic of its
  // own (MQTT topic names cannot hold wildcards), so no such device may connect.
  if (client_id.find_first_of("+#") != std::string_view::npos) {
    return auth_decision::deny(auth_errc::client_id_malformed,
                               make_error_code(registry::registry_errc::id_bad_character));
  }
  auto key = registry::parse_device_name(client_id);
  if (!key) {
    return auth_decision::deny(auth_errc::client_id_malformed, key.error());
  }
  return *std::move(key);
}

auth_decision lookup_failure(std::error_code e) {
  using registry::registry_errc;
  if (e == registry_errc::storage_busy || e == registry_errc::storage_unavailable ||
      e == registry_errc::storage_failed || e == registry_errc::storage_corrupt ||
      e == registry_errc::sealed_value_unreadable) {
    return auth_decision::deny(auth_errc::server_unavailable, e);
  }
  return auth_decision::deny(auth_errc::device_unknown, e);
}

std::variant<device_record, auth_decision> find_device(registry::registry_service& service,
                                                       const registry::device_key& key) {
  auto reg = service.get_registry(key.registry);
  if (!reg) {
    return lookup_failure(reg.error());
  }
  auto dev = service.get_device(key);
  if (!dev) {
    return lookup_failure(dev.error());
  }
  return device_record{*std::move(reg), *std::move(dev)};
}

std::optional<auth_decision> check_admission(const device_record& rec, transport via) {
  if (rec.device.blocked) {
    return auth_decision::deny(auth_errc::device_blocked);
  }
  switch (via) {
  case transport::mqtt:
  case transport::mqtt_websocket:
    if (!rec.registry.mqtt_enabled) {
      return auth_decision::deny(auth_errc::mqtt_disabled);
    }
    break;
  case transport::http:
    if (!rec.registry.http_enabled) {
      return auth_decision::deny(auth_errc::http_disabled);
    }
    break;
  case transport::coap:
    // The registry has no CoAP switch yet; CoAP is gated by the listener's configuration.
    break;
  }
  return std::nullopt;
}

identity_kind kind_of(const registry::device& d) noexcept {
  return d.gateway.type == registry::gateway_type::gateway ? identity_kind::gateway
                                                           : identity_kind::device;
}

} // namespace aegis::auth::detail
