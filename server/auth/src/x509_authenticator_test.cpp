#include "aegis/auth/x509_authenticator.hpp"

#include "aegis/crypto/errors.hpp"
#include "test_fixtures.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace aegis::auth {
namespace {

using namespace std::chrono_literals;
using namespace testing;

class X509Authenticator : public ::testing::Test {
protected:
  X509Authenticator()
      : registry_ca_(must(crypto::certificate_authority::create("fleet-a CA", 24h * 3650,
                                                                world_.clock().wall_now()))),
        aegis_ca_(must(crypto::certificate_authority::create("Aegis CA", 24h * 3650,
                                                             world_.clock().wall_now()))),
        stranger_ca_(must(crypto::certificate_authority::create("stranger CA", 24h * 3650,
                                                                world_.clock().wall_now()))) {
    registry::registry_update u;
    u.ca_certificates = std::vector<registry::ca_certificate>{{must(registry_ca_.cert().to_pem())}};
    must(world_.service().update_registry(registry_key_of("fleet-a"), u));
    world_.add_device("fleet-a", "dev-a", {});
    world_.add_device("fleet-a", "dev-b", {});
    world_.add_device("fleet-b", "dev-a", {});
  }

  crypto::certificate issue(const crypto::certificate_authority& ca, std::string_view device,
                            std::string uri, std::chrono::seconds validity = 24h * 30) {
    auto csr = must(crypto::certificate_request::create(es256_key(0), device));
    crypto::device_cert_request r;
    r.device_id = std::string(device);
    r.device_uri = std::move(uri);
    r.validity = validity;
    return must(ca.sign_device_csr(csr, r, world_.clock().wall_now()));
  }

  static std::string uri_of(std::string_view reg, std::string_view dev) {
    return "aegis:" + client_id_of(reg, dev);
  }

  connect_request request(std::string client_id, const crypto::certificate& leaf) {
    connect_request r;
    r.client_id = std::move(client_id);
    r.peer_certificates.push_back(must(leaf.to_der()));
    r.source_address = "198.51.100.1:4242";
    return r;
  }

  x509_authenticator make(const std::vector<crypto::crl>& crls = {}) {
    return x509_authenticator(world_.service(), world_.clock(), aegis_ca_.cert(), crls);
  }

  static void expect_denied(const auth_decision& d, auth_errc reason) {
    EXPECT_EQ(d.outcome, verdict::deny);
    EXPECT_EQ(d.reason, make_error_code(reason))
        << d.reason.message() << " / " << d.detail.message();
  }

  registry_world world_;
  crypto::certificate_authority registry_ca_;
  crypto::certificate_authority aegis_ca_;
  crypto::certificate_authority stranger_ca_;
};

TEST_F(X509Authenticator, AbstainsWithoutAClientCertificate) {
  auto auth = make();
  connect_request r;
  r.client_id = client_id_of("fleet-a", "dev-a");
  EXPECT_EQ(auth.authenticate(r).outcome, verdict::abstain);
}

TEST_F(X509Authenticator, RegistryCaCertificateWithUriIdentifiesTheDevice) {
  auto auth = make();
  auto leaf = issue(registry_ca_, "dev-a", uri_of("fleet-a", "dev-a"));
  auto d = auth.authenticate(request(client_id_of("fleet-a", "dev-a"), leaf));
  ASSERT_EQ(d.outcome, verdict::allow) << d.reason.message() << " / " << d.detail.message();
  EXPECT_EQ(d.who->method, auth_method::x509);
  EXPECT_EQ(d.who->device, device_key_of("fleet-a", "dev-a"));
  EXPECT_EQ(d.who->credential_expires_at, leaf.not_after());
  EXPECT_EQ(d.who->close_deadline(), leaf.not_after());
}

TEST_F(X509Authenticator, CnOnlyCertificateFromTheRegistryCaIsScopedToThatRegistry) {
  auto auth = make();
  auto leaf = issue(registry_ca_, "dev-a", "");
  EXPECT_EQ(auth.authenticate(request(client_id_of("fleet-a", "dev-a"), leaf)).outcome,
            verdict::allow);
  // fleet-b does not trust fleet-a's CA.
  auto d = auth.authenticate(request(client_id_of("fleet-b", "dev-a"), leaf));
  expect_denied(d, auth_errc::certificate_untrusted);
  EXPECT_EQ(d.detail, crypto::x509_errc::untrusted);
}

TEST_F(X509Authenticator, AegisCaCertificateNeedsTheFullDevicePath) {
  auto auth = make();
  auto with_uri = issue(aegis_ca_, "dev-a", uri_of("fleet-b", "dev-a"));
  EXPECT_EQ(auth.authenticate(request(client_id_of("fleet-b", "dev-a"), with_uri)).outcome,
            verdict::allow);
  auto cn_only = issue(aegis_ca_, "dev-a", "");
  auto d = auth.authenticate(request(client_id_of("fleet-b", "dev-a"), cn_only));
  expect_denied(d, auth_errc::certificate_rejected);
  EXPECT_EQ(d.detail, crypto::x509_errc::no_identity);
}

TEST_F(X509Authenticator, CertificateFromAnUnregisteredCaIsUntrusted) {
  auto auth = make();
  auto leaf = issue(stranger_ca_, "dev-a", uri_of("fleet-a", "dev-a"));
  auto d = auth.authenticate(request(client_id_of("fleet-a", "dev-a"), leaf));
  expect_denied(d, auth_errc::certificate_untrusted);
  EXPECT_EQ(connack_v5(auth_errc::certificate_untrusted), 0x86);
}

TEST_F(X509Authenticator, CertificateOfDeviceAWithClientIdOfDeviceBIsRefused) {
  auto auth = make();
  auto leaf = issue(registry_ca_, "dev-a", uri_of("fleet-a", "dev-a"));
  auto d = auth.authenticate(request(client_id_of("fleet-a", "dev-b"), leaf));
  expect_denied(d, auth_errc::client_id_mismatch);
  EXPECT_EQ(connack_v5(auth_errc::client_id_mismatch), 0x85);
  EXPECT_EQ(connack_v311(auth_errc::client_id_mismatch), 2);
  // Same device id in another registry is another device.
  auto aegis_leaf = issue(aegis_ca_, "dev-a", uri_of("fleet-a", "dev-a"));
  expect_denied(auth.authenticate(request(client_id_of("fleet-b", "dev-a"), aegis_leaf)),
                auth_errc::client_id_mismatch);
}

TEST_F(X509Authenticator, RevokedCertificateIsRefused) {
  auto leaf = issue(aegis_ca_, "dev-a", uri_of("fleet-a", "dev-a"));
  auto list = must(aegis_ca_.issue_crl({{leaf.serial_hex(), world_.clock().wall_now()}},
                                       world_.clock().wall_now(), 24h));
  auto auth = make({list});
  auto d = auth.authenticate(request(client_id_of("fleet-a", "dev-a"), leaf));
  expect_denied(d, auth_errc::certificate_revoked);
  EXPECT_EQ(d.detail, crypto::x509_errc::revoked);
}

TEST_F(X509Authenticator, ExpiredCertificateIsRefused) {
  auto auth = make();
  auto leaf = issue(registry_ca_, "dev-a", uri_of("fleet-a", "dev-a"), 24h);
  world_.clock().advance(48h);
  auto d = auth.authenticate(request(client_id_of("fleet-a", "dev-a"), leaf));
  expect_denied(d, auth_errc::certificate_expired);
  EXPECT_EQ(d.detail, crypto::x509_errc::expired);
}

TEST_F(X509Authenticator, GarbageOrHostileInputIsRefused) {
  auto auth = make();
  connect_request r;
  r.client_id = client_id_of("fleet-a", "dev-a");
  r.peer_certificates.push_back(to_bytes("not a certificate"));
  expect_denied(auth.authenticate(r), auth_errc::certificate_unparsable);

  auto leaf = issue(registry_ca_, "dev-a", uri_of("fleet-a", "dev-a"));
  auto long_chain = request(client_id_of("fleet-a", "dev-a"), leaf);
  long_chain.peer_certificates.resize(9, long_chain.peer_certificates.front());
  expect_denied(auth.authenticate(long_chain), auth_errc::certificate_rejected);
  expect_denied(auth.authenticate(request("my-app", leaf)), auth_errc::client_id_malformed);
  expect_denied(auth.authenticate(request(client_id_of("fleet-a", "dev-a") + "/../dev-b", leaf)),
                auth_errc::client_id_malformed);
  expect_denied(auth.authenticate(request(client_id_of("fleet-z", "dev-a"), leaf)),
                auth_errc::device_unknown);
}

TEST_F(X509Authenticator, ValidCertificateOfAnUnregisteredDeviceIsUnknown) {
  auto auth = make();
  auto leaf = issue(aegis_ca_, "dev-x", uri_of("fleet-a", "dev-x"));
  expect_denied(auth.authenticate(request(client_id_of("fleet-a", "dev-x"), leaf)),
                auth_errc::device_unknown);
}

TEST_F(X509Authenticator, BlockedDeviceIsRefused) {
  auto auth = make();
  registry::device_update u;
  u.blocked = true;
  must(world_.service().update_device(device_key_of("fleet-a", "dev-a"), u));
  auto leaf = issue(registry_ca_, "dev-a", uri_of("fleet-a", "dev-a"));
  expect_denied(auth.authenticate(request(client_id_of("fleet-a", "dev-a"), leaf)),
                auth_errc::device_blocked);
}

} // namespace
} // namespace aegis::auth
