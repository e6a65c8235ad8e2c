#pragma once

// Broker-level refusals (STYLE.md habit 4): each knows the v5 reason code the client is told.

#include "aegis/base/error.hpp"
#include "aegis/mqtt/protocol.hpp"

#include <string_view>

namespace aegis::broker {

enum class broker_errc {
  retained_quota_exceeded = 1, // 0x97 the retained store is at its count or byte quota
  retained_too_large,          // 0x97 one message over the store's whole byte quota
};
std::string_view describe(broker_errc e) noexcept;
mqtt::reason_code to_reason_code(broker_errc e) noexcept;

} // namespace aegis::broker

AEGIS_ERROR_ENUM(aegis::broker, broker_errc, "aegis.broker", describe)
