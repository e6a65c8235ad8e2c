// The aegis-device binary against the real aegisd: `run` (telemetry from a command, config to a
// file plus hook, a command to its mapped handler, state from a file) and `simulate` (a small
// fleet provisioned through the admin API).

#include "test_e2e.hpp"

#include <gtest/gtest.h>

namespace aegis::device {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using testing::child;
using testing::outcome;

#if defined(AEGISD_PATH) && defined(AEGISCTL_PATH) && defined(AEGIS_DEVICE_PATH)

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) {
      return true;
    }
    std::this_thread::sleep_for(100ms);
  }
  return pred();
}

class AegisDeviceE2E : public ::testing::Test {
protected:
  void SetUp() override {
    server_ = std::make_unique<testing::aegisd_instance>(dir_.path() / "server");
    ASSERT_TRUE(server_->provision_registry()) << server_->output();
  }
  testing::temp_dir dir_;
  std::unique_ptr<testing::aegisd_instance> server_;
};

TEST_F(AegisDeviceE2E, RunAgentTelemetryConfigCommandState) {
  const fs::path d = dir_.path();
  auto key = testing::make_key_file(d / "agent.key");
  ASSERT_TRUE(key);
  ASSERT_EQ(server_->create_device("agent1", *key).code, 0);
  const auto exec_mode = fs::perms::owner_all;
  testing::write_file(d / "hook.sh",
                      "#!/bin/sh\necho \"hooked $1\" > " + (d / "hooked").string() + "\n",
                      exec_mode);
  testing::write_file(d / "handler.sh",
                      "#!/bin/sh\ncat > " + (d / "command-out").string() +
                          "\necho \"$AEGIS_COMMAND_SUBFOLDER\" > " + (d / "command-sub").string() +
                          "\n",
                      exec_mode);
  testing::write_file(d / "state.json", "{\"fw\":\"1.2.3\"}",
                      fs::perms::owner_read | fs::perms::owner_write);
  const std::string toml =
      "[server]\nhost = \"127.0.0.1\"\nport = " + std::to_string(server_->mqtt_port()) +
      "\nca_file = \"" + server_->ca_file().string() +
      "\"\n[device]\nproject = \"proj-sdk\"\nregistry = \"reg1\"\nid = \"agent1\"\n"
      "key_file = \"" +
      (d / "agent.key").string() +
      "\"\n[telemetry]\ninterval_seconds = 0.5\ncommand = \"printf agent-telemetry\"\n"
      "subfolder = \"metrics\"\n[config]\noutput_file = \"" +
      (d / "config.out").string() + "\"\nhook = \"" + (d / "hook.sh").string() +
      "\"\n[commands]\nblink = \"" + (d / "handler.sh").string() + "\"\n[state]\nfile = \"" +
      (d / "state.json").string() + "\"\n";
  testing::write_file(d / "device.toml", toml, fs::perms::owner_read | fs::perms::owner_write);

  auto sub = server_->subscribe(
      "projects/proj-sdk/locations/global/registries/reg1/devices/agent1/events/#");
  ASSERT_TRUE(sub->wait_for_output("SUBACK", 20s)) << sub->output();
  child agent({AEGIS_DEVICE_PATH, "run", "--config", (d / "device.toml").string()});
  ASSERT_TRUE(agent.wait_for_output("aegis-device: connected", 20s)) << agent.output();
  EXPECT_TRUE(sub->wait_for_output("events/metrics agent-telemetry", 20s)) << sub->output();

  ASSERT_EQ(server_
                ->ctl({"device", "config", "set", "agent1", "--registry", "reg1", "--data",
                       "{\"led\":true}"})
                .code,
            0);
  EXPECT_TRUE(eventually([&] { return testing::read_text(d / "config.out") == "{\"led\":true}"; }))
      << agent.output();
  EXPECT_TRUE(eventually([&] {
    return testing::read_text(d / "hooked").find("hooked " + (d / "config.out").string()) == 0;
  })) << agent.output();

  ASSERT_EQ(server_
                ->ctl({"device", "command", "send", "agent1", "--registry", "reg1", "--data",
                       "three-times", "--subfolder", "blink"})
                .code,
            0);
  EXPECT_TRUE(eventually([&] { return testing::read_text(d / "command-out") == "three-times"; }))
      << agent.output();
  EXPECT_EQ(testing::read_text(d / "command-sub"), "blink\n");

  EXPECT_TRUE(eventually([&] {
    const outcome st = server_->ctl({"device", "state", "agent1", "--registry", "reg1"});
    return st.output.find("1.2.3") != std::string::npos;
  }));

  agent.signal(SIGTERM);
  EXPECT_EQ(agent.wait_exit(20s), 0) << agent.output();
  EXPECT_NE(agent.output().find("aegis-device: stopped"), std::string::npos) << agent.output();
}

TEST_F(AegisDeviceE2E, RunRefusesABadConfig) {
  testing::write_file(dir_.path() / "bad.toml", "[server]\nhost = \"x\"\n",
                      fs::perms::owner_read | fs::perms::owner_write);
  const outcome o = testing::run_child(
      {AEGIS_DEVICE_PATH, "run", "--config", (dir_.path() / "bad.toml").string()});
  EXPECT_EQ(o.code, 2) << o.output;
  EXPECT_NE(o.output.find("missing or mistyped device.project"), std::string::npos) << o.output;
}

// The issue's scale: 1,000 devices, each its own key, JWT and connection, in one process.
TEST_F(AegisDeviceE2E, SimulateThousandDevices) {
  const fs::path token = dir_.path() / "token";
  testing::write_file(token, server_->admin_token() + "\n",
                      fs::perms::owner_read | fs::perms::owner_write);
  const outcome o = testing::run_child({AEGIS_DEVICE_PATH,
                                        "--log-level",
                                        "warn",
                                        "simulate",
                                        "--devices",
                                        "1000",
                                        "--rate",
                                        "1",
                                        "--duration",
                                        "3",
                                        "--port",
                                        std::to_string(server_->mqtt_port()),
                                        "--ca",
                                        server_->ca_file().string(),
                                        "--admin-url",
                                        server_->https_url(),
                                        "--admin-token-file",
                                        token.string(),
                                        "--project",
                                        "proj-sdk",
                                        "--registry",
                                        "reg1"},
                                       300s);
  EXPECT_EQ(o.code, 0) << o.output;
  EXPECT_NE(o.output.find("summary: devices 1000, connected 1000,"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("errors 0,"), std::string::npos) << o.output;
  EXPECT_EQ(server_->ctl({"device", "get", "sim-999", "--registry", "reg1"}).code, 0);
}

#endif

} // namespace
} // namespace aegis::device
