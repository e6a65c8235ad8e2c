#pragma once

// Test support for the SDK's key store and secure store: temporary directories, running a
// command with a bounded wait, and a private SoftHSM2 token (its own softhsm2.conf and token
// directory, SOFTHSM2_CONF of this process pointed at it, one token initialised with
// softhsm2-util).

#include "aegis/crypto/random.hpp"
#include "aegis/device/keystore.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace aegis::device::store_testing {

using namespace std::chrono_literals;

inline constexpr const char* softhsm_module = "/usr/lib/softhsm/libsofthsm2.so";
inline constexpr std::string_view softhsm_pin = "1234";

class temp_dir {
public:
  temp_dir() {
    std::string templ = (std::filesystem::temp_directory_path() / "aegis-sdk-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed");
    }
    path_ = templ;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const noexcept { return path_; }

private:
  std::filesystem::path path_;
};

inline void write_file(const std::filesystem::path& p, std::string_view content,
                       mode_t mode = 0600) {
  std::filesystem::remove(p);
  const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  ASSERT_GE(fd, 0) << p;
  ASSERT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
  ::close(fd);
  ASSERT_EQ(::chmod(p.c_str(), mode), 0);
}

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// Runs argv with stdout/stderr into `output_file`; the exit code, or -1 when it had to be
// killed after `limit`.
inline int run_command(std::vector<std::string> argv, const std::filesystem::path& output_file,
                       std::chrono::milliseconds limit = 60s) {
  const pid_t pid = ::fork();
  if (pid < 0) {
    return -1;
  }
  if (pid == 0) {
    const int fd = ::open(output_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
    }
    std::vector<char*> args;
    for (auto& a : argv) {
      args.push_back(a.data());
    }
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      return -1;
    }
    std::this_thread::sleep_for(10ms);
  }
}

inline bool softhsm_available() {
  std::error_code ec;
  return std::filesystem::exists(softhsm_module, ec) &&
         (std::filesystem::exists("/usr/bin/softhsm2-util", ec) ||
          std::filesystem::exists("/usr/local/bin/softhsm2-util", ec));
}

// Every object that uses the token must be gone before this is destroyed: the module reads
// SOFTHSM2_CONF only when it is initialised.
class softhsm_token {
public:
  explicit softhsm_token(std::string label = "sdk-test") : label_(std::move(label)) {
    const auto tokens = dir_.path() / "tokens";
    std::filesystem::create_directories(tokens);
    const auto conf = dir_.path() / "softhsm2.conf";
    {
      std::ofstream f(conf);
      f << "directories.tokendir = " << tokens.string() << "\n"
        << "objectstore.backend = file\n"
        << "log.level = ERROR\n"
        << "slots.removable = false\n";
    }
    ::setenv("SOFTHSM2_CONF", conf.c_str(), 1);
    init_code_ = run_command({"softhsm2-util", "--init-token", "--free", "--label", label_,
                              "--so-pin", "12345678", "--pin", std::string(softhsm_pin)},
                             dir_.path() / "init.log");
  }
  ~softhsm_token() { ::unsetenv("SOFTHSM2_CONF"); }
  softhsm_token(const softhsm_token&) = delete;
  softhsm_token& operator=(const softhsm_token&) = delete;

  bool ready() const { return init_code_ == 0; }
  std::string init_output() const { return read_text(dir_.path() / "init.log"); }

  pkcs11_slot slot(std::string_view pin = softhsm_pin) const {
    return {softhsm_module, label_, crypto::secure_buffer(as_bytes(pin))};
  }

private:
  temp_dir dir_;
  std::string label_;
  int init_code_ = -1;
};

#define AEGIS_REQUIRE_SOFTHSM(token)                                                               \
  do {                                                                                             \
    if (!::aegis::device::store_testing::softhsm_available()) {                                    \
      GTEST_SKIP() << "SoftHSM2 (Debian softhsm2) is not installed";                               \
    }                                                                                              \
    ASSERT_TRUE((token).ready()) << (token).init_output();                                         \
  } while (0)

} // namespace aegis::device::store_testing
