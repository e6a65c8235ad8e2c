#include "aegis/app/application_authorizer.hpp"

#include <gtest/gtest.h>

namespace {

using aegis::app::acl_rule_config;
using aegis::app::application_authorizer;
using aegis::auth::identity;
using aegis::auth::identity_kind;

identity account(std::string name) {
  identity who;
  who.kind = identity_kind::application;
  who.method = aegis::auth::auth_method::password;
  who.account = name;
  who.client_id = name + "-client";
  return who;
}

const std::string fleet = "projects/acme/locations/eu/registries/fleet";

application_authorizer make() {
  return application_authorizer({
      {"backend", "subscribe", fleet + "/devices/+/events/#"},
      {"backend", "subscribe", fleet + "/devices/+/state"},
      {"", "subscribe", "projects/acme/locations/eu/registries/public/devices/+/events"},
  });
}

TEST(ApplicationAuthorizer, OwnTrafficOutsideTheDeviceNamespaceIsFree) {
  const auto authz = make();
  const auto who = account("other");
  EXPECT_TRUE(authz.can_publish(who, "apps/billing/run").allowed);
  EXPECT_TRUE(authz.can_subscribe(who, "apps/#").allowed);
  EXPECT_TRUE(authz.can_subscribe(who, "$share/workers/apps/jobs/+").allowed);
}

TEST(ApplicationAuthorizer, DeviceTrafficOnlyAsGranted) {
  const auto authz = make();
  const auto backend = account("backend");
  const auto other = account("other");
  EXPECT_TRUE(authz.can_subscribe(backend, fleet + "/devices/+/events/#").allowed);
  EXPECT_TRUE(authz.can_subscribe(backend, fleet + "/devices/d1/events/temp").allowed);
  EXPECT_TRUE(authz.can_subscribe(backend, "$share/g/" + fleet + "/devices/+/events/#").allowed);
  EXPECT_TRUE(authz.can_subscribe(backend, fleet + "/devices/d1/state").allowed);
  EXPECT_FALSE(authz.can_subscribe(other, fleet + "/devices/+/events/#").allowed);
  // Wider than the grant, or another direction, or another registry.
  EXPECT_FALSE(authz.can_subscribe(backend, fleet + "/#").allowed);
  EXPECT_FALSE(authz.can_subscribe(backend, fleet + "/devices/+/config").allowed);
  EXPECT_FALSE(authz.can_subscribe(backend, fleet + "/devices/+/commands/#").allowed);
  EXPECT_FALSE(authz.can_publish(backend, fleet + "/devices/d1/commands").allowed);
  EXPECT_FALSE(authz.can_publish(backend, fleet + "/devices/d1/config").allowed);
  EXPECT_FALSE(
      authz.can_subscribe(backend, "projects/acme/locations/eu/registries/other/#").allowed);
  // Every account gets the rule without a user.
  EXPECT_TRUE(
      authz.can_subscribe(other, "projects/acme/locations/eu/registries/public/devices/+/events")
          .allowed);
}

TEST(ApplicationAuthorizer, FiltersThatCouldReachDevicesNeedAGrant) {
  const auto authz = make();
  const auto backend = account("backend");
  EXPECT_FALSE(authz.can_subscribe(backend, "#").allowed);
  EXPECT_FALSE(authz.can_subscribe(backend, "+/acme/#").allowed);
  EXPECT_FALSE(authz.can_subscribe(backend, "$share/g/#").allowed);
  EXPECT_FALSE(authz.can_subscribe(backend, "$share/g/+/+/+").allowed);
  EXPECT_FALSE(authz.can_subscribe(backend, "$share//#").allowed);
  EXPECT_FALSE(authz.can_subscribe(backend, "$share/g").allowed);
  EXPECT_FALSE(authz.can_subscribe(backend, "$share/+/apps/x").allowed);
}

TEST(ApplicationAuthorizer, RefusesDevicesAndBadSyntax) {
  const auto authz = make();
  identity device;
  device.kind = identity_kind::device;
  EXPECT_FALSE(authz.can_publish(device, "apps/x").allowed);
  EXPECT_FALSE(authz.can_subscribe(device, "apps/x").allowed);
  const auto who = account("backend");
  EXPECT_FALSE(authz.can_publish(who, "apps/+").allowed);
  EXPECT_FALSE(authz.can_subscribe(who, "apps/#/x").allowed);
  EXPECT_FALSE(authz.can_publish(who, "").allowed);
}

TEST(ApplicationAuthorizer, BadRulePatternIsAConfigError) {
  EXPECT_THROW(application_authorizer({{"", "both", "a/#/b"}}), aegis::app::config_error);
}

} // namespace
