#include "aegis/auth/gateway_attach.hpp"

#include "aegis/registry/ids.hpp"
#include "device_lookup.hpp"

#include <algorithm>
#include <string>
#include <utility>

namespace aegis::auth {

gateway_attach_checker::gateway_attach_checker(registry::registry_service& registry,
                                               const clock& clk, jwt_authenticator_options options)
    : registry_(registry), tokens_(registry, clk, options) {}

auth_decision gateway_attach_checker::check(const identity& gateway, std::string_view device_id,
                                            std::string_view token) {
  using registry::gateway_auth_method;
  if (gateway.kind != identity_kind::gateway) {
    return auth_decision::deny(auth_errc::not_a_gateway);
  }
  if (auto r = registry::check_resource_id(device_id);
      !r || device_id.find_first_of("+#") != std::string_view::npos) {
    return auth_decision::deny(auth_errc::device_unknown, r.error());
  }

  auto gw_found = detail::find_device(registry_, gateway.device);
  if (auto* d = std::get_if<auth_decision>(&gw_found)) {
    return std::move(*d);
  }
  const auto& gw = std::get<detail::device_record>(gw_found);
  if (detail::kind_of(gw.device) != identity_kind::gateway) {
    return auth_decision::deny(auth_errc::not_a_gateway);
  }
  if (gw.device.blocked) {
    return auth_decision::deny(auth_errc::device_blocked);
  }
  const gateway_auth_method method = gw.device.gateway.auth_method;
  if (method == gateway_auth_method::unspecified) {
    return auth_decision::deny(auth_errc::gateway_auth_disabled);
  }

  const registry::device_key key{gateway.device.registry,
                                 registry::device_id(std::string(device_id))};
  auto found = detail::find_device(registry_, key);
  if (auto* d = std::get_if<auth_decision>(&found)) {
    return std::move(*d);
  }
  const auto& rec = std::get<detail::device_record>(found);
  if (detail::kind_of(rec.device) == identity_kind::gateway) {
    return auth_decision::deny(auth_errc::device_is_gateway);
  }

  const bool needs_binding = method == gateway_auth_method::association_only ||
                             method == gateway_auth_method::association_and_device_auth_token;
  const bool needs_token = method == gateway_auth_method::device_auth_token_only ||
                           method == gateway_auth_method::association_and_device_auth_token;
  if (needs_binding) {
    auto gateways = registry_.list_gateways_of(key);
    if (!gateways) {
      return detail::lookup_failure(gateways.error());
    }
    if (std::find(gateways->begin(), gateways->end(), gateway.device.device) == gateways->end()) {
      return auth_decision::deny(auth_errc::device_not_bound);
    }
  }

  identity id;
  if (needs_token) {
    auth_decision verified = tokens_.verify_token(rec.device, token);
    if (!verified.allowed()) {
      return verified;
    }
    id = *std::move(verified.who);
  } else {
    id.kind = identity_kind::device;
    id.method = auth_method::gateway_association;
    id.client_id = registry::to_name(key);
    id.device = key;
    id.device_num_id = rec.device.num_id;
    id.credential_expires_at = gateway.credential_expires_at;
    id.expiry_grace = gateway.expiry_grace;
  }
  // Checked last, as for direct connections: only a holder of the device's key (or its bound
  // gateway) learns that it is blocked.
  if (rec.device.blocked) {
    return auth_decision::deny(auth_errc::device_blocked);
  }
  return auth_decision::allow(std::move(id));
}

} // namespace aegis::auth
