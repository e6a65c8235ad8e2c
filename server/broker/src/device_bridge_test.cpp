// The IoT Core device profile (device_bridge around broker_core), driven with identities from
// the real JWT authenticator over a memory registry. Storage work (run_blocking) and posts back
// to the core thread are queued and drained by the test, as the runtime's threads would.

#include "device_bridge.hpp"

#include "broker_core_test_support.hpp"

#include "aegis/auth/authenticator.hpp"
#include "aegis/auth/jwt_authenticator.hpp"
#include "aegis/broker/errors.hpp"
#include "aegis/crypto/jwt.hpp"
#include "aegis/crypto/keys.hpp"
#include "aegis/registry/memory_repository.hpp"
#include "aegis/registry/service.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace aegis::broker {
namespace {

using namespace std::chrono_literals;
using namespace aegis::broker::testing;

template <class T>
T must(result<T> r) {
  if (!r) {
    throw std::runtime_error("fixture: " + r.error().message());
  }
  return std::move(r).value();
}
void must(result<void> r) {
  if (!r) {
    throw std::runtime_error("fixture: " + r.error().message());
  }
}

const crypto::private_key& key(int which) {
  static const crypto::private_key k0 =
      must(crypto::private_key::generate(crypto::key_type::ec_p256));
  static const crypto::private_key k1 =
      must(crypto::private_key::generate(crypto::key_type::ec_p256));
  return which == 0 ? k0 : k1;
}

const std::string project = "acme-iot";
const std::string location = "us-central1";

registry::registry_key registry_key_of(std::string_view reg) {
  return {registry::project_id(project), registry::location_id(location),
          registry::registry_id(std::string(reg))};
}
registry::device_key device_key_of(std::string_view reg, std::string_view dev) {
  return {registry_key_of(reg), registry::device_id(std::string(dev))};
}
std::string internal(std::string_view reg, std::string_view rest) {
  return registry::to_name(registry_key_of(reg)) + std::string(rest);
}

std::optional<std::string> property(const mqtt::publish& p, std::string_view name) {
  for (const auto& u : p.properties.user_properties) {
    if (u.name == name) {
      return u.value;
    }
  }
  return std::nullopt;
}

class DeviceBridge : public ::testing::Test {
protected:
  DeviceBridge() : service_(repo_, clock_), jwt_(service_, clock_) {
    must(service_.create_project(registry::project_id(project)));
    for (const char* name : {"fleet-a", "fleet-b"}) {
      registry::registry_spec spec;
      spec.key = registry_key_of(name);
      must(service_.create_registry(spec));
    }
    make({});
  }

  void make(device_profile_options o, const auth::authorizer* apps = nullptr) {
    o.registry = &service_;
    o.run_blocking = [this](std::function<void()> fn) {
      if (storage_full_) {
        return false;
      }
      storage_.push_back(std::move(fn));
      return true;
    };
    bridge_ = std::make_unique<device_bridge>(
        broker_limits{}, std::move(o), apps, clock_,
        [this](actions as) {
          for (auto& a : as) {
            out_.push_back(std::move(a));
          }
        },
        [this](std::function<void()> fn) {
          core_.push_back(std::move(fn));
          return true;
        });
  }

  registry::device add_device(std::string_view reg, std::string_view dev, int k = 0,
                              registry::gateway_type type = registry::gateway_type::non_gateway) {
    registry::device_spec spec;
    spec.key = device_key_of(reg, dev);
    spec.credentials.push_back(
        {registry::credential_format::es256_pem, must(key(k).public_part().to_pem()), {}});
    spec.gateway.type = type;
    if (type == registry::gateway_type::gateway) {
      spec.gateway.auth_method = registry::gateway_auth_method::association_only;
    }
    return must(service_.create_device(spec));
  }

  std::string token(int k, std::chrono::seconds lifetime = 1h) const {
    crypto::jwt_mint_options o;
    o.audience = project;
    o.issued_at = clock_.wall_now();
    o.lifetime = lifetime;
    return must(crypto::jwt_mint(key(k), o));
  }

  auth::auth_decision authenticate(std::string_view reg, std::string_view dev, int k,
                                   std::chrono::seconds lifetime = 1h) {
    auth::connect_request r;
    r.client_id = registry::to_name(device_key_of(reg, dev));
    r.username = "unused";
    r.password = to_bytes(token(k, lifetime));
    return jwt_.authenticate(r);
  }

  // Authenticates with the device's own key and opens its session on `conn`.
  auth::identity connect_device(connection_id conn, std::string_view reg, std::string_view dev,
                                int k = 0, protocol_version v = protocol_version::v5,
                                std::chrono::seconds lifetime = 1h) {
    auto d = authenticate(reg, dev, k, lifetime);
    EXPECT_TRUE(d.allowed()) << d.reason.message();
    const auth::identity who = *d.who;
    open(conn, who, v);
    return who;
  }

  void open(connection_id conn, const auth::identity& who,
            protocol_version v = protocol_version::v5) {
    std::optional<steady_time> expires;
    if (auto deadline = who.close_deadline()) {
      expires = clock_.steady_now() +
                std::chrono::duration_cast<steady_time::duration>(*deadline - clock_.wall_now());
    }
    bridge_->on_connect(conn, connect_packet(who.client_id, v), who, expires);
    auto as = take();
    ASSERT_EQ(sent<mqtt::connack>(as, conn).size(), 1U);
    ASSERT_EQ(sent<mqtt::connack>(as, conn).at(0).reason, reason_code::success);
  }

  void connect_app(connection_id conn, std::string name,
                   protocol_version v = protocol_version::v5) {
    auth::identity who;
    who.kind = auth::identity_kind::application;
    who.method = auth::auth_method::password;
    who.account = name;
    who.client_id = std::move(name);
    open(conn, who, v);
  }

  void drain() {
    while (!storage_.empty() || !core_.empty()) {
      while (!storage_.empty()) {
        auto fn = std::move(storage_.front());
        storage_.pop_front();
        fn();
      }
      while (!core_.empty()) {
        auto fn = std::move(core_.front());
        core_.pop_front();
        fn();
      }
    }
  }

  actions take() {
    drain();
    return std::exchange(out_, {});
  }

  actions packet(connection_id conn, mqtt::packet p) {
    bridge_->on_packet(conn, std::move(p));
    return take();
  }

  actions subscribe(connection_id conn, std::uint16_t id, std::vector<std::string> filters,
                    qos q = qos::at_least_once) {
    mqtt::subscribe s;
    s.packet_id = id;
    for (auto& f : filters) {
      mqtt::subscription_options o;
      o.max_qos = q;
      s.subscriptions.push_back({std::move(f), o});
    }
    return packet(conn, std::move(s));
  }

  std::error_code command(std::string_view reg, std::string_view dev, std::string sub,
                          std::string payload) {
    std::optional<std::error_code> result;
    bridge_->send_command(device_key_of(reg, dev), sub, to_bytes(payload),
                          [&](std::error_code e) { result = e; });
    EXPECT_TRUE(result.has_value());
    return result.value_or(std::error_code{});
  }

  manual_clock clock_;
  registry::memory_repository repo_;
  registry::registry_service service_;
  auth::jwt_authenticator jwt_;
  std::deque<std::function<void()>> storage_;
  std::deque<std::function<void()>> core_;
  bool storage_full_ = false;
  actions out_;
  std::unique_ptr<device_bridge> bridge_;
};

// --- isolation -------------------------------------------------------------------------------

TEST_F(DeviceBridge, TokenOfDeviceAWithClientIdOfDeviceBIsRefused) {
  add_device("fleet-a", "dev-a", 0);
  add_device("fleet-a", "dev-b", 1);
  const auto d = authenticate("fleet-a", "dev-b", 0);
  EXPECT_FALSE(d.allowed());
  EXPECT_TRUE(authenticate("fleet-a", "dev-b", 1).allowed());
}

TEST_F(DeviceBridge, SubscriptionsOutsideTheDevicesOwnTopicsAreRefused) {
  add_device("fleet-a", "dev-a");
  add_device("fleet-a", "dev-b");
  connect_device(1, "fleet-a", "dev-a");
  connect_device(2, "fleet-a", "dev-b");
  auto as = subscribe(1, 1,
                      {"#", "/devices/+/config", "$SYS/#", "/devices/dev-b/commands/#",
                       "/devices/dev-b/config", internal("fleet-a", "/devices/dev-a/config"),
                       "$share/g/devices/dev-a/commands/#", "/devices/dev-a/events",
                       "/devices/dev-a/commands/#"});
  const auto acks = sent<mqtt::suback>(as, 1);
  ASSERT_EQ(acks.size(), 1U);
  std::vector<reason_code> expected(8, reason_code::not_authorized);
  expected.push_back(reason_code::granted_qos_1);
  EXPECT_EQ(acks.at(0).reasons, expected);
  EXPECT_FALSE(closed(as, 1));
  EXPECT_EQ(bridge_->stats().subscribe_denied, 8U);
  // Nothing of B's reaches A: a command to B goes to B alone.
  subscribe(2, 1, {"/devices/dev-b/commands/#"});
  EXPECT_FALSE(command("fleet-a", "dev-b", "", "x"));
  as = take();
  EXPECT_EQ(sends_to(as, 1), 0U);
  ASSERT_EQ(sent<mqtt::publish>(as, 2).size(), 1U);
  EXPECT_EQ(sent<mqtt::publish>(as, 2).at(0).topic, "/devices/dev-b/commands");
}

TEST_F(DeviceBridge, RefusedFiltersAre0x80InMqtt311AndQos2IsGrantedQos1) {
  add_device("fleet-a", "dev-a");
  connect_device(1, "fleet-a", "dev-a", 0, protocol_version::v3_1_1);
  const auto as = subscribe(1, 1, {"#", "/devices/dev-a/commands/#"}, qos::exactly_once);
  const auto acks = sent<mqtt::suback>(as, 1);
  ASSERT_EQ(acks.size(), 1U);
  EXPECT_EQ(acks.at(0).reasons,
            (std::vector<reason_code>{reason_code::unspecified_error, reason_code::granted_qos_1}));
  EXPECT_EQ(bridge_->stats().qos2_subscribe_downgraded, 2U);
}

TEST_F(DeviceBridge, PublishToAnotherDevicesEventsClosesAndNothingLeaks) {
  add_device("fleet-a", "dev-a");
  add_device("fleet-a", "dev-b");
  connect_device(2, "fleet-a", "dev-b");
  connect_app(3, "app");
  subscribe(2, 1, {"/devices/dev-b/commands/#", "/devices/dev-b/config"});
  subscribe(3, 1, {"#"});
  connection_id conn = 10;
  for (const char* topic :
       {"/devices/dev-b/events", "/devices/dev-b/state", "/devices/dev-a/config",
        "devices/dev-a/events", "/devices/dev-a/commands", "/devices/dev-a/events/../x", "$SYS/x",
        "projects/acme-iot/locations/us-central1/registries/fleet-a/devices/dev-b/events"}) {
    SCOPED_TRACE(topic);
    ++conn;
    connect_device(conn, "fleet-a", "dev-a");
    const auto as = packet(conn, publish_packet(topic, "evil", qos::at_least_once, 5));
    ASSERT_EQ(sent<mqtt::disconnect>(as, conn).size(), 1U);
    EXPECT_EQ(sent<mqtt::disconnect>(as, conn).at(0).reason, reason_code::not_authorized);
    EXPECT_EQ(closed(as, conn), reason_code::not_authorized);
    EXPECT_EQ(sends_to(as, 2), 0U);
    EXPECT_EQ(sends_to(as, 3), 0U);
  }
  EXPECT_EQ(bridge_->stats().publish_denied, 8U);
}

TEST_F(DeviceBridge, SameDeviceIdInTwoRegistriesNeverCrosses) {
  add_device("fleet-a", "dev-1");
  add_device("fleet-b", "dev-1");
  connect_device(1, "fleet-a", "dev-1");
  connect_device(2, "fleet-b", "dev-1");
  connect_app(3, "app");
  subscribe(1, 1, {"/devices/dev-1/commands/#", "/devices/dev-1/config"});
  subscribe(3, 1, {internal("fleet-a", "/devices/+/events/#")});
  auto as = packet(2, publish_packet("/devices/dev-1/events", "b", qos::at_least_once, 7));
  EXPECT_EQ(sends_to(as, 1), 0U);
  EXPECT_EQ(sends_to(as, 3), 0U);
  // fleet-b's dev-1 is connected but not subscribed; fleet-a's is, and must not receive it.
  EXPECT_EQ(command("fleet-b", "dev-1", "", "x"), broker_errc::device_not_subscribed);
  as = take();
  EXPECT_EQ(sends_to(as, 1), 0U);
  bridge_->publish_config(
      device_key_of("fleet-b", "dev-1"),
      must(service_.modify_config(device_key_of("fleet-b", "dev-1"), to_bytes("for-b"))));
  as = take();
  EXPECT_EQ(sends_to(as, 1), 0U);
  EXPECT_EQ(sends_to(as, 2), 0U);
  as = packet(1, publish_packet("/devices/dev-1/events", "a", qos::at_least_once, 8));
  ASSERT_EQ(sent<mqtt::publish>(as, 3).size(), 1U);
  EXPECT_EQ(property(sent<mqtt::publish>(as, 3).at(0), "deviceRegistryId"), "fleet-a");
}

// --- telemetry to applications -----------------------------------------------------------------

TEST_F(DeviceBridge, ApplicationReceivesTelemetryWithIotCoreAttributes) {
  const auto dev = add_device("fleet-a", "sensor-001");
  connect_device(1, "fleet-a", "sensor-001");
  connect_app(2, "app");
  subscribe(2, 1, {internal("fleet-a", "/devices/+/events/#")});
  auto p = publish_packet("/devices/sensor-001/events/temperature", "21.5", qos::at_least_once, 9);
  p.properties.user_properties.push_back({"deviceId", "spoofed"});
  const auto as = packet(1, std::move(p));
  ASSERT_EQ(sent<mqtt::puback>(as, 1).size(), 1U);
  EXPECT_EQ(sent<mqtt::puback>(as, 1).at(0).reason, reason_code::success);
  const auto got = sent<mqtt::publish>(as, 2);
  ASSERT_EQ(got.size(), 1U);
  EXPECT_EQ(got.at(0).topic, internal("fleet-a", "/devices/sensor-001/events/temperature"));
  EXPECT_EQ(payload_of(got.at(0)), "21.5");
  const std::vector<mqtt::user_property> expected{
      {"deviceId", "sensor-001"},      {"deviceNumId", std::to_string(dev.num_id.value())},
      {"deviceRegistryId", "fleet-a"}, {"deviceRegistryLocation", location},
      {"projectId", project},          {"subFolder", "temperature"}};
  EXPECT_EQ(got.at(0).properties.user_properties, expected);
  EXPECT_EQ(bridge_->stats().events, 1U);
}

TEST_F(DeviceBridge, SharedSubscriptionLoadBalancesTelemetry) {
  add_device("fleet-a", "dev-a");
  connect_device(1, "fleet-a", "dev-a");
  connect_app(2, "worker-1");
  connect_app(3, "worker-2");
  const std::string filter = "$share/workers/" + internal("fleet-a", "/devices/+/events/#");
  subscribe(2, 1, {filter});
  subscribe(3, 1, {filter});
  std::size_t to2 = 0;
  std::size_t to3 = 0;
  for (std::uint16_t i = 1; i <= 4; ++i) {
    const auto as = packet(1, publish_packet("/devices/dev-a/events", "m", qos::at_least_once, i));
    to2 += sent<mqtt::publish>(as, 2).size();
    to3 += sent<mqtt::publish>(as, 3).size();
  }
  EXPECT_EQ(to2, 2U);
  EXPECT_EQ(to3, 2U);
}

TEST_F(DeviceBridge, ApplicationAuthorizerGovernsAccounts) {
  const auth::topic_acl_authorizer acl(
      {{"app", auth::acl_access::subscribe, internal("fleet-a", "/devices/+/events/#")}});
  make({}, &acl);
  connect_app(2, "app");
  const auto as = subscribe(2, 1, {internal("fleet-a", "/devices/+/events/#"), "#"});
  EXPECT_EQ(sent<mqtt::suback>(as, 2).at(0).reasons,
            (std::vector<reason_code>{reason_code::granted_qos_1, reason_code::not_authorized}));
}

// --- config --------------------------------------------------------------------------------------

TEST_F(DeviceBridge, ConfigIsDeliveredOnSubscribeAndItsAckRecorded) {
  add_device("fleet-a", "dev-a");
  const auto key = device_key_of("fleet-a", "dev-a");
  must(service_.modify_config(key, to_bytes("v2")));
  connect_device(1, "fleet-a", "dev-a");
  auto as = subscribe(1, 1, {"/devices/dev-a/config"}, qos::exactly_once);
  EXPECT_EQ(sent<mqtt::suback>(as, 1).at(0).reasons,
            (std::vector<reason_code>{reason_code::granted_qos_1}));
  auto pubs = sent<mqtt::publish>(as, 1);
  ASSERT_EQ(pubs.size(), 1U);
  EXPECT_EQ(pubs.at(0).topic, "/devices/dev-a/config");
  EXPECT_EQ(payload_of(pubs.at(0)), "v2");
  EXPECT_EQ(pubs.at(0).qos, qos::at_least_once);
  EXPECT_TRUE(pubs.at(0).properties.user_properties.empty());
  EXPECT_FALSE(must(service_.get_config(key)).device_ack_time);

  mqtt::puback ack;
  ack.packet_id = pubs.at(0).packet_id;
  packet(1, ack);
  EXPECT_TRUE(must(service_.get_config(key)).device_ack_time);
  EXPECT_TRUE(must(service_.get_device(key)).activity.last_config_ack_time);
  EXPECT_EQ(bridge_->stats().configs_acknowledged, 1U);
  clock_.advance(2s);
  bridge_->on_tick();
  take();
  EXPECT_TRUE(must(service_.get_device(key)).activity.last_config_send_time);
}

TEST_F(DeviceBridge, NewerConfigReplacesAnOlderOneAndOlderIsIgnored) {
  add_device("fleet-a", "dev-a");
  const auto key = device_key_of("fleet-a", "dev-a");
  connect_device(1, "fleet-a", "dev-a");
  auto as = subscribe(1, 1, {"/devices/dev-a/config"});
  ASSERT_EQ(sent<mqtt::publish>(as, 1).size(), 1U); // version 1, empty
  EXPECT_TRUE(sent<mqtt::publish>(as, 1).at(0).payload.empty());
  const auto v2 = must(service_.modify_config(key, to_bytes("v2")));
  const auto v3 = must(service_.modify_config(key, to_bytes("v3")));
  bridge_->publish_config(key, v3);
  as = take();
  ASSERT_EQ(sent<mqtt::publish>(as, 1).size(), 1U);
  EXPECT_EQ(payload_of(sent<mqtt::publish>(as, 1).at(0)), "v3");
  bridge_->publish_config(key, v2); // late, older: never goes out
  bridge_->publish_config(key, v3); // already sent
  EXPECT_EQ(sends_to(take(), 1), 0U);
  mqtt::puback ack;
  ack.packet_id = sent<mqtt::publish>(as, 1).at(0).packet_id;
  packet(1, ack);
  EXPECT_TRUE(must(service_.list_config_versions(key, 1)).at(0).device_ack_time);
}

// --- commands ------------------------------------------------------------------------------------

TEST_F(DeviceBridge, CommandsNeedAConnectedSubscribedDevice) {
  add_device("fleet-a", "dev-a");
  EXPECT_EQ(command("fleet-a", "dev-a", "", "x"), broker_errc::device_not_connected);
  connect_device(1, "fleet-a", "dev-a");
  EXPECT_EQ(command("fleet-a", "dev-a", "", "x"), broker_errc::device_not_subscribed);
  subscribe(1, 1, {"/devices/dev-a/commands/reboot"});
  EXPECT_EQ(command("fleet-a", "dev-a", "other", "x"), broker_errc::device_not_subscribed);
  EXPECT_EQ(take().size(), 0U); // nothing queued
  subscribe(1, 2, {"/devices/dev-a/commands/#"});
  EXPECT_FALSE(command("fleet-a", "dev-a", "reboot/now", "go"));
  const auto pubs = sent<mqtt::publish>(take(), 1);
  ASSERT_EQ(pubs.size(), 1U);
  EXPECT_EQ(pubs.at(0).topic, "/devices/dev-a/commands/reboot/now");
  EXPECT_EQ(payload_of(pubs.at(0)), "go");
  EXPECT_EQ(command("fleet-a", "dev-a", "a/#", "x"), auth::authz_errc::topic_invalid);
  EXPECT_EQ(bridge_->stats().commands_sent, 1U);
  EXPECT_EQ(bridge_->stats().commands_refused, 4U);
}

// --- state, limits -------------------------------------------------------------------------------

TEST_F(DeviceBridge, StateIsStoredRoutedAndRateLimited) {
  add_device("fleet-a", "dev-a");
  const auto key = device_key_of("fleet-a", "dev-a");
  connect_device(1, "fleet-a", "dev-a");
  connect_app(2, "app");
  subscribe(2, 1, {internal("fleet-a", "/devices/+/state")});
  auto as = packet(1, publish_packet("/devices/dev-a/state", "s1", qos::at_least_once, 1));
  EXPECT_EQ(sent<mqtt::puback>(as, 1).at(0).reason, reason_code::success);
  ASSERT_EQ(sent<mqtt::publish>(as, 2).size(), 1U);
  EXPECT_EQ(payload_of(sent<mqtt::publish>(as, 2).at(0)), "s1");
  as = packet(1, publish_packet("/devices/dev-a/state", "s2", qos::at_least_once, 2));
  EXPECT_EQ(sent<mqtt::puback>(as, 1).at(0).reason, reason_code::quota_exceeded);
  EXPECT_EQ(sends_to(as, 2), 0U);
  EXPECT_FALSE(closed(as, 1));
  clock_.advance(1s);
  as = packet(1, publish_packet("/devices/dev-a/state", "s3", qos::at_least_once, 3));
  EXPECT_EQ(sent<mqtt::puback>(as, 1).at(0).reason, reason_code::success);
  const auto states = must(service_.list_states(key));
  ASSERT_EQ(states.size(), 2U);
  EXPECT_EQ(as_string_view(states.at(0).data), "s3");
  EXPECT_EQ(bridge_->stats().state_rate_limited, 1U);
  EXPECT_EQ(bridge_->stats().states_stored, 2U);
}

TEST_F(DeviceBridge, OversizePayloadsAreRefused) {
  add_device("fleet-a", "dev-a");
  connect_device(1, "fleet-a", "dev-a");
  connect_app(2, "app");
  subscribe(2, 1, {"#"});
  auto as = packet(1, publish_packet("/devices/dev-a/events", std::string(256 * 1024 + 1, 'x'),
                                     qos::at_least_once, 1));
  EXPECT_EQ(sent<mqtt::puback>(as, 1).at(0).reason, reason_code::quota_exceeded);
  EXPECT_EQ(sends_to(as, 2), 0U);
  as = packet(1, publish_packet("/devices/dev-a/state", std::string(64 * 1024 + 1, 'x'),
                                qos::at_least_once, 2));
  EXPECT_EQ(sent<mqtt::puback>(as, 1).at(0).reason, reason_code::quota_exceeded);
  EXPECT_EQ(sends_to(as, 2), 0U);
  EXPECT_EQ(bridge_->stats().oversize_refused, 2U);
  as = packet(1, publish_packet("/devices/dev-a/events", std::string(256 * 1024, 'x'),
                                qos::at_least_once, 3));
  EXPECT_EQ(sent<mqtt::puback>(as, 1).at(0).reason, reason_code::success);
}

TEST_F(DeviceBridge, PublishRateLimitRefusesTheExcess) {
  device_profile_options o;
  o.device_publish_rate = {1, 2};
  make(o);
  add_device("fleet-a", "dev-a");
  connect_device(1, "fleet-a", "dev-a");
  std::vector<reason_code> reasons;
  for (std::uint16_t i = 1; i <= 3; ++i) {
    const auto as = packet(1, publish_packet("/devices/dev-a/events", "m", qos::at_least_once, i));
    reasons.push_back(sent<mqtt::puback>(as, 1).at(0).reason);
  }
  EXPECT_EQ(reasons, (std::vector<reason_code>{reason_code::no_matching_subscribers,
                                               reason_code::no_matching_subscribers,
                                               reason_code::quota_exceeded}));
  EXPECT_EQ(bridge_->stats().rate_limited, 1U);
}

TEST_F(DeviceBridge, TopicAliasesAreResolvedBeforeTheProfileDecides) {
  add_device("fleet-a", "dev-a");
  connect_device(1, "fleet-a", "dev-a");
  connect_app(2, "app");
  subscribe(2, 1, {internal("fleet-a", "/devices/+/events/#")});
  auto p = publish_packet("/devices/dev-a/events/a", "1", qos::at_least_once, 1);
  p.properties.topic_alias = 3;
  auto as = packet(1, p);
  ASSERT_EQ(sent<mqtt::publish>(as, 2).size(), 1U);
  p = publish_packet("", "2", qos::at_least_once, 2);
  p.properties.topic_alias = 3;
  as = packet(1, p);
  ASSERT_EQ(sent<mqtt::publish>(as, 2).size(), 1U);
  EXPECT_EQ(sent<mqtt::publish>(as, 2).at(0).topic, internal("fleet-a", "/devices/dev-a/events/a"));
  p = publish_packet("", "3", qos::at_least_once, 3);
  p.properties.topic_alias = 4; // never set
  as = packet(1, p);
  EXPECT_EQ(closed(as, 1), reason_code::protocol_error);
  EXPECT_EQ(sends_to(as, 2), 0U);
}

TEST_F(DeviceBridge, Qos2PublishClosesTheConnection) {
  add_device("fleet-a", "dev-a");
  connect_device(1, "fleet-a", "dev-a");
  const auto as = packet(1, publish_packet("/devices/dev-a/events", "m", qos::exactly_once, 1));
  ASSERT_EQ(sent<mqtt::disconnect>(as, 1).size(), 1U);
  EXPECT_EQ(sent<mqtt::disconnect>(as, 1).at(0).reason, reason_code::qos_not_supported);
  EXPECT_EQ(closed(as, 1), reason_code::qos_not_supported);
  EXPECT_EQ(bridge_->stats().qos2_publish_closed, 1U);
}

TEST_F(DeviceBridge, Mqtt311RefusedPublishClosesWithoutDisconnect) {
  add_device("fleet-a", "dev-a");
  connect_device(1, "fleet-a", "dev-a", 0, protocol_version::v3_1_1);
  const auto as = packet(1, publish_packet("/devices/x/events", "m", qos::at_least_once, 1));
  EXPECT_TRUE(sent<mqtt::disconnect>(as, 1).empty());
  EXPECT_EQ(closed(as, 1), reason_code::not_authorized);
}

// --- session lifetime ----------------------------------------------------------------------------

TEST_F(DeviceBridge, SessionClosesAtTokenExpiryPlusSkewWithMaximumConnectTime) {
  add_device("fleet-a", "dev-a");
  connect_device(1, "fleet-a", "dev-a", 0, protocol_version::v5, 60s);
  clock_.advance(60s + 600s - 1s);
  bridge_->on_tick();
  EXPECT_FALSE(closed(take(), 1));
  clock_.advance(1s);
  bridge_->on_tick();
  const auto as = take();
  ASSERT_EQ(sent<mqtt::disconnect>(as, 1).size(), 1U);
  EXPECT_EQ(sent<mqtt::disconnect>(as, 1).at(0).reason, reason_code::maximum_connect_time);
  EXPECT_EQ(closed(as, 1), reason_code::maximum_connect_time);
}

TEST_F(DeviceBridge, OneConnectionPerDevice) {
  add_device("fleet-a", "dev-a");
  const auto who = connect_device(1, "fleet-a", "dev-a");
  bridge_->on_connect(2, connect_packet(who.client_id), who, std::nullopt);
  const auto as = take();
  EXPECT_EQ(closed(as, 1), reason_code::session_taken_over);
  // The new connection is the device's: commands reach it.
  subscribe(2, 1, {"/devices/dev-a/commands/#"});
  EXPECT_FALSE(command("fleet-a", "dev-a", "", "x"));
  EXPECT_EQ(sent<mqtt::publish>(take(), 2).size(), 1U);
}

TEST_F(DeviceBridge, RevalidateClosesABlockedDeviceWithinTheCall) {
  add_device("fleet-a", "dev-a");
  add_device("fleet-a", "dev-b");
  const auto key = device_key_of("fleet-a", "dev-a");
  connect_device(1, "fleet-a", "dev-a");
  connect_device(2, "fleet-a", "dev-b");
  bool done = false;
  bridge_->revalidate_device(key, [&] { done = true; });
  auto as = take();
  EXPECT_TRUE(done);
  EXPECT_FALSE(closed(as, 1));

  registry::device_update u;
  u.blocked = true;
  must(service_.update_device(key, u));
  done = false;
  bridge_->revalidate_device(key, [&] {
    done = true;
    EXPECT_EQ(closed(out_, 1), reason_code::not_authorized); // closed before done runs
  });
  as = take();
  EXPECT_TRUE(done);
  EXPECT_EQ(sent<mqtt::disconnect>(as, 1).at(0).reason, reason_code::not_authorized);
  EXPECT_FALSE(closed(as, 2));
  EXPECT_EQ(bridge_->stats().sessions_revoked, 1U);
}

TEST_F(DeviceBridge, RevalidateClosesWhenTheCredentialUsedWasRemovedOrTheDeviceDeleted) {
  add_device("fleet-a", "dev-a");
  add_device("fleet-a", "dev-b");
  connect_device(1, "fleet-a", "dev-a");
  connect_device(2, "fleet-a", "dev-b");
  registry::device_update u;
  u.credentials = std::vector<registry::credential>{
      {registry::credential_format::es256_pem, must(key(1).public_part().to_pem()), {}}};
  must(service_.update_device(device_key_of("fleet-a", "dev-a"), u));
  bridge_->revalidate_device(device_key_of("fleet-a", "dev-a"), nullptr);
  EXPECT_EQ(closed(take(), 1), reason_code::not_authorized);

  must(service_.delete_device(device_key_of("fleet-a", "dev-b")));
  bridge_->revalidate_device(device_key_of("fleet-a", "dev-b"), nullptr);
  EXPECT_EQ(closed(take(), 2), reason_code::not_authorized);
}

TEST_F(DeviceBridge, RevokedCertificateClosesItsSessions) {
  add_device("fleet-a", "dev-a");
  auto who = *authenticate("fleet-a", "dev-a", 0).who;
  who.method = auth::auth_method::x509;
  who.certificate_serial = "0A1B2C";
  open(1, who);
  bridge_->revoke_certificate("0a:1b:2c");
  EXPECT_EQ(closed(take(), 1), reason_code::not_authorized);
}

// --- activity ------------------------------------------------------------------------------------

TEST_F(DeviceBridge, ActivityIsBatchedOffTheCoreThread) {
  add_device("fleet-a", "dev-a");
  const auto key = device_key_of("fleet-a", "dev-a");
  connect_device(1, "fleet-a", "dev-a");
  bridge_->on_packet(1, mqtt::pingreq{});
  bridge_->on_packet(1, publish_packet("/devices/dev-a/events", "m"));
  bridge_->on_packet(1, publish_packet("/devices/dev-a/events", "m"));
  bridge_->on_tick();
  EXPECT_TRUE(storage_.empty()); // not a second yet
  clock_.advance(1s);
  bridge_->on_tick();
  EXPECT_EQ(storage_.size(), 1U); // one job for everything
  take();
  const auto d = must(service_.get_device(key));
  EXPECT_TRUE(d.activity.last_heartbeat_time);
  EXPECT_TRUE(d.activity.last_event_time);
}

TEST_F(DeviceBridge, FullStorageIsCounted) {
  add_device("fleet-a", "dev-a");
  connect_device(1, "fleet-a", "dev-a");
  storage_full_ = true;
  packet(1, publish_packet("/devices/dev-a/state", "s", qos::at_least_once, 1));
  EXPECT_EQ(bridge_->stats().storage_busy, 1U);
}

// --- gateways ------------------------------------------------------------------------------------

TEST_F(DeviceBridge, GatewayActsForAttachedDevicesOnly) {
  add_device("fleet-a", "gw-7", 0, registry::gateway_type::gateway);
  add_device("fleet-a", "leaf-3", 1);
  add_device("fleet-a", "ghost-9", 1);
  must(service_.bind_device_to_gateway(registry_key_of("fleet-a"), registry::device_id("gw-7"),
                                       registry::device_id("leaf-3")));
  connect_device(1, "fleet-a", "gw-7");
  connect_app(2, "app");
  subscribe(2, 1, {internal("fleet-a", "/devices/+/events/#")});
  subscribe(1, 1, {"/devices/gw-7/errors"}, qos::at_most_once);
  // Not attached yet: acting for leaf-3 closes.
  auto before = subscribe(1, 2, {"/devices/leaf-3/commands/#"});
  EXPECT_EQ(sent<mqtt::suback>(before, 1).at(0).reasons,
            (std::vector<reason_code>{reason_code::not_authorized}));

  auto as = packet(1, publish_packet("/devices/leaf-3/attach", R"({"authorization" : ""})",
                                     qos::at_least_once, 10));
  EXPECT_EQ(sent<mqtt::puback>(as, 1).at(0).reason, reason_code::success);
  as = subscribe(1, 3, {"/devices/leaf-3/commands/#"});
  EXPECT_EQ(sent<mqtt::suback>(as, 1).at(0).reasons,
            (std::vector<reason_code>{reason_code::granted_qos_1}));
  EXPECT_FALSE(command("fleet-a", "leaf-3", "", "c"));
  as = take();
  ASSERT_EQ(sent<mqtt::publish>(as, 1).size(), 1U);
  EXPECT_EQ(sent<mqtt::publish>(as, 1).at(0).topic, "/devices/leaf-3/commands");
  as = packet(1, publish_packet("/devices/leaf-3/events", "t", qos::at_least_once, 11));
  ASSERT_EQ(sent<mqtt::publish>(as, 2).size(), 1U);
  EXPECT_EQ(property(sent<mqtt::publish>(as, 2).at(0), "deviceId"), "leaf-3");

  // An unbound device: refused, reported on the gateway's errors topic.
  as = packet(1, publish_packet("/devices/ghost-9/attach", "{}", qos::at_least_once, 12));
  EXPECT_EQ(sent<mqtt::puback>(as, 1).at(0).reason, reason_code::not_authorized);
  const auto errors = sent<mqtt::publish>(as, 1);
  ASSERT_EQ(errors.size(), 1U);
  EXPECT_EQ(errors.at(0).topic, "/devices/gw-7/errors");
  EXPECT_NE(payload_of(errors.at(0)).find("GATEWAY_ATTACHMENT_ERROR"), std::string::npos);
  EXPECT_NE(payload_of(errors.at(0)).find("ghost-9"), std::string::npos);
  as = packet(1, publish_packet("/devices/ghost-9/events", "t", qos::at_least_once, 13));
  EXPECT_EQ(closed(as, 1), reason_code::not_authorized);
  EXPECT_EQ(sends_to(as, 2), 0U);
}

TEST_F(DeviceBridge, DetachAndBlockingTheLeafEndTheGatewaysActingForIt) {
  add_device("fleet-a", "gw-7", 0, registry::gateway_type::gateway);
  add_device("fleet-a", "leaf-3", 1);
  must(service_.bind_device_to_gateway(registry_key_of("fleet-a"), registry::device_id("gw-7"),
                                       registry::device_id("leaf-3")));
  connect_device(1, "fleet-a", "gw-7");
  const auto attach = [&](std::uint16_t id) {
    const auto as =
        packet(1, publish_packet("/devices/leaf-3/attach", "{}", qos::at_least_once, id));
    EXPECT_EQ(sent<mqtt::puback>(as, 1).at(0).reason, reason_code::success);
    subscribe(1, id, {"/devices/leaf-3/commands/#", "/devices/leaf-3/config"});
    EXPECT_FALSE(command("fleet-a", "leaf-3", "", "c"));
    EXPECT_EQ(sent<mqtt::publish>(take(), 1).size(), 1U);
  };
  attach(1);
  auto as = packet(1, publish_packet("/devices/leaf-3/detach", "{}", qos::at_least_once, 2));
  EXPECT_EQ(sent<mqtt::puback>(as, 1).size(), 1U);
  EXPECT_TRUE(sent<mqtt::unsuback>(as, 1).empty());
  EXPECT_EQ(command("fleet-a", "leaf-3", "", "c"), broker_errc::device_not_connected);
  EXPECT_EQ(sends_to(take(), 1), 0U);

  attach(3);
  must(service_.unbind_device_from_gateway(registry_key_of("fleet-a"), registry::device_id("gw-7"),
                                           registry::device_id("leaf-3")));
  bridge_->revalidate_device(device_key_of("fleet-a", "leaf-3"), nullptr);
  as = take();
  EXPECT_FALSE(closed(as, 1));
  EXPECT_EQ(command("fleet-a", "leaf-3", "", "c"), broker_errc::device_not_connected);
  must(service_.bind_device_to_gateway(registry_key_of("fleet-a"), registry::device_id("gw-7"),
                                       registry::device_id("leaf-3")));

  attach(4);
  registry::device_update u;
  u.blocked = true;
  must(service_.update_device(device_key_of("fleet-a", "leaf-3"), u));
  bridge_->revalidate_device(device_key_of("fleet-a", "leaf-3"), nullptr);
  as = take();
  EXPECT_FALSE(closed(as, 1)); // the gateway stays
  EXPECT_EQ(command("fleet-a", "leaf-3", "", "c"), broker_errc::device_not_connected);
  as = packet(1, publish_packet("/devices/leaf-3/events", "t", qos::at_least_once, 9));
  EXPECT_EQ(closed(as, 1), reason_code::not_authorized);
}

TEST_F(DeviceBridge, AnAttachmentEndsWithTheLeafsToken) {
  add_device("fleet-a", "gw-7", 0, registry::gateway_type::gateway);
  add_device("fleet-a", "leaf-3", 1);
  registry::device_update u;
  u.auth_method = registry::gateway_auth_method::device_auth_token_only;
  must(service_.update_device(device_key_of("fleet-a", "gw-7"), u));
  connect_device(1, "fleet-a", "gw-7");
  const std::string payload = R"({"authorization": ")" + token(1, 60s) + R"("})";
  auto as = packet(1, publish_packet("/devices/leaf-3/attach", payload, qos::at_least_once, 1));
  EXPECT_EQ(sent<mqtt::puback>(as, 1).at(0).reason, reason_code::success);
  subscribe(1, 2, {"/devices/leaf-3/commands/#"});
  EXPECT_FALSE(command("fleet-a", "leaf-3", "", "c"));
  take();
  clock_.advance(60s + 600s);
  bridge_->on_tick();
  as = take();
  EXPECT_FALSE(closed(as, 1));
  EXPECT_EQ(command("fleet-a", "leaf-3", "", "c"), broker_errc::device_not_connected);
  // A wrong token is refused.
  as = packet(1, publish_packet("/devices/leaf-3/attach", R"({"authorization": "x.y.z"})",
                                qos::at_least_once, 3));
  EXPECT_EQ(sent<mqtt::puback>(as, 1).at(0).reason, reason_code::not_authorized);
}

TEST_F(DeviceBridge, NonGatewayAttachCloses) {
  add_device("fleet-a", "dev-a");
  add_device("fleet-a", "dev-b");
  connect_device(1, "fleet-a", "dev-a");
  const auto as = packet(1, publish_packet("/devices/dev-b/attach", "{}", qos::at_least_once, 1));
  EXPECT_EQ(closed(as, 1), reason_code::not_authorized);
}

} // namespace
} // namespace aegis::broker
