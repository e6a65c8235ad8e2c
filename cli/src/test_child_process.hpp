#pragma once

// Test support for cli (the idea of server/app/src/test_child_process.hpp): a child process whose
// stdout and stderr come back on one pipe.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <poll.h>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace aegis::ctl::testing {

using namespace std::chrono_literals;

// A child process with stdout and stderr on one pipe; killed (by its pid) if still running when
// destroyed. Every wait is bounded.
class child {
public:
  explicit child(std::vector<std::string> argv) {
    int fds[2];
    if (::pipe(fds) != 0) {
      throw std::runtime_error("pipe");
    }
    pid_ = ::fork();
    if (pid_ < 0) {
      throw std::runtime_error("fork");
    }
    if (pid_ == 0) {
      ::dup2(fds[1], STDERR_FILENO);
      ::dup2(fds[1], STDOUT_FILENO);
      ::close(fds[0]);
      ::close(fds[1]);
      std::vector<char*> args;
      for (auto& a : argv) {
        args.push_back(a.data());
      }
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    out_fd_ = fds[0];
  }
  ~child() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_fd_ >= 0) {
      ::close(out_fd_);
    }
  }
  child(const child&) = delete;
  child& operator=(const child&) = delete;

  bool wait_for_output(const std::string& needle, std::chrono::milliseconds limit = 20s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (output_.find(needle) == std::string::npos) {
      if (!read_some(deadline)) {
        return output_.find(needle) != std::string::npos;
      }
    }
    return true;
  }

  // The exit code (128 + signal when killed by one), or -1 if still running after `limit`.
  int wait_exit(std::chrono::milliseconds limit = 20s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        exited_ = true;
        while (read_some(std::chrono::steady_clock::now() + 100ms)) {
        }
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        return -1;
      }
      (void)read_some(std::chrono::steady_clock::now() + 20ms);
    }
  }

  bool running() {
    if (exited_) {
      return false;
    }
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exited_ = true;
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      while (read_some(std::chrono::steady_clock::now() + 100ms)) {
      }
      return false;
    }
    return true;
  }
  int exit_code() const { return exit_code_; }

  void signal(int sig) { ::kill(pid_, sig); }
  const std::string& output() const { return output_; }

private:
  // False on timeout or end of file.
  bool read_some(std::chrono::steady_clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{out_fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(left.count(), 0))) <= 0) {
      return false;
    }
    char buf[4096];
    const ssize_t n = ::read(out_fd_, buf, sizeof buf);
    if (n <= 0) {
      return false;
    }
    output_.append(buf, static_cast<std::size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int out_fd_ = -1;
  bool exited_ = false;
  int exit_code_ = -1;
  std::string output_;
};

} // namespace aegis::ctl::testing
