// TLS refusals against `openssl s_server` on 127.0.0.1 (bounded: killed at the end of each
// test): a certificate for another host name, an expired certificate, a server that speaks only
// TLS 1.1. The device must report the reason and never send a CONNECT.

#include "aegis/crypto/keys.hpp"
#include "aegis/crypto/x509.hpp"
#include "aegis/device/client.hpp"
#include "test_e2e.hpp"

#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>

#include <condition_variable>
#include <mutex>

namespace aegis::device {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::uint16_t free_port() {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor a(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

class DeviceClientTls : public ::testing::Test {
protected:
  // A CA and a server certificate it issued, written as PEM files.
  void make_pki(const crypto::server_cert_request& req, wall_time issued_at) {
    const auto now = std::chrono::system_clock::now();
    auto ca = crypto::certificate_authority::create("sdk-test-ca", 240h, now - 72h);
    ASSERT_TRUE(ca);
    auto leaf_key = crypto::private_key::generate(crypto::key_type::ec_p256);
    ASSERT_TRUE(leaf_key);
    auto leaf = ca->issue_server_certificate(leaf_key->public_part(), req, issued_at);
    ASSERT_TRUE(leaf) << leaf.error().message();
    testing::write_file(ca_file_, *ca->cert().to_pem(),
                        fs::perms::owner_read | fs::perms::owner_write);
    testing::write_file(leaf_file_, *leaf->to_pem(),
                        fs::perms::owner_read | fs::perms::owner_write);
    testing::write_file(leaf_key_file_, *leaf_key->to_pem(),
                        fs::perms::owner_read | fs::perms::owner_write);
  }

  void start_s_server(std::vector<std::string> extra) {
    port_ = free_port();
    std::vector<std::string> argv{
        "openssl", "s_server",          "-accept", "127.0.0.1:" + std::to_string(port_),
        "-cert",   leaf_file_.string(), "-key",    leaf_key_file_.string(),
        "-quiet"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    server_ = std::make_unique<testing::child>(argv);
    // s_server prints nothing with -quiet before a client: wait until the port answers.
    ASSERT_TRUE(eventually_listening()) << server_->output();
  }

  bool eventually_listening() {
    for (int i = 0; i < 100; ++i) {
      boost::asio::io_context ioc;
      boost::asio::ip::tcp::socket s(ioc);
      boost::system::error_code ec;
      s.connect({boost::asio::ip::make_address("127.0.0.1"), port_}, ec);
      if (!ec) {
        return true;
      }
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  // Runs a client against the server until its first refusal; returns the reported error.
  std::error_code first_refusal(const std::string& host) {
    auto key = testing::make_key_file(dir_.path() / "dev.key");
    EXPECT_TRUE(key);
    auto queue = make_memory_queue({});
    client_options o;
    o.host = host;
    o.port = port_;
    o.root_ca_files = {ca_file_};
    o.project_id = "p1";
    o.registry_id = "reg1";
    o.device_id = "dev1";
    o.jwt_signer = key.get();
    o.queue = queue.get();
    o.backoff_min = 200ms;
    o.backoff_max = 1s;
    o.connect_timeout = 3s;
    auto client = device_client::create(o);
    EXPECT_TRUE(client);
    if (!client) {
      return {};
    }
    std::mutex m;
    std::condition_variable cv;
    std::error_code refusal;
    bool connected = false;
    (*client)->on_connection_state([&](connection_state s, std::error_code ec) {
      std::lock_guard l(m);
      if (s == connection_state::connected) {
        connected = true;
      }
      if (s == connection_state::disconnected && !refusal) {
        refusal = ec;
      }
      cv.notify_all();
    });
    (*client)->start();
    {
      std::unique_lock l(m);
      EXPECT_TRUE(cv.wait_for(l, 20s, [&] { return bool(refusal); }));
    }
    (*client)->stop();
    EXPECT_FALSE(connected);
    return refusal;
  }

  testing::temp_dir dir_;
  fs::path ca_file_ = dir_.path() / "ca.crt";
  fs::path leaf_file_ = dir_.path() / "leaf.crt";
  fs::path leaf_key_file_ = dir_.path() / "leaf.key";
  std::uint16_t port_ = 0;
  std::unique_ptr<testing::child> server_;
};

TEST_F(DeviceClientTls, WrongHostNameIsRefused) {
  crypto::server_cert_request req;
  req.dns_names = {"wrong.example"};
  make_pki(req, std::chrono::system_clock::now() - 1h);
  start_s_server({});
  EXPECT_EQ(first_refusal("localhost"), make_error_code(device_errc::host_name_mismatch));
  EXPECT_EQ(first_refusal("127.0.0.1"), make_error_code(device_errc::host_name_mismatch));
}

TEST_F(DeviceClientTls, ExpiredServerCertificateIsRefused) {
  crypto::server_cert_request req;
  req.dns_names = {"localhost"};
  req.ip_addresses = {"127.0.0.1"};
  req.validity = 1h;
  make_pki(req, std::chrono::system_clock::now() - 60h);
  start_s_server({});
  EXPECT_EQ(first_refusal("127.0.0.1"), make_error_code(device_errc::untrusted_server));
}

TEST_F(DeviceClientTls, Tls11OnlyServerIsRefused) {
  crypto::server_cert_request req;
  req.dns_names = {"localhost"};
  req.ip_addresses = {"127.0.0.1"};
  make_pki(req, std::chrono::system_clock::now() - 1h);
  start_s_server({"-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"});
  EXPECT_EQ(first_refusal("127.0.0.1"), make_error_code(device_errc::tls_version_refused));
}

TEST_F(DeviceClientTls, CorrectServerIsAcceptedByTls) {
  // The control case: the same PKI with a matching name passes TLS (s_server is not MQTT, so
  // the session then fails for another reason, never a TLS refusal).
  crypto::server_cert_request req;
  req.dns_names = {"localhost"};
  req.ip_addresses = {"127.0.0.1"};
  make_pki(req, std::chrono::system_clock::now() - 1h);
  start_s_server({});
  const auto ec = first_refusal("127.0.0.1");
  EXPECT_NE(ec, make_error_code(device_errc::untrusted_server));
  EXPECT_NE(ec, make_error_code(device_errc::host_name_mismatch));
  EXPECT_NE(ec, make_error_code(device_errc::tls_version_refused));
}

} // namespace
} // namespace aegis::device
