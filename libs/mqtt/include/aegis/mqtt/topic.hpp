#pragma once

// Topic names, topic filters and their matching (MQTT 3.1.1 §4.7, 5.0 §4.7), and shared
// subscription filters (5.0 §4.8.2). Pure functions over views; nothing allocates.

#include "aegis/base/error.hpp"
#include "aegis/mqtt/errors.hpp"

#include <string_view>

namespace aegis::mqtt {

// A Topic Name as PUBLISH and Will Topic carry it: well-formed MQTT UTF-8, at least one
// character [MQTT-4.7.3-1], no '+' or '#' [MQTT-4.7.0-1].
// Errors: invalid_utf8, utf8_surrogate, utf8_null_character, topic_name_invalid.
result<void> validate_topic_name(std::string_view topic);

// A Topic Filter: well-formed MQTT UTF-8, at least one character, '#' only as the whole last
// level [MQTT-4.7.1-1], '+' only as a whole level [MQTT-4.7.1-2]. "$share/..." is checked as an
// ordinary filter here; see parse_shared_subscription.
// Errors: as validate_topic_name, and topic_filter_invalid.
result<void> validate_topic_filter(std::string_view filter);

// Whether `filter` matches `topic`; both must be valid. A filter whose first character is a
// wildcard does not match a topic starting with '$' [MQTT-4.7.2-1].
bool topic_matches(std::string_view filter, std::string_view topic) noexcept;

// True when `filter` starts with "$share/" (5.0 §4.8.2).
bool is_shared_subscription(std::string_view filter) noexcept;

struct shared_subscription {
  std::string_view share_name; // non-empty, no '/', '+' or '#'
  std::string_view filter;     // a valid Topic Filter
};

// Splits "$share/{ShareName}/{filter}" [MQTT-4.8.2-1/2]. The views point into `filter`.
// Errors: shared_subscription_invalid (not "$share/", empty or wildcard ShareName, no "/" after
// it), topic_filter_invalid and UTF-8 errors for the filter part.
result<shared_subscription> parse_shared_subscription(std::string_view filter);

} // namespace aegis::mqtt
