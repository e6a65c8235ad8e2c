#include "aegis/app/application_authorizer.hpp"

#include <fmt/format.h>

#include <optional>
#include <stdexcept>

namespace aegis::app {
namespace {

constexpr std::string_view share_prefix = "$share/";

std::vector<auth::acl_rule> to_acl_rules(const std::vector<acl_rule_config>& rules) {
  std::vector<auth::acl_rule> out;
  out.reserve(rules.size());
  for (const auto& r : rules) {
    auth::acl_rule rule;
    rule.username = r.user;
    rule.pattern = r.pattern;
    if (r.access == "publish") {
      rule.access = auth::acl_access::publish;
    } else if (r.access == "subscribe") {
      rule.access = auth::acl_access::subscribe;
    } else {
      rule.access = auth::acl_access::both;
    }
    out.push_back(std::move(rule));
  }
  return out;
}

auth::topic_acl_authorizer make_acl(const std::vector<acl_rule_config>& rules) {
  try {
    return auth::topic_acl_authorizer(to_acl_rules(rules));
  } catch (const std::invalid_argument& e) {
    throw config_error(fmt::format("mqtt.acl: {}", e.what()));
  }
}

std::string_view first_level(std::string_view name) {
  return name.substr(0, name.find('/'));
}

// "$share/{group}/{filter}" -> "{filter}"; anything else unchanged. A malformed share (no group,
// a wildcard in it, or no filter) gives nullopt.
std::optional<std::string_view> without_share(std::string_view filter) {
  if (filter.substr(0, share_prefix.size()) != share_prefix) {
    return filter;
  }
  const std::string_view rest = filter.substr(share_prefix.size());
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == rest.size()) {
    return std::nullopt;
  }
  if (rest.substr(0, slash).find_first_of("+#") != std::string_view::npos) {
    return std::nullopt;
  }
  return rest.substr(slash + 1);
}

auth::authz_decision only_applications() {
  return auth::authz_decision::deny(auth::authz_errc::wrong_identity_kind);
}

} // namespace

application_authorizer::application_authorizer(const std::vector<acl_rule_config>& rules)
    : acl_(make_acl(rules)) {}

auth::authz_decision application_authorizer::can_publish(const auth::identity& who,
                                                         std::string_view topic) const {
  if (who.kind != auth::identity_kind::application) {
    return only_applications();
  }
  if (!auth::valid_topic_name(topic)) {
    return auth::authz_decision::deny(auth::authz_errc::topic_invalid);
  }
  if (first_level(topic) != device_namespace_root) {
    return auth::authz_decision::allow();
  }
  return acl_.can_publish(who, topic);
}

auth::authz_decision application_authorizer::can_subscribe(const auth::identity& who,
                                                           std::string_view filter) const {
  if (who.kind != auth::identity_kind::application) {
    return only_applications();
  }
  const auto shared = without_share(filter);
  if (!shared || !auth::valid_topic_filter(*shared)) {
    return auth::authz_decision::deny(auth::authz_errc::filter_invalid);
  }
  const std::string_view inner = *shared;
  if (!auth::valid_topic_filter(inner)) {
    return auth::authz_decision::deny(auth::authz_errc::filter_invalid);
  }
  const std::string_view level = first_level(inner);
  if (level != device_namespace_root && level != "+" && level != "#") {
    return auth::authz_decision::allow();
  }
  return acl_.can_subscribe(who, inner);
}

} // namespace aegis::app
