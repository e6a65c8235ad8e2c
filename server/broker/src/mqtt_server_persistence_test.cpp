// mqtt_server with a session store: the commit gate (no PUBACK before the message is durable),
// a restart from the store, and a failing store.

#include "aegis/broker/mqtt_server.hpp"
#include "aegis/net/server.hpp"
#include "memory_session_store.hpp"
#include "mqtt_server_test_support.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <memory>
#include <mutex>

namespace aegis::broker {
namespace {

using namespace std::chrono_literals;
using mqtt::protocol_version;
using mqtt::qos;
using mqtt::reason_code;
using testing::memory_session_store;
using testing::mqtt_client;
using testing::must;
using testing::storage_thread;
using testing::test_accounts;

// A store whose writes wait while the gate is closed: how a test holds a batch "being written".
class gated_store final : public session_store {
public:
  result<void> apply(const state_journal& batch) override {
    {
      std::unique_lock lock(mutex_);
      ++waiting_;
      cv_.notify_all();
      cv_.wait(lock, [this] { return open_; });
      --waiting_;
    }
    return inner.apply(batch);
  }
  result<state_snapshot> load() override { return inner.load(); }

  void close() {
    std::lock_guard lock(mutex_);
    open_ = false;
  }
  void open() {
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    cv_.notify_all();
  }
  bool wait_for_writer(std::chrono::milliseconds limit) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, limit, [this] { return waiting_ > 0; });
  }

  memory_session_store inner;

private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = true;
  int waiting_ = 0;
};

class MqttServerPersistence : public ::testing::Test {
protected:
  MqttServerPersistence() : chain_(audit_, clock_) {
    chain_.add(std::make_unique<test_accounts>());
  }
  ~MqttServerPersistence() override { stop(true); }

  void start(session_store& store) {
    mqtt_server_options o;
    o.tick_interval = 20ms;
    o.persistence.store = &store;
    o.persistence.run_blocking = [this](std::function<void()> fn) {
      return storage_.post(std::move(fn));
    };
    mqtt_ = std::make_unique<mqtt_server>(o, chain_, clock_);
    report_ = must(mqtt_->restore());
    net_ = std::make_unique<net::server>(net::server_options{1});
    net::listener_options l;
    l.insecure_plaintext = true;
    l.make_handler = mqtt_->handler_factory();
    port_ = must(net_->listen(std::move(l))).port;
  }
  // graceful: as on SIGTERM; otherwise as abrupt as a test process can make it (no shutdown,
  // nothing flushed: only what was committed before counts).
  void stop(bool graceful) {
    if (!mqtt_) {
      return;
    }
    if (graceful) {
      mqtt_->shutdown(2s);
    }
    net_->stop(1s);
    mqtt_->stop();
    net_.reset();
    mqtt_.reset();
  }

  std::unique_ptr<mqtt_client> connect(std::string client_id, std::uint32_t expiry,
                                       bool clean = true, bool* session_present = nullptr) {
    auto c = std::make_unique<mqtt_client>(port_, protocol_version::v5);
    mqtt::connect p;
    p.version = protocol_version::v5;
    p.client_id = std::move(client_id);
    p.clean_start = clean;
    p.username = "app-test";
    p.password = to_bytes("pw");
    if (expiry != 0) {
      p.properties.session_expiry_interval = expiry;
    }
    c->send(p);
    auto ack = c->expect<mqtt::connack>();
    EXPECT_TRUE(ack && ack->reason == reason_code::success);
    if (ack && session_present != nullptr) {
      *session_present = ack->session_present;
    }
    return c;
  }

  static mqtt::publish publish(std::string topic, std::string payload, qos q, std::uint16_t id,
                               bool retain = false) {
    mqtt::publish p;
    p.topic = std::move(topic);
    p.payload = to_bytes(payload);
    p.qos = q;
    p.packet_id = id;
    p.retain = retain;
    return p;
  }

  void subscribe(mqtt_client& c, std::string filter, qos q) {
    mqtt::subscribe s;
    s.packet_id = 1;
    s.subscriptions.push_back({std::move(filter), mqtt::subscription_options{.max_qos = q}});
    c.send(s);
    ASSERT_TRUE(c.expect<mqtt::suback>());
  }

  // Before the server and the storage thread: destroyed after them.
  gated_store gated_;
  memory_session_store memory_;
  manual_clock clock_;
  auth::memory_audit_sink audit_;
  auth::authenticator_chain chain_;
  storage_thread storage_;
  std::unique_ptr<mqtt_server> mqtt_;
  std::unique_ptr<net::server> net_;
  std::uint16_t port_ = 0;
  restore_report report_;
};

TEST_F(MqttServerPersistence, PubackWaitsUntilTheMessageIsDurable) {
  gated_store& store = gated_;
  start(store);
  auto sub = connect("sub", 3600, false);
  subscribe(*sub, "t", qos::at_least_once);
  auto pub = connect("pub", 0);

  store.close();
  pub->send(publish("t", "durable first", qos::at_least_once, 7));
  ASSERT_TRUE(store.wait_for_writer(5s));
  // The batch holding the message is being written: neither the PUBACK nor the PUBLISH is out.
  EXPECT_FALSE(pub->receive(300ms));
  EXPECT_FALSE(sub->receive(50ms));
  EXPECT_EQ(store.inner.count(state_space::queue), 0U);
  store.open();
  const auto ack = pub->expect<mqtt::puback>();
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->packet_id, 7U);
  const auto got = sub->expect<mqtt::publish>();
  ASSERT_TRUE(got);
  EXPECT_EQ(as_string_view(got->payload), "durable first");
  EXPECT_GE(mqtt_->persistence_counters().actions_held, 1U);
}

TEST_F(MqttServerPersistence, AcknowledgedMessagesSurviveAnAbruptStop) {
  memory_session_store& store = memory_;
  start(store);
  {
    auto sub = connect("sub", 3600, false);
    subscribe(*sub, "t/#", qos::exactly_once);
    sub->send(mqtt::disconnect{});
    EXPECT_TRUE(sub->closed_within(5s));
  }
  auto pub = connect("pub", 0);
  pub->send(publish("t/1", "one", qos::at_least_once, 1));
  ASSERT_TRUE(pub->expect<mqtt::puback>());
  pub->send(publish("t/2", "two", qos::exactly_once, 2));
  ASSERT_TRUE(pub->expect<mqtt::pubrec>());
  pub->send(publish("t/r", "kept", qos::at_least_once, 3, true));
  ASSERT_TRUE(pub->expect<mqtt::puback>());
  stop(false);

  start(store);
  EXPECT_EQ(report_.sessions, 1U);
  EXPECT_EQ(report_.queued, 3U);
  EXPECT_EQ(report_.retained, 1U);
  bool present = false;
  auto sub = connect("sub", 3600, false, &present);
  EXPECT_TRUE(present);
  std::vector<std::string> got;
  for (int i = 0; i < 3; ++i) {
    auto p = sub->expect<mqtt::publish>();
    ASSERT_TRUE(p);
    got.emplace_back(as_string_view(p->payload));
  }
  EXPECT_EQ(got, (std::vector<std::string>{"one", "two", "kept"}));
  auto late = connect("late", 0);
  subscribe(*late, "t/r", qos::at_least_once);
  const auto retained = late->expect<mqtt::publish>();
  ASSERT_TRUE(retained);
  EXPECT_TRUE(retained->retain);
  EXPECT_EQ(as_string_view(retained->payload), "kept");
}

TEST_F(MqttServerPersistence, AFailingStoreIsCountedAndServingGoesOn) {
  memory_session_store& store = memory_;
  start(store);
  auto sub = connect("sub", 3600, false);
  subscribe(*sub, "t", qos::at_least_once);
  store.set_failing(true);
  auto pub = connect("pub", 0);
  pub->send(publish("t", "x", qos::at_least_once, 1));
  EXPECT_TRUE(pub->expect<mqtt::puback>());
  EXPECT_TRUE(sub->expect<mqtt::publish>());
  EXPECT_GE(mqtt_->persistence_counters().write_failures, 1U);
  // Once the store works again the retried changes reach it.
  store.set_failing(false);
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (store.count(state_space::message) == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(store.count(state_space::message), 1U);
}

TEST_F(MqttServerPersistence, GracefulShutdownRecordsTheSessionOffline) {
  memory_session_store& store = memory_;
  start(store);
  auto sub = connect("sub", 3600, false);
  subscribe(*sub, "t", qos::at_least_once);
  stop(true);
  EXPECT_TRUE(sub->closed_within(5s));
  start(store);
  EXPECT_EQ(report_.sessions, 1U);
  EXPECT_EQ(report_.subscriptions, 1U);
}

} // namespace
} // namespace aegis::broker
