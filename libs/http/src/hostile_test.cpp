// Hostile HTTP/1.1 clients against the real server (aegis::net::server with TLS on 127.0.0.1),
// the bad-input list of issue 6: request smuggling, header floods, slow-loris, oversized heads
// and bodies, invalid UTF-8 and NUL bytes. Each refuses that request or closes that connection
// with the right status, and another client is still served. Raw bytes go out exactly as written
// (test_client). Every wait is bounded; timing is only checked against generous bounds.

#include "aegis/http/router.hpp"
#include "aegis/http/server.hpp"

#include "http_test_support.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

namespace aegis::http {
namespace {

using namespace std::chrono_literals;
using test::test_client;
using test::test_pki;

// A string literal with its embedded NULs, without the terminating one.
template <std::size_t N>
std::string raw(const char (&s)[N]) {
  return std::string(s, N - 1);
}

class HostileHttp : public ::testing::Test {
protected:
  void SetUp() override {
    net::tls_server_config cfg;
    cfg.certificates.push_back(pki_.server_cert());
    auto ctx = net::tls_context::create(cfg);
    ASSERT_TRUE(ctx) << ctx.error().message();
    tls_ = *ctx;
    routes_.add("GET", "/hello", [](request&&, const path_params&, responder res) {
      res.send(response::text(200, "hello"));
    });
    routes_.add("POST", "/echo", [this](request&& req, const path_params&, responder res) {
      ++echoes_;
      res.send(response::text(200, std::move(req.body)));
    });
    // The decoded id and query, as a handler sees them, with '|' between.
    routes_.add("GET", "/items/{id}", [](request&& req, const path_params& p, responder res) {
      std::string body = p.at("id");
      for (const auto& [k, v] : req.query) {
        body += "|" + k + "=" + v;
      }
      res.send(response::text(200, body));
    });
  }

  void TearDown() override { server_->stop(5s); }

  std::uint16_t listen(server_options opts = {}) {
    net::listener_options o;
    o.name = "http-hostile-test";
    o.tls = tls_;
    o.make_handler = make_handler_factory(std::move(opts), routes_.handler());
    auto info = server_->listen(std::move(o));
    EXPECT_TRUE(info) << info.error().message();
    return info ? info->port : 0;
  }

  // Sends `bytes` on a new connection; expects one answer with `status`, then the close.
  void expect_refused(std::uint16_t port, const std::string& bytes, unsigned status) {
    test_client c(pki_);
    ASSERT_TRUE(c.connect(port));
    (void)c.write(bytes);
    const auto r = c.read_response();
    ASSERT_TRUE(r) << "no answer to: " << bytes.substr(0, 200);
    EXPECT_EQ(r->result_int(), status) << bytes.substr(0, 200) << "\n" << r->body();
    EXPECT_FALSE(r->keep_alive());
    EXPECT_NE(r->body().find("\"code\":" + std::to_string(status)), std::string::npos) << r->body();
    EXPECT_TRUE(c.closed_by_server()) << bytes.substr(0, 200);
    // Nothing smuggled behind the refused request was answered.
    EXPECT_FALSE(c.read_response(200ms));
  }

  // A fresh client is served normally.
  void expect_still_served(std::uint16_t port) {
    test_client c(pki_);
    ASSERT_TRUE(c.connect(port));
    ASSERT_FALSE(c.write("GET /hello HTTP/1.1\r\nHost: h\r\n\r\n"));
    const auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 200);
    EXPECT_EQ(r->body(), "hello");
  }

  // The answer to one well-formed-enough request on a new connection.
  std::optional<test::http_response> ask(std::uint16_t port, const std::string& bytes) {
    test_client c(pki_);
    if (!c.connect(port)) {
      ADD_FAILURE() << "connect failed";
      return std::nullopt;
    }
    (void)c.write(bytes);
    return c.read_response();
  }

  test_pki pki_;
  std::optional<net::tls_context> tls_;
  router routes_;
  std::atomic<int> echoes_{0};
  std::unique_ptr<net::server> server_ = std::make_unique<net::server>(net::server_options{2});
};

// ---------------------------------------------------------------- request smuggling

TEST_F(HostileHttp, ContentLengthWithTransferEncodingIs400AndCloses) {
  const auto port = listen();
  // CL.TE and TE.CL: a front end trusting the other header would see a second request.
  expect_refused(
      port,
      "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\n"
      "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /hello HTTP/1.1\r\nHost: h\r\n\r\n",
      400);
  expect_refused(port,
                 "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                 "Content-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n",
                 400);
  EXPECT_EQ(echoes_.load(), 0);
  expect_still_served(port);
}

TEST_F(HostileHttp, TwoDifferentContentLengthsAre400) {
  const auto port = listen();
  expect_refused(port,
                 "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\n"
                 "abcGET /hello HTTP/1.1\r\nHost: h\r\n\r\n",
                 400);
  expect_refused(port, "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 40\r\n\r\nabc", 400);
  expect_refused(port, "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: -3\r\n\r\nabc", 400);
  expect_refused(port, "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\nabc", 400);
  EXPECT_EQ(echoes_.load(), 0);
  expect_still_served(port);
}

TEST_F(HostileHttp, TransferEncodingOtherThanChunkedIsRefused) {
  const auto port = listen();
  // "chunked" not last: the body would be read to the close, never as chunks.
  expect_refused(port,
                 "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"
                 "3\r\nabc\r\n0\r\n\r\n",
                 501);
  // Any coding before chunked is not supported either (only exactly "chunked" is).
  expect_refused(port,
                 "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                 "3\r\nabc\r\n0\r\n\r\n",
                 501);
  expect_refused(port, "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\nabc",
                 501);
  // Two Transfer-Encoding fields: 400, whatever they say.
  expect_refused(port,
                 "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                 400);
  EXPECT_EQ(echoes_.load(), 0);
  expect_still_served(port);
}

// ---------------------------------------------------------------- floods and sizes

TEST_F(HostileHttp, HeaderFloodIs431AndCloses) {
  const auto port = listen();
  std::string head = "GET /hello HTTP/1.1\r\nHost: h\r\n";
  for (int i = 0; i < 5000; ++i) {
    head += "X-" + std::to_string(i) + ": v\r\n";
  }
  expect_refused(port, head + "\r\n", 431);
  expect_still_served(port);
}

TEST_F(HostileHttp, OversizedHeaderAndBodyAreRefused) {
  const auto port = listen(); // defaults: 16 KiB head, 1 MiB body
  expect_refused(
      port, "GET /hello HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(20 * 1024, 'a') + "\r\n\r\n",
      431);
  expect_refused(port, "GET /" + std::string(20 * 1024, 'p') + " HTTP/1.1\r\nHost: h\r\n\r\n", 431);
  // Refused from the Content-Length alone, before any body byte.
  expect_refused(port, "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 2097152\r\n\r\n", 413);
  // A chunked body that grows past the limit (a small one, so all of it is sent before the 413).
  server_options small;
  small.max_body_bytes = 1000;
  const auto small_port = listen(small);
  std::string chunked = "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 4; ++i) {
    chunked += "200\r\n" + std::string(0x200, 'b') + "\r\n";
  }
  expect_refused(small_port, chunked + "0\r\n\r\n", 413);
  EXPECT_EQ(echoes_.load(), 0);
  expect_still_served(port);
}

// ---------------------------------------------------------------- slow-loris

TEST_F(HostileHttp, SlowLorisIsCutAtTheRequestDeadlineWhileOthersAreServed) {
  server_options o;
  o.request_timeout = 2s;
  const auto port = listen(o);

  std::atomic<bool> loris_done{false};
  std::atomic<unsigned> loris_status{0};
  std::atomic<bool> loris_closed{false};
  std::atomic<long long> loris_ms{0};
  std::thread loris([&] {
    test_client c(pki_);
    if (!c.connect(port)) {
      loris_done = true;
      return;
    }
    // One header byte every 200 ms, without end: only the request deadline stops it.
    const std::string drip = "GET /hello HTTP/1.1\r\nHost: h\r\nX-Slow: " + std::string(200, 'z');
    const auto start = std::chrono::steady_clock::now();
    for (const char byte : drip) {
      if (c.write(std::string_view(&byte, 1))) {
        break;
      }
      const auto ec = c.read_some(200ms);
      if (ec != boost::asio::error::timed_out || !c.unparsed().empty()) {
        break; // the server answered or closed
      }
    }
    const auto r = c.read_response(5s);
    loris_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - start)
                   .count();
    loris_status = r ? r->result_int() : 0;
    loris_closed = c.closed_by_server(5s);
    loris_done = true;
  });

  // Meanwhile other clients are served at once, repeatedly.
  std::this_thread::sleep_for(300ms);
  for (int i = 0; i < 3; ++i) {
    const auto start = std::chrono::steady_clock::now();
    expect_still_served(port);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1500ms);
    EXPECT_FALSE(loris_done.load()) << "the slow client was cut before the others were served";
    std::this_thread::sleep_for(100ms);
  }
  loris.join();
  EXPECT_EQ(loris_status.load(), 408U);
  EXPECT_TRUE(loris_closed.load());
  // Cut near request_timeout (2 s): not before, and well before the drip would have ended (~48 s).
  EXPECT_GE(loris_ms.load(), 1900);
  EXPECT_LT(loris_ms.load(), 8000);
  expect_still_served(port);
}

// ---------------------------------------------------------------- invalid UTF-8 and NUL

TEST_F(HostileHttp, InvalidUtf8InPathAndQueryIsPassedThroughAsOpaqueBytes) {
  const auto port = listen();
  // Percent-encoded invalid UTF-8 (a lone lead byte, an overlong '/', bytes never valid): decoded
  // once into the same bytes, kept in one path segment, never turned into a '/' or '.'.
  auto r = ask(port, "GET /items/%C3%28%C0%AF%FF?q=%FE%FF&%C0%AE=%80 HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result_int(), 200);
  EXPECT_EQ(r->body(), std::string("\xC3(\xC0\xAF\xFF|q=\xFE\xFF|\xC0\xAE=\x80"));

  // The same bytes raw in the request line.
  r = ask(port, "GET /items/\xC3\x28\xC0\xAF\xFF?q=\xFE HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result_int(), 200);
  EXPECT_EQ(r->body(), std::string("\xC3(\xC0\xAF\xFF|q=\xFE"));

  // An overlong "../" cannot climb out of the route: it is one opaque segment.
  r = ask(port, "GET /items/%C0%AE%C0%AE%C0%AFhello HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result_int(), 200);
  EXPECT_EQ(r->body(), std::string("\xC0\xAE\xC0\xAE\xC0\xAFhello"));
  expect_still_served(port);
}

TEST_F(HostileHttp, NulBytesAreRefusedInTheHeadAndKeptInTheBody) {
  const auto port = listen();
  expect_refused(port, "GET /items/a%00b HTTP/1.1\r\nHost: h\r\n\r\n", 400);
  expect_refused(port, "GET /items/ab?q=a%00b HTTP/1.1\r\nHost: h\r\n\r\n", 400);
  expect_refused(port, "GET /items/ab?a%00=1 HTTP/1.1\r\nHost: h\r\n\r\n", 400);
  expect_refused(port, raw("GET /items/a\0b HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  expect_refused(port, raw("GET /hello HTTP/1.1\r\nHost: h\r\nX-Nul: a\0b\r\n\r\n"), 400);
  expect_refused(port, raw("GET /hello HTTP/1.1\r\nHost: h\r\nX-\0: ab\r\n\r\n"), 400);
  // A body is bytes: NUL goes through to the handler unchanged.
  const std::string body("a\0b\0", 4);
  const auto r = ask(port, "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\n" + body);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result_int(), 200);
  EXPECT_EQ(r->body(), body);
  expect_still_served(port);
}

} // namespace
} // namespace aegis::http
