#include "aegis/http/json.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace aegis::http {
namespace {

TEST(Json, ErrorBodyHasGooglesShape) {
  EXPECT_EQ(error_body(rpc_status::not_found, "device not found"),
            R"({"error":{"code":404,"message":"device not found","status":"NOT_FOUND"}})");
}

TEST(Json, MessagesAreEscapedIncludingControlCharacters) {
  const std::string msg = std::string("a\"b\\c\n\r\t\b\f") + '\x01' + '\x1f' + '\x7f' + "</x>";
  const std::string body = error_body(rpc_status::invalid_argument, msg);
  EXPECT_NE(body.find(R"(a\"b\\c\n\r\t\b\f\u0001\u001f\u007f</x>)"), std::string::npos) << body;
  const auto parsed = nlohmann::json::parse(body);
  EXPECT_EQ(parsed["error"]["message"].get<std::string>(), msg);
  EXPECT_EQ(parsed["error"]["code"].get<int>(), 400);
  EXPECT_EQ(parsed["error"]["status"].get<std::string>(), "INVALID_ARGUMENT");
}

TEST(Json, InvalidUtf8BecomesReplacementCharactersSoTheBodyStaysValidJson) {
  const std::string msg = "ok \xc3\xa9 bad \xff\xc3 end \xed\xa0\x80"; // é, junk, surrogate
  const std::string body = error_body(rpc_status::internal, msg);
  const auto parsed = nlohmann::json::parse(body); // throws on invalid UTF-8
  EXPECT_EQ(parsed["error"]["message"].get<std::string>(),
            "ok \xc3\xa9 bad \xef\xbf\xbd\xef\xbf\xbd end \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
}

TEST(Json, EveryStatusHasANameAndAnHttpStatus) {
  for (int i = 0; i <= static_cast<int>(rpc_status::unauthenticated); ++i) {
    const auto s = static_cast<rpc_status>(i);
    EXPECT_FALSE(name_of(s).empty());
    EXPECT_GE(http_status_of(s), 200u);
  }
  EXPECT_EQ(http_status_of(rpc_status::resource_exhausted), 429u);
  EXPECT_EQ(http_status_of(rpc_status::unauthenticated), 401u);
  EXPECT_EQ(name_of(rpc_status::failed_precondition), "FAILED_PRECONDITION");
}

TEST(Json, HttpStatusesMapToCanonicalCodes) {
  EXPECT_EQ(rpc_status_for_http(200), rpc_status::ok);
  EXPECT_EQ(rpc_status_for_http(204), rpc_status::ok);
  EXPECT_EQ(rpc_status_for_http(400), rpc_status::invalid_argument);
  EXPECT_EQ(rpc_status_for_http(401), rpc_status::unauthenticated);
  EXPECT_EQ(rpc_status_for_http(403), rpc_status::permission_denied);
  EXPECT_EQ(rpc_status_for_http(404), rpc_status::not_found);
  EXPECT_EQ(rpc_status_for_http(408), rpc_status::deadline_exceeded);
  EXPECT_EQ(rpc_status_for_http(413), rpc_status::resource_exhausted);
  EXPECT_EQ(rpc_status_for_http(429), rpc_status::resource_exhausted);
  EXPECT_EQ(rpc_status_for_http(431), rpc_status::resource_exhausted);
  EXPECT_EQ(rpc_status_for_http(499), rpc_status::cancelled);
  EXPECT_EQ(rpc_status_for_http(500), rpc_status::internal);
  EXPECT_EQ(rpc_status_for_http(501), rpc_status::unimplemented);
  EXPECT_EQ(rpc_status_for_http(503), rpc_status::unavailable);
  EXPECT_EQ(rpc_status_for_http(504), rpc_status::deadline_exceeded);
  EXPECT_EQ(rpc_status_for_http(418), rpc_status::unknown);
  EXPECT_EQ(rpc_status_for_http(99), rpc_status::unknown);
  EXPECT_EQ(rpc_status_for_http(700), rpc_status::unknown);
}

TEST(Json, ErrorResponseWithAnExplicitStatusKeepsIt) {
  const response r = error_response(431u, "too big");
  EXPECT_EQ(r.status, 431u);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.body, R"({"error":{"code":431,"message":"too big","status":"RESOURCE_EXHAUSTED"}})");
  const response n = error_response(rpc_status::unavailable, "later");
  EXPECT_EQ(n.status, 503u);
}

TEST(Json, ResponseFactories) {
  EXPECT_EQ(response::json(201, "{}").content_type, "application/json");
  EXPECT_EQ(response::text(200, "hi").content_type, "text/plain; charset=utf-8");
  const auto nc = response::no_content();
  EXPECT_EQ(nc.status, 204u);
  EXPECT_TRUE(nc.body.empty());
  EXPECT_TRUE(nc.content_type.empty());
}

} // namespace
} // namespace aegis::http
