#include "aegis/mqtt/errors.hpp"

namespace aegis::mqtt {

std::string_view describe(mqtt_errc e) noexcept {
  switch (e) {
  case mqtt_errc::reserved_packet_type:
    return "reserved packet type";
  case mqtt_errc::invalid_flags:
    return "reserved fixed header flag bits are not as the packet type requires";
  case mqtt_errc::invalid_qos:
    return "QoS 3 is not a QoS";
  case mqtt_errc::dup_with_qos0:
    return "DUP flag set on a QoS 0 PUBLISH";
  case mqtt_errc::variable_byte_integer_too_long:
    return "variable byte integer longer than four bytes";
  case mqtt_errc::variable_byte_integer_not_minimal:
    return "variable byte integer not in its shortest form";
  case mqtt_errc::packet_too_large:
    return "packet larger than the maximum packet size";
  case mqtt_errc::truncated:
    return "field runs past the end of the packet";
  case mqtt_errc::trailing_bytes:
    return "bytes left over after the last field of the packet";
  case mqtt_errc::invalid_utf8:
    return "string is not well-formed UTF-8";
  case mqtt_errc::utf8_surrogate:
    return "string contains a UTF-16 surrogate (U+D800..U+DFFF)";
  case mqtt_errc::utf8_null_character:
    return "string contains U+0000";
  case mqtt_errc::unknown_property:
    return "unknown property identifier";
  case mqtt_errc::property_not_allowed:
    return "property not allowed in this packet";
  case mqtt_errc::duplicate_property:
    return "property included more than once";
  case mqtt_errc::invalid_property_value:
    return "property value out of range";
  case mqtt_errc::property_wrong_direction:
    return "property not allowed in this direction";
  case mqtt_errc::packet_identifier_zero:
    return "packet identifier is zero";
  case mqtt_errc::invalid_protocol_name:
    return "protocol name is not MQTT";
  case mqtt_errc::unsupported_protocol_version:
    return "unsupported protocol version";
  case mqtt_errc::connect_reserved_flag:
    return "CONNECT reserved flag is set";
  case mqtt_errc::will_flags_without_will:
    return "Will QoS or Will Retain set without the Will Flag";
  case mqtt_errc::password_without_username:
    return "password flag set without the user name flag";
  case mqtt_errc::client_id_invalid:
    return "client identifier not valid";
  case mqtt_errc::missing_authentication_method:
    return "authentication method missing";
  case mqtt_errc::connack_reserved_flags:
    return "CONNACK reserved acknowledge flags are set";
  case mqtt_errc::session_present_on_refusal:
    return "CONNACK refuses the connection but says session present";
  case mqtt_errc::topic_name_invalid:
    return "topic name is empty or contains a wildcard";
  case mqtt_errc::topic_name_missing:
    return "empty topic name without a topic alias";
  case mqtt_errc::topic_alias_invalid:
    return "topic alias is zero";
  case mqtt_errc::topic_filter_invalid:
    return "topic filter is empty or misuses a wildcard";
  case mqtt_errc::shared_subscription_invalid:
    return "shared subscription filter is not $share/{ShareName}/{filter}";
  case mqtt_errc::no_local_on_shared_subscription:
    return "No Local set on a shared subscription";
  case mqtt_errc::no_topic_filters:
    return "SUBSCRIBE or UNSUBSCRIBE without a topic filter";
  case mqtt_errc::no_reason_codes:
    return "SUBACK or UNSUBACK without a reason code";
  case mqtt_errc::subscription_options_reserved:
    return "subscription options reserved bits are set";
  case mqtt_errc::subscription_qos_invalid:
    return "subscription maximum QoS is 3";
  case mqtt_errc::retain_handling_invalid:
    return "retain handling is 3";
  case mqtt_errc::invalid_reason_code:
    return "reason code not allowed in this packet";
  case mqtt_errc::payload_format_invalid:
    return "payload is marked UTF-8 but is not";
  case mqtt_errc::unexpected_packet:
    return "packet type not allowed from this peer";
  case mqtt_errc::expected_connect:
    return "first packet is not CONNECT";
  case mqtt_errc::field_too_long:
    return "string or binary field longer than 65535 bytes";
  case mqtt_errc::not_in_version:
    return "packet does not exist in this protocol version";
  case mqtt_errc::version_mismatch:
    return "CONNECT version differs from the encoding version";
  }
  return "unknown MQTT error";
}

reason_code to_reason_code(mqtt_errc e) noexcept {
  switch (e) {
  case mqtt_errc::reserved_packet_type:
  case mqtt_errc::invalid_flags:
  case mqtt_errc::invalid_qos:
  case mqtt_errc::dup_with_qos0:
  case mqtt_errc::variable_byte_integer_too_long:
  case mqtt_errc::variable_byte_integer_not_minimal:
  case mqtt_errc::truncated:
  case mqtt_errc::trailing_bytes:
  case mqtt_errc::invalid_utf8:
  case mqtt_errc::utf8_surrogate:
  case mqtt_errc::utf8_null_character:
  case mqtt_errc::unknown_property:
  case mqtt_errc::property_not_allowed:
  case mqtt_errc::connect_reserved_flag:
  case mqtt_errc::will_flags_without_will:
  case mqtt_errc::connack_reserved_flags:
  case mqtt_errc::subscription_options_reserved:
    return reason_code::malformed_packet;
  case mqtt_errc::duplicate_property:
  case mqtt_errc::invalid_property_value:
  case mqtt_errc::property_wrong_direction:
  case mqtt_errc::packet_identifier_zero:
  case mqtt_errc::invalid_protocol_name:
  case mqtt_errc::password_without_username:
  case mqtt_errc::missing_authentication_method:
  case mqtt_errc::session_present_on_refusal:
  case mqtt_errc::topic_name_missing:
  case mqtt_errc::no_local_on_shared_subscription:
  case mqtt_errc::no_topic_filters:
  case mqtt_errc::no_reason_codes:
  case mqtt_errc::subscription_qos_invalid:
  case mqtt_errc::retain_handling_invalid:
  case mqtt_errc::invalid_reason_code:
  case mqtt_errc::unexpected_packet:
  case mqtt_errc::expected_connect:
    return reason_code::protocol_error;
  case mqtt_errc::packet_too_large:
    return reason_code::packet_too_large;
  case mqtt_errc::unsupported_protocol_version:
    return reason_code::unsupported_protocol_version;
  case mqtt_errc::client_id_invalid:
    return reason_code::client_identifier_not_valid;
  case mqtt_errc::topic_name_invalid:
    return reason_code::topic_name_invalid;
  case mqtt_errc::topic_alias_invalid:
    return reason_code::topic_alias_invalid;
  case mqtt_errc::topic_filter_invalid:
  case mqtt_errc::shared_subscription_invalid:
    return reason_code::topic_filter_invalid;
  case mqtt_errc::payload_format_invalid:
    return reason_code::payload_format_invalid;
  case mqtt_errc::field_too_long:
  case mqtt_errc::not_in_version:
  case mqtt_errc::version_mismatch:
    return reason_code::implementation_specific_error;
  }
  return reason_code::unspecified_error;
}

std::optional<connect_return_code> v3_connack_code(mqtt_errc e) noexcept {
  switch (e) {
  case mqtt_errc::unsupported_protocol_version:
    return connect_return_code::unacceptable_protocol_version;
  case mqtt_errc::client_id_invalid:
    return connect_return_code::identifier_rejected;
  default:
    return std::nullopt;
  }
}

namespace {

// A code the target packet cannot carry is reported as the nearest generic one.
reason_code fit(reason_code code, packet_type carrier) noexcept {
  if (reason_code_allowed(carrier, code)) {
    return code;
  }
  return code == reason_code::malformed_packet ? code : reason_code::protocol_error;
}

} // namespace

error_response response_to(mqtt_errc e, std::optional<packet_type> during,
                           std::optional<protocol_version> version, sender from) noexcept {
  // Without a valid CONNECT there is no MQTT peer to answer [MQTT-3.1.0-1], [MQTT-3.1.2-1].
  if (e == mqtt_errc::expected_connect || e == mqtt_errc::invalid_protocol_name) {
    return {};
  }
  const bool we_are_server = from != sender::server;
  const bool in_connect = during == packet_type::connect || (!during && !version);
  if (we_are_server && in_connect) {
    // An unsupported level is answered in 3.1.1 form, the one every MQTT client reads
    // [MQTT-3.1.2-2]; a v5 client takes 0x01 as refusal too.
    if (e == mqtt_errc::unsupported_protocol_version || version == protocol_version::v3_1_1) {
      if (v3_connack_code(e)) {
        return {error_action::send_connack, protocol_version::v3_1_1, to_reason_code(e)};
      }
      return {};
    }
    if (version == protocol_version::v5) {
      return {error_action::send_connack, protocol_version::v5,
              fit(to_reason_code(e), packet_type::connack)};
    }
    return {};
  }
  if (version == protocol_version::v5) {
    return {error_action::send_disconnect, protocol_version::v5,
            fit(to_reason_code(e), packet_type::disconnect)};
  }
  return {};
}

} // namespace aegis::mqtt
