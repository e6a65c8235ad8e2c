#include "aegis/auth/jwt_authenticator.hpp"

#include "aegis/crypto/errors.hpp"
#include "aegis/registry/errors.hpp"
#include "test_fixtures.hpp"

#include <gtest/gtest.h>

#include <string>

namespace aegis::auth {
namespace {

using namespace std::chrono_literals;
using namespace testing;
using registry::credential_format;

class JwtAuthenticator : public ::testing::Test {
protected:
  JwtAuthenticator() : auth_(world_.service(), world_.clock()) {
    world_.add_device("fleet-a", "sensor-001",
                      {public_key_credential(es256_key(0), credential_format::es256_pem)});
    world_.add_device("fleet-b", "only-in-b",
                      {public_key_credential(es256_key(1), credential_format::es256_pem)});
  }

  auth_decision connect(std::string client_id, std::string_view token) {
    return auth_.authenticate(jwt_request(std::move(client_id), token));
  }

  static void expect_denied(const auth_decision& d, auth_errc reason) {
    EXPECT_EQ(d.outcome, verdict::deny);
    EXPECT_EQ(d.reason, make_error_code(reason)) << d.reason.message();
    EXPECT_FALSE(d.who.has_value());
  }

  registry_world world_;
  jwt_authenticator auth_;
  const std::string sensor_ = client_id_of("fleet-a", "sensor-001");
};

TEST_F(JwtAuthenticator, AllowsAValidEs256TokenAndCarriesItsExpiry) {
  const wall_time now = world_.clock().wall_now();
  auto d = connect(sensor_, world_.token(es256_key(0)));
  ASSERT_EQ(d.outcome, verdict::allow) << d.reason.message() << " / " << d.detail.message();
  ASSERT_TRUE(d.who);
  EXPECT_EQ(d.who->kind, identity_kind::device);
  EXPECT_EQ(d.who->method, auth_method::jwt);
  EXPECT_EQ(d.who->device, device_key_of("fleet-a", "sensor-001"));
  EXPECT_EQ(d.who->client_id, sensor_);
  EXPECT_EQ(d.who->credential_index, 0U);
  EXPECT_EQ(d.who->credential_expires_at, now + 1h);
  EXPECT_EQ(d.who->close_deadline(), now + 1h + 10min);
}

TEST_F(JwtAuthenticator, PicksTheCredentialThatVerifies) {
  world_.add_device("fleet-a", "two-keys",
                    {public_key_credential(rsa_key(), credential_format::rsa_pem),
                     public_key_credential(es256_key(1), credential_format::es256_pem)});
  auto d = connect(client_id_of("fleet-a", "two-keys"), world_.token(es256_key(1)));
  ASSERT_EQ(d.outcome, verdict::allow) << d.detail.message();
  EXPECT_EQ(d.who->credential_index, 1U);
}

TEST_F(JwtAuthenticator, GatewayDeviceIsAGatewayIdentity) {
  world_.add_device("fleet-a", "gw-7",
                    {public_key_credential(es256_key(1), credential_format::es256_pem)},
                    registry::gateway_type::gateway);
  auto d = connect(client_id_of("fleet-a", "gw-7"), world_.token(es256_key(1)));
  ASSERT_EQ(d.outcome, verdict::allow) << d.detail.message();
  EXPECT_EQ(d.who->kind, identity_kind::gateway);
}

TEST_F(JwtAuthenticator, AbstainsOnClientIdsThatAreNotDevicePaths) {
  for (std::string id : {"", "my-app", "device-1", "Projects/acme-iot", "/projects/acme-iot"}) {
    EXPECT_EQ(connect(id, world_.token(es256_key(0))).outcome, verdict::abstain) << id;
  }
}

TEST_F(JwtAuthenticator, RefusesHostileClientIdsAsMalformed) {
  const std::string base = "projects/acme-iot/locations/us-central1/registries/fleet-a/devices/";
  const std::string hostile[] = {
      base + "../sensor-001",
      base + "sensor-001/../../fleet-b/devices/only-in-b",
      base + "sensor+001",
      base + "+",
      base + "#",
      base + "sensor-001/#",
      base + std::string("sensor\0-001", 11),
      base + std::string(64 * 1024, 'a'),
      "projects/acme-iot/locations/us-central1/registries/../devices/sensor-001",
      "projects/",
  };
  const auto token = world_.token(es256_key(0));
  for (const auto& id : hostile) {
    auto d = connect(id, token);
    expect_denied(d, auth_errc::client_id_malformed);
    EXPECT_EQ(connack_v5(auth_errc::client_id_malformed), 0x85);
    EXPECT_EQ(connack_v311(auth_errc::client_id_malformed), 2);
  }
}

TEST_F(JwtAuthenticator, UnknownDeviceRegistryOrProjectLookTheSame) {
  const auto token = world_.token(es256_key(0));
  auto d = connect(client_id_of("fleet-a", "ghost-9"), token);
  expect_denied(d, auth_errc::device_unknown);
  EXPECT_EQ(d.detail, registry::registry_errc::device_not_found);
  d = connect(client_id_of("fleet-z", "sensor-001"), token);
  expect_denied(d, auth_errc::device_unknown);
  EXPECT_EQ(d.detail, registry::registry_errc::registry_not_found);
  d = connect("projects/other-proj/locations/us-central1/registries/fleet-a/devices/sensor-001",
              token);
  expect_denied(d, auth_errc::device_unknown);
  EXPECT_EQ(connack_v5(auth_errc::device_unknown), connack_v5(auth_errc::token_bad_signature));
  EXPECT_EQ(connack_v311(auth_errc::device_unknown), 5);
}

TEST_F(JwtAuthenticator, DeviceOfAnotherRegistryIsUnknownHere) {
  auto d = connect(client_id_of("fleet-a", "only-in-b"), world_.token(es256_key(1)));
  expect_denied(d, auth_errc::device_unknown);
}

TEST_F(JwtAuthenticator, AnotherDevicesKeyDoesNotVerify) {
  auto d = connect(sensor_, world_.token(es256_key(1)));
  expect_denied(d, auth_errc::token_bad_signature);
  EXPECT_EQ(d.detail, crypto::jwt_errc::bad_signature);
}

TEST_F(JwtAuthenticator, TokenForAnotherProjectIsRefused) {
  auto d = connect(sensor_, world_.token(es256_key(0), "other-proj"));
  expect_denied(d, auth_errc::token_wrong_audience);
  EXPECT_EQ(d.detail, crypto::jwt_errc::bad_audience);
}

TEST_F(JwtAuthenticator, ExpiredTokenIsRefused) {
  auto d = connect(sensor_, world_.token(es256_key(0), project, 1h, 2h));
  expect_denied(d, auth_errc::token_expired);
  EXPECT_EQ(d.detail, crypto::jwt_errc::expired);
}

TEST_F(JwtAuthenticator, TokenWithinSkewAfterExpiryIsStillAccepted) {
  // exp was 5 min ago: inside the 10 min skew, as IoT Core allowed.
  auto d = connect(sensor_, world_.token(es256_key(0), project, 1h, 1h + 5min));
  EXPECT_EQ(d.outcome, verdict::allow) << d.detail.message();
}

TEST_F(JwtAuthenticator, LifetimeOver24HoursIsRefused) {
  auto d = connect(sensor_, world_.token(es256_key(0), project, 25h));
  expect_denied(d, auth_errc::token_lifetime);
}

TEST_F(JwtAuthenticator, ExpiredCredentialIsIgnored) {
  registry::credential c = public_key_credential(es256_key(1), credential_format::es256_pem);
  c.expiration_time = world_.clock().wall_now() + 1h;
  world_.add_device("fleet-a", "short-key", {c});
  world_.clock().advance(2h);
  auto d = connect(client_id_of("fleet-a", "short-key"), world_.token(es256_key(1)));
  expect_denied(d, auth_errc::no_usable_credential);
}

TEST_F(JwtAuthenticator, SessionEndsWhenTheSigningKeyExpiresBeforeTheToken) {
  const wall_time now = world_.clock().wall_now();
  registry::credential c = public_key_credential(es256_key(1), credential_format::es256_pem);
  c.expiration_time = now + 30min;
  world_.add_device("fleet-a", "short-key", {c});
  auto d = connect(client_id_of("fleet-a", "short-key"), world_.token(es256_key(1)));
  ASSERT_EQ(d.outcome, verdict::allow) << d.detail.message();
  EXPECT_EQ(d.who->credential_expires_at, now + 30min);
  EXPECT_EQ(d.who->close_deadline(), now + 30min);

  // A key expiring after exp + skew does not shorten the session.
  c.expiration_time = now + 2h;
  world_.add_device("fleet-a", "long-key", {c});
  d = connect(client_id_of("fleet-a", "long-key"), world_.token(es256_key(1)));
  ASSERT_EQ(d.outcome, verdict::allow) << d.detail.message();
  EXPECT_EQ(d.who->close_deadline(), now + 1h + 10min);
}

TEST_F(JwtAuthenticator, BlockedDeviceIsRefusedAfterItsTokenVerifies) {
  registry::device_update u;
  u.blocked = true;
  must(world_.service().update_device(device_key_of("fleet-a", "sensor-001"), u));
  auto d = connect(sensor_, world_.token(es256_key(0)));
  expect_denied(d, auth_errc::device_blocked);
  EXPECT_EQ(connack_v5(auth_errc::device_blocked), 0x87);
  // With a bad token the caller learns nothing about the block.
  expect_denied(connect(sensor_, world_.token(es256_key(1))), auth_errc::token_bad_signature);
}

TEST_F(JwtAuthenticator, RegistryWithMqttOrHttpDisabledIsRefusedPerTransport) {
  registry::registry_update u;
  u.mqtt_enabled = false;
  must(world_.service().update_registry(registry_key_of("fleet-a"), u));
  const auto token = world_.token(es256_key(0));
  expect_denied(connect(sensor_, token), auth_errc::mqtt_disabled);

  auto req = jwt_request(sensor_, token);
  req.via = transport::http;
  EXPECT_EQ(auth_.authenticate(req).outcome, verdict::allow);

  registry::registry_update h;
  h.http_enabled = false;
  h.mqtt_enabled = true;
  must(world_.service().update_registry(registry_key_of("fleet-a"), h));
  expect_denied(auth_.authenticate(req), auth_errc::http_disabled);
  EXPECT_EQ(connect(sensor_, token).outcome, verdict::allow);
}

TEST_F(JwtAuthenticator, RsaTokenAgainstEcOnlyDeviceIsAKeyMismatch) {
  auto d = connect(sensor_, world_.token(rsa_key()));
  expect_denied(d, auth_errc::token_key_mismatch);
  EXPECT_EQ(d.detail, crypto::jwt_errc::key_mismatch);
}

TEST_F(JwtAuthenticator, MissingOrGarbagePasswordIsRefused) {
  auto req = jwt_request(sensor_, "");
  req.password.reset();
  expect_denied(auth_.authenticate(req), auth_errc::token_missing);
  expect_denied(connect(sensor_, ""), auth_errc::token_missing);
  expect_denied(connect(sensor_, "not.a.jwt"), auth_errc::token_malformed);
  // alg "none": {"alg":"none","typ":"JWT"}
  expect_denied(connect(sensor_, "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJhdWQiOiJhY21lLWlvdCJ9."),
                auth_errc::token_refused_alg);
}

TEST_F(JwtAuthenticator, CertificateCredentialServesAsAPublicKey) {
  auto ca =
      must(crypto::certificate_authority::create("fleet ca", 24h * 365, world_.clock().wall_now()));
  auto csr = must(crypto::certificate_request::create(es256_key(1), "cert-dev"));
  crypto::device_cert_request dr;
  dr.device_id = "cert-dev";
  auto cert = must(ca.sign_device_csr(csr, dr, world_.clock().wall_now()));
  registry::registry_update u;
  u.ca_certificates = std::vector<registry::ca_certificate>{{must(ca.cert().to_pem())}};
  must(world_.service().update_registry(registry_key_of("fleet-b"), u));
  world_.add_device("fleet-b", "cert-dev",
                    {{credential_format::es256_x509_pem, must(cert.to_pem()), std::nullopt}});

  auto d = connect(client_id_of("fleet-b", "cert-dev"), world_.token(es256_key(1)));
  ASSERT_EQ(d.outcome, verdict::allow) << d.detail.message();
  EXPECT_EQ(d.who->credential_index, 0U);
}

} // namespace
} // namespace aegis::auth
