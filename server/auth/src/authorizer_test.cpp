#include "aegis/auth/authorizer.hpp"

#include "test_fixtures.hpp"

#include <gtest/gtest.h>

#include <set>
#include <stdexcept>
#include <string>

namespace aegis::auth {
namespace {

using testing::device_key_of;

identity device_identity(std::string_view dev, identity_kind kind = identity_kind::device) {
  identity id;
  id.kind = kind;
  id.device = device_key_of("fleet-a", dev);
  id.client_id = testing::client_id_of("fleet-a", dev);
  return id;
}

identity app(std::string account, std::string client_id) {
  identity id;
  id.kind = identity_kind::application;
  id.method = auth_method::password;
  id.account = std::move(account);
  id.client_id = std::move(client_id);
  return id;
}

void expect(const authz_decision& d, std::optional<authz_errc> refusal, std::string_view what) {
  if (!refusal) {
    EXPECT_TRUE(d.allowed) << what << ": " << d.reason.message();
  } else {
    EXPECT_FALSE(d.allowed) << what;
    EXPECT_EQ(d.reason, make_error_code(*refusal)) << what << ": " << d.reason.message();
  }
}

TEST(TopicSyntax, NamesAndFilters) {
  EXPECT_TRUE(valid_topic_name("/devices/d1/events"));
  EXPECT_FALSE(valid_topic_name(""));
  EXPECT_FALSE(valid_topic_name("/devices/+/events"));
  EXPECT_FALSE(valid_topic_name("a/#"));
  EXPECT_FALSE(valid_topic_name(std::string("a\0b", 3)));
  EXPECT_FALSE(valid_topic_name(std::string(65536, 'a')));
  EXPECT_TRUE(valid_topic_filter("#"));
  EXPECT_TRUE(valid_topic_filter("a/+/c/#"));
  EXPECT_TRUE(valid_topic_filter("/"));
  EXPECT_FALSE(valid_topic_filter("a/#/c"));
  EXPECT_FALSE(valid_topic_filter("a/b#"));
  EXPECT_FALSE(valid_topic_filter("a/+b"));
  EXPECT_FALSE(valid_topic_filter(""));
}

TEST(TopicSyntax, MatchingAndCovering) {
  EXPECT_TRUE(filter_matches("a/#", "a"));
  EXPECT_TRUE(filter_matches("a/+/c", "a/b/c"));
  EXPECT_FALSE(filter_matches("a/+", "a/b/c"));
  EXPECT_FALSE(filter_matches("#", "$SYS/x"));
  EXPECT_FALSE(filter_matches("+/x", "$SYS/x"));
  EXPECT_TRUE(filter_matches("$SYS/#", "$SYS/x"));
  EXPECT_TRUE(filter_covers("a/#", "a/+/c"));
  EXPECT_TRUE(filter_covers("a/+", "a/b"));
  EXPECT_TRUE(filter_covers("a/#", "a"));
  EXPECT_FALSE(filter_covers("a/+", "a/#"));
  EXPECT_FALSE(filter_covers("a/b", "a/+"));
  EXPECT_FALSE(filter_covers("a", "a/#"));
  EXPECT_FALSE(filter_covers("#", "$SYS/#"));
}

TEST(DeviceProfile, DevicePublishesOnlyItsEventsAndState) {
  device_profile_authorizer authz;
  const auto d1 = device_identity("d1");
  expect(authz.can_publish(d1, "/devices/d1/events"), std::nullopt, "events");
  expect(authz.can_publish(d1, "/devices/d1/events/temp"), std::nullopt, "subfolder");
  expect(authz.can_publish(d1, "/devices/d1/events/a/b"), std::nullopt, "deep subfolder");
  expect(authz.can_publish(d1, "/devices/d1/state"), std::nullopt, "state");
  expect(authz.can_publish(d1, "/devices/d1/state/x"), authz_errc::topic_not_allowed, "state/x");
  expect(authz.can_publish(d1, "/devices/d1/config"), authz_errc::topic_not_allowed, "config");
  expect(authz.can_publish(d1, "/devices/d1/commands/x"), authz_errc::topic_not_allowed, "cmd");
  expect(authz.can_publish(d1, "/devices/d1"), authz_errc::topic_not_allowed, "bare");
  expect(authz.can_publish(d1, "/devices/d2/events"), authz_errc::other_device, "other");
  expect(authz.can_publish(d1, "/devices/d1/events/../../d2/events"), authz_errc::dot_segment,
         "dot escape");
  expect(authz.can_publish(d1, "/devices/d1/events//x"), authz_errc::dot_segment, "empty level");
  expect(authz.can_publish(d1, "/devices/+/events"), authz_errc::topic_invalid, "wildcard");
  expect(authz.can_publish(d1, "devices/d1/events"), authz_errc::outside_namespace, "no slash");
  expect(authz.can_publish(d1, "$SYS/x"), authz_errc::outside_namespace, "$SYS");
  expect(authz.can_publish(d1, "/devices/d1/attach"), authz_errc::not_a_gateway, "attach");
  expect(authz.can_publish(d1, std::string("/devices/d1/events\0x", 20)), authz_errc::topic_invalid,
         "NUL");
}

TEST(DeviceProfile, DeviceSubscribesOnlyItsConfigAndCommands) {
  device_profile_authorizer authz;
  const auto d1 = device_identity("d1");
  expect(authz.can_subscribe(d1, "/devices/d1/config"), std::nullopt, "config");
  expect(authz.can_subscribe(d1, "/devices/d1/commands/#"), std::nullopt, "commands/#");
  expect(authz.can_subscribe(d1, "/devices/d1/commands"), std::nullopt, "commands");
  expect(authz.can_subscribe(d1, "/devices/d1/commands/a/+"), std::nullopt, "commands/a/+");
  expect(authz.can_subscribe(d1, "/devices/+/config"), authz_errc::wildcard_escape, "+ device");
  expect(authz.can_subscribe(d1, "#"), authz_errc::wildcard_escape, "#");
  expect(authz.can_subscribe(d1, "/#"), authz_errc::wildcard_escape, "/#");
  expect(authz.can_subscribe(d1, "/devices/#"), authz_errc::wildcard_escape, "/devices/#");
  expect(authz.can_subscribe(d1, "+/devices/d1/config"), authz_errc::wildcard_escape, "+ root");
  expect(authz.can_subscribe(d1, "/devices/d1/#"), authz_errc::topic_not_allowed, "own #");
  expect(authz.can_subscribe(d1, "/devices/d1/+"), authz_errc::topic_not_allowed, "own +");
  expect(authz.can_subscribe(d1, "/devices/d1/events"), authz_errc::topic_not_allowed, "events");
  expect(authz.can_subscribe(d1, "/devices/d1/config/#"), authz_errc::topic_not_allowed,
         "config/#");
  expect(authz.can_subscribe(d1, "/devices/d2/config"), authz_errc::other_device, "other");
  expect(authz.can_subscribe(d1, "/devices/d1/commands/../../d2"), authz_errc::dot_segment,
         "dot escape");
  expect(authz.can_subscribe(d1, "/devices/d1/commands/#/x"), authz_errc::filter_invalid, "#/x");
  expect(authz.can_subscribe(d1, "/devices/d1/errors"), authz_errc::not_a_gateway, "errors");
}

TEST(DeviceProfile, GatewayActsForBoundDevicesOnly) {
  std::set<std::string> bound = {"leaf-3"};
  device_profile_authorizer authz([&bound](const identity& gw, std::string_view dev) {
    return gw.device.device.value() == "gw-7" && bound.count(std::string(dev)) > 0;
  });
  const auto gw = device_identity("gw-7", identity_kind::gateway);
  expect(authz.can_publish(gw, "/devices/gw-7/events"), std::nullopt, "own events");
  expect(authz.can_subscribe(gw, "/devices/gw-7/errors"), std::nullopt, "errors");
  expect(authz.can_publish(gw, "/devices/leaf-3/attach"), std::nullopt, "attach");
  expect(authz.can_publish(gw, "/devices/leaf-3/detach"), std::nullopt, "detach");
  expect(authz.can_publish(gw, "/devices/leaf-3/events/x"), std::nullopt, "leaf events");
  expect(authz.can_subscribe(gw, "/devices/leaf-3/config"), std::nullopt, "leaf config");
  expect(authz.can_subscribe(gw, "/devices/leaf-3/commands/#"), std::nullopt, "leaf commands");
  expect(authz.can_publish(gw, "/devices/ghost-9/attach"), authz_errc::other_device, "unbound");
  expect(authz.can_subscribe(gw, "/devices/leaf-3/errors"), authz_errc::topic_not_allowed,
         "leaf errors");
  expect(authz.can_publish(gw, "/devices/gw-7/attach"), authz_errc::topic_not_allowed, "self");
  expect(authz.can_subscribe(gw, "/devices/+/config"), authz_errc::wildcard_escape, "+");

  // A plain device gets nothing from the lookup, even if it claims the same bindings.
  const auto impostor = device_identity("gw-7", identity_kind::device);
  expect(authz.can_publish(impostor, "/devices/leaf-3/events"), authz_errc::other_device,
         "device is not a gateway");
  bound.clear();
  expect(authz.can_publish(gw, "/devices/leaf-3/events"), authz_errc::other_device, "unbound");
}

TEST(DeviceProfile, RefusesApplicationIdentities) {
  device_profile_authorizer authz;
  expect(authz.can_publish(app("svc", "c"), "/devices/d1/events"), authz_errc::wrong_identity_kind,
         "app");
}

TEST(TopicAcl, GrantsByPatternWithSubstitution) {
  topic_acl_authorizer authz({
      {"", acl_access::both, "clients/%c/#"},
      {"", acl_access::subscribe, "users/%u/+/in"},
      {"ops", acl_access::publish, "ops/#"},
      {"", acl_access::subscribe, "telemetry/+/temp"},
  });
  const auto svc = app("svc", "dash-1");
  expect(authz.can_publish(svc, "clients/dash-1/x"), std::nullopt, "own client tree");
  expect(authz.can_subscribe(svc, "clients/dash-1/#"), std::nullopt, "own client #");
  expect(authz.can_subscribe(svc, "users/svc/a/in"), std::nullopt, "user tree");
  expect(authz.can_subscribe(svc, "users/svc/+/in"), std::nullopt, "user tree +");
  expect(authz.can_subscribe(svc, "telemetry/+/temp"), std::nullopt, "telemetry");
  expect(authz.can_subscribe(svc, "telemetry/#"), authz_errc::no_matching_rule, "wider");
  expect(authz.can_subscribe(svc, "#"), authz_errc::no_matching_rule, "#");
  expect(authz.can_publish(svc, "users/svc/a/in"), authz_errc::no_matching_rule, "sub only");
  expect(authz.can_publish(svc, "clients/dash-2/x"), authz_errc::no_matching_rule, "other");
  expect(authz.can_publish(svc, "ops/x"), authz_errc::no_matching_rule, "other user's rule");
  expect(authz.can_publish(app("ops", "o"), "ops/x"), std::nullopt, "ops");
  expect(authz.can_publish(svc, "clients/+/x"), authz_errc::topic_invalid, "wildcard publish");
  expect(authz.can_subscribe(svc, "clients/#/x"), authz_errc::filter_invalid, "bad filter");
  expect(authz.can_publish(device_identity("d1"), "clients/x/y"), authz_errc::wrong_identity_kind,
         "device");
}

TEST(TopicAcl, SubstitutedValuesCannotCarryWildcardsOrLevels) {
  topic_acl_authorizer authz({{"", acl_access::both, "clients/%c/#"}});
  for (const std::string& cid : {std::string("+"), std::string("#"), std::string("a/b"),
                                 std::string("..//x"), std::string("a\0b", 3), std::string()}) {
    const auto who = app("svc", cid);
    expect(authz.can_subscribe(who, "clients/#"), authz_errc::unsafe_substitution, cid);
    expect(authz.can_publish(who, "clients/a/b"), authz_errc::unsafe_substitution, cid);
  }
}

TEST(TopicAcl, RefusesInvalidPatternsAtStartUp) {
  EXPECT_THROW(topic_acl_authorizer({{"", acl_access::both, "a/#/b"}}), std::invalid_argument);
  EXPECT_THROW(topic_acl_authorizer({{"", acl_access::both, ""}}), std::invalid_argument);
}

TEST(AuthzErrc, WireCodes) {
  EXPECT_EQ(reason_code_v5(authz_errc::other_device), 0x87);
  EXPECT_EQ(reason_code_v5(authz_errc::topic_invalid), 0x90);
  EXPECT_EQ(reason_code_v5(authz_errc::filter_invalid), 0x8F);
  for (int v = 1; v <= static_cast<int>(authz_errc::unsafe_substitution); ++v) {
    EXPECT_NE(describe(static_cast<authz_errc>(v)), "unknown authz error") << v;
  }
}

} // namespace
} // namespace aegis::auth
