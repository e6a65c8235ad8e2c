// aegis-device simulate: N devices in one process, each with its own P-256 key (in a private
// temporary directory, 0600) and its own JWT, provisioned through the admin API over one
// keep-alive HTTPS connection, then publishing at a fixed rate. Prints a progress line every
// second and a summary: connected, sent/acknowledged, errors, publish-to-PUBACK latency.

#include "agent.hpp"

#include "aegis/crypto/keys.hpp"
#include "aegis/device/client.hpp"
#include "aegis/device/keystore.hpp"
#include "aegis/device/offline_queue.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <nlohmann/json.hpp>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>
#include <unistd.h>

namespace aegis::device::app {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace fs = std::filesystem;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// A synchronous HTTPS client for the admin API: CA-only trust, host name checked.
class admin_client {
public:
  admin_client(const std::string& url, const fs::path& ca, std::string token)
      : ctx_(asio::ssl::context::tls_client), token_(std::move(token)) {
    constexpr std::string_view scheme = "https://";
    if (url.rfind(scheme, 0) != 0) {
      throw std::runtime_error("admin URL must start with https://");
    }
    const std::string rest = url.substr(scheme.size());
    const auto colon = rest.rfind(':');
    host_ = rest.substr(0, colon);
    port_ = colon == std::string::npos ? "443" : rest.substr(colon + 1);
    while (!port_.empty() && port_.back() == '/') {
      port_.pop_back();
    }
    SSL_CTX_set_min_proto_version(ctx_.native_handle(), TLS1_2_VERSION);
    ctx_.load_verify_file(ca.string());
    ctx_.set_verify_mode(asio::ssl::verify_peer);
  }

  // Status and body. Reconnects once when the kept-alive connection was closed.
  std::pair<unsigned, std::string> call(http::verb verb, const std::string& target,
                                        const nlohmann::json& body) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      try {
        if (!stream_) {
          connect();
        }
        http::request<http::string_body> req{verb, target, 11};
        req.set(http::field::host, host_);
        req.set(http::field::authorization, "Bearer " + token_);
        req.set(http::field::content_type, "application/json");
        req.body() = body.dump();
        req.keep_alive(true);
        req.prepare_payload();
        http::write(*stream_, req);
        beast::flat_buffer buffer;
        http::response<http::string_body> res;
        http::read(*stream_, buffer, res);
        if (!res.keep_alive()) {
          stream_.reset();
        }
        return {res.result_int(), res.body()};
      } catch (const std::exception&) {
        stream_.reset();
        if (attempt == 1) {
          throw;
        }
      }
    }
    return {0, {}};
  }

private:
  void connect() {
    stream_ = std::make_unique<asio::ssl::stream<tcp::socket>>(ioc_, ctx_);
    boost::system::error_code ec;
    (void)asio::ip::make_address(host_, ec);
    if (ec) {
      SSL_set_tlsext_host_name(stream_->native_handle(), host_.c_str());
      SSL_set1_host(stream_->native_handle(), host_.c_str());
    } else {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(stream_->native_handle()), host_.c_str());
    }
    tcp::resolver resolver(ioc_);
    asio::connect(stream_->lowest_layer(), resolver.resolve(host_, port_));
    stream_->handshake(asio::ssl::stream_base::client);
  }

  asio::io_context ioc_;
  asio::ssl::context ctx_;
  std::string host_;
  std::string port_;
  std::string token_;
  std::unique_ptr<asio::ssl::stream<tcp::socket>> stream_;
};

struct sim_device {
  std::string id;
  std::unique_ptr<signer> key;
  std::unique_ptr<offline_queue> queue;
  std::unique_ptr<device_client> client;
};

struct latency_book {
  std::mutex m;
  std::map<std::pair<std::size_t, std::uint64_t>, std::chrono::steady_clock::time_point> sent;
  std::vector<double> millis;
  std::uint64_t acked = 0;
  std::uint64_t refused = 0;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) {
    return 0;
  }
  std::sort(v.begin(), v.end());
  const auto idx = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(idx, v.size() - 1)];
}

} // namespace

int run_simulation(const simulate_options& o, const std::atomic<bool>& stop) {
  if (o.devices == 0 || o.rate <= 0 || o.project.empty() || o.registry.empty() ||
      o.admin_url.empty() || o.admin_token.empty() || o.ca_file.empty()) {
    std::cerr << "aegis-device simulate: --devices, --rate, --project, --registry, --admin-url, "
                 "--ca and an admin token are required\n";
    return 2;
  }
  std::string tmpl = (fs::temp_directory_path() / "aegis-sim-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    std::cerr << "aegis-device simulate: cannot create a key directory\n";
    return 1;
  }
  const fs::path key_dir = tmpl;
  struct cleanup {
    fs::path dir;
    ~cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } remove_keys{key_dir};

  const std::string base = "/api/v1/projects/" + o.project + "/locations/" + o.location;
  std::vector<sim_device> fleet(o.devices);
  std::size_t errors = 0;
  const auto provision_start = std::chrono::steady_clock::now();
  try {
    admin_client admin(o.admin_url, o.ca_file, o.admin_token);
    if (o.create_registry) {
      (void)admin.call(http::verb::post, "/api/v1/projects", {{"id", o.project}});
      (void)admin.call(http::verb::post, base + "/registries", {{"id", o.registry}});
    }
    for (std::size_t i = 0; i < o.devices && !stop.load(); ++i) {
      auto& d = fleet[i];
      d.id = o.prefix + std::to_string(i);
      auto k = crypto::private_key::generate(crypto::key_type::ec_p256);
      auto pem = k ? k->to_pem() : result<std::string>(k.error());
      if (!pem) {
        std::cerr << "aegis-device simulate: key generation failed\n";
        return 1;
      }
      const fs::path key_file = key_dir / (d.id + ".key");
      {
        std::ofstream out(key_file);
        out << *pem;
      }
      fs::permissions(key_file, fs::perms::owner_read | fs::perms::owner_write);
      auto s = open_key_file(key_file);
      if (!s) {
        std::cerr << "aegis-device simulate: " << s.error().message() << "\n";
        return 1;
      }
      d.key = std::move(*s);
      const nlohmann::json device = {
          {"id", d.id},
          {"credentials",
           {{{"publicKey", {{"format", "ES256_PEM"}, {"key", *d.key->public_key_pem()}}}}}}};
      const auto [status, body] =
          admin.call(http::verb::post, base + "/registries/" + o.registry + "/devices", device);
      if (status != 200 && status != 201 && status != 409) {
        std::cerr << "aegis-device simulate: creating " << d.id << ": HTTP " << status << " "
                  << body.substr(0, 200) << "\n";
        return 1;
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "aegis-device simulate: admin API: " << e.what() << "\n";
    return 1;
  }
  const double provision_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - provision_start).count();
  std::cout << "provisioned " << o.devices << " devices in " << provision_s << " s" << std::endl;

  latency_book book;
  std::atomic<std::size_t> connected{0};
  std::atomic<std::size_t> connection_errors{0};
  for (std::size_t i = 0; i < fleet.size(); ++i) {
    auto& d = fleet[i];
    d.queue = make_memory_queue({});
    client_options co;
    co.host = o.host;
    co.port = o.mqtt_port;
    co.root_ca_files = {o.ca_file};
    co.project_id = o.project;
    co.location = o.location;
    co.registry_id = o.registry;
    co.device_id = d.id;
    co.jwt_signer = d.key.get();
    co.queue = d.queue.get();
    co.backoff_min = 200ms;
    co.backoff_max = 5s;
    auto c = device_client::create(co);
    if (!c) {
      std::cerr << "aegis-device simulate: " << c.error().message() << "\n";
      return 2;
    }
    d.client = std::move(*c);
    d.client->on_connection_state([&](connection_state s, std::error_code ec) {
      if (s == connection_state::connected) {
        ++connected;
      } else if (s == connection_state::disconnected) {
        ++connection_errors;
        (void)ec;
      }
    });
    d.client->on_event_acked([&book, i](std::uint64_t seq, std::error_code ec) {
      const auto now = std::chrono::steady_clock::now();
      std::lock_guard l(book.m);
      const auto it = book.sent.find({i, seq});
      if (it != book.sent.end()) {
        book.millis.push_back(std::chrono::duration<double, std::milli>(now - it->second).count());
        book.sent.erase(it);
      }
      ec ? ++book.refused : ++book.acked;
    });
    d.client->start();
  }

  // Publishing starts once the fleet is up (or after a minute), so the duration measures the
  // steady state, not the connection storm.
  const auto connect_start = std::chrono::steady_clock::now();
  const auto connect_until = connect_start + 60s;
  while (!stop.load() && connected.load() < fleet.size() &&
         std::chrono::steady_clock::now() < connect_until) {
    std::this_thread::sleep_for(100ms);
  }
  std::cout
      << "connected " << connected.load() << "/" << fleet.size() << " in "
      << std::chrono::duration<double>(std::chrono::steady_clock::now() - connect_start).count()
      << " s" << std::endl;

  // Each device publishes every 1/rate seconds, the fleet's start times spread over a period.
  const auto period = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(1.0 / o.rate));
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + o.duration;
  std::vector<std::chrono::steady_clock::time_point> next(fleet.size());
  for (std::size_t i = 0; i < fleet.size(); ++i) {
    next[i] = start + period * static_cast<long>(i) / static_cast<long>(fleet.size());
  }
  const std::string payload(o.payload_bytes, 'x');
  std::uint64_t sent = 0;
  auto next_progress = start + 1s;
  while (!stop.load() && std::chrono::steady_clock::now() < end) {
    const auto now = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < fleet.size(); ++i) {
      if (now < next[i]) {
        continue;
      }
      next[i] += period;
      std::lock_guard l(book.m);
      auto r = fleet[i].client->publish_event("", to_bytes(payload));
      if (r) {
        book.sent[{i, *r}] = std::chrono::steady_clock::now();
        ++sent;
      } else {
        ++errors;
      }
    }
    if (now >= next_progress) {
      next_progress += 1s;
      std::lock_guard l(book.m);
      std::cerr << "\r[" << std::chrono::duration_cast<std::chrono::seconds>(now - start).count()
                << " s] connected " << connected.load() << "/" << fleet.size() << "  sent " << sent
                << "  acked " << book.acked << "  errors " << errors + book.refused << "   "
                << std::flush;
    }
    std::this_thread::sleep_for(5ms);
  }
  // Let the last acknowledgements arrive (bounded).
  const auto drain_until = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < drain_until && !stop.load()) {
    {
      std::lock_guard l(book.m);
      if (book.acked + book.refused >= sent) {
        break;
      }
    }
    std::this_thread::sleep_for(50ms);
  }
  std::cerr << "\n";
  std::size_t ever_connected = 0;
  for (auto& d : fleet) {
    ever_connected += d.client->stats().connects > 0 ? 1U : 0U;
  }
  for (auto& d : fleet) {
    d.client->stop();
  }
  std::lock_guard l(book.m);
  std::cout << "summary: devices " << fleet.size() << ", connected " << ever_connected << ", sent "
            << sent << ", acked " << book.acked << ", errors " << errors + book.refused
            << ", disconnects " << connection_errors.load() << ", latency p50 "
            << percentile(book.millis, 0.5) << " ms, p99 " << percentile(book.millis, 0.99) << " ms"
            << std::endl;
  return ever_connected == fleet.size() && book.acked == sent ? 0 : 1;
}

} // namespace aegis::device::app
