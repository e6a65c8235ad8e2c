#pragma once

// Every way MQTT bytes can be refused (STYLE.md habits 4 and 5). Each value is one rule, so tests
// and logs say exactly which check failed; each maps to the v5 reason code the peer is told, and
// `response_to` turns it into the one thing the session does next: CONNACK, DISCONNECT or close.

#include "aegis/base/error.hpp"
#include "aegis/mqtt/protocol.hpp"

#include <optional>
#include <string_view>

namespace aegis::mqtt {

// Comments give the v5 reason code and the normative statement (v5 unless marked 3.1.1).
enum class mqtt_errc {
  // Fixed header.
  reserved_packet_type = 1,          // 0x81 type 0, or 15 (AUTH) in 3.1.1
  invalid_flags,                     // 0x81 reserved flag bits [MQTT-2.1.3-1]
  invalid_qos,                       // 0x81 QoS 3 in PUBLISH or Will QoS [MQTT-3.3.1-4]
  dup_with_qos0,                     // 0x81 DUP set on QoS 0 [MQTT-3.3.1-2]
  variable_byte_integer_too_long,    // 0x81 more than four bytes [§1.5.5]
  variable_byte_integer_not_minimal, // 0x81 [MQTT-1.5.5-1]
  packet_too_large,                  // 0x95 over the configured maximum packet size
  // Structure.
  truncated,      // 0x81 a field runs past the end of the packet
  trailing_bytes, // 0x81 bytes left after the last field
  // UTF-8 Encoded Strings [§1.5.4].
  invalid_utf8,        // 0x81 [MQTT-1.5.4-1]
  utf8_surrogate,      // 0x81 U+D800..U+DFFF [MQTT-1.5.4-1]
  utf8_null_character, // 0x81 U+0000 [MQTT-1.5.4-2]
  // Properties [§2.2.2].
  unknown_property,         // 0x81 identifier not defined by MQTT 5.0
  property_not_allowed,     // 0x81 defined, but not for this packet [§2.2.2.2]
  duplicate_property,       // 0x82 only User Property and (PUBLISH) Subscription Identifier repeat
  invalid_property_value,   // 0x82 e.g. Receive Maximum 0, a boolean byte not 0 or 1
  property_wrong_direction, // 0x82 [MQTT-3.3.4-6], [MQTT-3.14.2-2]
  // Packet identifiers.
  packet_identifier_zero, // 0x82 [MQTT-2.2.1-3]
  // CONNECT.
  invalid_protocol_name,         // close: not "MQTT" [MQTT-3.1.2-1]
  unsupported_protocol_version,  // 0x84, 3.1.1 CONNACK 0x01 [MQTT-3.1.2-2]
  connect_reserved_flag,         // 0x81 [MQTT-3.1.2-3]
  will_flags_without_will,       // 0x81 Will QoS/Retain set, Will Flag clear [MQTT-3.1.2-11/13]
  password_without_username,     // close: 3.1.1 [MQTT-3.1.2-22]
  client_id_invalid,             // 0x85, 3.1.1 CONNACK 0x02 [MQTT-3.1.3-8]
  missing_authentication_method, // 0x82 Authentication Data or AUTH without a method
  // CONNACK.
  connack_reserved_flags,     // 0x81 acknowledge flags bits 7-1 [MQTT-3.2.2-1]
  session_present_on_refusal, // 0x82 [MQTT-3.2.2-6]
  // Topics [§4.7].
  topic_name_invalid,              // 0x90 empty, or wildcards in a Topic Name [MQTT-3.3.2-2]
  topic_name_missing,              // 0x82 v5 zero-length Topic Name without a Topic Alias
  topic_alias_invalid,             // 0x94 Topic Alias 0 [MQTT-3.3.2-8]
  topic_filter_invalid,            // 0x8F wildcard misuse or empty filter [MQTT-4.7.1-1/2]
  shared_subscription_invalid,     // 0x8F bad $share/{ShareName}/{filter} [MQTT-4.8.2-1/2]
  no_local_on_shared_subscription, // 0x82 [MQTT-3.8.3-4]
  // SUBSCRIBE / UNSUBSCRIBE and their acks.
  no_topic_filters,              // 0x82 [MQTT-3.8.3-2], [MQTT-3.10.3-2]
  no_reason_codes,               // 0x82 SUBACK/UNSUBACK without a code per filter
  subscription_options_reserved, // 0x81 [MQTT-3.8.3-5]
  subscription_qos_invalid,      // 0x82 Maximum QoS 3 in subscription options
  retain_handling_invalid,       // 0x82 Retain Handling 3
  invalid_reason_code,           // 0x82 a reason / return code this packet may not carry
  // Payload.
  payload_format_invalid, // 0x99 Payload Format Indicator 1 but not UTF-8 [§3.3.2.3.2]
  // Sequence and direction.
  unexpected_packet, // 0x82 this peer may not send this packet type (in this version)
  expected_connect,  // close: the first packet was not CONNECT [MQTT-3.1.0-1]
  // Encoder only: the packet cannot be put on the wire as given.
  field_too_long,   // a string or binary field over 65,535 bytes
  not_in_version,   // AUTH has no 3.1.1 encoding
  version_mismatch, // connect::version differs from the version asked for
};
std::string_view describe(mqtt_errc e) noexcept;

// The v5 reason code that reports `e` to the peer.
reason_code to_reason_code(mqtt_errc e) noexcept;

// The 3.1.1 CONNACK return code to send before closing, where 3.1.1 defines one
// (0x01 unacceptable protocol version, 0x02 identifier rejected); nullopt means just close.
std::optional<connect_return_code> v3_connack_code(mqtt_errc e) noexcept;

enum class error_action : std::uint8_t { close, send_connack, send_disconnect };

// What to do about a refused packet. For send_connack / send_disconnect, `version` is the format
// to encode in and `reason` the code to put in it (a 3.1.1 CONNACK maps it through
// to_connect_return_code); the connection is closed afterwards in every case.
struct error_response {
  error_action action = error_action::close;
  protocol_version version = protocol_version::v5;
  reason_code reason = reason_code::unspecified_error;
  friend bool operator==(const error_response&, const error_response&) = default;
};

// MQTT 5.0 §4.13 and 3.1.1 §4.8: a server answers errors in CONNECT with CONNACK (3.1.1 only for
// the two codes it has), later errors with DISCONNECT (v5) or a plain close (3.1.1). A client
// (from == sender::server) sends DISCONNECT in v5 and closes in 3.1.1. `during` is the packet
// being decoded, nullopt if its type was not read; `version` the protocol in force, nullopt
// before CONNECT told it.
error_response response_to(mqtt_errc e, std::optional<packet_type> during,
                           std::optional<protocol_version> version, sender from) noexcept;

} // namespace aegis::mqtt

AEGIS_ERROR_ENUM(aegis::mqtt, mqtt_errc, "aegis.mqtt", describe)
