// MQTT over secure WebSocket against the real aegisd: wss://localhost:<https port>/mqtt with the
// sub-protocol "mqtt" reaches the same broker as the MQTT over TLS port, with the same
// authentication. Clients: MQTT.js (tests/node/mqtt-ws-client.mjs, 3.1.1 and 5.0, the CA
// verified), Debian's paho 1.6 (tests/interop/paho_ws_client.py, transport="websockets"),
// mosquitto_pub/_sub on the TLS port for the other side, curl for refused upgrades and for the
// admin API on the same port.

#include "device_e2e_fixture.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace aegis::app::testing::e2e {
namespace {

class WebSocketE2E : public hub_fixture {
protected:
  void SetUp() override {
    hub_fixture::SetUp();
    ASSERT_TRUE(fs::exists(node_dir() / "node_modules/mqtt/package.json"))
        << "npm mqtt missing: run scripts/install-deps (npm ci in tests/node)";
  }

  static fs::path node_dir() { return fs::path(AEGIS_SOURCE_DIR) / "tests/node"; }
  std::string wss_url() const { return "wss://localhost:" + https_port_ + "/mqtt"; }

  std::vector<std::string> mqtt_js(std::initializer_list<std::string> more) const {
    std::vector<std::string> argv{
        "node", (node_dir() / "mqtt-ws-client.mjs").string(), "--url", wss_url(), "--ca", ca_};
    argv.insert(argv.end(), more);
    return argv;
  }

  std::vector<std::string> paho_ws(std::initializer_list<std::string> more) const {
    std::vector<std::string> argv{"/usr/bin/python3",
                                  "-u",
                                  std::string(AEGIS_SOURCE_DIR) +
                                      "/tests/interop/paho_ws_client.py",
                                  "--port",
                                  https_port_,
                                  "--ca",
                                  ca_};
    argv.insert(argv.end(), more);
    return argv;
  }

  // The HTTP status curl got for a WebSocket upgrade request offering `protocol`.
  int upgrade_status(const std::string& protocol, const std::string& version = "13") {
    const auto r = run({"curl",
                        "-sS",
                        "--http1.1",
                        "--cacert",
                        ca_,
                        "-o",
                        "/dev/null",
                        "-w",
                        "%{http_code}",
                        "-H",
                        "Upgrade: websocket",
                        "-H",
                        "Connection: Upgrade",
                        "-H",
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                        "-H",
                        "Sec-WebSocket-Version: " + version,
                        "-H",
                        "Sec-WebSocket-Protocol: " + protocol,
                        "https://localhost:" + https_port_ + "/mqtt"});
    EXPECT_EQ(r.rc, 0) << r.output;
    return r.rc == 0 ? std::stoi(r.output) : 0;
  }

  // Publishes with `pub_argv` on the TLS port until `sub` (over wss) printed `payload`.
  bool publish_until_received(child& sub, const std::vector<std::string>& pub_argv,
                              const std::string& payload) {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (sub.running() && std::chrono::steady_clock::now() < deadline) {
      const auto r = run(pub_argv);
      EXPECT_EQ(r.rc, 0) << r.output;
      if (sub.wait_for_output(payload, 500ms)) {
        return true;
      }
    }
    return contains(sub.output(), payload);
  }
};

// MQTT.js 3.1.1 as a device (JWT in the password) over wss; the application hears it on TLS.
TEST_F(WebSocketE2E, MqttJsDeviceWithAJwtOverWssReachesATlsSubscriber) {
  auto listener = start_listener();
  child device(mqtt_js({"--version", "4", "--client-id", device_path("sensor-1"), "--username",
                        "unused", "--password", device_jwt("sensor-1"), "--publish",
                        "/devices/sensor-1/events", "--message", "wss-telemetry-311"}));
  EXPECT_EQ(device.wait_exit(40s), 0) << device.output() << aegisd_->output();
  EXPECT_TRUE(contains(device.output(), "\"puback\"")) << device.output();
  ASSERT_TRUE(listener->wait_for_output("wss-telemetry-311", 10s)) << listener->output();
  EXPECT_TRUE(
      contains(listener->output(), registry_path + "/devices/sensor-1/events wss-telemetry-311"))
      << listener->output();
}

// MQTT.js 5.0 as the application over wss hears a device that publishes on the TLS port.
TEST_F(WebSocketE2E, MqttJsV5ApplicationOverWssHearsATlsDevice) {
  child app(mqtt_js({"--version", "5", "--username", "backend", "--password", backend_password,
                     "--subscribe", registry_path + "/devices/+/events/#"}));
  ASSERT_TRUE(app.wait_for_output("\"subscribed\"", 20s)) << app.output() << aegisd_->output();
  const auto pub =
      with(device_client("mosquitto_pub", device_path("sensor-2"), device_jwt("sensor-2")),
           {"-t", "/devices/sensor-2/events/tls", "-q", "1", "-m", "tls-to-wss"});
  EXPECT_TRUE(publish_until_received(app, pub, "tls-to-wss")) << app.output();
  EXPECT_EQ(app.wait_exit(20s), 0) << app.output() << aegisd_->output();
  EXPECT_TRUE(
      contains(app.output(), "\"topic\":\"" + registry_path +
                                 "/devices/sensor-2/events/tls\",\"payload\":\"tls-to-wss\""))
      << app.output();
}

// Debian's paho over websockets: a 3.1.1 device publishing, a 5.0 application subscribing.
TEST_F(WebSocketE2E, PahoOverWebSocketsAsDeviceAndAsApplication) {
  ASSERT_EQ(run({"/usr/bin/python3", "-c", "import paho.mqtt.client"}).rc, 0)
      << "python3-paho-mqtt missing: run scripts/install-deps";
  auto listener = start_listener();
  child device(paho_ws({"--client-id", device_path("sensor-1"), "--username", "unused",
                        "--password", device_jwt("sensor-1"), "--publish",
                        "/devices/sensor-1/events", "--message", "paho-over-ws"}));
  EXPECT_EQ(device.wait_exit(40s), 0) << device.output() << aegisd_->output();
  EXPECT_TRUE(contains(device.output(), "CONNACK 0")) << device.output();
  EXPECT_TRUE(
      listener->wait_for_output(registry_path + "/devices/sensor-1/events paho-over-ws", 10s))
      << listener->output();

  child app(paho_ws({"--mqtt5", "--username", "backend", "--password", backend_password,
                     "--subscribe", registry_path + "/devices/+/events/#"}));
  ASSERT_TRUE(app.wait_for_output("SUBACK 1", 20s)) << app.output() << aegisd_->output();
  const auto pub =
      with(device_client("mosquitto_pub", device_path("sensor-2"), device_jwt("sensor-2")),
           {"-t", "/devices/sensor-2/events", "-q", "1", "-m", "tls-to-paho-ws"});
  EXPECT_TRUE(publish_until_received(app, pub, "tls-to-paho-ws")) << app.output();
  EXPECT_EQ(app.wait_exit(20s), 0) << app.output();
}

// A client certificate presented on the TLS handshake of the HTTPS port authenticates the
// device over wss exactly as on the MQTT port (a registered external CA).
TEST_F(WebSocketE2E, AClientCertificateOnTheHttpsPortAuthenticatesOverWss) {
  const auto openssl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "openssl");
    const auto r = run(args);
    ASSERT_EQ(r.rc, 0) << r.output;
  };
  const auto p = [&](const std::string& name) { return (dir_ / name).string(); };
  openssl({"req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
           "-nodes", "-keyout", p("acme.key"), "-out", p("acme.crt"), "-subj", "/CN=acme", "-days",
           "30"});
  const auto issue = [&](const std::string& name, const std::string& cn, const std::string& ext) {
    std::ofstream(dir_ / (name + ".ext")) << ext;
    openssl({"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", p(name + ".key"), "-out", p(name + ".csr"), "-subj", "/CN=" + cn});
    openssl({"x509", "-req", "-in", p(name + ".csr"), "-CA", p("acme.crt"), "-CAkey", p("acme.key"),
             "-CAcreateserial", "-days", "2", "-extfile", p(name + ".ext"), "-out",
             p(name + ".crt")});
  };
  const auto code = api("POST", "/api/v1/ca:registrationCode");
  ASSERT_EQ(code.first, 200) << code.second.dump();
  issue("verification", code.second.value("registrationCode", ""), "basicConstraints=CA:FALSE\n");
  issue("sensor-1-cert", "sensor-1", "extendedKeyUsage=clientAuth\n");
  const auto registered = api("POST", registries_api + "/" + registry_id + ":registerCaCertificate",
                              {{"certificate", read_text(dir_ / "acme.crt")},
                               {"verificationCertificate", read_text(dir_ / "verification.crt")}});
  ASSERT_EQ(registered.first, 200) << registered.second.dump();

  auto listener = start_listener();
  child device(mqtt_js({"--client-id", device_path("sensor-1"), "--cert", p("sensor-1-cert.crt"),
                        "--key", p("sensor-1-cert.key"), "--publish", "/devices/sensor-1/events",
                        "--message", "wss-by-certificate"}));
  EXPECT_EQ(device.wait_exit(40s), 0) << device.output() << aegisd_->output();
  EXPECT_TRUE(listener->wait_for_output("wss-by-certificate", 10s)) << listener->output();

  // The same certificate does not make another device.
  child other(mqtt_js({"--client-id", device_path("sensor-2"), "--cert", p("sensor-1-cert.crt"),
                       "--key", p("sensor-1-cert.key"), "--publish", "/devices/sensor-2/events",
                       "--message", "wss-mismatch"}));
  EXPECT_EQ(other.wait_exit(40s), 1) << other.output();
  expect_not_heard(*listener, "wss-mismatch");
}

// Refusals: wrong credentials at CONNECT, a wrong sub-protocol or version at the upgrade, and a
// plain GET on /mqtt; the admin API on the same port and a wss session both keep working.
TEST_F(WebSocketE2E, RefusedUpgradesAndCredentialsLeaveTheRestWorking) {
  child app(mqtt_js({"--version", "5", "--username", "backend", "--password", backend_password,
                     "--subscribe", registry_path + "/devices/+/events/#"}));
  ASSERT_TRUE(app.wait_for_output("\"subscribed\"", 20s)) << app.output() << aegisd_->output();

  child wrong(mqtt_js({"--version", "5", "--username", "backend", "--password", "wrong"}));
  EXPECT_EQ(wrong.wait_exit(40s), 1) << wrong.output();
  EXPECT_FALSE(contains(wrong.output(), "\"connect\"")) << wrong.output();

  EXPECT_EQ(upgrade_status("chat"), 400);
  EXPECT_EQ(upgrade_status("mqttv3.1"), 400);
  EXPECT_EQ(upgrade_status("mqtt", "8"), 426);
  const auto plain = run({"curl", "-sS", "--cacert", ca_, "-o", "/dev/null", "-w", "%{http_code}",
                          "https://localhost:" + https_port_ + "/mqtt"});
  ASSERT_EQ(plain.rc, 0) << plain.output;
  EXPECT_EQ(plain.output, "404") << "no upgrade asked: an ordinary (unknown) HTTP resource";
  EXPECT_EQ(api("GET", "/api/v1/" + device_path("sensor-1")).first, 200);

  const auto pub =
      with(device_client("mosquitto_pub", device_path("sensor-2"), device_jwt("sensor-2")),
           {"-t", "/devices/sensor-2/events", "-q", "1", "-m", "after-refusals"});
  EXPECT_TRUE(publish_until_received(app, pub, "after-refusals")) << app.output();
  EXPECT_EQ(app.wait_exit(20s), 0) << app.output();
}

// Hand-made frames (tests/interop/ws_raw_client.py): a CONNECT split over three fragments with
// a ping between them and two packets in one frame reach the broker whole; an unmasked frame
// (1002) and a text frame (1003) close only their own session.
TEST_F(WebSocketE2E, SplitPacketsAndHostileFramesAgainstTheRealBroker) {
  child app(mqtt_js({"--version", "5", "--username", "backend", "--password", backend_password,
                     "--subscribe", registry_path + "/devices/+/events/#"}));
  ASSERT_TRUE(app.wait_for_output("\"subscribed\"", 20s)) << app.output() << aegisd_->output();
  const auto raw = [&](const std::string& mode) {
    return run({"/usr/bin/python3", "-u",
                std::string(AEGIS_SOURCE_DIR) + "/tests/interop/ws_raw_client.py", mode, "--port",
                https_port_, "--ca", ca_, "--username", "backend", "--password", backend_password,
                "--subscribe", registry_path + "/devices/+/events/#"},
               30s);
  };
  const auto split = raw("split");
  EXPECT_EQ(split.rc, 0) << split.output << aegisd_->output();
  for (const char* line : {"UPGRADE ok", "PONG between", "CONNACK 0", "SUBACK 1", "PINGRESP"}) {
    EXPECT_TRUE(contains(split.output, line)) << line << ": " << split.output;
  }
  const auto unmasked = raw("unmasked");
  EXPECT_EQ(unmasked.rc, 0) << unmasked.output;
  EXPECT_TRUE(contains(unmasked.output, "CLOSE 1002\nEND")) << unmasked.output;
  const auto text = raw("text");
  EXPECT_EQ(text.rc, 0) << text.output;
  EXPECT_TRUE(contains(text.output, "CLOSE 1003\nEND")) << text.output;
  EXPECT_TRUE(aegisd_->wait_for_output("WebSocket closed with 1002", 10s)) << aegisd_->output();

  const auto pub =
      with(device_client("mosquitto_pub", device_path("sensor-2"), device_jwt("sensor-2")),
           {"-t", "/devices/sensor-2/events", "-q", "1", "-m", "after-hostile-frames"});
  EXPECT_TRUE(publish_until_received(app, pub, "after-hostile-frames")) << app.output();
  EXPECT_EQ(app.wait_exit(20s), 0) << app.output();
}

} // namespace
} // namespace aegis::app::testing::e2e
