#include "aegis/auth/authorizer.hpp"

#include <optional>
#include <stdexcept>
#include <utility>

namespace aegis::auth {

namespace {

constexpr std::size_t max_topic_size = 65535;

std::vector<std::string_view> levels_of(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    auto slash = s.find('/', start);
    if (slash == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, slash - start));
    start = slash + 1;
  }
}

bool is_wildcard(std::string_view level) noexcept {
  return level == "+" || level == "#";
}

// A subfolder level must be a plain name: not empty, not "." or "..".
bool plain_level(std::string_view level) noexcept {
  return !level.empty() && level != "." && level != "..";
}

bool starts_with_dollar(std::string_view s) noexcept {
  return !s.empty() && s.front() == '$';
}

} // namespace

bool valid_topic_name(std::string_view topic) noexcept {
  return !topic.empty() && topic.size() <= max_topic_size &&
         topic.find_first_of(std::string_view("+#\0", 3)) == std::string_view::npos;
}

bool valid_topic_filter(std::string_view filter) noexcept {
  if (filter.empty() || filter.size() > max_topic_size ||
      filter.find('\0') != std::string_view::npos) {
    return false;
  }
  std::size_t start = 0;
  while (true) {
    auto slash = filter.find('/', start);
    bool last = slash == std::string_view::npos;
    std::string_view level = last ? filter.substr(start) : filter.substr(start, slash - start);
    if (level.find_first_of("+#") != std::string_view::npos) {
      if (level.size() != 1 || (level == "#" && !last)) {
        return false;
      }
    }
    if (last) {
      return true;
    }
    start = slash + 1;
  }
}

bool filter_matches(std::string_view filter, std::string_view topic) noexcept {
  auto f = levels_of(filter);
  auto t = levels_of(topic);
  if (starts_with_dollar(topic) && is_wildcard(f.front())) {
    return false;
  }
  for (std::size_t i = 0; i < f.size(); ++i) {
    if (f[i] == "#") {
      return true;
    }
    if (i >= t.size()) {
      return false;
    }
    if (f[i] != "+" && f[i] != t[i]) {
      return false;
    }
  }
  return f.size() == t.size();
}

bool filter_covers(std::string_view outer, std::string_view inner) noexcept {
  auto o = levels_of(outer);
  auto n = levels_of(inner);
  if (starts_with_dollar(n.front()) && is_wildcard(o.front())) {
    return false;
  }
  for (std::size_t i = 0; i < o.size(); ++i) {
    if (o[i] == "#") {
      return true;
    }
    if (i >= n.size() || n[i] == "#") {
      return false;
    }
    if (o[i] == "+") {
      continue;
    }
    if (n[i] != o[i]) { // also refuses n[i] == "+" under a literal
      return false;
    }
  }
  return o.size() == n.size();
}

// --- device_profile_authorizer ---

device_profile_authorizer::device_profile_authorizer(bound_device_lookup bound)
    : bound_(std::move(bound)) {}

std::error_code device_profile_authorizer::may_act_for(const identity& who,
                                                       std::string_view device_id) const {
  if (device_id == who.device.device.value()) {
    return {};
  }
  if (who.kind != identity_kind::gateway || !bound_ || !bound_(who, device_id)) {
    return make_error_code(authz_errc::other_device);
  }
  return {};
}

authz_decision device_profile_authorizer::can_publish(const identity& who,
                                                      std::string_view topic) const {
  if (who.kind == identity_kind::application) {
    return authz_decision::deny(authz_errc::wrong_identity_kind);
  }
  if (!valid_topic_name(topic)) {
    return authz_decision::deny(authz_errc::topic_invalid);
  }
  auto l = levels_of(topic);
  if (l.size() < 3 || !l[0].empty() || l[1] != "devices") {
    return authz_decision::deny(authz_errc::outside_namespace);
  }
  if (l.size() < 4) {
    return authz_decision::deny(authz_errc::topic_not_allowed);
  }
  if (auto e = may_act_for(who, l[2])) {
    return {false, e};
  }
  const std::string_view kind = l[3];
  if (kind == "events") {
    for (std::size_t i = 4; i < l.size(); ++i) {
      if (!plain_level(l[i])) {
        return authz_decision::deny(authz_errc::dot_segment);
      }
    }
    return authz_decision::allow();
  }
  if (kind == "state" && l.size() == 4) {
    return authz_decision::allow();
  }
  if ((kind == "attach" || kind == "detach") && l.size() == 4) {
    if (who.kind != identity_kind::gateway) {
      return authz_decision::deny(authz_errc::not_a_gateway);
    }
    if (l[2] == who.device.device.value()) {
      return authz_decision::deny(
          authz_errc::topic_not_allowed); // a gateway does not attach itself
    }
    return authz_decision::allow();
  }
  return authz_decision::deny(authz_errc::topic_not_allowed);
}

authz_decision device_profile_authorizer::can_subscribe(const identity& who,
                                                        std::string_view filter) const {
  if (who.kind == identity_kind::application) {
    return authz_decision::deny(authz_errc::wrong_identity_kind);
  }
  if (!valid_topic_filter(filter)) {
    return authz_decision::deny(authz_errc::filter_invalid);
  }
  auto l = levels_of(filter);
  // The first three levels select the device: no wildcard may stand there.
  for (std::size_t i = 0; i < l.size() && i < 3; ++i) {
    if (is_wildcard(l[i])) {
      return authz_decision::deny(authz_errc::wildcard_escape);
    }
  }
  if (l.size() < 3 || !l[0].empty() || l[1] != "devices") {
    return authz_decision::deny(authz_errc::outside_namespace);
  }
  if (l.size() < 4) {
    return authz_decision::deny(authz_errc::topic_not_allowed);
  }
  if (auto e = may_act_for(who, l[2])) {
    return {false, e};
  }
  const std::string_view kind = l[3];
  if (kind == "config" && l.size() == 4) {
    return authz_decision::allow();
  }
  if (kind == "commands") {
    for (std::size_t i = 4; i < l.size(); ++i) {
      if (!is_wildcard(l[i]) && !plain_level(l[i])) {
        return authz_decision::deny(authz_errc::dot_segment);
      }
    }
    return authz_decision::allow();
  }
  if (kind == "errors" && l.size() == 4) {
    if (who.kind != identity_kind::gateway) {
      return authz_decision::deny(authz_errc::not_a_gateway);
    }
    if (l[2] != who.device.device.value()) {
      return authz_decision::deny(authz_errc::topic_not_allowed); // errors are the gateway's own
    }
    return authz_decision::allow();
  }
  return authz_decision::deny(authz_errc::topic_not_allowed);
}

// --- topic_acl_authorizer ---

namespace {

bool safe_value(std::string_view v) noexcept {
  return !v.empty() && v.find_first_of(std::string_view("/+#\0", 4)) == std::string_view::npos;
}

// nullopt when a substituted value is unsafe.
std::optional<std::string> substitute(std::string_view pattern, std::string_view client_id,
                                      std::string_view username) {
  std::string out;
  out.reserve(pattern.size());
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '%' && i + 1 < pattern.size() &&
        (pattern[i + 1] == 'c' || pattern[i + 1] == 'u')) {
      std::string_view value = pattern[i + 1] == 'c' ? client_id : username;
      if (!safe_value(value)) {
        return std::nullopt;
      }
      out += value;
      ++i;
    } else {
      out += pattern[i];
    }
  }
  return out;
}

} // namespace

topic_acl_authorizer::topic_acl_authorizer(std::vector<acl_rule> rules) : rules_(std::move(rules)) {
  for (const auto& r : rules_) {
    auto probe = substitute(r.pattern, "x", "x");
    if (!probe || !valid_topic_filter(*probe)) {
      throw std::invalid_argument("topic ACL: invalid pattern: " + r.pattern);
    }
  }
}

authz_decision topic_acl_authorizer::decide(const identity& who, std::string_view target,
                                            bool publish) const {
  if (who.kind != identity_kind::application) {
    return authz_decision::deny(authz_errc::wrong_identity_kind);
  }
  if (publish ? !valid_topic_name(target) : !valid_topic_filter(target)) {
    return authz_decision::deny(publish ? authz_errc::topic_invalid : authz_errc::filter_invalid);
  }
  bool skipped_unsafe = false;
  for (const auto& r : rules_) {
    if (!r.username.empty() && r.username != who.account) {
      continue;
    }
    if (r.access != acl_access::both &&
        r.access != (publish ? acl_access::publish : acl_access::subscribe)) {
      continue;
    }
    auto pattern = substitute(r.pattern, who.client_id, who.account);
    if (!pattern) {
      skipped_unsafe = true;
      continue;
    }
    if (publish ? filter_matches(*pattern, target) : filter_covers(*pattern, target)) {
      return authz_decision::allow();
    }
  }
  return authz_decision::deny(skipped_unsafe ? authz_errc::unsafe_substitution
                                             : authz_errc::no_matching_rule);
}

authz_decision topic_acl_authorizer::can_publish(const identity& who,
                                                 std::string_view topic) const {
  return decide(who, topic, true);
}

authz_decision topic_acl_authorizer::can_subscribe(const identity& who,
                                                   std::string_view filter) const {
  return decide(who, filter, false);
}

} // namespace aegis::auth
