#include "decode.hpp"

#include "aegis/mqtt/codec.hpp"
#include "aegis/mqtt/topic.hpp"
#include "checks.hpp"
#include "property_codec.hpp"
#include "wire.hpp"

#include <algorithm>
#include <string_view>

namespace aegis::mqtt::detail {
namespace {

constexpr auto is_ok = [](mqtt_errc e) { return e == no_error; };

#define AEGIS_MQTT_TRY(expr)                                                                       \
  do {                                                                                             \
    if (const mqtt_errc e_ = (expr); !is_ok(e_)) {                                                 \
      return e_;                                                                                   \
    }                                                                                              \
  } while (false)

bool is_v5(const decode_context& ctx) noexcept {
  return ctx.version == protocol_version::v5;
}

mqtt_errc expect_end(const reader& r) noexcept {
  return r.at_end() ? no_error : mqtt_errc::trailing_bytes;
}

mqtt_errc read_packet_id(reader& r, std::uint16_t& id) noexcept {
  AEGIS_MQTT_TRY(r.u16(id));
  return id == 0 ? mqtt_errc::packet_identifier_zero : no_error; // [MQTT-2.2.1-3]
}

mqtt_errc read_string(reader& r, std::string& out) {
  std::string_view v;
  AEGIS_MQTT_TRY(r.utf8(v));
  out.assign(v);
  return no_error;
}

mqtt_errc read_binary(reader& r, bytes& out) {
  bytes_view v;
  AEGIS_MQTT_TRY(r.binary(v));
  out.assign(v.begin(), v.end());
  return no_error;
}

// A v5 filter in SUBSCRIBE or UNSUBSCRIBE: syntax, and the $share form (§4.8.2).
mqtt_errc check_filter(std::string_view filter, const decode_context& ctx) noexcept {
  if (is_v5(ctx) && is_shared_subscription(filter)) {
    return check_shared_subscription_syntax(filter);
  }
  return check_topic_filter_syntax(filter);
}

mqtt_errc check_payload_format(const std::optional<payload_format>& format, bytes_view payload,
                               const decode_context& ctx) noexcept {
  if (ctx.validate_payload_format && format == payload_format::utf8 &&
      check_utf8(as_string_view(payload), /*allow_null=*/true) != no_error) {
    return mqtt_errc::payload_format_invalid;
  }
  return no_error;
}

// --- CONNECT (§3.1) --------------------------------------------------------------------------

mqtt_errc decode(reader& r, decode_context& ctx, connect& out) {
  std::string_view name;
  AEGIS_MQTT_TRY(r.utf8(name));
  std::uint8_t level = 0;
  AEGIS_MQTT_TRY(r.u8(level));
  if (name == "MQTT") {
    if (level != 4 && level != 5) {
      return mqtt_errc::unsupported_protocol_version;
    }
  } else if (name == "MQIsdp" && level == 3) {
    return mqtt_errc::unsupported_protocol_version; // MQTT 3.1: known, not supported
  } else {
    return mqtt_errc::invalid_protocol_name;
  }
  out.version = static_cast<protocol_version>(level);
  ctx.version = out.version;
  const bool v5 = is_v5(ctx);

  std::uint8_t flags = 0;
  AEGIS_MQTT_TRY(r.u8(flags));
  if ((flags & 0x01U) != 0) {
    return mqtt_errc::connect_reserved_flag; // [MQTT-3.1.2-3]
  }
  const bool will = (flags & 0x04U) != 0;
  const auto will_qos = static_cast<std::uint8_t>((flags >> 3) & 0x03U);
  const bool will_retain = (flags & 0x20U) != 0;
  const bool has_password = (flags & 0x40U) != 0;
  const bool has_username = (flags & 0x80U) != 0;
  if (will_qos == 3) {
    return mqtt_errc::invalid_qos; // [MQTT-3.1.2-14]
  }
  if (!will && (will_qos != 0 || will_retain)) {
    return mqtt_errc::will_flags_without_will; // [MQTT-3.1.2-11], [MQTT-3.1.2-13]
  }
  if (!v5 && has_password && !has_username) {
    return mqtt_errc::password_without_username; // 3.1.1 [MQTT-3.1.2-22]
  }
  out.clean_start = (flags & 0x02U) != 0;
  AEGIS_MQTT_TRY(r.u16(out.keep_alive));
  if (v5) {
    AEGIS_MQTT_TRY(read_properties(r, out.properties));
  }
  AEGIS_MQTT_TRY(read_string(r, out.client_id));
  if (!v5 && out.client_id.empty() && !out.clean_start) {
    return mqtt_errc::client_id_invalid; // 3.1.1 [MQTT-3.1.3-8]
  }
  if (will) {
    auto& w = out.will.emplace();
    w.qos = static_cast<qos>(will_qos);
    w.retain = will_retain;
    if (v5) {
      AEGIS_MQTT_TRY(read_properties(r, w.properties));
    }
    AEGIS_MQTT_TRY(read_string(r, w.topic));
    AEGIS_MQTT_TRY(check_topic_name_syntax(w.topic)); // [MQTT-3.1.3-11]
    AEGIS_MQTT_TRY(read_binary(r, w.payload));
  }
  if (has_username) {
    AEGIS_MQTT_TRY(read_string(r, out.username.emplace()));
  }
  if (has_password) {
    AEGIS_MQTT_TRY(read_binary(r, out.password.emplace()));
  }
  AEGIS_MQTT_TRY(expect_end(r));
  if (out.properties.authentication_data && !out.properties.authentication_method) {
    return mqtt_errc::missing_authentication_method; // §3.1.2.11.10
  }
  if (out.will) {
    AEGIS_MQTT_TRY(check_payload_format(out.will->properties.payload_format_indicator,
                                        out.will->payload, ctx));
  }
  return no_error;
}

// --- CONNACK (§3.2) --------------------------------------------------------------------------

mqtt_errc decode(reader& r, decode_context& ctx, connack& out) {
  std::uint8_t flags = 0;
  AEGIS_MQTT_TRY(r.u8(flags));
  if ((flags & 0xFEU) != 0) {
    return mqtt_errc::connack_reserved_flags; // [MQTT-3.2.2-1]
  }
  out.session_present = flags == 1;
  std::uint8_t code = 0;
  AEGIS_MQTT_TRY(r.u8(code));
  if (is_v5(ctx)) {
    out.reason = static_cast<reason_code>(code);
    if (!reason_code_allowed(packet_type::connack, out.reason)) {
      return mqtt_errc::invalid_reason_code;
    }
  } else {
    const auto reason = from_connect_return_code(code);
    if (!reason) {
      return mqtt_errc::invalid_reason_code;
    }
    out.reason = *reason;
  }
  if (out.session_present && out.reason != reason_code::success) {
    return mqtt_errc::session_present_on_refusal; // [MQTT-3.2.2-6], 3.1.1 [MQTT-3.2.2-4]
  }
  if (is_v5(ctx)) {
    AEGIS_MQTT_TRY(read_properties(r, out.properties));
  }
  return expect_end(r);
}

// --- PUBLISH (§3.3) --------------------------------------------------------------------------

mqtt_errc decode_publish(std::uint8_t first_byte, reader& r, bytes* payload,
                         const decode_context& ctx, publish& out) {
  out.retain = (first_byte & 0x01U) != 0;
  out.qos = static_cast<qos>((first_byte >> 1) & 0x03U);
  out.dup = (first_byte & 0x08U) != 0;
  std::string_view topic;
  AEGIS_MQTT_TRY(r.utf8(topic));
  if (!topic.empty()) {
    AEGIS_MQTT_TRY(check_topic_name_syntax(topic)); // [MQTT-3.3.2-2]
  }
  if (out.qos != qos::at_most_once) {
    AEGIS_MQTT_TRY(read_packet_id(r, out.packet_id));
  }
  if (is_v5(ctx)) {
    AEGIS_MQTT_TRY(read_properties(r, out.properties));
    if (ctx.from == sender::client && !out.properties.subscription_identifiers.empty()) {
      return mqtt_errc::property_wrong_direction; // [MQTT-3.3.4-6]
    }
  }
  if (topic.empty()) {
    if (!is_v5(ctx)) {
      return mqtt_errc::topic_name_invalid; // 3.1.1 [MQTT-4.7.3-1]
    }
    if (!out.properties.topic_alias) {
      return mqtt_errc::topic_name_missing; // §3.3.2.1
    }
  }
  out.topic.assign(topic);
  if (payload == nullptr) {
    const bytes_view rest = r.rest();
    out.payload.assign(rest.begin(), rest.end());
  } else {
    out.payload = std::move(*payload);
    // Only if publish_header_need and this parser ever disagreed on the header length.
    const bytes_view rest = r.rest();
    out.payload.insert(out.payload.begin(), rest.begin(), rest.end());
  }
  return check_payload_format(out.properties.payload_format_indicator, out.payload, ctx);
}

// --- PUBACK, PUBREC, PUBREL, PUBCOMP (§3.4-§3.7) ---------------------------------------------

template <packet_type Type>
mqtt_errc decode(reader& r, decode_context& ctx, publish_response<Type>& out) {
  AEGIS_MQTT_TRY(read_packet_id(r, out.packet_id));
  if (is_v5(ctx) && !r.at_end()) {
    // §3.4.2.1: Reason Code 0x00 and no properties may be left out.
    std::uint8_t code = 0;
    AEGIS_MQTT_TRY(r.u8(code));
    out.reason = static_cast<reason_code>(code);
    if (!reason_code_allowed(Type, out.reason)) {
      return mqtt_errc::invalid_reason_code;
    }
    if (!r.at_end()) {
      AEGIS_MQTT_TRY(read_properties(r, out.properties));
    }
  }
  return expect_end(r);
}

// --- SUBSCRIBE (§3.8) ------------------------------------------------------------------------

mqtt_errc decode(reader& r, decode_context& ctx, subscribe& out) {
  AEGIS_MQTT_TRY(read_packet_id(r, out.packet_id));
  const bool v5 = is_v5(ctx);
  if (v5) {
    AEGIS_MQTT_TRY(read_properties(r, out.properties));
  }
  if (r.at_end()) {
    return mqtt_errc::no_topic_filters; // [MQTT-3.8.3-2], 3.1.1 [MQTT-3.8.3-3]
  }
  while (!r.at_end()) {
    auto& s = out.subscriptions.emplace_back();
    AEGIS_MQTT_TRY(read_string(r, s.filter));
    std::uint8_t options = 0;
    AEGIS_MQTT_TRY(r.u8(options));
    AEGIS_MQTT_TRY(check_filter(s.filter, ctx));
    if ((options & (v5 ? 0xC0U : 0xFCU)) != 0) {
      return mqtt_errc::subscription_options_reserved; // [MQTT-3.8.3-5], 3.1.1 [MQTT-3.8.3-4]
    }
    if ((options & 0x03U) == 3) {
      return mqtt_errc::subscription_qos_invalid; // §3.8.3.1
    }
    s.options.max_qos = static_cast<qos>(options & 0x03U);
    if (v5) {
      s.options.no_local = (options & 0x04U) != 0;
      s.options.retain_as_published = (options & 0x08U) != 0;
      const auto handling = static_cast<std::uint8_t>((options >> 4) & 0x03U);
      if (handling == 3) {
        return mqtt_errc::retain_handling_invalid; // §3.8.3.1
      }
      s.options.retain_handling = static_cast<retain_handling>(handling);
      if (s.options.no_local && is_shared_subscription(s.filter)) {
        return mqtt_errc::no_local_on_shared_subscription; // [MQTT-3.8.3-4]
      }
    }
  }
  return no_error;
}

// --- SUBACK (§3.9) ---------------------------------------------------------------------------

mqtt_errc decode(reader& r, decode_context& ctx, suback& out) {
  AEGIS_MQTT_TRY(read_packet_id(r, out.packet_id));
  if (is_v5(ctx)) {
    AEGIS_MQTT_TRY(read_properties(r, out.properties));
  }
  if (r.at_end()) {
    return mqtt_errc::no_reason_codes;
  }
  out.reasons.reserve(r.left());
  while (!r.at_end()) {
    std::uint8_t code = 0;
    AEGIS_MQTT_TRY(r.u8(code));
    const auto reason = static_cast<reason_code>(code);
    // 3.1.1 §3.9.3 allows 0x00, 0x01, 0x02 and 0x80 only; all four are v5 SUBACK codes too.
    const bool allowed =
        is_v5(ctx) ? reason_code_allowed(packet_type::suback, reason) : (code <= 2 || code == 0x80);
    if (!allowed) {
      return mqtt_errc::invalid_reason_code;
    }
    out.reasons.push_back(reason);
  }
  return no_error;
}

// --- UNSUBSCRIBE (§3.10) ---------------------------------------------------------------------

mqtt_errc decode(reader& r, decode_context& ctx, unsubscribe& out) {
  AEGIS_MQTT_TRY(read_packet_id(r, out.packet_id));
  if (is_v5(ctx)) {
    AEGIS_MQTT_TRY(read_properties(r, out.properties));
  }
  if (r.at_end()) {
    return mqtt_errc::no_topic_filters; // [MQTT-3.10.3-2]
  }
  while (!r.at_end()) {
    auto& filter = out.filters.emplace_back();
    AEGIS_MQTT_TRY(read_string(r, filter));
    AEGIS_MQTT_TRY(check_filter(filter, ctx));
  }
  return no_error;
}

// --- UNSUBACK (§3.11) ------------------------------------------------------------------------

mqtt_errc decode(reader& r, decode_context& ctx, unsuback& out) {
  AEGIS_MQTT_TRY(read_packet_id(r, out.packet_id));
  if (!is_v5(ctx)) {
    return expect_end(r);
  }
  AEGIS_MQTT_TRY(read_properties(r, out.properties));
  if (r.at_end()) {
    return mqtt_errc::no_reason_codes;
  }
  out.reasons.reserve(r.left());
  while (!r.at_end()) {
    std::uint8_t code = 0;
    AEGIS_MQTT_TRY(r.u8(code));
    const auto reason = static_cast<reason_code>(code);
    if (!reason_code_allowed(packet_type::unsuback, reason)) {
      return mqtt_errc::invalid_reason_code;
    }
    out.reasons.push_back(reason);
  }
  return no_error;
}

// --- PINGREQ, PINGRESP (§3.12, §3.13) --------------------------------------------------------

mqtt_errc decode(reader& r, decode_context&, pingreq&) {
  return expect_end(r);
}
mqtt_errc decode(reader& r, decode_context&, pingresp&) {
  return expect_end(r);
}

// --- DISCONNECT (§3.14) ----------------------------------------------------------------------

mqtt_errc decode(reader& r, decode_context& ctx, disconnect& out) {
  if (is_v5(ctx) && !r.at_end()) {
    std::uint8_t code = 0;
    AEGIS_MQTT_TRY(r.u8(code));
    out.reason = static_cast<reason_code>(code);
    if (!reason_code_allowed(packet_type::disconnect, out.reason)) {
      return mqtt_errc::invalid_reason_code;
    }
    // §3.14.2.2.1: with Remaining Length 1 the Property Length is 0.
    if (!r.at_end()) {
      AEGIS_MQTT_TRY(read_properties(r, out.properties));
    }
    if (ctx.from == sender::server && out.properties.session_expiry_interval) {
      return mqtt_errc::property_wrong_direction; // [MQTT-3.14.2-2]
    }
  }
  return expect_end(r);
}

// --- AUTH (§3.15) ----------------------------------------------------------------------------

mqtt_errc decode(reader& r, decode_context&, auth& out) {
  if (r.at_end()) {
    return no_error; // §3.15.2.1: Success without properties
  }
  std::uint8_t code = 0;
  AEGIS_MQTT_TRY(r.u8(code));
  out.reason = static_cast<reason_code>(code);
  if (!reason_code_allowed(packet_type::auth, out.reason)) {
    return mqtt_errc::invalid_reason_code;
  }
  if (!r.at_end()) {
    AEGIS_MQTT_TRY(read_properties(r, out.properties));
  }
  AEGIS_MQTT_TRY(expect_end(r));
  if (!out.properties.authentication_method) {
    return mqtt_errc::missing_authentication_method; // §3.15.2.2.2
  }
  return no_error;
}

template <class P>
mqtt_errc decode_into(reader& r, decode_context& ctx, packet& out) {
  return decode(r, ctx, out.emplace<P>());
}

} // namespace

mqtt_errc check_first_byte(std::uint8_t byte, const decode_context& ctx) noexcept {
  const unsigned type = byte >> 4U;
  const unsigned flags = byte & 0x0FU;
  if (type == 0) {
    return mqtt_errc::reserved_packet_type;
  }
  const auto t = static_cast<packet_type>(type);
  if (!ctx.version) {
    if (t != packet_type::connect) {
      return mqtt_errc::expected_connect; // [MQTT-3.1.0-1]
    }
  } else if (t == packet_type::auth && ctx.version == protocol_version::v3_1_1) {
    return mqtt_errc::reserved_packet_type;
  }
  switch (t) {
  case packet_type::connack:
  case packet_type::suback:
  case packet_type::unsuback:
  case packet_type::pingresp:
    if (ctx.from == sender::client) {
      return mqtt_errc::unexpected_packet;
    }
    break;
  case packet_type::connect:
  case packet_type::subscribe:
  case packet_type::unsubscribe:
  case packet_type::pingreq:
    if (ctx.from == sender::server) {
      return mqtt_errc::unexpected_packet;
    }
    break;
  case packet_type::disconnect:
    // 3.1.1 servers close the connection instead (3.1.1 §3.14).
    if (ctx.from == sender::server && ctx.version == protocol_version::v3_1_1) {
      return mqtt_errc::unexpected_packet;
    }
    break;
  default:
    break;
  }
  switch (t) {
  case packet_type::publish: {
    const unsigned q = (flags >> 1) & 0x03U;
    if (q == 3) {
      return mqtt_errc::invalid_qos; // [MQTT-3.3.1-4]
    }
    if (q == 0 && (flags & 0x08U) != 0) {
      return mqtt_errc::dup_with_qos0; // [MQTT-3.3.1-2]
    }
    return no_error;
  }
  case packet_type::pubrel:
  case packet_type::subscribe:
  case packet_type::unsubscribe:
    return flags == 0x02 ? no_error : mqtt_errc::invalid_flags;
  default:
    return flags == 0 ? no_error : mqtt_errc::invalid_flags;
  }
}

mqtt_errc decode_body(std::uint8_t first_byte, bytes_view body, bytes* payload, decode_context& ctx,
                      packet& out) {
  reader r(body);
  switch (static_cast<packet_type>(first_byte >> 4U)) {
  case packet_type::connect:
    return decode_into<connect>(r, ctx, out);
  case packet_type::connack:
    return decode_into<connack>(r, ctx, out);
  case packet_type::publish:
    return decode_publish(first_byte, r, payload, ctx, out.emplace<publish>());
  case packet_type::puback:
    return decode_into<puback>(r, ctx, out);
  case packet_type::pubrec:
    return decode_into<pubrec>(r, ctx, out);
  case packet_type::pubrel:
    return decode_into<pubrel>(r, ctx, out);
  case packet_type::pubcomp:
    return decode_into<pubcomp>(r, ctx, out);
  case packet_type::subscribe:
    return decode_into<subscribe>(r, ctx, out);
  case packet_type::suback:
    return decode_into<suback>(r, ctx, out);
  case packet_type::unsubscribe:
    return decode_into<unsubscribe>(r, ctx, out);
  case packet_type::unsuback:
    return decode_into<unsuback>(r, ctx, out);
  case packet_type::pingreq:
    return decode_into<pingreq>(r, ctx, out);
  case packet_type::pingresp:
    return decode_into<pingresp>(r, ctx, out);
  case packet_type::disconnect:
    return decode_into<disconnect>(r, ctx, out);
  case packet_type::auth:
    return decode_into<auth>(r, ctx, out);
  }
  return mqtt_errc::reserved_packet_type;
}

std::size_t publish_header_need(std::uint8_t first_byte, bytes_view have, protocol_version version,
                                std::size_t remaining) noexcept {
  const auto cap = [remaining](std::size_t n) { return std::min(n, remaining); };
  if (have.size() < 2) {
    return cap(2);
  }
  const bool has_packet_id = ((first_byte >> 1) & 0x03U) != 0;
  const std::size_t topic_length = (std::size_t{have[0]} << 8) | have[1];
  const std::size_t fixed = 2 + topic_length + (has_packet_id ? 2 : 0);
  if (version != protocol_version::v5) {
    return cap(fixed);
  }
  std::size_t length = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    if (have.size() <= fixed + i) {
      return cap(fixed + i + 1);
    }
    const std::uint8_t b = have[fixed + i];
    length |= std::size_t{b & 0x7FU} << (7 * i);
    if ((b & 0x80U) == 0) {
      return cap(fixed + i + 1 + length);
    }
  }
  return remaining;
}

#undef AEGIS_MQTT_TRY

} // namespace aegis::mqtt::detail

namespace aegis::mqtt {

result<packet> decode(bytes_view data, const decoder_options& options) {
  detail::decode_context ctx{options.version, options.from, options.validate_payload_format};
  detail::reader r(data);
  std::uint8_t first = 0;
  if (auto e = r.u8(first); e != detail::no_error) {
    return e;
  }
  if (auto e = detail::check_first_byte(first, ctx); e != detail::no_error) {
    return e;
  }
  std::uint32_t remaining = 0;
  if (auto e = r.varint(remaining); e != detail::no_error) {
    return e;
  }
  if (data.size() - r.left() + std::size_t{remaining} > options.maximum_packet_size) {
    return mqtt_errc::packet_too_large;
  }
  if (r.left() < remaining) {
    return mqtt_errc::truncated;
  }
  if (r.left() > remaining) {
    return mqtt_errc::trailing_bytes;
  }
  packet out;
  if (auto e = detail::decode_body(first, r.rest(), nullptr, ctx, out); e != detail::no_error) {
    return e;
  }
  return out;
}

} // namespace aegis::mqtt
