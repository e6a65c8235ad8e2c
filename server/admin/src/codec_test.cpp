#include "codec.hpp"

#include "aegis/registry/errors.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace aegis::admin::detail {
namespace {

using namespace std::chrono_literals;

TEST(admin_codec, times_are_rfc3339_utc_with_milliseconds) {
  const wall_time t{std::chrono::seconds{1'795'618'883} + 45ms + 123us};
  EXPECT_EQ(format_time(t), "2026-11-25T15:01:23.045Z");
  EXPECT_EQ(format_time(wall_time{}), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_time(wall_time{} - 1ms), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(parse_time("2026-11-25T15:01:23.045Z"),
            wall_time{std::chrono::seconds{1'795'618'883} + 45ms});
  EXPECT_EQ(parse_time("2026-11-25T16:01:23.045123456+01:00"),
            wall_time{std::chrono::seconds{1'795'618'883} + 45123456ns});
  EXPECT_EQ(parse_time("1970-01-01T00:00:00Z"), wall_time{});
  for (const char* bad :
       {"", "2026-11-25", "2026-11-25T15:01:23", "2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z",
        "2026-11-25T15:01:23.Z", "2026-11-25T15:01:23Zjunk", "2026-11-25 15:01:23Z"}) {
    EXPECT_FALSE(parse_time(bad).has_value()) << bad;
  }
}

TEST(admin_codec, strict_json_input) {
  EXPECT_TRUE(parse_body("").empty());
  EXPECT_THROW((void)parse_body("{"), api_error);
  EXPECT_THROW((void)parse_body("[]"), api_error);
  EXPECT_THROW((void)parse_body(R"({"id":"a","id":"b"})"), api_error);
  EXPECT_THROW((void)parse_body(R"({"x":{"k":1,"k":2}})"), api_error);
  EXPECT_NO_THROW((void)parse_body(R"({"x":{"k":1},"y":{"k":2}})"));
  EXPECT_EQ(get_int64(json("-42"), "f"), -42);
  EXPECT_EQ(get_int64(json(42), "f"), 42);
  EXPECT_THROW((void)get_int64(json(4.5), "f"), api_error);
  EXPECT_THROW((void)get_int64(json("4x"), "f"), api_error);
  EXPECT_THROW((void)get_int64(json(true), "f"), api_error);
  EXPECT_THROW((void)get_int64(json(18446744073709551615ULL), "f"), api_error);
  EXPECT_THROW((void)get_base64(json("a"), "f"), api_error);
  EXPECT_EQ(get_base64(json("aGk="), "f"), to_bytes("hi"));
  EXPECT_THROW(only_fields(json{{"a", 1}, {"b", 2}}, {"a"}, "x"), api_error);
}

TEST(admin_codec, masks_and_page_tokens) {
  EXPECT_EQ(split_mask("blocked, log_level,gateway_config.gateway_auth_method"),
            (std::vector<std::string>{"blocked", "logLevel", "gatewayConfig.gatewayAuthMethod"}));
  EXPECT_THROW((void)split_mask("a,,b"), api_error);
  EXPECT_EQ(decode_page_token(encode_page_token("dev-7")), "dev-7");
  EXPECT_THROW((void)decode_page_token("@@"), api_error);
  EXPECT_THROW((void)decode_page_token(""), api_error);
}

TEST(admin_codec, errors_map_through_the_registry_table) {
  const auto e = to_api_error(registry::registry_errc::config_version_mismatch);
  EXPECT_EQ(e.http_status(), 409u);
  EXPECT_EQ(e.status(), "ABORTED");
  const auto busy = to_api_error(registry::registry_errc::storage_busy);
  EXPECT_EQ(busy.http_status(), 503u);
  EXPECT_EQ(std::string(busy.what()), "storage busy, retry later");
  const auto other = to_api_error(std::make_error_code(std::errc::io_error));
  EXPECT_EQ(other.http_status(), 500u);
  EXPECT_EQ(std::string(other.what()), "internal error"); // no internals to the client
}

} // namespace
} // namespace aegis::admin::detail
