// An HTTPS device and an MQTT device of one registry, against the real aegisd (issue 6, "an HTTP
// device and an MQTT device of the same registry see the same config and commands"): the HTTP
// device long-polls with curl and a python3-jwt token, the MQTT device is mosquitto_sub with its
// own token, and the application changes their configuration and sends them commands through
// the admin API with curl. Fixture: device_e2e_fixture.hpp (the pattern of device_e2e_test.cpp).

#include "device_e2e_fixture.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace aegis::app::testing::e2e {
namespace {

class BridgeMqttE2E : public hub_fixture {
protected:
  // curl as an HTTPS-only device: `-w` appends the status on its own line.
  std::vector<std::string> device_http(const std::string& device, const std::string& suffix,
                                       const std::string& token) const {
    return {"curl",
            "-sS",
            "--max-time",
            "40",
            "--cacert",
            ca_,
            "-H",
            "Authorization: Bearer " + token,
            "-w",
            "\n%{http_code}",
            "https://localhost:" + https_port_ + "/v1/" + device_path(device) + suffix};
  }
  static int status_of(const std::string& output) {
    const auto nl = output.rfind('\n');
    return nl == std::string::npos ? 0 : std::atoi(output.c_str() + nl + 1);
  }
  // mosquitto_sub as an MQTT device on its own topics (one client per device: a second one with
  // the same client id would take the session over), printing topic and payload; its
  // subscriptions are active when this returns.
  std::unique_ptr<child> mqtt_device(const std::string& device,
                                     const std::vector<std::string>& topics) {
    auto argv = with(device_client("mosquitto_sub", device_path(device), device_jwt(device)),
                     {"-q", "1", "-v", "-d", "-W", "60"});
    for (const auto& t : topics) {
      argv.insert(argv.end(), {"-t", t});
    }
    auto sub = std::make_unique<child>(line_buffered(argv));
    EXPECT_TRUE(sub->wait_for_output("received SUBACK", 15s)) << sub->output() << aegisd_->output();
    return sub;
  }
  std::pair<int, json> modify_config(const std::string& device, const std::string& base64) {
    return api("POST", "/api/v1/" + device_path(device) + ":modifyCloudToDeviceConfig",
               {{"binaryData", base64}});
  }
  // sendCommandToDevice, repeated while the device does not count as subscribed yet (a poll or
  // a subscription just opened); the final status.
  int send_command(const std::string& device, const std::string& base64,
                   const std::string& subfolder) {
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      const auto r = api("POST", "/api/v1/" + device_path(device) + ":sendCommandToDevice",
                         {{"binaryData", base64}, {"subfolder", subfolder}});
      status = r.first;
      if (status != 400 || r.second["error"]["status"] != "FAILED_PRECONDITION") {
        break;
      }
      std::this_thread::sleep_for(200ms);
    }
    return status;
  }
};

// Config version of a device as the admin API lists it (newest first).
std::string newest_version(const json& list) {
  if (!list.contains("deviceConfigs") || list["deviceConfigs"].empty()) {
    return {};
  }
  const auto& v = list["deviceConfigs"][0]["version"];
  return v.is_string() ? v.get<std::string>() : v.dump();
}

TEST_F(BridgeMqttE2E, OneConfigChangeReachesTheDeviceOverHttpAndMqttAlike) {
  // sensor-1 listens on both transports at once: an MQTT config subscription and an HTTPS long
  // poll; one modifyCloudToDeviceConfig must reach both with the same version and bytes.
  const std::string jwt = device_jwt("sensor-1");
  const auto now = run(device_http("sensor-1", "/config?local_version=0", jwt));
  ASSERT_EQ(status_of(now.output), 200) << now.output << aegisd_->output();
  ASSERT_TRUE(contains(now.output, "\"version\":\"1\"")) << now.output;

  auto mqtt = mqtt_device("sensor-1", {"/devices/sensor-1/config"});
  child poll(device_http("sensor-1", "/config?local_version=1&wait=30", jwt));
  EXPECT_EQ(poll.wait_exit(1s), -1) << "answered without waiting: " << poll.output();

  const auto cfg = modify_config("sensor-1", "bW9kZT1lY28="); // "mode=eco"
  ASSERT_EQ(cfg.first, 200) << cfg.second.dump();
  EXPECT_EQ(cfg.second["version"], "2") << cfg.second.dump();

  EXPECT_EQ(poll.wait_exit(10s), 0) << poll.output();
  EXPECT_EQ(status_of(poll.output()), 200) << poll.output();
  EXPECT_TRUE(contains(poll.output(), "\"version\":\"2\"")) << poll.output();
  EXPECT_TRUE(contains(poll.output(), "bW9kZT1lY28=")) << poll.output();
  EXPECT_TRUE(mqtt->wait_for_output("/devices/sensor-1/config mode=eco", 10s)) << mqtt->output();

  // Asked again over HTTPS, the device is told the version it already has over MQTT.
  const auto again = run(device_http("sensor-1", "/config?local_version=2", jwt));
  EXPECT_EQ(status_of(again.output), 200) << again.output;
  EXPECT_TRUE(contains(again.output, "\"version\":\"2\"")) << again.output;
}

TEST_F(BridgeMqttE2E, AnHttpDeviceAndAnMqttDeviceSeeTheSameConfigAndTheirOwnCommands) {
  // sensor-1 speaks only HTTPS, sensor-2 only MQTT.
  const std::string jwt = device_jwt("sensor-1");
  auto mqtt = mqtt_device("sensor-2", {"/devices/sensor-2/config", "/devices/sensor-2/commands/#"});
  child config_poll(device_http("sensor-1", "/config?local_version=1&wait=30", jwt));
  EXPECT_EQ(config_poll.wait_exit(1s), -1) << config_poll.output();

  // The same configuration for both, one call per device (configurations are per device).
  const auto c1 = modify_config("sensor-1", "bW9kZT1ib29zdA=="); // "mode=boost"
  const auto c2 = modify_config("sensor-2", "bW9kZT1ib29zdA==");
  ASSERT_EQ(c1.first, 200) << c1.second.dump();
  ASSERT_EQ(c2.first, 200) << c2.second.dump();
  EXPECT_EQ(c1.second["version"], c2.second["version"]);
  EXPECT_EQ(config_poll.wait_exit(10s), 0) << config_poll.output();
  EXPECT_EQ(status_of(config_poll.output()), 200) << config_poll.output();
  EXPECT_TRUE(contains(config_poll.output(), "\"version\":\"2\"")) << config_poll.output();
  EXPECT_TRUE(contains(config_poll.output(), "bW9kZT1ib29zdA==")) << config_poll.output();
  EXPECT_TRUE(mqtt->wait_for_output("/devices/sensor-2/config mode=boost", 10s)) << mqtt->output();
  EXPECT_EQ(
      newest_version(api("GET", "/api/v1/" + device_path("sensor-1") + "/configVersions").second),
      "2");
  EXPECT_EQ(
      newest_version(api("GET", "/api/v1/" + device_path("sensor-2") + "/configVersions").second),
      "2");

  // Commands: each device gets its own, over its own transport, and nothing of the other's.
  child command_poll(device_http("sensor-1", "/commands?wait=30", jwt));
  EXPECT_EQ(send_command("sensor-1", "Zm9yLWh0dHA=", "door"), 200); // "for-http"
  EXPECT_EQ(send_command("sensor-2", "Zm9yLW1xdHQ=", "door"), 200); // "for-mqtt"
  EXPECT_EQ(command_poll.wait_exit(10s), 0) << command_poll.output();
  EXPECT_EQ(status_of(command_poll.output()), 200) << command_poll.output();
  EXPECT_TRUE(contains(command_poll.output(), "Zm9yLWh0dHA=")) << command_poll.output();
  EXPECT_TRUE(contains(command_poll.output(), "\"subFolder\":\"door\"")) << command_poll.output();
  EXPECT_FALSE(contains(command_poll.output(), "Zm9yLW1xdHQ=")) << command_poll.output();
  EXPECT_TRUE(mqtt->wait_for_output("/devices/sensor-2/commands/door for-mqtt", 10s))
      << mqtt->output();
  EXPECT_FALSE(contains(mqtt->output(), "for-http")) << mqtt->output();

  // And the other way round on the same registry: the MQTT device's command does not wait in
  // the HTTP device's next poll.
  const auto next = run(device_http("sensor-1", "/commands", jwt));
  EXPECT_EQ(status_of(next.output), 204) << next.output;
}

} // namespace
} // namespace aegis::app::testing::e2e
