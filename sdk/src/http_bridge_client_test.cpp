#include "aegis/device/http_bridge_client.hpp"

#include "aegis/crypto/keys.hpp"
#include "aegis/crypto/x509.hpp"
#include "aegis/device/errors.hpp"
#include "aegis/device/keystore.hpp"
#include "pkcs11_test_support.hpp"
#if defined(AEGISD_PATH) && defined(AEGISCTL_PATH)
#include "test_e2e.hpp"
#endif

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <openssl/ssl.h>

#include <atomic>
#include <mutex>
#include <sys/socket.h>
#include <thread>

namespace {

using namespace aegis;
using namespace aegis::device;
using namespace aegis::device::store_testing;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

struct test_pki {
  std::string root_pem;
  std::string server_chain_pem;
  std::string server_key_pem;
};

// A root and a server certificate for `dns`/`ips`, valid now unless `issued_at` lies in the past.
test_pki make_pki(std::vector<std::string> dns, std::vector<std::string> ips,
                  std::chrono::seconds validity = std::chrono::hours(24),
                  wall_time issued_at = std::chrono::system_clock::now()) {
  const auto now = std::chrono::system_clock::now();
  auto ca = crypto::certificate_authority::create("SDK test root", std::chrono::hours(24 * 30),
                                                  now - std::chrono::hours(24 * 10));
  EXPECT_TRUE(ca) << ca.error().message();
  auto key = crypto::private_key::generate(crypto::key_type::ec_p256);
  EXPECT_TRUE(key);
  crypto::server_cert_request req;
  req.dns_names = std::move(dns);
  req.ip_addresses = std::move(ips);
  req.validity = validity;
  auto cert = ca->issue_server_certificate(key->public_part(), req, issued_at);
  EXPECT_TRUE(cert) << cert.error().message();
  return {*ca->cert().to_pem(), *cert->to_pem(), *key->to_pem()};
}

// An HTTPS/1.1 server on 127.0.0.1:0 serving one connection at a time with `handler`.
class bridge_server {
public:
  using handler_fn = std::function<response(const request&)>;

  bridge_server(const test_pki& pki, handler_fn handler, int max_tls_version = 0)
      : ctx_(asio::ssl::context::tls_server), acceptor_(ioc_), handler_(std::move(handler)) {
    if (max_tls_version != 0) {
      // Old versions need the lowest security level in OpenSSL 3.
      SSL_CTX_set_security_level(ctx_.native_handle(), 0);
      SSL_CTX_set_min_proto_version(ctx_.native_handle(), TLS1_VERSION);
      SSL_CTX_set_max_proto_version(ctx_.native_handle(), max_tls_version);
    }
    ctx_.use_certificate_chain(asio::buffer(pki.server_chain_pem));
    ctx_.use_private_key(asio::buffer(pki.server_key_pem), asio::ssl::context::pem);
    const tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(ep.protocol());
    acceptor_.bind(ep);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { serve(); });
  }

  ~bridge_server() {
    stop_ = true;
    {
      const std::lock_guard lock(mutex_);
      if (current_fd_ >= 0) {
        ::shutdown(current_fd_, SHUT_RDWR);
      }
    }
    boost::system::error_code ec;
    tcp::socket wake(ioc_);
    wake.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ec);
    thread_.join();
  }

  std::uint16_t port() const noexcept { return port_; }
  std::vector<request> requests() const {
    const std::lock_guard lock(mutex_);
    return requests_;
  }
  int handshakes() const noexcept { return handshakes_; }
  // Hang up after each answer although it said keep-alive, as a server's idle timeout does.
  void hang_up_after_each_answer() noexcept { hang_up_ = true; }

private:
  void serve() {
    while (!stop_) {
      tcp::socket socket(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec || stop_) {
        continue;
      }
      {
        const std::lock_guard lock(mutex_);
        current_fd_ = socket.native_handle();
      }
      serve_connection(std::move(socket));
      const std::lock_guard lock(mutex_);
      current_fd_ = -1;
    }
  }

  void serve_connection(tcp::socket socket) {
    asio::ssl::stream<tcp::socket> stream(std::move(socket), ctx_);
    boost::system::error_code ec;
    stream.handshake(asio::ssl::stream_base::server, ec);
    if (ec) {
      return;
    }
    ++handshakes_;
    beast::flat_buffer buffer;
    while (!stop_) {
      request req;
      http::read(stream, buffer, req, ec);
      if (ec) {
        return;
      }
      {
        const std::lock_guard lock(mutex_);
        requests_.push_back(req);
      }
      response res = handler_(req);
      res.version(11);
      const bool keep = res.keep_alive() && req.keep_alive();
      res.keep_alive(keep);
      res.prepare_payload();
      http::write(stream, res, ec);
      if (ec || !keep || hang_up_) {
        return;
      }
    }
  }

  asio::io_context ioc_;
  asio::ssl::context ctx_;
  tcp::acceptor acceptor_;
  handler_fn handler_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> handshakes_{0};
  std::atomic<bool> hang_up_{false};
  mutable std::mutex mutex_;
  std::vector<request> requests_;
  int current_fd_ = -1;
  std::thread thread_;
};

response json_response(http::status status, const std::string& body) {
  response res{status, 11};
  res.set(http::field::content_type, "application/json");
  res.body() = body;
  res.keep_alive(true);
  return res;
}

class HttpBridgeClient : public ::testing::Test {
protected:
  http_bridge_options options(std::uint16_t port, const test_pki& pki,
                              std::string host = "127.0.0.1") {
    const auto roots = dir_.path() / ("roots-" + std::to_string(files_++) + ".pem");
    write_file(roots, pki.root_pem);
    http_bridge_options o;
    o.host = std::move(host);
    o.port = port;
    o.root_ca_files = {roots};
    o.project_id = "proj";
    o.location = "europe-west1";
    o.registry_id = "reg";
    o.device_id = "dev-1";
    o.token_source = [this]() -> result<std::string> {
      ++tokens_asked_;
      return std::string("jwt-") + std::to_string(tokens_asked_);
    };
    o.connect_timeout = std::chrono::milliseconds(5000);
    o.io_timeout = std::chrono::milliseconds(5000);
    return o;
  }

  std::unique_ptr<http_bridge_client> make(http_bridge_options o) {
    auto c = http_bridge_client::create(std::move(o));
    EXPECT_TRUE(c) << c.error().message();
    return c ? std::move(*c) : nullptr;
  }

  temp_dir dir_;
  int files_ = 0;
  int tokens_asked_ = 0;
};

constexpr std::string_view device_path =
    "/v1/projects/proj/locations/europe-west1/registries/reg/devices/dev-1";

TEST_F(HttpBridgeClient, AllFourCallsOnOneKeptAliveConnection) {
  const auto pki = make_pki({"localhost"}, {"127.0.0.1"});
  bridge_server server(pki, [](const request& req) {
    const std::string target(req.target());
    if (target.ends_with("/config?local_version=3&wait=20")) {
      return json_response(http::status::ok, R"({"version":"4","cloudUpdateTime":)"
                                             R"("2026-11-25T10:00:00Z","binaryData":"Y2ZnLTQ="})");
    }
    if (target.ends_with("/commands?wait=15")) {
      return json_response(
          http::status::ok,
          R"({"commands":[{"subFolder":"reboot","binaryData":"bm93"},{"binaryData":""}]})");
    }
    if (target.ends_with("/commands")) {
      response res{http::status::no_content, 11};
      res.keep_alive(true);
      return res;
    }
    return json_response(http::status::ok, "{}");
  });
  auto client = make(options(server.port(), pki));
  ASSERT_TRUE(client);

  ASSERT_TRUE(client->publish_event("metrics/cpu", to_bytes("42%")));
  ASSERT_TRUE(client->publish_event("", bytes{0, 1, 2, 255}));
  ASSERT_TRUE(client->set_state(to_bytes("state-1")));
  auto config = client->get_config(3, std::chrono::seconds{20});
  ASSERT_TRUE(config) << config.error().message();
  EXPECT_EQ(config->version, 4U);
  EXPECT_EQ(config->data, to_bytes("cfg-4"));
  EXPECT_EQ(config->cloud_update_time, "2026-11-25T10:00:00Z");
  auto commands = client->poll_commands(std::chrono::seconds{15});
  ASSERT_TRUE(commands) << commands.error().message();
  ASSERT_EQ(commands->size(), 2U);
  EXPECT_EQ((*commands)[0].subfolder, "reboot");
  EXPECT_EQ((*commands)[0].data, to_bytes("now"));
  EXPECT_EQ((*commands)[1].subfolder, "");
  auto none = client->poll_commands(std::chrono::seconds{0});
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(client->last_status(), 204);

  EXPECT_EQ(client->connections_opened(), 1U);
  EXPECT_EQ(server.handshakes(), 1);
  const auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 6U);
  EXPECT_EQ(reqs[0].method(), http::verb::post);
  EXPECT_EQ(reqs[0].target(), std::string(device_path) + ":publishEvent");
  EXPECT_EQ(nlohmann::json::parse(reqs[0].body()),
            nlohmann::json::parse(R"({"binary_data":"NDIl","sub_folder":"metrics/cpu"})"));
  EXPECT_EQ(nlohmann::json::parse(reqs[1].body()),
            nlohmann::json::parse(R"({"binary_data":"AAEC/w=="})"));
  EXPECT_EQ(reqs[2].target(), std::string(device_path) + ":setState");
  EXPECT_EQ(nlohmann::json::parse(reqs[2].body()),
            nlohmann::json::parse(R"({"state":{"binary_data":"c3RhdGUtMQ=="}})"));
  EXPECT_EQ(reqs[3].method(), http::verb::get);
  EXPECT_EQ(reqs[3].target(), std::string(device_path) + "/config?local_version=3&wait=20");
  EXPECT_EQ(reqs[4].target(), std::string(device_path) + "/commands?wait=15");
  EXPECT_EQ(reqs[5].target(), std::string(device_path) + "/commands");
  // A fresh token asked for each request.
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(reqs[i][http::field::authorization], "Bearer jwt-" + std::to_string(i + 1));
  }
}

TEST_F(HttpBridgeClient, ReconnectsWhenTheServerClosedTheKeptConnection) {
  const auto pki = make_pki({"localhost"}, {"127.0.0.1"});
  bridge_server server(pki, [](const request&) {
    auto res = json_response(http::status::ok, "{}");
    res.keep_alive(false);
    return res;
  });
  auto client = make(options(server.port(), pki));
  ASSERT_TRUE(client);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(client->publish_event("", to_bytes("e")));
  }
  EXPECT_EQ(client->connections_opened(), 3U);
  EXPECT_EQ(server.requests().size(), 3U);
}

TEST_F(HttpBridgeClient, RetriesOnceOnAKeptConnectionTheServerDroppedSilently) {
  const auto pki = make_pki({"localhost"}, {"127.0.0.1"});
  bridge_server server(pki, [](const request&) { return json_response(http::status::ok, "{}"); });
  server.hang_up_after_each_answer();
  auto client = make(options(server.port(), pki));
  ASSERT_TRUE(client);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(client->publish_event("", to_bytes("e" + std::to_string(i))));
    // Let the server's hang-up reach the client before the next request.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(client->connections_opened(), 3U);
  EXPECT_EQ(server.requests().size(), 3U); // each event reached the server once
}

TEST_F(HttpBridgeClient, ServerRefusalsAreReportedWithTheirStatus) {
  const auto pki = make_pki({"localhost"}, {"127.0.0.1"});
  bridge_server server(pki, [](const request& req) {
    if (req.target().ends_with(":setState")) {
      return json_response(
          http::status::unauthorized,
          R"({"error":{"code":401,"message":"bad token","status":"UNAUTHENTICATED"}})");
    }
    return json_response(http::status::ok, R"({"version":"x"})");
  });
  auto client = make(options(server.port(), pki));
  ASSERT_TRUE(client);
  EXPECT_EQ(client->set_state(to_bytes("s")).error(), device_errc::server_refused);
  EXPECT_EQ(client->last_status(), 401);
  EXPECT_EQ(client->get_config(0, std::chrono::seconds{0}).error(), std::errc::bad_message);
}

TEST_F(HttpBridgeClient, HostileAnswersAreErrorsAndTheClientRecovers) {
  const auto pki = make_pki({"localhost"}, {"127.0.0.1"});
  std::atomic<int> answer{0};
  bridge_server server(pki, [&answer](const request&) {
    switch (answer.load()) {
    case 0:
      return json_response(http::status::ok, R"({"version":"1","binaryData":"%%%"})");
    case 1:
      return json_response(http::status::ok, R"({"version":"-1"})");
    case 2:
      return json_response(http::status::ok, R"({"version":"18446744073709551616"})");
    case 3:
      return json_response(http::status::ok, R"({"commands":{"a":1}})");
    case 4:
      return json_response(http::status::ok, R"({"commands":[{"binaryData":"@@"}]})");
    case 5:
      return json_response(http::status::ok, "not json at all");
    case 6:
      return json_response(http::status::ok, std::string(300'000, '['));
    default:
      return json_response(http::status::ok, R"({"version":"9","binaryData":"b2s="})");
    }
  });
  auto o = options(server.port(), pki);
  o.max_response_bytes = 100'000;
  auto client = make(std::move(o));
  ASSERT_TRUE(client);
  EXPECT_EQ(client->get_config(0, std::chrono::seconds{0}).error(), std::errc::bad_message);
  answer = 1;
  EXPECT_EQ(client->get_config(0, std::chrono::seconds{0}).error(), std::errc::bad_message);
  answer = 2;
  EXPECT_EQ(client->get_config(0, std::chrono::seconds{0}).error(), std::errc::bad_message);
  answer = 3;
  EXPECT_EQ(client->poll_commands(std::chrono::seconds{0}).error(), std::errc::bad_message);
  answer = 4;
  EXPECT_EQ(client->poll_commands(std::chrono::seconds{0}).error(), std::errc::bad_message);
  answer = 5;
  EXPECT_EQ(client->poll_commands(std::chrono::seconds{0}).error(), std::errc::bad_message);
  answer = 6;
  EXPECT_FALSE(client->get_config(0, std::chrono::seconds{0})); // over max_response_bytes
  answer = 7;
  auto good = client->get_config(0, std::chrono::seconds{0});
  ASSERT_TRUE(good) << good.error().message();
  EXPECT_EQ(good->version, 9U);
  EXPECT_EQ(good->data, to_bytes("ok"));
}

TEST_F(HttpBridgeClient, AServerFromAnotherRootIsRefusedBeforeAnyCredentialIsSent) {
  const auto pki = make_pki({"localhost"}, {"127.0.0.1"});
  const auto other = make_pki({"localhost"}, {"127.0.0.1"});
  bridge_server server(pki, [](const request&) { return json_response(http::status::ok, "{}"); });
  auto client = make(options(server.port(), other));
  ASSERT_TRUE(client);
  EXPECT_EQ(client->publish_event("", to_bytes("secret")).error(), device_errc::untrusted_server);
  EXPECT_TRUE(server.requests().empty());
  EXPECT_EQ(client->connections_opened(), 0U);
}

TEST_F(HttpBridgeClient, ACertificateForAnotherHostIsRefused) {
  const auto pki = make_pki({"bridge.example.test"}, {"10.9.8.7"});
  bridge_server server(pki, [](const request&) { return json_response(http::status::ok, "{}"); });
  auto by_ip = make(options(server.port(), pki));
  ASSERT_TRUE(by_ip);
  EXPECT_EQ(by_ip->set_state(to_bytes("s")).error(), device_errc::host_name_mismatch);
  auto by_name = make(options(server.port(), pki, "localhost"));
  ASSERT_TRUE(by_name);
  EXPECT_EQ(by_name->set_state(to_bytes("s")).error(), device_errc::host_name_mismatch);
  EXPECT_TRUE(server.requests().empty());

  // The same server with a certificate that names the host is accepted by name.
  const auto good = make_pki({"localhost"}, {});
  bridge_server named(good, [](const request&) { return json_response(http::status::ok, "{}"); });
  auto ok_client = make(options(named.port(), good, "localhost"));
  ASSERT_TRUE(ok_client);
  EXPECT_TRUE(ok_client->set_state(to_bytes("s")));
}

TEST_F(HttpBridgeClient, AnExpiredCertificateIsRefused) {
  const auto pki = make_pki({"localhost"}, {"127.0.0.1"}, std::chrono::hours(24),
                            std::chrono::system_clock::now() - std::chrono::hours(24 * 5));
  bridge_server server(pki, [](const request&) { return json_response(http::status::ok, "{}"); });
  auto client = make(options(server.port(), pki));
  ASSERT_TRUE(client);
  EXPECT_EQ(client->publish_event("", to_bytes("e")).error(), device_errc::untrusted_server);
  EXPECT_TRUE(server.requests().empty());
}

TEST_F(HttpBridgeClient, ADowngradeToTls11IsRefused) {
  const auto pki = make_pki({"localhost"}, {"127.0.0.1"});
  bridge_server server(
      pki, [](const request&) { return json_response(http::status::ok, "{}"); }, TLS1_1_VERSION);
  auto client = make(options(server.port(), pki));
  ASSERT_TRUE(client);
  EXPECT_EQ(client->publish_event("", to_bytes("e")).error(), device_errc::tls_version_refused);
  EXPECT_TRUE(server.requests().empty());
}

TEST_F(HttpBridgeClient, ASilentServerTimesOut) {
  const auto pki = make_pki({"localhost"}, {"127.0.0.1"});
  bridge_server server(pki, [](const request&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    return json_response(http::status::ok, "{}");
  });
  auto o = options(server.port(), pki);
  o.io_timeout = std::chrono::milliseconds(200);
  auto client = make(std::move(o));
  ASSERT_TRUE(client);
  EXPECT_EQ(client->set_state(to_bytes("s")).error(), std::errc::timed_out);
}

TEST_F(HttpBridgeClient, TokenSourceFailureSendsNothingAndBadOptionsAreRefused) {
  const auto pki = make_pki({"localhost"}, {"127.0.0.1"});
  bridge_server server(pki, [](const request&) { return json_response(http::status::ok, "{}"); });
  auto o = options(server.port(), pki);
  o.token_source = []() -> result<std::string> { return keystore_errc::pkcs11_failure; };
  auto client = make(std::move(o));
  ASSERT_TRUE(client);
  EXPECT_EQ(client->publish_event("", to_bytes("e")).error(), keystore_errc::pkcs11_failure);
  EXPECT_TRUE(server.requests().empty());

  auto no_roots = options(server.port(), pki);
  no_roots.root_ca_files.clear();
  EXPECT_EQ(http_bridge_client::create(std::move(no_roots)).error(), device_errc::bad_config);
  auto bad_roots = options(server.port(), pki);
  bad_roots.root_ca_files = {dir_.path() / "missing.pem"};
  EXPECT_EQ(http_bridge_client::create(std::move(bad_roots)).error(), device_errc::bad_config);
  auto bad_id = options(server.port(), pki);
  bad_id.device_id = "dev/../../admin";
  EXPECT_EQ(http_bridge_client::create(std::move(bad_id)).error(), device_errc::bad_config);
}

#if defined(AEGISD_PATH) && defined(AEGISCTL_PATH)

// Against the real aegisd's HTTPS bridge, provisioned with the real aegisctl.
class HttpBridgeClientE2E : public ::testing::Test {
protected:
  using aegisd = aegis::device::testing::aegisd_instance;
  using outcome = aegis::device::testing::outcome;

  void SetUp() override {
    server_ = std::make_unique<aegisd>(dir_.path());
    ASSERT_FALSE(server_->admin_token().empty()) << server_->output();
    // The application account may read this project's telemetry (an [[mqtt.acl]] rule).
    server_->stop();
    std::ofstream(dir_.path() / "aegisd.toml", std::ios::app)
        << "[[mqtt.acl]]\nuser = \"app\"\naccess = \"subscribe\"\npattern = \"projects/"
        << project_id << "/#\"\n";
    server_->start();
    const outcome project = ctl({"project", "create", std::string(project_id)});
    ASSERT_EQ(project.code, 0) << project.output;
    const outcome registry = ctl({"registry", "create", "reg1"});
    ASSERT_EQ(registry.code, 0) << registry.output;
    key_ = aegis::device::testing::make_key_file(dir_.path() / "hdev.key");
    ASSERT_TRUE(key_);
    const auto pub = dir_.path() / "hdev.pub";
    write_file(pub, *key_->public_key_pem());
    const outcome created =
        ctl({"device", "create", "hdev", "--registry", "reg1", "--public-key", pub.string()});
    ASSERT_EQ(created.code, 0) << created.output;
  }

  http_bridge_options bridge_options() {
    http_bridge_options o;
    o.host = "127.0.0.1";
    const std::string url = server_->https_url();
    o.port = static_cast<std::uint16_t>(std::stoi(url.substr(url.rfind(':') + 1)));
    o.root_ca_files = {server_->ca_file()};
    o.project_id = std::string(project_id);
    o.location = "global";
    o.registry_id = "reg1";
    o.device_id = "hdev";
    o.token_source = [this]() -> result<std::string> {
      return mint_device_jwt(*key_, {std::string(project_id), std::chrono::seconds{3600}},
                             std::chrono::system_clock::now());
    };
    return o;
  }

  // Its own project id: the fixture's profile default may be shorter than aegisd accepts.
  static constexpr std::string_view project_id = "sdk-http-1";

  outcome ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--project", std::string(project_id)});
    return server_->ctl(std::move(args));
  }

  temp_dir dir_;
  std::unique_ptr<aegisd> server_;
  std::unique_ptr<signer> key_;
};

TEST_F(HttpBridgeClientE2E, TelemetryStateConfigAndCommandsOverHttps) {
  auto sub = server_->subscribe(
      "projects/sdk-http-1/locations/global/registries/reg1/devices/hdev/events/#");
  ASSERT_TRUE(sub->wait_for_output("SUBACK", std::chrono::seconds(20))) << sub->output();
  auto created = http_bridge_client::create(bridge_options());
  ASSERT_TRUE(created) << created.error().message();
  auto& client = **created;

  ASSERT_TRUE(client.publish_event("temp", to_bytes("http-reading-1"))) << server_->output();
  ASSERT_TRUE(client.publish_event("", to_bytes("http-reading-2")));
  EXPECT_TRUE(sub->wait_for_output("projects/sdk-http-1/locations/global/registries/reg1/devices/"
                                   "hdev/events/temp http-reading-1",
                                   std::chrono::seconds(20)))
      << sub->output();
  EXPECT_TRUE(sub->wait_for_output("http-reading-2", std::chrono::seconds(20))) << sub->output();

  ASSERT_TRUE(client.set_state(to_bytes("http-state-7")));
  const outcome state = ctl({"device", "state", "hdev", "--registry", "reg1"});
  EXPECT_NE(state.output.find("http-state-7"), std::string::npos) << state.output;

  auto first = client.get_config(0, std::chrono::seconds{0});
  ASSERT_TRUE(first) << first.error().message();
  // A long poll on the latest version, answered when the operator sets a new one.
  std::optional<result<bridge_config>> polled;
  std::thread poller([&] { polled = client.get_config(first->version, std::chrono::seconds{30}); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const outcome set =
      ctl({"device", "config", "set", "hdev", "--registry", "reg1", "--data", "cfg-over-http"});
  poller.join();
  ASSERT_EQ(set.code, 0) << set.output;
  ASSERT_TRUE(polled && *polled) << (polled ? polled->error().message() : "no answer");
  EXPECT_GT((*polled)->version, first->version);
  EXPECT_EQ((*polled)->data, to_bytes("cfg-over-http"));

  // Commands: the device counts as subscribed while its poll is open.
  std::optional<result<std::vector<bridge_command>>> commands;
  std::thread command_poller([&] { commands = client.poll_commands(std::chrono::seconds{30}); });
  outcome sent;
  for (int i = 0; i < 50; ++i) {
    sent = ctl({"device", "command", "send", "hdev", "--registry", "reg1", "--data", "reboot-now",
                "--subfolder", "power"});
    if (sent.code == 0) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  command_poller.join();
  ASSERT_EQ(sent.code, 0) << sent.output;
  ASSERT_TRUE(commands && *commands) << (commands ? commands->error().message() : "no answer");
  ASSERT_EQ((*commands)->size(), 1U);
  EXPECT_EQ((**commands)[0].subfolder, "power");
  EXPECT_EQ((**commands)[0].data, to_bytes("reboot-now"));
  EXPECT_EQ(client.connections_opened(), 1U);
}

TEST_F(HttpBridgeClientE2E, ADeviceWhoseKeyLivesInATokenSendsOverHttps) {
  softhsm_token token;
  AEGIS_REQUIRE_SOFTHSM(token);
  auto token_key = generate_pkcs11_key(token.slot(), "http-device-key");
  ASSERT_TRUE(token_key) << token_key.error().message();
  const auto pub = dir_.path() / "tdev.pub";
  write_file(pub, *(*token_key)->public_key_pem());
  const outcome created =
      ctl({"device", "create", "tdev", "--registry", "reg1", "--public-key", pub.string()});
  ASSERT_EQ(created.code, 0) << created.output;

  auto o = bridge_options();
  o.device_id = "tdev";
  o.token_source = [&token_key]() -> result<std::string> {
    return mint_device_jwt(**token_key, {std::string(project_id), std::chrono::seconds{600}},
                           std::chrono::system_clock::now());
  };
  auto client = http_bridge_client::create(std::move(o));
  ASSERT_TRUE(client);
  ASSERT_TRUE((*client)->publish_event("", to_bytes("signed-in-the-token")))
      << (*client)->last_status();
  ASSERT_TRUE((*client)->set_state(to_bytes("token-state-1")));
  const outcome state = ctl({"device", "state", "tdev", "--registry", "reg1"});
  EXPECT_NE(state.output.find("token-state-1"), std::string::npos) << state.output;
}

TEST_F(HttpBridgeClientE2E, ATokenOfAnotherKeyIsRefused) {
  auto o = bridge_options();
  auto other = aegis::device::testing::make_key_file(dir_.path() / "other.key");
  ASSERT_TRUE(other);
  o.token_source = [&other]() -> result<std::string> {
    return mint_device_jwt(*other, {std::string(project_id), std::chrono::seconds{3600}},
                           std::chrono::system_clock::now());
  };
  auto client = http_bridge_client::create(std::move(o));
  ASSERT_TRUE(client);
  EXPECT_EQ((*client)->publish_event("", to_bytes("x")).error(), device_errc::server_refused);
  EXPECT_EQ((*client)->last_status(), 401);
}

#endif

} // namespace
