// The IoT Core device story against the real aegisd, with third-party tools only: devices are
// provisioned through the admin API with curl, their keys made by `openssl` as IoT Core's
// documentation shows, their JWTs minted by python3-jwt, and they talk MQTT with mosquitto_pub
// and mosquitto_sub exactly as IoT Core's samples did. An application account receives their
// telemetry. Then the hostile cases: each is refused, and nothing reaches anyone else.

#include "device_e2e_fixture.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using namespace aegis::app::testing::e2e;
using aegis::app::testing::child;

class DeviceE2E : public hub_fixture {
protected:
  // The HTTP status of one call, 0 when curl could not get an answer (no failure recorded).
  int api_quiet(const std::string& method, const std::string& path, const json& body) {
    const auto r =
        run({"curl", "-sS", "--cacert", ca_, "-H", "Authorization: Bearer " + token_, "-X", method,
             "-w", "\n%{http_code}", "-H", "Content-Type: application/json", "--data-binary",
             body.dump(), "https://localhost:" + https_port_ + path});
    if (r.rc != 0) {
      return 0;
    }
    return std::atoi(r.output.c_str() + r.output.rfind('\n') + 1);
  }

  std::string read_file(const fs::path& p) { return read_text(p); }
};

TEST_F(DeviceE2E, TelemetryReachesTheApplicationAccount) {
  child sub(with(backend_client("mosquitto_sub"), {"-t", registry_path + "/devices/+/events/#",
                                                   "-q", "1", "-C", "1", "-W", "20", "-v"}));
  const auto pub =
      with(device_client("mosquitto_pub", device_path("sensor-1"), device_jwt("sensor-1")),
           {"-t", "/devices/sensor-1/events/temperature", "-q", "1", "-m", "21.5C"});
  ASSERT_TRUE(publish_until_seen(sub, pub, "21.5C")) << sub.output() << aegisd_->output();
  EXPECT_EQ(sub.wait_exit(15s), 0) << sub.output();
  EXPECT_NE(sub.output().find(registry_path + "/devices/sensor-1/events/temperature 21.5C"),
            std::string::npos)
      << sub.output();

  // Activity times are written in batches, about once a second.
  json device;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    device = api("GET", "/api/v1/" + device_path("sensor-1")).second;
    if (device.contains("lastEventTime")) {
      break;
    }
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_TRUE(device.contains("lastEventTime")) << device.dump();
}

TEST_F(DeviceE2E, ConfigArrivesOnSubscribeAndCommandsWhileSubscribed) {
  const auto cfg = api("POST", "/api/v1/" + device_path("sensor-1") + ":modifyCloudToDeviceConfig",
                       {{"binaryData", "c2V0cG9pbnQ9MjA="}}); // "setpoint=20"
  ASSERT_EQ(cfg.first, 200) << cfg.second.dump();

  child config_sub(
      with(device_client("mosquitto_sub", device_path("sensor-1"), device_jwt("sensor-1")),
           {"-t", "/devices/sensor-1/config", "-q", "1", "-C", "1", "-W", "20"}));
  EXPECT_EQ(config_sub.wait_exit(25s), 0) << config_sub.output() << aegisd_->output();
  EXPECT_NE(config_sub.output().find("setpoint=20"), std::string::npos) << config_sub.output();

  // Nobody subscribed: refused, nothing queued.
  const auto early = api("POST", "/api/v1/" + device_path("sensor-2") + ":sendCommandToDevice",
                         {{"binaryData", "cmVib290"}});
  EXPECT_EQ(early.first, 400) << early.second.dump();
  EXPECT_EQ(early.second["error"]["status"], "FAILED_PRECONDITION") << early.second.dump();

  child command_sub(
      with(device_client("mosquitto_sub", device_path("sensor-2"), device_jwt("sensor-2")),
           {"-t", "/devices/sensor-2/commands/#", "-q", "1", "-C", "1", "-W", "20", "-v"}));
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  int status = 0;
  while (command_sub.running() && std::chrono::steady_clock::now() < deadline) {
    status = api("POST", "/api/v1/" + device_path("sensor-2") + ":sendCommandToDevice",
                 {{"binaryData", "cmVib290"}, {"subfolder", "power"}})
                 .first;
    if (status == 200) {
      break;
    }
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_EQ(status, 200);
  EXPECT_EQ(command_sub.wait_exit(15s), 0) << command_sub.output() << aegisd_->output();
  EXPECT_NE(command_sub.output().find("/devices/sensor-2/commands/power reboot"), std::string::npos)
      << command_sub.output();
}

TEST_F(DeviceE2E, StateIsStored) {
  const auto r =
      run(with(device_client("mosquitto_pub", device_path("sensor-1"), device_jwt("sensor-1")),
               {"-t", "/devices/sensor-1/state", "-q", "1", "-m", "battery=97"}));
  ASSERT_EQ(r.rc, 0) << r.output << aegisd_->output();
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  json states;
  while (std::chrono::steady_clock::now() < deadline) {
    states = api("GET", "/api/v1/" + device_path("sensor-1") + "/states").second;
    if (states.contains("deviceStates") && !states["deviceStates"].empty()) {
      break;
    }
    std::this_thread::sleep_for(200ms);
  }
  ASSERT_TRUE(states.contains("deviceStates")) << states.dump();
  ASSERT_FALSE(states["deviceStates"].empty()) << states.dump();
  EXPECT_EQ(states["deviceStates"][0]["binaryData"], "YmF0dGVyeT05Nw==") << states.dump();
}

// Each hostile attempt fails, and the application account that listens to every device of the
// registry hears nothing but the one legitimate message sent at the end.
TEST_F(DeviceE2E, HostileDevicesAreRefusedAndLeakNothing) {
  child listener(with(backend_client("mosquitto_sub"),
                      {"-t", registry_path + "/devices/+/events/#", "-t",
                       registry_path + "/devices/+/state", "-q", "1", "-v", "-W", "60"}));
  const std::string jwt1 = device_jwt("sensor-1");

  // Device 1's valid token with device 2's client id.
  auto r = run(with(device_client("mosquitto_pub", device_path("sensor-2"), jwt1),
                    {"-t", "/devices/sensor-2/events", "-q", "1", "-m", "forged-id"}));
  EXPECT_NE(r.rc, 0) << r.output;
  // A token for another audience, one signed by a key the device does not have, garbage, none.
  const fs::path stranger = make_es256_key("stranger");
  for (const auto& password : {jwt_for(keys_.at("fleet/sensor-1"), 3600, "other-project"),
                               jwt_for(stranger), std::string("not-a-jwt"), std::string("")}) {
    r = run(with(device_client("mosquitto_pub", device_path("sensor-1"), password),
                 {"-t", "/devices/sensor-1/events", "-q", "1", "-m", "bad-token"}));
    EXPECT_NE(r.rc, 0) << r.output;
  }
  // An unknown device, a registry that does not exist.
  r = run(with(device_client("mosquitto_pub", device_path("ghost"), jwt1),
               {"-t", "/devices/ghost/events", "-q", "1", "-m", "ghost"}));
  EXPECT_NE(r.rc, 0) << r.output;
  r = run(with(device_client("mosquitto_pub", device_path("sensor-1", "nowhere"), jwt1),
               {"-t", "/devices/sensor-1/events", "-q", "1", "-m", "nowhere"}));
  EXPECT_NE(r.rc, 0) << r.output;

  // Subscriptions outside its own config and commands are refused.
  for (const std::string& filter :
       std::vector<std::string>{"#", "/devices/+/config", "$SYS/#", "/devices/sensor-2/commands/#",
                                "/devices/sensor-2/config", "/#", registry_path + "/#"}) {
    for (const std::string version : {"mqttv311", "mqttv5"}) {
      r = run(with(device_client("mosquitto_sub", device_path("sensor-1"), jwt1, version),
                   {"-t", filter, "-W", "5"}));
      EXPECT_NE(r.rc, -1) << filter << " still running";
      EXPECT_TRUE(subscription_denied(r)) << filter << " " << version << ": " << r.output;
    }
  }
  // Publishing as another device, into the application namespace, at QoS 2. (Over-size
  // payloads: HostileE2E.DeviceProfileEscapesAreRefused, which can check the v5 reason code.)
  for (const std::string& topic : std::vector<std::string>{
           "/devices/sensor-2/events", "/devices/sensor-2/state",
           registry_path + "/devices/sensor-2/events", "/devices/sensor-1/config",
           "/devices/sensor-1/commands", "apps/anything"}) {
    r = run(with(device_client("mosquitto_pub", device_path("sensor-1"), jwt1),
                 {"-t", topic, "-q", "1", "-m", "leak"}));
    EXPECT_NE(r.rc, 0) << topic << ": " << r.output;
  }
  r = run(with(device_client("mosquitto_pub", device_path("sensor-1"), jwt1, "mqttv5"),
               {"-t", "/devices/sensor-1/events", "-q", "2", "-m", "leak-qos2"}));
  EXPECT_NE(r.rc, 0) << r.output;

  // The same device id in another registry is another device: no cross-talk.
  ASSERT_EQ(
      api("POST", "/api/v1/projects/acme-iot/locations/eu/registries", {{"id", "fleet2"}}).first,
      200);
  create_es256_device("sensor-1", "fleet2");
  r = run(with(device_client("mosquitto_pub", device_path("sensor-1", "fleet2"),
                             device_jwt("sensor-1", "fleet2")),
               {"-t", "/devices/sensor-1/events", "-q", "1", "-m", "other-registry"}));
  EXPECT_EQ(r.rc, 0) << r.output << aegisd_->output();
  r = run(with(
      device_client("mosquitto_pub", device_path("sensor-1"), device_jwt("sensor-1", "fleet2")),
      {"-t", "/devices/sensor-1/events", "-q", "1", "-m", "wrong-registry-key"}));
  EXPECT_NE(r.rc, 0) << r.output;

  // An application account without a grant cannot listen to devices.
  r = run(with(backend_client("mosquitto_sub", "other"),
               {"-t", registry_path + "/devices/+/events/#", "-W", "5"}));
  EXPECT_TRUE(subscription_denied(r)) << r.output;

  // Finally one legitimate message: it is the only thing the listener ever got.
  const auto pub =
      with(device_client("mosquitto_pub", device_path("sensor-1"), device_jwt("sensor-1")),
           {"-t", "/devices/sensor-1/events", "-q", "1", "-m", "legit"});
  ASSERT_TRUE(publish_until_seen(listener, pub, "legit")) << listener.output();
  listener.signal(SIGTERM);
  listener.wait_exit(5s);
  for (const std::string leaked : {"forged-id", "bad-token", "ghost", "nowhere", "leak",
                                   "other-registry", "wrong-registry-key", "xxxxxxxx"}) {
    EXPECT_EQ(listener.output().find(leaked), std::string::npos) << leaked;
  }
  EXPECT_EQ(aegisd_->exit_code(), -1);
  EXPECT_TRUE(aegisd_->running()) << aegisd_->output();

  // The operator sees why each device was refused; the devices were only told "no".
  const auto audit = api("GET", "/api/v1/audit?action=mqtt.authenticate&pageSize=1000");
  ASSERT_EQ(audit.first, 200) << audit.second.dump();
  const std::string records = audit.second.dump();
  EXPECT_NE(records.find("UNAUTHENTICATED"), std::string::npos) << records;
  for (const std::string why : {"JWT audience is not the device's project",
                                "JWT signature verifies with no credential", "malformed JWT"}) {
    EXPECT_NE(records.find(why), std::string::npos) << why << " in " << records;
  }
}

TEST_F(DeviceE2E, BlockingCutsTheLiveSessionAndRefusesReconnects) {
  child session(
      with(device_client("mosquitto_sub", device_path("sensor-1"), device_jwt("sensor-1")),
           {"-t", "/devices/sensor-1/commands/#", "-q", "1", "-W", "60"}));
  // Wait until the session is live: a command reaches it.
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (std::chrono::steady_clock::now() < deadline &&
         api("POST", "/api/v1/" + device_path("sensor-1") + ":sendCommandToDevice",
             {{"binaryData", "cGluZw=="}})
                 .first != 200) {
    std::this_thread::sleep_for(200ms);
  }
  ASSERT_TRUE(session.running()) << session.output();

  const auto blocked = api("PATCH", "/api/v1/" + device_path("sensor-1") + "?updateMask=blocked",
                           {{"blocked", true}});
  ASSERT_EQ(blocked.first, 200) << blocked.second.dump();
  // mosquitto_sub reconnects after the server closes it, is refused, and exits.
  EXPECT_NE(session.wait_exit(10s), -1) << "blocked device still connected";
  const auto r =
      run(with(device_client("mosquitto_pub", device_path("sensor-1"), device_jwt("sensor-1")),
               {"-t", "/devices/sensor-1/events", "-q", "1", "-m", "blocked"}));
  EXPECT_NE(r.rc, 0) << r.output;
  // The other device is untouched.
  const auto ok =
      run(with(device_client("mosquitto_pub", device_path("sensor-2"), device_jwt("sensor-2")),
               {"-t", "/devices/sensor-2/events", "-q", "1", "-m", "still fine"}));
  EXPECT_EQ(ok.rc, 0) << ok.output;
}

std::string jwt_with_times(const fs::path& key, long iat_offset, long exp_offset) {
  const std::string script = "import jwt, time, sys\n"
                             "now = int(time.time())\n"
                             "print(jwt.encode({'iat': now + int(sys.argv[2]), 'exp': now + "
                             "int(sys.argv[3]), 'aud': 'acme-iot'}, open(sys.argv[1]).read(), "
                             "algorithm='ES256'))\n";
  auto minted = run({"/usr/bin/python3", "-c", script, key.string(), std::to_string(iat_offset),
                     std::to_string(exp_offset)});
  EXPECT_EQ(minted.rc, 0) << minted.output;
  while (!minted.output.empty() && minted.output.back() == '\n') {
    minted.output.pop_back();
  }
  return minted.output;
}

TEST_F(DeviceE2E, ExpiredAndOverlongTokensAreRefused) {
  // This hub runs with a 2 s skew (see SetUp); past exp + skew a token opens nothing.
  for (const auto& [iat, exp] :
       {std::pair{-4000L, -700L}, std::pair{-100L, -10L}, std::pair{0L, 25L * 3600L}}) {
    const auto r = run(with(device_client("mosquitto_pub", device_path("sensor-1"),
                                          jwt_with_times(keys_.at("fleet/sensor-1"), iat, exp)),
                            {"-t", "/devices/sensor-1/events", "-q", "1", "-m", "expired"}));
    EXPECT_NE(r.rc, 0) << iat << ".." << exp << ": " << r.output;
  }
}

TEST_F(DeviceE2E, SessionIsCutWhenItsTokenExpires) {
  // A token valid for 3 s more; with the 2 s skew the session must end about 5 s from now.
  const auto started = std::chrono::steady_clock::now();
  // stdbuf: mosquitto_sub's debug lines would sit in its stdio buffer on a pipe.
  std::vector<std::string> argv{"stdbuf", "-oL"};
  for (auto& a : device_client("mosquitto_sub", device_path("sensor-1"),
                               jwt_with_times(keys_.at("fleet/sensor-1"), 0, 3), "mqttv5")) {
    argv.push_back(a);
  }
  child session(with(argv, {"-t", "/devices/sensor-1/commands/#", "-W", "60", "-d"}));
  ASSERT_TRUE(session.wait_for_output("SUBACK", 10s)) << session.output() << aegisd_->output();
  // mosquitto_sub reconnects with the same (now expired) token, is refused, and exits.
  EXPECT_NE(session.wait_exit(30s), -1) << "session outlived its token: " << session.output();
  EXPECT_GE(std::chrono::steady_clock::now() - started, 3s);
}

TEST_F(DeviceE2E, MutualTlsWithACertificateFromAegisCa) {
  const fs::path key = dir_ / "mtls.key";
  const fs::path csr = dir_ / "mtls.csr";
  ASSERT_EQ(
      run({"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
           "-nodes", "-keyout", key.string(), "-out", csr.string(), "-subj", "/CN=sensor-1"})
          .rc,
      0);
  const auto signed_cert = api("POST", "/api/v1/" + device_path("sensor-1") + ":signCertificate",
                               {{"csr", read_file(csr)}, {"validityDays", 30}});
  ASSERT_EQ(signed_cert.first, 200) << signed_cert.second.dump();
  const fs::path cert = dir_ / "mtls.crt";
  std::ofstream(cert) << signed_cert.second["certificate"].get<std::string>();

  auto pub = device_client("mosquitto_pub", device_path("sensor-1"), "");
  pub.erase(pub.begin() + 9, pub.begin() + 13); // no user name, no password
  const auto r = run(with(pub, {"--cert", cert.string(), "--key", key.string(), "-t",
                                "/devices/sensor-1/events", "-q", "1", "-m", "by certificate"}));
  EXPECT_EQ(r.rc, 0) << r.output << aegisd_->output();
  // The same certificate cannot speak for device 2.
  auto as_d2 = device_client("mosquitto_pub", device_path("sensor-2"), "");
  as_d2.erase(as_d2.begin() + 9, as_d2.begin() + 13);
  const auto refused = run(with(as_d2, {"--cert", cert.string(), "--key", key.string(), "-t",
                                        "/devices/sensor-2/events", "-q", "1", "-m", "not me"}));
  EXPECT_NE(refused.rc, 0) << refused.output;

  // Revoked: refused from then on.
  const auto serial = signed_cert.second["serial"].get<std::string>();
  ASSERT_EQ(api("POST", "/api/v1/certificates:revoke", {{"serial", serial}}).first, 200);
  const auto after = run(with(pub, {"--cert", cert.string(), "--key", key.string(), "-t",
                                    "/devices/sensor-1/events", "-q", "1", "-m", "revoked"}));
  EXPECT_NE(after.rc, 0) << after.output;
}

// kill -9 while the admin API is being written to: every write that was acknowledged (200) is
// there after a restart.
TEST_F(DeviceE2E, AcknowledgedWritesSurviveKill9) {
  std::vector<std::string> acknowledged;
  std::thread killer([this] {
    std::this_thread::sleep_for(1500ms);
    aegisd_->signal(SIGKILL);
  });
  for (int i = 0; i < 500; ++i) {
    const std::string id = "burst-" + std::to_string(i);
    const auto r = api_quiet("POST", "/api/v1/" + registry_path + "/devices",
                             {{"id", id}, {"metadata", {{"n", std::to_string(i)}}}});
    if (r == 200) {
      acknowledged.push_back(id);
    } else if (r == 0) {
      break; // the hub is gone
    }
  }
  killer.join();
  EXPECT_EQ(aegisd_->wait_exit(10s), 128 + SIGKILL);
  ASSERT_FALSE(acknowledged.empty());

  aegisd_ = std::make_unique<child>(
      std::vector<std::string>{AEGISD_PATH, "--config", (dir_ / "aegisd.toml").string(),
                               "--data-dir", (dir_ / "data").string()});
  https_port_ = port_after("https listening on 127.0.0.1:");
  EXPECT_EQ(aegisd_->output().find("admin token: "), std::string::npos) << "only once";
  for (const auto& id : acknowledged) {
    const auto got = api("GET", "/api/v1/" + device_path(id));
    EXPECT_EQ(got.first, 200) << id << " was acknowledged but is gone";
  }
}

// The HTTPS bridge: IoT Core's DeviceService with a device JWT, plus Aegis' long polls.
class HttpDeviceE2E : public DeviceE2E {
protected:
  std::vector<std::string> device_http(const std::string& method, const std::string& device,
                                       const std::string& suffix, const std::string& token,
                                       const std::string& body = "") const {
    std::vector<std::string> argv{"curl",
                                  "-sS",
                                  "--cacert",
                                  ca_,
                                  "-H",
                                  "Authorization: Bearer " + token,
                                  "-X",
                                  method,
                                  "-w",
                                  "\n%{http_code}",
                                  "https://localhost:" + https_port_ + "/v1/" +
                                      device_path(device) + suffix};
    if (!body.empty()) {
      argv.insert(argv.end(), {"-H", "Content-Type: application/json", "--data-binary", body});
    }
    return argv;
  }
  static int status_of(const std::string& output) {
    const auto nl = output.rfind('\n');
    return nl == std::string::npos ? 0 : std::atoi(output.c_str() + nl + 1);
  }
};

TEST_F(HttpDeviceE2E, PublishEventReachesTheApplicationAccount) {
  child sub(with(backend_client("mosquitto_sub"), {"-t", registry_path + "/devices/+/events/#",
                                                   "-q", "1", "-C", "1", "-W", "20", "-v"}));
  const std::string jwt = device_jwt("sensor-1");
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (sub.running() && std::chrono::steady_clock::now() < deadline) {
    const auto r = run(device_http("POST", "sensor-1", ":publishEvent", jwt,
                                   R"({"binary_data": "ZnJvbS1odHRw", "sub_folder": "http"})"));
    ASSERT_EQ(status_of(r.output), 200) << r.output << aegisd_->output();
    if (sub.wait_for_output("from-http", 500ms)) {
      break;
    }
  }
  EXPECT_EQ(sub.wait_exit(10s), 0) << sub.output();
  EXPECT_NE(sub.output().find(registry_path + "/devices/sensor-1/events/http from-http"),
            std::string::npos)
      << sub.output();
}

TEST_F(HttpDeviceE2E, ConfigLongPollAnswersWhenANewVersionArrives) {
  const std::string jwt = device_jwt("sensor-1");
  auto now = run(device_http("GET", "sensor-1", "/config?local_version=0", jwt));
  ASSERT_EQ(status_of(now.output), 200) << now.output;
  EXPECT_NE(now.output.find("\"version\":\"1\""), std::string::npos) << now.output;

  child poll(device_http("GET", "sensor-1", "/config?local_version=1&wait=30", jwt));
  EXPECT_EQ(poll.wait_exit(1s), -1) << "answered without waiting: " << poll.output();
  const auto cfg = api("POST", "/api/v1/" + device_path("sensor-1") + ":modifyCloudToDeviceConfig",
                       {{"binaryData", "bW9kZT1lY28="}}); // "mode=eco"
  ASSERT_EQ(cfg.first, 200) << cfg.second.dump();
  EXPECT_EQ(poll.wait_exit(10s), 0) << poll.output();
  EXPECT_EQ(status_of(poll.output()), 200) << poll.output();
  EXPECT_NE(poll.output().find("\"version\":\"2\""), std::string::npos) << poll.output();
  EXPECT_NE(poll.output().find("bW9kZT1lY28="), std::string::npos) << poll.output();
}

TEST_F(HttpDeviceE2E, CommandReachesALongPollingDevice) {
  const std::string jwt = device_jwt("sensor-2");
  child poll(device_http("GET", "sensor-2", "/commands?wait=30", jwt));
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  int status = 0;
  while (poll.running() && std::chrono::steady_clock::now() < deadline) {
    status = api("POST", "/api/v1/" + device_path("sensor-2") + ":sendCommandToDevice",
                 {{"binaryData", "dW5sb2Nr"}, {"subfolder", "door"}})
                 .first;
    if (status == 200) {
      break;
    }
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_EQ(status, 200);
  EXPECT_EQ(poll.wait_exit(10s), 0) << poll.output();
  EXPECT_EQ(status_of(poll.output()), 200) << poll.output();
  EXPECT_NE(poll.output().find("dW5sb2Nr"), std::string::npos) << poll.output();
  EXPECT_NE(poll.output().find("door"), std::string::npos) << poll.output();
}

TEST_F(HttpDeviceE2E, BadTokensAndOtherDevicesAreRefused) {
  const std::string jwt = device_jwt("sensor-1");
  const std::string body = R"({"binary_data": "bGVhaw=="})";
  EXPECT_EQ(
      status_of(run(device_http("POST", "sensor-1", ":publishEvent", "garbage", body)).output),
      401);
  const auto other = run(device_http("POST", "sensor-2", ":publishEvent", jwt, body));
  EXPECT_TRUE(status_of(other.output) == 401 || status_of(other.output) == 403) << other.output;
  EXPECT_EQ(status_of(run(device_http("POST", "sensor-1", ":publishEvent", jwt,
                                      R"({"binary_data": "not base64!"})"))
                          .output),
            400);
  const auto unknown = run(device_http("GET", "sensor-1", "/nothing-here", jwt));
  EXPECT_EQ(status_of(unknown.output), 404) << unknown.output;
}

} // namespace
