#pragma once

// MQTT 5.0 properties (§2.2.2, §3.x.2.x). Each packet has its own struct holding exactly the
// properties §2.2.2.2 allows in it, so an encoder cannot write a property where it is not allowed;
// the decoder refuses the others with property_not_allowed. `property_allowed` is the spec's
// table itself, kept apart so tests can hold the structs against it.
//
// Absent properties are nullopt / empty. Booleans are the 0/1 bytes; other values are refused on
// decode. 3.1.1 packets have no properties: the encoder ignores them there.

#include "aegis/base/bytes.hpp"
#include "aegis/mqtt/protocol.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aegis::mqtt {

enum class property_id : std::uint8_t {
  payload_format_indicator = 0x01,
  message_expiry_interval = 0x02,
  content_type = 0x03,
  response_topic = 0x08,
  correlation_data = 0x09,
  subscription_identifier = 0x0B,
  session_expiry_interval = 0x11,
  assigned_client_identifier = 0x12,
  server_keep_alive = 0x13,
  authentication_method = 0x15,
  authentication_data = 0x16,
  request_problem_information = 0x17,
  will_delay_interval = 0x18,
  request_response_information = 0x19,
  response_information = 0x1A,
  server_reference = 0x1C,
  reason_string = 0x1F,
  receive_maximum = 0x21,
  topic_alias_maximum = 0x22,
  topic_alias = 0x23,
  maximum_qos = 0x24,
  retain_available = 0x25,
  user_property = 0x26,
  maximum_packet_size = 0x27,
  wildcard_subscription_available = 0x28,
  subscription_identifier_available = 0x29,
  shared_subscription_available = 0x2A,
};
std::string_view to_string(property_id id) noexcept;

// True for the 27 identifiers MQTT 5.0 defines.
bool is_known_property(std::uint32_t id) noexcept;

// MQTT 5.0 §2.2.2.2: may `id` appear in `type`? `will` selects CONNECT's Will Properties.
bool property_allowed(property_id id, packet_type type, bool will = false) noexcept;

enum class payload_format : std::uint8_t { unspecified = 0, utf8 = 1 };

struct user_property {
  std::string name;
  std::string value;
  friend bool operator==(const user_property&, const user_property&) = default;
};
// Order is kept: §3.3.2.3.7 requires it when forwarding.
using user_property_list = std::vector<user_property>;

struct connect_properties {
  std::optional<std::uint32_t> session_expiry_interval;
  std::optional<std::uint16_t> receive_maximum;     // non-zero
  std::optional<std::uint32_t> maximum_packet_size; // non-zero
  std::optional<std::uint16_t> topic_alias_maximum;
  std::optional<bool> request_response_information;
  std::optional<bool> request_problem_information;
  std::optional<std::string> authentication_method;
  std::optional<bytes> authentication_data; // only with authentication_method
  user_property_list user_properties;
  friend bool operator==(const connect_properties&, const connect_properties&) = default;
};

struct will_properties {
  std::optional<std::uint32_t> will_delay_interval;
  std::optional<payload_format> payload_format_indicator;
  std::optional<std::uint32_t> message_expiry_interval;
  std::optional<std::string> content_type;
  std::optional<std::string> response_topic; // a Topic Name: no wildcards
  std::optional<bytes> correlation_data;
  user_property_list user_properties;
  friend bool operator==(const will_properties&, const will_properties&) = default;
};

struct connack_properties {
  std::optional<std::uint32_t> session_expiry_interval;
  std::optional<std::uint16_t> receive_maximum; // non-zero
  std::optional<qos> maximum_qos;               // at_most_once or at_least_once
  std::optional<bool> retain_available;
  std::optional<std::uint32_t> maximum_packet_size; // non-zero
  std::optional<std::string> assigned_client_identifier;
  std::optional<std::uint16_t> topic_alias_maximum;
  std::optional<std::string> reason_string;
  std::optional<bool> wildcard_subscription_available;
  std::optional<bool> subscription_identifiers_available;
  std::optional<bool> shared_subscription_available;
  std::optional<std::uint16_t> server_keep_alive;
  std::optional<std::string> response_information;
  std::optional<std::string> server_reference;
  std::optional<std::string> authentication_method;
  std::optional<bytes> authentication_data;
  user_property_list user_properties;
  friend bool operator==(const connack_properties&, const connack_properties&) = default;
};

struct publish_properties {
  std::optional<payload_format> payload_format_indicator;
  std::optional<std::uint32_t> message_expiry_interval;
  std::optional<std::uint16_t> topic_alias;  // non-zero
  std::optional<std::string> response_topic; // a Topic Name: no wildcards
  std::optional<bytes> correlation_data;
  user_property_list user_properties;
  // Server to client only [MQTT-3.3.4-6]; one per matching subscription, each 1..268,435,455.
  std::vector<std::uint32_t> subscription_identifiers;
  std::optional<std::string> content_type;
  friend bool operator==(const publish_properties&, const publish_properties&) = default;
};

// PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK and UNSUBACK allow the same two.
struct ack_properties {
  std::optional<std::string> reason_string;
  user_property_list user_properties;
  friend bool operator==(const ack_properties&, const ack_properties&) = default;
};

struct subscribe_properties {
  std::optional<std::uint32_t> subscription_identifier; // 1..268,435,455
  user_property_list user_properties;
  friend bool operator==(const subscribe_properties&, const subscribe_properties&) = default;
};

struct unsubscribe_properties {
  user_property_list user_properties;
  friend bool operator==(const unsubscribe_properties&, const unsubscribe_properties&) = default;
};

struct disconnect_properties {
  std::optional<std::uint32_t> session_expiry_interval; // client to server only [MQTT-3.14.2-2]
  std::optional<std::string> reason_string;
  std::optional<std::string> server_reference;
  user_property_list user_properties;
  friend bool operator==(const disconnect_properties&, const disconnect_properties&) = default;
};

struct auth_properties {
  std::optional<std::string> authentication_method; // required whenever a reason code is sent
  std::optional<bytes> authentication_data;
  std::optional<std::string> reason_string;
  user_property_list user_properties;
  friend bool operator==(const auth_properties&, const auth_properties&) = default;
};

} // namespace aegis::mqtt
