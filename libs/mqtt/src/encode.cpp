#include "aegis/mqtt/codec.hpp"

#include "property_codec.hpp"
#include "wire.hpp"

#include <string_view>
#include <type_traits>

namespace aegis::mqtt {
namespace {

using namespace detail;

constexpr std::string_view protocol_name = "MQTT";

bool is_v5(protocol_version v) noexcept {
  return v == protocol_version::v5;
}
bool valid_qos(qos q) noexcept {
  return static_cast<std::uint8_t>(q) <= 2;
}
std::uint8_t byte_of(reason_code code) noexcept {
  return static_cast<std::uint8_t>(code);
}

// --- structural checks -----------------------------------------------------------------------

mqtt_errc check(const connect& p, protocol_version v) noexcept {
  if (p.version != v) {
    return mqtt_errc::version_mismatch;
  }
  if (p.will && !valid_qos(p.will->qos)) {
    return mqtt_errc::invalid_qos;
  }
  if (!is_v5(v) && p.password && !p.username) {
    return mqtt_errc::password_without_username;
  }
  if (is_v5(v) && p.properties.authentication_data && !p.properties.authentication_method) {
    return mqtt_errc::missing_authentication_method;
  }
  return no_error;
}

mqtt_errc check(const connack& p, protocol_version v) noexcept {
  if (is_v5(v) && !reason_code_allowed(packet_type::connack, p.reason)) {
    return mqtt_errc::invalid_reason_code;
  }
  if (p.session_present && p.reason != reason_code::success) {
    return mqtt_errc::session_present_on_refusal;
  }
  return no_error;
}

mqtt_errc check(const publish& p, protocol_version v) noexcept {
  if (!valid_qos(p.qos)) {
    return mqtt_errc::invalid_qos;
  }
  if (p.qos == qos::at_most_once && p.dup) {
    return mqtt_errc::dup_with_qos0;
  }
  if (p.qos != qos::at_most_once && p.packet_id == 0) {
    return mqtt_errc::packet_identifier_zero;
  }
  if (is_v5(v) && p.properties.topic_alias == std::uint16_t{0}) {
    return mqtt_errc::topic_alias_invalid;
  }
  if (p.topic.empty()) {
    if (!is_v5(v)) {
      return mqtt_errc::topic_name_invalid;
    }
    if (!p.properties.topic_alias) {
      return mqtt_errc::topic_name_missing;
    }
  }
  return no_error;
}

template <packet_type Type>
mqtt_errc check(const publish_response<Type>& p, protocol_version v) noexcept {
  if (p.packet_id == 0) {
    return mqtt_errc::packet_identifier_zero;
  }
  if (is_v5(v) && !reason_code_allowed(Type, p.reason)) {
    return mqtt_errc::invalid_reason_code;
  }
  return no_error;
}

mqtt_errc check(const subscribe& p, protocol_version) noexcept {
  if (p.packet_id == 0) {
    return mqtt_errc::packet_identifier_zero;
  }
  if (p.subscriptions.empty()) {
    return mqtt_errc::no_topic_filters;
  }
  for (const auto& s : p.subscriptions) {
    if (!valid_qos(s.options.max_qos)) {
      return mqtt_errc::subscription_qos_invalid;
    }
    if (static_cast<std::uint8_t>(s.options.retain_handling) > 2) {
      return mqtt_errc::retain_handling_invalid;
    }
  }
  return no_error;
}

mqtt_errc check(const suback& p, protocol_version) noexcept {
  if (p.packet_id == 0) {
    return mqtt_errc::packet_identifier_zero;
  }
  if (p.reasons.empty()) {
    return mqtt_errc::no_reason_codes;
  }
  for (const auto r : p.reasons) {
    if (!reason_code_allowed(packet_type::suback, r)) {
      return mqtt_errc::invalid_reason_code;
    }
  }
  return no_error;
}

mqtt_errc check(const unsubscribe& p, protocol_version) noexcept {
  if (p.packet_id == 0) {
    return mqtt_errc::packet_identifier_zero;
  }
  if (p.filters.empty()) {
    return mqtt_errc::no_topic_filters;
  }
  return no_error;
}

mqtt_errc check(const unsuback& p, protocol_version v) noexcept {
  if (p.packet_id == 0) {
    return mqtt_errc::packet_identifier_zero;
  }
  if (is_v5(v)) {
    if (p.reasons.empty()) {
      return mqtt_errc::no_reason_codes;
    }
    for (const auto r : p.reasons) {
      if (!reason_code_allowed(packet_type::unsuback, r)) {
        return mqtt_errc::invalid_reason_code;
      }
    }
  }
  return no_error;
}

mqtt_errc check(const pingreq&, protocol_version) noexcept {
  return no_error;
}
mqtt_errc check(const pingresp&, protocol_version) noexcept {
  return no_error;
}

mqtt_errc check(const disconnect& p, protocol_version v) noexcept {
  if (is_v5(v) && !reason_code_allowed(packet_type::disconnect, p.reason)) {
    return mqtt_errc::invalid_reason_code;
  }
  return no_error;
}

mqtt_errc check(const auth& p, protocol_version v) noexcept {
  if (!is_v5(v)) {
    return mqtt_errc::not_in_version;
  }
  if (!reason_code_allowed(packet_type::auth, p.reason)) {
    return mqtt_errc::invalid_reason_code;
  }
  return no_error;
}

// --- bodies ----------------------------------------------------------------------------------

template <class W>
void write_body(W& w, const connect& p, protocol_version v) {
  w.string(protocol_name);
  w.u8(static_cast<std::uint8_t>(v));
  unsigned flags = 0;
  if (p.clean_start) {
    flags |= 0x02U;
  }
  if (p.will) {
    flags |= 0x04U | (static_cast<unsigned>(p.will->qos) << 3);
    if (p.will->retain) {
      flags |= 0x20U;
    }
  }
  if (p.password) {
    flags |= 0x40U;
  }
  if (p.username) {
    flags |= 0x80U;
  }
  w.u8(static_cast<std::uint8_t>(flags));
  w.u16(p.keep_alive);
  if (is_v5(v)) {
    write_properties(w, p.properties);
  }
  w.string(p.client_id);
  if (p.will) {
    if (is_v5(v)) {
      write_properties(w, p.will->properties);
    }
    w.string(p.will->topic);
    w.binary(p.will->payload);
  }
  if (p.username) {
    w.string(*p.username);
  }
  if (p.password) {
    w.binary(*p.password);
  }
}

template <class W>
void write_body(W& w, const connack& p, protocol_version v) {
  w.u8(p.session_present ? 1 : 0);
  if (is_v5(v)) {
    w.u8(byte_of(p.reason));
    write_properties(w, p.properties);
  } else {
    w.u8(static_cast<std::uint8_t>(to_connect_return_code(p.reason)));
  }
}

template <class W>
void write_publish(W& w, const publish& p, protocol_version v, bool with_payload) {
  w.string(p.topic);
  if (p.qos != qos::at_most_once) {
    w.u16(p.packet_id);
  }
  if (is_v5(v)) {
    write_properties(w, p.properties);
  }
  if (with_payload) {
    w.raw(p.payload);
  }
}

template <class W>
void write_body(W& w, const publish& p, protocol_version v) {
  write_publish(w, p, v, true);
}

// §3.4.2.1: the Reason Code and then the Property Length may be left out when not needed.
template <class W, class P>
void write_reason_and_properties(W& w, reason_code reason, const P& properties) {
  const bool props = has_properties(properties);
  if (reason == reason_code::success && !props) {
    return;
  }
  w.u8(byte_of(reason));
  if (props) {
    write_properties(w, properties);
  }
}

template <class W, packet_type Type>
void write_body(W& w, const publish_response<Type>& p, protocol_version v) {
  w.u16(p.packet_id);
  if (is_v5(v)) {
    write_reason_and_properties(w, p.reason, p.properties);
  }
}

template <class W>
void write_body(W& w, const subscribe& p, protocol_version v) {
  w.u16(p.packet_id);
  if (is_v5(v)) {
    write_properties(w, p.properties);
  }
  for (const auto& s : p.subscriptions) {
    w.string(s.filter);
    auto options = static_cast<unsigned>(s.options.max_qos);
    if (is_v5(v)) {
      if (s.options.no_local) {
        options |= 0x04U;
      }
      if (s.options.retain_as_published) {
        options |= 0x08U;
      }
      options |= static_cast<unsigned>(s.options.retain_handling) << 4;
    }
    w.u8(static_cast<std::uint8_t>(options));
  }
}

template <class W>
void write_body(W& w, const suback& p, protocol_version v) {
  w.u16(p.packet_id);
  if (is_v5(v)) {
    write_properties(w, p.properties);
  }
  for (const auto r : p.reasons) {
    // 3.1.1 has a single failure code, 0x80.
    const std::uint8_t code = byte_of(r);
    w.u8(is_v5(v) || code < 0x80 ? code : 0x80);
  }
}

template <class W>
void write_body(W& w, const unsubscribe& p, protocol_version v) {
  w.u16(p.packet_id);
  if (is_v5(v)) {
    write_properties(w, p.properties);
  }
  for (const auto& f : p.filters) {
    w.string(f);
  }
}

template <class W>
void write_body(W& w, const unsuback& p, protocol_version v) {
  w.u16(p.packet_id);
  if (is_v5(v)) {
    write_properties(w, p.properties);
    for (const auto r : p.reasons) {
      w.u8(byte_of(r));
    }
  }
}

template <class W>
void write_body(W&, const pingreq&, protocol_version) {}
template <class W>
void write_body(W&, const pingresp&, protocol_version) {}

template <class W>
void write_body(W& w, const disconnect& p, protocol_version v) {
  if (is_v5(v)) {
    write_reason_and_properties(w, p.reason, p.properties);
  }
}

template <class W>
void write_body(W& w, const auth& p, protocol_version) {
  // §3.15.2.1: both may go only together; the method is required whenever the code is sent.
  if (p.reason == reason_code::success && !has_properties(p.properties)) {
    return;
  }
  w.u8(byte_of(p.reason));
  write_properties(w, p.properties);
}

std::uint8_t publish_first_byte(const publish& p) noexcept {
  unsigned byte =
      (static_cast<unsigned>(packet_type::publish) << 4) | (static_cast<unsigned>(p.qos) << 1);
  if (p.dup) {
    byte |= 0x08U;
  }
  if (p.retain) {
    byte |= 0x01U;
  }
  return static_cast<std::uint8_t>(byte);
}

template <class P>
std::uint8_t first_byte_of(const P& p) noexcept {
  constexpr auto type = static_cast<unsigned>(packet_type_of<P>);
  if constexpr (std::is_same_v<P, publish>) {
    return publish_first_byte(p);
  } else if constexpr (std::is_same_v<P, pubrel> || std::is_same_v<P, subscribe> ||
                       std::is_same_v<P, unsubscribe>) {
    return static_cast<std::uint8_t>((type << 4) | 0x02U); // [MQTT-3.6.1-1], -3.8.1-1, -3.10.1-1
  } else {
    return static_cast<std::uint8_t>(type << 4);
  }
}

struct measured {
  mqtt_errc error = no_error;
  std::uint32_t remaining = 0;
  std::size_t total = 0;
};

template <class P>
measured measure(const P& p, protocol_version v) {
  measured m;
  m.error = check(p, v);
  if (m.error != no_error) {
    return m;
  }
  size_counter counter;
  write_body(counter, p, v);
  m.error = counter.error();
  if (m.error != no_error) {
    return m;
  }
  if (counter.size() > max_remaining_length) {
    m.error = mqtt_errc::packet_too_large;
    return m;
  }
  m.remaining = static_cast<std::uint32_t>(counter.size());
  m.total = 1 + varint_size(m.remaining) + m.remaining;
  return m;
}

} // namespace

template <packet_body P>
result<std::size_t> encoded_size(const P& p, protocol_version version) {
  const measured m = measure(p, version);
  if (m.error != no_error) {
    return m.error;
  }
  return m.total;
}

template <packet_body P>
result<void> encode_to(const P& p, protocol_version version, bytes& out) {
  const measured m = measure(p, version);
  if (m.error != no_error) {
    return m.error;
  }
  const std::size_t start = out.size();
  out.resize(start + m.total);
  span_writer w(out.data() + start);
  w.u8(first_byte_of(p));
  w.varint(m.remaining);
  write_body(w, p, version);
  AEGIS_ASSERT(w.position() == out.data() + out.size());
  return ok();
}

template <packet_body P>
result<bytes> encode(const P& p, protocol_version version) {
  bytes out;
  if (auto r = encode_to(p, version, out); !r) {
    return r.error();
  }
  return out;
}

#define AEGIS_MQTT_INSTANTIATE_ENCODERS(P)                                                         \
  template result<std::size_t> encoded_size<P>(const P&, protocol_version);                        \
  template result<void> encode_to<P>(const P&, protocol_version, bytes&);                          \
  template result<bytes> encode<P>(const P&, protocol_version);

AEGIS_MQTT_INSTANTIATE_ENCODERS(connect)
AEGIS_MQTT_INSTANTIATE_ENCODERS(connack)
AEGIS_MQTT_INSTANTIATE_ENCODERS(publish)
AEGIS_MQTT_INSTANTIATE_ENCODERS(puback)
AEGIS_MQTT_INSTANTIATE_ENCODERS(pubrec)
AEGIS_MQTT_INSTANTIATE_ENCODERS(pubrel)
AEGIS_MQTT_INSTANTIATE_ENCODERS(pubcomp)
AEGIS_MQTT_INSTANTIATE_ENCODERS(subscribe)
AEGIS_MQTT_INSTANTIATE_ENCODERS(suback)
AEGIS_MQTT_INSTANTIATE_ENCODERS(unsubscribe)
AEGIS_MQTT_INSTANTIATE_ENCODERS(unsuback)
AEGIS_MQTT_INSTANTIATE_ENCODERS(pingreq)
AEGIS_MQTT_INSTANTIATE_ENCODERS(pingresp)
AEGIS_MQTT_INSTANTIATE_ENCODERS(disconnect)
AEGIS_MQTT_INSTANTIATE_ENCODERS(auth)

result<std::size_t> encoded_size(const packet& p, protocol_version version) {
  return std::visit([&](const auto& body) { return encoded_size(body, version); }, p);
}

result<void> encode_to(const packet& p, protocol_version version, bytes& out) {
  return std::visit([&](const auto& body) { return encode_to(body, version, out); }, p);
}

result<bytes> encode(const packet& p, protocol_version version) {
  return std::visit([&](const auto& body) { return encode(body, version); }, p);
}

result<void> encode_publish_header(const publish& p, protocol_version version, bytes& out) {
  if (auto e = check(p, version); e != no_error) {
    return e;
  }
  size_counter counter;
  write_publish(counter, p, version, true);
  if (counter.error() != no_error) {
    return counter.error();
  }
  if (counter.size() > max_remaining_length) {
    return mqtt_errc::packet_too_large;
  }
  const auto remaining = static_cast<std::uint32_t>(counter.size());
  const std::size_t header = 1 + varint_size(remaining) + remaining - p.payload.size();
  const std::size_t start = out.size();
  out.resize(start + header);
  span_writer w(out.data() + start);
  w.u8(publish_first_byte(p));
  w.varint(remaining);
  write_publish(w, p, version, false);
  AEGIS_ASSERT(w.position() == out.data() + out.size());
  return ok();
}

} // namespace aegis::mqtt
