// Issue 5's third-party proof beyond mosquitto (device_e2e_test.cpp): the paho Python client
// and MQTT.js with a `jose` JWT as IoT Core's samples used them, mutual TLS with a certificate
// from an external CA registered on the registry (made with the `openssl` CLI), a gateway
// acting for a bound device (paho), and config at QoS 1 with a hand-made client that leaves a
// version unacknowledged, all against the real aegisd. The scripts are tests/interop/*.py
// (Debian's /usr/bin/python3, never pyenv's) and tests/node/mqtt-device.mjs.

#include "device_e2e_fixture.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace aegis::app::testing::e2e;
using aegis::app::testing::child;

class InteropE2E : public hub_fixture {
protected:
  // Sends a command to `device` until the API accepts it (the device subscribes asynchronously).
  int send_command_until_accepted(child& device_process, const std::string& device,
                                  const json& body) {
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    int status = 0;
    while (device_process.running() && std::chrono::steady_clock::now() < deadline) {
      status = api("POST", "/api/v1/" + device_path(device) + ":sendCommandToDevice", body).first;
      if (status == 200) {
        break;
      }
      std::this_thread::sleep_for(200ms);
    }
    return status;
  }

  json wait_for_device_field(const std::string& device, const std::string& field) {
    json d;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      d = api("GET", "/api/v1/" + device_path(device)).second;
      if (d.contains(field)) {
        break;
      }
      std::this_thread::sleep_for(200ms);
    }
    return d;
  }

  // openssl: a self-signed P-256 CA (the req -x509 default extensions make it CA:TRUE).
  void make_ca(const std::string& name) {
    ASSERT_EQ(
        run({"openssl", "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", (dir_ / (name + ".key")).string(),
             "-out", (dir_ / (name + ".crt")).string(), "-subj", "/CN=" + name, "-days", "30"})
            .rc,
        0);
  }

  // openssl: a new key and a certificate for `subject`, signed by the CA `ca`.
  void issue(const std::string& ca, const std::string& name, const std::string& subject,
             const std::string& extensions = "extendedKeyUsage=clientAuth\n") {
    const fs::path ext = dir_ / (name + ".ext");
    std::ofstream(ext) << extensions;
    ASSERT_EQ(
        run({"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", (dir_ / (name + ".key")).string(), "-out",
             (dir_ / (name + ".csr")).string(), "-subj", subject})
            .rc,
        0);
    const auto r = run({"openssl", "x509", "-req", "-in", (dir_ / (name + ".csr")).string(), "-CA",
                        (dir_ / (ca + ".crt")).string(), "-CAkey", (dir_ / (ca + ".key")).string(),
                        "-CAcreateserial", "-days", "2", "-extfile", ext.string(), "-out",
                        (dir_ / (name + ".crt")).string()});
    ASSERT_EQ(r.rc, 0) << r.output;
  }

  // The registration dance: a code, a verification certificate with it as CN, registration.
  std::pair<int, json> register_ca(const std::string& ca) {
    const auto code = api("POST", "/api/v1/ca:registrationCode");
    EXPECT_EQ(code.first, 200) << code.second.dump();
    const std::string cn = code.second.value("registrationCode", "");
    EXPECT_FALSE(cn.empty()) << code.second.dump();
    issue(ca, ca + "-verification", "/CN=" + cn, "basicConstraints=CA:FALSE\n");
    return api("POST", registries_api + "/" + registry_id + ":registerCaCertificate",
               {{"certificate", read_text(dir_ / (ca + ".crt"))},
                {"verificationCertificate", read_text(dir_ / (ca + "-verification.crt"))}});
  }

  run_result publish_with_cert(const std::string& device, const std::string& name,
                               const std::string& payload) {
    return run(with(cert_client("mosquitto_pub", device_path(device), dir_ / (name + ".crt"),
                                dir_ / (name + ".key")),
                    {"-t", "/devices/" + device + "/events", "-q", "1", "-m", payload}));
  }
};

// paho-mqtt 1.6 (Debian), as cloudiot_mqtt_example.py: telemetry, config on subscribe, a command.
TEST_F(InteropE2E, PahoDeviceSendsTelemetryAndReceivesConfigAndCommand) {
  ASSERT_EQ(run({"/usr/bin/python3", "-c", "import paho.mqtt.client"}).rc, 0)
      << "python3-paho-mqtt missing: run scripts/install-deps";
  const auto cfg = api("POST", "/api/v1/" + device_path("sensor-1") + ":modifyCloudToDeviceConfig",
                       {{"binaryData", "ZmFuPW9u"}}); // "fan=on"
  ASSERT_EQ(cfg.first, 200) << cfg.second.dump();
  auto listener = start_listener();

  child device(
      paho("device", "sensor-1", keys_.at("fleet/sensor-1"), {"--events", "paho-telemetry-21.5"}));
  ASSERT_TRUE(device.wait_for_output("SUBSCRIBED", 20s)) << device.output() << aegisd_->output();
  EXPECT_EQ(send_command_until_accepted(device, "sensor-1",
                                        {{"binaryData", "b3Blbg=="}, {"subfolder", "valve"}}),
            200);
  EXPECT_EQ(device.wait_exit(20s), 0) << device.output() << aegisd_->output();
  EXPECT_TRUE(contains(device.output(), "CONNACK 0")) << device.output();
  // Config at QoS 1 on subscribe, then the command on the QoS 0 subscription.
  EXPECT_TRUE(contains(device.output(), "MESSAGE /devices/sensor-1/config 1 fan=on"))
      << device.output();
  EXPECT_TRUE(contains(device.output(), "MESSAGE /devices/sensor-1/commands/valve 0 open"))
      << device.output();

  ASSERT_TRUE(listener->wait_for_output("paho-telemetry-21.5", 10s)) << listener->output();
  EXPECT_TRUE(
      contains(listener->output(), registry_path + "/devices/sensor-1/events paho-telemetry-21.5"))
      << listener->output();
  // The acknowledged config is recorded on the device.
  const auto d = wait_for_device_field("sensor-1", "lastConfigAckTime");
  EXPECT_TRUE(d.contains("lastConfigAckTime")) << d.dump();
  EXPECT_TRUE(d["config"].contains("deviceAckTime")) << d.dump();
}

// MQTT.js 5 with a `jose` JWT, as cloudiot_mqtt_example_nodejs.js; an MQTT 5 application
// account receives the telemetry with IoT Core's attributes as user properties.
TEST_F(InteropE2E, MqttJsDeviceAndApplicationWithUserProperties) {
  const fs::path node_dir = fs::path(AEGIS_SOURCE_DIR) / "tests/node";
  ASSERT_TRUE(fs::exists(node_dir / "node_modules/mqtt/package.json"))
      << "npm mqtt missing: run scripts/install-deps (npm ci in tests/node)";
  ASSERT_TRUE(fs::exists(node_dir / "node_modules/jose/package.json"))
      << "npm jose missing: run scripts/install-deps";
  const auto cfg = api("POST", "/api/v1/" + device_path("sensor-2") + ":modifyCloudToDeviceConfig",
                       {{"binaryData", "bW9kZT1ub2Rl"}}); // "mode=node"
  ASSERT_EQ(cfg.first, 200) << cfg.second.dump();

  child node({"node", (node_dir / "mqtt-device.mjs").string(), mqtt_port_, ca_, project, location,
              registry_id, "sensor-2", keys_.at("fleet/sensor-2").string(), "backend",
              backend_password, "from-mqtt-js"});
  ASSERT_EQ(node.wait_exit(40s), 0) << node.output() << aegisd_->output();

  json app_message;
  bool config = false;
  bool puback = false;
  std::istringstream lines(node.output());
  for (std::string line; std::getline(lines, line);) {
    const auto j = json::parse(line, nullptr, false);
    if (j.is_discarded()) {
      continue;
    }
    if (j["event"] == "app" && j["payload"] == "from-mqtt-js") {
      app_message = j;
    } else if (j["event"] == "config") {
      config = j["topic"] == "/devices/sensor-2/config" && j["payload"] == "mode=node";
    } else if (j["event"] == "puback") {
      puback = true;
    }
  }
  EXPECT_TRUE(config) << node.output();
  EXPECT_TRUE(puback) << node.output();
  ASSERT_TRUE(app_message.is_object()) << node.output();
  EXPECT_EQ(app_message["topic"], registry_path + "/devices/sensor-2/events/interop/node");
  EXPECT_EQ(app_message["qos"], 1);
  const auto& props = app_message["userProperties"];
  EXPECT_EQ(props["deviceId"], "sensor-2") << props.dump();
  EXPECT_EQ(props["deviceRegistryId"], registry_id) << props.dump();
  EXPECT_EQ(props["deviceRegistryLocation"], location) << props.dump();
  EXPECT_EQ(props["projectId"], project) << props.dump();
  EXPECT_EQ(props["subFolder"], "interop/node") << props.dump();
  const auto device = api("GET", "/api/v1/" + device_path("sensor-2")).second;
  EXPECT_EQ(props["deviceNumId"], device["numId"]) << props.dump() << device.dump();
}

// Mutual TLS with a certificate issued by the operator's own CA, registered on the registry
// with a verification certificate; a certificate from an unregistered CA opens nothing.
TEST_F(InteropE2E, MutualTlsWithARegisteredExternalCa) {
  make_ca("acme-ca");
  make_ca("rogue-ca");
  issue("acme-ca", "sensor-1-by-acme", "/CN=sensor-1");
  issue("rogue-ca", "sensor-1-by-rogue", "/CN=sensor-1");

  // Before registration the acme certificate is as foreign as the rogue one.
  EXPECT_TRUE(refused_at_connect(publish_with_cert("sensor-1", "sensor-1-by-acme", "too-early")));

  // A verification certificate with a wrong code is refused.
  issue("acme-ca", "acme-ca-wrong-verification", "/CN=not-a-registration-code",
        "basicConstraints=CA:FALSE\n");
  const auto wrong =
      api("POST", registries_api + "/" + registry_id + ":registerCaCertificate",
          {{"certificate", read_text(dir_ / "acme-ca.crt")},
           {"verificationCertificate", read_text(dir_ / "acme-ca-wrong-verification.crt")}});
  EXPECT_NE(wrong.first, 200) << wrong.second.dump();

  const auto registered = register_ca("acme-ca");
  ASSERT_EQ(registered.first, 200) << registered.second.dump();
  EXPECT_TRUE(contains(registered.second.dump(), "acme-ca")) << registered.second.dump();

  auto listener = start_listener();
  const auto ok = publish_with_cert("sensor-1", "sensor-1-by-acme", "by-acme-certificate");
  EXPECT_EQ(ok.rc, 0) << ok.output << aegisd_->output();
  EXPECT_TRUE(listener->wait_for_output("by-acme-certificate", 10s)) << listener->output();
  EXPECT_TRUE(
      contains(listener->output(), registry_path + "/devices/sensor-1/events by-acme-certificate"));

  // A URI SAN names the device as fully as the client id (and must agree with the CN).
  issue("acme-ca", "sensor-2-by-acme", "/CN=sensor-2",
        "extendedKeyUsage=clientAuth\nsubjectAltName=URI:aegis:" + device_path("sensor-2") + "\n");
  const auto by_uri = publish_with_cert("sensor-2", "sensor-2-by-acme", "by-uri-san");
  EXPECT_EQ(by_uri.rc, 0) << by_uri.output << aegisd_->output();
  issue("acme-ca", "two-names", "/CN=sensor-1",
        "extendedKeyUsage=clientAuth\nsubjectAltName=URI:aegis:" + device_path("sensor-2") + "\n");
  EXPECT_TRUE(refused_at_connect(publish_with_cert("sensor-2", "two-names", "two-names")));
  EXPECT_TRUE(refused_at_connect(publish_with_cert("sensor-1", "two-names", "two-names")));

  // Refused: the unregistered CA; a good certificate with another device's client id; an
  // unknown device; a certificate not for client use.
  EXPECT_TRUE(refused_at_connect(publish_with_cert("sensor-1", "sensor-1-by-rogue", "rogue")));
  const auto mismatch =
      run(with(cert_client("mosquitto_pub", device_path("sensor-2"), dir_ / "sensor-1-by-acme.crt",
                           dir_ / "sensor-1-by-acme.key"),
               {"-t", "/devices/sensor-2/events", "-q", "1", "-m", "mismatch"}));
  EXPECT_TRUE(refused_at_connect(mismatch)) << mismatch.output;
  issue("acme-ca", "ghost-by-acme", "/CN=ghost");
  EXPECT_TRUE(refused_at_connect(publish_with_cert("ghost", "ghost-by-acme", "ghost")));
  issue("acme-ca", "sensor-1-server-only", "/CN=sensor-1", "extendedKeyUsage=serverAuth\n");
  EXPECT_TRUE(
      refused_at_connect(publish_with_cert("sensor-1", "sensor-1-server-only", "server-only")));

  // Removing the CA from the registry (PATCH credentials) ends its certificates' reach.
  const auto removed = api("PATCH", registries_api + "/" + registry_id + "?updateMask=credentials",
                           {{"credentials", json::array()}});
  EXPECT_EQ(removed.first, 200) << removed.second.dump();
  EXPECT_TRUE(
      refused_at_connect(publish_with_cert("sensor-1", "sensor-1-by-acme", "after-removal")));

  expect_other_device_works(*listener, "mtls");
  for (const char* leaked :
       {"too-early", "two-names", "rogue", "mismatch", "ghost", "server-only", "after-removal"}) {
    expect_not_heard(*listener, std::string(" ") + leaked + "\n");
  }
}

// A gateway (association only) attaches its bound leaf and acts for it; attaching a device
// that is not bound is refused with a GATEWAY_ATTACHMENT_ERROR on /devices/{gw}/errors, and
// publishing for it closes the connection.
TEST_F(InteropE2E, GatewayActsForItsBoundLeafOnly) {
  const fs::path gw_key = make_es256_key("gateway-1");
  create_device(
      "gateway-1",
      {{"credentials", json::array({es256_credential(gw_key)})},
       {"gatewayConfig", {{"gatewayType", "GATEWAY"}, {"gatewayAuthMethod", "ASSOCIATION_ONLY"}}}});
  create_device("leaf-1", json::object());
  create_device("stray-1", json::object());
  const auto bound = api("POST", registries_api + "/" + registry_id + ":bindDeviceToGateway",
                         {{"gatewayId", "gateway-1"}, {"deviceId", "leaf-1"}});
  ASSERT_EQ(bound.first, 200) << bound.second.dump();
  ASSERT_EQ(api("POST", "/api/v1/" + device_path("leaf-1") + ":modifyCloudToDeviceConfig",
                {{"binaryData", "bGVhZi1jb25maWc="}}) // "leaf-config"
                .first,
            200);

  auto listener = start_listener();
  child gw(paho("gateway", "gateway-1", gw_key,
                {"--leaf", "leaf-1", "--unbound", "stray-1", "--events", "leaf-telemetry"}));
  EXPECT_EQ(gw.wait_exit(40s), 0) << gw.output() << aegisd_->output();
  EXPECT_TRUE(contains(gw.output(), "MESSAGE /devices/leaf-1/config 1 leaf-config")) << gw.output();
  EXPECT_TRUE(contains(gw.output(), "LEAF EVENT SENT")) << gw.output();
  // The error names the refused device and the attach (reference A.2).
  const auto at = gw.output().find("MESSAGE /devices/gateway-1/errors 0 ");
  ASSERT_NE(at, std::string::npos) << gw.output();
  const auto line = gw.output().substr(at, gw.output().find('\n', at) - at);
  const auto error = json::parse(line.substr(line.find('{')), nullptr, false);
  ASSERT_FALSE(error.is_discarded()) << line;
  EXPECT_EQ(error["error_type"], "GATEWAY_ATTACHMENT_ERROR") << line;
  EXPECT_EQ(error["device_id"], "stray-1") << line;
  EXPECT_EQ(error["mqtt_message_info"]["topic"], "/devices/stray-1/attach") << line;
  // Acting for it anyway: the server closed the connection.
  EXPECT_TRUE(contains(gw.output(), "DISCONNECTED")) << gw.output();

  // The application heard the leaf under the leaf's own name, with the leaf's attributes.
  EXPECT_TRUE(listener->wait_for_output("leaf-telemetry", 10s)) << listener->output();
  EXPECT_TRUE(
      contains(listener->output(), registry_path + "/devices/leaf-1/events/gw leaf-telemetry"))
      << listener->output();
  // The application may watch gateway errors too (server/broker/README.md's namespace).
  EXPECT_TRUE(listener->wait_for_output(registry_path + "/devices/gateway-1/errors ", 10s))
      << listener->output();
  const auto leaf = wait_for_device_field("leaf-1", "lastEventTime");
  EXPECT_EQ(leaf["gatewayConfig"].value("lastAccessedGatewayId", ""), "gateway-1") << leaf.dump();

  expect_other_device_works(*listener, "gateway");
  expect_not_heard(*listener, "unbound-leak");
  EXPECT_TRUE(aegisd_->running()) << aegisd_->output();
}

// Unbinding a leaf ends the gateway's acting for it: the gateway, still publishing the leaf's
// telemetry, is closed within about a second.
TEST_F(InteropE2E, UnbindingEndsTheGatewaysActingForTheLeaf) {
  const fs::path gw_key = make_es256_key("gateway-1");
  create_device(
      "gateway-1",
      {{"credentials", json::array({es256_credential(gw_key)})},
       {"gatewayConfig", {{"gatewayType", "GATEWAY"}, {"gatewayAuthMethod", "ASSOCIATION_ONLY"}}}});
  create_device("leaf-1", json::object());
  const std::string bind = registries_api + "/" + registry_id;
  const json binding = {{"gatewayId", "gateway-1"}, {"deviceId", "leaf-1"}};
  ASSERT_EQ(api("POST", bind + ":bindDeviceToGateway", binding).first, 200);

  auto listener = start_listener();
  child gw(paho("gateway-stream", "gateway-1", gw_key, {"--leaf", "leaf-1", "--deadline", "40"}));
  ASSERT_TRUE(listener->wait_for_output(registry_path + "/devices/leaf-1/events leaf-stream-", 20s))
      << listener->output() << gw.output() << aegisd_->output();
  const auto since = std::chrono::steady_clock::now();
  const auto unbound = api("POST", bind + ":unbindDeviceFromGateway", binding);
  ASSERT_EQ(unbound.first, 200) << unbound.second.dump();
  EXPECT_EQ(gw.wait_exit(10s), 0) << "the gateway still acts for the unbound leaf: " << gw.output();
  EXPECT_LT(std::chrono::steady_clock::now() - since, 5s);
  EXPECT_TRUE(contains(gw.output(), "DISCONNECTED")) << gw.output();
  expect_other_device_works(*listener, "unbind");
}

// Config at QoS 1: a newer version replaces one the device has not acknowledged, and the
// acknowledged version is recorded on the device (a hand-made MQTT client, because stock ones
// acknowledge everything).
TEST_F(InteropE2E, NewerConfigReplacesAnUnacknowledgedOne) {
  const std::string config = "/api/v1/" + device_path("sensor-1") + ":modifyCloudToDeviceConfig";
  const auto first = api("POST", config, {{"binaryData", "Zmlyc3QtdW5hY2tlZA=="}});
  ASSERT_EQ(first.first, 200) << first.second.dump(); // "first-unacked"
  child raw({"/usr/bin/python3", "-u",
             std::string(AEGIS_SOURCE_DIR) + "/tests/interop/raw_config_device.py", "localhost",
             mqtt_port_, ca_, device_path("sensor-1"), device_jwt("sensor-1"), "sensor-1",
             "second-acked", "30"});
  ASSERT_TRUE(raw.wait_for_output("payload=first-unacked", 20s))
      << raw.output() << aegisd_->output();
  EXPECT_TRUE(contains(raw.output(), "qos=1")) << raw.output();
  const auto second = api("POST", config, {{"binaryData", "c2Vjb25kLWFja2Vk"}});
  ASSERT_EQ(second.first, 200) << second.second.dump(); // "second-acked"
  EXPECT_EQ(raw.wait_exit(25s), 0) << raw.output() << aegisd_->output();
  EXPECT_TRUE(contains(raw.output(), "payload=second-acked")) << raw.output();
  EXPECT_TRUE(contains(raw.output(), "ACKED")) << raw.output();

  const std::string acked_version = second.second.value("version", "");
  ASSERT_FALSE(acked_version.empty()) << second.second.dump();
  json versions;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    versions = api("GET", "/api/v1/" + device_path("sensor-1") + "/configVersions").second;
    if (contains(versions.dump(), "deviceAckTime")) {
      break;
    }
    std::this_thread::sleep_for(200ms);
  }
  ASSERT_TRUE(versions.contains("deviceConfigs")) << versions.dump();
  for (const auto& v : versions["deviceConfigs"]) {
    EXPECT_EQ(v.contains("deviceAckTime"), v["version"] == acked_version)
        << "only version " << acked_version << " was acknowledged: " << versions.dump();
  }
  const auto device = api("GET", "/api/v1/" + device_path("sensor-1")).second;
  EXPECT_TRUE(device.contains("lastConfigAckTime")) << device.dump();
}

} // namespace
