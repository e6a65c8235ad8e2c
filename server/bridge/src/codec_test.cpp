#include "codec.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace aegis::bridge::detail {
namespace {

using namespace std::chrono_literals;

TEST(BridgeCodec, BytesFieldsAcceptBothAlphabetsWithOrWithoutPadding) {
  EXPECT_EQ(decode_bytes_field("aGk="), to_bytes("hi"));
  EXPECT_EQ(decode_bytes_field("aGk"), to_bytes("hi"));
  EXPECT_EQ(decode_bytes_field("-_8="), (bytes{0xfb, 0xff}));
  EXPECT_EQ(decode_bytes_field("+/8"), (bytes{0xfb, 0xff}));
  EXPECT_EQ(decode_bytes_field(""), bytes{});
  EXPECT_FALSE(decode_bytes_field("123")); // non-zero trailing bits
  EXPECT_FALSE(decode_bytes_field("a"));   // impossible length
  EXPECT_FALSE(decode_bytes_field("aGk==="));
  EXPECT_FALSE(decode_bytes_field("aG k="));
  EXPECT_FALSE(decode_bytes_field("aGk=aGk="));
}

TEST(BridgeCodec, Subfolders) {
  EXPECT_TRUE(valid_subfolder(""));
  EXPECT_TRUE(valid_subfolder("temperature"));
  EXPECT_TRUE(valid_subfolder("a/b.c/d"));
  for (const char* bad : {"/a", "a/", "a//b", ".", "..", "a/../b", "a/+", "#", "a/b#"}) {
    EXPECT_FALSE(valid_subfolder(bad)) << bad;
  }
  EXPECT_FALSE(valid_subfolder(std::string_view("a\0b", 3)));
  EXPECT_FALSE(valid_subfolder(std::string(1025, 'a')));
}

TEST(BridgeCodec, PublishEventBody) {
  auto p = parse_publish_event(R"({"binaryData":"aGk=","subFolder":"x","gatewayInfo":null})", 16);
  ASSERT_TRUE(p.value);
  EXPECT_EQ(p.value->data, to_bytes("hi"));
  EXPECT_EQ(p.value->subfolder, "x");

  p = parse_publish_event(R"({"gateway_info":{"gateway_id":"gw-7"}})", 16);
  ASSERT_TRUE(p.value);
  EXPECT_EQ(p.value->gateway.gateway_id, "gw-7");

  p = parse_publish_event(R"({"gatewayInfo":{"gatewayId":"a","delegatedDeviceId":"b"}})", 16);
  EXPECT_FALSE(p.value);
  EXPECT_EQ(p.error.http_status, 400u);

  p = parse_publish_event(R"({"binary_data":"QUFBQUFBQUFBQUFBQUFBQUE="})", 16); // 17 bytes
  EXPECT_FALSE(p.value);
  EXPECT_EQ(p.error.http_status, 413u);

  p = parse_publish_event(std::string(max_body_for(16) + 1, ' '), 16);
  EXPECT_EQ(p.error.http_status, 413u);

  // Deep nesting is refused without recursion trouble.
  p = parse_publish_event(std::string(2000, '[') + std::string(2000, ']'), 16);
  EXPECT_FALSE(p.value);
  EXPECT_EQ(p.error.http_status, 400u);
}

TEST(BridgeCodec, ErrorMessagesNeverQuoteInput) {
  const auto p = parse_publish_event(R"({"binary_data":"<script>"})", 64);
  ASSERT_FALSE(p.value);
  EXPECT_EQ(p.error.message.find("<script>"), std::string::npos);
}

TEST(BridgeCodec, SetStateBody) {
  auto p = parse_set_state(R"({"state":{"binaryData":"b2s="}})", 16);
  ASSERT_TRUE(p.value);
  EXPECT_EQ(p.value->data, to_bytes("ok"));
  EXPECT_FALSE(parse_set_state(R"({"state":{"binaryData":"b2s=","x":1}})", 16).value);
  EXPECT_FALSE(parse_set_state(R"({"state":null})", 16).value);
}

http::request get(std::vector<std::pair<std::string, std::string>> query) {
  http::request r;
  r.method = "GET";
  r.query = std::move(query);
  return r;
}

TEST(BridgeCodec, ConfigQuery) {
  auto q = parse_config_query(get({{"local_version", "12"}, {"wait", "30"}}), 300s);
  ASSERT_TRUE(q.value);
  EXPECT_EQ(q.value->local_version, 12);
  EXPECT_EQ(q.value->wait, 30s);
  q = parse_config_query(get({{"localVersion", "3"}, {"wait", "999"}}), 300s);
  ASSERT_TRUE(q.value);
  EXPECT_EQ(q.value->local_version, 3);
  EXPECT_EQ(q.value->wait, 300s);
  EXPECT_FALSE(
      parse_config_query(get({{"localVersion", "3"}, {"local_version", "3"}}), 300s).value);
  EXPECT_FALSE(parse_config_query(get({{"local_version", "1x"}}), 300s).value);
  EXPECT_FALSE(parse_config_query(get({{"local_version", "99999999999999999999"}}), 300s).value);
  EXPECT_FALSE(parse_config_query(get({{"wait", "-1"}}), 300s).value);
  q = parse_config_query(get({{"gatewayInfo.delegatedDeviceId", "leaf"}}), 300s);
  ASSERT_TRUE(q.value);
  EXPECT_EQ(q.value->gateway.delegated_device_id, "leaf");
}

TEST(BridgeCodec, BearerToken) {
  http::request r;
  EXPECT_FALSE(bearer_token(r));
  r.headers = {{"authorization", "bearer abc.def.ghi "}};
  EXPECT_EQ(bearer_token(r), "abc.def.ghi");
  r.headers = {{"Authorization", "Basic dXNlcjpwYXNz"}};
  EXPECT_FALSE(bearer_token(r));
  r.headers = {{"Authorization", "Bearer "}};
  EXPECT_FALSE(bearer_token(r));
  r.headers = {{"Authorization", "Bearerabc"}};
  EXPECT_FALSE(bearer_token(r));
}

TEST(BridgeCodec, JsonOut) {
  registry::config_version v;
  v.version = 13;
  v.cloud_update_time = wall_time{std::chrono::seconds{1'700'000'000}} + 1500us;
  v.data = to_bytes("{}");
  EXPECT_EQ(
      config_json(v),
      R"({"binaryData":"e30=","cloudUpdateTime":"2023-11-14T22:13:20.001500Z","version":"13"})");
  EXPECT_EQ(commands_json({{"a/b", to_bytes("x")}, {"", {}}}),
            R"({"commands":[{"binaryData":"eA==","subFolder":"a/b"},{"binaryData":""}]})");
  // A subfolder handed in by the admin API is not trusted to be UTF-8.
  EXPECT_NO_THROW(commands_json({{"\xff", {}}}));
}

} // namespace
} // namespace aegis::bridge::detail
