// Encoder behaviour beyond the vectors: size boundaries, the refusals, 3.1.1 down-mapping, and
// the gather-write PUBLISH header.

#include "test_support.hpp"

#include <gtest/gtest.h>

namespace aegis::mqtt::test {
namespace {

using enum protocol_version;
using e = mqtt_errc;

std::optional<mqtt_errc> encode_error(const packet& p, protocol_version v) {
  bytes out{0x55};
  auto r = encode_to(p, v, out);
  if (r) {
    return std::nullopt;
  }
  EXPECT_EQ(out, bytes{0x55}) << "a failed encode leaves the buffer as it was";
  EXPECT_FALSE(encoded_size(p, v));
  return static_cast<mqtt_errc>(r.error().value());
}

// §1.5.5 table: the Remaining Length switches size at each power of 128.
TEST(Section_1_5_5_RemainingLength, EncodedSizeAtEveryBoundary) {
  for (const auto& [remaining, header] : std::initializer_list<std::pair<std::size_t, std::size_t>>{
           {127, 2}, {128, 3}, {16383, 3}, {16384, 4}, {2097151, 4}, {2097152, 5}}) {
    // QoS 0 v3.1.1 PUBLISH, topic "t": 3 bytes of variable header.
    publish p{.topic = "t", .payload = bytes(remaining - 3, 0x42)};
    auto wire = encode(p, v3_1_1);
    ASSERT_TRUE(wire);
    ASSERT_EQ(wire->size(), header + remaining);
    auto back = decode(*wire, options_for(v3_1_1));
    ASSERT_TRUE(back);
    EXPECT_TRUE(std::get<publish>(*back) == p);
  }
}

TEST(Section_1_5_5_RemainingLength, SpecTableBytes) {
  const auto header_of = [](std::size_t remaining) {
    publish p{.topic = "t", .payload = bytes(remaining - 3, 0)};
    auto wire = encode(p, v3_1_1);
    return to_hex(bytes_view(*wire).subspan(1, wire->size() - remaining - 1));
  };
  EXPECT_EQ(header_of(3), "03");
  EXPECT_EQ(header_of(127), "7f");
  EXPECT_EQ(header_of(128), "8001");
  EXPECT_EQ(header_of(16383), "ff7f");
  EXPECT_EQ(header_of(16384), "808001");
  EXPECT_EQ(header_of(2097151), "ffff7f");
  EXPECT_EQ(header_of(2097152), "80808001");
}

TEST(Encoder, RefusesOversizedFields) {
  EXPECT_EQ(encode_error(publish{.topic = std::string(65536, 'a')}, v3_1_1), e::field_too_long);
  EXPECT_FALSE(encode_error(publish{.topic = std::string(65535, 'a')}, v3_1_1));
  connect c{.version = v5, .client_id = "a"};
  c.properties.authentication_method = std::string(70000, 'm');
  EXPECT_EQ(encode_error(c, v5), e::field_too_long);
  connect p{.version = v3_1_1, .client_id = "a", .username = "u", .password = bytes(65536, 1)};
  EXPECT_EQ(encode_error(p, v3_1_1), e::field_too_long);
}

TEST(Encoder, RefusesWhatTheVersionCannotCarry) {
  EXPECT_EQ(encode_error(auth{}, v3_1_1), e::not_in_version);
  EXPECT_EQ(encode_error(connect{.version = v5}, v3_1_1), e::version_mismatch);
  EXPECT_EQ(encode_error(connect{.version = v3_1_1, .password = bytes{1}}, v3_1_1),
            e::password_without_username);
  EXPECT_FALSE(encode_error(connect{.version = v5, .password = bytes{1}}, v5));
}

TEST(Encoder, RefusesStructuralMistakes) {
  EXPECT_EQ(encode_error(publish{.topic = "t", .qos = qos::at_least_once}, v5),
            e::packet_identifier_zero);
  EXPECT_EQ(encode_error(publish{.topic = "t", .dup = true}, v5), e::dup_with_qos0);
  EXPECT_EQ(encode_error(publish{.topic = "t", .qos = static_cast<qos>(3), .packet_id = 1}, v5),
            e::invalid_qos);
  EXPECT_EQ(encode_error(publish{}, v3_1_1), e::topic_name_invalid);
  EXPECT_EQ(encode_error(publish{}, v5), e::topic_name_missing);
  EXPECT_EQ(encode_error(publish{.properties = {.topic_alias = 0}}, v5), e::topic_alias_invalid);
  EXPECT_EQ(encode_error(puback{}, v3_1_1), e::packet_identifier_zero);
  EXPECT_EQ(encode_error(subscribe{.packet_id = 1}, v5), e::no_topic_filters);
  EXPECT_EQ(encode_error(unsubscribe{.packet_id = 1}, v3_1_1), e::no_topic_filters);
  EXPECT_EQ(encode_error(suback{.packet_id = 1}, v3_1_1), e::no_reason_codes);
  EXPECT_EQ(encode_error(unsuback{.packet_id = 1}, v5), e::no_reason_codes);
  EXPECT_FALSE(encode_error(unsuback{.packet_id = 1}, v3_1_1));
  subscribe bad_rh{.packet_id = 1, .subscriptions = {{"a", {}}}};
  bad_rh.subscriptions[0].options.retain_handling = static_cast<retain_handling>(3);
  EXPECT_EQ(encode_error(bad_rh, v5), e::retain_handling_invalid);
  subscribe bad_qos{.packet_id = 1, .subscriptions = {{"a", {}}}};
  bad_qos.subscriptions[0].options.max_qos = static_cast<qos>(3);
  EXPECT_EQ(encode_error(bad_qos, v3_1_1), e::subscription_qos_invalid);
}

TEST(Encoder, RefusesReasonCodesThePacketCannotCarry) {
  EXPECT_EQ(encode_error(puback{.packet_id = 1, .reason = reason_code::banned}, v5),
            e::invalid_reason_code);
  EXPECT_EQ(encode_error(connack{.reason = reason_code::session_taken_over}, v5),
            e::invalid_reason_code);
  EXPECT_EQ(encode_error(disconnect{.reason = reason_code::banned}, v5), e::invalid_reason_code);
  EXPECT_EQ(encode_error(auth{.reason = reason_code::not_authorized}, v5), e::invalid_reason_code);
  EXPECT_EQ(
      encode_error(suback{.packet_id = 1, .reasons = {reason_code::session_taken_over}}, v3_1_1),
      e::invalid_reason_code);
  EXPECT_EQ(encode_error(connack{.session_present = true, .reason = reason_code::banned}, v5),
            e::session_present_on_refusal);
}

TEST(Encoder, RefusesSubscriptionIdentifiersOutOfRange) {
  publish p{.topic = "t"};
  p.properties.subscription_identifiers = {0};
  EXPECT_EQ(encode_error(p, v5), e::invalid_property_value);
  p.properties.subscription_identifiers = {268'435'456};
  EXPECT_EQ(encode_error(p, v5), e::invalid_property_value);
  p.properties.subscription_identifiers = {268'435'455};
  EXPECT_FALSE(encode_error(p, v5));
}

TEST(Encoder, V311DropsWhatItCannotSay) {
  // Properties and ack reason codes vanish; v5-only CONNACK and SUBACK codes map down.
  publish p{.topic = "t", .properties = {.message_expiry_interval = 5}};
  EXPECT_EQ(to_hex(*encode(p, v3_1_1)), "30030001"
                                        "74");
  EXPECT_EQ(to_hex(*encode(puback{.packet_id = 1, .reason = reason_code::quota_exceeded}, v3_1_1)),
            "40020001");
  EXPECT_EQ(to_hex(*encode(connack{.reason = reason_code::banned}, v3_1_1)), "20020005");
  EXPECT_EQ(to_hex(*encode(connack{.reason = reason_code::server_busy}, v3_1_1)), "20020003");
  EXPECT_EQ(
      to_hex(*encode(suback{.packet_id = 1, .reasons = {reason_code::quota_exceeded}}, v3_1_1)),
      "9003000180");
  EXPECT_EQ(to_hex(*encode(disconnect{.reason = reason_code::server_shutting_down}, v3_1_1)),
            "e000");
}

TEST(Encoder, ShortFormsOfAcksDisconnectAndAuth) {
  EXPECT_EQ(to_hex(*encode(puback{.packet_id = 1}, v5)), "40020001");
  EXPECT_EQ(to_hex(*encode(pubrel{.packet_id = 1}, v5)), "62020001");
  EXPECT_EQ(to_hex(*encode(disconnect{}, v5)), "e000");
  EXPECT_EQ(to_hex(*encode(auth{}, v5)), "f000");
  puback with_props{.packet_id = 1, .properties = {.reason_string = "x"}};
  EXPECT_EQ(to_hex(*encode(with_props, v5)), "400800010004"
                                             "1f000178");
}

TEST(Encoder, PublishHeaderThenPayloadIsThePacket) {
  for (const auto& c : vectors()) {
    const auto* p = std::get_if<publish>(&c.value);
    if (p == nullptr) {
      continue;
    }
    bytes out{0x99};
    ASSERT_TRUE(encode_publish_header(*p, c.version, out)) << c.name;
    out.insert(out.end(), p->payload.begin(), p->payload.end());
    bytes expected{0x99};
    expected.insert(expected.end(), c.wire.begin(), c.wire.end());
    EXPECT_EQ(out, expected) << c.name;
  }
  bytes out;
  EXPECT_EQ(encode_publish_header(publish{.topic = "t", .dup = true}, v5, out).error(),
            e::dup_with_qos0);
  EXPECT_TRUE(out.empty());
}

TEST(Encoder, EncodeToReusesTheCallersBuffer) {
  bytes buffer;
  buffer.reserve(256);
  const auto* data = buffer.data();
  for (int i = 0; i < 10; ++i) {
    buffer.clear();
    ASSERT_TRUE(encode_to(publish{.topic = "a/b", .payload = to_bytes("hello")}, v5, buffer));
  }
  EXPECT_EQ(buffer.data(), data);
  EXPECT_EQ(buffer.size(), 13U);
}

} // namespace
} // namespace aegis::mqtt::test
