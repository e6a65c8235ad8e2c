// mqtt_server end to end for the device profile: a real net::server listener on 127.0.0.1:0
// (plain TCP: TLS is libs/net's and is tested there), the real JWT authenticator over a memory
// registry, a storage thread for run_blocking, and a blocking MQTT client made of libs/mqtt's
// codec.

#include "aegis/auth/authenticator.hpp"
#include "aegis/auth/jwt_authenticator.hpp"
#include "aegis/broker/errors.hpp"
#include "aegis/broker/mqtt_server.hpp"
#include "aegis/crypto/jwt.hpp"
#include "aegis/crypto/keys.hpp"
#include "aegis/mqtt/codec.hpp"
#include "aegis/net/server.hpp"
#include "aegis/registry/memory_repository.hpp"
#include "aegis/registry/service.hpp"
#include "mqtt_server_test_support.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

namespace aegis::broker {
namespace {

using testing::mqtt_client;
using testing::must;
using testing::storage_thread;
using testing::test_accounts;

using namespace std::chrono_literals;
using mqtt::protocol_version;
using mqtt::qos;
using mqtt::reason_code;

const std::string project = "acme-iot";

registry::device_key device_key_of(std::string_view reg, std::string_view dev) {
  return {{registry::project_id(project), registry::location_id("us-central1"),
           registry::registry_id(std::string(reg))},
          registry::device_id(std::string(dev))};
}

class MqttServerDevices : public ::testing::Test {
protected:
  MqttServerDevices() : service_(repo_, clock_), chain_(audit_, clock_) {
    must(service_.create_project(registry::project_id(project)));
    registry::registry_spec spec;
    spec.key = device_key_of("fleet-a", "x").registry;
    must(service_.create_registry(spec));
    registry::device_spec d;
    d.key = device_key_of("fleet-a", "sensor-1");
    d.credentials.push_back(
        {registry::credential_format::es256_pem, must(key_.public_part().to_pem()), {}});
    must(service_.create_device(d));
    chain_.add(std::make_unique<auth::jwt_authenticator>(service_, clock_));
    chain_.add(std::make_unique<test_accounts>());

    mqtt_server_options o;
    o.tick_interval = 20ms;
    o.device_profile.registry = &service_;
    o.device_profile.run_blocking = [this](std::function<void()> fn) {
      return storage_.post(std::move(fn));
    };
    mqtt_ = std::make_unique<mqtt_server>(o, chain_, clock_);
    net::listener_options l;
    l.insecure_plaintext = true;
    l.make_handler = mqtt_->handler_factory();
    port_ = must(net_.listen(std::move(l))).port;
  }
  ~MqttServerDevices() override {
    mqtt_->shutdown(1s);
    net_.stop(1s);
    mqtt_->stop();
  }

  std::string token(std::chrono::seconds lifetime = 1h) const {
    crypto::jwt_mint_options o;
    o.audience = project;
    o.issued_at = clock_.wall_now();
    o.lifetime = lifetime;
    return must(crypto::jwt_mint(key_, o));
  }

  std::unique_ptr<mqtt_client> connect(protocol_version v, std::string client_id, std::string user,
                                       std::string password,
                                       reason_code expected = reason_code::success) {
    auto c = std::make_unique<mqtt_client>(port_, v);
    mqtt::connect p;
    p.version = v;
    p.client_id = std::move(client_id);
    p.username = std::move(user);
    p.password = to_bytes(password);
    p.keep_alive = 0; // the expiry test moves the clock by minutes
    c->send(p);
    auto ack = c->expect<mqtt::connack>();
    EXPECT_TRUE(ack.has_value());
    if (ack) {
      EXPECT_EQ(ack->reason, expected);
    }
    return c;
  }
  std::unique_ptr<mqtt_client> connect_device(protocol_version v = protocol_version::v3_1_1,
                                              std::chrono::seconds lifetime = 1h) {
    return connect(v, registry::to_name(device_key_of("fleet-a", "sensor-1")), "unused",
                   token(lifetime));
  }

  static mqtt::subscribe subscribe(std::uint16_t id, std::string filter, qos q) {
    mqtt::subscribe s;
    s.packet_id = id;
    mqtt::subscription_options o;
    o.max_qos = q;
    s.subscriptions.push_back({std::move(filter), o});
    return s;
  }

  manual_clock clock_;
  registry::memory_repository repo_;
  registry::registry_service service_;
  auth::memory_audit_sink audit_;
  auth::authenticator_chain chain_;
  crypto::private_key key_ = must(crypto::private_key::generate(crypto::key_type::ec_p256));
  storage_thread storage_;
  net::server net_{net::server_options{1}};
  std::unique_ptr<mqtt_server> mqtt_;
  std::uint16_t port_ = 0;
};

TEST_F(MqttServerDevices, DeviceGetsConfigAndCommandsAndAppGetsTelemetry) {
  const auto key = device_key_of("fleet-a", "sensor-1");
  must(service_.modify_config(key, to_bytes("cfg-2")));
  auto dev = connect_device();
  dev->send(subscribe(1, "/devices/sensor-1/config", qos::exactly_once));
  auto ack = dev->expect<mqtt::suback>();
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->reasons, std::vector<reason_code>{reason_code::granted_qos_1});
  auto cfg = dev->expect<mqtt::publish>();
  ASSERT_TRUE(cfg);
  EXPECT_EQ(cfg->topic, "/devices/sensor-1/config");
  EXPECT_EQ(as_string_view(cfg->payload), "cfg-2");
  mqtt::puback pa;
  pa.packet_id = cfg->packet_id;
  dev->send(pa);

  auto app = connect(protocol_version::v5, "consumer", "app-1", "pw");
  app->send(
      subscribe(1, registry::to_name(key.registry) + "/devices/+/events/#", qos::at_least_once));
  ASSERT_TRUE(app->expect<mqtt::suback>());
  mqtt::publish ev;
  ev.topic = "/devices/sensor-1/events/temp";
  ev.payload = to_bytes("21");
  ev.qos = qos::at_least_once;
  ev.packet_id = 3;
  dev->send(ev);
  ASSERT_TRUE(dev->expect<mqtt::puback>());
  auto got = app->expect<mqtt::publish>();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->topic, registry::to_name(key) + "/events/temp");
  ASSERT_EQ(got->properties.user_properties.size(), 6U);
  EXPECT_EQ(got->properties.user_properties.at(0).value, "sensor-1");

  std::promise<std::error_code> before;
  mqtt_->send_command(key, "", to_bytes("x"), [&](std::error_code e) { before.set_value(e); });
  EXPECT_EQ(before.get_future().get(), broker_errc::device_not_subscribed);
  dev->send(subscribe(2, "/devices/sensor-1/commands/#", qos::at_least_once));
  ASSERT_TRUE(dev->expect<mqtt::suback>());
  std::promise<std::error_code> sent;
  mqtt_->send_command(key, "reboot", to_bytes("now"),
                      [&](std::error_code e) { sent.set_value(e); });
  EXPECT_FALSE(sent.get_future().get());
  auto cmd = dev->expect<mqtt::publish>();
  ASSERT_TRUE(cmd);
  EXPECT_EQ(cmd->topic, "/devices/sensor-1/commands/reboot");
  EXPECT_EQ(as_string_view(cmd->payload), "now");

  // The config acknowledgement reached the registry through the storage thread.
  for (int i = 0; i < 200 && !must(service_.get_config(key)).device_ack_time; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(must(service_.get_config(key)).device_ack_time);
}

TEST_F(MqttServerDevices, AnotherDevicesClientIdIsRefusedWithCode5) {
  registry::device_spec d;
  d.key = device_key_of("fleet-a", "sensor-2");
  const auto other = must(crypto::private_key::generate(crypto::key_type::ec_p256));
  d.credentials.push_back(
      {registry::credential_format::es256_pem, must(other.public_part().to_pem()), {}});
  must(service_.create_device(d));
  auto c = connect(protocol_version::v3_1_1, registry::to_name(d.key), "unused", token(),
                   reason_code::not_authorized);
  EXPECT_TRUE(c->closed_within(2s));
}

TEST_F(MqttServerDevices, RefusedPublishAndQos2PublishClose) {
  auto dev = connect_device(protocol_version::v5);
  mqtt::publish p;
  p.topic = "/devices/sensor-1/events";
  p.qos = qos::exactly_once;
  p.packet_id = 1;
  dev->send(p);
  auto d = dev->expect<mqtt::disconnect>();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->reason, reason_code::qos_not_supported);
  EXPECT_TRUE(dev->closed_within(2s));

  dev = connect_device(protocol_version::v5);
  p.topic = "/devices/sensor-2/events";
  p.qos = qos::at_least_once;
  dev->send(p);
  d = dev->expect<mqtt::disconnect>();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->reason, reason_code::not_authorized);
  EXPECT_TRUE(dev->closed_within(2s));
  EXPECT_EQ(mqtt_->device_stats().publish_denied, 1U);
  EXPECT_EQ(mqtt_->device_stats().qos2_publish_closed, 1U);
}

TEST_F(MqttServerDevices, TokenExpiryDisconnectsWithMaximumConnectTime) {
  auto dev = connect_device(protocol_version::v5, 60s);
  clock_.advance(60s + 600s + 1s); // exp + the 10 min skew
  auto d = dev->expect<mqtt::disconnect>(2s);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->reason, reason_code::maximum_connect_time);
  EXPECT_TRUE(dev->closed_within(2s));
}

TEST_F(MqttServerDevices, BlockingTheDeviceClosesItsSessionWhenRevalidated) {
  auto dev = connect_device(protocol_version::v5);
  registry::device_update u;
  u.blocked = true;
  must(service_.update_device(device_key_of("fleet-a", "sensor-1"), u));
  std::promise<void> done;
  mqtt_->revalidate_device(device_key_of("fleet-a", "sensor-1"), [&] { done.set_value(); });
  ASSERT_EQ(done.get_future().wait_for(2s), std::future_status::ready);
  auto d = dev->expect<mqtt::disconnect>(1s);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->reason, reason_code::not_authorized);
  EXPECT_TRUE(dev->closed_within(1s));
  // And it cannot come back.
  connect(protocol_version::v5, registry::to_name(device_key_of("fleet-a", "sensor-1")), "unused",
          token(), reason_code::not_authorized);
}

TEST_F(MqttServerDevices, WithoutARegistryDevicesAreRefused) {
  mqtt_server bare(mqtt_server_options{}, chain_, clock_);
  net::listener_options l;
  l.insecure_plaintext = true;
  l.make_handler = bare.handler_factory();
  const auto port = must(net_.listen(std::move(l))).port;
  mqtt_client c(port, protocol_version::v3_1_1);
  mqtt::connect p;
  p.version = protocol_version::v3_1_1;
  p.client_id = registry::to_name(device_key_of("fleet-a", "sensor-1"));
  p.username = "unused";
  p.password = to_bytes(token());
  c.send(p);
  auto ack = c.expect<mqtt::connack>();
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->reason, reason_code::not_authorized); // return code 5
  EXPECT_TRUE(c.closed_within(2s));
  EXPECT_EQ(bare.device_stats().devices_refused, 1U);
  bare.shutdown(1s);
}

} // namespace
} // namespace aegis::broker
