// The runtime against an in-process Asio client (asio::ssl::stream over 127.0.0.1): deadlines,
// backpressure, cross-thread sends, limits and shutdown.

#include "aegis/net/server.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <map>
#include <set>

namespace aegis::net {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using test::echo_options;
using test::test_pki;

// A blocking-style client whose every operation is bounded by a timeout: each runs the client's
// own io_context until it completes or the time is up, then cancels.
class test_client {
public:
  explicit test_client(const test_pki& pki, bool use_tls = true) : tls_(use_tls) {
    ssl_ctx_.set_verify_mode(asio::ssl::verify_peer);
    ssl_ctx_.load_verify_file(pki.p("root.crt"));
  }
  ~test_client() { close(); }
  test_client(const test_client&) = delete;
  test_client& operator=(const test_client&) = delete;

  bool connect_tcp(std::uint16_t port) {
    stream_.emplace(ioc_, ssl_ctx_);
    boost::system::error_code result = asio::error::timed_out;
    socket().async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                           [&](boost::system::error_code ec) { result = ec; });
    run(5s);
    return !result;
  }
  boost::system::error_code handshake(const std::string& sni = "localhost") {
    SSL_set_tlsext_host_name(stream_->native_handle(), sni.c_str());
    stream_->set_verify_callback(asio::ssl::host_name_verification(sni));
    boost::system::error_code result = asio::error::timed_out;
    stream_->async_handshake(asio::ssl::stream_base::client,
                             [&](boost::system::error_code ec) { result = ec; });
    run(10s);
    return result;
  }
  bool connect(std::uint16_t port) { return connect_tcp(port) && (!tls_ || !handshake()); }

  boost::system::error_code write(std::string_view data) {
    boost::system::error_code result = asio::error::timed_out;
    const auto done = [&](boost::system::error_code ec, std::size_t) { result = ec; };
    if (tls_) {
      asio::async_write(*stream_, asio::buffer(data), done);
    } else {
      asio::async_write(socket(), asio::buffer(data), done);
    }
    run(10s);
    return result;
  }
  // Appends what one read returns; timed_out if nothing came in time.
  boost::system::error_code read_some(std::string& out, std::chrono::milliseconds timeout) {
    boost::system::error_code result = asio::error::timed_out;
    const auto done = [&](boost::system::error_code ec, std::size_t n) {
      result = ec;
      out.append(buffer_.data(), n);
    };
    if (tls_) {
      stream_->async_read_some(asio::buffer(buffer_), done);
    } else {
      socket().async_read_some(asio::buffer(buffer_), done);
    }
    run(timeout);
    return result;
  }
  // Reads until `out` holds at least `n` bytes; the error that stopped it otherwise.
  boost::system::error_code read_at_least(std::string& out, std::size_t n,
                                          std::chrono::milliseconds timeout = 20s) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (out.size() < n) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        return asio::error::timed_out;
      }
      if (auto ec = read_some(out, left)) {
        return ec;
      }
    }
    return {};
  }
  // Reads until the server ends the connection; returns how it ended (eof after close_notify
  // or FIN, stream_truncated, reset), or timed_out.
  boost::system::error_code read_until_closed(std::string& out,
                                              std::chrono::milliseconds timeout = 10s) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        return asio::error::timed_out;
      }
      if (auto ec = read_some(out, left)) {
        return ec;
      }
    }
  }
  boost::system::error_code shutdown() {
    boost::system::error_code result = asio::error::timed_out;
    stream_->async_shutdown([&](boost::system::error_code ec) { result = ec; });
    run(5s);
    return result;
  }
  void close() {
    if (stream_) {
      boost::system::error_code ec;
      socket().close(ec);
    }
  }
  tcp::socket& socket() { return stream_->next_layer(); }

private:
  void run(std::chrono::milliseconds timeout) {
    ioc_.restart();
    ioc_.run_for(timeout);
    if (!ioc_.stopped()) {
      boost::system::error_code ec;
      socket().cancel(ec);
      ioc_.restart();
      ioc_.run();
    }
  }

  bool tls_;
  asio::io_context ioc_;
  asio::ssl::context ssl_ctx_{asio::ssl::context::tls_client};
  std::optional<asio::ssl::stream<tcp::socket>> stream_;
  std::array<char, 64 * 1024> buffer_{};
};

bool is_clean_end(const boost::system::error_code& ec) {
  return ec == asio::error::eof;
}
bool is_end(const boost::system::error_code& ec) {
  return ec && ec != asio::error::timed_out;
}

class Server : public ::testing::Test {
protected:
  void SetUp() override {
    tls_server_config cfg;
    cfg.certificates.push_back(pki_.server_cert());
    auto ctx = tls_context::create(cfg);
    ASSERT_TRUE(ctx) << ctx.error().message();
    tls_ = *ctx;
  }
  void TearDown() override { server_->stop(5s); }

  std::uint16_t listen(limits lim, echo_options opts = {}, bool plaintext = false) {
    listener_options o;
    o.name = "test";
    if (plaintext) {
      o.insecure_plaintext = true;
    } else {
      o.tls = tls_;
    }
    o.limits = lim;
    o.make_handler = test::echo_factory(rec_, opts);
    auto info = server_->listen(std::move(o));
    EXPECT_TRUE(info) << info.error().message();
    return info ? info->port : 0;
  }
  std::error_code reason(std::size_t i) {
    const std::lock_guard lock(rec_->mutex);
    return rec_->close_reasons.at(i);
  }
  connection_handle handle(std::size_t i) {
    const std::lock_guard lock(rec_->mutex);
    return rec_->handles.at(i);
  }

  test_pki pki_;
  std::optional<tls_context> tls_;
  std::shared_ptr<test::recorder> rec_ = std::make_shared<test::recorder>();
  std::unique_ptr<server> server_ = std::make_unique<server>(server_options{2});
};

TEST_F(Server, TlsEchoRoundTripWithAVerifyingAsioClient) {
  const auto port = listen({});
  ASSERT_NE(port, 0);
  test_client c(pki_);
  ASSERT_TRUE(c.connect(port)) << "handshake must verify localhost against the root";
  std::string got;
  ASSERT_FALSE(c.write("ping"));
  ASSERT_FALSE(c.read_at_least(got, 4));
  ASSERT_FALSE(c.write(" pong"));
  ASSERT_FALSE(c.read_at_least(got, 9));
  EXPECT_EQ(got, "ping pong");
  EXPECT_FALSE(c.shutdown()) << "our close_notify answers the client's";
  ASSERT_TRUE(rec_->wait_for([&] { return rec_->closed == 1; }));
  EXPECT_EQ(reason(0), make_error_code(net_errc::peer_closed));
  const std::lock_guard lock(rec_->mutex);
  EXPECT_EQ(rec_->tls_versions.at(0), "TLSv1.3");
  EXPECT_TRUE(rec_->sends_refused_after_close);
}

TEST_F(Server, PlainTextOnlyWhenAskedForByName) {
  listener_options none;
  none.make_handler = test::echo_factory(rec_);
  auto r = server_->listen(none);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), make_error_code(net_errc::plaintext_not_allowed));
  listener_options both = none;
  both.tls = tls_;
  both.insecure_plaintext = true;
  r = server_->listen(both);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), make_error_code(net_errc::bad_listener_options));

  const auto port = listen({}, {}, /*plaintext=*/true);
  test_client c(pki_, /*use_tls=*/false);
  ASSERT_TRUE(c.connect(port));
  std::string got;
  ASSERT_FALSE(c.write("plain"));
  ASSERT_FALSE(c.read_at_least(got, 5));
  EXPECT_EQ(got, "plain");
  const std::lock_guard lock(rec_->mutex);
  EXPECT_EQ(rec_->tls_versions.at(0), "");
}

TEST_F(Server, ConnectionsAreSpreadOverThreadsAndEachStaysOnItsOwn) {
  const auto port = listen({});
  std::vector<std::unique_ptr<test_client>> clients;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(std::make_unique<test_client>(pki_));
    ASSERT_TRUE(clients.back()->connect(port));
  }
  for (auto& c : clients) {
    std::string got;
    ASSERT_FALSE(c->write("x"));
    ASSERT_FALSE(c->read_at_least(got, 1));
  }
  clients.clear();
  ASSERT_TRUE(rec_->wait_for([&] { return rec_->closed == 4; }));
  const std::lock_guard lock(rec_->mutex);
  const std::set<std::thread::id> threads(rec_->start_threads.begin(), rec_->start_threads.end());
  EXPECT_EQ(threads.size(), 2u) << "round-robin over both I/O threads";
  EXPECT_TRUE(rec_->callbacks_on_start_thread);
}

TEST_F(Server, SilentPeersAreDroppedAtTheHandshakeDeadline) {
  limits lim;
  lim.tls_handshake = 300ms;
  lim.first_message = 60s; // so that only the handshake deadline can explain a close
  const auto port = listen(lim);

  test_client silent(pki_);
  ASSERT_TRUE(silent.connect_tcp(port));
  std::string got;
  EXPECT_TRUE(is_end(silent.read_until_closed(got)));

  // Silent mid-handshake: the start of a ClientHello record, then nothing.
  test_client partial(pki_);
  ASSERT_TRUE(partial.connect_tcp(port));
  const std::array<std::uint8_t, 6> start = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01};
  boost::system::error_code ec;
  asio::write(partial.socket(), asio::buffer(start), ec);
  ASSERT_FALSE(ec);
  EXPECT_TRUE(is_end(partial.read_until_closed(got)));

  EXPECT_TRUE(test::wait_until([&] { return server_->stats().handshake_timeouts == 2; }));
  const std::lock_guard lock(rec_->mutex);
  EXPECT_EQ(rec_->started, 0);
}

TEST_F(Server, AHandshakedSilentPeerIsDroppedAtTheHandlersDeadline) {
  limits lim;
  lim.tls_handshake = 60s;
  lim.first_message = 300ms;
  const auto port = listen(lim);

  test_client silent(pki_);
  ASSERT_TRUE(silent.connect(port));
  std::string got;
  EXPECT_TRUE(is_clean_end(silent.read_until_closed(got))) << "close_notify, then FIN";
  ASSERT_TRUE(rec_->wait_for([&] { return rec_->closed == 1; }));
  EXPECT_EQ(reason(0), make_error_code(net_errc::deadline_expired));

  // Control: a peer whose first bytes disarm the deadline outlives it.
  test_client talker(pki_);
  ASSERT_TRUE(talker.connect(port));
  ASSERT_FALSE(talker.write("hi"));
  got.clear();
  ASSERT_FALSE(talker.read_at_least(got, 2));
  std::this_thread::sleep_for(600ms);
  ASSERT_FALSE(talker.write("!"));
  ASSERT_FALSE(talker.read_at_least(got, 3)) << "still open after twice the deadline";
  EXPECT_EQ(server_->stats().handshake_timeouts, 0u);
}

TEST_F(Server, TheIdleTimeoutTheHandlerSetsClosesAQuietPeer) {
  echo_options opts;
  opts.idle = 1000ms; // wide margin over the 150 ms cadence: sanitizer builds on a loaded CI box
  const auto port = listen({}, opts);
  test_client c(pki_);
  ASSERT_TRUE(c.connect(port));
  std::string got;
  for (int i = 0; i < 10; ++i) { // 10 x 150 ms: longer than the timeout, never idle that long
    ASSERT_FALSE(c.write("k"));
    ASSERT_FALSE(c.read_at_least(got, got.size() + 1));
    std::this_thread::sleep_for(150ms);
  }
  EXPECT_TRUE(is_clean_end(c.read_until_closed(got)));
  ASSERT_TRUE(rec_->wait_for([&] { return rec_->closed == 1; }));
  EXPECT_EQ(reason(0), make_error_code(net_errc::idle_timeout));
}

TEST_F(Server, AnIdleTimeoutCountingReadsOnlyIgnoresOurOwnWrites) {
  echo_options reads_only;
  reads_only.idle = 1000ms;
  reads_only.idle_counts = idle_activity::reads;
  echo_options both = reads_only;
  both.idle_counts = idle_activity::reads_and_writes;
  const auto port_reads = listen({}, reads_only);
  const auto port_both = listen({}, both);

  // The server writes every 100 ms; the client reads and never writes.
  const auto stream = [&](std::uint16_t port, std::size_t index) {
    test_client c(pki_);
    EXPECT_TRUE(c.connect(port));
    EXPECT_TRUE(rec_->wait_for([&] { return rec_->handles.size() > index; }));
    const connection_handle h = handle(index);
    std::string got;
    for (int i = 0; i < 30; ++i) { // 3 s: three idle timeouts
      if (!accepted(h.send(to_bytes("t")))) {
        return false;
      }
      if (c.read_at_least(got, got.size() + 1, 2s)) {
        return false;
      }
      std::this_thread::sleep_for(100ms);
    }
    return true;
  };
  EXPECT_FALSE(stream(port_reads, 0)) << "our writes must not keep a silent client alive";
  EXPECT_TRUE(stream(port_both, 1)) << "with writes counted, the stream is activity";
  ASSERT_TRUE(rec_->wait_for([&] { return rec_->closed == 2; }));
  EXPECT_EQ(reason(0), make_error_code(net_errc::idle_timeout));
}

TEST_F(Server, ANonReadingPeerHitsTheHighWaterMarkAndTheProducerIsTold) {
  limits lim;
  lim.outbox_high_water = 64 * 1024;
  lim.outbox_low_water = 32 * 1024;
  lim.outbox_max = 256 * 1024;
  const auto port = listen(lim);
  test_client c(pki_);
  ASSERT_TRUE(c.connect(port));
  ASSERT_TRUE(rec_->wait_for([&] { return rec_->started == 1; }));
  const connection_handle h = handle(0);

  // The client reads nothing: kernel buffers fill (a few MB on loopback), then the outbox.
  const bytes chunk(8 * 1024, 0x5a);
  std::size_t accepted_bytes = 0;
  std::size_t max_seen = 0;
  bool above_high = false;
  bool refused = false;
  for (int i = 0; i < 20'000 && !refused; ++i) { // 160 MB at most
    const send_status s = h.send(chunk);
    max_seen = std::max(max_seen, h.outbox_bytes());
    if (accepted(s)) {
      accepted_bytes += chunk.size();
    }
    refused = s == send_status::refused_outbox_full;
    if (s == send_status::queued_above_high_water) {
      above_high = true;
      std::this_thread::sleep_for(1ms); // a polite producer: give the writer a chance
    }
  }
  EXPECT_TRUE(above_high);
  ASSERT_TRUE(refused) << "the producer must learn the outbox is full";
  EXPECT_LE(max_seen, lim.outbox_max) << "never past the bound";

  // Above the high-water mark the server stops reading this peer.
  ASSERT_FALSE(c.write("ping"));
  std::this_thread::sleep_for(300ms);
  {
    const std::lock_guard lock(rec_->mutex);
    EXPECT_EQ(rec_->received, "") << "input must wait while the outbox is over high water";
  }

  // Once the client drains, reading resumes and the handler hears on_writable.
  std::string got;
  ASSERT_FALSE(c.read_at_least(got, accepted_bytes + 4, 60s));
  EXPECT_EQ(got.substr(got.size() - 4), "ping");
  ASSERT_TRUE(rec_->wait_for([&] { return rec_->received == "ping"; }));
  const std::lock_guard lock(rec_->mutex);
  EXPECT_GE(rec_->writable, 1);
}

TEST_F(Server, SendsFromManyThreadsArriveInOrderPerSender) {
  limits lim;
  lim.outbox_high_water = 4 * 1024 * 1024;
  lim.outbox_low_water = 2 * 1024 * 1024;
  lim.outbox_max = 8 * 1024 * 1024;
  const auto port = listen(lim);
  test_client c(pki_);
  ASSERT_TRUE(c.connect(port));
  ASSERT_TRUE(rec_->wait_for([&] { return rec_->started == 1; }));
  const connection_handle h = handle(0);

  constexpr int senders = 8;
  constexpr int per_sender = 400;
  std::atomic<int> refused{0};
  std::atomic<int> posted_on_wrong_thread{0};
  std::thread::id connection_thread;
  {
    const std::lock_guard lock(rec_->mutex);
    connection_thread = rec_->start_threads.at(0);
  }
  std::vector<std::thread> threads;
  for (int s = 0; s < senders; ++s) {
    threads.emplace_back([&, s] {
      for (int i = 0; i < per_sender; ++i) {
        const std::string line = std::to_string(s) + ":" + std::to_string(i) + "\n";
        if (!accepted(h.send(to_bytes(line)))) {
          ++refused;
        }
        if (i % 100 == 0) {
          h.post([&](connection&) {
            if (std::this_thread::get_id() != connection_thread) {
              ++posted_on_wrong_thread;
            }
          });
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  ASSERT_EQ(refused.load(), 0);

  std::string got;
  std::size_t lines = 0;
  const auto end = std::chrono::steady_clock::now() + 30s;
  while (lines < static_cast<std::size_t>(senders * per_sender) &&
         std::chrono::steady_clock::now() < end) {
    ASSERT_FALSE(c.read_some(got, 10s));
    lines = static_cast<std::size_t>(std::count(got.begin(), got.end(), '\n'));
  }
  ASSERT_EQ(lines, static_cast<std::size_t>(senders * per_sender));
  std::map<int, int> next;
  std::istringstream in(got);
  std::string line;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    ASSERT_NE(colon, std::string::npos) << line;
    const int s = std::stoi(line.substr(0, colon));
    const int i = std::stoi(line.substr(colon + 1));
    EXPECT_EQ(i, next[s]) << "sender " << s;
    next[s] = i + 1;
  }
  EXPECT_EQ(next.size(), static_cast<std::size_t>(senders));
  EXPECT_EQ(posted_on_wrong_thread.load(), 0);
  EXPECT_TRUE(test::wait_until([&] { return h.outbox_bytes() == 0; }));
}

TEST_F(Server, CloseFlushWritesEverythingThenSendsCloseNotify) {
  const auto port = listen({});
  test_client c(pki_);
  ASSERT_TRUE(c.connect(port));
  ASSERT_TRUE(rec_->wait_for([&] { return rec_->started == 1; }));
  const connection_handle h = handle(0);
  const std::size_t total = 16 * 48 * 1024;
  std::atomic<bool> all_accepted{true};
  ASSERT_TRUE(h.post([&](connection& conn) {
    for (std::size_t sent = 0; sent < total; sent += 48 * 1024) {
      all_accepted = all_accepted && accepted(conn.send(bytes(48 * 1024, 0x42)));
    }
    conn.close(net_errc::server_shutdown, close_mode::flush);
    all_accepted = all_accepted && conn.send(bytes(1, 0)) == send_status::closed;
  }));
  std::string got;
  EXPECT_TRUE(is_clean_end(c.read_until_closed(got, 20s)));
  EXPECT_TRUE(all_accepted.load());
  EXPECT_EQ(got.size(), total);
  ASSERT_TRUE(rec_->wait_for([&] { return rec_->closed == 1; }));
  EXPECT_EQ(reason(0), make_error_code(net_errc::server_shutdown));
  EXPECT_FALSE(h.post([](connection&) {})) << "closed: nothing runs any more";
  EXPECT_EQ(h.send(to_bytes("late")), send_status::closed);
}

TEST_F(Server, GracefulShutdownSaysGoodbyeWithinTheDrainTimeout) {
  echo_options opts;
  opts.on_shutdown = echo_options::shutdown_behaviour::say_bye;
  const auto port = listen({}, opts);
  std::vector<std::unique_ptr<test_client>> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(std::make_unique<test_client>(pki_));
    ASSERT_TRUE(clients.back()->connect(port));
    std::string got;
    ASSERT_FALSE(clients.back()->write("hi"));
    ASSERT_FALSE(clients.back()->read_at_least(got, 2));
  }
  const auto drain = 5s;
  const auto before = std::chrono::steady_clock::now();
  server_->stop(drain);
  EXPECT_LT(std::chrono::steady_clock::now() - before, drain) << "no connection had to be forced";
  EXPECT_EQ(server_->stats().active, 0u);
  for (auto& c : clients) {
    std::string got;
    EXPECT_TRUE(is_clean_end(c->read_until_closed(got)));
    EXPECT_EQ(got, "BYE\n");
  }
  const std::lock_guard lock(rec_->mutex);
  EXPECT_EQ(rec_->shutdown_notices, 3);
  ASSERT_EQ(rec_->closed, 3);
  for (const auto& r : rec_->close_reasons) {
    EXPECT_EQ(r, make_error_code(net_errc::server_shutdown));
  }
  // New connections are refused once stopped.
  test_client late(pki_);
  EXPECT_FALSE(late.connect(port));
}

TEST_F(Server, ShutdownForcesHandlersThatIgnoreIt) {
  echo_options opts;
  opts.on_shutdown = echo_options::shutdown_behaviour::ignore;
  const auto port = listen({}, opts);
  test_client a(pki_);
  test_client b(pki_);
  ASSERT_TRUE(a.connect(port));
  ASSERT_TRUE(b.connect(port));
  ASSERT_TRUE(rec_->wait_for([&] { return rec_->started == 2; }));
  server_->stop(300ms);
  EXPECT_EQ(server_->stats().active, 0u);
  std::string got;
  EXPECT_TRUE(is_end(a.read_until_closed(got)));
  EXPECT_TRUE(is_end(b.read_until_closed(got)));
  const std::lock_guard lock(rec_->mutex);
  ASSERT_EQ(rec_->closed, 2);
  EXPECT_EQ(rec_->close_reasons[0], make_error_code(net_errc::shutdown_forced));
  EXPECT_EQ(rec_->close_reasons[1], make_error_code(net_errc::shutdown_forced));
}

TEST_F(Server, ConcurrentConnectionsAreLimitedPerListener) {
  limits lim;
  lim.max_connections = 2;
  const auto port = listen(lim);
  auto a = std::make_unique<test_client>(pki_);
  test_client b(pki_);
  ASSERT_TRUE(a->connect(port));
  ASSERT_TRUE(b.connect(port));
  test_client c(pki_);
  ASSERT_TRUE(c.connect_tcp(port)); // the kernel accepts; the server closes at once
  EXPECT_TRUE(c.handshake());
  EXPECT_EQ(server_->stats().rejected_over_limit, 1u);

  EXPECT_FALSE(a->shutdown());
  a.reset();
  ASSERT_TRUE(test::wait_until([&] { return server_->stats().active == 1; }));
  test_client d(pki_);
  EXPECT_TRUE(d.connect(port)) << "a slot was freed";
}

TEST_F(Server, AThrowingHandlerClosesOnlyItsOwnConnection) {
  echo_options opts;
  opts.throw_on_boom = true;
  const auto port = listen({}, opts);
  test_client bad(pki_);
  test_client good(pki_);
  ASSERT_TRUE(bad.connect(port));
  ASSERT_TRUE(good.connect(port));
  ASSERT_FALSE(bad.write("boom"));
  std::string got;
  EXPECT_TRUE(is_end(bad.read_until_closed(got)));
  ASSERT_FALSE(good.write("fine"));
  ASSERT_FALSE(good.read_at_least(got, 4));
  EXPECT_EQ(got, "fine");
  ASSERT_TRUE(rec_->wait_for([&] { return rec_->closed == 1; }));
  EXPECT_EQ(reason(0), make_error_code(net_errc::handler_failed));
}

TEST_F(Server, HandlesOutliveTheirConnectionAndTheServer) {
  const auto port = listen({});
  connection_handle h;
  {
    test_client c(pki_);
    ASSERT_TRUE(c.connect(port));
    ASSERT_TRUE(rec_->wait_for([&] { return rec_->started == 1; }));
    h = handle(0);
    EXPECT_TRUE(accepted(h.send(to_bytes("x"))));
  }
  ASSERT_TRUE(rec_->wait_for([&] { return rec_->closed == 1; }));
  EXPECT_EQ(h.send(to_bytes("x")), send_status::closed);
  server_->stop(1s);
  server_.reset();
  EXPECT_EQ(h.send(to_bytes("x")), send_status::closed);
  EXPECT_FALSE(h.post([](connection&) {}));
  h.close(net_errc::server_shutdown);
  server_ = std::make_unique<server>(server_options{1}); // for TearDown
}

// --- send framer ---------------------------------------------------------------------------

// A test framing: 4-byte big-endian length, then the payload. Closing writes a frame holding
// "END:" and the close reason's value.
class length_prefix_framer final : public send_framer {
public:
  bytes frame(bytes_view payload) const override {
    bytes out;
    out.reserve(payload.size() + 4);
    const auto n = static_cast<std::uint32_t>(payload.size());
    for (int shift = 24; shift >= 0; shift -= 8) {
      out.push_back(static_cast<std::uint8_t>((n >> shift) & 0xffU));
    }
    out.insert(out.end(), payload.begin(), payload.end());
    return out;
  }
  bytes closing(std::error_code reason) const override {
    const std::string text = "END:" + std::to_string(reason.value());
    return frame(to_bytes(text));
  }
};

// Splits `stream` into length-prefixed frames; whatever does not parse is left in `rest`.
std::vector<std::string> split_frames(std::string_view stream, std::string* rest = nullptr) {
  std::vector<std::string> frames;
  while (stream.size() >= 4) {
    std::uint32_t n = 0;
    for (int i = 0; i < 4; ++i) {
      n = (n << 8) | static_cast<std::uint8_t>(stream[static_cast<std::size_t>(i)]);
    }
    if (stream.size() < 4 + std::size_t{n}) {
      break;
    }
    frames.emplace_back(stream.substr(4, n));
    stream.remove_prefix(4 + std::size_t{n});
  }
  if (rest != nullptr) {
    *rest = std::string(stream);
  }
  return frames;
}

// Installs the framer on the connection's thread and waits until it is in place.
bool install_framer(const connection_handle& h, std::shared_ptr<const send_framer> f,
                    bool* second_refused = nullptr) {
  auto done = std::make_shared<std::atomic<int>>(0);
  const bool posted = h.post([done, f, second_refused](connection& conn) {
    const bool first = conn.set_send_framer(f);
    const bool second = conn.set_send_framer(f);
    if (second_refused != nullptr) {
      *second_refused = !second;
    }
    *done = first ? 1 : 2;
  });
  return posted && test::wait_until([&] { return done->load() != 0; }) && done->load() == 1;
}

TEST_F(Server, FramedSendsFromManyThreadsArriveWholeAndInOrderPerSender) {
  limits lim;
  lim.outbox_high_water = 4 * 1024 * 1024;
  lim.outbox_low_water = 2 * 1024 * 1024;
  lim.outbox_max = 8 * 1024 * 1024;
  const auto port = listen(lim);
  test_client c(pki_);
  ASSERT_TRUE(c.connect(port));
  ASSERT_TRUE(rec_->wait_for([&] { return rec_->started == 1; }));
  const connection_handle h = handle(0);
  bool second_refused = false;
  ASSERT_TRUE(install_framer(h, std::make_shared<length_prefix_framer>(), &second_refused));
  EXPECT_TRUE(second_refused) << "a framer is set once";

  constexpr int senders = 8;
  constexpr int per_sender = 200;
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int s = 0; s < senders; ++s) {
    threads.emplace_back([&, s] {
      for (int i = 0; i < per_sender; ++i) {
        // Sizes vary so that frames of different senders would tear if they were split.
        const std::string text = std::to_string(s) + ":" + std::to_string(i) + ":" +
                                 std::string(static_cast<std::size_t>((i * 37) % 1500), 'x');
        send_status st;
        if (i % 2 == 0) {
          st = h.send(to_bytes(text));
        } else {
          st = h.send(std::make_shared<const bytes>(to_bytes(text)));
        }
        if (!accepted(st)) {
          ++refused;
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  ASSERT_EQ(refused.load(), 0);

  std::string got;
  std::vector<std::string> frames;
  const auto end = std::chrono::steady_clock::now() + 30s;
  while (frames.size() < static_cast<std::size_t>(senders * per_sender) &&
         std::chrono::steady_clock::now() < end) {
    ASSERT_FALSE(c.read_some(got, 10s));
    frames = split_frames(got);
  }
  ASSERT_EQ(frames.size(), static_cast<std::size_t>(senders * per_sender));
  std::map<int, int> next;
  for (const auto& f : frames) {
    const auto a = f.find(':');
    const auto b = f.find(':', a + 1);
    ASSERT_NE(b, std::string::npos) << f.substr(0, 40);
    const int s = std::stoi(f.substr(0, a));
    const int i = std::stoi(f.substr(a + 1, b - a - 1));
    EXPECT_EQ(i, next[s]) << "sender " << s;
    EXPECT_EQ(f.size() - b - 1, static_cast<std::size_t>((i * 37) % 1500)) << "a torn frame";
    next[s] = i + 1;
  }
  EXPECT_EQ(next.size(), static_cast<std::size_t>(senders));
  EXPECT_TRUE(test::wait_until([&] { return h.outbox_bytes() == 0; }))
      << "the outbox counts framed bytes in and out alike";
}

TEST_F(Server, TheHandlersOwnSendsAreFramedAndUnframedSendsBypassTheFramer) {
  const auto port = listen({});
  test_client c(pki_);
  ASSERT_TRUE(c.connect(port));
  ASSERT_TRUE(rec_->wait_for([&] { return rec_->started == 1; }));
  const connection_handle h = handle(0);
  std::atomic<int> step{0};
  ASSERT_TRUE(h.post([&](connection& conn) {
    (void)conn.send(to_bytes("before"));
    (void)conn.set_send_framer(std::make_shared<length_prefix_framer>());
    (void)conn.send_unframed(to_bytes("RAW"));
    (void)conn.send(std::make_shared<const bytes>(to_bytes("shared")));
    step = 1;
  }));
  ASSERT_TRUE(test::wait_until([&] { return step.load() == 1; }));
  ASSERT_FALSE(c.write("echo"));
  std::string got;
  const std::string expected =
      std::string("beforeRAW") + std::string("\0\0\0\6shared", 10) + std::string("\0\0\0\4echo", 8);
  ASSERT_FALSE(c.read_at_least(got, expected.size()));
  EXPECT_EQ(got, expected);
}

TEST_F(Server, AFlushCloseWritesTheFramersTrailerLastAndADropCloseDoesNot) {
  const auto port = listen({});
  test_client c1(pki_);
  test_client c2(pki_);
  ASSERT_TRUE(c1.connect(port));
  ASSERT_TRUE(rec_->wait_for([&] { return rec_->started == 1; }));
  ASSERT_TRUE(c2.connect(port));
  ASSERT_TRUE(rec_->wait_for([&] { return rec_->started == 2; }));
  const auto framer = std::make_shared<length_prefix_framer>();
  const connection_handle h1 = handle(0);
  const connection_handle h2 = handle(1);
  ASSERT_TRUE(install_framer(h1, framer));
  ASSERT_TRUE(install_framer(h2, framer));

  // One buffer fanned out to both: each gets its own framed copy, the buffer is untouched.
  const auto shared = std::make_shared<const bytes>(to_bytes("fan-out"));
  EXPECT_TRUE(accepted(h1.send(shared)));
  EXPECT_TRUE(accepted(h2.send(shared)));
  EXPECT_EQ(*shared, to_bytes("fan-out"));
  h1.close(net_errc::server_shutdown, close_mode::flush);
  h2.close(net_errc::server_shutdown, close_mode::drop);

  std::string got1;
  EXPECT_TRUE(is_end(c1.read_until_closed(got1, 20s)));
  std::string rest;
  const auto frames1 = split_frames(got1, &rest);
  ASSERT_EQ(frames1.size(), 2U) << got1;
  EXPECT_EQ(frames1[0], "fan-out");
  EXPECT_EQ(frames1[1], "END:" + std::to_string(static_cast<int>(net_errc::server_shutdown)));
  EXPECT_TRUE(rest.empty());

  std::string got2;
  EXPECT_TRUE(is_end(c2.read_until_closed(got2, 20s)));
  EXPECT_EQ(got2.find("END:"), std::string::npos) << "a dropped connection says nothing more";
  ASSERT_TRUE(rec_->wait_for([&] { return rec_->closed == 2; }));
  EXPECT_EQ(h1.send(to_bytes("late")), send_status::closed);
}

} // namespace
} // namespace aegis::net
