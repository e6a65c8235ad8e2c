#include "aegis/http/router.hpp"

#include "aegis/http/json.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace aegis::http {
namespace {

request make(std::string method, std::string path) {
  request r;
  r.method = std::move(method);
  r.target = path;
  r.path = std::move(path);
  return r;
}

// Dispatches and returns the answer, which must come synchronously in these tests.
std::optional<response> call(const router& rt, std::string method, std::string path) {
  std::optional<response> out;
  rt.dispatch(make(std::move(method), std::move(path)),
              responder::to_function([&](response r) { out = std::move(r); }));
  return out;
}

// A handler that answers with the name of the route and its params.
route_handler named(std::string name) {
  return [name](request&&, const path_params& p, responder res) {
    std::string body = name;
    for (const auto& [k, v] : p) {
      body += " " + k + "=" + v;
    }
    res.send(response::text(200, body));
  };
}

TEST(Router, LiteralsAndCaptures) {
  router rt;
  rt.add("GET", "/v1/devices", named("list"))
      .add("GET", "/v1/devices/{device}", named("get"))
      .add("DELETE", "/v1/devices/{device}", named("delete"))
      .add("GET", "/", named("root"));
  EXPECT_EQ(call(rt, "GET", "/v1/devices")->body, "list");
  EXPECT_EQ(call(rt, "GET", "/v1/devices/abc")->body, "get device=abc");
  EXPECT_EQ(call(rt, "DELETE", "/v1/devices/abc")->body, "delete device=abc");
  EXPECT_EQ(call(rt, "GET", "/")->body, "root");
  // A capture is one non-empty segment.
  EXPECT_EQ(call(rt, "GET", "/v1/devices/")->status, 404u);
  EXPECT_EQ(call(rt, "GET", "/v1/devices/a/b")->status, 404u);
}

TEST(Router, VerbSegmentWinsOverAPlainCapture) {
  router rt;
  rt.add("POST", "/v1/devices/{device}", named("plain"))
      .add("POST", "/v1/devices/{device}:sendCommand", named("verb"));
  EXPECT_EQ(call(rt, "POST", "/v1/devices/d1:sendCommand")->body, "verb device=d1");
  EXPECT_EQ(call(rt, "POST", "/v1/devices/d1")->body, "plain device=d1");
  EXPECT_EQ(call(rt, "POST", "/v1/devices/d1:other")->body, "plain device=d1:other");
  // The value before ":verb" must not be empty.
  EXPECT_EQ(call(rt, "POST", "/v1/devices/:sendCommand")->body, "plain device=:sendCommand");
  // Registered in the other order, the same answer.
  router rt2;
  rt2.add("POST", "/v1/devices/{device}:sendCommand", named("verb"))
      .add("POST", "/v1/devices/{device}", named("plain"));
  EXPECT_EQ(call(rt2, "POST", "/v1/devices/d1:sendCommand")->body, "verb device=d1");
}

TEST(Router, LiteralWinsOverCapture) {
  router rt;
  rt.add("GET", "/v1/{collection}/list", named("capture"))
      .add("GET", "/v1/devices/{id}", named("devices"))
      .add("GET", "/v1/devices/list", named("literal"));
  EXPECT_EQ(call(rt, "GET", "/v1/devices/list")->body, "literal");
  EXPECT_EQ(call(rt, "GET", "/v1/groups/list")->body, "capture collection=groups");
  EXPECT_EQ(call(rt, "GET", "/v1/devices/x")->body, "devices id=x");
}

TEST(Router, RestCaptureTakesOneOrMoreSegments) {
  router rt;
  rt.add("GET", "/static/{file=**}", named("static"))
      .add("GET", "/static/index.html", named("index"));
  EXPECT_EQ(call(rt, "GET", "/static/css/site.css")->body, "static file=css/site.css");
  EXPECT_EQ(call(rt, "GET", "/static/a")->body, "static file=a");
  EXPECT_EQ(call(rt, "GET", "/static/index.html")->body, "index");
  EXPECT_EQ(call(rt, "GET", "/static")->status, 404u);
  EXPECT_EQ(call(rt, "GET", "/static/")->status, 404u);
  EXPECT_EQ(call(rt, "GET", "/static/a//b")->status, 404u);
}

TEST(Router, UnknownPathIs404InTheJsonErrorShape) {
  router rt;
  rt.add("GET", "/a", named("a"));
  const auto r = call(rt, "GET", "/b");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404u);
  EXPECT_EQ(r->content_type, "application/json");
  EXPECT_NE(r->body.find(R"("status":"NOT_FOUND")"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find(R"("code":404)"), std::string::npos) << r->body;
}

TEST(Router, KnownPathOtherMethodIs405WithAllow) {
  router rt;
  rt.add("GET", "/v1/devices/{d}", named("get"))
      .add("PATCH", "/v1/devices/{d}", named("patch"))
      .add("DELETE", "/v1/devices/{d}", named("delete"));
  const auto r = call(rt, "POST", "/v1/devices/x");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405u);
  ASSERT_EQ(r->headers.size(), 1u);
  EXPECT_EQ(r->headers[0].first, "Allow");
  EXPECT_EQ(r->headers[0].second, "DELETE, GET, PATCH");
  EXPECT_NE(r->body.find(R"("code":405)"), std::string::npos) << r->body;
}

TEST(Router, RelativeOrNulPathIs400) {
  router rt;
  rt.add("GET", "/a", named("a"));
  EXPECT_EQ(call(rt, "GET", "a")->status, 400u);
  EXPECT_EQ(call(rt, "GET", std::string("/a\0b", 4))->status, 400u);
}

TEST(Router, MalformedPatternsThrow) {
  router rt;
  const auto h = named("x");
  EXPECT_THROW(rt.add("GET", "", h), std::invalid_argument);
  EXPECT_THROW(rt.add("GET", "/a//b", h), std::invalid_argument);
  EXPECT_THROW(rt.add("GET", "/{", h), std::invalid_argument);
  EXPECT_THROW(rt.add("GET", "/{}", h), std::invalid_argument);
  EXPECT_THROW(rt.add("GET", "/{a}/{a}", h), std::invalid_argument);
  EXPECT_THROW(rt.add("GET", "/{a=**}/b", h), std::invalid_argument);
  EXPECT_THROW(rt.add("GET", "/{a=*}", h), std::invalid_argument);
  EXPECT_THROW(rt.add("GET", "/{a}:v/b", h), std::invalid_argument);
  EXPECT_THROW(rt.add("GET", "/{a}x", h), std::invalid_argument);
  EXPECT_THROW(rt.add("GET", "/{a}:", h), std::invalid_argument);
  EXPECT_THROW(rt.add("GET", "/a{b}", h), std::invalid_argument);
  EXPECT_THROW(rt.add("", "/a", h), std::invalid_argument);
  EXPECT_THROW(rt.add("GET", "/a", route_handler{}), std::invalid_argument);
  rt.add("GET", "/a/{x}", h);
  EXPECT_THROW(rt.add("GET", "/a/{y}", h), std::invalid_argument); // same shape
  EXPECT_NO_THROW(rt.add("POST", "/a/{y}", h));
}

TEST(Router, HandlerFunctionDispatches) {
  router rt;
  rt.add("GET", "/x/{id}", named("x"));
  const request_handler h = rt.handler();
  std::optional<response> out;
  h(make("GET", "/x/7"), responder::to_function([&](response r) { out = std::move(r); }));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->body, "x id=7");
}

TEST(Responder, AnswersOnceAndCopiesShareTheAnswer) {
  int calls = 0;
  unsigned status = 0;
  {
    const responder a = responder::to_function([&](response r) {
      ++calls;
      status = r.status;
    });
    const responder b = a; // NOLINT(performance-unnecessary-copy-initialization)
    EXPECT_TRUE(a.connection_open());
    b.send(response::text(201, "x"));
    a.send(response::text(202, "y"));
  }
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(status, 201u);
}

TEST(Responder, DestroyedWithoutAnswerSends500) {
  std::optional<response> out;
  {
    responder a = responder::to_function([&](response r) { out = std::move(r); });
    responder b = a;
  }
  ASSERT_TRUE(out);
  EXPECT_EQ(out->status, 500u);
  EXPECT_NE(out->body.find(R"("status":"INTERNAL")"), std::string::npos) << out->body;
}

TEST(Responder, ADefaultResponderIsInert) {
  const responder r;
  r.send(response::no_content());
  EXPECT_FALSE(r.connection_open());
}

TEST(Request, HeaderAndQueryLookups) {
  request r;
  r.headers = {{"Content-Type", "a"}, {"X-Dup", "1"}, {"x-dup", "2"}};
  r.query = {{"deviceIds", "a"}, {"q", ""}, {"deviceIds", "b"}};
  EXPECT_EQ(r.header("content-type"), "a");
  EXPECT_EQ(r.header("X-DUP"), "1");
  EXPECT_FALSE(r.header("missing"));
  EXPECT_EQ(r.query_param("q"), "");
  EXPECT_EQ(r.query_param("deviceIds"), "a");
  EXPECT_FALSE(r.query_param("DeviceIds"));
  const auto all = r.query_params("deviceIds");
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0], "a");
  EXPECT_EQ(all[1], "b");
}

} // namespace
} // namespace aegis::http
