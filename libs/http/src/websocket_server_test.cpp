// WebSocket upgrade end to end: aegis::net::server with TLS on 127.0.0.1, the HTTP handler with a
// WebSocket route whose inner handler echoes, and a raw TLS client that writes masked frames and
// parses the server's frames byte by byte. Also the hostile cases: each closes only its own
// connection with its close code while another session on the same server goes on.

#include "aegis/http/router.hpp"
#include "aegis/http/server.hpp"
#include "aegis/http/websocket.hpp"
#include "aegis/net/errors.hpp"

#include "http_test_support.hpp"

#include <gtest/gtest.h>

#include <map>
#include <mutex>

namespace aegis::http {
namespace {

using namespace std::chrono_literals;
using test::test_pki;
namespace ws = websocket;

// What the inner handlers saw, shared with the test thread.
struct inner_log {
  std::mutex mutex;
  int started = 0;
  int shutdowns = 0;
  std::string received;
  std::vector<net::connection_handle> handles;
  std::vector<std::error_code> closes;

  template <class F>
  auto locked(F&& f) {
    const std::lock_guard lock(mutex);
    return f();
  }
};

// Echoes every byte; "quit" closes with an error of its own; "CONNECT" counts as the first
// message (disarms the deadline), as MQTT's CONNECT does.
class echo_inner final : public net::connection_handler {
public:
  explicit echo_inner(std::shared_ptr<inner_log> log) : log_(std::move(log)) {}
  void on_start(net::connection& conn) override {
    log_->locked([&] {
      ++log_->started;
      log_->handles.push_back(conn.handle());
    });
  }
  void on_bytes(net::connection& conn, bytes_view data) override {
    const std::string text(as_string_view(data));
    log_->locked([&] { log_->received += text; });
    if (text.find("CONNECT") != std::string::npos) {
      conn.disarm_deadline();
    }
    if (text.find("quit") != std::string::npos) {
      conn.close(std::make_error_code(std::errc::protocol_error));
      return;
    }
    (void)conn.send(bytes(data.begin(), data.end()));
  }
  void on_shutdown(net::connection& conn) override {
    log_->locked([&] { ++log_->shutdowns; });
    connection_handler::on_shutdown(conn);
  }
  void on_closed(net::connection& /*conn*/, std::error_code reason) override {
    log_->locked([&] { log_->closes.push_back(reason); });
  }

private:
  std::shared_ptr<inner_log> log_;
};

struct server_frame {
  ws::opcode op = ws::opcode::binary;
  bool fin = true;
  std::string payload;
  std::uint16_t close_code() const {
    return payload.size() < 2
               ? 0
               : static_cast<std::uint16_t>((static_cast<std::uint8_t>(payload[0]) << 8) |
                                            static_cast<std::uint8_t>(payload[1]));
  }
};

class ws_client {
public:
  explicit ws_client(const test_pki& pki) : c_(pki) {}

  std::optional<test::http_response> upgrade(std::uint16_t port, std::string_view protocol = "mqtt",
                                             std::string_view version = "13",
                                             std::string_view pipelined = {}) {
    if (!c_.connect(port)) {
      return std::nullopt;
    }
    std::string req = "GET /mqtt HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: ";
    req += version;
    req += "\r\nSec-WebSocket-Protocol: ";
    req += protocol;
    req += "\r\n\r\n";
    req += pipelined;
    if (c_.write(req)) {
      return std::nullopt;
    }
    auto r = c_.read_response();
    buffer_ += c_.take_unparsed();
    return r;
  }
  bool send(ws::opcode op, std::string_view payload, bool fin = true) {
    const auto f = ws::encode_client_frame(op, as_bytes(payload), {1, 2, 3, 4}, fin);
    return !c_.write(as_string_view(f));
  }
  bool send_raw(std::string_view raw) { return !c_.write(raw); }

  // The next frame, or nothing if none came complete within `timeout` or the server closed.
  std::optional<server_frame> next(std::chrono::milliseconds timeout = 10s) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto f = parse()) {
        return f;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      if (left.count() <= 0 || c_.read_some(left)) {
        buffer_ += c_.take_unparsed();
        return parse();
      }
      buffer_ += c_.take_unparsed();
    }
  }
  // Binary payload until `n` bytes arrived (frames of any size); control frames are kept.
  std::string binary(std::size_t n, std::chrono::milliseconds timeout = 10s) {
    std::string out;
    while (out.size() < n) {
      auto f = next(timeout);
      if (!f) {
        break;
      }
      if (f->op == ws::opcode::binary) {
        out += f->payload;
      } else {
        others.push_back(*f);
      }
    }
    return out;
  }
  // The next close frame (data frames before it are skipped), or nothing.
  std::optional<server_frame> close_frame(std::chrono::milliseconds timeout = 10s) {
    for (;;) {
      auto f = next(timeout);
      if (!f || f->op == ws::opcode::close) {
        return f;
      }
    }
  }
  bool closed_by_server() { return c_.closed_by_server(); }

  std::vector<server_frame> others;

private:
  std::optional<server_frame> parse() {
    if (buffer_.size() < 2) {
      return std::nullopt;
    }
    const auto b = [&](std::size_t i) { return static_cast<std::uint8_t>(buffer_[i]); };
    server_frame f;
    f.fin = (b(0) & 0x80U) != 0;
    f.op = static_cast<ws::opcode>(b(0) & 0x0FU);
    EXPECT_EQ(b(1) & 0x80U, 0U) << "a server frame must not be masked";
    std::size_t len = b(1) & 0x7FU;
    std::size_t at = 2;
    if (len == 126) {
      if (buffer_.size() < 4) {
        return std::nullopt;
      }
      len = (std::size_t{b(2)} << 8) | b(3);
      at = 4;
    } else if (len == 127) {
      if (buffer_.size() < 10) {
        return std::nullopt;
      }
      len = 0;
      for (std::size_t i = 2; i < 10; ++i) {
        len = (len << 8) | b(i);
      }
      at = 10;
    }
    if (buffer_.size() < at + len) {
      return std::nullopt;
    }
    f.payload = buffer_.substr(at, len);
    buffer_.erase(0, at + len);
    return f;
  }

  test::test_client c_;
  std::string buffer_;
};

class WebSocketServer : public ::testing::Test {
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
  }
  void TearDown() override { server_->stop(5s); }

  std::uint16_t listen(std::chrono::milliseconds first_message = 10s) {
    server_options opts;
    websocket_route route;
    route.path = "/mqtt";
    route.subprotocol = "mqtt";
    route.max_message_size = 4096;
    route.first_message = first_message;
    route.inner = [log = log_](net::connection&) -> std::unique_ptr<net::connection_handler> {
      return std::make_unique<echo_inner>(log);
    };
    opts.websocket_routes.push_back(std::move(route));
    net::listener_options o;
    o.name = "ws-test";
    o.tls = tls_;
    o.make_handler = make_handler_factory(std::move(opts), routes_.handler());
    auto info = server_->listen(std::move(o));
    EXPECT_TRUE(info) << info.error().message();
    return info ? info->port : 0;
  }
  bool wait_closes(std::size_t n) {
    return test::wait_until([&] { return log_->locked([&] { return log_->closes.size(); }) >= n; });
  }

  test_pki pki_;
  std::optional<net::tls_context> tls_;
  router routes_;
  std::shared_ptr<inner_log> log_ = std::make_shared<inner_log>();
  std::unique_ptr<net::server> server_ = std::make_unique<net::server>(net::server_options{2});
};

std::string header_of(const test::http_response& r, std::string_view name) {
  const auto it = r.find(name);
  return it == r.end() ? std::string() : std::string(it->value());
}

TEST_F(WebSocketServer, TheUpgradeCarriesBinaryFramesBothWays) {
  const auto port = listen();
  ws_client c(pki_);
  const auto r = c.upgrade(port);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result_int(), 101U);
  EXPECT_EQ(header_of(*r, "Sec-WebSocket-Accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  EXPECT_EQ(header_of(*r, "Sec-WebSocket-Protocol"), "mqtt");
  ASSERT_TRUE(c.send(ws::opcode::binary, "CONN", false));
  ASSERT_TRUE(c.send(ws::opcode::continuation, "ECT"));
  EXPECT_EQ(c.binary(7), "CONNECT");
  ASSERT_TRUE(c.send(ws::opcode::binary, std::string(3000, 'q')));
  EXPECT_EQ(c.binary(3000), std::string(3000, 'q'));
  EXPECT_EQ(log_->locked([&] { return log_->started; }), 1);
}

TEST_F(WebSocketServer, BytesPipelinedAfterTheUpgradeRequestAreTheFirstFrames) {
  const auto port = listen();
  ws_client c(pki_);
  const auto first = ws::encode_client_frame(ws::opcode::binary, as_bytes("CONNECT"), {9, 8, 7, 6});
  const auto r = c.upgrade(port, "mqtt", "13", as_string_view(first));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result_int(), 101U);
  EXPECT_EQ(c.binary(7), "CONNECT");
}

TEST_F(WebSocketServer, SendsThroughHandlesFromOtherThreadsBecomeWholeFramesInOrder) {
  const auto port = listen();
  ws_client c(pki_);
  ASSERT_TRUE(c.upgrade(port));
  ASSERT_TRUE(test::wait_until([&] { return log_->locked([&] { return log_->started; }) == 1; }));
  const auto h = log_->locked([&] { return log_->handles.at(0); });
  constexpr int senders = 4;
  constexpr int per_sender = 100;
  std::vector<std::thread> threads;
  for (int s = 0; s < senders; ++s) {
    threads.emplace_back([h, s] {
      for (int i = 0; i < per_sender; ++i) {
        (void)h.send(to_bytes(std::to_string(s) + ":" + std::to_string(i)));
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  std::map<int, int> next;
  for (int n = 0; n < senders * per_sender; ++n) {
    const auto f = c.next();
    ASSERT_TRUE(f) << "frame " << n;
    ASSERT_EQ(f->op, ws::opcode::binary);
    const auto colon = f->payload.find(':');
    ASSERT_NE(colon, std::string::npos) << f->payload;
    const int s = std::stoi(f->payload.substr(0, colon));
    EXPECT_EQ(std::stoi(f->payload.substr(colon + 1)), next[s]) << "sender " << s;
    ++next[s];
  }
}

TEST_F(WebSocketServer, APingIsAnsweredAndTheClientsCloseIsEchoed) {
  const auto port = listen();
  ws_client c(pki_);
  ASSERT_TRUE(c.upgrade(port));
  ASSERT_TRUE(c.send(ws::opcode::ping, "are you there"));
  const auto pong = c.next();
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->op, ws::opcode::pong);
  EXPECT_EQ(pong->payload, "are you there");
  ASSERT_TRUE(c.send(ws::opcode::close, std::string("\x03\xe9going", 7)));
  const auto close = c.close_frame();
  ASSERT_TRUE(close);
  EXPECT_EQ(close->close_code(), 1001) << "the peer's code is echoed";
  EXPECT_TRUE(c.closed_by_server());
  ASSERT_TRUE(wait_closes(1));
  EXPECT_EQ(log_->locked([&] { return log_->closes.at(0); }),
            make_error_code(net::net_errc::peer_closed));
}

TEST_F(WebSocketServer, TheInnerHandlersCloseEndsWithACloseFrame) {
  const auto port = listen();
  ws_client c(pki_);
  ASSERT_TRUE(c.upgrade(port));
  ASSERT_TRUE(c.send(ws::opcode::binary, "abc"));
  EXPECT_EQ(c.binary(3), "abc");
  ASSERT_TRUE(c.send(ws::opcode::binary, "quit"));
  const auto close = c.close_frame();
  ASSERT_TRUE(close);
  EXPECT_EQ(close->close_code(), 1008) << "an error of the inner protocol: policy violation";
  EXPECT_TRUE(c.closed_by_server());
}

TEST_F(WebSocketServer, AGracefulShutdownSendsGoingAway) {
  const auto port = listen();
  ws_client c(pki_);
  ASSERT_TRUE(c.upgrade(port));
  ASSERT_TRUE(c.send(ws::opcode::binary, "CONNECT"));
  EXPECT_EQ(c.binary(7), "CONNECT");
  std::thread stopper([&] { server_->stop(5s); });
  const auto close = c.close_frame();
  stopper.join();
  ASSERT_TRUE(close);
  EXPECT_EQ(close->close_code(), 1001);
  EXPECT_EQ(log_->locked([&] { return log_->shutdowns; }), 1);
}

TEST_F(WebSocketServer, BadHandshakesAreRefusedAndPlainRequestsGoToTheRouter) {
  const auto port = listen();
  {
    ws_client c(pki_);
    const auto r = c.upgrade(port, "mqttv3.1");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 400U);
    EXPECT_TRUE(c.closed_by_server());
  }
  {
    ws_client c(pki_);
    const auto r = c.upgrade(port, "mqtt", "12");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 426U);
    EXPECT_EQ(header_of(*r, "Sec-WebSocket-Version"), "13");
  }
  {
    test::test_client c(pki_);
    ASSERT_TRUE(c.connect(port));
    ASSERT_FALSE(
        c.write("GET /mqtt HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
    const auto not_found = c.read_response();
    ASSERT_TRUE(not_found);
    EXPECT_EQ(not_found->result_int(), 404U) << "no upgrade asked: the router answers";
    const auto hello = c.read_response();
    ASSERT_TRUE(hello);
    EXPECT_EQ(hello->result_int(), 200U) << "and the connection stays HTTP";
  }
  EXPECT_EQ(log_->locked([&] { return log_->started; }), 0);
}

TEST_F(WebSocketServer, HostileSessionsCloseWithTheirCodeAndAnotherSessionGoesOn) {
  const auto port = listen();
  ws_client good(pki_);
  ASSERT_TRUE(good.upgrade(port));
  const auto masked = [](std::initializer_list<std::uint8_t> head) {
    return std::string(head.begin(), head.end());
  };
  const auto oversize = ws::encode_client_frame(ws::opcode::binary, bytes(4097, 'x'), {1, 2, 3, 4});
  struct hostile {
    const char* what;
    std::string bytes;
    std::uint16_t code;
  };
  const std::vector<hostile> cases{
      {"garbage", "GET / HTTP/1.1\r\n\r\n", 1002},
      {"unmasked frame", masked({0x82, 0x03, 'a', 'b', 'c'}), 1002},
      {"64-bit length with the top bit",
       masked({0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}), 1002},
      {"huge length", masked({0x82, 0xFF, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4}), 1009},
      {"over the message limit", std::string(as_string_view(oversize)), 1009},
      {"text", masked({0x81, 0x80, 1, 2, 3, 4}), 1003},
  };
  int n = 0;
  for (const auto& h : cases) {
    ws_client bad(pki_);
    ASSERT_TRUE(bad.upgrade(port)) << h.what;
    ASSERT_TRUE(bad.send_raw(h.bytes)) << h.what;
    const auto close = bad.close_frame();
    ASSERT_TRUE(close) << h.what;
    EXPECT_EQ(close->close_code(), h.code) << h.what;
    EXPECT_TRUE(bad.closed_by_server()) << h.what;
    const std::string ping = "still here " + std::to_string(++n);
    ASSERT_TRUE(good.send(ws::opcode::binary, ping));
    EXPECT_EQ(good.binary(ping.size()), ping) << "after " << h.what;
  }
}

TEST_F(WebSocketServer, ASilentClientIsClosedAtTheFirstMessageDeadlineAlone) {
  const auto port = listen(300ms);
  ws_client good(pki_);
  // CONNECT pipelined with the upgrade: disarmed in the same read, whatever the machine's load.
  const auto connect =
      ws::encode_client_frame(ws::opcode::binary, as_bytes("CONNECT"), {9, 8, 7, 6});
  ASSERT_TRUE(good.upgrade(port, "mqtt", "13", as_string_view(connect)));
  EXPECT_EQ(good.binary(7), "CONNECT");
  ws_client slow(pki_);
  ASSERT_TRUE(slow.upgrade(port));
  ASSERT_TRUE(slow.send_raw(std::string(1, '\x82'))); // half a header, then nothing
  EXPECT_TRUE(slow.closed_by_server());
  ASSERT_TRUE(wait_closes(1));
  EXPECT_EQ(log_->locked([&] { return log_->closes.at(0); }),
            make_error_code(net::net_errc::deadline_expired));
  ASSERT_TRUE(good.send(ws::opcode::binary, "after"));
  EXPECT_EQ(good.binary(5), "after");
}

} // namespace
} // namespace aegis::http
