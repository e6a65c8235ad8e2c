#include "aegis/auth/gateway_attach.hpp"

#include "aegis/crypto/errors.hpp"
#include "test_fixtures.hpp"

#include <gtest/gtest.h>

#include <string>

namespace aegis::auth {
namespace {

using namespace std::chrono_literals;
using namespace testing;
using registry::credential_format;
using registry::gateway_auth_method;

class GatewayAttach : public ::testing::Test {
protected:
  GatewayAttach() : checker_(world_.service(), world_.clock()) {
    world_.add_device("fleet-a", "gw-7",
                      {public_key_credential(es256_key(0), credential_format::es256_pem)},
                      registry::gateway_type::gateway);
    world_.add_device("fleet-a", "leaf-3",
                      {public_key_credential(es256_key(1), credential_format::es256_pem)});
    world_.add_device("fleet-a", "loose-4",
                      {public_key_credential(es256_key(1), credential_format::es256_pem)});
    world_.add_device("fleet-a", "gw-8", {}, registry::gateway_type::gateway);
    world_.add_device("fleet-b", "leaf-3",
                      {public_key_credential(es256_key(1), credential_format::es256_pem)});
    must(world_.service().bind_device_to_gateway(
        registry_key_of("fleet-a"), registry::device_id("gw-7"), registry::device_id("leaf-3")));
    gateway_.kind = identity_kind::gateway;
    gateway_.device = device_key_of("fleet-a", "gw-7");
    gateway_.client_id = client_id_of("fleet-a", "gw-7");
    gateway_.credential_expires_at = world_.clock().wall_now() + 1h;
    gateway_.expiry_grace = 10min;
  }

  void set_method(gateway_auth_method m) {
    registry::device_update u;
    u.auth_method = m;
    must(world_.service().update_device(device_key_of("fleet-a", "gw-7"), u));
  }

  static void expect_denied(const auth_decision& d, auth_errc reason) {
    EXPECT_EQ(d.outcome, verdict::deny);
    EXPECT_EQ(d.reason, make_error_code(reason)) << d.reason.message();
  }

  registry_world world_;
  gateway_attach_checker checker_;
  identity gateway_;
};

TEST_F(GatewayAttach, AssociationOnlyNeedsTheBindingAndIgnoresTokens) {
  set_method(gateway_auth_method::association_only);
  auto d = checker_.check(gateway_, "leaf-3", "");
  ASSERT_EQ(d.outcome, verdict::allow) << d.reason.message();
  EXPECT_EQ(d.who->device, device_key_of("fleet-a", "leaf-3"));
  EXPECT_EQ(d.who->method, auth_method::gateway_association);
  EXPECT_EQ(d.who->close_deadline(), gateway_.close_deadline());
  expect_denied(checker_.check(gateway_, "loose-4", world_.token(es256_key(1))),
                auth_errc::device_not_bound);
}

TEST_F(GatewayAttach, TokenOnlyNeedsTheDevicesOwnToken) {
  set_method(gateway_auth_method::device_auth_token_only);
  auto d = checker_.check(gateway_, "loose-4", world_.token(es256_key(1)));
  ASSERT_EQ(d.outcome, verdict::allow) << d.reason.message();
  EXPECT_EQ(d.who->method, auth_method::jwt);
  EXPECT_EQ(d.who->device, device_key_of("fleet-a", "loose-4"));
  expect_denied(checker_.check(gateway_, "loose-4", ""), auth_errc::token_missing);
  // The gateway's own key is not the device's.
  auto wrong = checker_.check(gateway_, "loose-4", world_.token(es256_key(0)));
  expect_denied(wrong, auth_errc::token_bad_signature);
  EXPECT_EQ(wrong.detail, crypto::jwt_errc::bad_signature);
  expect_denied(checker_.check(gateway_, "loose-4", world_.token(es256_key(1), "other-proj")),
                auth_errc::token_wrong_audience);
}

TEST_F(GatewayAttach, AssociationAndTokenNeedsBoth) {
  set_method(gateway_auth_method::association_and_device_auth_token);
  EXPECT_TRUE(checker_.check(gateway_, "leaf-3", world_.token(es256_key(1))).allowed());
  expect_denied(checker_.check(gateway_, "leaf-3", ""), auth_errc::token_missing);
  expect_denied(checker_.check(gateway_, "loose-4", world_.token(es256_key(1))),
                auth_errc::device_not_bound);
}

TEST_F(GatewayAttach, UnspecifiedMethodAdmitsNobody) {
  set_method(gateway_auth_method::unspecified);
  expect_denied(checker_.check(gateway_, "leaf-3", world_.token(es256_key(1))),
                auth_errc::gateway_auth_disabled);
}

TEST_F(GatewayAttach, RefusesNonGatewaysOtherRegistriesGatewaysAndBlockedDevices) {
  set_method(gateway_auth_method::device_auth_token_only);
  identity plain = gateway_;
  plain.kind = identity_kind::device;
  expect_denied(checker_.check(plain, "leaf-3", world_.token(es256_key(1))),
                auth_errc::not_a_gateway);
  expect_denied(checker_.check(gateway_, "ghost-9", world_.token(es256_key(1))),
                auth_errc::device_unknown);
  expect_denied(checker_.check(gateway_, "../fleet-b/devices/leaf-3", ""),
                auth_errc::device_unknown);
  expect_denied(checker_.check(gateway_, "+", ""), auth_errc::device_unknown);
  expect_denied(checker_.check(gateway_, "gw-8", ""), auth_errc::device_is_gateway);

  registry::device_update block;
  block.blocked = true;
  must(world_.service().update_device(device_key_of("fleet-a", "loose-4"), block));
  expect_denied(checker_.check(gateway_, "loose-4", world_.token(es256_key(1))),
                auth_errc::device_blocked);
  must(world_.service().update_device(device_key_of("fleet-a", "gw-7"), block));
  expect_denied(checker_.check(gateway_, "leaf-3", world_.token(es256_key(1))),
                auth_errc::device_blocked);
}

} // namespace
} // namespace aegis::auth
