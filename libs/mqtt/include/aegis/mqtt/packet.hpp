#pragma once

// The packet model: one plain struct per MQTT control packet, the union of 3.1.1 and 5.0 fields.
// Ownership: a packet owns all its bytes (strings, payloads); nothing points into the buffer it
// was decoded from, so a decoded packet may outlive and cross threads independently of it.
// Fields 3.1.1 lacks (properties, most reason codes) are ignored when encoding 3.1.1 and come
// back as their defaults when decoding it.

#include "aegis/base/bytes.hpp"
#include "aegis/mqtt/properties.hpp"
#include "aegis/mqtt/protocol.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

namespace aegis::mqtt {

struct will_message {
  std::string topic;
  bytes payload;
  mqtt::qos qos = mqtt::qos::at_most_once;
  bool retain = false;
  will_properties properties;
  friend bool operator==(const will_message&, const will_message&) = default;
};

struct connect {
  protocol_version version = protocol_version::v5;
  bool clean_start = true; // "Clean Session" in 3.1.1
  std::uint16_t keep_alive = 0;
  std::string client_id;
  std::optional<will_message> will;
  std::optional<std::string> username;
  std::optional<bytes> password; // 3.1.1 requires a username with it [MQTT-3.1.2-22]
  connect_properties properties;
  friend bool operator==(const connect&, const connect&) = default;
};

struct connack {
  bool session_present = false;
  // Encoded in 3.1.1 through to_connect_return_code, decoded back through
  // from_connect_return_code.
  reason_code reason = reason_code::success;
  connack_properties properties;
  friend bool operator==(const connack&, const connack&) = default;
};

struct publish {
  std::string topic; // empty only with properties.topic_alias (v5)
  bytes payload;
  mqtt::qos qos = mqtt::qos::at_most_once;
  bool retain = false;
  bool dup = false;
  std::uint16_t packet_id = 0; // non-zero exactly when qos > 0
  publish_properties properties;
  friend bool operator==(const publish&, const publish&) = default;
};

// PUBACK, PUBREC, PUBREL and PUBCOMP share one shape; the tag keeps them distinct types.
template <packet_type Type>
struct publish_response {
  std::uint16_t packet_id = 0;
  reason_code reason = reason_code::success; // v5 only
  ack_properties properties;
  friend bool operator==(const publish_response&, const publish_response&) = default;
};
using puback = publish_response<packet_type::puback>;
using pubrec = publish_response<packet_type::pubrec>;
using pubrel = publish_response<packet_type::pubrel>;
using pubcomp = publish_response<packet_type::pubcomp>;

enum class retain_handling : std::uint8_t {
  send_on_subscribe = 0,
  send_if_new_subscription = 1,
  do_not_send = 2,
};

struct subscription_options {
  mqtt::qos max_qos = mqtt::qos::at_most_once;
  bool no_local = false;                                                            // v5 only
  bool retain_as_published = false;                                                 // v5 only
  mqtt::retain_handling retain_handling = mqtt::retain_handling::send_on_subscribe; // v5 only
  friend bool operator==(const subscription_options&, const subscription_options&) = default;
};

struct subscription {
  std::string filter; // may be a v5 shared subscription, $share/{ShareName}/{filter}
  subscription_options options;
  friend bool operator==(const subscription&, const subscription&) = default;
};

struct subscribe {
  std::uint16_t packet_id = 0;
  std::vector<subscription> subscriptions; // at least one
  subscribe_properties properties;
  friend bool operator==(const subscribe&, const subscribe&) = default;
};

struct suback {
  std::uint16_t packet_id = 0;
  // One per subscription. 3.1.1 knows 0x00-0x02 and 0x80; other failures encode as 0x80.
  std::vector<reason_code> reasons;
  ack_properties properties;
  friend bool operator==(const suback&, const suback&) = default;
};

struct unsubscribe {
  std::uint16_t packet_id = 0;
  std::vector<std::string> filters; // at least one
  unsubscribe_properties properties;
  friend bool operator==(const unsubscribe&, const unsubscribe&) = default;
};

struct unsuback {
  std::uint16_t packet_id = 0;
  std::vector<reason_code> reasons; // v5: one per filter; 3.1.1 has none
  ack_properties properties;
  friend bool operator==(const unsuback&, const unsuback&) = default;
};

struct pingreq {
  friend bool operator==(const pingreq&, const pingreq&) = default;
};

struct pingresp {
  friend bool operator==(const pingresp&, const pingresp&) = default;
};

struct disconnect {
  reason_code reason = reason_code::normal_disconnection; // v5 only
  disconnect_properties properties;
  friend bool operator==(const disconnect&, const disconnect&) = default;
};

struct auth { // v5 only
  reason_code reason = reason_code::success;
  auth_properties properties;
  friend bool operator==(const auth&, const auth&) = default;
};

// Alternatives are in packet_type order, so type_of is index + 1.
using packet = std::variant<connect, connack, publish, puback, pubrec, pubrel, pubcomp, subscribe,
                            suback, unsubscribe, unsuback, pingreq, pingresp, disconnect, auth>;

inline packet_type type_of(const packet& p) noexcept {
  return static_cast<packet_type>(p.index() + 1);
}

namespace detail {
template <class P, class Variant>
struct alternative_index;
template <class P, class... Ts>
struct alternative_index<P, std::variant<Ts...>> {
  static constexpr std::size_t count = (std::size_t{std::is_same_v<P, Ts>} + ...);
  static constexpr std::size_t value = [] {
    constexpr bool matches[] = {std::is_same_v<P, Ts>...};
    std::size_t i = 0;
    while (i < sizeof...(Ts) && !matches[i]) {
      ++i;
    }
    return i;
  }();
};
} // namespace detail

// One of the structs `packet` holds.
template <class P>
concept packet_body = detail::alternative_index<P, packet>::count == 1;

template <packet_body P>
inline constexpr packet_type
    packet_type_of = static_cast<packet_type>(detail::alternative_index<P, packet>::value + 1);

} // namespace aegis::mqtt
