// The HTTPS transport against `openssl s_server`: the server certificate is checked against
// the given CA file only, and against the host name or address.

#include "aegis/crypto/x509.hpp"
#include "aegis/ctl/keyfiles.hpp"
#include "aegis/ctl/transport.hpp"
#include "test_child_process.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

namespace aegis::ctl {
namespace {

using namespace std::chrono_literals;
using testing::temp_dir;

TEST(ServerUrl, Parses) {
  EXPECT_EQ(parse_server_url("https://h.example:8443"), (server_url{"h.example", "8443", false}));
  EXPECT_EQ(parse_server_url("https://h.example/"), (server_url{"h.example", "443", false}));
  EXPECT_EQ(parse_server_url("https://127.0.0.1:1"), (server_url{"127.0.0.1", "1", true}));
  EXPECT_EQ(parse_server_url("https://[::1]:9"), (server_url{"::1", "9", true}));
  for (const char* bad : {"http://h:1", "h:1", "https://", "https://h:0", "https://h:70000",
                          "https://h:x", "https://h:1/api", "https://u@h:1", "https://[::1"}) {
    EXPECT_THROW((void)parse_server_url(bad), ctl_error) << bad;
  }
}

struct pki {
  std::filesystem::path ca, other_ca, cert, key;
};

pki make_pki(const std::filesystem::path& dir, std::vector<std::string> dns = {"localhost"},
             std::vector<std::string> ips = {"127.0.0.1"}) {
  const auto now = std::chrono::system_clock::now();
  auto ca = crypto::certificate_authority::create("ctl test CA", 24h, now);
  auto other = crypto::certificate_authority::create("other CA", 24h, now);
  auto key = crypto::private_key::generate(crypto::key_type::ec_p256);
  if (!ca || !other || !key) {
    throw std::runtime_error("pki");
  }
  crypto::server_cert_request req;
  req.dns_names = std::move(dns);
  req.ip_addresses = std::move(ips);
  req.validity = 1h;
  auto cert = ca->issue_server_certificate(key->public_part(), req, now);
  if (!cert) {
    throw std::runtime_error("cert");
  }
  pki p{dir / "ca.crt", dir / "other.crt", dir / "server.crt", dir / "server.key"};
  write_new_file(p.ca, *ca->cert().to_pem(), 0644);
  write_new_file(p.other_ca, *other->cert().to_pem(), 0644);
  write_new_file(p.cert, *cert->to_pem(), 0644);
  write_new_file(p.key, *key->to_pem(), 0600);
  return p;
}

class Https : public ::testing::Test {
protected:
  void SetUp() override { start(make_pki(dir.path())); }

  void start(pki with) {
    p = std::move(with);
    server = std::make_unique<testing::child>(std::vector<std::string>{
        "openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", p.cert.string(), "-key",
        p.key.string(), "-www", "-naccept", "100"});
    if (!server->wait_for_output("ACCEPT 127.0.0.1:", 10s) || !server->wait_for_output("\n", 2s)) {
      GTEST_SKIP() << "openssl s_server did not start: " << server->output();
    }
    port = testing::token_after(server->output(), "ACCEPT 127.0.0.1:", "0123456789");
    ASSERT_FALSE(port.empty()) << server->output();
  }

  response get(const std::string& host, const std::string& ca) {
    endpoint ep;
    ep.server = "https://" + host + ":" + port;
    ep.ca_file = ca;
    ep.token = "aeg_x_y";
    ep.timeout = 10s;
    return make_https_transport(ep)->send(request{"GET", "/api/v1/projects", nullptr});
  }

  temp_dir dir;
  pki p;
  std::unique_ptr<testing::child> server;
  std::string port;
};

TEST_F(Https, TrustsTheGivenCaForAnAddressAndAName) {
  EXPECT_EQ(get("127.0.0.1", p.ca.string()).status, 200u);
  EXPECT_EQ(get("localhost", p.ca.string()).status, 200u);
}

TEST_F(Https, RefusesAServerTheCaFileDoesNotVouchFor) {
  try {
    (void)get("127.0.0.1", p.other_ca.string());
    ADD_FAILURE() << "connected";
  } catch (const ctl_error& e) {
    EXPECT_EQ(e.status(), "tls");
    EXPECT_NE(std::string(e.what()).find("certificate"), std::string::npos) << e.what();
  }
}

class HttpsOtherName : public Https {
protected:
  void SetUp() override {
    std::filesystem::create_directory(dir.path() / "o");
    start(make_pki(dir.path() / "o", {"other.example"}, {"10.9.8.7"}));
  }
};

TEST_F(HttpsOtherName, RefusesACertificateForAnotherNameOrAddress) {
  for (const char* host : {"localhost", "127.0.0.1"}) {
    try {
      (void)get(host, p.ca.string());
      ADD_FAILURE() << "connected to " << host;
    } catch (const ctl_error& e) {
      EXPECT_EQ(e.status(), "tls") << host << ": " << e.what();
    }
  }
}

TEST(HttpsNoServer, ConnectionRefusedIsANetworkError) {
  temp_dir dir;
  const auto p = make_pki(dir.path());
  endpoint ep{"https://127.0.0.1:1", p.ca.string(), false, "aeg_x_y", 5s};
  try {
    (void)make_https_transport(ep)->send(request{"GET", "/", nullptr});
    ADD_FAILURE();
  } catch (const ctl_error& e) {
    EXPECT_EQ(e.status(), "network");
    EXPECT_EQ(e.exit_code(), exit_failure);
  }
}

TEST(HttpsNoServer, NeedsACaFileOrSystemRoots) {
  endpoint ep{"https://127.0.0.1:1", "", false, "t", 5s};
  EXPECT_THROW((void)make_https_transport(ep), ctl_error);
  ep.ca_file = "/nonexistent/ca.pem";
  EXPECT_THROW((void)make_https_transport(ep)->send(request{"GET", "/", nullptr}), ctl_error);
}

} // namespace
} // namespace aegis::ctl
