// The HTTPS device bridge under load, against a running aegisd (bench/bridge/run starts it):
//
//   1. provisions a project, a registry and D devices through the admin API over one keep-alive
//      TLS connection (ES256 keys generated here, public keys sent as ES256_PEM);
//   2. memory: aegisd's VmRSS before and while N long polls are open, each on its own TLS
//      connection (device i holds `commands?wait=S` and `config?local_version=1&wait=S`, the
//      bridge's limit of 2 polls per device);
//   3. latency: from writing an admin sendCommandToDevice / modifyCloudToDeviceConfig to the
//      answer of the poll that was waiting for it, with the other polls still open;
//   4. throughput: publishEvent over a few keep-alive TLS connections (one request at a time on
//      each) for a bounded time, and aegisd's CPU seconds (utime+stime) per 1,000 requests.
//
// JWTs are minted here with OpenSSL (ES256: base64url(header).base64url(payload).base64url(r||s)).
// Everything is on 127.0.0.1, bounded in count and time; the results go to --out as JSON.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <openssl/pem.h>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using stream_t = beast::ssl_stream<beast::tcp_stream>;
using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;
using asio::awaitable;
using asio::use_awaitable;
using boost::system::error_code;

struct options {
  std::uint16_t port = 0;
  std::string ca;
  std::string admin_token;
  int pid = 0;
  int polls = 10'000;
  int wait_seconds = 120;
  int samples = 200;
  int rate_seconds = 10;
  int rate_connections = 4;
  int connect_parallel = 64;
  std::string out;
  std::string project = "bench-project";
  std::string location = "local";
  std::string registry = "bridge";
};

[[noreturn]] void die(const std::string& why) {
  std::cerr << "aegis_bridge_bench: " << why << "\n";
  std::exit(2);
}

// ---------------------------------------------------------------- /proc of aegisd

long rss_kib(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return std::strtol(line.c_str() + 6, nullptr, 10);
    }
  }
  die("no VmRSS for pid " + std::to_string(pid));
}

double cpu_seconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = all.rfind(')');
  if (close == std::string::npos) {
    die("cannot read /proc/" + std::to_string(pid) + "/stat");
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
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double own_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  const auto tv = [](timeval t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return tv(u.ru_utime) + tv(u.ru_stime);
}

// ---------------------------------------------------------------- ES256 keys and JWTs

std::string base64url(const unsigned char* data, std::size_t n) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((n * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const unsigned v = (unsigned{data[i]} << 16) | (unsigned{data[i + 1]} << 8) | data[i + 2];
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (n - i == 1) {
    const unsigned v = unsigned{data[i]} << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
  } else if (n - i == 2) {
    const unsigned v = (unsigned{data[i]} << 16) | (unsigned{data[i + 1]} << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
  }
  return out;
}

std::string base64url(std::string_view s) {
  return base64url(reinterpret_cast<const unsigned char*>(s.data()), s.size());
}

struct device_key {
  std::string public_pem;
  std::string jwt;
};

device_key make_device(const std::string& audience) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (key == nullptr) {
    die("EVP_EC_gen failed");
  }
  device_key d;
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr || PEM_write_bio_PUBKEY(bio, key) != 1) {
    die("PEM_write_bio_PUBKEY failed");
  }
  char* pem = nullptr;
  const long pem_len = BIO_get_mem_data(bio, &pem);
  d.public_pem.assign(pem, static_cast<std::size_t>(pem_len));
  BIO_free(bio);

  const auto now = static_cast<long long>(std::time(nullptr));
  const std::string signing_input =
      base64url(R"({"alg":"ES256","typ":"JWT"})") + "." +
      base64url(R"({"iat":)" + std::to_string(now) + R"(,"exp":)" + std::to_string(now + 3 * 3600) +
                R"(,"aud":")" + audience + R"("})");
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::size_t len = 0;
  if (ctx == nullptr || EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key) != 1 ||
      EVP_DigestSign(ctx, nullptr, &len,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    die("EVP_DigestSign failed");
  }
  std::vector<unsigned char> der(len);
  if (EVP_DigestSign(ctx, der.data(), &len,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    die("EVP_DigestSign failed");
  }
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  const unsigned char* p = der.data();
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len));
  if (sig == nullptr) {
    die("d2i_ECDSA_SIG failed");
  }
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig, &r, &s);
  unsigned char raw[64];
  if (BN_bn2binpad(r, raw, 32) != 32 || BN_bn2binpad(s, raw + 32, 32) != 32) {
    die("BN_bn2binpad failed");
  }
  ECDSA_SIG_free(sig);
  d.jwt = signing_input + "." + base64url(raw, sizeof raw);
  return d;
}

std::string json_escape(std::string_view s) {
  std::string out;
  for (const char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else {
      out += c;
    }
  }
  return out;
}

// ---------------------------------------------------------------- HTTP over TLS

struct bench {
  options opt;
  asio::io_context ioc;
  asio::ssl::context tls{asio::ssl::context::tls_client};
  tcp::endpoint endpoint;
  std::vector<device_key> devices;
  std::string tls_version; // as negotiated on the first connection

  explicit bench(options o) : opt(std::move(o)) {
    tls.set_verify_mode(asio::ssl::verify_peer);
    tls.load_verify_file(opt.ca);
    endpoint = tcp::endpoint(asio::ip::make_address("127.0.0.1"), opt.port);
  }

  std::string device_path(int i) const {
    return "projects/" + opt.project + "/locations/" + opt.location + "/registries/" +
           opt.registry + "/devices/" + device_id(i);
  }
  static std::string device_id(int i) {
    char id[16];
    std::snprintf(id, sizeof id, "d%05d", i);
    return id;
  }

  awaitable<error_code> connect(stream_t& s) {
    error_code ec;
    beast::get_lowest_layer(s).expires_after(20s);
    co_await beast::get_lowest_layer(s).async_connect(endpoint,
                                                      asio::redirect_error(use_awaitable, ec));
    if (ec) {
      co_return ec;
    }
    beast::get_lowest_layer(s).socket().set_option(tcp::no_delay(true), ec);
    SSL_set_tlsext_host_name(s.native_handle(), "localhost");
    s.set_verify_callback(asio::ssl::host_name_verification("localhost"));
    co_await s.async_handshake(asio::ssl::stream_base::client,
                               asio::redirect_error(use_awaitable, ec));
    beast::get_lowest_layer(s).expires_never();
    if (!ec && tls_version.empty()) {
      tls_version = SSL_get_version(s.native_handle());
    }
    co_return ec;
  }

  static bhttp::request<bhttp::string_body> make_request(bhttp::verb verb,
                                                         const std::string& target,
                                                         const std::string& token,
                                                         std::string body = {}) {
    bhttp::request<bhttp::string_body> req{verb, target, 11};
    req.set(bhttp::field::host, "localhost");
    req.set(bhttp::field::authorization, "Bearer " + token);
    if (verb == bhttp::verb::post) {
      req.set(bhttp::field::content_type, "application/json");
      req.body() = std::move(body);
      req.prepare_payload();
    }
    return req;
  }

  // One request and its answer on a keep-alive connection: (status, body); status 0 on error.
  // The request is taken by value: the coroutine frame owns it, whatever the caller passed.
  static awaitable<std::pair<int, std::string>> roundtrip(stream_t& s, beast::flat_buffer& buf,
                                                          bhttp::request<bhttp::string_body> req,
                                                          std::chrono::seconds timeout = 30s) {
    error_code ec;
    beast::get_lowest_layer(s).expires_after(timeout);
    co_await bhttp::async_write(s, req, asio::redirect_error(use_awaitable, ec));
    if (ec) {
      co_return std::pair<int, std::string>{0, ec.message()};
    }
    bhttp::response<bhttp::string_body> res;
    co_await bhttp::async_read(s, buf, res, asio::redirect_error(use_awaitable, ec));
    beast::get_lowest_layer(s).expires_never();
    if (ec) {
      co_return std::pair<int, std::string>{0, ec.message()};
    }
    co_return std::pair<int, std::string>{static_cast<int>(res.result_int()),
                                          std::move(res.body())};
  }

  awaitable<void> sleep(std::chrono::milliseconds d) {
    asio::steady_timer t(ioc, d);
    co_await t.async_wait(use_awaitable);
  }

  // ------------------------------------------------------------ provisioning

  awaitable<double> provision(int count) {
    stream_t admin(ioc, tls);
    if (const auto ec = co_await connect(admin)) {
      die("admin connect: " + ec.message());
    }
    beast::flat_buffer buf;
    const auto api_post = [&](const std::string& path, std::string body) {
      return roundtrip(
          admin, buf,
          make_request(bhttp::verb::post, "/api/v1/" + path, opt.admin_token, std::move(body)));
    };
    auto r = co_await api_post("projects", R"({"id":")" + opt.project + R"("})");
    if (r.first != 200 && r.first != 409) {
      die("create project: " + std::to_string(r.first) + " " + r.second);
    }
    r = co_await api_post("projects/" + opt.project + "/locations/" + opt.location + "/registries",
                          R"({"id":")" + opt.registry + R"("})");
    if (r.first != 200 && r.first != 409) {
      die("create registry: " + std::to_string(r.first) + " " + r.second);
    }
    const auto start = steady::now();
    const std::string devices_path = "projects/" + opt.project + "/locations/" + opt.location +
                                     "/registries/" + opt.registry + "/devices";
    for (int i = 0; i < count; ++i) {
      devices.push_back(make_device(opt.project));
      r = co_await api_post(devices_path,
                            R"({"id":")" + device_id(i) +
                                R"(","credentials":[{"publicKey":{"format":"ES256_PEM","key":")" +
                                json_escape(devices.back().public_pem) + R"("}}]})");
      if (r.first != 200) {
        die("create device " + device_id(i) + ": " + std::to_string(r.first) + " " + r.second);
      }
    }
    error_code ec;
    beast::get_lowest_layer(admin).socket().shutdown(tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(admin).close();
    co_return std::chrono::duration<double>(steady::now() - start).count();
  }

  // ------------------------------------------------------------ long polls

  struct poll_conn {
    poll_conn(asio::io_context& ioc, asio::ssl::context& tls) : s(ioc, tls) {}
    stream_t s;
    beast::flat_buffer buf;
    bool sent = false;
    bool answered = false;
    int status = 0;
    steady::time_point answered_at;
  };
  std::vector<std::unique_ptr<poll_conn>> polls;
  int connect_failures = 0;
  int early_answers = 0;

  std::string poll_target(int index) const {
    const int device = index / 2;
    const std::string wait = std::to_string(opt.wait_seconds);
    return "/v1/" + device_path(device) +
           (index % 2 == 0 ? "/commands?wait=" + wait : "/config?local_version=1&wait=" + wait);
  }

  awaitable<void> read_poll(poll_conn& p) {
    bhttp::response<bhttp::string_body> res;
    error_code ec;
    co_await bhttp::async_read(p.s, p.buf, res, asio::redirect_error(use_awaitable, ec));
    p.answered_at = steady::now();
    p.answered = true;
    p.status = ec ? -1 : static_cast<int>(res.result_int());
  }

  awaitable<void> open_polls(int& next) {
    while (next < static_cast<int>(polls.size())) {
      const int i = next++;
      auto& p = *polls[static_cast<std::size_t>(i)];
      if (co_await connect(p.s)) {
        ++connect_failures;
        p.answered = true;
        p.status = -1;
        continue;
      }
      const auto req = make_request(bhttp::verb::get, poll_target(i),
                                    devices[static_cast<std::size_t>(i / 2)].jwt);
      error_code ec;
      co_await bhttp::async_write(p.s, req, asio::redirect_error(use_awaitable, ec));
      if (ec) {
        ++connect_failures;
        p.answered = true;
        p.status = -1;
        continue;
      }
      p.sent = true;
      asio::co_spawn(ioc, read_poll(p), asio::detached);
    }
  }

  int open_count() const {
    return static_cast<int>(std::count_if(polls.begin(), polls.end(),
                                          [](const auto& p) { return p->sent && !p->answered; }));
  }

  // Waits until aegisd's CPU use stays under 5 % of a core for a second (every poll authenticated
  // and held), at most `limit`.
  awaitable<bool> settle(std::chrono::seconds limit) {
    const auto end = steady::now() + limit;
    double last = cpu_seconds(opt.pid);
    while (steady::now() < end) {
      co_await sleep(1000ms);
      const double now = cpu_seconds(opt.pid);
      if (now - last < 0.05) {
        co_return true;
      }
      last = now;
    }
    co_return false;
  }

  // ------------------------------------------------------------ the run

  std::ostringstream out;

  awaitable<void> run() {
    const long rss_start = rss_kib(opt.pid);
    const int device_count = std::max((opt.polls + 1) / 2, opt.samples / 2 + 2);
    const double provision_seconds = co_await provision(device_count);
    co_await settle(10s);
    const long rss_before = rss_kib(opt.pid);

    // (a) memory with N long polls open.
    polls.reserve(static_cast<std::size_t>(opt.polls));
    for (int i = 0; i < opt.polls; ++i) {
      polls.push_back(std::make_unique<poll_conn>(ioc, tls));
    }
    const auto open_start = steady::now();
    const double cpu_open_start = cpu_seconds(opt.pid);
    int next = 0;
    int workers = opt.connect_parallel;
    for (int w = 0; w < opt.connect_parallel; ++w) {
      asio::co_spawn(ioc, open_polls(next), [&workers](std::exception_ptr e) {
        if (e) {
          std::rethrow_exception(e);
        }
        --workers;
      });
    }
    while (workers > 0) {
      co_await sleep(50ms);
    }
    const double open_seconds = std::chrono::duration<double>(steady::now() - open_start).count();
    const bool settled = co_await settle(30s);
    const double cpu_open = cpu_seconds(opt.pid) - cpu_open_start;
    const int open_at_measure = open_count();
    early_answers = static_cast<int>(std::count_if(
        polls.begin(), polls.end(), [](const auto& p) { return p->sent && p->answered; }));
    const long rss_with = rss_kib(opt.pid);
    std::cerr << "polls open: " << open_at_measure << " rss " << rss_before << " -> " << rss_with
              << " KiB\n";

    // (b) latency: frees device 0's two listener slots for the admin connection.
    for (int i = 0; i < 2 && i < opt.polls; ++i) {
      error_code ec;
      beast::get_lowest_layer(polls[static_cast<std::size_t>(i)]->s).socket().close(ec);
    }
    co_await sleep(500ms);
    std::vector<double> command_ms;
    std::vector<double> config_ms;
    std::vector<double> admin_ms;
    int latency_errors = 0;
    {
      std::optional<stream_t> admin_slot;
      error_code cec;
      for (int attempt = 0; attempt < 10; ++attempt) {
        admin_slot.emplace(ioc, tls);
        cec = co_await connect(*admin_slot);
        if (!cec) {
          break;
        }
        co_await sleep(500ms);
      }
      stream_t& admin = *admin_slot;
      if (cec) {
        die("admin connect for the latency phase: " + cec.message());
      }
      beast::flat_buffer buf;
      for (int s = 0; s < opt.samples; ++s) {
        const int device = 1 + s / 2;
        const bool command = s % 2 == 0;
        const std::size_t index = static_cast<std::size_t>(device * 2 + (command ? 0 : 1));
        if (index >= polls.size() || !polls[index]->sent || polls[index]->answered) {
          ++latency_errors;
          continue;
        }
        const std::string target =
            "/api/v1/" + device_path(device) +
            (command ? ":sendCommandToDevice" : ":modifyCloudToDeviceConfig");
        const std::string body = command ? R"({"binaryData":"b3Blbg==","subfolder":"bench"})"
                                         : R"({"binaryData":"bW9kZT1lY28="})";
        const auto req = make_request(bhttp::verb::post, target, opt.admin_token, body);
        const auto t0 = steady::now();
        const auto r = co_await roundtrip(admin, buf, req);
        admin_ms.push_back(std::chrono::duration<double, std::milli>(steady::now() - t0).count());
        if (r.first != 200) {
          std::cerr << "admin " << target << ": " << r.first << " " << r.second << "\n";
          ++latency_errors;
          continue;
        }
        const auto end = steady::now() + 5s;
        while (!polls[index]->answered && steady::now() < end) {
          co_await sleep(1ms);
        }
        if (!polls[index]->answered || polls[index]->status != 200) {
          ++latency_errors;
          continue;
        }
        const double ms =
            std::chrono::duration<double, std::milli>(polls[index]->answered_at - t0).count();
        (command ? command_ms : config_ms).push_back(ms);
      }
      error_code ec;
      beast::get_lowest_layer(admin).socket().close(ec);
    }

    // Every poll closed by the client; aegisd frees their slots.
    for (auto& p : polls) {
      error_code ec;
      beast::get_lowest_layer(p->s).socket().close(ec);
    }
    co_await sleep(2000ms);
    co_await settle(15s);
    polls.clear();
    const long rss_after = rss_kib(opt.pid);

    // (c) publishEvent throughput over keep-alive TLS.
    struct rate_conn {
      rate_conn(asio::io_context& ioc, asio::ssl::context& tls) : s(ioc, tls) {}
      stream_t s;
      beast::flat_buffer buf;
      long ok = 0;
      long other = 0;
      int last_other = 0;
    };
    std::vector<std::unique_ptr<rate_conn>> conns;
    for (int c = 0; c < opt.rate_connections; ++c) {
      conns.push_back(std::make_unique<rate_conn>(ioc, tls));
      if (const auto ec = co_await connect(conns.back()->s)) {
        die("rate connect: " + ec.message());
      }
    }
    const double cpu_rate_start = cpu_seconds(opt.pid);
    const double own_rate_start = own_cpu_seconds();
    const auto rate_start = steady::now();
    const auto rate_end = rate_start + std::chrono::seconds(opt.rate_seconds);
    int running = opt.rate_connections;
    for (int c = 0; c < opt.rate_connections; ++c) {
      asio::co_spawn(
          ioc,
          [&, c]() -> awaitable<void> {
            auto& rc = *conns[static_cast<std::size_t>(c)];
            long j = 0;
            while (steady::now() < rate_end) {
              const int device = static_cast<int>((c + j * opt.rate_connections) %
                                                  static_cast<long>(device_count));
              ++j;
              const auto req =
                  make_request(bhttp::verb::post, "/v1/" + device_path(device) + ":publishEvent",
                               devices[static_cast<std::size_t>(device)].jwt,
                               R"({"binary_data":"dGVtcD0yMS41","sub_folder":"bench"})");
              const auto r = co_await roundtrip(rc.s, rc.buf, req);
              if (r.first == 200) {
                ++rc.ok;
              } else {
                ++rc.other;
                rc.last_other = r.first;
                if (r.first == 0) {
                  break;
                }
              }
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
      co_await sleep(20ms);
    }
    const double rate_seconds = std::chrono::duration<double>(steady::now() - rate_start).count();
    const double cpu_rate = cpu_seconds(opt.pid) - cpu_rate_start;
    const double own_rate = own_cpu_seconds() - own_rate_start;
    long ok = 0;
    long other = 0;
    int last_other = 0;
    for (const auto& rc : conns) {
      ok += rc->ok;
      other += rc->other;
      if (rc->last_other != 0) {
        last_other = rc->last_other;
      }
      error_code ec;
      beast::get_lowest_layer(rc->s).socket().close(ec);
    }

    const auto pct = [](std::vector<double> v, double q) {
      if (v.empty()) {
        return -1.0;
      }
      std::sort(v.begin(), v.end());
      const auto k = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
      return v[std::min(k, v.size() - 1)];
    };
    std::vector<double> all_ms = command_ms;
    all_ms.insert(all_ms.end(), config_ms.begin(), config_ms.end());

    out << "{\n";
    out << "  \"openssl\": \"" << OPENSSL_VERSION_TEXT << "\",\n";
    out << "  \"boost\": \"" << BOOST_VERSION / 100000 << "." << BOOST_VERSION / 100 % 1000 << "."
        << BOOST_VERSION % 100 << "\",\n";
    out << "  \"tls_version\": \"" << tls_version << "\",\n";
    out << "  \"devices\": " << device_count << ",\n";
    out << "  \"provision_seconds\": " << provision_seconds << ",\n";
    out << "  \"rss_start_kib\": " << rss_start << ",\n";
    out << "  \"rss_before_kib\": " << rss_before << ",\n";
    out << "  \"rss_with_polls_kib\": " << rss_with << ",\n";
    out << "  \"rss_after_close_kib\": " << rss_after << ",\n";
    out << "  \"polls_requested\": " << opt.polls << ",\n";
    out << "  \"polls_open_at_measure\": " << open_at_measure << ",\n";
    out << "  \"polls_answered_early\": " << early_answers << ",\n";
    out << "  \"poll_connect_failures\": " << connect_failures << ",\n";
    out << "  \"open_seconds\": " << open_seconds << ",\n";
    out << "  \"open_cpu_seconds\": " << cpu_open << ",\n";
    out << "  \"settled\": " << (settled ? "true" : "false") << ",\n";
    out << "  \"wait_seconds\": " << opt.wait_seconds << ",\n";
    out << "  \"latency_samples\": " << all_ms.size() << ",\n";
    out << "  \"latency_errors\": " << latency_errors << ",\n";
    out << "  \"latency_ms\": {\"p50\": " << pct(all_ms, 0.5) << ", \"p99\": " << pct(all_ms, 0.99)
        << ", \"max\": " << pct(all_ms, 1.0) << "},\n";
    out << "  \"command_ms\": {\"n\": " << command_ms.size()
        << ", \"p50\": " << pct(command_ms, 0.5) << ", \"p99\": " << pct(command_ms, 0.99)
        << ", \"max\": " << pct(command_ms, 1.0) << "},\n";
    out << "  \"config_ms\": {\"n\": " << config_ms.size() << ", \"p50\": " << pct(config_ms, 0.5)
        << ", \"p99\": " << pct(config_ms, 0.99) << ", \"max\": " << pct(config_ms, 1.0) << "},\n";
    out << "  \"admin_call_ms\": {\"p50\": " << pct(admin_ms, 0.5)
        << ", \"p99\": " << pct(admin_ms, 0.99) << "},\n";
    out << "  \"rate_connections\": " << opt.rate_connections << ",\n";
    out << "  \"rate_seconds\": " << rate_seconds << ",\n";
    out << "  \"rate_ok\": " << ok << ",\n";
    out << "  \"rate_other\": " << other << ",\n";
    out << "  \"rate_last_other_status\": " << last_other << ",\n";
    out << "  \"rate_cpu_seconds\": " << cpu_rate << ",\n";
    out << "  \"rate_client_cpu_seconds\": " << own_rate << "\n";
    out << "}\n";
  }
};

int to_int(const char* s) {
  char* end = nullptr;
  const long v = std::strtol(s, &end, 10);
  if (end == s || *end != '\0' || v < 0 || v > 1'000'000) {
    die(std::string("not a count: ") + s);
  }
  return static_cast<int>(v);
}

} // namespace

int main(int argc, char** argv) {
  options opt;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--port") {
      opt.port = static_cast<std::uint16_t>(to_int(v));
    } else if (k == "--ca") {
      opt.ca = v;
    } else if (k == "--admin-token") {
      opt.admin_token = v;
    } else if (k == "--pid") {
      opt.pid = to_int(v);
    } else if (k == "--polls") {
      opt.polls = to_int(v);
    } else if (k == "--wait") {
      opt.wait_seconds = to_int(v);
    } else if (k == "--samples") {
      opt.samples = to_int(v);
    } else if (k == "--rate-seconds") {
      opt.rate_seconds = to_int(v);
    } else if (k == "--rate-connections") {
      opt.rate_connections = std::max(1, to_int(v));
    } else if (k == "--out") {
      opt.out = v;
    } else {
      die("unknown option " + k);
    }
  }
  if (opt.port == 0 || opt.ca.empty() || opt.admin_token.empty() || opt.pid == 0 ||
      opt.out.empty()) {
    die("usage: aegis_bridge_bench --port P --ca CA.crt --admin-token T --pid AEGISD_PID --out "
        "FILE [--polls 10000] [--wait 120] [--samples 200] [--rate-seconds 10] "
        "[--rate-connections 4]");
  }
  // One socket per poll: take the whole hard limit of open files.
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }

  bench b(opt);
  bool done = false;
  asio::co_spawn(b.ioc, b.run(), [&](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        die(std::string("failed: ") + x.what());
      }
    }
    done = true;
    b.ioc.stop();
  });
  // Every phase is bounded; this bounds the whole run.
  b.ioc.run_for(std::chrono::seconds(900));
  if (!done) {
    die("did not finish within 900 s");
  }
  std::ofstream(opt.out) << b.out.str();
  std::cout << b.out.str();
  return 0;
}
