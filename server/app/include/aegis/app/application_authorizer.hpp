#pragma once

// What application accounts (user name + password over MQTT) may do. Device traffic lives under
// "projects/{p}/locations/{l}/registries/{r}/devices/{d}/..." (server/broker maps each device's
// "/devices/{d}/..." topics there); an account reaches into that namespace only as far as an
// [[mqtt.acl]] rule allows. Outside it accounts publish and subscribe freely: that is their own
// application traffic. A filter that could match a device topic ("#", "+/...", "projects/...")
// needs a rule that covers it; "$share/{group}/" is looked through.

#include "aegis/app/config.hpp"
#include "aegis/auth/authorizer.hpp"

#include <string_view>
#include <vector>

namespace aegis::app {

// The namespace the broker routes device traffic under.
inline constexpr std::string_view device_namespace_root = "projects";

class application_authorizer final : public auth::authorizer {
public:
  // Throws config_error for a rule whose pattern is not a valid filter.
  explicit application_authorizer(const std::vector<acl_rule_config>& rules);

  // auth::authorizer
  auth::authz_decision can_publish(const auth::identity& who,
                                   std::string_view topic) const override;
  auth::authz_decision can_subscribe(const auth::identity& who,
                                     std::string_view filter) const override;

private:
  auth::topic_acl_authorizer acl_;
};

} // namespace aegis::app
