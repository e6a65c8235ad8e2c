#pragma once

// Allocation-free checks shared by the codec and the public validators. They return
// mqtt_errc{} (no_error) on success so the hot decode path builds no error_code.

#include "aegis/mqtt/errors.hpp"

#include <string_view>

namespace aegis::mqtt::detail {

inline constexpr mqtt_errc no_error{};

// MQTT string rules; `allow_null` gives plain well-formed UTF-8 (RFC 3629), as payloads with
// Payload Format Indicator 1 need (§3.3.2.3.2).
mqtt_errc check_utf8(std::string_view text, bool allow_null = false) noexcept;
// The UTF-8 rules are assumed already checked by the caller.
mqtt_errc check_topic_name_syntax(std::string_view topic) noexcept;
mqtt_errc check_topic_filter_syntax(std::string_view filter) noexcept;
// For filters starting with "$share/": share name and inner filter.
mqtt_errc check_shared_subscription_syntax(std::string_view filter) noexcept;

} // namespace aegis::mqtt::detail
