// Runs the real aegisd binary: first start, restart, SIGTERM, and refusals at start-up.

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

class aegisd_process {
public:
  explicit aegisd_process(std::vector<std::string> args) {
    int fds[2];
    if (::pipe(fds) != 0) {
      throw std::runtime_error("pipe");
    }
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], STDERR_FILENO);
      ::dup2(fds[1], STDOUT_FILENO);
      ::close(fds[0]);
      ::close(fds[1]);
      std::vector<char*> argv;
      std::string path = AEGISD_PATH;
      argv.push_back(path.data());
      for (auto& a : args) {
        argv.push_back(a.data());
      }
      argv.push_back(nullptr);
      ::execv(path.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    out_fd_ = fds[0];
  }
  ~aegisd_process() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(out_fd_);
  }

  // Reads output until `needle` appears or the deadline passes.
  bool wait_for_output(const std::string& needle, std::chrono::milliseconds limit = 20s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (output_.find(needle) == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        return false;
      }
      pollfd p{out_fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
        return false;
      }
      char buf[4096];
      const ssize_t n = ::read(out_fd_, buf, sizeof buf);
      if (n <= 0) {
        return output_.find(needle) != std::string::npos;
      }
      output_.append(buf, static_cast<std::size_t>(n));
    }
    return true;
  }

  // Waits (bounded) for the process to exit and returns its exit code, or -1.
  int wait_exit(std::chrono::milliseconds limit = 20s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        exited_ = true;
        drain();
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      ::usleep(10'000);
    }
    return -1;
  }

  void signal(int sig) { ::kill(pid_, sig); }
  const std::string& output() const { return output_; }

private:
  void drain() {
    char buf[4096];
    pollfd p{out_fd_, POLLIN, 0};
    while (::poll(&p, 1, 100) > 0) {
      const ssize_t n = ::read(out_fd_, buf, sizeof buf);
      if (n <= 0) {
        break;
      }
      output_.append(buf, static_cast<std::size_t>(n));
    }
  }

  pid_t pid_ = -1;
  int out_fd_ = -1;
  bool exited_ = false;
  std::string output_;
};

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
    aegisd_process p({"--mqtt-listen", "127.0.0.1:0", "--data-dir", dir_.string()});
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

  aegisd_process again(
      {"--mqtt-listen", "127.0.0.1:0", "--data-dir", dir_.string(), "--log-format", "json"});
  ASSERT_TRUE(again.wait_for_output("\"msg\":\"ready\"")) << again.output();
  EXPECT_EQ(again.output().find("initialised new data directory"), std::string::npos);
  again.signal(SIGINT);
  EXPECT_EQ(again.wait_exit(), 0) << again.output();
}

TEST_F(Aegisd, BadConfigurationExitsWithCode2) {
  const fs::path cfg = dir_.string() + ".toml";
  std::ofstream(cfg) << "[server]\nlog_levl = \"info\"\n";
  aegisd_process p({"--config", cfg.string(), "--data-dir", dir_.string()});
  EXPECT_EQ(p.wait_exit(), 2);
  EXPECT_NE(p.output().find("server.log_levl: unknown key"), std::string::npos) << p.output();
  fs::remove(cfg);
}

TEST_F(Aegisd, ReadableMasterKeyIsRefusedAtStart) {
  {
    aegisd_process p({"--mqtt-listen", "127.0.0.1:0", "--data-dir", dir_.string()});
    ASSERT_TRUE(p.wait_for_output("ready")) << p.output();
    p.signal(SIGTERM);
    ASSERT_EQ(p.wait_exit(), 0);
  }
  ::chmod((dir_ / "master.key").c_str(), 0644);
  aegisd_process p({"--mqtt-listen", "127.0.0.1:0", "--data-dir", dir_.string()});
  EXPECT_EQ(p.wait_exit(), 1);
  EXPECT_NE(p.output().find("master.key"), std::string::npos) << p.output();
}

TEST_F(Aegisd, PrintsDefaultConfig) {
  aegisd_process p({"--print-default-config"});
  EXPECT_EQ(p.wait_exit(), 0);
  EXPECT_NE(p.output().find("[server]"), std::string::npos);
  EXPECT_NE(p.output().find("renew_before_days = 30"), std::string::npos);
}

} // namespace
