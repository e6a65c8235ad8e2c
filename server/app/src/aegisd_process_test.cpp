// Runs the real aegisd binary: first start, restart, SIGTERM, and refusals at start-up.

#include "test_child_process.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <poll.h>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

using aegis::app::testing::child;

// The real aegisd with `args`.
child start_aegisd(std::vector<std::string> args) {
  args.insert(args.begin(), AEGISD_PATH);
  return child(std::move(args));
}

class Aegisd : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("aegisd_proc_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(Aegisd, FirstStartInitialisesThenStopsCleanlyOnSigterm) {
  {
    auto p = start_aegisd({"--mqtt-listen", "127.0.0.1:0", "--https-listen", "127.0.0.1:0",
                           "--data-dir", dir_.string()});
    ASSERT_TRUE(p.wait_for_output("ready")) << p.output();
    EXPECT_NE(p.output().find("initialised new data directory"), std::string::npos);
    EXPECT_NE(p.output().find("ca.crt"), std::string::npos) << "says where the root is";
    p.signal(SIGTERM);
    EXPECT_EQ(p.wait_exit(), 0) << p.output();
    EXPECT_NE(p.output().find("shutting down"), std::string::npos);
  }
  EXPECT_TRUE(fs::exists(dir_ / "master.key"));
  EXPECT_TRUE(fs::exists(dir_ / "ca" / "ca.crt"));
  EXPECT_TRUE(fs::exists(dir_ / "tls" / "server.crt"));

  auto again = start_aegisd({"--mqtt-listen", "127.0.0.1:0", "--https-listen", "127.0.0.1:0",
                             "--data-dir", dir_.string(), "--log-format", "json"});
  ASSERT_TRUE(again.wait_for_output("\"msg\":\"ready\"")) << again.output();
  EXPECT_EQ(again.output().find("initialised new data directory"), std::string::npos);
  again.signal(SIGINT);
  EXPECT_EQ(again.wait_exit(), 0) << again.output();
}

TEST_F(Aegisd, BadConfigurationExitsWithCode2) {
  const fs::path cfg = dir_.string() + ".toml";
  std::ofstream(cfg) << "[server]\nlog_levl = \"info\"\n";
  auto p = start_aegisd({"--config", cfg.string(), "--data-dir", dir_.string()});
  EXPECT_EQ(p.wait_exit(), 2);
  EXPECT_NE(p.output().find("server.log_levl: unknown key"), std::string::npos) << p.output();
  fs::remove(cfg);
}

TEST_F(Aegisd, ReadableMasterKeyIsRefusedAtStart) {
  {
    auto p = start_aegisd({"--mqtt-listen", "127.0.0.1:0", "--https-listen", "127.0.0.1:0",
                           "--data-dir", dir_.string()});
    ASSERT_TRUE(p.wait_for_output("ready")) << p.output();
    p.signal(SIGTERM);
    ASSERT_EQ(p.wait_exit(), 0);
  }
  ::chmod((dir_ / "master.key").c_str(), 0644);
  auto p = start_aegisd({"--mqtt-listen", "127.0.0.1:0", "--https-listen", "127.0.0.1:0",
                         "--data-dir", dir_.string()});
  EXPECT_EQ(p.wait_exit(), 1);
  EXPECT_NE(p.output().find("master.key"), std::string::npos) << p.output();
}

TEST_F(Aegisd, PrintsDefaultConfig) {
  auto p = start_aegisd({"--print-default-config"});
  EXPECT_EQ(p.wait_exit(), 0);
  EXPECT_NE(p.output().find("[server]"), std::string::npos);
  EXPECT_NE(p.output().find("renew_before_days = 30"), std::string::npos);
}

} // namespace
