#include "aegis/mqtt/protocol.hpp"

namespace aegis::mqtt {

std::string_view to_string(packet_type type) noexcept {
  switch (type) {
  case packet_type::connect:
    return "CONNECT";
  case packet_type::connack:
    return "CONNACK";
  case packet_type::publish:
    return "PUBLISH";
  case packet_type::puback:
    return "PUBACK";
  case packet_type::pubrec:
    return "PUBREC";
  case packet_type::pubrel:
    return "PUBREL";
  case packet_type::pubcomp:
    return "PUBCOMP";
  case packet_type::subscribe:
    return "SUBSCRIBE";
  case packet_type::suback:
    return "SUBACK";
  case packet_type::unsubscribe:
    return "UNSUBSCRIBE";
  case packet_type::unsuback:
    return "UNSUBACK";
  case packet_type::pingreq:
    return "PINGREQ";
  case packet_type::pingresp:
    return "PINGRESP";
  case packet_type::disconnect:
    return "DISCONNECT";
  case packet_type::auth:
    return "AUTH";
  }
  return "reserved";
}

std::string_view to_string(reason_code code) noexcept {
  switch (code) {
  case reason_code::success:
    return "success";
  case reason_code::granted_qos_1:
    return "granted QoS 1";
  case reason_code::granted_qos_2:
    return "granted QoS 2";
  case reason_code::disconnect_with_will_message:
    return "disconnect with will message";
  case reason_code::no_matching_subscribers:
    return "no matching subscribers";
  case reason_code::no_subscription_existed:
    return "no subscription existed";
  case reason_code::continue_authentication:
    return "continue authentication";
  case reason_code::re_authenticate:
    return "re-authenticate";
  case reason_code::unspecified_error:
    return "unspecified error";
  case reason_code::malformed_packet:
    return "malformed packet";
  case reason_code::protocol_error:
    return "protocol error";
  case reason_code::implementation_specific_error:
    return "implementation specific error";
  case reason_code::unsupported_protocol_version:
    return "unsupported protocol version";
  case reason_code::client_identifier_not_valid:
    return "client identifier not valid";
  case reason_code::bad_user_name_or_password:
    return "bad user name or password";
  case reason_code::not_authorized:
    return "not authorized";
  case reason_code::server_unavailable:
    return "server unavailable";
  case reason_code::server_busy:
    return "server busy";
  case reason_code::banned:
    return "banned";
  case reason_code::server_shutting_down:
    return "server shutting down";
  case reason_code::bad_authentication_method:
    return "bad authentication method";
  case reason_code::keep_alive_timeout:
    return "keep alive timeout";
  case reason_code::session_taken_over:
    return "session taken over";
  case reason_code::topic_filter_invalid:
    return "topic filter invalid";
  case reason_code::topic_name_invalid:
    return "topic name invalid";
  case reason_code::packet_identifier_in_use:
    return "packet identifier in use";
  case reason_code::packet_identifier_not_found:
    return "packet identifier not found";
  case reason_code::receive_maximum_exceeded:
    return "receive maximum exceeded";
  case reason_code::topic_alias_invalid:
    return "topic alias invalid";
  case reason_code::packet_too_large:
    return "packet too large";
  case reason_code::message_rate_too_high:
    return "message rate too high";
  case reason_code::quota_exceeded:
    return "quota exceeded";
  case reason_code::administrative_action:
    return "administrative action";
  case reason_code::payload_format_invalid:
    return "payload format invalid";
  case reason_code::retain_not_supported:
    return "retain not supported";
  case reason_code::qos_not_supported:
    return "QoS not supported";
  case reason_code::use_another_server:
    return "use another server";
  case reason_code::server_moved:
    return "server moved";
  case reason_code::shared_subscriptions_not_supported:
    return "shared subscriptions not supported";
  case reason_code::connection_rate_exceeded:
    return "connection rate exceeded";
  case reason_code::maximum_connect_time:
    return "maximum connect time";
  case reason_code::subscription_identifiers_not_supported:
    return "subscription identifiers not supported";
  case reason_code::wildcard_subscriptions_not_supported:
    return "wildcard subscriptions not supported";
  }
  return "unknown reason code";
}

bool reason_code_allowed(packet_type type, reason_code code) noexcept {
  using rc = reason_code;
  switch (type) {
  case packet_type::connack:
    switch (code) {
    case rc::success:
    case rc::unspecified_error:
    case rc::malformed_packet:
    case rc::protocol_error:
    case rc::implementation_specific_error:
    case rc::unsupported_protocol_version:
    case rc::client_identifier_not_valid:
    case rc::bad_user_name_or_password:
    case rc::not_authorized:
    case rc::server_unavailable:
    case rc::server_busy:
    case rc::banned:
    case rc::bad_authentication_method:
    case rc::topic_name_invalid:
    case rc::packet_too_large:
    case rc::quota_exceeded:
    case rc::payload_format_invalid:
    case rc::retain_not_supported:
    case rc::qos_not_supported:
    case rc::use_another_server:
    case rc::server_moved:
    case rc::connection_rate_exceeded:
      return true;
    default:
      return false;
    }
  case packet_type::puback:
  case packet_type::pubrec:
    switch (code) {
    case rc::success:
    case rc::no_matching_subscribers:
    case rc::unspecified_error:
    case rc::implementation_specific_error:
    case rc::not_authorized:
    case rc::topic_name_invalid:
    case rc::packet_identifier_in_use:
    case rc::quota_exceeded:
    case rc::payload_format_invalid:
      return true;
    default:
      return false;
    }
  case packet_type::pubrel:
  case packet_type::pubcomp:
    return code == rc::success || code == rc::packet_identifier_not_found;
  case packet_type::suback:
    switch (code) {
    case rc::granted_qos_0:
    case rc::granted_qos_1:
    case rc::granted_qos_2:
    case rc::unspecified_error:
    case rc::implementation_specific_error:
    case rc::not_authorized:
    case rc::topic_filter_invalid:
    case rc::packet_identifier_in_use:
    case rc::quota_exceeded:
    case rc::shared_subscriptions_not_supported:
    case rc::subscription_identifiers_not_supported:
    case rc::wildcard_subscriptions_not_supported:
      return true;
    default:
      return false;
    }
  case packet_type::unsuback:
    switch (code) {
    case rc::success:
    case rc::no_subscription_existed:
    case rc::unspecified_error:
    case rc::implementation_specific_error:
    case rc::not_authorized:
    case rc::topic_filter_invalid:
    case rc::packet_identifier_in_use:
      return true;
    default:
      return false;
    }
  case packet_type::disconnect:
    switch (code) {
    case rc::normal_disconnection:
    case rc::disconnect_with_will_message:
    case rc::unspecified_error:
    case rc::malformed_packet:
    case rc::protocol_error:
    case rc::implementation_specific_error:
    case rc::not_authorized:
    case rc::server_busy:
    case rc::server_shutting_down:
    case rc::bad_authentication_method:
    case rc::keep_alive_timeout:
    case rc::session_taken_over:
    case rc::topic_filter_invalid:
    case rc::topic_name_invalid:
    case rc::receive_maximum_exceeded:
    case rc::topic_alias_invalid:
    case rc::packet_too_large:
    case rc::message_rate_too_high:
    case rc::quota_exceeded:
    case rc::administrative_action:
    case rc::payload_format_invalid:
    case rc::retain_not_supported:
    case rc::qos_not_supported:
    case rc::use_another_server:
    case rc::server_moved:
    case rc::shared_subscriptions_not_supported:
    case rc::connection_rate_exceeded:
    case rc::maximum_connect_time:
    case rc::subscription_identifiers_not_supported:
    case rc::wildcard_subscriptions_not_supported:
      return true;
    default:
      return false;
    }
  case packet_type::auth:
    return code == rc::success || code == rc::continue_authentication ||
           code == rc::re_authenticate;
  default:
    return false;
  }
}

connect_return_code to_connect_return_code(reason_code code) noexcept {
  switch (code) {
  case reason_code::success:
    return connect_return_code::accepted;
  case reason_code::unsupported_protocol_version:
    return connect_return_code::unacceptable_protocol_version;
  case reason_code::client_identifier_not_valid:
    return connect_return_code::identifier_rejected;
  case reason_code::bad_user_name_or_password:
  case reason_code::bad_authentication_method:
    return connect_return_code::bad_user_name_or_password;
  case reason_code::not_authorized:
  case reason_code::banned:
    return connect_return_code::not_authorized;
  default:
    return connect_return_code::server_unavailable;
  }
}

std::optional<reason_code> from_connect_return_code(std::uint8_t code) noexcept {
  switch (code) {
  case 0x00:
    return reason_code::success;
  case 0x01:
    return reason_code::unsupported_protocol_version;
  case 0x02:
    return reason_code::client_identifier_not_valid;
  case 0x03:
    return reason_code::server_unavailable;
  case 0x04:
    return reason_code::bad_user_name_or_password;
  case 0x05:
    return reason_code::not_authorized;
  default:
    return std::nullopt;
  }
}

} // namespace aegis::mqtt
