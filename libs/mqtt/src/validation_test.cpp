// One test per normative rule the decoder enforces: the bad bytes go in, the exact error comes
// out, from decode() and from the frame_decoder fed whole and byte by byte (decode_error checks
// all three agree). Suite names: MQTT_x_y_z_n is the normative statement [MQTT-x.y.z-n] (v5
// numbering unless the name says V311); Section_x_y_z is a section that states the rule
// without a statement number.

#include "test_support.hpp"

#include <gtest/gtest.h>

namespace aegis::mqtt::test {
namespace {

using enum protocol_version;
using e = mqtt_errc;

bytes connect_v5(std::string_view flags, std::string_view props, std::string_view payload) {
  return frame(0x10, std::string("0004 4d515454 05") + std::string(flags) + "003c" +
                         std::string(props) + std::string(payload));
}
bytes connect_v3(std::string_view flags, std::string_view payload) {
  return frame(0x10, std::string("0004 4d515454 04") + std::string(flags) + "003c" +
                         std::string(payload));
}

std::optional<mqtt_errc> error_of(const bytes& wire, std::optional<protocol_version> version,
                                  sender from = sender::either) {
  return decode_error(wire, options_for(version, from));
}

template <class P>
P decoded_as(const bytes& wire, std::optional<protocol_version> version,
             sender from = sender::either) {
  auto r = decode(wire, options_for(version, from));
  EXPECT_TRUE(r) << r.error().message();
  if (!r || !std::holds_alternative<P>(*r)) {
    ADD_FAILURE() << "wrong packet type";
    return P{};
  }
  return std::get<P>(*r);
}

// ------------------------------------------------------------------ fixed header (§2.1, §2.2)

TEST(MQTT_2_1_3_1_ReservedFlags, EveryWrongFlagValueOfEveryNonPublishPacket) {
  int checked = 0;
  for (const auto& c : vectors()) {
    if (std::holds_alternative<publish>(c.value)) {
      continue;
    }
    for (unsigned flags = 0; flags < 16; ++flags) {
      bytes wire = c.wire;
      const unsigned right = wire[0] & 0x0FU;
      if (flags == right) {
        continue;
      }
      wire[0] = static_cast<std::uint8_t>((wire[0] & 0xF0U) | flags);
      EXPECT_EQ(error_of(wire, c.version), e::invalid_flags) << c.name << " flags " << flags;
      ++checked;
    }
  }
  EXPECT_GT(checked, 400);
}

TEST(MQTT_2_1_3_1_ReservedFlags, PubrelSubscribeUnsubscribeNeedBit1) {
  EXPECT_EQ(error_of(hex("60 02 00 0a"), v5), e::invalid_flags);
  EXPECT_EQ(error_of(hex("80 06 00 0a 00 01 61 00"), v3_1_1), e::invalid_flags);
  EXPECT_EQ(error_of(hex("a0 05 00 0a 00 01 61"), v3_1_1), e::invalid_flags);
}

TEST(Section_2_1_2_ReservedPacketType, TypeZeroInBothVersions) {
  EXPECT_EQ(error_of(hex("00 00"), v3_1_1), e::reserved_packet_type);
  EXPECT_EQ(error_of(hex("00 00"), v5), e::reserved_packet_type);
}

TEST(Section_2_1_2_ReservedPacketType, AuthIsReservedIn311) {
  EXPECT_EQ(error_of(hex("f0 00"), v3_1_1), e::reserved_packet_type);
  EXPECT_FALSE(error_of(hex("f0 00"), v5));
}

TEST(MQTT_3_3_1_4_PublishQoS3, IsMalformed) {
  EXPECT_EQ(error_of(hex("36 05 00 01 74 00 01"), v3_1_1), e::invalid_qos);
  EXPECT_EQ(error_of(hex("36 06 00 01 74 00 01 00"), v5), e::invalid_qos);
}

TEST(MQTT_3_3_1_2_DupOnQoS0, IsRefused) {
  EXPECT_EQ(error_of(hex("38 03 00 01 74"), v3_1_1), e::dup_with_qos0);
  EXPECT_EQ(error_of(hex("38 04 00 01 74 00"), v5), e::dup_with_qos0);
}

TEST(MQTT_1_5_5_1_RemainingLength, FiveBytesIsTooLong) {
  EXPECT_EQ(error_of(hex("30 80 80 80 80 01"), v5), e::variable_byte_integer_too_long);
  EXPECT_EQ(error_of(hex("c0 ff ff ff ff 7f"), v3_1_1), e::variable_byte_integer_too_long);
}

TEST(MQTT_1_5_5_1_RemainingLength, NonMinimalEncodingsAreRefused) {
  EXPECT_EQ(error_of(hex("c0 80 00"), v3_1_1), e::variable_byte_integer_not_minimal);
  EXPECT_EQ(error_of(hex("e0 80 80 00"), v5), e::variable_byte_integer_not_minimal);
  EXPECT_EQ(error_of(hex("40 82 00 00 0a"), v5), e::variable_byte_integer_not_minimal);
}

TEST(MQTT_1_5_5_1_RemainingLength, FourByteMaximumIsAccepted) {
  // 268,435,455 = ff ff ff 7f: the header is fine, so the decoder just waits for the body.
  frame_decoder decoder(options_for(v5));
  bytes header = hex("30 ff ff ff 7f");
  bytes_view input = header;
  auto r = decoder.next(input);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->has_value());
  EXPECT_EQ(decoder.buffered(), 5U);
}

TEST(Section_3_2_2_3_6_MaximumPacketSize, RefusedFromTheFixedHeaderAlone) {
  decoder_options options = options_for(v5);
  options.maximum_packet_size = 100;
  frame_decoder decoder(options);
  // 1 + 1 + 99 = 101 bytes: refused before any of the body arrives.
  bytes header = hex("30 63");
  bytes_view input = header;
  auto r = decoder.next(input);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), e::packet_too_large);
  EXPECT_EQ(decoder.failure()->response.action, error_action::send_disconnect);
  EXPECT_EQ(decoder.failure()->response.reason, reason_code::packet_too_large);
}

TEST(Section_3_2_2_3_6_MaximumPacketSize, LimitCountsTheWholePacket) {
  decoder_options options = options_for(v3_1_1);
  options.maximum_packet_size = 12;
  // 12 bytes exactly: accepted; 13: refused.
  EXPECT_FALSE(decode_error(hex("30 0a 00 03 61 2f 62 68 65 6c 6c 6f"), options));
  EXPECT_EQ(decode_error(hex("30 0b 00 03 61 2f 62 68 65 6c 6c 6f 21"), options),
            e::packet_too_large);
}

// ------------------------------------------------------------------ UTF-8 strings (§1.5.4)

TEST(MQTT_1_5_4_1_IllFormedUtf8, InTopicName) {
  EXPECT_EQ(error_of(frame(0x30, "0002 c080"), v3_1_1), e::invalid_utf8); // overlong NUL
  EXPECT_EQ(error_of(frame(0x30, "0001 ff 00"), v5), e::invalid_utf8);
  EXPECT_EQ(error_of(frame(0x30, "0002 e282"), v3_1_1), e::invalid_utf8); // truncated sequence
}

TEST(MQTT_1_5_4_1_Surrogates, AreRefused) {
  EXPECT_EQ(error_of(frame(0x30, "0003 eda080"), v3_1_1), e::utf8_surrogate); // U+D800
  EXPECT_EQ(error_of(frame(0x30, "0003 edbfbf 00"), v5), e::utf8_surrogate);  // U+DFFF
}

TEST(MQTT_1_5_4_2_NullCharacter, IsRefused) {
  EXPECT_EQ(error_of(frame(0x30, "0003 610062"), v3_1_1), e::utf8_null_character);
  EXPECT_EQ(error_of(connect_v3("02", "0003 610062"), v3_1_1), e::utf8_null_character);
  EXPECT_EQ(error_of(connect_v5("82", "00", "0001 61 0001 00"), v5), e::utf8_null_character);
}

TEST(MQTT_1_5_4_1_IllFormedUtf8, InEveryStringField) {
  // Client identifier, user name, will topic, user property name and value, reason string.
  EXPECT_EQ(error_of(connect_v5("02", "00", "0001 ff"), v5), e::invalid_utf8);
  EXPECT_EQ(error_of(connect_v3("82", "0001 61 0001 c1"), v3_1_1), e::invalid_utf8);
  EXPECT_EQ(error_of(connect_v3("06", "0001 61 0002 c0af 0000"), v3_1_1), e::invalid_utf8);
  EXPECT_EQ(error_of(frame(0x30, "0001 74 07 26 0001 ff 0001 61"), v5), e::invalid_utf8);
  EXPECT_EQ(error_of(frame(0x30, "0001 74 07 26 0001 61 0001 ff"), v5), e::invalid_utf8);
  EXPECT_EQ(error_of(frame(0x40, "000a 80 04 1f 0001 ff"), v5), e::invalid_utf8);
}

TEST(Section_1_5_4_ControlCharacters, AreOnlyShouldNotAndPass) {
  const auto p = decoded_as<publish>(frame(0x30, "0003 61017f"), v3_1_1);
  EXPECT_EQ(p.topic, std::string("a\x01\x7f"));
}

TEST(MQTT_1_5_4_3_ByteOrderMark, IsKeptNotSkipped) {
  const auto p = decoded_as<publish>(frame(0x30, "0004 efbbbf61"), v3_1_1);
  EXPECT_EQ(p.topic, std::string("\xef\xbb\xbf"
                                 "a"));
}

// ------------------------------------------------------------------ properties (§2.2.2)

TEST(Section_2_2_2_2_PropertyNotAllowed, SessionExpiryInPublish) {
  EXPECT_EQ(error_of(frame(0x30, "0001 74 05 11 0000000a"), v5), e::property_not_allowed);
}

TEST(Section_2_2_2_2_PropertyNotAllowed, WillDelayOutsideWillProperties) {
  EXPECT_EQ(error_of(connect_v5("02", "05 18 00000005", "0001 61"), v5), e::property_not_allowed);
}

TEST(Section_2_2_2_2_PropertyNotAllowed, SessionExpiryInWillProperties) {
  EXPECT_EQ(error_of(connect_v5("06", "00", "0001 61 05 11 00000005 0001 74 0000"), v5),
            e::property_not_allowed);
}

TEST(Section_2_2_2_2_UnknownProperty, IsMalformed) {
  EXPECT_EQ(error_of(frame(0x30, "0001 74 02 7f 00"), v5), e::unknown_property);
  EXPECT_EQ(error_of(frame(0x30, "0001 74 02 00 00"), v5), e::unknown_property);
  EXPECT_EQ(error_of(frame(0x30, "0001 74 03 80 01 00"), v5), e::unknown_property); // 128
}

TEST(Section_2_2_2_2_PropertyIdentifier, IsAMinimalVariableByteInteger) {
  EXPECT_EQ(error_of(frame(0x30, "0001 74 03 81 00 00"), v5), e::variable_byte_integer_not_minimal);
}

TEST(Section_2_2_2_2_DuplicateProperty, IsAProtocolError) {
  EXPECT_EQ(error_of(frame(0x30, "0001 74 0a 02 0000003c 02 0000003c"), v5), e::duplicate_property);
  EXPECT_EQ(error_of(frame(0x82, "000a 04 0b 01 0b 02 0001 61 00"), v5), e::duplicate_property);
  EXPECT_EQ(error_of(connect_v5("02", "06 21 0001 21 0001", "0001 61"), v5), e::duplicate_property);
  EXPECT_EQ(error_of(frame(0xf0, "18 10 15 0001 61 15 0001 62 1f 0001 78 1f 0001 79"), v5),
            e::duplicate_property);
}

TEST(Section_2_2_2_2_RepeatableProperties, UserPropertiesAndPublishSubscriptionIds) {
  const auto p = decoded_as<publish>(
      frame(0x30, "0001 74 12 26 0001 61 0001 62 26 0001 61 0001 63 0b 01 0b 01"), v5);
  ASSERT_EQ(p.properties.user_properties.size(), 2U);
  EXPECT_EQ(p.properties.user_properties[1].value, "c");
  EXPECT_EQ(p.properties.subscription_identifiers, (std::vector<std::uint32_t>{1, 1}));
}

TEST(Section_2_2_2_1_PropertyLength, OverrunningThePacketIsTruncated) {
  EXPECT_EQ(error_of(frame(0x30, "0001 74 05 02 0000"), v5), e::truncated);
  EXPECT_EQ(error_of(frame(0x30, "0001 74 02 02 00"), v5), e::truncated); // value cut by length
  EXPECT_EQ(error_of(frame(0x30, "0001 74 80 80 80 80 01"), v5), e::variable_byte_integer_too_long);
}

TEST(Section_3_1_2_11_PropertyValues, OutOfRangeValuesAreProtocolErrors) {
  EXPECT_EQ(error_of(connect_v5("02", "03 21 0000", "0001 61"), v5), e::invalid_property_value);
  EXPECT_EQ(error_of(connect_v5("02", "05 27 00000000", "0001 61"), v5), e::invalid_property_value);
  EXPECT_EQ(error_of(connect_v5("02", "02 17 02", "0001 61"), v5), e::invalid_property_value);
  EXPECT_EQ(error_of(connect_v5("02", "02 19 ff", "0001 61"), v5), e::invalid_property_value);
  EXPECT_EQ(error_of(frame(0x30, "0001 74 02 01 02"), v5), e::invalid_property_value);
  EXPECT_EQ(error_of(frame(0x20, "00 00 02 24 02"), v5), e::invalid_property_value); // Max QoS 2
  EXPECT_EQ(error_of(frame(0x20, "00 00 02 25 02"), v5), e::invalid_property_value);
  EXPECT_EQ(error_of(frame(0x20, "00 00 02 28 02"), v5), e::invalid_property_value);
  EXPECT_EQ(error_of(frame(0x20, "00 00 02 29 02"), v5), e::invalid_property_value);
  EXPECT_EQ(error_of(frame(0x20, "00 00 02 2a 02"), v5), e::invalid_property_value);
  EXPECT_EQ(error_of(frame(0x20, "00 00 03 21 0000"), v5), e::invalid_property_value);
}

TEST(Section_3_8_2_1_2_SubscriptionIdentifier, ZeroIsAProtocolError) {
  EXPECT_EQ(error_of(frame(0x82, "000a 02 0b 00 0001 61 00"), v5), e::invalid_property_value);
  EXPECT_EQ(error_of(frame(0x30, "0001 74 02 0b 00"), v5, sender::server),
            e::invalid_property_value);
}

TEST(MQTT_3_3_2_14_ResponseTopic, MustNotContainWildcards) {
  EXPECT_EQ(error_of(frame(0x30, "0001 74 06 08 0003 612f23"), v5), e::invalid_property_value);
  EXPECT_EQ(error_of(frame(0x30, "0001 74 03 08 0000"), v5), e::invalid_property_value);
}

TEST(MQTT_3_3_4_6_SubscriptionIdentifierFromClient, IsRefused) {
  const bytes wire = frame(0x30, "0001 74 02 0b 01");
  EXPECT_EQ(error_of(wire, v5, sender::client), e::property_wrong_direction);
  EXPECT_FALSE(error_of(wire, v5, sender::server));
}

TEST(MQTT_3_14_2_2_SessionExpiryInServerDisconnect, IsRefused) {
  const bytes wire = frame(0xe0, "00 05 11 00000000");
  EXPECT_EQ(error_of(wire, v5, sender::server), e::property_wrong_direction);
  EXPECT_FALSE(error_of(wire, v5, sender::client));
}

// ------------------------------------------------------------------ packet identifiers

TEST(MQTT_2_2_1_3_PacketIdentifier, MustBeNonZero) {
  EXPECT_EQ(error_of(frame(0x32, "0001 74 0000"), v3_1_1), e::packet_identifier_zero);
  EXPECT_EQ(error_of(frame(0x34, "0001 74 0000 00"), v5), e::packet_identifier_zero);
  EXPECT_EQ(error_of(frame(0x82, "0000 0001 61 00"), v3_1_1), e::packet_identifier_zero);
  EXPECT_EQ(error_of(frame(0xa2, "0000 00 0001 61"), v5), e::packet_identifier_zero);
  EXPECT_EQ(error_of(hex("40 02 00 00"), v3_1_1), e::packet_identifier_zero);
  EXPECT_EQ(error_of(hex("50 02 00 00"), v5), e::packet_identifier_zero);
  EXPECT_EQ(error_of(hex("62 02 00 00"), v5), e::packet_identifier_zero);
  EXPECT_EQ(error_of(hex("70 02 00 00"), v3_1_1), e::packet_identifier_zero);
  EXPECT_EQ(error_of(hex("90 03 00 00 00"), v3_1_1), e::packet_identifier_zero);
  EXPECT_EQ(error_of(hex("b0 02 00 00"), v3_1_1), e::packet_identifier_zero);
}

TEST(MQTT_2_2_1_2_PacketIdentifier, AbsentOnQoS0) {
  // A QoS 0 PUBLISH has no identifier: 00 0a here is payload, not an identifier.
  const auto p = decoded_as<publish>(frame(0x30, "0001 74 000a"), v3_1_1);
  EXPECT_EQ(p.packet_id, 0);
  EXPECT_EQ(p.payload, (bytes{0x00, 0x0a}));
}

// ------------------------------------------------------------------ CONNECT (§3.1)

TEST(MQTT_3_1_0_1_FirstPacket, MustBeConnect) {
  EXPECT_EQ(error_of(hex("c0 00"), std::nullopt), e::expected_connect);
  EXPECT_EQ(error_of(hex("30 03 00 01 74"), std::nullopt), e::expected_connect);
  EXPECT_EQ(error_of(hex("f0 00"), std::nullopt), e::expected_connect);
}

TEST(MQTT_3_1_2_1_ProtocolName, MustBeMQTT) {
  EXPECT_EQ(error_of(frame(0x10, "0004 4d515458 04 02 003c 0001 61"), std::nullopt),
            e::invalid_protocol_name);
  EXPECT_EQ(error_of(frame(0x10, "0004 6d717474 05 02 003c 00 0001 61"), std::nullopt),
            e::invalid_protocol_name);
}

TEST(MQTT_3_1_2_2_ProtocolLevel, UnsupportedLevels) {
  EXPECT_EQ(error_of(frame(0x10, "0004 4d515454 06 02 003c 0001 61"), std::nullopt),
            e::unsupported_protocol_version);
  EXPECT_EQ(error_of(frame(0x10, "0004 4d515454 03 02 003c 0001 61"), std::nullopt),
            e::unsupported_protocol_version);
  // MQTT 3.1 ("MQIsdp", level 3) is recognised and declined.
  EXPECT_EQ(error_of(frame(0x10, "0006 4d5149736470 03 02 003c 0001 61"), std::nullopt),
            e::unsupported_protocol_version);
}

TEST(MQTT_3_1_2_2_ProtocolLevel, SetsTheDecodedVersion) {
  EXPECT_EQ(decoded_as<connect>(connect_v3("02", "0001 61"), std::nullopt).version, v3_1_1);
  EXPECT_EQ(decoded_as<connect>(connect_v5("02", "00", "0001 61"), std::nullopt).version, v5);
}

TEST(MQTT_3_1_2_3_ReservedFlag, MustBeZero) {
  EXPECT_EQ(error_of(connect_v3("03", "0001 61"), std::nullopt), e::connect_reserved_flag);
  EXPECT_EQ(error_of(connect_v5("01", "00", "0001 61"), std::nullopt), e::connect_reserved_flag);
}

TEST(MQTT_3_1_2_11_WillQoSWithoutWillFlag, IsRefused) {
  EXPECT_EQ(error_of(connect_v3("0a", "0001 61"), v3_1_1), e::will_flags_without_will);
  EXPECT_EQ(error_of(connect_v5("12", "00", "0001 61"), v5), e::will_flags_without_will);
}

TEST(MQTT_3_1_2_13_WillRetainWithoutWillFlag, IsRefused) {
  EXPECT_EQ(error_of(connect_v3("22", "0001 61"), v3_1_1), e::will_flags_without_will);
  EXPECT_EQ(error_of(connect_v5("22", "00", "0001 61"), v5), e::will_flags_without_will);
}

TEST(MQTT_3_1_2_14_V311_WillQoS3, IsMalformed) {
  EXPECT_EQ(error_of(connect_v3("1e", "0001 61 0001 74 0000"), v3_1_1), e::invalid_qos);
  EXPECT_EQ(error_of(connect_v5("1e", "00", "0001 61 00 0001 74 0000"), v5), e::invalid_qos);
}

TEST(MQTT_3_1_2_22_V311_PasswordWithoutUserName, IsRefusedIn311Only) {
  EXPECT_EQ(error_of(connect_v3("42", "0001 61 0002 7077"), v3_1_1), e::password_without_username);
  const auto c = decoded_as<connect>(connect_v5("42", "00", "0001 61 0002 7077"), v5);
  EXPECT_FALSE(c.username);
  EXPECT_EQ(c.password, to_bytes("pw"));
}

TEST(MQTT_3_1_3_8_V311_EmptyClientId, NeedsCleanSession) {
  EXPECT_EQ(error_of(connect_v3("00", "0000"), v3_1_1), e::client_id_invalid);
  EXPECT_TRUE(decoded_as<connect>(connect_v3("02", "0000"), v3_1_1).client_id.empty());
  // v5 lets the server assign one whatever Clean Start says (§3.1.3.1).
  EXPECT_FALSE(decoded_as<connect>(connect_v5("00", "00", "0000"), v5).clean_start);
}

TEST(MQTT_3_1_3_11_WillTopic, IsATopicName) {
  EXPECT_EQ(error_of(connect_v3("06", "0001 61 0003 612f23 0000"), v3_1_1), e::topic_name_invalid);
  EXPECT_EQ(error_of(connect_v5("06", "00", "0001 61 00 0001 2b 0000"), v5), e::topic_name_invalid);
  EXPECT_EQ(error_of(connect_v3("06", "0001 61 0000 0000"), v3_1_1), e::topic_name_invalid);
}

TEST(Section_3_1_3_WillPayload, IsBinaryAndMayBeEmpty) {
  const auto c = decoded_as<connect>(connect_v3("2e", "0001 61 0001 74 0003 00ff01"), v3_1_1);
  ASSERT_TRUE(c.will);
  EXPECT_EQ(c.will->qos, qos::at_least_once);
  EXPECT_TRUE(c.will->retain);
  EXPECT_EQ(c.will->payload, (bytes{0x00, 0xff, 0x01}));
}

TEST(Section_3_1_2_11_10_AuthenticationData, NeedsAMethod) {
  EXPECT_EQ(error_of(connect_v5("02", "04 16 0001 01", "0001 61"), v5),
            e::missing_authentication_method);
}

TEST(Section_3_1_3_FlagsAndPayload, MustAgree) {
  EXPECT_EQ(error_of(connect_v3("82", "0001 61"), v3_1_1), e::truncated); // user name missing
  EXPECT_EQ(error_of(connect_v3("06", "0001 61 0001 74"), v3_1_1), e::truncated);
  EXPECT_EQ(error_of(connect_v3("02", "0001 61 0001 62"), v3_1_1), e::trailing_bytes);
}

TEST(Section_3_1_3_2_3_WillPayloadFormat, WillPayloadMarkedUtf8MustBe) {
  EXPECT_EQ(error_of(connect_v5("06", "00", "0001 61 02 01 01 0001 74 0001 ff"), v5),
            e::payload_format_invalid);
  EXPECT_FALSE(error_of(connect_v5("06", "00", "0001 61 02 01 00 0001 74 0001 ff"), v5));
}

// ------------------------------------------------------------------ CONNACK (§3.2)

TEST(MQTT_3_2_2_1_ConnackReservedFlags, MustBeZero) {
  EXPECT_EQ(error_of(hex("20 02 02 00"), v3_1_1), e::connack_reserved_flags);
  EXPECT_EQ(error_of(hex("20 03 80 00 00"), v5), e::connack_reserved_flags);
}

TEST(MQTT_3_2_2_6_SessionPresent, NotWithARefusal) {
  EXPECT_EQ(error_of(hex("20 02 01 05"), v3_1_1), e::session_present_on_refusal);
  EXPECT_EQ(error_of(hex("20 03 01 87 00"), v5), e::session_present_on_refusal);
}

TEST(Section_3_2_2_3_ConnectReturnCode, OnlyDefinedValues) {
  EXPECT_EQ(error_of(hex("20 02 00 06"), v3_1_1), e::invalid_reason_code);
  EXPECT_EQ(error_of(hex("20 03 00 8b 00"), v5), e::invalid_reason_code); // DISCONNECT-only
  EXPECT_EQ(error_of(hex("20 03 00 01 00"), v5), e::invalid_reason_code);
}

TEST(Section_3_2_2_3_ConnectReturnCode, V311CodesMapToV5ReasonCodes) {
  EXPECT_EQ(decoded_as<connack>(hex("20 02 00 01"), v3_1_1).reason,
            reason_code::unsupported_protocol_version);
  EXPECT_EQ(decoded_as<connack>(hex("20 02 00 03"), v3_1_1).reason,
            reason_code::server_unavailable);
  EXPECT_EQ(decoded_as<connack>(hex("20 02 00 04"), v3_1_1).reason,
            reason_code::bad_user_name_or_password);
}

// ------------------------------------------------------------------ PUBLISH (§3.3)

TEST(MQTT_3_3_2_2_TopicName, MustNotContainWildcards) {
  EXPECT_EQ(error_of(frame(0x30, "0003 612f2b"), v3_1_1), e::topic_name_invalid);
  EXPECT_EQ(error_of(frame(0x30, "0001 23 00"), v5), e::topic_name_invalid);
  EXPECT_EQ(error_of(frame(0x30, "0003 61232f"), v5), e::topic_name_invalid);
}

TEST(MQTT_4_7_3_1_TopicName, EmptyIsInvalidIn311) {
  EXPECT_EQ(error_of(frame(0x30, "0000 6869"), v3_1_1), e::topic_name_invalid);
}

TEST(Section_3_3_2_1_TopicName, EmptyNeedsATopicAliasInV5) {
  EXPECT_EQ(error_of(frame(0x30, "0000 00 6869"), v5), e::topic_name_missing);
  EXPECT_EQ(decoded_as<publish>(frame(0x30, "0000 03 230001 6869"), v5).properties.topic_alias,
            std::uint16_t{1});
}

TEST(MQTT_3_3_2_8_TopicAlias, ZeroIsInvalid) {
  EXPECT_EQ(error_of(frame(0x30, "0001 74 03 23 0000"), v5), e::topic_alias_invalid);
}

TEST(Section_3_3_2_3_2_PayloadFormatIndicator, Utf8PayloadIsChecked) {
  EXPECT_EQ(error_of(frame(0x30, "0001 74 02 01 01 ff"), v5), e::payload_format_invalid);
  EXPECT_EQ(error_of(frame(0x30, "0001 74 02 01 01 eda080"), v5), e::payload_format_invalid);
  // U+0000 is well-formed UTF-8; only MQTT strings exclude it.
  EXPECT_FALSE(error_of(frame(0x30, "0001 74 02 01 01 00"), v5));
  EXPECT_FALSE(error_of(frame(0x30, "0001 74 02 01 00 ff"), v5));
  decoder_options lax = options_for(v5);
  lax.validate_payload_format = false;
  EXPECT_FALSE(decode_error(frame(0x30, "0001 74 02 01 01 ff"), lax));
}

TEST(Section_3_3_2_PublishVariableHeader, TruncatedFields) {
  EXPECT_EQ(error_of(frame(0x30, "00"), v3_1_1), e::truncated);
  EXPECT_EQ(error_of(frame(0x30, "0005 6162"), v3_1_1), e::truncated);
  EXPECT_EQ(error_of(frame(0x32, "0001 74 00"), v3_1_1), e::truncated);
  EXPECT_EQ(error_of(frame(0x30, "0001 74"), v5), e::truncated); // no Property Length
}

// ------------------------------------------------------------------ PUBACK..PUBCOMP

TEST(Section_3_4_2_1_PubackReasonCode, OnlyAllowedValues) {
  EXPECT_EQ(error_of(hex("40 03 00 0a 92"), v5), e::invalid_reason_code);
  EXPECT_EQ(error_of(hex("50 03 00 0a 04"), v5), e::invalid_reason_code);
  EXPECT_EQ(error_of(hex("62 03 00 0a 10"), v5), e::invalid_reason_code);
  EXPECT_EQ(error_of(hex("70 03 00 0a 80"), v5), e::invalid_reason_code);
}

TEST(Section_3_4_2_2_PubackProperties, ReasonStringAndUserPropertiesOnly) {
  EXPECT_EQ(error_of(hex("40 09 00 0a 00 05 02 00 00 00 01"), v5), e::property_not_allowed);
  const auto p = decoded_as<puback>(hex("40 0b 00 0a 00 07 26 00 01 6b 00 01 76"), v5);
  ASSERT_EQ(p.properties.user_properties.size(), 1U);
}

TEST(Section_3_4_V311_Puback, IsExactlyTwoBytes) {
  EXPECT_EQ(error_of(hex("40 03 00 0a 00"), v3_1_1), e::trailing_bytes);
  EXPECT_EQ(error_of(hex("40 01 00"), v3_1_1), e::truncated);
  EXPECT_EQ(error_of(hex("62 03 00 0a 00"), v3_1_1), e::trailing_bytes);
}

TEST(Section_3_4_2_1_PubackReasonCode, PropertiesAfterReasonAreOptional) {
  EXPECT_EQ(decoded_as<puback>(hex("40 03 00 0a 00"), v5), puback{.packet_id = 10});
  EXPECT_EQ(decoded_as<puback>(hex("40 04 00 0a 00 00"), v5), puback{.packet_id = 10});
}

// ------------------------------------------------------------------ SUBSCRIBE (§3.8)

TEST(MQTT_3_8_3_2_Subscribe, NeedsAtLeastOneFilter) {
  EXPECT_EQ(error_of(hex("82 02 00 0a"), v3_1_1), e::no_topic_filters);
  EXPECT_EQ(error_of(hex("82 03 00 0a 00"), v5), e::no_topic_filters);
}

TEST(MQTT_3_8_3_5_SubscriptionOptions, ReservedBitsMustBeZero) {
  EXPECT_EQ(error_of(frame(0x82, "000a 00 0001 61 40"), v5), e::subscription_options_reserved);
  EXPECT_EQ(error_of(frame(0x82, "000a 00 0001 61 80"), v5), e::subscription_options_reserved);
  // 3.1.1 [MQTT-3.8.3-4]: bits 7-2 are all reserved.
  EXPECT_EQ(error_of(frame(0x82, "000a 0001 61 04"), v3_1_1), e::subscription_options_reserved);
  EXPECT_EQ(error_of(frame(0x82, "000a 0001 61 21"), v3_1_1), e::subscription_options_reserved);
}

TEST(Section_3_8_3_1_SubscriptionOptions, QoS3IsAProtocolError) {
  EXPECT_EQ(error_of(frame(0x82, "000a 00 0001 61 03"), v5), e::subscription_qos_invalid);
  EXPECT_EQ(error_of(frame(0x82, "000a 0001 61 03"), v3_1_1), e::subscription_qos_invalid);
}

TEST(Section_3_8_3_1_SubscriptionOptions, RetainHandling3IsAProtocolError) {
  EXPECT_EQ(error_of(frame(0x82, "000a 00 0001 61 30"), v5), e::retain_handling_invalid);
}

TEST(Section_3_8_3_1_SubscriptionOptions, TruncatedOptionsByte) {
  EXPECT_EQ(error_of(frame(0x82, "000a 0001 61"), v3_1_1), e::truncated);
}

TEST(MQTT_4_7_1_1_MultiLevelWildcard, MustBeLastAndAlone) {
  EXPECT_EQ(error_of(frame(0x82, "000a 000d 73706f72742f74656e6e697323 00"), v3_1_1),
            e::topic_filter_invalid); // sport/tennis#
  EXPECT_EQ(error_of(frame(0x82, "000a 00 0005 612f232f62 00"), v5),
            e::topic_filter_invalid); // a/#/b
}

TEST(MQTT_4_7_1_2_SingleLevelWildcard, MustOccupyTheWholeLevel) {
  EXPECT_EQ(error_of(frame(0x82, "000a 0006 73706f72742b 00"), v3_1_1),
            e::topic_filter_invalid);                                                   // sport+
  EXPECT_EQ(error_of(frame(0xa2, "000a 00 0003 2b612f"), v5), e::topic_filter_invalid); // +a/
}

TEST(MQTT_4_7_3_1_TopicFilter, EmptyIsInvalid) {
  EXPECT_EQ(error_of(frame(0x82, "000a 0000 00"), v3_1_1), e::topic_filter_invalid);
  EXPECT_EQ(error_of(frame(0xa2, "000a 00 0000"), v5), e::topic_filter_invalid);
}

TEST(MQTT_4_8_2_1_SharedSubscription, ShareNameRules) {
  // $share//x: empty ShareName; $share/g: no filter; $share/g+/x, $share/#/x: wildcard name;
  // $share/g/: empty filter; $share/g/a+: bad filter.
  EXPECT_EQ(error_of(frame(0x82, "000a 00 0009 247368617265 2f2f78 00"), v5),
            e::shared_subscription_invalid);
  EXPECT_EQ(error_of(frame(0x82, "000a 00 0008 247368617265 2f67 00"), v5),
            e::shared_subscription_invalid);
  EXPECT_EQ(error_of(frame(0x82, "000a 00 000b 247368617265 2f672b2f78 00"), v5),
            e::shared_subscription_invalid);
  EXPECT_EQ(error_of(frame(0x82, "000a 00 000a 247368617265 2f232f78 00"), v5),
            e::shared_subscription_invalid);
  EXPECT_EQ(error_of(frame(0x82, "000a 00 0009 247368617265 2f672f 00"), v5),
            e::topic_filter_invalid);
  EXPECT_EQ(error_of(frame(0x82, "000a 00 000b 247368617265 2f672f612b 00"), v5),
            e::topic_filter_invalid);
  EXPECT_EQ(error_of(frame(0xa2, "000a 00 0009 247368617265 2f2f78"), v5),
            e::shared_subscription_invalid);
}

TEST(MQTT_4_8_2_1_SharedSubscription, HasNoMeaningIn311) {
  // "$share//x" is an ordinary (valid) filter in 3.1.1.
  EXPECT_FALSE(error_of(frame(0x82, "000a 0009 247368617265 2f2f78 00"), v3_1_1));
}

TEST(MQTT_3_8_3_4_NoLocal, NotOnSharedSubscriptions) {
  EXPECT_EQ(error_of(frame(0x82, "000a 00 000a 247368617265 2f672f78 05"), v5),
            e::no_local_on_shared_subscription);
  EXPECT_FALSE(error_of(frame(0x82, "000a 00 000a 247368617265 2f672f78 01"), v5));
  EXPECT_FALSE(error_of(frame(0x82, "000a 00 0001 78 05"), v5));
}

// ------------------------------------------------------------------ SUBACK (§3.9)

TEST(Section_3_9_3_SubackPayload, OneCodePerFilterAtLeastOne) {
  EXPECT_EQ(error_of(hex("90 02 00 0a"), v3_1_1), e::no_reason_codes);
  EXPECT_EQ(error_of(hex("90 03 00 0a 00"), v5), e::no_reason_codes);
}

TEST(Section_3_9_3_SubackPayload, OnlyAllowedCodes) {
  EXPECT_EQ(error_of(hex("90 03 00 0a 03"), v3_1_1), e::invalid_reason_code);
  EXPECT_EQ(error_of(hex("90 03 00 0a 87"), v3_1_1), e::invalid_reason_code); // v5-only code
  EXPECT_FALSE(error_of(hex("90 04 00 0a 00 87"), v5));
  EXPECT_EQ(error_of(hex("90 04 00 0a 00 04"), v5), e::invalid_reason_code);
}

// ------------------------------------------------------------------ UNSUBSCRIBE (§3.10, §3.11)

TEST(MQTT_3_10_3_2_Unsubscribe, NeedsAtLeastOneFilter) {
  EXPECT_EQ(error_of(hex("a2 02 00 0a"), v3_1_1), e::no_topic_filters);
  EXPECT_EQ(error_of(hex("a2 03 00 0a 00"), v5), e::no_topic_filters);
}

TEST(Section_3_11_3_UnsubackPayload, V5NeedsCodesV311HasNone) {
  EXPECT_EQ(error_of(hex("b0 03 00 0a 00"), v5), e::no_reason_codes);
  EXPECT_EQ(error_of(hex("b0 04 00 0a 00 8e"), v5), e::invalid_reason_code);
  EXPECT_EQ(error_of(hex("b0 03 00 0a 00"), v3_1_1), e::trailing_bytes);
}

// ------------------------------------------------------------------ PINGREQ, PINGRESP, DISCONNECT

TEST(Section_3_12_PingPackets, HaveNoBody) {
  EXPECT_EQ(error_of(hex("c0 01 00"), v3_1_1), e::trailing_bytes);
  EXPECT_EQ(error_of(hex("d0 01 00"), v5), e::trailing_bytes);
}

TEST(Section_3_14_Disconnect, V311HasNoBody) {
  EXPECT_EQ(error_of(hex("e0 01 00"), v3_1_1), e::trailing_bytes);
}

TEST(Section_3_14_2_1_DisconnectReasonCode, OnlyAllowedValues) {
  EXPECT_EQ(error_of(hex("e0 01 01"), v5), e::invalid_reason_code);
  EXPECT_EQ(error_of(hex("e0 01 84"), v5), e::invalid_reason_code); // CONNACK-only
}

// ------------------------------------------------------------------ AUTH (§3.15)

TEST(Section_3_15_2_1_AuthReasonCode, OnlyAllowedValues) {
  EXPECT_EQ(error_of(frame(0xf0, "87 04 15 0001 61"), v5), e::invalid_reason_code);
}

TEST(Section_3_15_2_2_2_AuthenticationMethod, RequiredWhenAReasonCodeIsSent) {
  EXPECT_EQ(error_of(hex("f0 01 18"), v5), e::missing_authentication_method);
  EXPECT_EQ(error_of(hex("f0 02 00 00"), v5), e::missing_authentication_method);
  EXPECT_EQ(error_of(frame(0xf0, "18 05 16 0002 0102"), v5), e::missing_authentication_method);
}

// ------------------------------------------------------------------ direction (who may send what)

TEST(Direction, ServerOnlyPacketsFromAClient) {
  for (const char* wire : {"20 02 00 00", "90 03 00 0a 00", "b0 02 00 0a", "d0 00"}) {
    EXPECT_EQ(error_of(hex(wire), v3_1_1, sender::client), e::unexpected_packet) << wire;
  }
}

TEST(Direction, ClientOnlyPacketsFromAServer) {
  EXPECT_EQ(error_of(connect_v3("02", "0001 61"), v3_1_1, sender::server), e::unexpected_packet);
  EXPECT_EQ(error_of(frame(0x82, "000a 0001 61 00"), v3_1_1, sender::server), e::unexpected_packet);
  EXPECT_EQ(error_of(frame(0xa2, "000a 0001 61"), v3_1_1, sender::server), e::unexpected_packet);
  EXPECT_EQ(error_of(hex("c0 00"), v5, sender::server), e::unexpected_packet);
  // A 3.1.1 server never sends DISCONNECT; a v5 one may.
  EXPECT_EQ(error_of(hex("e0 00"), v3_1_1, sender::server), e::unexpected_packet);
  EXPECT_FALSE(error_of(hex("e0 00"), v5, sender::server));
}

TEST(Direction, BothWaysPackets) {
  for (const auto from : {sender::client, sender::server}) {
    EXPECT_FALSE(error_of(hex("30 03 00 01 74"), v3_1_1, from));
    EXPECT_FALSE(error_of(hex("40 02 00 0a"), v3_1_1, from));
    EXPECT_FALSE(error_of(frame(0xf0, "18 04 15 0001 61"), v5, from));
  }
}

// ------------------------------------------------------------------ decode() framing

TEST(Section_2_2_3_RemainingLength, DecodeRefusesBytesAfterThePacket) {
  auto r = decode(hex("e0 00 00"), options_for(v3_1_1));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), e::trailing_bytes);
}

} // namespace
} // namespace aegis::mqtt::test
