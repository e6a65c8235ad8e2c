#pragma once

// Broker-level refusals (STYLE.md habit 4): each knows the v5 reason code the client is told.

#include "aegis/base/error.hpp"
#include "aegis/mqtt/protocol.hpp"

#include <string_view>

namespace aegis::broker {

enum class broker_errc {
  retained_quota_exceeded = 1, // 0x97 the retained store is at its count or byte quota
  retained_too_large,          // 0x97 one message over the store's whole byte quota
  // Device profile (mqtt_server::send_command and friends). The first two are IoT Core's
  // FAILED_PRECONDITION for sendCommandToDevice: nothing was queued.
  device_not_connected,  // no live MQTT session of the device (nor a gateway attached for it)
  device_not_subscribed, // connected, but no subscription matches the commands topic
  payload_too_large,     // 0x97 over max_event/state/config_payload
  server_busy,           // 0x89 the storage executor is full
  devices_not_supported, // device_profile_options::registry is null
};
std::string_view describe(broker_errc e) noexcept;
mqtt::reason_code to_reason_code(broker_errc e) noexcept;

} // namespace aegis::broker

AEGIS_ERROR_ENUM(aegis::broker, broker_errc, "aegis.broker", describe)
