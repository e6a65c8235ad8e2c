#pragma once

// Reading and writing MQTT 5.0 property blocks (§2.2.2) for each per-packet property struct.
// `for_each_field` lists the fields of a struct with their identifiers; reading looks the
// identifier up there (absent: property_not_allowed), writing walks it. Value rules live in
// read_value, one overload per field type.

#include "aegis/mqtt/properties.hpp"
#include "checks.hpp"
#include "wire.hpp"

#include <concepts>
#include <type_traits>

namespace aegis::mqtt::detail {

enum class wire_type : std::uint8_t { byte, two_byte, four_byte, varint, utf8, binary, utf8_pair };
wire_type wire_type_of(property_id id) noexcept;

template <class P, class T>
concept properties_of = std::same_as<std::remove_const_t<P>, T>;

template <properties_of<connect_properties> P, class F>
void for_each_field(P& p, F&& f) {
  f(property_id::session_expiry_interval, p.session_expiry_interval);
  f(property_id::receive_maximum, p.receive_maximum);
  f(property_id::maximum_packet_size, p.maximum_packet_size);
  f(property_id::topic_alias_maximum, p.topic_alias_maximum);
  f(property_id::request_response_information, p.request_response_information);
  f(property_id::request_problem_information, p.request_problem_information);
  f(property_id::user_property, p.user_properties);
  f(property_id::authentication_method, p.authentication_method);
  f(property_id::authentication_data, p.authentication_data);
}

template <properties_of<will_properties> P, class F>
void for_each_field(P& p, F&& f) {
  f(property_id::will_delay_interval, p.will_delay_interval);
  f(property_id::payload_format_indicator, p.payload_format_indicator);
  f(property_id::message_expiry_interval, p.message_expiry_interval);
  f(property_id::content_type, p.content_type);
  f(property_id::response_topic, p.response_topic);
  f(property_id::correlation_data, p.correlation_data);
  f(property_id::user_property, p.user_properties);
}

template <properties_of<connack_properties> P, class F>
void for_each_field(P& p, F&& f) {
  f(property_id::session_expiry_interval, p.session_expiry_interval);
  f(property_id::receive_maximum, p.receive_maximum);
  f(property_id::maximum_qos, p.maximum_qos);
  f(property_id::retain_available, p.retain_available);
  f(property_id::maximum_packet_size, p.maximum_packet_size);
  f(property_id::assigned_client_identifier, p.assigned_client_identifier);
  f(property_id::topic_alias_maximum, p.topic_alias_maximum);
  f(property_id::reason_string, p.reason_string);
  f(property_id::user_property, p.user_properties);
  f(property_id::wildcard_subscription_available, p.wildcard_subscription_available);
  f(property_id::subscription_identifier_available, p.subscription_identifiers_available);
  f(property_id::shared_subscription_available, p.shared_subscription_available);
  f(property_id::server_keep_alive, p.server_keep_alive);
  f(property_id::response_information, p.response_information);
  f(property_id::server_reference, p.server_reference);
  f(property_id::authentication_method, p.authentication_method);
  f(property_id::authentication_data, p.authentication_data);
}

template <properties_of<publish_properties> P, class F>
void for_each_field(P& p, F&& f) {
  f(property_id::payload_format_indicator, p.payload_format_indicator);
  f(property_id::message_expiry_interval, p.message_expiry_interval);
  f(property_id::topic_alias, p.topic_alias);
  f(property_id::response_topic, p.response_topic);
  f(property_id::correlation_data, p.correlation_data);
  f(property_id::user_property, p.user_properties);
  f(property_id::subscription_identifier, p.subscription_identifiers);
  f(property_id::content_type, p.content_type);
}

template <properties_of<ack_properties> P, class F>
void for_each_field(P& p, F&& f) {
  f(property_id::reason_string, p.reason_string);
  f(property_id::user_property, p.user_properties);
}

template <properties_of<subscribe_properties> P, class F>
void for_each_field(P& p, F&& f) {
  f(property_id::subscription_identifier, p.subscription_identifier);
  f(property_id::user_property, p.user_properties);
}

template <properties_of<unsubscribe_properties> P, class F>
void for_each_field(P& p, F&& f) {
  f(property_id::user_property, p.user_properties);
}

template <properties_of<disconnect_properties> P, class F>
void for_each_field(P& p, F&& f) {
  f(property_id::session_expiry_interval, p.session_expiry_interval);
  f(property_id::reason_string, p.reason_string);
  f(property_id::user_property, p.user_properties);
  f(property_id::server_reference, p.server_reference);
}

template <properties_of<auth_properties> P, class F>
void for_each_field(P& p, F&& f) {
  f(property_id::authentication_method, p.authentication_method);
  f(property_id::authentication_data, p.authentication_data);
  f(property_id::reason_string, p.reason_string);
  f(property_id::user_property, p.user_properties);
}

// --- reading ---------------------------------------------------------------------------------

mqtt_errc read_value(reader& r, property_id id, std::optional<std::uint32_t>& out) noexcept;
mqtt_errc read_value(reader& r, property_id id, std::optional<std::uint16_t>& out) noexcept;
mqtt_errc read_value(reader& r, property_id id, std::optional<bool>& out) noexcept;
mqtt_errc read_value(reader& r, property_id id, std::optional<payload_format>& out) noexcept;
mqtt_errc read_value(reader& r, property_id id, std::optional<qos>& out) noexcept;
mqtt_errc read_value(reader& r, property_id id, std::optional<std::string>& out);
mqtt_errc read_value(reader& r, property_id id, std::optional<bytes>& out);
mqtt_errc read_value(reader& r, property_id id, user_property_list& out);
mqtt_errc read_value(reader& r, property_id id, std::vector<std::uint32_t>& out);

// Reads Property Length and the properties into `out`, which must be default (empty).
template <class P>
mqtt_errc read_properties(reader& r, P& out) {
  std::uint32_t length = 0;
  if (auto e = r.varint(length); e != no_error) {
    return e;
  }
  bytes_view block;
  if (auto e = r.take(length, block); e != no_error) {
    return e;
  }
  reader pr(block);
  while (!pr.at_end()) {
    std::uint32_t id = 0;
    if (auto e = pr.varint(id); e != no_error) {
      return e;
    }
    if (!is_known_property(id)) {
      return mqtt_errc::unknown_property;
    }
    const auto pid = static_cast<property_id>(id);
    mqtt_errc result = mqtt_errc::property_not_allowed;
    for_each_field(out, [&](property_id field, auto& member) {
      if (field == pid) {
        result = read_value(pr, pid, member);
      }
    });
    if (result != no_error) {
      return result;
    }
  }
  return no_error;
}

// --- writing ---------------------------------------------------------------------------------

template <class W>
void write_value(W& w, property_id id, const std::optional<std::uint32_t>& v) {
  if (!v) {
    return;
  }
  w.u8(static_cast<std::uint8_t>(id));
  if (wire_type_of(id) == wire_type::varint) {
    if (*v == 0 || *v > max_variable_byte_integer) {
      w.fail(mqtt_errc::invalid_property_value);
    }
    w.varint(*v);
  } else {
    w.u32(*v);
  }
}
template <class W>
void write_value(W& w, property_id id, const std::optional<std::uint16_t>& v) {
  if (v) {
    w.u8(static_cast<std::uint8_t>(id));
    w.u16(*v);
  }
}
template <class W>
void write_value(W& w, property_id id, const std::optional<bool>& v) {
  if (v) {
    w.u8(static_cast<std::uint8_t>(id));
    w.u8(*v ? 1 : 0);
  }
}
template <class W>
void write_value(W& w, property_id id, const std::optional<payload_format>& v) {
  if (v) {
    w.u8(static_cast<std::uint8_t>(id));
    w.u8(static_cast<std::uint8_t>(*v));
  }
}
template <class W>
void write_value(W& w, property_id id, const std::optional<qos>& v) {
  if (v) {
    w.u8(static_cast<std::uint8_t>(id));
    w.u8(static_cast<std::uint8_t>(*v));
  }
}
template <class W>
void write_value(W& w, property_id id, const std::optional<std::string>& v) {
  if (v) {
    w.u8(static_cast<std::uint8_t>(id));
    w.string(*v);
  }
}
template <class W>
void write_value(W& w, property_id id, const std::optional<bytes>& v) {
  if (v) {
    w.u8(static_cast<std::uint8_t>(id));
    w.binary(*v);
  }
}
template <class W>
void write_value(W& w, property_id id, const user_property_list& v) {
  for (const auto& p : v) {
    w.u8(static_cast<std::uint8_t>(id));
    w.string(p.name);
    w.string(p.value);
  }
}
template <class W>
void write_value(W& w, property_id id, const std::vector<std::uint32_t>& v) {
  for (const auto n : v) {
    write_value(w, id, std::optional<std::uint32_t>{n});
  }
}

// Property Length followed by the properties.
template <class W, class P>
void write_properties(W& w, const P& p) {
  size_counter counter;
  for_each_field(p, [&](property_id id, const auto& member) { write_value(counter, id, member); });
  w.fail(counter.error());
  if (counter.size() > max_variable_byte_integer) {
    w.fail(mqtt_errc::packet_too_large);
    return;
  }
  w.varint(static_cast<std::uint32_t>(counter.size()));
  for_each_field(p, [&](property_id id, const auto& member) { write_value(w, id, member); });
}

template <class T>
bool present(const std::optional<T>& v) noexcept {
  return v.has_value();
}
template <class T>
bool present(const std::vector<T>& v) noexcept {
  return !v.empty();
}

template <class P>
bool has_properties(const P& p) noexcept {
  bool any = false;
  for_each_field(p, [&](property_id, const auto& member) { any = any || present(member); });
  return any;
}

} // namespace aegis::mqtt::detail
