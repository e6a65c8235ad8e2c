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

using namespace std::chrono_literals;
using mqtt::protocol_version;
using mqtt::qos;
using mqtt::reason_code;

template <class T>
T must(result<T> r) {
  if (!r) {
    throw std::runtime_error("fixture: " + r.error().message());
  }
  return std::move(r).value();
}

// One storage thread, as the composition root's storage executor.
class storage_thread {
public:
  storage_thread() : thread_([this] { run(); }) {}
  ~storage_thread() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  storage_thread(const storage_thread&) = delete;
  storage_thread& operator=(const storage_thread&) = delete;

  bool post(std::function<void()> fn) {
    {
      std::lock_guard lock(mutex_);
      if (stop_) {
        return false;
      }
      queue_.push_back(std::move(fn));
    }
    cv_.notify_one();
    return true;
  }

private:
  void run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) {
        return;
      }
      auto fn = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      fn();
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stop_ = false;
  std::thread thread_;
};

// Accounts for the test: user name "app-*" with password "pw" is an application account.
class test_accounts final : public auth::authenticator {
public:
  std::string_view name() const noexcept override { return "test"; }
  auth::auth_decision authenticate(const auth::connect_request& req) override {
    if (!req.username || !req.username->starts_with("app-")) {
      return auth::auth_decision::abstain();
    }
    auth::identity who;
    who.kind = auth::identity_kind::application;
    who.method = auth::auth_method::password;
    who.account = *req.username;
    who.client_id = req.client_id;
    return auth::auth_decision::allow(who);
  }
};

class mqtt_client {
public:
  mqtt_client(std::uint16_t port, protocol_version v)
      : version_(v), decoder_(mqtt::decoder_options{.version = v, .from = mqtt::sender::server}) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      throw std::runtime_error("connect failed");
    }
  }
  ~mqtt_client() { ::close(fd_); }
  mqtt_client(const mqtt_client&) = delete;
  mqtt_client& operator=(const mqtt_client&) = delete;

  void send(const mqtt::packet& p) {
    bytes out;
    if (!mqtt::encode_to(p, version_, out)) {
      throw std::runtime_error("encode failed");
    }
    if (::send(fd_, out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size())) {
      throw std::runtime_error("send failed");
    }
  }

  // The next packet, or nothing when the connection closed or `timeout` passed.
  std::optional<mqtt::packet> receive(std::chrono::milliseconds timeout = 5s) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      bytes_view view(pending_.data(), pending_.size());
      auto r = decoder_.next(view);
      pending_.erase(pending_.begin(),
                     pending_.begin() + static_cast<std::ptrdiff_t>(pending_.size() - view.size()));
      if (!r) {
        return std::nullopt;
      }
      if (*r) {
        return std::move(**r);
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      if (left.count() <= 0 || closed_) {
        return std::nullopt;
      }
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) {
        return std::nullopt;
      }
      std::uint8_t buf[4096];
      const auto n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed_ = true;
        continue;
      }
      pending_.insert(pending_.end(), buf, buf + n);
    }
  }

  template <class P>
  std::optional<P> expect(std::chrono::milliseconds timeout = 5s) {
    auto p = receive(timeout);
    if (!p) {
      return std::nullopt;
    }
    if (auto* got = std::get_if<P>(&*p)) {
      return *got;
    }
    ADD_FAILURE() << "unexpected packet type " << p->index();
    return std::nullopt;
  }

  // Whether the server closed the connection (after any packets still to read).
  bool closed_within(std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (!closed_) {
      if (std::chrono::steady_clock::now() >= end) {
        return false;
      }
      (void)receive(50ms);
    }
    return true;
  }

private:
  int fd_ = -1;
  protocol_version version_;
  mqtt::frame_decoder decoder_;
  bytes pending_;
  bool closed_ = false;
};

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
