#include "aegis/mqtt/topic.hpp"

#include "checks.hpp"

namespace aegis::mqtt {
namespace detail {

namespace {

constexpr std::string_view share_prefix = "$share/";

// find_first_of("+#") costs a memchr call per character; two vectorised scans are far cheaper
// on every PUBLISH.
bool has_wildcard(std::string_view s) noexcept {
  return s.find('+') != std::string_view::npos || s.find('#') != std::string_view::npos;
}

} // namespace

mqtt_errc check_topic_name_syntax(std::string_view topic) noexcept {
  if (topic.empty() || has_wildcard(topic)) {
    return mqtt_errc::topic_name_invalid;
  }
  return no_error;
}

mqtt_errc check_topic_filter_syntax(std::string_view filter) noexcept {
  if (filter.empty()) {
    return mqtt_errc::topic_filter_invalid;
  }
  std::size_t level_start = 0;
  const std::size_t n = filter.size();
  for (std::size_t i = 0; i < n; ++i) {
    const char c = filter[i];
    if (c == '/') {
      level_start = i + 1;
    } else if (c == '+') {
      if (i != level_start || (i + 1 < n && filter[i + 1] != '/')) {
        return mqtt_errc::topic_filter_invalid;
      }
    } else if (c == '#') {
      if (i != level_start || i + 1 != n) {
        return mqtt_errc::topic_filter_invalid;
      }
    }
  }
  return no_error;
}

mqtt_errc check_shared_subscription_syntax(std::string_view filter) noexcept {
  if (!filter.starts_with(share_prefix)) {
    return mqtt_errc::shared_subscription_invalid;
  }
  const std::string_view rest = filter.substr(share_prefix.size());
  const std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0) {
    return mqtt_errc::shared_subscription_invalid;
  }
  if (has_wildcard(rest.substr(0, slash))) {
    return mqtt_errc::shared_subscription_invalid;
  }
  return check_topic_filter_syntax(rest.substr(slash + 1));
}

} // namespace detail

result<void> validate_topic_name(std::string_view topic) {
  if (auto e = detail::check_utf8(topic); e != detail::no_error) {
    return e;
  }
  if (auto e = detail::check_topic_name_syntax(topic); e != detail::no_error) {
    return e;
  }
  return ok();
}

result<void> validate_topic_filter(std::string_view filter) {
  if (auto e = detail::check_utf8(filter); e != detail::no_error) {
    return e;
  }
  if (auto e = detail::check_topic_filter_syntax(filter); e != detail::no_error) {
    return e;
  }
  return ok();
}

bool topic_matches(std::string_view filter, std::string_view topic) noexcept {
  if (filter.empty() || topic.empty()) {
    return false;
  }
  // [MQTT-4.7.2-1]: wildcards at the first level never reach the server's $-topics.
  if (topic.front() == '$' && (filter.front() == '+' || filter.front() == '#')) {
    return false;
  }
  std::size_t f = 0;
  std::size_t t = 0;
  while (true) {
    const std::size_t f_end = filter.find('/', f);
    const std::string_view f_level = filter.substr(f, f_end - f);
    if (f_level == "#") {
      return true; // matches this level and everything under it
    }
    const std::size_t t_end = topic.find('/', t);
    const std::string_view t_level = topic.substr(t, t_end - t);
    if (f_level != "+" && f_level != t_level) {
      return false;
    }
    const bool f_last = f_end == std::string_view::npos;
    const bool t_last = t_end == std::string_view::npos;
    if (f_last || t_last) {
      // "sport/#" also matches "sport" [§4.7.1.2].
      return f_last == t_last || (t_last && filter.substr(f_end + 1) == "#");
    }
    f = f_end + 1;
    t = t_end + 1;
  }
}

bool is_shared_subscription(std::string_view filter) noexcept {
  return filter.starts_with(detail::share_prefix);
}

result<shared_subscription> parse_shared_subscription(std::string_view filter) {
  if (auto e = detail::check_utf8(filter); e != detail::no_error) {
    return e;
  }
  if (auto e = detail::check_shared_subscription_syntax(filter); e != detail::no_error) {
    return e;
  }
  const std::string_view rest = filter.substr(detail::share_prefix.size());
  const std::size_t slash = rest.find('/');
  return shared_subscription{rest.substr(0, slash), rest.substr(slash + 1)};
}

} // namespace aegis::mqtt
