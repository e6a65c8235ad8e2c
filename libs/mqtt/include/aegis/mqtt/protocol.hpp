#pragma once

// Wire-level vocabulary shared by MQTT 3.1.1 (OASIS 2014) and MQTT 5.0 (OASIS 2019): protocol
// levels, packet types, QoS, and the v5 reason codes with the table of which packet may carry
// which.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace aegis::mqtt {

// The CONNECT "Protocol Level" byte.
enum class protocol_version : std::uint8_t { v3_1_1 = 4, v5 = 5 };

// Fixed header bits 7-4. 0 is reserved in both versions; 15 is reserved in 3.1.1.
enum class packet_type : std::uint8_t {
  connect = 1,
  connack = 2,
  publish = 3,
  puback = 4,
  pubrec = 5,
  pubrel = 6,
  pubcomp = 7,
  subscribe = 8,
  suback = 9,
  unsubscribe = 10,
  unsuback = 11,
  pingreq = 12,
  pingresp = 13,
  disconnect = 14,
  auth = 15,
};
std::string_view to_string(packet_type type) noexcept;

enum class qos : std::uint8_t { at_most_once = 0, at_least_once = 1, exactly_once = 2 };

// Who produced the bytes being decoded. A server decodes what clients send, a client what
// servers send; `either` skips the direction rules (tools, tests).
enum class sender : std::uint8_t { client, server, either };

// MQTT 5.0 §2.4. Several codes share a value; the aliases name the packet they belong to.
enum class reason_code : std::uint8_t {
  success = 0x00,
  normal_disconnection = 0x00,
  granted_qos_0 = 0x00,
  granted_qos_1 = 0x01,
  granted_qos_2 = 0x02,
  disconnect_with_will_message = 0x04,
  no_matching_subscribers = 0x10,
  no_subscription_existed = 0x11,
  continue_authentication = 0x18,
  re_authenticate = 0x19,
  unspecified_error = 0x80,
  malformed_packet = 0x81,
  protocol_error = 0x82,
  implementation_specific_error = 0x83,
  unsupported_protocol_version = 0x84,
  client_identifier_not_valid = 0x85,
  bad_user_name_or_password = 0x86,
  not_authorized = 0x87,
  server_unavailable = 0x88,
  server_busy = 0x89,
  banned = 0x8A,
  server_shutting_down = 0x8B,
  bad_authentication_method = 0x8C,
  keep_alive_timeout = 0x8D,
  session_taken_over = 0x8E,
  topic_filter_invalid = 0x8F,
  topic_name_invalid = 0x90,
  packet_identifier_in_use = 0x91,
  packet_identifier_not_found = 0x92,
  receive_maximum_exceeded = 0x93,
  topic_alias_invalid = 0x94,
  packet_too_large = 0x95,
  message_rate_too_high = 0x96,
  quota_exceeded = 0x97,
  administrative_action = 0x98,
  payload_format_invalid = 0x99,
  retain_not_supported = 0x9A,
  qos_not_supported = 0x9B,
  use_another_server = 0x9C,
  server_moved = 0x9D,
  shared_subscriptions_not_supported = 0x9E,
  connection_rate_exceeded = 0x9F,
  maximum_connect_time = 0xA0,
  subscription_identifiers_not_supported = 0xA1,
  wildcard_subscriptions_not_supported = 0xA2,
};
std::string_view to_string(reason_code code) noexcept;

// Whether MQTT 5.0 §2.4 lets `type` carry `code`. Packets without a reason code answer false.
bool reason_code_allowed(packet_type type, reason_code code) noexcept;

// MQTT 3.1.1 §3.2.2.3 CONNACK return codes.
enum class connect_return_code : std::uint8_t {
  accepted = 0x00,
  unacceptable_protocol_version = 0x01,
  identifier_rejected = 0x02,
  server_unavailable = 0x03,
  bad_user_name_or_password = 0x04,
  not_authorized = 0x05,
};

// The 3.1.1 return code that says the same as a v5 CONNACK reason code. Failures without a
// close 3.1.1 equivalent become server_unavailable, the generic refusal.
connect_return_code to_connect_return_code(reason_code code) noexcept;
// Inverse on the six 3.1.1 values; nullopt for bytes 3.1.1 does not define.
std::optional<reason_code> from_connect_return_code(std::uint8_t code) noexcept;

// §1.5.5 / §2.2.3: the largest value four Variable Byte Integer bytes can hold.
inline constexpr std::uint32_t max_variable_byte_integer = 268'435'455;
inline constexpr std::uint32_t max_remaining_length = max_variable_byte_integer;
// Fixed header (1 + 4) plus the largest remaining length.
inline constexpr std::uint32_t max_packet_size = 1 + 4 + max_remaining_length;
// Length prefix of UTF-8 strings and binary data (§1.5.4, §1.5.6).
inline constexpr std::size_t max_string_length = 65'535;

} // namespace aegis::mqtt
