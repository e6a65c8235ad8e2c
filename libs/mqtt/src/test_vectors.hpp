#pragma once

// Byte-exact packets for the unit tests and the fuzz seeds (seeds_test.cpp keeps
// fuzz/mqtt_decode_fuzz_seeds/ equal to these). Where the specs give an example, the vector is
// built around it and its name says where: "spec_3_8_3" is the SUBSCRIBE payload example of
// §3.8.3. Properties are listed in the order the encoder writes them, so every vector is also
// what encode() must produce.

#include "aegis/base/bytes.hpp"
#include "aegis/mqtt/packet.hpp"

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

// g++ 12 reports members left out of a designated initializer under -Wextra even when they
// have default member initializers; the tests rely on leaving them out. Test TUs only.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace aegis::mqtt::test {

// "10 0d 00 04" -> bytes; spaces are ignored.
inline bytes hex(std::string_view text) {
  std::string compact;
  for (const char c : text) {
    if (c != ' ' && c != '\n') {
      compact.push_back(c);
    }
  }
  auto decoded = from_hex(compact);
  return decoded ? *decoded : bytes{};
}

struct vector_case {
  std::string name;
  protocol_version version;
  bytes wire;
  packet value;
};

// Keeps gtest's parameter dumps to the vector's name.
inline void PrintTo(const vector_case& c, std::ostream* os) {
  *os << c.name;
}

inline bytes b(std::string_view s) {
  return to_bytes(s);
}

inline const std::vector<vector_case>& vectors() {
  using enum protocol_version;
  static const std::vector<vector_case> all = [] {
    std::vector<vector_case> v;

    // ---------------------------------------------------------------- MQTT 3.1.1
    v.push_back(
        {"v311_connect_minimal", v3_1_1, hex("10 0d 00 04 4d 51 54 54 04 02 00 3c 00 01 61"),
         connect{.version = v3_1_1, .clean_start = true, .keep_alive = 60, .client_id = "a"}});
    // §3.1.2.10 example variable header (flags 0xCE, Keep Alive 10) with a full payload.
    v.push_back(
        {"v311_connect_spec_3_1_2_10", v3_1_1,
         hex("10 23 00 04 4d 51 54 54 04 ce 00 0a 00 03 63 69 64 00 03 77 2f 74"
             "00 03 62 79 65 00 04 75 73 65 72 00 02 70 77"),
         connect{.version = v3_1_1,
                 .clean_start = true,
                 .keep_alive = 10,
                 .client_id = "cid",
                 .will =
                     will_message{.topic = "w/t", .payload = b("bye"), .qos = qos::at_least_once},
                 .username = "user",
                 .password = b("pw")}});
    v.push_back({"v311_connack_accepted", v3_1_1, hex("20 02 00 00"), connack{}});
    v.push_back({"v311_connack_session_present", v3_1_1, hex("20 02 01 00"),
                 connack{.session_present = true}});
    v.push_back({"v311_connack_identifier_rejected", v3_1_1, hex("20 02 00 02"),
                 connack{.reason = reason_code::client_identifier_not_valid}});
    v.push_back({"v311_connack_not_authorized", v3_1_1, hex("20 02 00 05"),
                 connack{.reason = reason_code::not_authorized}});
    v.push_back({"v311_publish_qos0", v3_1_1, hex("30 0a 00 03 61 2f 62 68 65 6c 6c 6f"),
                 publish{.topic = "a/b", .payload = b("hello")}});
    // §3.3.2.3 example: Topic Name "a/b", Packet Identifier 10.
    v.push_back(
        {"v311_publish_spec_3_3_2_3", v3_1_1, hex("32 09 00 03 61 2f 62 00 0a 01 02"),
         publish{
             .topic = "a/b", .payload = {0x01, 0x02}, .qos = qos::at_least_once, .packet_id = 10}});
    v.push_back({"v311_publish_qos2_dup_retain", v3_1_1, hex("3d 05 00 01 74 12 34"),
                 publish{.topic = "t",
                         .qos = qos::exactly_once,
                         .retain = true,
                         .dup = true,
                         .packet_id = 0x1234}});
    v.push_back({"v311_puback", v3_1_1, hex("40 02 00 0a"), puback{.packet_id = 10}});
    v.push_back({"v311_pubrec", v3_1_1, hex("50 02 00 0a"), pubrec{.packet_id = 10}});
    v.push_back({"v311_pubrel", v3_1_1, hex("62 02 00 0a"), pubrel{.packet_id = 10}});
    v.push_back({"v311_pubcomp", v3_1_1, hex("70 02 00 0a"), pubcomp{.packet_id = 10}});
    // §3.8.3 example: "a/b" QoS 1, "c/d" QoS 2.
    v.push_back({"v311_subscribe_spec_3_8_3", v3_1_1,
                 hex("82 0e 00 0a 00 03 61 2f 62 01 00 03 63 2f 64 02"),
                 subscribe{.packet_id = 10,
                           .subscriptions = {{"a/b", {.max_qos = qos::at_least_once}},
                                             {"c/d", {.max_qos = qos::exactly_once}}}}});
    // §3.9.3 example: Success QoS 0, Success QoS 2, Failure.
    v.push_back({"v311_suback_spec_3_9_3", v3_1_1, hex("90 05 00 0a 00 02 80"),
                 suback{.packet_id = 10,
                        .reasons = {reason_code::granted_qos_0, reason_code::granted_qos_2,
                                    reason_code::unspecified_error}}});
    // §3.10.3 example: "a/b", "c/d".
    v.push_back({"v311_unsubscribe_spec_3_10_3", v3_1_1,
                 hex("a2 0c 00 0a 00 03 61 2f 62 00 03 63 2f 64"),
                 unsubscribe{.packet_id = 10, .filters = {"a/b", "c/d"}}});
    v.push_back({"v311_unsuback", v3_1_1, hex("b0 02 00 0a"), unsuback{.packet_id = 10}});
    v.push_back({"v311_pingreq", v3_1_1, hex("c0 00"), pingreq{}});
    v.push_back({"v311_pingresp", v3_1_1, hex("d0 00"), pingresp{}});
    v.push_back({"v311_disconnect", v3_1_1, hex("e0 00"), disconnect{}});

    // ---------------------------------------------------------------- MQTT 5.0
    v.push_back({"v5_connect_minimal", v5, hex("10 0e 00 04 4d 51 54 54 05 02 00 3c 00 00 01 61"),
                 connect{.version = v5, .clean_start = true, .keep_alive = 60, .client_id = "a"}});
    // §3.1.2.12 example variable header (flags 0xCE, Keep Alive 10, Session Expiry
    // Interval 10) with Will Properties and a full payload.
    v.push_back({"v5_connect_spec_3_1_2_12", v5,
                 hex("10 31 00 04 4d 51 54 54 05 ce 00 0a 05 11 00 00 00 0a 00 03 63 69 64"
                     "07 18 00 00 00 05 01 01 00 03 77 2f 74 00 03 62 79 65 00 04 75 73 65 72"
                     "00 02 70 77"),
                 connect{.version = v5,
                         .clean_start = true,
                         .keep_alive = 10,
                         .client_id = "cid",
                         .will = will_message{.topic = "w/t",
                                              .payload = b("bye"),
                                              .qos = qos::at_least_once,
                                              .properties = {.will_delay_interval = 5,
                                                             .payload_format_indicator =
                                                                 payload_format::utf8}},
                         .username = "user",
                         .password = b("pw"),
                         .properties = {.session_expiry_interval = 10}}});
    v.push_back({"v5_connect_all_properties", v5,
                 hex("10 31 00 04 4d 51 54 54 05 02 00 3c 23 21 00 14 27 00 00 04 00 22 00 0a 19 01"
                     "17 00 26 00 01 6b 00 01 76 15 00 05 53 43 52 41 4d 16 00 02 01 02 00 01 61"),
                 connect{.version = v5,
                         .clean_start = true,
                         .keep_alive = 60,
                         .client_id = "a",
                         .properties = {.receive_maximum = 20,
                                        .maximum_packet_size = 1024,
                                        .topic_alias_maximum = 10,
                                        .request_response_information = true,
                                        .request_problem_information = false,
                                        .authentication_method = "SCRAM",
                                        .authentication_data = bytes{0x01, 0x02},
                                        .user_properties = {{"k", "v"}}}}});
    v.push_back({"v5_connack_minimal", v5, hex("20 03 00 00 00"), connack{}});
    v.push_back({"v5_connack_not_authorized", v5, hex("20 03 00 87 00"),
                 connack{.reason = reason_code::not_authorized}});
    v.push_back({"v5_connack_properties", v5,
                 hex("20 29 01 00 26 11 00 00 00 78 21 00 0a 24 01 25 00 27 00 01 00 00"
                     "12 00 06 61 75 74 6f 2d 31 22 00 05 28 01 29 00 2a 01 13 00 1e"),
                 connack{.session_present = true,
                         .properties = {.session_expiry_interval = 120,
                                        .receive_maximum = 10,
                                        .maximum_qos = qos::at_least_once,
                                        .retain_available = false,
                                        .maximum_packet_size = 65536,
                                        .assigned_client_identifier = "auto-1",
                                        .topic_alias_maximum = 5,
                                        .wildcard_subscription_available = true,
                                        .subscription_identifiers_available = false,
                                        .shared_subscription_available = true,
                                        .server_keep_alive = 30}}});
    // §3.3.2.3 example: Topic Name "a/b", Packet Identifier 10, no properties.
    v.push_back(
        {"v5_publish_spec_3_3_2_3", v5, hex("32 0a 00 03 61 2f 62 00 0a 00 68 69"),
         publish{.topic = "a/b", .payload = b("hi"), .qos = qos::at_least_once, .packet_id = 10}});
    v.push_back({"v5_publish_all_properties", v5,
                 hex("30 2b 00 01 74 25 01 01 02 00 00 00 3c 23 00 03 08 00 01 72 09 00 01 ab"
                     "26 00 01 61 00 01 62 0b 01 0b ac 02 03 00 04 74 65 78 74 6f 6b"),
                 publish{.topic = "t",
                         .payload = b("ok"),
                         .properties = {.payload_format_indicator = payload_format::utf8,
                                        .message_expiry_interval = 60,
                                        .topic_alias = 3,
                                        .response_topic = "r",
                                        .correlation_data = bytes{0xAB},
                                        .user_properties = {{"a", "b"}},
                                        .subscription_identifiers = {1, 300},
                                        .content_type = "text"}}});
    v.push_back({"v5_publish_topic_alias_only", v5, hex("30 06 00 00 03 23 00 07"),
                 publish{.properties = {.topic_alias = 7}}});
    v.push_back({"v5_puback_short", v5, hex("40 02 00 0a"), puback{.packet_id = 10}});
    v.push_back({"v5_puback_reason", v5, hex("40 03 00 0a 10"),
                 puback{.packet_id = 10, .reason = reason_code::no_matching_subscribers}});
    v.push_back({"v5_pubrec_reason_string", v5, hex("50 0a 00 0a 80 06 1f 00 03 62 61 64"),
                 pubrec{.packet_id = 10,
                        .reason = reason_code::unspecified_error,
                        .properties = {.reason_string = "bad"}}});
    v.push_back({"v5_pubrel_not_found", v5, hex("62 03 00 0a 92"),
                 pubrel{.packet_id = 10, .reason = reason_code::packet_identifier_not_found}});
    v.push_back({"v5_pubcomp", v5, hex("70 02 00 0a"), pubcomp{.packet_id = 10}});
    v.push_back({"v5_subscribe_options", v5,
                 hex("82 11 00 0a 02 0b 05 00 03 61 2f 62 01 00 03 63 2f 64 2e"),
                 subscribe{.packet_id = 10,
                           .subscriptions = {{"a/b", {.max_qos = qos::at_least_once}},
                                             {"c/d",
                                              {.max_qos = qos::exactly_once,
                                               .no_local = true,
                                               .retain_as_published = true,
                                               .retain_handling = retain_handling::do_not_send}}},
                           .properties = {.subscription_identifier = 5}}});
    v.push_back({"v5_subscribe_shared", v5,
                 hex("82 12 00 0b 00 00 0c 24 73 68 61 72 65 2f 67 2f 78 2f 23 01"),
                 subscribe{.packet_id = 11,
                           .subscriptions = {{"$share/g/x/#", {.max_qos = qos::at_least_once}}}}});
    v.push_back(
        {"v5_suback", v5, hex("90 05 00 0a 00 01 8f"),
         suback{.packet_id = 10,
                .reasons = {reason_code::granted_qos_1, reason_code::topic_filter_invalid}}});
    v.push_back({"v5_unsubscribe", v5, hex("a2 08 00 0a 00 00 03 61 2f 62"),
                 unsubscribe{.packet_id = 10, .filters = {"a/b"}}});
    v.push_back(
        {"v5_unsuback", v5, hex("b0 05 00 0a 00 00 11"),
         unsuback{.packet_id = 10,
                  .reasons = {reason_code::success, reason_code::no_subscription_existed}}});
    v.push_back({"v5_pingreq", v5, hex("c0 00"), pingreq{}});
    v.push_back({"v5_pingresp", v5, hex("d0 00"), pingresp{}});
    v.push_back({"v5_disconnect_short", v5, hex("e0 00"), disconnect{}});
    v.push_back({"v5_disconnect_with_will", v5, hex("e0 01 04"),
                 disconnect{.reason = reason_code::disconnect_with_will_message}});
    v.push_back({"v5_disconnect_server_reference", v5, hex("e0 06 9c 04 1c 00 01 73"),
                 disconnect{.reason = reason_code::use_another_server,
                            .properties = {.server_reference = "s"}}});
    v.push_back({"v5_auth_short", v5, hex("f0 00"), auth{}});
    v.push_back({"v5_auth_continue", v5, hex("f0 0f 18 0d 15 00 05 53 43 52 41 4d 16 00 02 01 02"),
                 auth{.reason = reason_code::continue_authentication,
                      .properties = {.authentication_method = "SCRAM",
                                     .authentication_data = bytes{0x01, 0x02}}}});
    return v;
  }();
  return all;
}

} // namespace aegis::mqtt::test
