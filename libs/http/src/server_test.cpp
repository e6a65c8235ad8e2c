// End to end: aegis::net::server with TLS on 127.0.0.1, the HTTP handler of this module, a
// router, and a raw HTTP/1.1 client over asio::ssl (so that malformed and pipelined bytes can be
// sent exactly). Every wait is bounded; timing is only checked against generous upper bounds.

#include "aegis/http/json.hpp"
#include "aegis/http/router.hpp"
#include "aegis/http/server.hpp"

#include "http_test_support.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <mutex>

namespace aegis::http {
namespace {

using namespace std::chrono_literals;
using test::test_client;
using test::test_pki;

class HttpServer : public ::testing::Test {
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
    routes_.add("POST", "/echo", [](request&& req, const path_params&, responder res) {
      auto r = response::text(200, std::move(req.body));
      r.headers.emplace_back("X-Method", req.method);
      res.send(std::move(r));
    });
    routes_.add("GET", "/items/{id}", [](request&& req, const path_params& p, responder res) {
      std::string body = p.at("id");
      for (const auto& [k, v] : req.query) {
        body += "|" + k + "=" + v;
      }
      res.send(response::text(200, body));
    });
    // Answers from another thread after a delay, as a storage executor would.
    routes_.add("GET", "/slow/{ms}", [this](request&& req, const path_params& p, responder res) {
      const auto ms = std::chrono::milliseconds(std::stoi(p.at("ms")));
      std::string path = req.path;
      const std::lock_guard lock(threads_mutex_);
      threads_.emplace_back([res, ms, path] {
        std::this_thread::sleep_for(ms);
        res.send(response::text(200, "slow " + path));
      });
    });
    routes_.add("GET", "/forget", [](request&&, const path_params&, responder) {
      // Drops the responder without answering: the client must get a 500.
    });
    routes_.add("GET", "/throw", [](request&&, const path_params&, responder) {
      throw std::runtime_error("handler bug");
    });
    routes_.add("GET", "/close", [](request&&, const path_params&, responder res) {
      auto r = response::text(200, "bye");
      r.close = true;
      res.send(std::move(r));
    });
    routes_.add("HEAD", "/hello", [](request&&, const path_params&, responder res) {
      res.send(response::text(200, "hello"));
    });
    routes_.add("GET", "/evil", [](request&&, const path_params&, responder res) {
      auto r = response::text(200, "fine");
      r.headers = {{"X-Ok", "1"},
                   {"X-Split", "a\r\nInjected: yes"},
                   {"Bad Name", "x"},
                   {"Content-Length", "1000"},
                   {"Transfer-Encoding", "chunked"},
                   {"Connection", "keep-alive, close"}};
      res.send(std::move(r));
    });
    routes_.add("GET", "/open", [this](request&&, const path_params&, responder res) {
      const std::lock_guard lock(threads_mutex_);
      pending_.push_back(res);
    });
  }

  void TearDown() override {
    server_->stop(5s);
    const std::lock_guard lock(threads_mutex_);
    for (auto& t : threads_) {
      t.join();
    }
    pending_.clear();
  }

  std::uint16_t listen(server_options opts = {}, net::limits lim = {}) {
    net::listener_options o;
    o.name = "http-test";
    o.tls = tls_;
    o.limits = lim;
    o.make_handler = make_handler_factory(std::move(opts), routes_.handler());
    auto info = server_->listen(std::move(o));
    EXPECT_TRUE(info) << info.error().message();
    return info ? info->port : 0;
  }

  test_pki pki_;
  std::optional<net::tls_context> tls_;
  router routes_;
  std::mutex threads_mutex_;
  std::vector<std::thread> threads_;
  std::vector<responder> pending_;
  std::unique_ptr<net::server> server_ = std::make_unique<net::server>(net::server_options{2});
};

std::string header_of(const test::http_response& r, std::string_view name) {
  const auto it = r.find(name);
  return it == r.end() ? std::string() : std::string(it->value());
}

// "Sun, 06 Nov 1994 08:49:37 GMT": A = letter, 9 = digit, anything else literal.
bool looks_like_imf_fixdate(std::string_view d) {
  constexpr std::string_view shape = "Aaa, 99 Aaa 9999 99:99:99 GMT";
  if (d.size() != shape.size()) {
    return false;
  }
  for (std::size_t i = 0; i < d.size(); ++i) {
    const auto c = static_cast<unsigned char>(d[i]);
    const bool ok = shape[i] == '9'   ? std::isdigit(c) != 0
                    : shape[i] == 'A' ? std::isupper(c) != 0
                    : shape[i] == 'a' ? std::islower(c) != 0
                                      : d[i] == shape[i];
    if (!ok) {
      return false;
    }
  }
  return true;
}

TEST_F(HttpServer, GetThenPostWithBodyOnOneKeepAliveConnection) {
  const auto port = listen();
  test_client c(pki_);
  ASSERT_TRUE(c.connect(port));
  ASSERT_FALSE(c.write("GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result_int(), 200);
  EXPECT_EQ(r->body(), "hello");
  EXPECT_EQ(header_of(*r, "Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(header_of(*r, "Content-Length"), "5");
  EXPECT_EQ(header_of(*r, "Server"), "aegis");
  EXPECT_TRUE(looks_like_imf_fixdate(header_of(*r, "Date"))) << header_of(*r, "Date");
  EXPECT_TRUE(r->keep_alive());

  ASSERT_FALSE(c.write("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 11\r\n\r\n"
                       "hello world"));
  r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result_int(), 200);
  EXPECT_EQ(r->body(), "hello world");
  EXPECT_EQ(header_of(*r, "X-Method"), "POST");

  ASSERT_FALSE(c.write("GET /items/a%20b?q=x+y&n=%41 HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body(), "a b|q=x y|n=A");
}

TEST_F(HttpServer, PipelinedRequestsAreAnsweredInOrder) {
  const auto port = listen();
  test_client c(pki_);
  ASSERT_TRUE(c.connect(port));
  // The first answer comes late from another thread; the later ones would be instant.
  ASSERT_FALSE(c.write("GET /slow/200 HTTP/1.1\r\nHost: h\r\n\r\n"
                       "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\ntwo"
                       "GET /items/three HTTP/1.1\r\nHost: h\r\n\r\n"));
  const std::vector<std::string> expected = {"slow /slow/200", "two", "three"};
  for (const auto& body : expected) {
    const auto r = c.read_response();
    ASSERT_TRUE(r) << "waiting for " << body;
    EXPECT_EQ(r->result_int(), 200);
    EXPECT_EQ(r->body(), body);
  }
}

TEST_F(HttpServer, AsyncAnswerFromAnotherThread) {
  const auto port = listen();
  test_client c(pki_);
  ASSERT_TRUE(c.connect(port));
  ASSERT_FALSE(c.write("GET /slow/300 HTTP/1.1\r\nHost: h\r\n\r\n"));
  const auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body(), "slow /slow/300");
  // The connection is still usable.
  ASSERT_FALSE(c.write("GET /hello HTTP/1.1\r\nHost: h\r\n\r\n"));
  const auto r2 = c.read_response();
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->body(), "hello");
}

TEST_F(HttpServer, ABodyOverTheLimitIs413AndCloses) {
  server_options o;
  o.max_body_bytes = 100;
  const auto port = listen(o);
  test_client c(pki_);
  ASSERT_TRUE(c.connect(port));
  ASSERT_FALSE(c.write("POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n"));
  const auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result_int(), 413);
  EXPECT_FALSE(r->keep_alive());
  EXPECT_EQ(header_of(*r, "Content-Type"), "application/json");
  EXPECT_NE(r->body().find(R"("status":"RESOURCE_EXHAUSTED")"), std::string::npos) << r->body();
  EXPECT_TRUE(c.closed_by_server());
}

TEST_F(HttpServer, AChunkedBodyOverTheLimitIs413) {
  server_options o;
  o.max_body_bytes = 10;
  const auto port = listen(o);
  test_client c(pki_);
  ASSERT_TRUE(c.connect(port));
  ASSERT_FALSE(c.write("POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n"));
  const auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result_int(), 413);
  EXPECT_TRUE(c.closed_by_server());
}

TEST_F(HttpServer, AHeadOverTheLimitIs431AndCloses) {
  server_options o;
  o.max_header_bytes = 1024;
  const auto port = listen(o);
  test_client c(pki_);
  ASSERT_TRUE(c.connect(port));
  ASSERT_FALSE(
      c.write("GET /hello HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n"));
  const auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result_int(), 431);
  EXPECT_NE(r->body().find(R"("code":431)"), std::string::npos) << r->body();
  EXPECT_TRUE(c.closed_by_server());
}

TEST_F(HttpServer, GarbageIs400AndClosesOnlyThatConnection) {
  const auto port = listen();
  test_client good(pki_);
  ASSERT_TRUE(good.connect(port));
  test_client bad(pki_);
  ASSERT_TRUE(bad.connect(port));
  ASSERT_FALSE(bad.write("\x16\x03\x01 this is not http\r\n\r\n"));
  const auto r = bad.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result_int(), 400);
  EXPECT_EQ(header_of(*r, "Connection"), "close");
  EXPECT_NE(r->body().find(R"("status":"INVALID_ARGUMENT")"), std::string::npos) << r->body();
  EXPECT_TRUE(bad.closed_by_server());

  ASSERT_FALSE(good.write("GET /hello HTTP/1.1\r\nHost: h\r\n\r\n"));
  const auto g = good.read_response();
  ASSERT_TRUE(g);
  EXPECT_EQ(g->body(), "hello");
}

TEST_F(HttpServer, AnIncompleteRequestIs408AfterTheRequestTimeout) {
  server_options o;
  o.request_timeout = 300ms;
  const auto port = listen(o);
  test_client c(pki_);
  ASSERT_TRUE(c.connect(port));
  // A complete request first: the timeout does not apply between requests.
  ASSERT_FALSE(c.write("GET /hello HTTP/1.1\r\nHost: h\r\n\r\n"));
  ASSERT_TRUE(c.read_response());
  ASSERT_FALSE(c.write("POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc"));
  const auto start = std::chrono::steady_clock::now();
  const auto r = c.read_response(10s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result_int(), 408);
  EXPECT_NE(r->body().find(R"("status":"DEADLINE_EXCEEDED")"), std::string::npos) << r->body();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 8s);
  EXPECT_TRUE(c.closed_by_server());
}

TEST_F(HttpServer, APendingResponseIsNotTimedOut) {
  server_options o;
  o.request_timeout = 200ms;
  o.idle_timeout = 200ms;
  net::limits lim;
  lim.first_message = 300ms; // libs/net's deadline for the first request must not apply either
  const auto port = listen(o, lim);
  test_client c(pki_);
  ASSERT_TRUE(c.connect(port));
  ASSERT_FALSE(c.write("GET /slow/1000 HTTP/1.1\r\nHost: h\r\n\r\n"));
  const auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result_int(), 200);
  EXPECT_EQ(r->body(), "slow /slow/1000");
}

TEST_F(HttpServer, AnIdleKeepAliveConnectionIsClosed) {
  server_options o;
  o.idle_timeout = 300ms;
  const auto port = listen(o);
  test_client c(pki_);
  ASSERT_TRUE(c.connect(port));
  ASSERT_FALSE(c.write("GET /hello HTTP/1.1\r\nHost: h\r\n\r\n"));
  ASSERT_TRUE(c.read_response());
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.closed_by_server(10s));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 8s);
  EXPECT_TRUE(c.unparsed().empty()) << c.unparsed(); // closed silently, no 408
}

TEST_F(HttpServer, ChunkedRequestBody) {
  const auto port = listen();
  test_client c(pki_);
  ASSERT_TRUE(c.connect(port));
  ASSERT_FALSE(c.write("POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "5\r\nhello\r\n"));
  ASSERT_FALSE(c.write("6\r\n world\r\n0\r\n\r\n"));
  const auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result_int(), 200);
  EXPECT_EQ(r->body(), "hello world");
}

TEST_F(HttpServer, EncodedSlashInThePathIs400) {
  const auto port = listen();
  test_client c(pki_);
  ASSERT_TRUE(c.connect(port));
  ASSERT_FALSE(c.write("GET /items/a%2Fb HTTP/1.1\r\nHost: h\r\n\r\n"));
  const auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result_int(), 400);
  EXPECT_TRUE(c.closed_by_server());
}

TEST_F(HttpServer, ExpectContinueGets100ThenTheAnswer) {
  const auto port = listen();
  test_client c(pki_);
  ASSERT_TRUE(c.connect(port));
  ASSERT_FALSE(c.write("POST /echo HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
                       "Content-Length: 4\r\n\r\n"));
  const auto interim = c.read_response();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->result_int(), 100);
  ASSERT_FALSE(c.write("data"));
  const auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result_int(), 200);
  EXPECT_EQ(r->body(), "data");
}

TEST_F(HttpServer, UnknownPath404AndWrongMethod405KeepTheConnection) {
  const auto port = listen();
  test_client c(pki_);
  ASSERT_TRUE(c.connect(port));
  ASSERT_FALSE(c.write("GET /nope HTTP/1.1\r\nHost: h\r\n\r\nDELETE /hello HTTP/1.1\r\n"
                       "Host: h\r\n\r\n"));
  const auto r404 = c.read_response();
  ASSERT_TRUE(r404);
  EXPECT_EQ(r404->result_int(), 404);
  EXPECT_NE(r404->body().find(R"("status":"NOT_FOUND")"), std::string::npos);
  const auto r405 = c.read_response();
  ASSERT_TRUE(r405);
  EXPECT_EQ(r405->result_int(), 405);
  EXPECT_EQ(header_of(*r405, "Allow"), "GET, HEAD");
  EXPECT_TRUE(r405->keep_alive());
}

TEST_F(HttpServer, AForgottenOrThrowingHandlerAnswers500) {
  const auto port = listen();
  test_client c(pki_);
  ASSERT_TRUE(c.connect(port));
  ASSERT_FALSE(c.write("GET /forget HTTP/1.1\r\nHost: h\r\n\r\nGET /throw HTTP/1.1\r\n"
                       "Host: h\r\n\r\nGET /hello HTTP/1.1\r\nHost: h\r\n\r\n"));
  for (const int status : {500, 500, 200}) {
    const auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), status);
  }
}

TEST_F(HttpServer, ConnectionCloseFromRequestOrResponseOrHttp10) {
  const auto port = listen();
  {
    test_client c(pki_);
    ASSERT_TRUE(c.connect(port));
    ASSERT_FALSE(c.write("GET /hello HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
    const auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(header_of(*r, "Connection"), "close");
    EXPECT_TRUE(c.closed_by_server());
  }
  {
    test_client c(pki_);
    ASSERT_TRUE(c.connect(port));
    ASSERT_FALSE(c.write("GET /close HTTP/1.1\r\nHost: h\r\n\r\n"));
    const auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body(), "bye");
    EXPECT_EQ(header_of(*r, "Connection"), "close");
    EXPECT_TRUE(c.closed_by_server());
  }
  {
    test_client c(pki_);
    ASSERT_TRUE(c.connect(port));
    ASSERT_FALSE(c.write("GET /hello HTTP/1.0\r\n\r\n"));
    const auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_TRUE(c.closed_by_server());
  }
  {
    test_client c(pki_);
    ASSERT_TRUE(c.connect(port));
    ASSERT_FALSE(c.write("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    const auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(header_of(*r, "Connection"), "keep-alive");
    ASSERT_FALSE(c.write("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    EXPECT_TRUE(c.read_response());
  }
}

TEST_F(HttpServer, HeadAnswersCarryTheLengthButNoBody) {
  const auto port = listen();
  test_client c(pki_);
  ASSERT_TRUE(c.connect(port));
  ASSERT_FALSE(c.write("HEAD /hello HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
  EXPECT_TRUE(c.closed_by_server());
  const std::string& raw = c.unparsed();
  EXPECT_EQ(raw.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << raw;
  EXPECT_NE(raw.find("\r\nContent-Length: 5\r\n"), std::string::npos) << raw;
  EXPECT_EQ(raw.substr(raw.size() - 4), "\r\n\r\n") << raw; // no body
}

TEST_F(HttpServer, HandlerHeadersCannotBreakFraming) {
  const auto port = listen();
  test_client c(pki_);
  ASSERT_TRUE(c.connect(port));
  ASSERT_FALSE(c.write("GET /evil HTTP/1.1\r\nHost: h\r\n\r\n"));
  const auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body(), "fine");
  EXPECT_EQ(header_of(*r, "X-Ok"), "1");
  EXPECT_EQ(header_of(*r, "Content-Length"), "4");
  EXPECT_EQ(r->count("Injected"), 0u);
  EXPECT_EQ(r->count("X-Split"), 0u);
  EXPECT_EQ(r->count("Transfer-Encoding"), 0u);
  // "Connection: close" among the handler's headers closes after the response.
  EXPECT_EQ(header_of(*r, "Connection"), "close");
  EXPECT_TRUE(c.closed_by_server());
}

TEST_F(HttpServer, UnsupportedTransferEncodingIs501) {
  const auto port = listen();
  test_client c(pki_);
  ASSERT_TRUE(c.connect(port));
  ASSERT_FALSE(c.write("POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\nxyz"));
  const auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result_int(), 501);
  EXPECT_TRUE(c.closed_by_server());
}

TEST_F(HttpServer, ResponderSeesTheConnectionClose) {
  const auto port = listen();
  {
    test_client c(pki_);
    ASSERT_TRUE(c.connect(port));
    ASSERT_FALSE(c.write("GET /open HTTP/1.1\r\nHost: h\r\n\r\n"));
    ASSERT_TRUE(test::wait_until([&] {
      const std::lock_guard lock(threads_mutex_);
      return pending_.size() == 1;
    }));
    const std::lock_guard lock(threads_mutex_);
    EXPECT_TRUE(pending_[0].connection_open());
  }
  // The client went away: the responder learns it, and a late answer is dropped harmlessly.
  EXPECT_TRUE(test::wait_until([&] {
    const std::lock_guard lock(threads_mutex_);
    return !pending_[0].connection_open();
  }));
  const std::lock_guard lock(threads_mutex_);
  pending_[0].send(response::text(200, "too late"));
}

TEST_F(HttpServer, TooManyPipelinedBytesCloseTheConnection) {
  server_options o;
  o.max_pipelined_bytes = 256;
  const auto port = listen(o);
  test_client c(pki_);
  ASSERT_TRUE(c.connect(port));
  std::string burst = "GET /slow/300 HTTP/1.1\r\nHost: h\r\n\r\n";
  for (int i = 0; i < 20; ++i) {
    burst += "GET /hello HTTP/1.1\r\nHost: h\r\n\r\n";
  }
  (void)c.write(burst);
  EXPECT_TRUE(c.closed_by_server());
}

} // namespace
} // namespace aegis::http
