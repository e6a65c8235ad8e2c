// aegis-bench: an MQTT-over-TLS load generator for any broker on 127.0.0.0/8 (bench/mqtt/run
// drives it against Mosquitto and aegisd in turn). One scenario per run, one JSON line of results
// on stdout:
//
//   connect  new TLS connections: handshake, CONNECT, CONNACK, DISCONNECT (--resume: TLS session
//            resumption with the previous connection's session, per worker)
//   fan-in   N publishers -> 1 subscriber (QoS 0 or 1, 100-byte payloads, every message counted)
//   fan-out  1 publisher -> N subscribers
//   latency  end-to-end percentiles at a fixed offered rate (fan-in shape)
//   idle     N idle connections with keep-alive, held for a while
//   churn    connections coming and going while steady traffic flows
//
// The broker's CPU time (utime+stime of --broker-pid from /proc) is read around the measured
// phase, so each result carries broker CPU per connection or per delivered message: that figure
// stays meaningful when this single-threaded generator, not the broker, is the bottleneck.
// Every loop is bounded in count and time; the whole run is bounded by --timeout.

#include "aegis/base/bytes.hpp"
#include "aegis/mqtt/codec.hpp"
#include "aegis/mqtt/packet.hpp"
#include "aegis/mqtt/protocol.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
namespace mqtt = aegis::mqtt;
using tcp = asio::ip::tcp;
using stream_t = ssl::stream<tcp::socket>;
using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;
using asio::awaitable;
using asio::use_awaitable;
using boost::system::error_code;

[[noreturn]] void die(const std::string& why) {
  std::cerr << "aegis-bench: " << why << "\n";
  std::exit(2);
}

// ---------------------------------------------------------------- options

struct options {
  std::string scenario;
  std::string label = "broker";
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::string ca;
  std::string server_name = "localhost";
  int broker_pid = 0;
  // Credentials: an account (user/password), device JWTs (ES256 keys DIR/dev<i>.key) or device
  // client certificates (DIR/dev<i>.crt + DIR/dev<i>.key); devices are <device-prefix>dev<i>.
  std::string user;
  std::string password;
  std::string jwt_dir;
  std::string cert_dir;
  std::string device_prefix;
  std::string audience;
  int devices = 0;
  bool v5 = false;
  // Source addresses 127.0.0.<source_first> ... (<source_first> + sources - 1).
  int sources = 8;
  int source_first = 2;
  int seconds = 10;
  long max_count = 1'000'000;
  int parallel = 8;
  bool resume = false;
  int qos = 0;
  int publishers = 1000;
  int subscribers = 1;
  long rate = 0; // messages/s offered in total; 0: as fast as the sockets take them
  int payload = 100;
  int window = 16; // QoS 1 messages in flight per publisher
  // --rate 0: messages sent and not yet received, all publishers together.
  int in_flight = 200;
  int connections = 1000;
  int keepalive = 120;
  int hold = 15;
  std::string ready_file;
  int churners = 8;
  std::string tag;
  int timeout = 600;
};

int to_int(const std::string& s, long lo, long hi) {
  char* end = nullptr;
  const long v = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || v < lo || v > hi) {
    die("not a number in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]: " + s);
  }
  return static_cast<int>(v);
}

// ---------------------------------------------------------------- /proc of the broker

struct proc_sample {
  double cpu_seconds = 0;
  long rss_kib = 0;
  long fds = 0;
};

proc_sample sample_broker(int pid) {
  proc_sample s;
  if (pid <= 0) {
    return s;
  }
  const std::string base = "/proc/" + std::to_string(pid);
  {
    std::ifstream in(base + "/stat");
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto close = all.rfind(')');
    if (close == std::string::npos) {
      die("cannot read " + base + "/stat (broker gone?)");
    }
    std::istringstream fields(all.substr(close + 2));
    std::string f;
    unsigned long long utime = 0;
    unsigned long long stime = 0;
    // Fields after the command: state(3) ... utime(14) stime(15).
    for (int i = 3; i <= 15 && fields >> f; ++i) {
      if (i == 14) {
        utime = std::stoull(f);
      } else if (i == 15) {
        stime = std::stoull(f);
      }
    }
    s.cpu_seconds =
        static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }
  {
    std::ifstream in(base + "/status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("VmRSS:", 0) == 0) {
        s.rss_kib = std::strtol(line.c_str() + 6, nullptr, 10);
      }
    }
  }
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(base + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++s.fds;
  }
  return s;
}

double own_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  const auto tv = [](timeval t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return tv(u.ru_utime) + tv(u.ru_stime);
}

// ---------------------------------------------------------------- device JWTs (ES256)

std::string base64url(std::string_view s) {
  return aegis::base64url_encode(aegis::as_bytes(s));
}

std::string mint_es256_jwt(const std::string& key_file, const std::string& audience) {
  FILE* f = std::fopen(key_file.c_str(), "r");
  if (f == nullptr) {
    die("cannot open " + key_file);
  }
  EVP_PKEY* key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (key == nullptr) {
    die("not a PEM private key: " + key_file);
  }
  const auto now = static_cast<long long>(std::time(nullptr));
  const std::string signing_input =
      base64url(R"({"alg":"ES256","typ":"JWT"})") + "." +
      base64url(R"({"iat":)" + std::to_string(now) + R"(,"exp":)" + std::to_string(now + 3600) +
                R"(,"aud":")" + audience + R"("})");
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::size_t len = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(signing_input.data());
  if (ctx == nullptr || EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key) != 1 ||
      EVP_DigestSign(ctx, nullptr, &len, in, signing_input.size()) != 1) {
    die("EVP_DigestSign failed");
  }
  std::vector<unsigned char> der(len);
  if (EVP_DigestSign(ctx, der.data(), &len, in, signing_input.size()) != 1) {
    die("EVP_DigestSign failed");
  }
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  // JWS wants r || s, not the DER ECDSA-Sig-Value OpenSSL produces.
  const unsigned char* p = der.data();
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len));
  if (sig == nullptr) {
    die("d2i_ECDSA_SIG failed");
  }
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig, &r, &s);
  std::array<unsigned char, 64> raw{};
  if (BN_bn2binpad(r, raw.data(), 32) != 32 || BN_bn2binpad(s, raw.data() + 32, 32) != 32) {
    die("BN_bn2binpad failed");
  }
  ECDSA_SIG_free(sig);
  return signing_input + "." + aegis::base64url_encode(aegis::bytes_view(raw.data(), raw.size()));
}

// ---------------------------------------------------------------- percentiles, JSON

double percentile(std::vector<std::uint32_t>& v, double q) {
  if (v.empty()) {
    return -1.0;
  }
  const auto k = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return static_cast<double>(v[k]) / 1000.0; // samples are µs, results ms
}

class json_line {
public:
  template <class T>
  json_line& add(const std::string& key, const T& value) {
    sep();
    out_ << '"' << key << "\":";
    if constexpr (std::is_same_v<T, bool>) {
      out_ << (value ? "true" : "false");
    } else if constexpr (std::is_arithmetic_v<T>) {
      out_ << value;
    } else {
      out_ << '"' << escape(std::string(value)) << '"';
    }
    return *this;
  }
  json_line& raw(const std::string& key, const std::string& json) {
    sep();
    out_ << '"' << key << "\":" << json;
    return *this;
  }
  std::string str() const { return out_.str() + "}"; }
  static std::string escape(const std::string& s) {
    std::string o;
    for (const char c : s) {
      if (c == '"' || c == '\\') {
        o += '\\';
        o += c;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        o += ' ';
      } else {
        o += c;
      }
    }
    return o;
  }

private:
  void sep() {
    out_ << (first_ ? "{" : ",");
    first_ = false;
  }
  std::ostringstream out_;
  bool first_ = true;
};

// ---------------------------------------------------------------- one MQTT client

struct client {
  client(asio::io_context& io, ssl::context& tls, std::size_t read_buffer)
      : s(io, tls), rbuf(read_buffer) {}
  stream_t s;
  mqtt::frame_decoder dec;
  std::vector<std::uint8_t> rbuf;
  std::size_t rpos = 0;
  std::size_t rlen = 0;
  aegis::bytes out;
  aegis::bytes sending;
  bool writing = false;
  bool open = false;
  bool failed = false;
  // Publisher state: a pre-encoded PUBLISH whose packet id and payload are patched per message.
  aegis::bytes tmpl;
  std::size_t payload_off = 0;
  std::size_t pid_off = 0;
  std::uint32_t index = 0;
  std::uint16_t next_id = 1;
  std::uint32_t inflight = 0;
  std::uint64_t seq = 0;
  std::uint64_t acked = 0;
  // Subscriber state: the next sequence number expected from each publisher.
  std::vector<std::uint64_t> next_seq;
};

struct credentials {
  std::string client_id;
  std::optional<std::string> username;
  std::optional<aegis::bytes> password;
  ssl::context* tls = nullptr;
};

struct bench {
  options opt;
  asio::io_context io{1};
  ssl::context tls{ssl::context::tls_client};
  std::vector<std::unique_ptr<ssl::context>> device_tls;
  std::vector<std::string> device_jwts;
  tcp::endpoint endpoint;
  mqtt::protocol_version version = mqtt::protocol_version::v3_1_1;
  std::map<std::string, long> errors;
  std::uint64_t client_counter = 0;
  std::string tls_version;

  explicit bench(options o) : opt(std::move(o)) {
    endpoint = tcp::endpoint(asio::ip::make_address(opt.host), opt.port);
    version = opt.v5 ? mqtt::protocol_version::v5 : mqtt::protocol_version::v3_1_1;
    prepare_context(tls);
    for (int i = 0; i < opt.devices; ++i) {
      const std::string name = "dev" + std::to_string(i);
      if (!opt.jwt_dir.empty()) {
        device_jwts.push_back(mint_es256_jwt(opt.jwt_dir + "/" + name + ".key", opt.audience));
      }
      if (!opt.cert_dir.empty()) {
        auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
        prepare_context(*ctx);
        ctx->use_certificate_chain_file(opt.cert_dir + "/" + name + ".crt");
        ctx->use_private_key_file(opt.cert_dir + "/" + name + ".key", ssl::context::pem);
        device_tls.push_back(std::move(ctx));
      }
    }
  }

  void prepare_context(ssl::context& ctx) const {
    ctx.set_verify_mode(ssl::verify_peer);
    ctx.load_verify_file(opt.ca);
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
    // Thousands of idle connections: the generator's own memory matters too.
    SSL_CTX_set_mode(ctx.native_handle(), SSL_MODE_RELEASE_BUFFERS);
    // TLS 1.3 tickets arrive after the handshake; OpenSSL hands them over through this callback.
    SSL_CTX_set_session_cache_mode(ctx.native_handle(),
                                   SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx.native_handle(), &keep_ticket);
  }

  // Where a connection's new session goes: the connecting worker's slot (SSL ex data).
  static int ticket_slot_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
  }

  static int keep_ticket(SSL* ssl, SSL_SESSION* session) {
    auto* slot = static_cast<SSL_SESSION**>(SSL_get_ex_data(ssl, ticket_slot_index()));
    if (slot == nullptr) {
      return 0; // not kept: OpenSSL frees it
    }
    if (*slot != nullptr) {
      SSL_SESSION_free(*slot);
    }
    *slot = session;
    return 1; // ours now
  }

  void note_error(const std::string& what) {
    if (errors.size() < 20 || errors.count(what) > 0) {
      ++errors[what];
    }
  }

  // Credentials for the n-th connection: accounts get unique client ids; devices are chosen by
  // the caller (`device`), so that no two live connections share a device's session.
  credentials creds(int device) {
    credentials c;
    c.tls = &tls;
    if (!opt.jwt_dir.empty() || !opt.cert_dir.empty()) {
      const auto d = static_cast<std::size_t>(device % std::max(1, opt.devices));
      c.client_id = opt.device_prefix + "dev" + std::to_string(d);
      if (!device_jwts.empty()) {
        c.username = "unused";
        c.password = aegis::to_bytes(device_jwts[d]);
      }
      if (!device_tls.empty()) {
        c.tls = device_tls[d].get();
      }
    } else {
      c.client_id = "bench-" + std::to_string(::getpid()) + "-" + std::to_string(client_counter++);
      if (!opt.user.empty()) {
        c.username = opt.user;
        c.password = aegis::to_bytes(opt.password);
      }
    }
    return c;
  }

  asio::ip::address_v4 source_address(std::uint64_t n) const {
    const auto host = static_cast<unsigned>(opt.source_first) +
                      static_cast<unsigned>(n % static_cast<std::uint64_t>(opt.sources));
    return asio::ip::address_v4((127U << 24) | (host & 0xffffU));
  }

  awaitable<void> sleep(std::chrono::milliseconds d) {
    asio::steady_timer t(io, d);
    co_await t.async_wait(use_awaitable);
  }

  // ------------------------------------------------------------ reading and writing

  // The next packet from the broker; nullopt with `ec` set when the connection ended.
  awaitable<std::optional<mqtt::packet>> read_packet(client& c, error_code& ec) {
    for (;;) {
      if (c.rpos < c.rlen) {
        aegis::bytes_view in(c.rbuf.data() + c.rpos, c.rlen - c.rpos);
        auto r = c.dec.next(in);
        c.rpos = c.rlen - in.size();
        if (!r) {
          ec = make_error_code(boost::system::errc::protocol_error);
          note_error("decode: " + r.error().message());
          co_return std::nullopt;
        }
        if (*r) {
          co_return std::move(**r);
        }
        continue;
      }
      const std::size_t n = co_await c.s.async_read_some(asio::buffer(c.rbuf),
                                                         asio::redirect_error(use_awaitable, ec));
      if (ec) {
        co_return std::nullopt;
      }
      c.rpos = 0;
      c.rlen = n;
    }
  }

  awaitable<void> write_loop(client& c) {
    while (!c.out.empty() && c.open) {
      std::swap(c.out, c.sending);
      error_code ec;
      co_await asio::async_write(c.s, asio::buffer(c.sending),
                                 asio::redirect_error(use_awaitable, ec));
      c.sending.clear();
      if (ec) {
        c.failed = true;
        c.open = false;
        break;
      }
    }
    c.writing = false;
  }

  void flush(client& c) {
    if (!c.writing && !c.out.empty() && c.open) {
      c.writing = true;
      asio::co_spawn(io, write_loop(c), asio::detached);
    }
  }

  template <class P>
  void send(client& c, const P& p) {
    if (!mqtt::encode_to(p, version, c.out)) {
      die("encode failed");
    }
    flush(c);
  }

  void abort(client& c) {
    error_code ec;
    c.s.next_layer().close(ec);
    c.open = false;
  }

  // TCP connect from a 127.x source, TLS handshake, CONNECT, CONNACK. On success the client is
  // open; `resume` (may be null) is offered for TLS session resumption.
  awaitable<bool> open(client& c, const credentials& cr, std::uint16_t keepalive,
                       SSL_SESSION** resume, std::chrono::seconds limit = 20s) {
    c.dec = mqtt::frame_decoder(mqtt::decoder_options{.version = version,
                                                      .from = mqtt::sender::server,
                                                      .maximum_packet_size = 1 << 20,
                                                      .validate_payload_format = false});
    auto& sock = c.s.next_layer();
    error_code ec;
    sock.open(tcp::v4(), ec);
    if (ec) {
      note_error("socket: " + ec.message());
      co_return false;
    }
    // The port is chosen at connect time, per destination: many more than 28k ports per source.
    const int one = 1;
    ::setsockopt(sock.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sock.bind(tcp::endpoint(source_address(client_counter++), 0), ec);
    if (ec) {
      note_error("bind: " + ec.message());
      co_return false;
    }
    // Whatever hangs (a full backlog, a broker that never answers) is closed at the deadline.
    asio::steady_timer watchdog(io, limit);
    watchdog.async_wait([&sock](const error_code& e) {
      if (!e) {
        error_code ignored;
        sock.close(ignored);
      }
    });
    co_await sock.async_connect(endpoint, asio::redirect_error(use_awaitable, ec));
    if (ec) {
      note_error("connect: " + ec.message());
      co_return false;
    }
    sock.set_option(tcp::no_delay(true), ec);
    SSL* native = c.s.native_handle();
    SSL_set_tlsext_host_name(native, opt.server_name.c_str());
    SSL_set1_host(native, opt.server_name.c_str());
    if (resume != nullptr) {
      if (*resume != nullptr) {
        SSL_set_session(native, *resume);
      }
      SSL_set_ex_data(native, ticket_slot_index(), resume);
    }
    co_await c.s.async_handshake(ssl::stream_base::client, asio::redirect_error(use_awaitable, ec));
    if (ec) {
      note_error("handshake: " + ec.message());
      co_return false;
    }
    if (tls_version.empty()) {
      tls_version = SSL_get_version(native);
    }
    mqtt::connect pkt;
    pkt.version = version;
    pkt.clean_start = true;
    pkt.keep_alive = keepalive;
    pkt.client_id = cr.client_id;
    pkt.username = cr.username;
    pkt.password = cr.password;
    aegis::bytes buf;
    if (!mqtt::encode_to(pkt, version, buf)) {
      die("CONNECT does not encode");
    }
    co_await asio::async_write(c.s, asio::buffer(buf), asio::redirect_error(use_awaitable, ec));
    if (ec) {
      note_error("write CONNECT: " + ec.message());
      co_return false;
    }
    auto p = co_await read_packet(c, ec);
    if (!p) {
      note_error("read CONNACK: " + ec.message());
      co_return false;
    }
    const auto* ack = std::get_if<mqtt::connack>(&*p);
    if (ack == nullptr) {
      note_error("first packet is not CONNACK");
      co_return false;
    }
    if (ack->reason != mqtt::reason_code::success) {
      note_error("CONNACK refused: " + std::to_string(static_cast<int>(ack->reason)));
      co_return false;
    }
    watchdog.cancel();
    c.open = true;
    co_return true;
  }

  awaitable<bool> subscribe(client& c, const std::string& filter, int qos) {
    mqtt::subscribe sub;
    sub.packet_id = 1;
    sub.subscriptions.push_back(
        mqtt::subscription{.filter = filter, .options = {.max_qos = static_cast<mqtt::qos>(qos)}});
    send(c, sub);
    error_code ec;
    auto p = co_await read_packet(c, ec);
    const auto* ack = p ? std::get_if<mqtt::suback>(&*p) : nullptr;
    if (ack == nullptr || ack->reasons.size() != 1 || static_cast<int>(ack->reasons[0]) >= 0x80) {
      note_error("SUBSCRIBE refused");
      co_return false;
    }
    co_return true;
  }

  // Sends DISCONNECT and waits (boundedly) for the broker to close, so that the broker, not
  // the generator, holds the TIME_WAIT.
  awaitable<void> disconnect(client& c, std::chrono::milliseconds limit = 1000ms) {
    if (!c.open) {
      co_return;
    }
    send(c, mqtt::disconnect{});
    asio::steady_timer watchdog(io, limit);
    auto& sock = c.s.next_layer();
    watchdog.async_wait([&sock](const error_code& e) {
      if (!e) {
        error_code ignored;
        sock.close(ignored);
      }
    });
    error_code ec;
    while (!ec) {
      co_await c.s.async_read_some(asio::buffer(c.rbuf), asio::redirect_error(use_awaitable, ec));
    }
    watchdog.cancel();
    // A clean end: without this, SSL_free marks the session (our resumption ticket) not
    // resumable, as after a broken connection.
    SSL_set_shutdown(c.s.native_handle(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    abort(c);
    // The writer coroutine refers to `c`: the caller may destroy it once this returns.
    while (c.writing) {
      co_await sleep(1ms);
    }
  }

  // Runs `body(i)` for i in [0, count) on `parallel` workers; returns when all are done.
  template <class F>
  awaitable<void> for_each_parallel(int count, int parallel, F body) {
    int next = 0;
    int running = std::max(1, std::min(parallel, count));
    const int workers = running;
    for (int w = 0; w < workers; ++w) {
      asio::co_spawn(
          io,
          [&]() -> awaitable<void> {
            while (next < count) {
              const int i = next++;
              co_await body(i);
            }
          },
          [&running](std::exception_ptr e) {
            if (e) {
              std::rethrow_exception(e);
            }
            --running;
          });
    }
    while (running > 0) {
      co_await sleep(10ms);
    }
  }

  std::string errors_json() const {
    std::string s = "{";
    for (const auto& [k, v] : errors) {
      s += (s.size() > 1 ? "," : "") + std::string("\"") + json_line::escape(k) +
           "\":" + std::to_string(v);
    }
    return s + "}";
  }

  json_line header() const {
    json_line j;
    j.add("scenario", opt.scenario).add("label", opt.label).add("tls", tls_version);
    j.add("mqtt", std::string(opt.v5 ? "5" : "3.1.1"));
    j.add("auth", std::string(!opt.cert_dir.empty()  ? "mtls"
                              : !opt.jwt_dir.empty() ? "jwt"
                              : opt.user.empty()     ? "none"
                                                     : "password"));
    return j;
  }

  // ------------------------------------------------------------ connect

  awaitable<std::string> run_connect() {
    std::vector<std::uint32_t> lat_us;
    long ok = 0;
    long failed = 0;
    long resumed = 0;
    const auto start = steady::now();
    const auto end = start + std::chrono::seconds(opt.seconds);
    const auto before = sample_broker(opt.broker_pid);
    const double own_before = own_cpu_seconds();
    long started = 0;
    co_await for_each_parallel(opt.parallel, opt.parallel, [&](int worker) -> awaitable<void> {
      SSL_SESSION* session = nullptr;
      while (steady::now() < end && started < opt.max_count) {
        ++started;
        // Worker w is device w: no two live connections share a device's session.
        const auto cr = creds(worker);
        auto conn = std::make_unique<client>(io, *cr.tls, 4096);
        const auto t0 = steady::now();
        const bool good = co_await open(*conn, cr, 30, opt.resume ? &session : nullptr);
        if (!good) {
          ++failed;
          abort(*conn);
          co_await sleep(10ms);
          continue;
        }
        lat_us.push_back(static_cast<std::uint32_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - t0).count()));
        ++ok;
        if (SSL_session_reused(conn->s.native_handle()) == 1) {
          ++resumed;
        }
        co_await disconnect(*conn);
        // No ticket may land in `session` once this worker's loop is over.
        SSL_set_ex_data(conn->s.native_handle(), ticket_slot_index(), nullptr);
      }
      if (session != nullptr) {
        SSL_SESSION_free(session);
      }
    });
    const double wall = std::chrono::duration<double>(steady::now() - start).count();
    co_await sleep(300ms); // the broker finishes its side of the last closes
    const auto after = sample_broker(opt.broker_pid);
    const double broker_cpu = after.cpu_seconds - before.cpu_seconds;
    auto j = header();
    j.add("ok", ok).add("failed", failed).add("resumed", resumed).add("seconds", wall);
    j.add("rate", static_cast<double>(ok) / wall).add("parallel", opt.parallel);
    j.add("broker_cpu_s", broker_cpu);
    j.add("broker_us_per_conn", ok > 0 ? broker_cpu * 1e6 / static_cast<double>(ok) : -1.0);
    j.add("client_cpu_s", own_cpu_seconds() - own_before);
    j.add("p50_ms", percentile(lat_us, 0.5)).add("p99_ms", percentile(lat_us, 0.99));
    j.add("max_ms", percentile(lat_us, 1.0));
    j.raw("errors", errors_json());
    co_return j.str();
  }

  // ------------------------------------------------------------ publish / subscribe

  struct traffic {
    std::vector<std::unique_ptr<client>> pubs;
    std::vector<std::unique_ptr<client>> subs;
    std::uint64_t offered = 0;
    std::uint64_t sent = 0;
    std::uint64_t received = 0; // unique, in order per publisher
    std::uint64_t duplicates = 0;
    std::uint64_t out_of_order = 0;
    std::uint64_t acked = 0;
    steady::time_point first_rx{};
    steady::time_point last_rx{};
    std::vector<std::uint32_t> lat_us;
    bool stopping = false;
    int readers = 0;
  };

  static std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now().time_since_epoch())
        .count();
  }

  void make_template(client& p, const std::string& topic, int qos) {
    mqtt::publish msg;
    msg.topic = topic;
    msg.qos = static_cast<mqtt::qos>(qos);
    msg.packet_id = qos > 0 ? 1 : 0;
    msg.payload.assign(static_cast<std::size_t>(opt.payload), 'x');
    if (!mqtt::encode_to(msg, version, p.tmpl)) {
      die("PUBLISH does not encode");
    }
    p.payload_off = p.tmpl.size() - msg.payload.size();
    // v5 puts a one-byte (empty) property length between the packet id and the payload.
    p.pid_off = p.payload_off - 2 - (opt.v5 ? 1 : 0);
  }

  // Appends one message to the publisher's outbox: publisher index, sequence, send time.
  void add_message(client& p, int qos) {
    const std::size_t base = p.out.size();
    p.out.insert(p.out.end(), p.tmpl.begin(), p.tmpl.end());
    std::uint8_t* m = p.out.data() + base;
    if (qos > 0) {
      if (p.next_id == 0) {
        p.next_id = 1;
      }
      m[p.pid_off] = static_cast<std::uint8_t>(p.next_id >> 8);
      m[p.pid_off + 1] = static_cast<std::uint8_t>(p.next_id & 0xff);
      ++p.next_id;
      ++p.inflight;
    }
    const std::uint64_t seq = p.seq++;
    const std::int64_t t = now_ns();
    std::memcpy(m + p.payload_off, &p.index, 4);
    std::memcpy(m + p.payload_off + 4, &seq, 8);
    std::memcpy(m + p.payload_off + 12, &t, 8);
  }

  awaitable<void> publisher_reader(client& p, traffic& t) {
    ++t.readers;
    error_code ec;
    while (p.open) {
      auto pk = co_await read_packet(p, ec);
      if (!pk) {
        if (!t.stopping) {
          note_error("publisher connection lost: " + ec.message());
        }
        p.open = false;
        break;
      }
      if (std::holds_alternative<mqtt::puback>(*pk)) {
        if (p.inflight > 0) {
          --p.inflight;
        }
        ++p.acked;
        ++t.acked;
      }
    }
    --t.readers;
  }

  awaitable<void> subscriber_reader(client& s, traffic& t, bool record_latency) {
    ++t.readers;
    error_code ec;
    while (s.open) {
      auto pk = co_await read_packet(s, ec);
      if (!pk) {
        if (!t.stopping) {
          note_error("subscriber connection lost: " + ec.message());
        }
        s.open = false;
        break;
      }
      auto* msg = std::get_if<mqtt::publish>(&*pk);
      if (msg == nullptr || msg->payload.size() < 20) {
        continue;
      }
      if (msg->qos == mqtt::qos::at_least_once) {
        mqtt::puback ack;
        ack.packet_id = msg->packet_id;
        if (!mqtt::encode_to(ack, version, s.out)) {
          die("PUBACK does not encode");
        }
        // Acknowledged in batches: once the read buffer is consumed.
        if (s.rpos >= s.rlen) {
          flush(s);
        }
      }
      std::uint32_t index = 0;
      std::uint64_t seq = 0;
      std::int64_t sent_ns = 0;
      std::memcpy(&index, msg->payload.data(), 4);
      std::memcpy(&seq, msg->payload.data() + 4, 8);
      std::memcpy(&sent_ns, msg->payload.data() + 12, 8);
      if (index >= s.next_seq.size()) {
        continue;
      }
      auto& expected = s.next_seq[index];
      if (seq < expected) {
        ++t.duplicates;
        continue;
      }
      if (seq > expected) {
        ++t.out_of_order; // a gap: earlier messages of this publisher were lost (or reordered)
      }
      expected = seq + 1;
      ++t.received;
      const auto now = steady::now();
      if (t.received == 1) {
        t.first_rx = now;
      }
      t.last_rx = now;
      if (record_latency && t.lat_us.size() < 20'000'000) {
        t.lat_us.push_back(static_cast<std::uint32_t>((now_ns() - sent_ns) / 1000));
      }
    }
    if (!s.out.empty()) {
      flush(s);
    }
    --t.readers;
  }

  // Connects subscribers then publishers; publishers publish to bench/<tag>/<i>, every
  // subscriber takes bench/<tag>/+.
  awaitable<bool> setup_traffic(traffic& t, int publishers, int subscribers, int qos) {
    const std::string prefix = "bench/" + opt.tag + "/";
    for (int i = 0; i < subscribers; ++i) {
      t.subs.push_back(std::make_unique<client>(io, tls, 64 * 1024));
    }
    for (int i = 0; i < publishers; ++i) {
      t.pubs.push_back(std::make_unique<client>(io, tls, 4096));
    }
    co_await for_each_parallel(subscribers, 32, [&](int i) -> awaitable<void> {
      auto& s = *t.subs[static_cast<std::size_t>(i)];
      if (co_await open(s, creds(i), static_cast<std::uint16_t>(opt.keepalive), nullptr) &&
          co_await subscribe(s, prefix + "+", qos)) {
        s.next_seq.assign(static_cast<std::size_t>(publishers), 0);
        asio::co_spawn(io, subscriber_reader(s, t, true), asio::detached);
      } else {
        abort(s);
      }
    });
    co_await for_each_parallel(publishers, 32, [&](int i) -> awaitable<void> {
      auto& p = *t.pubs[static_cast<std::size_t>(i)];
      p.index = static_cast<std::uint32_t>(i);
      make_template(p, prefix + std::to_string(i), qos);
      if (co_await open(p, creds(i), static_cast<std::uint16_t>(opt.keepalive), nullptr)) {
        asio::co_spawn(io, publisher_reader(p, t), asio::detached);
      } else {
        abort(p);
      }
    });
    const auto open_subs =
        std::count_if(t.subs.begin(), t.subs.end(), [](const auto& c) { return c->open; });
    const auto open_pubs =
        std::count_if(t.pubs.begin(), t.pubs.end(), [](const auto& c) { return c->open; });
    if (open_subs != subscribers || open_pubs != publishers) {
      std::cerr << "aegis-bench: " << open_subs << "/" << subscribers << " subscribers, "
                << open_pubs << "/" << publishers << " publishers connected\n";
    }
    // Subscriptions are in place before the first message (the SUBACK came back).
    co_return open_subs > 0 && open_pubs > 0;
  }

  bool can_take(const client& p, int qos) const {
    return p.open && p.out.size() < 32 * 1024 &&
           (qos == 0 || p.inflight < static_cast<std::uint32_t>(opt.window));
  }

  // Offers `rate` messages/s in total (0: as fast as the broker delivers, see --in-flight) for
  // `seconds`, round-robin over the publishers, one write per publisher per millisecond tick.
  awaitable<void> pace(traffic& t, long rate, int seconds, int qos) {
    asio::steady_timer timer(io);
    const auto start = steady::now();
    const auto end = start + std::chrono::seconds(seconds);
    std::size_t rr = 0;
    const std::size_t n = t.pubs.size();
    auto next_tick = start;
    const std::uint64_t subs = std::max<std::uint64_t>(
        1, static_cast<std::uint64_t>(
               std::count_if(t.subs.begin(), t.subs.end(), [](const auto& c) { return c->open; })));
    while (steady::now() < end) {
      next_tick += 1ms;
      timer.expires_at(next_tick);
      co_await timer.async_wait(use_awaitable);
      if (rate > 0) {
        const double elapsed = std::chrono::duration<double>(steady::now() - start).count();
        const auto target = static_cast<std::uint64_t>(static_cast<double>(rate) * elapsed);
        std::uint64_t due = target > t.offered ? target - t.offered : 0;
        t.offered += due;
        while (due > 0) {
          std::size_t tried = 0;
          while (tried < n && !can_take(*t.pubs[rr % n], qos)) {
            ++rr;
            ++tried;
          }
          if (tried == n) {
            break; // every publisher is blocked: the rest of this tick is not sent
          }
          add_message(*t.pubs[rr % n], qos);
          ++rr;
          ++t.sent;
          --due;
        }
      } else {
        // Closed loop: at most --in-flight messages sent and not yet received by every
        // subscriber, so that the rate found is one the broker sustains without dropping
        // (an open loop only measures how much a broker throws away).
        const std::uint64_t received_by_all = t.received / subs;
        const std::uint64_t outstanding = t.sent > received_by_all ? t.sent - received_by_all : 0;
        std::uint64_t budget = outstanding < static_cast<std::uint64_t>(opt.in_flight)
                                   ? static_cast<std::uint64_t>(opt.in_flight) - outstanding
                                   : 0;
        bool progress = true;
        while (budget > 0 && progress) {
          progress = false;
          for (std::size_t k = 0; k < n && budget > 0; ++k, ++rr) {
            auto& p = *t.pubs[rr % n];
            if (can_take(p, qos)) {
              add_message(p, qos);
              ++t.sent;
              ++t.offered;
              --budget;
              progress = true;
            }
          }
        }
      }
      for (auto& p : t.pubs) {
        flush(*p);
      }
    }
  }

  // Waits until every sent message has arrived at every subscriber (and, QoS 1, every PUBACK
  // came back), or nothing has moved for a while; bounded.
  awaitable<void> drain(traffic& t, int qos) {
    const std::uint64_t subs = static_cast<std::uint64_t>(
        std::count_if(t.subs.begin(), t.subs.end(), [](const auto& c) { return c->open; }));
    const auto hard_end = steady::now() + 20s;
    auto last_progress = steady::now();
    std::uint64_t last = t.received + t.acked;
    while (steady::now() < hard_end) {
      if (t.received >= t.sent * subs && (qos == 0 || t.acked >= t.sent)) {
        break;
      }
      co_await sleep(50ms);
      if (t.received + t.acked != last) {
        last = t.received + t.acked;
        last_progress = steady::now();
      } else if (steady::now() - last_progress > (qos == 0 ? 1500ms : 4000ms)) {
        break;
      }
    }
  }

  awaitable<void> teardown(traffic& t) {
    t.stopping = true;
    std::vector<client*> all;
    for (auto& c : t.pubs) {
      all.push_back(c.get());
    }
    for (auto& c : t.subs) {
      all.push_back(c.get());
    }
    for (auto* c : all) {
      if (c->open) {
        send(*c, mqtt::disconnect{});
      }
    }
    co_await sleep(200ms);
    for (auto* c : all) {
      abort(*c);
    }
    const auto end = steady::now() + 3s;
    while ((t.readers > 0 ||
            std::any_of(all.begin(), all.end(), [](const client* c) { return c->writing; })) &&
           steady::now() < end) {
      co_await sleep(20ms);
    }
  }

  void traffic_results(json_line& j, traffic& t, double seconds, const proc_sample& before,
                       const proc_sample& after, double own_cpu) {
    const std::uint64_t subs = static_cast<std::uint64_t>(t.subs.size());
    const std::uint64_t expected = t.sent * subs;
    const double broker_cpu = after.cpu_seconds - before.cpu_seconds;
    const double rx_seconds =
        t.received > 1 ? std::chrono::duration<double>(t.last_rx - t.first_rx).count() : 0.0;
    j.add("publishers", t.pubs.size()).add("subscribers", subs).add("qos", opt.qos);
    j.add("offered_rate", static_cast<double>(t.offered) / seconds);
    j.add("sent", t.sent).add("expected", expected).add("received", t.received);
    j.add("lost", expected > t.received ? expected - t.received : 0);
    j.add("loss_pct", expected > 0
                          ? 100.0 * static_cast<double>(expected - std::min(expected, t.received)) /
                                static_cast<double>(expected)
                          : 0.0);
    j.add("duplicates", t.duplicates).add("gaps", t.out_of_order).add("acked", t.acked);
    j.add("seconds", seconds);
    j.add("delivered_rate", rx_seconds > 0 ? static_cast<double>(t.received) / rx_seconds : 0.0);
    j.add("broker_cpu_s", broker_cpu);
    j.add("broker_us_per_msg",
          t.received > 0 ? broker_cpu * 1e6 / static_cast<double>(t.received) : -1.0);
    j.add("client_cpu_s", own_cpu);
    j.add("p50_ms", percentile(t.lat_us, 0.5)).add("p99_ms", percentile(t.lat_us, 0.99));
    j.add("p999_ms", percentile(t.lat_us, 0.999)).add("max_ms", percentile(t.lat_us, 1.0));
    j.add("broker_rss_kib", after.rss_kib);
  }

  awaitable<std::string> run_pubsub(int publishers, int subscribers) {
    traffic t;
    if (!co_await setup_traffic(t, publishers, subscribers, opt.qos)) {
      auto j = header();
      j.add("ok", false).raw("errors", errors_json());
      co_return j.str();
    }
    co_await sleep(200ms);
    const auto before = sample_broker(opt.broker_pid);
    const double own_before = own_cpu_seconds();
    const auto start = steady::now();
    co_await pace(t, opt.rate, opt.seconds, opt.qos);
    co_await drain(t, opt.qos);
    const double seconds = std::chrono::duration<double>(steady::now() - start).count();
    const auto after = sample_broker(opt.broker_pid);
    const double own = own_cpu_seconds() - own_before;
    co_await teardown(t);
    auto j = header();
    j.add("ok", true).add("rate_target", opt.rate);
    traffic_results(j, t, std::min(seconds, static_cast<double>(opt.seconds)), before, after, own);
    j.raw("errors", errors_json());
    co_return j.str();
  }

  // ------------------------------------------------------------ idle

  awaitable<void> idle_reader(client& c, long& dropped, const bool& stopping) {
    error_code ec;
    while (c.open) {
      auto p = co_await read_packet(c, ec);
      if (!p) {
        if (!stopping) {
          ++dropped;
          note_error("idle connection lost: " + ec.message());
        }
        c.open = false;
      }
    }
  }

  awaitable<std::string> run_idle() {
    std::vector<std::unique_ptr<client>> conns;
    conns.reserve(static_cast<std::size_t>(opt.connections));
    for (int i = 0; i < opt.connections; ++i) {
      conns.push_back(std::make_unique<client>(io, tls, 256));
    }
    long dropped = 0;
    bool stopping = false;
    const auto before = sample_broker(opt.broker_pid);
    const auto start = steady::now();
    const auto deadline = start + std::chrono::seconds(opt.seconds);
    long failed = 0;
    co_await for_each_parallel(opt.connections, opt.parallel, [&](int i) -> awaitable<void> {
      auto& c = *conns[static_cast<std::size_t>(i)];
      if (steady::now() > deadline) {
        ++failed;
        co_return;
      }
      if (co_await open(c, creds(i), static_cast<std::uint16_t>(opt.keepalive), nullptr)) {
        asio::co_spawn(io, idle_reader(c, dropped, stopping), asio::detached);
      } else {
        ++failed;
        abort(c);
      }
    });
    const double connect_seconds = std::chrono::duration<double>(steady::now() - start).count();
    const auto opened =
        std::count_if(conns.begin(), conns.end(), [](const auto& c) { return c->open; });
    if (!opt.ready_file.empty()) {
      std::ofstream(opt.ready_file) << opened << "\n";
    }
    // Hold, with a PINGREQ per connection every keepalive/2 (spread over the interval).
    const auto hold_end = steady::now() + std::chrono::seconds(opt.hold);
    const auto ping_every = std::chrono::milliseconds(opt.keepalive * 500);
    auto next_round = steady::now() + ping_every;
    while (steady::now() < hold_end) {
      co_await sleep(200ms);
      if (steady::now() >= next_round) {
        next_round += ping_every;
        for (auto& c : conns) {
          if (c->open) {
            send(*c, mqtt::pingreq{});
          }
        }
      }
    }
    const auto still_open =
        std::count_if(conns.begin(), conns.end(), [](const auto& c) { return c->open; });
    const auto after = sample_broker(opt.broker_pid);
    stopping = true;
    auto j = header();
    j.add("requested", opt.connections).add("opened", opened).add("failed", failed);
    j.add("still_open", still_open).add("dropped", dropped);
    j.add("connect_seconds", connect_seconds).add("hold_seconds", opt.hold);
    j.add("broker_rss_before_kib", before.rss_kib).add("broker_rss_after_kib", after.rss_kib);
    j.add("broker_fds_after", after.fds);
    j.add("broker_connect_cpu_s", after.cpu_seconds - before.cpu_seconds);
    j.raw("errors", errors_json());
    for (auto& c : conns) {
      abort(*c);
    }
    co_await sleep(100ms);
    co_return j.str();
  }

  // ------------------------------------------------------------ churn

  awaitable<std::string> run_churn() {
    traffic t;
    if (!co_await setup_traffic(t, opt.publishers, 1, opt.qos)) {
      auto j = header();
      j.add("ok", false).raw("errors", errors_json());
      co_return j.str();
    }
    co_await sleep(500ms);
    const auto before = sample_broker(opt.broker_pid);
    const double own_before = own_cpu_seconds();
    const auto start = steady::now();
    const auto end = start + std::chrono::seconds(opt.seconds);
    long churned = 0;
    long churn_failed = 0;
    long aborted = 0;
    long churn_started = 0;
    int running = 1 + opt.churners;
    const auto done = [&running](std::exception_ptr e) {
      if (e) {
        std::rethrow_exception(e);
      }
      --running;
    };
    asio::co_spawn(io, pace(t, opt.rate, opt.seconds, opt.qos), done);
    for (int w = 0; w < opt.churners; ++w) {
      asio::co_spawn(
          io,
          [&, w]() -> awaitable<void> {
            while (steady::now() < end && churn_started < opt.max_count) {
              const long n = churn_started++;
              client c(io, tls, 4096);
              if (!co_await open(c, creds(w), 30, nullptr)) {
                ++churn_failed;
                abort(c);
                co_await sleep(20ms);
                continue;
              }
              // A subscription and a QoS 1 message: session state the broker must free.
              const bool good =
                  co_await subscribe(c, "bench/" + opt.tag + "/churn/" + std::to_string(n), 1);
              mqtt::publish m;
              m.topic = "bench/" + opt.tag + "/churn/" + std::to_string(n);
              m.qos = mqtt::qos::at_least_once;
              m.packet_id = 7;
              m.payload.assign(static_cast<std::size_t>(opt.payload), 'c');
              send(c, m);
              error_code ec;
              bool acked = false;
              for (int k = 0; k < 4 && !acked; ++k) {
                auto p = co_await read_packet(c, ec);
                if (!p) {
                  break;
                }
                if (auto* pub = std::get_if<mqtt::publish>(&*p);
                    pub != nullptr && pub->qos == mqtt::qos::at_least_once) {
                  mqtt::puback ack;
                  ack.packet_id = pub->packet_id;
                  send(c, ack);
                }
                acked = std::holds_alternative<mqtt::puback>(*p);
              }
              if (!good || !acked) {
                ++churn_failed;
              } else {
                ++churned;
              }
              // Half leave politely, half vanish (no DISCONNECT, no close_notify).
              if (n % 2 == 0) {
                co_await disconnect(c);
              } else {
                ++aborted;
                abort(c);
              }
              while (c.writing) {
                co_await sleep(1ms); // its writer refers to `c`; the socket is closed
              }
            }
          },
          done);
    }
    while (running > 0) {
      co_await sleep(20ms);
    }
    co_await drain(t, opt.qos);
    const double seconds = std::chrono::duration<double>(steady::now() - start).count();
    co_await sleep(1000ms); // the broker reaps what the last churners left behind
    const auto after = sample_broker(opt.broker_pid);
    const double own = own_cpu_seconds() - own_before;
    co_await teardown(t);
    co_await sleep(1000ms);
    const auto final_sample = sample_broker(opt.broker_pid);
    auto j = header();
    j.add("ok", true).add("rate_target", opt.rate);
    traffic_results(j, t, std::min(seconds, static_cast<double>(opt.seconds)), before, after, own);
    j.add("churned", churned).add("churn_failed", churn_failed).add("churn_aborted", aborted);
    j.add("churn_rate", static_cast<double>(churned) / seconds);
    j.add("broker_rss_before_kib", before.rss_kib).add("broker_rss_after_kib", after.rss_kib);
    j.add("broker_fds_before", before.fds).add("broker_fds_after", after.fds);
    j.add("broker_fds_final", final_sample.fds);
    j.raw("errors", errors_json());
    co_return j.str();
  }

  awaitable<std::string> run() {
    if (opt.scenario == "connect") {
      co_return co_await run_connect();
    }
    if (opt.scenario == "fan-in" || opt.scenario == "latency") {
      co_return co_await run_pubsub(opt.publishers, 1);
    }
    if (opt.scenario == "fan-out") {
      co_return co_await run_pubsub(1, opt.subscribers);
    }
    if (opt.scenario == "idle") {
      co_return co_await run_idle();
    }
    if (opt.scenario == "churn") {
      co_return co_await run_churn();
    }
    die("unknown scenario " + opt.scenario);
  }
};

constexpr const char* usage =
    "usage: aegis-bench SCENARIO --port P --ca CA.pem [options]\n"
    "  SCENARIO: connect | fan-in | fan-out | latency | idle | churn\n"
    "  --host 127.x.y.z (default 127.0.0.1)  --server-name localhost  --broker-pid PID\n"
    "  --label NAME  --user U --password P | --jwt-dir DIR | --cert-dir DIR\n"
    "  --device-prefix projects/p/locations/l/registries/r/devices/  --devices N  --audience A\n"
    "  --v5  --sources N --source-first K (127.0.0.K ...)  --seconds S  --max-count N\n"
    "  --parallel N  --resume  --qos 0|1  --publishers N  --subscribers N  --rate MSG_PER_S\n"
    "  --payload BYTES (>= 20)  --window N  --in-flight N  --connections N  --keepalive S  --hold "
    "S\n"
    "  --ready-file F  --churners N  --tag T  --timeout S\n";

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << usage;
    return 2;
  }
  options opt;
  opt.scenario = argv[1];
  opt.tag = std::to_string(::getpid());
  for (int i = 2; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--resume") {
      opt.resume = true;
      continue;
    }
    if (k == "--v5") {
      opt.v5 = true;
      continue;
    }
    if (i + 1 >= argc) {
      die("missing value for " + k);
    }
    const std::string v = argv[++i];
    if (k == "--host") {
      opt.host = v;
    } else if (k == "--port") {
      opt.port = static_cast<std::uint16_t>(to_int(v, 1, 65535));
    } else if (k == "--ca") {
      opt.ca = v;
    } else if (k == "--server-name") {
      opt.server_name = v;
    } else if (k == "--broker-pid") {
      opt.broker_pid = to_int(v, 1, 1 << 30);
    } else if (k == "--label") {
      opt.label = v;
    } else if (k == "--user") {
      opt.user = v;
    } else if (k == "--password") {
      opt.password = v;
    } else if (k == "--jwt-dir") {
      opt.jwt_dir = v;
    } else if (k == "--cert-dir") {
      opt.cert_dir = v;
    } else if (k == "--device-prefix") {
      opt.device_prefix = v;
    } else if (k == "--devices") {
      opt.devices = to_int(v, 1, 100'000);
    } else if (k == "--audience") {
      opt.audience = v;
    } else if (k == "--sources") {
      opt.sources = to_int(v, 1, 250);
    } else if (k == "--source-first") {
      opt.source_first = to_int(v, 1, 254);
    } else if (k == "--seconds") {
      opt.seconds = to_int(v, 1, 600);
    } else if (k == "--max-count") {
      opt.max_count = to_int(v, 1, 100'000'000);
    } else if (k == "--parallel") {
      opt.parallel = to_int(v, 1, 1024);
    } else if (k == "--qos") {
      opt.qos = to_int(v, 0, 1);
    } else if (k == "--publishers") {
      opt.publishers = to_int(v, 1, 10'000);
    } else if (k == "--subscribers") {
      opt.subscribers = to_int(v, 1, 10'000);
    } else if (k == "--rate") {
      opt.rate = to_int(v, 0, 10'000'000);
    } else if (k == "--payload") {
      opt.payload = to_int(v, 20, 65'536);
    } else if (k == "--window") {
      opt.window = to_int(v, 1, 65'000);
    } else if (k == "--in-flight") {
      opt.in_flight = to_int(v, 1, 1'000'000);
    } else if (k == "--connections") {
      opt.connections = to_int(v, 1, 19'000);
    } else if (k == "--keepalive") {
      opt.keepalive = to_int(v, 5, 65'535);
    } else if (k == "--hold") {
      opt.hold = to_int(v, 0, 600);
    } else if (k == "--ready-file") {
      opt.ready_file = v;
    } else if (k == "--churners") {
      opt.churners = to_int(v, 1, 256);
    } else if (k == "--tag") {
      opt.tag = v;
    } else if (k == "--timeout") {
      opt.timeout = to_int(v, 1, 3600);
    } else {
      die("unknown option " + k + "\n" + usage);
    }
  }
  if (opt.port == 0 || opt.ca.empty()) {
    die(std::string("--port and --ca are required\n") + usage);
  }
  // Only loopback: this tool floods whatever it is pointed at.
  const auto host = asio::ip::make_address(opt.host);
  if (!host.is_v4() || (host.to_v4().to_uint() >> 24) != 127) {
    die("--host must be in 127.0.0.0/8");
  }
  if ((!opt.jwt_dir.empty() || !opt.cert_dir.empty()) &&
      (opt.devices == 0 || opt.device_prefix.empty())) {
    die("--jwt-dir / --cert-dir need --devices and --device-prefix");
  }
  // Below the 20,000 open files a process may have here; bench/mqtt/run splits larger N.
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }

  bench b(opt);
  std::string result;
  bool done = false;
  asio::co_spawn(b.io, b.run(), [&](std::exception_ptr e, std::string r) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        die(std::string("failed: ") + x.what());
      }
    }
    result = std::move(r);
    done = true;
    b.io.stop();
  });
  b.io.run_for(std::chrono::seconds(opt.timeout));
  if (!done) {
    die("did not finish within --timeout " + std::to_string(opt.timeout) + " s");
  }
  std::cout << result << std::endl;
  // Thousands of sockets and coroutine frames: the kernel reclaims them faster than unwinding.
  std::_Exit(0);
}
