#pragma once

// Running the programs an operator configured (telemetry command, config hook, command
// handlers): fork + exec without a shell unless the operator wrote one, input on stdin, output
// captured up to a cap, and a deadline after which the child is killed. Nothing the server sent
// is ever put on a command line.

#include <chrono>
#include <csignal>
#include <cstdint>
#include <fcntl.h>
#include <poll.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace aegis::device::app {

struct program_result {
  int exit_code = -1; // 128 + signal when killed; -1 when it could not start
  std::string output; // stdout, at most the cap
  bool timed_out = false;
};

inline program_result run_program(const std::vector<std::string>& argv, const std::string& input,
                                  std::chrono::milliseconds timeout,
                                  const std::vector<std::string>& extra_env = {},
                                  std::size_t output_cap = 256U * 1024U) {
  program_result r;
  if (argv.empty()) {
    return r;
  }
  int in_pipe[2];
  int out_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) {
    return r;
  }
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    ::close(in_pipe[0]);
    ::close(in_pipe[1]);
    return r;
  }
  std::vector<std::string> env_storage = extra_env;
  const pid_t pid = ::fork();
  if (pid < 0) {
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1]}) {
      ::close(fd);
    }
    return r;
  }
  if (pid == 0) {
    ::dup2(in_pipe[0], STDIN_FILENO);
    ::dup2(out_pipe[1], STDOUT_FILENO);
    for (auto& e : env_storage) {
      ::putenv(e.data());
    }
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const auto& a : argv) {
      args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  // Small inputs fit the pipe buffer; a child that does not read them gets EPIPE, not a hang.
  std::size_t written = 0;
  ::signal(SIGPIPE, SIG_IGN);
  ::fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int in_fd = in_pipe[1];
  if (input.empty()) {
    ::close(in_fd);
    in_fd = -1;
  }
  int out_fd = out_pipe[0];
  while (out_fd >= 0 || in_fd >= 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      r.timed_out = true;
      break;
    }
    pollfd fds[2];
    nfds_t n = 0;
    if (out_fd >= 0) {
      fds[n++] = pollfd{out_fd, POLLIN, 0};
    }
    if (in_fd >= 0) {
      fds[n++] = pollfd{in_fd, POLLOUT, 0};
    }
    if (::poll(fds, n, static_cast<int>(left.count())) < 0) {
      break;
    }
    for (nfds_t i = 0; i < n; ++i) {
      if (fds[i].revents == 0) {
        continue;
      }
      if (fds[i].fd == out_fd) {
        char buf[4096];
        const ssize_t got = ::read(out_fd, buf, sizeof buf);
        if (got <= 0) {
          ::close(out_fd);
          out_fd = -1;
        } else if (r.output.size() < output_cap) {
          r.output.append(buf,
                          std::min(static_cast<std::size_t>(got), output_cap - r.output.size()));
        }
      } else {
        const ssize_t put = ::write(in_fd, input.data() + written, input.size() - written);
        if (put > 0) {
          written += static_cast<std::size_t>(put);
        }
        if (put <= 0 || written == input.size()) {
          ::close(in_fd);
          in_fd = -1;
        }
      }
    }
  }
  if (in_fd >= 0) {
    ::close(in_fd);
  }
  if (out_fd >= 0) {
    ::close(out_fd);
  }
  if (r.timed_out) {
    ::kill(pid, SIGKILL);
  }
  int status = 0;
  // The output is closed: the child has exited or is about to; a grandchild holding the pipe
  // does not block us because the child itself is waited for with a bound.
  for (int i = 0; i < 200; ++i) {
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) {
      r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return r;
    }
    if (i == 100) {
      ::kill(pid, SIGKILL);
    }
    ::usleep(10'000);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  r.exit_code = 128 + SIGKILL;
  return r;
}

} // namespace aegis::device::app
