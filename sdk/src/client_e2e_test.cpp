// device_client against the real aegisd, provisioned with the real aegisctl, and checked by the
// real mosquitto_sub as an application: telemetry, config, commands, state, token renewal,
// outages, gateways; TLS refusals against aegisd and openssl s_server.

#include "aegis/crypto/x509.hpp"
#include "aegis/device/client.hpp"
#include "aegis/device/offline_queue.hpp"
#include "aegis/device/secure_store.hpp"
#include "test_e2e.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

namespace aegis::device {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using testing::child;
using testing::outcome;

// Collects what the callbacks saw; waits are bounded.
struct recorder {
  // Recursive: wait() predicates call the counting helpers, which lock too.
  std::recursive_mutex m;
  std::condition_variable_any cv;
  std::vector<std::string> configs;
  std::vector<std::pair<std::string, std::string>> commands;
  std::vector<std::pair<connection_state, std::error_code>> states;
  std::vector<std::pair<std::string, std::error_code>> attach_results;

  void attach_to(device_client& c) {
    c.on_config([this](bytes_view p) {
      std::lock_guard l(m);
      configs.emplace_back(as_string_view(p));
      cv.notify_all();
    });
    c.on_command([this](std::string_view sub, bytes_view p) {
      std::lock_guard l(m);
      commands.emplace_back(std::string(sub), std::string(as_string_view(p)));
      cv.notify_all();
    });
    c.on_connection_state([this](connection_state s, std::error_code ec) {
      std::lock_guard l(m);
      states.emplace_back(s, ec);
      cv.notify_all();
    });
    c.on_attach_result([this](std::string_view d, std::error_code ec) {
      std::lock_guard l(m);
      attach_results.emplace_back(std::string(d), ec);
      cv.notify_all();
    });
  }
  template <class Pred>
  bool wait(Pred pred, std::chrono::milliseconds limit = 20s) {
    std::unique_lock l(m);
    return cv.wait_for(l, limit, [&] { return pred(); });
  }
  std::size_t count_state(connection_state s) {
    std::lock_guard l(m);
    return static_cast<std::size_t>(
        std::count_if(states.begin(), states.end(), [s](const auto& x) { return x.first == s; }));
  }
  std::error_code first_error() {
    std::lock_guard l(m);
    for (const auto& [s, ec] : states) {
      if (s == connection_state::disconnected && ec) {
        return ec;
      }
    }
    return {};
  }
};

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) {
      return true;
    }
    std::this_thread::sleep_for(50ms);
  }
  return pred();
}

client_options base_options(std::uint16_t port, const fs::path& ca, const std::string& device,
                            const signer& key, offline_queue& queue) {
  client_options o;
  o.host = "127.0.0.1";
  o.port = port;
  o.root_ca_files = {ca};
  o.project_id = "proj-sdk";
  o.registry_id = "reg1";
  o.device_id = device;
  o.jwt_signer = &key;
  o.token_lifetime = 600s;
  o.queue = &queue;
  o.backoff_min = 100ms;
  o.backoff_max = 1000ms;
  o.keep_alive = 30s;
  return o;
}

TEST(DeviceClientOptions, RefusesIncompleteOptions) {
  auto queue = make_memory_queue({});
  client_options o;
  o.queue = queue.get();
  EXPECT_EQ(device_client::create(o).error(), make_error_code(device_errc::bad_config));
  o.project_id = "p";
  o.registry_id = "r";
  o.device_id = "d";
  o.root_ca_files = {};
  EXPECT_EQ(device_client::create(o).error(), make_error_code(device_errc::bad_config))
      << "no trusted roots and no credentials";
  o.device_id = "a/b";
  EXPECT_EQ(device_client::create(o).error(), make_error_code(device_errc::bad_config));
}

// Before any connection: a full queue and an oversized payload are refused at once, and what
// the queue accepted stays there (nothing is dropped to make room).
TEST(DeviceClientOptions, QueueFullAndOversizedAreRefusedNotDropped) {
  testing::temp_dir dir;
  auto key = testing::make_key_file(dir.path() / "k.key");
  ASSERT_TRUE(key);
  auto ca = crypto::certificate_authority::create("t", 1h, std::chrono::system_clock::now());
  ASSERT_TRUE(ca);
  testing::write_file(dir.path() / "ca.crt", *ca->cert().to_pem(),
                      fs::perms::owner_read | fs::perms::owner_write);
  auto queue = make_memory_queue({.max_messages = 2, .max_bytes = 1024});
  auto client = device_client::create(base_options(1, dir.path() / "ca.crt", "d1", *key, *queue));
  ASSERT_TRUE(client) << client.error().message();
  EXPECT_TRUE((*client)->publish_event("", to_bytes("a")));
  EXPECT_TRUE((*client)->publish_event("sub", to_bytes("b")));
  EXPECT_EQ((*client)->publish_event("", to_bytes("c")).error(),
            make_error_code(device_errc::queue_full));
  EXPECT_EQ((*client)->publish_event("", bytes(300U * 1024U, 'x')).error(),
            make_error_code(device_errc::payload_too_large));
  EXPECT_EQ((*client)->publish_event("bad+sub", to_bytes("d")).error(),
            make_error_code(device_errc::bad_config));
  ASSERT_EQ(queue->size(), 2u);
  EXPECT_EQ(queue->peek(2)[1].subfolder, "sub");
}

#if defined(AEGISD_PATH) && defined(AEGISCTL_PATH)

class DeviceClientE2E : public ::testing::Test {
protected:
  void SetUp() override { start_server(600); }

  void start_server(int skew) {
    server_ = std::make_unique<testing::aegisd_instance>(
        dir_.path() / ("server-" + std::to_string(++servers_)), skew);
    ASSERT_FALSE(server_->admin_token().empty()) << server_->output();
    ASSERT_TRUE(server_->provision_registry()) << server_->output();
  }

  std::unique_ptr<signer> new_device(const std::string& id, bool gateway = false) {
    auto key = testing::make_key_file(dir_.path() / (id + ".key"));
    EXPECT_TRUE(key);
    if (!key) {
      return nullptr;
    }
    const outcome o = server_->create_device(id, *key, gateway);
    EXPECT_EQ(o.code, 0) << o.output;
    return key;
  }

  std::string app_topic(const std::string& device, const std::string& rest) const {
    return "projects/proj-sdk/locations/global/registries/reg1/devices/" + device + "/" + rest;
  }

  std::unique_ptr<child> ready_subscriber(const std::string& filter) {
    auto sub = server_->subscribe(filter);
    EXPECT_TRUE(sub->wait_for_output("SUBACK", 20s)) << sub->output();
    return sub;
  }

  testing::temp_dir dir_;
  int servers_ = 0;
  std::unique_ptr<testing::aegisd_instance> server_;
};

TEST_F(DeviceClientE2E, TelemetryConfigCommandsAndState) {
  auto key = new_device("dev1");
  ASSERT_TRUE(key);
  auto sub = ready_subscriber(app_topic("dev1", "events/#"));
  auto queue = make_memory_queue({});
  auto client = device_client::create(
      base_options(server_->mqtt_port(), server_->ca_file(), "dev1", *key, *queue));
  ASSERT_TRUE(client) << client.error().message();
  recorder rec;
  rec.attach_to(**client);
  (*client)->start();
  ASSERT_TRUE(rec.wait([&] {
    return !rec.states.empty() && rec.states.back().first == connection_state::connected;
  })) << server_->output();

  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE((*client)->publish_event("temp", to_bytes("reading-" + std::to_string(i))));
  }
  EXPECT_EQ(sub->wait_for_count("reading-", 5, 20s), 5u) << sub->output();
  EXPECT_NE(sub->output().find(app_topic("dev1", "events/temp") + " reading-4"), std::string::npos)
      << sub->output();
  EXPECT_TRUE(eventually([&] { return queue->size() == 0; })) << "acknowledged events leave";

  // Config: the latest version arrives on subscribe (possibly empty), then each update.
  const outcome set =
      server_->ctl({"device", "config", "set", "dev1", "--registry", "reg1", "--data", "cfg-v2"});
  ASSERT_EQ(set.code, 0) << set.output;
  EXPECT_TRUE(rec.wait([&] {
    return std::find(rec.configs.begin(), rec.configs.end(), "cfg-v2") != rec.configs.end();
  })) << server_->output();

  const outcome cmd = server_->ctl({"device", "command", "send", "dev1", "--registry", "reg1",
                                    "--data", "reboot-now", "--subfolder", "power"});
  ASSERT_EQ(cmd.code, 0) << cmd.output;
  ASSERT_TRUE(rec.wait([&] { return !rec.commands.empty(); })) << server_->output();
  EXPECT_EQ(rec.commands[0].first, "power");
  EXPECT_EQ(rec.commands[0].second, "reboot-now");

  ASSERT_TRUE((*client)->set_state(to_bytes("state-ok-42")));
  EXPECT_TRUE(eventually([&] {
    const outcome st = server_->ctl({"device", "state", "dev1", "--registry", "reg1"});
    return st.code == 0 && st.output.find("state-ok-42") != std::string::npos;
  }));

  (*client)->stop();
  EXPECT_EQ((*client)->state(), connection_state::stopped);
  EXPECT_EQ(rec.count_state(connection_state::disconnected), 0u) << rec.first_error().message();
}

// A short token lifetime: the client reconnects with a fresh token before each expires, and
// the server (skew 0) would otherwise cut it; nothing queued is lost across the renewals.
TEST_F(DeviceClientE2E, TokenRenewedBeforeExpiry) {
  server_.reset();
  start_server(0);
  auto key = new_device("dev-renew");
  ASSERT_TRUE(key);
  auto sub = ready_subscriber(app_topic("dev-renew", "events"));
  auto queue = make_memory_queue({});
  auto o = base_options(server_->mqtt_port(), server_->ca_file(), "dev-renew", *key, *queue);
  o.token_lifetime = 4s;
  o.renew_at = 0.5;
  auto client = device_client::create(o);
  ASSERT_TRUE(client);
  recorder rec;
  rec.attach_to(**client);
  (*client)->start();
  int sent = 0;
  const auto until = std::chrono::steady_clock::now() + 9s;
  while (std::chrono::steady_clock::now() < until) {
    ASSERT_TRUE((*client)->publish_event("", to_bytes("renew-" + std::to_string(sent) + ";")));
    ++sent;
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_TRUE(eventually([&] { return queue->size() == 0; }, 20s));
  const auto stats = (*client)->stats();
  EXPECT_GE(stats.token_renewals, 3u);
  EXPECT_GE(stats.connects, 4u);
  EXPECT_EQ(rec.count_state(connection_state::disconnected), 0u)
      << "the server cut the session: " << rec.first_error().message() << "\n"
      << server_->output();
  for (int i = 0; i < sent; ++i) {
    EXPECT_TRUE(sub->wait_for_output("renew-" + std::to_string(i) + ";", 10s)) << i << "\n"
                                                                               << sub->output();
  }
  (*client)->stop();
}

// aegisd is killed while the device publishes and restarted on the same data directory; the
// device reconnects and every queued event reaches the application subscriber. The device dials
// through a relay the test opens only once the subscriber is back, so no event can pass while
// nobody listens.
TEST_F(DeviceClientE2E, QueuedEventsSurviveServerRestart) {
  auto key = new_device("dev-outage");
  ASSERT_TRUE(key);
  testing::tcp_relay relay;
  relay.set_target(server_->mqtt_port());
  auto queue = make_memory_queue({.max_messages = 2000, .max_bytes = 1U << 20U});
  auto o = base_options(relay.port(), server_->ca_file(), "dev-outage", *key, *queue);
  o.backoff_max = 500ms;
  o.max_publish_rate = 90; // under aegisd's 100 per second per connection
  auto client = device_client::create(o);
  ASSERT_TRUE(client);
  recorder rec;
  rec.attach_to(**client);
  auto sub = ready_subscriber(app_topic("dev-outage", "events"));
  (*client)->start();
  ASSERT_TRUE(rec.wait([&] { return rec.count_state(connection_state::connected) >= 1; }));

  // 1,000 events; aegisd is killed while the first 400 are still being sent.
  constexpr int total = 1000;
  int i = 0;
  for (; i < 400; ++i) {
    ASSERT_TRUE((*client)->publish_event("", to_bytes("m" + std::to_string(i) + ";")));
  }
  std::this_thread::sleep_for(1500ms);
  server_->kill_hard();
  relay.set_open(false);
  relay.cut_all();
  for (; i < total; ++i) {
    ASSERT_TRUE((*client)->publish_event("", to_bytes("m" + std::to_string(i) + ";")));
  }
  std::this_thread::sleep_for(1s);
  EXPECT_TRUE(rec.wait([&] { return rec.count_state(connection_state::disconnected) >= 1; }));
  EXPECT_GT(queue->size(), 0u) << "nothing can have been acknowledged while the server is down";

  // What the first subscriber saw before the kill counts too.
  sub->drain(1s);
  const std::string before = sub->output();
  sub.reset();
  server_->start();
  relay.set_target(server_->mqtt_port());
  auto sub2 = ready_subscriber(app_topic("dev-outage", "events"));
  relay.set_open(true);

  ASSERT_TRUE(eventually([&] { return queue->size() == 0; }, 60s))
      << queue->size() << " still queued\n"
      << server_->output();
  (void)sub2->wait_for_output("m" + std::to_string(total - 1) + ";", 20s);
  sub2->drain(1s);
  const std::string seen = before + sub2->output();
  int missing = 0;
  for (int k = 0; k < total; ++k) {
    if (seen.find(" m" + std::to_string(k) + ";") == std::string::npos) {
      ++missing;
      ADD_FAILURE() << "event " << k << " lost";
      if (missing > 5) {
        break;
      }
    }
  }
  EXPECT_GE((*client)->stats().connects, 2u);
  (*client)->stop();
}

// Events accepted while the server is unreachable are kept in the persistent queue (the
// device's secure store); a new client on the reopened store, after a restart of the device,
// delivers every one of them.
TEST_F(DeviceClientE2E, PersistentQueueDeliversAfterDeviceRestart) {
  auto key = new_device("dev-persist");
  ASSERT_TRUE(key);
  const fs::path secret = dir_.path() / "store.secret";
  testing::write_file(secret, std::string(48, 'k') + "device-secret",
                      fs::perms::owner_read | fs::perms::owner_write);
  store_key_source source;
  source.secret_file = secret;
  const fs::path store_file = dir_.path() / "device.store";
  testing::tcp_relay relay;
  relay.set_target(server_->mqtt_port());
  relay.set_open(false);
  constexpr int total = 40;
  {
    auto store = secure_store::open(store_file, source);
    ASSERT_TRUE(store) << store.error().message();
    auto queue = make_persistent_queue(**store, {});
    ASSERT_TRUE(queue) << queue.error().message();
    auto client = device_client::create(
        base_options(relay.port(), server_->ca_file(), "dev-persist", *key, **queue));
    ASSERT_TRUE(client);
    (*client)->start();
    for (int i = 0; i < total; ++i) {
      ASSERT_TRUE((*client)->publish_event("", to_bytes("p" + std::to_string(i) + ";")));
    }
    (*client)->stop();
    EXPECT_EQ((*queue)->size(), static_cast<std::size_t>(total));
  }
  auto store = secure_store::open(store_file, source);
  ASSERT_TRUE(store) << store.error().message();
  auto queue = make_persistent_queue(**store, {});
  ASSERT_TRUE(queue);
  ASSERT_EQ((*queue)->size(), static_cast<std::size_t>(total));
  auto sub = ready_subscriber(app_topic("dev-persist", "events"));
  relay.set_open(true);
  auto client = device_client::create(
      base_options(relay.port(), server_->ca_file(), "dev-persist", *key, **queue));
  ASSERT_TRUE(client);
  (*client)->start();
  EXPECT_TRUE(eventually([&] { return (*queue)->size() == 0; }, 30s)) << (*queue)->size();
  (*client)->stop();
  for (int i = 0; i < total; ++i) {
    EXPECT_TRUE(sub->wait_for_output(" p" + std::to_string(i) + ";", 10s)) << i;
  }
  auto reopened = make_persistent_queue(**store, {});
  ASSERT_TRUE(reopened);
  EXPECT_EQ((*reopened)->size(), 0u) << "acknowledged events are gone from the store";
}

TEST_F(DeviceClientE2E, MqttV5Session) {
  auto key = new_device("dev-v5");
  ASSERT_TRUE(key);
  auto sub = ready_subscriber(app_topic("dev-v5", "events"));
  auto queue = make_memory_queue({});
  auto o = base_options(server_->mqtt_port(), server_->ca_file(), "dev-v5", *key, *queue);
  o.version = mqtt_version::v5;
  auto client = device_client::create(o);
  ASSERT_TRUE(client);
  (*client)->start();
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE((*client)->publish_event("", to_bytes("v5-" + std::to_string(i) + ";")));
  }
  EXPECT_TRUE(eventually([&] { return queue->size() == 0; })) << server_->output();
  EXPECT_EQ((*client)->stats().events_acked, 10u);
  EXPECT_TRUE(sub->wait_for_output("v5-9;", 10s)) << sub->output();
  (*client)->stop();
}

// Mutual TLS: a certificate signed by Aegis' CA (through aegisctl cert sign) instead of a JWT.
TEST_F(DeviceClientE2E, ClientCertificateInsteadOfJwt) {
  auto key = new_device("dev-cert");
  ASSERT_TRUE(key);
  const fs::path key_file = dir_.path() / "dev-cert.key";
  const fs::path csr = dir_.path() / "dev-cert.csr";
  const fs::path crt = dir_.path() / "dev-cert.crt";
  const outcome req = testing::run_child({"openssl", "req", "-new", "-key", key_file.string(),
                                          "-out", csr.string(), "-subj", "/CN=dev-cert"});
  ASSERT_EQ(req.code, 0) << req.output;
  const outcome signed_cert =
      server_->ctl({"cert", "sign", "--device", "dev-cert", "--registry", "reg1", "--csr",
                    csr.string(), "--out", crt.string(), "--days", "2"});
  ASSERT_EQ(signed_cert.code, 0) << signed_cert.output;
  auto sub = ready_subscriber(app_topic("dev-cert", "events"));
  auto queue = make_memory_queue({});
  auto o = base_options(server_->mqtt_port(), server_->ca_file(), "dev-cert", *key, *queue);
  o.jwt_signer = nullptr;
  o.client_certificate_file = crt;
  o.client_key_file = key_file;
  auto client = device_client::create(o);
  ASSERT_TRUE(client) << client.error().message();
  recorder rec;
  rec.attach_to(**client);
  (*client)->start();
  ASSERT_TRUE((*client)->publish_event("", to_bytes("by-certificate")));
  EXPECT_TRUE(eventually([&] { return queue->size() == 0; })) << rec.first_error().message() << "\n"
                                                              << server_->output();
  EXPECT_TRUE(sub->wait_for_output("by-certificate", 10s)) << sub->output();
  (*client)->stop();
}

// A path that goes silent (no FIN, no RST): the missing PINGRESP ends the connection within two
// keep-alive periods and the client reconnects.
TEST_F(DeviceClientE2E, SilentPathDetectedByKeepAlive) {
  auto key = new_device("dev-ka");
  ASSERT_TRUE(key);
  testing::tcp_relay relay;
  relay.set_target(server_->mqtt_port());
  auto queue = make_memory_queue({});
  auto o = base_options(relay.port(), server_->ca_file(), "dev-ka", *key, *queue);
  o.keep_alive = 1s;
  auto client = device_client::create(o);
  ASSERT_TRUE(client);
  recorder rec;
  rec.attach_to(**client);
  (*client)->start();
  ASSERT_TRUE(rec.wait([&] { return rec.count_state(connection_state::connected) >= 1; }));
  relay.freeze_all();
  EXPECT_TRUE(rec.wait([&] { return rec.count_state(connection_state::connected) >= 2; }, 15s))
      << "no reconnect after the path went silent";
  EXPECT_EQ(rec.first_error(), std::make_error_code(std::errc::timed_out))
      << rec.first_error().message();
  ASSERT_TRUE((*client)->publish_event("", to_bytes("after-silence")));
  EXPECT_TRUE(eventually([&] { return queue->size() == 0; }));
  (*client)->stop();
}

TEST_F(DeviceClientE2E, UntrustedServerIsRefused) {
  auto key = new_device("dev-tls");
  ASSERT_TRUE(key);
  // A CA that did not issue aegisd's certificate.
  const fs::path other_key = dir_.path() / "other.key";
  const fs::path other_crt = dir_.path() / "other.crt";
  const outcome made =
      testing::run_child({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                          "ec_paramgen_curve:P-256", "-nodes", "-keyout", other_key.string(),
                          "-out", other_crt.string(), "-days", "2", "-subj", "/CN=other-ca"});
  ASSERT_EQ(made.code, 0) << made.output;
  auto queue = make_memory_queue({});
  auto o = base_options(server_->mqtt_port(), other_crt, "dev-tls", *key, *queue);
  auto client = device_client::create(o);
  ASSERT_TRUE(client);
  recorder rec;
  rec.attach_to(**client);
  (*client)->start();
  ASSERT_TRUE(rec.wait([&] { return rec.count_state(connection_state::disconnected) >= 2; }));
  EXPECT_EQ(rec.first_error(), make_error_code(device_errc::untrusted_server))
      << rec.first_error().message();
  EXPECT_EQ(rec.count_state(connection_state::connected), 0u);
  (*client)->stop();
}

TEST_F(DeviceClientE2E, ServerRefusalCarriesTheCode) {
  // A key the server does not know: CONNACK 5 (not authorised).
  auto registered = new_device("dev-refused");
  ASSERT_TRUE(registered);
  auto stranger = testing::make_key_file(dir_.path() / "stranger.key");
  ASSERT_TRUE(stranger);
  auto queue = make_memory_queue({});
  auto client = device_client::create(
      base_options(server_->mqtt_port(), server_->ca_file(), "dev-refused", *stranger, *queue));
  ASSERT_TRUE(client);
  recorder rec;
  rec.attach_to(**client);
  (*client)->start();
  ASSERT_TRUE(rec.wait([&] { return rec.count_state(connection_state::disconnected) >= 1; }));
  EXPECT_EQ(rec.first_error(), make_error_code(device_errc::server_refused));
  EXPECT_EQ((*client)->stats().last_refusal_code, 5);
  (*client)->stop();
}

TEST_F(DeviceClientE2E, GatewayAttachesAndPublishesForBoundDevice) {
  auto gw_key = new_device("gw1", true);
  auto leaf_key = new_device("leaf1");
  ASSERT_TRUE(gw_key && leaf_key);
  const outcome bound =
      server_->ctl({"device", "bind", "leaf1", "--registry", "reg1", "--gateway", "gw1"});
  ASSERT_EQ(bound.code, 0) << bound.output;
  auto sub = ready_subscriber(app_topic("leaf1", "events/#"));

  auto queue = make_memory_queue({});
  auto o = base_options(server_->mqtt_port(), server_->ca_file(), "gw1", *gw_key, *queue);
  o.gateway = true;
  auto client = device_client::create(o);
  ASSERT_TRUE(client);
  recorder rec;
  rec.attach_to(**client);
  std::mutex m;
  std::vector<std::string> leaf_configs;
  (*client)->on_leaf_config([&](std::string_view d, bytes_view p) {
    std::lock_guard l(m);
    leaf_configs.push_back(std::string(d) + "=" + std::string(as_string_view(p)));
  });
  (*client)->start();
  ASSERT_TRUE((*client)->attach("leaf1", ""));
  ASSERT_TRUE((*client)->publish_event_for("leaf1", "temp", to_bytes("leaf-reading-1")));
  ASSERT_TRUE(rec.wait([&] { return !rec.attach_results.empty(); })) << server_->output();
  EXPECT_EQ(rec.attach_results[0].first, "leaf1");
  EXPECT_FALSE(rec.attach_results[0].second) << rec.attach_results[0].second.message();
  EXPECT_TRUE(sub->wait_for_output(app_topic("leaf1", "events/temp") + " leaf-reading-1", 20s))
      << sub->output() << server_->output();

  // Config of the leaf reaches the gateway's leaf handler.
  ASSERT_EQ(
      server_->ctl({"device", "config", "set", "leaf1", "--registry", "reg1", "--data", "leafcfg"})
          .code,
      0);
  EXPECT_TRUE(eventually([&] {
    std::lock_guard l(m);
    return std::find(leaf_configs.begin(), leaf_configs.end(), "leaf1=leafcfg") !=
           leaf_configs.end();
  }));

  // A device that is not bound is refused (3.1.1: the server closes or refuses; never delivered).
  ASSERT_TRUE((*client)->detach("leaf1"));
  EXPECT_TRUE(rec.wait([&] { return rec.attach_results.size() >= 2; }));
  (*client)->stop();
}

#endif

} // namespace
} // namespace aegis::device
