// Runs the real aegisd as an MQTT over TLS broker and talks to it with the real mosquitto_pub and
// mosquitto_sub: an application account publishes QoS 1 to a subscriber (3.1.1 and 5.0), a
// wrong password is refused, a client without TLS gets nowhere, SIGTERM stops cleanly.

#include "aegis/auth/password_hash.hpp"
#include "test_child_process.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <poll.h>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using aegis::app::testing::child;

bool have_mosquitto_clients() {
  return ::access("/usr/bin/mosquitto_pub", X_OK) == 0 &&
         ::access("/usr/bin/mosquitto_sub", X_OK) == 0 && ::access("/usr/bin/stdbuf", X_OK) == 0;
}

class MqttE2E : public ::testing::Test {
protected:
  void SetUp() override {
    // scripts/install-deps installs them: their absence is a broken set-up, not a reason to skip.
    ASSERT_TRUE(have_mosquitto_clients())
        << "mosquitto_pub/mosquitto_sub/stdbuf missing: run scripts/install-deps";
    dir_ = fs::path(::testing::TempDir()) /
           ("aegisd_mqtt_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);

    const std::string password = "correct horse";
    auto hash = aegis::auth::hash_password(
        aegis::bytes_view(reinterpret_cast<const std::uint8_t*>(password.data()), password.size()));
    ASSERT_TRUE(hash);
    std::ofstream(dir_ / "accounts") << "# test accounts\nalice:" << *hash << "\n";
    std::ofstream(dir_ / "aegisd.toml")
        << "[mqtt]\nlisten = \"127.0.0.1:0\"\naccounts_file = \"" << (dir_ / "accounts").string()
        << "\"\n[https]\nlisten = \"127.0.0.1:0\"\n";

    aegisd_ = std::make_unique<child>(
        std::vector<std::string>{AEGISD_PATH, "--config", (dir_ / "aegisd.toml").string(),
                                 "--data-dir", (dir_ / "data").string()});
    const std::string marker = "mqtt listening on 127.0.0.1:";
    ASSERT_TRUE(aegisd_->wait_for_output(marker, 30s)) << aegisd_->output();
    ASSERT_TRUE(aegisd_->wait_for_output("application accounts", 5s)) << aegisd_->output();
    const auto at = aegisd_->output().find(marker) + marker.size();
    port_ = std::to_string(std::stoi(aegisd_->output().substr(at, 6)));
    ASSERT_NE(port_, "0");
    ca_ = (dir_ / "data" / "ca" / "ca.crt").string();
  }

  void TearDown() override {
    if (aegisd_) {
      aegisd_->signal(SIGTERM);
      EXPECT_EQ(aegisd_->wait_exit(20s), 0) << aegisd_->output();
      aegisd_.reset();
    }
    if (!dir_.empty()) {
      fs::remove_all(dir_);
    }
  }

  std::vector<std::string> client(const std::string& tool, const std::string& version,
                                  const std::string& password) const {
    return {tool, "--cafile", ca_,  "-h",     "localhost", "-p",   port_,
            "-u", "alice",    "-P", password, "-V",        version};
  }

  // Runs a mosquitto_pub to completion (bounded) and returns its exit code.
  static int run(std::vector<std::string> argv, std::string* output = nullptr) {
    child c(std::move(argv));
    const int rc = c.wait_exit(20s);
    if (output != nullptr) {
      *output = c.output();
    }
    return rc;
  }

  void publish_reaches_subscriber(const std::string& version) {
    const std::string topic = "e2e/" + version;
    const std::string payload = "hello over " + version;
    auto sub_args = client("mosquitto_sub", version, "correct horse");
    for (const char* a : {"-t", topic.c_str(), "-q", "1", "-C", "1", "-W", "10"}) {
      sub_args.emplace_back(a);
    }
    child sub(sub_args);
    // The subscription may not be in place yet: publish until the subscriber has one (bounded).
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    int published = 0;
    while (sub.running() && std::chrono::steady_clock::now() < deadline) {
      auto pub_args = client("mosquitto_pub", version, "correct horse");
      for (const char* a : {"-t", topic.c_str(), "-q", "1", "-m", payload.c_str()}) {
        pub_args.emplace_back(a);
      }
      std::string out;
      ASSERT_EQ(run(pub_args, &out), 0) << out << aegisd_->output();
      ++published;
      if (sub.wait_for_output(payload, 500ms)) {
        break;
      }
    }
    EXPECT_EQ(sub.wait_exit(15s), 0) << sub.output() << aegisd_->output();
    EXPECT_NE(sub.output().find(payload), std::string::npos) << sub.output();
    EXPECT_GE(published, 1);
  }

  fs::path dir_;
  std::unique_ptr<child> aegisd_;
  std::string port_;
  std::string ca_;
};

TEST_F(MqttE2E, Qos1PublishReachesSubscriberV311) {
  publish_reaches_subscriber("mqttv311");
}

TEST_F(MqttE2E, Qos1PublishReachesSubscriberV5) {
  publish_reaches_subscriber("mqttv5");
}

TEST_F(MqttE2E, WrongPasswordIsRefused) {
  for (const std::string version : {"mqttv311", "mqttv5"}) {
    auto args = client("mosquitto_pub", version, "wrong");
    for (const char* a : {"-t", "e2e/x", "-q", "1", "-m", "nope"}) {
      args.emplace_back(a);
    }
    std::string out;
    const int rc = run(args, &out);
    EXPECT_NE(rc, 0) << version << ": " << out;
    EXPECT_NE(rc, -1) << version << ": still running: " << out;
  }
  // Unknown user: every authenticator abstains, refused as well.
  auto args = client("mosquitto_pub", "mqttv5", "correct horse");
  args[8] = "mallory";
  for (const char* a : {"-t", "e2e/x", "-m", "nope"}) {
    args.emplace_back(a);
  }
  std::string out;
  EXPECT_NE(run(args, &out), 0) << out;
}

TEST_F(MqttE2E, ClientWithoutTlsCannotConnect) {
  std::string out;
  const int rc = run({"mosquitto_pub", "-h", "127.0.0.1", "-p", port_, "-u", "alice", "-P",
                      "correct horse", "-t", "e2e/plain", "-q", "1", "-m", "plain"},
                     &out);
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(rc, -1) << "still running: " << out;
}

TEST_F(MqttE2E, SigtermDisconnectsV5ClientsAndExitsZero) {
  // stdbuf: mosquitto_sub's debug lines would sit in its stdio buffer on a pipe.
  std::vector<std::string> sub_args{"stdbuf", "-oL"};
  for (auto& a : client("mosquitto_sub", "mqttv5", "correct horse")) {
    sub_args.push_back(a);
  }
  for (const char* a : {"-t", "e2e/idle", "-W", "30", "-d"}) {
    sub_args.emplace_back(a);
  }
  child sub(sub_args);
  ASSERT_TRUE(sub.wait_for_output("SUBACK", 15s)) << sub.output() << aegisd_->output();
  aegisd_->signal(SIGTERM);
  EXPECT_EQ(aegisd_->wait_exit(20s), 0) << aegisd_->output();
  EXPECT_NE(aegisd_->output().find("shutting down"), std::string::npos);
  aegisd_.reset();
  EXPECT_NE(sub.wait_exit(15s), -1) << "the subscriber was not disconnected: " << sub.output();
  EXPECT_NE(sub.output().find("Received DISCONNECT"), std::string::npos) << sub.output();
}

} // namespace
