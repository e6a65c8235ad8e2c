#include "aegis/broker/errors.hpp"

#include "aegis/auth/errors.hpp"
#include "aegis/broker/authorizer.hpp"

namespace aegis::broker {

std::string_view describe(broker_errc e) noexcept {
  switch (e) {
  case broker_errc::retained_quota_exceeded:
    return "retained message store is at its quota";
  case broker_errc::retained_too_large:
    return "retained message larger than the retained store's byte quota";
  case broker_errc::device_not_connected:
    return "the device has no live MQTT session";
  case broker_errc::device_not_subscribed:
    return "the device is not subscribed to a matching commands topic";
  case broker_errc::payload_too_large:
    return "payload over the device profile's limit";
  case broker_errc::server_busy:
    return "the storage executor refused the work";
  case broker_errc::devices_not_supported:
    return "no device registry configured";
  }
  return "unknown broker error";
}

mqtt::reason_code to_reason_code(broker_errc e) noexcept {
  switch (e) {
  case broker_errc::retained_quota_exceeded:
  case broker_errc::retained_too_large:
  case broker_errc::payload_too_large:
    return mqtt::reason_code::quota_exceeded;
  case broker_errc::device_not_connected:
  case broker_errc::device_not_subscribed:
  case broker_errc::devices_not_supported:
    return mqtt::reason_code::unspecified_error;
  case broker_errc::server_busy:
    return mqtt::reason_code::server_busy;
  }
  return mqtt::reason_code::unspecified_error;
}

mqtt::reason_code to_reason_code(const authz_decision& d) noexcept {
  if (d.reason.category() == make_error_code(auth::authz_errc::topic_invalid).category()) {
    return static_cast<mqtt::reason_code>(
        auth::reason_code_v5(static_cast<auth::authz_errc>(d.reason.value())));
  }
  return mqtt::reason_code::not_authorized;
}

} // namespace aegis::broker
