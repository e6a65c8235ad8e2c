#include "aegis/mqtt/errors.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace aegis::mqtt::test {
namespace {

using enum protocol_version;
using e = mqtt_errc;

constexpr int first_errc = static_cast<int>(e::reserved_packet_type);
constexpr int last_errc = static_cast<int>(e::version_mismatch);

TEST(MqttErrc, CategoryAndMessages) {
  const std::error_code ec = e::packet_too_large;
  EXPECT_STREQ(ec.category().name(), "aegis.mqtt");
  std::set<std::string> messages;
  for (int v = first_errc; v <= last_errc; ++v) {
    const auto m = describe(static_cast<e>(v));
    EXPECT_NE(m, "unknown MQTT error") << v;
    messages.emplace(m);
  }
  EXPECT_EQ(messages.size(), static_cast<std::size_t>(last_errc - first_errc + 1))
      << "every error has its own message";
}

TEST(MqttErrc, ReasonCodesTheBriefNames) {
  EXPECT_EQ(to_reason_code(e::truncated), reason_code::malformed_packet);        // 0x81
  EXPECT_EQ(to_reason_code(e::invalid_utf8), reason_code::malformed_packet);     // 0x81
  EXPECT_EQ(to_reason_code(e::duplicate_property), reason_code::protocol_error); // 0x82
  EXPECT_EQ(to_reason_code(e::packet_too_large), reason_code::packet_too_large); // 0x95
  EXPECT_EQ(to_reason_code(e::unsupported_protocol_version),
            reason_code::unsupported_protocol_version); // 0x84
  EXPECT_EQ(to_reason_code(e::client_id_invalid), reason_code::client_identifier_not_valid);
  EXPECT_EQ(to_reason_code(e::payload_format_invalid), reason_code::payload_format_invalid);
  EXPECT_EQ(to_reason_code(e::topic_filter_invalid), reason_code::topic_filter_invalid);
  EXPECT_EQ(to_reason_code(e::shared_subscription_invalid), reason_code::topic_filter_invalid);
  EXPECT_EQ(to_reason_code(e::topic_name_invalid), reason_code::topic_name_invalid);
  EXPECT_EQ(to_reason_code(e::topic_alias_invalid), reason_code::topic_alias_invalid);
  EXPECT_EQ(static_cast<int>(to_reason_code(e::topic_alias_invalid)), 0x94);
}

TEST(MqttErrc, V311ConnackCodes) {
  EXPECT_EQ(v3_connack_code(e::unsupported_protocol_version),
            connect_return_code::unacceptable_protocol_version);
  EXPECT_EQ(v3_connack_code(e::client_id_invalid), connect_return_code::identifier_rejected);
  for (int v = first_errc; v <= last_errc; ++v) {
    const auto err = static_cast<e>(v);
    if (err != e::unsupported_protocol_version && err != e::client_id_invalid) {
      EXPECT_FALSE(v3_connack_code(err)) << describe(err);
    }
  }
}

TEST(MqttErrc, ResponsesAlwaysCarryACodeTheirPacketAllows) {
  for (int v = first_errc; v <= last_errc; ++v) {
    const auto err = static_cast<e>(v);
    for (unsigned t = 1; t <= 15; ++t) {
      for (const auto version : {v3_1_1, v5}) {
        for (const auto from : {sender::client, sender::server, sender::either}) {
          const auto r = response_to(err, static_cast<packet_type>(t), version, from);
          if (r.action == error_action::send_connack && r.version == v5) {
            EXPECT_TRUE(reason_code_allowed(packet_type::connack, r.reason)) << describe(err);
          }
          if (r.action == error_action::send_disconnect) {
            EXPECT_EQ(r.version, v5);
            EXPECT_TRUE(reason_code_allowed(packet_type::disconnect, r.reason)) << describe(err);
          }
          if (r.action == error_action::send_connack && r.version == v3_1_1) {
            EXPECT_NE(to_connect_return_code(r.reason), connect_return_code::accepted);
          }
        }
      }
    }
  }
}

TEST(Section_4_13_ErrorResponses, ServerSide) {
  using enum error_action;
  const auto server = sender::client; // bytes from a client: we are the server
  // v5 CONNECT: CONNACK with the reason code.
  EXPECT_EQ(response_to(e::topic_name_invalid, packet_type::connect, v5, server),
            (error_response{send_connack, v5, reason_code::topic_name_invalid}));
  EXPECT_EQ(response_to(e::truncated, packet_type::connect, v5, server),
            (error_response{send_connack, v5, reason_code::malformed_packet}));
  // 3.1.1 CONNECT: CONNACK only for 0x01 and 0x02, otherwise close.
  EXPECT_EQ(response_to(e::client_id_invalid, packet_type::connect, v3_1_1, server),
            (error_response{send_connack, v3_1_1, reason_code::client_identifier_not_valid}));
  EXPECT_EQ(response_to(e::truncated, packet_type::connect, v3_1_1, server), error_response{});
  // Unknown level: 3.1.1-form CONNACK 0x01 [MQTT-3.1.2-2].
  EXPECT_EQ(
      response_to(e::unsupported_protocol_version, packet_type::connect, std::nullopt, server),
      (error_response{send_connack, v3_1_1, reason_code::unsupported_protocol_version}));
  // No MQTT peer yet: just close.
  EXPECT_EQ(response_to(e::invalid_protocol_name, packet_type::connect, std::nullopt, server),
            error_response{});
  EXPECT_EQ(response_to(e::expected_connect, packet_type::publish, std::nullopt, server),
            error_response{});
  EXPECT_EQ(response_to(e::packet_too_large, packet_type::connect, std::nullopt, server),
            error_response{});
  // After CONNECT: DISCONNECT in v5, close in 3.1.1.
  EXPECT_EQ(response_to(e::topic_filter_invalid, packet_type::subscribe, v5, server),
            (error_response{send_disconnect, v5, reason_code::topic_filter_invalid}));
  EXPECT_EQ(response_to(e::topic_alias_invalid, packet_type::publish, v5, server),
            (error_response{send_disconnect, v5, reason_code::topic_alias_invalid}));
  EXPECT_EQ(response_to(e::topic_filter_invalid, packet_type::subscribe, v3_1_1, server),
            error_response{});
}

TEST(Section_4_13_ErrorResponses, ClientSide) {
  using enum error_action;
  const auto client = sender::server; // bytes from a server: we are the client
  EXPECT_EQ(response_to(e::invalid_reason_code, packet_type::connack, v5, client),
            (error_response{send_disconnect, v5, reason_code::protocol_error}));
  EXPECT_EQ(response_to(e::truncated, packet_type::suback, v5, client),
            (error_response{send_disconnect, v5, reason_code::malformed_packet}));
  EXPECT_EQ(response_to(e::truncated, packet_type::suback, v3_1_1, client), error_response{});
}

TEST(Section_4_13_ErrorResponses, FrameDecoderReportsThem) {
  // A v5 CONNECT with a wildcard Will Topic, before the version was known.
  const bytes bad_will = frame(0x10, "0004 4d515454 05 06 003c 00 0001 61 00 0003 612f23 0000");
  auto r = feed(bad_will, options_for(std::nullopt, sender::client));
  ASSERT_EQ(r.error, e::topic_name_invalid);
  EXPECT_EQ(r.failure->during, packet_type::connect);
  EXPECT_EQ(r.failure->version, v5);
  EXPECT_EQ(r.failure->response,
            (error_response{error_action::send_connack, v5, reason_code::topic_name_invalid}));

  // A 3.1.1 CONNECT with an empty client id and Clean Session 0: CONNACK 0x02.
  auto v3 = feed(frame(0x10, "0004 4d515454 04 00 003c 0000"), options_for(std::nullopt));
  ASSERT_EQ(v3.error, e::client_id_invalid);
  EXPECT_EQ(v3.failure->response.action, error_action::send_connack);
  EXPECT_EQ(v3.failure->response.version, v3_1_1);
  EXPECT_EQ(to_connect_return_code(v3.failure->response.reason),
            connect_return_code::identifier_rejected);

  // Level 6: CONNACK 0x01 in 3.1.1 form.
  auto level = feed(frame(0x10, "0004 4d515454 06 02 003c 0001 61"), options_for(std::nullopt));
  ASSERT_EQ(level.error, e::unsupported_protocol_version);
  EXPECT_EQ(to_connect_return_code(level.failure->response.reason),
            connect_return_code::unacceptable_protocol_version);
  EXPECT_EQ(level.failure->response.version, v3_1_1);

  // After a v5 CONNECT, a malformed PUBLISH: DISCONNECT 0x81.
  bytes stream = frame(0x10, "0004 4d515454 05 02 003c 00 0001 61");
  const bytes bad_publish = frame(0x30, "0005 61");
  stream.insert(stream.end(), bad_publish.begin(), bad_publish.end());
  auto after = feed(stream, options_for(std::nullopt, sender::client));
  ASSERT_EQ(after.error, e::truncated);
  ASSERT_EQ(after.packets.size(), 1U);
  EXPECT_EQ(after.failure->during, packet_type::publish);
  EXPECT_EQ(after.failure->response,
            (error_response{error_action::send_disconnect, v5, reason_code::malformed_packet}));
}

TEST(ReasonCodes, AllowedTableSpotChecks) {
  EXPECT_TRUE(reason_code_allowed(packet_type::connack, reason_code::banned));
  EXPECT_FALSE(reason_code_allowed(packet_type::connack, reason_code::topic_filter_invalid));
  EXPECT_TRUE(reason_code_allowed(packet_type::puback, reason_code::payload_format_invalid));
  EXPECT_FALSE(reason_code_allowed(packet_type::puback, reason_code::packet_identifier_not_found));
  EXPECT_TRUE(reason_code_allowed(packet_type::pubrel, reason_code::packet_identifier_not_found));
  EXPECT_TRUE(reason_code_allowed(packet_type::suback, reason_code::granted_qos_2));
  EXPECT_TRUE(reason_code_allowed(packet_type::unsuback, reason_code::no_subscription_existed));
  EXPECT_TRUE(reason_code_allowed(packet_type::disconnect, reason_code::session_taken_over));
  EXPECT_FALSE(reason_code_allowed(packet_type::disconnect, reason_code::banned));
  EXPECT_TRUE(reason_code_allowed(packet_type::auth, reason_code::re_authenticate));
  EXPECT_FALSE(reason_code_allowed(packet_type::publish, reason_code::success));
}

TEST(ReasonCodes, CountPerPacketMatchesSection2_4) {
  auto count = [](packet_type t) {
    int n = 0;
    for (unsigned c = 0; c < 256; ++c) {
      n += reason_code_allowed(t, static_cast<reason_code>(c)) ? 1 : 0;
    }
    return n;
  };
  EXPECT_EQ(count(packet_type::connack), 22);
  EXPECT_EQ(count(packet_type::puback), 9);
  EXPECT_EQ(count(packet_type::pubrec), 9);
  EXPECT_EQ(count(packet_type::pubrel), 2);
  EXPECT_EQ(count(packet_type::pubcomp), 2);
  EXPECT_EQ(count(packet_type::suback), 12);
  EXPECT_EQ(count(packet_type::unsuback), 7);
  EXPECT_EQ(count(packet_type::disconnect), 30);
  EXPECT_EQ(count(packet_type::auth), 3);
}

TEST(ConnectReturnCode, RoundTripsTheSixV311Codes) {
  for (std::uint8_t c = 0; c <= 5; ++c) {
    const auto reason = from_connect_return_code(c);
    ASSERT_TRUE(reason);
    EXPECT_EQ(static_cast<std::uint8_t>(to_connect_return_code(*reason)), c);
  }
  EXPECT_FALSE(from_connect_return_code(6));
  EXPECT_EQ(to_connect_return_code(reason_code::banned), connect_return_code::not_authorized);
  EXPECT_EQ(to_connect_return_code(reason_code::server_busy),
            connect_return_code::server_unavailable);
}

} // namespace
} // namespace aegis::mqtt::test
