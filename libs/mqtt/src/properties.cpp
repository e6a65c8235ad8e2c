#include "aegis/mqtt/properties.hpp"

#include "property_codec.hpp"

namespace aegis::mqtt {

std::string_view to_string(property_id id) noexcept {
  switch (id) {
  case property_id::payload_format_indicator:
    return "Payload Format Indicator";
  case property_id::message_expiry_interval:
    return "Message Expiry Interval";
  case property_id::content_type:
    return "Content Type";
  case property_id::response_topic:
    return "Response Topic";
  case property_id::correlation_data:
    return "Correlation Data";
  case property_id::subscription_identifier:
    return "Subscription Identifier";
  case property_id::session_expiry_interval:
    return "Session Expiry Interval";
  case property_id::assigned_client_identifier:
    return "Assigned Client Identifier";
  case property_id::server_keep_alive:
    return "Server Keep Alive";
  case property_id::authentication_method:
    return "Authentication Method";
  case property_id::authentication_data:
    return "Authentication Data";
  case property_id::request_problem_information:
    return "Request Problem Information";
  case property_id::will_delay_interval:
    return "Will Delay Interval";
  case property_id::request_response_information:
    return "Request Response Information";
  case property_id::response_information:
    return "Response Information";
  case property_id::server_reference:
    return "Server Reference";
  case property_id::reason_string:
    return "Reason String";
  case property_id::receive_maximum:
    return "Receive Maximum";
  case property_id::topic_alias_maximum:
    return "Topic Alias Maximum";
  case property_id::topic_alias:
    return "Topic Alias";
  case property_id::maximum_qos:
    return "Maximum QoS";
  case property_id::retain_available:
    return "Retain Available";
  case property_id::user_property:
    return "User Property";
  case property_id::maximum_packet_size:
    return "Maximum Packet Size";
  case property_id::wildcard_subscription_available:
    return "Wildcard Subscription Available";
  case property_id::subscription_identifier_available:
    return "Subscription Identifier Available";
  case property_id::shared_subscription_available:
    return "Shared Subscription Available";
  }
  return "unknown property";
}

bool is_known_property(std::uint32_t id) noexcept {
  switch (id) {
  case 0x01:
  case 0x02:
  case 0x03:
  case 0x08:
  case 0x09:
  case 0x0B:
  case 0x11:
  case 0x12:
  case 0x13:
  case 0x15:
  case 0x16:
  case 0x17:
  case 0x18:
  case 0x19:
  case 0x1A:
  case 0x1C:
  case 0x1F:
  case 0x21:
  case 0x22:
  case 0x23:
  case 0x24:
  case 0x25:
  case 0x26:
  case 0x27:
  case 0x28:
  case 0x29:
  case 0x2A:
    return true;
  default:
    return false;
  }
}

// Transcribed from the MQTT 5.0 §2.2.2.2 table, independently of the property structs.
bool property_allowed(property_id id, packet_type type, bool will) noexcept {
  using pt = packet_type;
  if (will) {
    if (type != pt::connect) {
      return false;
    }
    switch (id) {
    case property_id::payload_format_indicator:
    case property_id::message_expiry_interval:
    case property_id::content_type:
    case property_id::response_topic:
    case property_id::correlation_data:
    case property_id::will_delay_interval:
    case property_id::user_property:
      return true;
    default:
      return false;
    }
  }
  switch (id) {
  case property_id::payload_format_indicator:
  case property_id::message_expiry_interval:
  case property_id::content_type:
  case property_id::response_topic:
  case property_id::correlation_data:
  case property_id::topic_alias:
    return type == pt::publish;
  case property_id::subscription_identifier:
    return type == pt::publish || type == pt::subscribe;
  case property_id::session_expiry_interval:
    return type == pt::connect || type == pt::connack || type == pt::disconnect;
  case property_id::assigned_client_identifier:
  case property_id::server_keep_alive:
  case property_id::response_information:
  case property_id::maximum_qos:
  case property_id::retain_available:
  case property_id::wildcard_subscription_available:
  case property_id::subscription_identifier_available:
  case property_id::shared_subscription_available:
    return type == pt::connack;
  case property_id::authentication_method:
  case property_id::authentication_data:
    return type == pt::connect || type == pt::connack || type == pt::auth;
  case property_id::request_problem_information:
  case property_id::request_response_information:
    return type == pt::connect;
  case property_id::will_delay_interval:
    return false; // Will Properties only
  case property_id::server_reference:
    return type == pt::connack || type == pt::disconnect;
  case property_id::reason_string:
    return type == pt::connack || type == pt::puback || type == pt::pubrec || type == pt::pubrel ||
           type == pt::pubcomp || type == pt::suback || type == pt::unsuback ||
           type == pt::disconnect || type == pt::auth;
  case property_id::receive_maximum:
  case property_id::topic_alias_maximum:
  case property_id::maximum_packet_size:
    return type == pt::connect || type == pt::connack;
  case property_id::user_property:
    return type != pt::pingreq && type != pt::pingresp;
  }
  return false;
}

namespace detail {

wire_type wire_type_of(property_id id) noexcept {
  switch (id) {
  case property_id::payload_format_indicator:
  case property_id::request_problem_information:
  case property_id::request_response_information:
  case property_id::maximum_qos:
  case property_id::retain_available:
  case property_id::wildcard_subscription_available:
  case property_id::subscription_identifier_available:
  case property_id::shared_subscription_available:
    return wire_type::byte;
  case property_id::server_keep_alive:
  case property_id::receive_maximum:
  case property_id::topic_alias_maximum:
  case property_id::topic_alias:
    return wire_type::two_byte;
  case property_id::message_expiry_interval:
  case property_id::session_expiry_interval:
  case property_id::will_delay_interval:
  case property_id::maximum_packet_size:
    return wire_type::four_byte;
  case property_id::subscription_identifier:
    return wire_type::varint;
  case property_id::content_type:
  case property_id::response_topic:
  case property_id::assigned_client_identifier:
  case property_id::authentication_method:
  case property_id::response_information:
  case property_id::server_reference:
  case property_id::reason_string:
    return wire_type::utf8;
  case property_id::correlation_data:
  case property_id::authentication_data:
    return wire_type::binary;
  case property_id::user_property:
    return wire_type::utf8_pair;
  }
  return wire_type::byte;
}

namespace {

// The 0/1 byte properties: any other value is a Protocol Error (§3.1.2.11.6, §3.2.2.3.4, ...).
mqtt_errc read_flag_byte(reader& r, std::uint8_t& v) noexcept {
  if (auto e = r.u8(v); e != no_error) {
    return e;
  }
  return v <= 1 ? no_error : mqtt_errc::invalid_property_value;
}

} // namespace

mqtt_errc read_value(reader& r, property_id id, std::optional<std::uint32_t>& out) noexcept {
  if (out) {
    return mqtt_errc::duplicate_property;
  }
  std::uint32_t v = 0;
  if (auto e = wire_type_of(id) == wire_type::varint ? r.varint(v) : r.u32(v); e != no_error) {
    return e;
  }
  // Maximum Packet Size 0 (§3.1.2.11.4) and Subscription Identifier 0 (§3.8.2.1.2) are
  // Protocol Errors.
  if (v == 0 &&
      (id == property_id::maximum_packet_size || id == property_id::subscription_identifier)) {
    return mqtt_errc::invalid_property_value;
  }
  out = v;
  return no_error;
}

mqtt_errc read_value(reader& r, property_id id, std::optional<std::uint16_t>& out) noexcept {
  if (out) {
    return mqtt_errc::duplicate_property;
  }
  std::uint16_t v = 0;
  if (auto e = r.u16(v); e != no_error) {
    return e;
  }
  if (v == 0) {
    if (id == property_id::topic_alias) {
      return mqtt_errc::topic_alias_invalid; // [MQTT-3.3.2-8]
    }
    if (id == property_id::receive_maximum) {
      return mqtt_errc::invalid_property_value; // §3.1.2.11.3, §3.2.2.3.3
    }
  }
  out = v;
  return no_error;
}

mqtt_errc read_value(reader& r, property_id, std::optional<bool>& out) noexcept {
  if (out) {
    return mqtt_errc::duplicate_property;
  }
  std::uint8_t v = 0;
  if (auto e = read_flag_byte(r, v); e != no_error) {
    return e;
  }
  out = v == 1;
  return no_error;
}

mqtt_errc read_value(reader& r, property_id, std::optional<payload_format>& out) noexcept {
  if (out) {
    return mqtt_errc::duplicate_property;
  }
  std::uint8_t v = 0;
  if (auto e = read_flag_byte(r, v); e != no_error) {
    return e;
  }
  out = static_cast<payload_format>(v);
  return no_error;
}

mqtt_errc read_value(reader& r, property_id, std::optional<qos>& out) noexcept {
  if (out) {
    return mqtt_errc::duplicate_property;
  }
  std::uint8_t v = 0;
  // Maximum QoS is 0 or 1 (§3.2.2.3.4); a server supporting QoS 2 omits it.
  if (auto e = read_flag_byte(r, v); e != no_error) {
    return e;
  }
  out = static_cast<qos>(v);
  return no_error;
}

mqtt_errc read_value(reader& r, property_id id, std::optional<std::string>& out) {
  if (out) {
    return mqtt_errc::duplicate_property;
  }
  std::string_view v;
  if (auto e = r.utf8(v); e != no_error) {
    return e;
  }
  // [MQTT-3.3.2-14]: a Response Topic is a Topic Name.
  if (id == property_id::response_topic && check_topic_name_syntax(v) != no_error) {
    return mqtt_errc::invalid_property_value;
  }
  out.emplace(v);
  return no_error;
}

mqtt_errc read_value(reader& r, property_id, std::optional<bytes>& out) {
  if (out) {
    return mqtt_errc::duplicate_property;
  }
  bytes_view v;
  if (auto e = r.binary(v); e != no_error) {
    return e;
  }
  out.emplace(v.begin(), v.end());
  return no_error;
}

mqtt_errc read_value(reader& r, property_id, user_property_list& out) {
  std::string_view name;
  std::string_view value;
  if (auto e = r.utf8(name); e != no_error) {
    return e;
  }
  if (auto e = r.utf8(value); e != no_error) {
    return e;
  }
  out.push_back({std::string(name), std::string(value)});
  return no_error;
}

mqtt_errc read_value(reader& r, property_id, std::vector<std::uint32_t>& out) {
  std::uint32_t v = 0;
  if (auto e = r.varint(v); e != no_error) {
    return e;
  }
  if (v == 0) {
    return mqtt_errc::invalid_property_value;
  }
  out.push_back(v);
  return no_error;
}

} // namespace detail
} // namespace aegis::mqtt
