#include "aegis/broker/errors.hpp"

namespace aegis::broker {

std::string_view describe(broker_errc e) noexcept {
  switch (e) {
  case broker_errc::retained_quota_exceeded:
    return "retained message store is at its quota";
  case broker_errc::retained_too_large:
    return "retained message larger than the retained store's byte quota";
  }
  return "unknown broker error";
}

mqtt::reason_code to_reason_code(broker_errc e) noexcept {
  switch (e) {
  case broker_errc::retained_quota_exceeded:
  case broker_errc::retained_too_large:
    return mqtt::reason_code::quota_exceeded;
  }
  return mqtt::reason_code::unspecified_error;
}

} // namespace aegis::broker
