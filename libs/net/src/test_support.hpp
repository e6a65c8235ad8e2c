#pragma once

// Test-only helpers for libs/net (included by *_test.cpp, never by the library): a temporary
// PKI made with the openssl CLI, child processes with deadlines, and a recording handler.
// No Asio here, so that the tests that do not need an Asio client stay cheap to compile.

#include "aegis/net/connection.hpp"
#include "aegis/net/errors.hpp"
#include "aegis/net/server.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace aegis::net::test {

using namespace std::chrono_literals;

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

// Polls `pred` until it holds or `timeout` passes. Every wait in these tests is bounded.
inline bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 10s) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= end) {
      return false;
    }
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

class temp_dir {
public:
  temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "aegis-net-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed");
    }
    path_ = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
  std::filesystem::path path_;
};

// A child process with stdin on a pipe and stdout+stderr in a file. Killed (by its pid) and
// reaped on destruction if still running.
class child_process {
public:
  child_process(const std::vector<std::string>& argv, const std::filesystem::path& output) {
    // A test that writes to a child that already exited must fail on its own terms, not die.
    ::signal(SIGPIPE, SIG_IGN);
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      throw std::runtime_error("pipe2 failed");
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[0], 0);
    posix_spawn_file_actions_addopen(&actions, 1, output.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::vector<char*> args;
    for (const auto& a : argv) {
      args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    const int rc = ::posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[0]);
    stdin_ = fds[1];
    if (rc != 0) {
      ::close(stdin_);
      throw std::runtime_error("posix_spawnp failed for " + argv[0]);
    }
  }
  ~child_process() {
    close_stdin();
    if (!exit_code_) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  bool write_stdin(const std::string& text) {
    return stdin_ >= 0 &&
           ::write(stdin_, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  }
  void close_stdin() {
    if (stdin_ >= 0) {
      ::close(stdin_);
      stdin_ = -1;
    }
  }
  // The exit code, or nothing if it is still running after `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (!exit_code_) {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        break;
      }
      if (std::chrono::steady_clock::now() >= end) {
        break;
      }
      std::this_thread::sleep_for(5ms);
    }
    return exit_code_;
  }

private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  std::optional<int> exit_code_;
};

// Runs a command to completion (bounded); returns its exit code, -1 on timeout.
inline int run(const std::vector<std::string>& argv, const std::filesystem::path& log) {
  child_process p(argv, log);
  p.close_stdin();
  return p.wait(30s).value_or(-1);
}

// A CA hierarchy for the tests, made with the openssl CLI (EC P-256):
//   root -> intermediate -> server  (localhost, 127.0.0.1), chain file = server + intermediate
//   root -> intermediate -> other   (other.example),        chain file = other + intermediate
//   root -> client                  (clientAuth)
// Clients trust the root only, so a handshake that verifies proves the full chain was sent.
class test_pki {
public:
  test_pki() {
    write_file(dir_ / "openssl.cnf", R"(
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[root_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[inter_ext]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
[other_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:other.example
[client_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
)");
    key("root");
    openssl({"req", "-x509", "-new", "-config", p("openssl.cnf"), "-key", p("root.key"), "-subj",
             "/CN=Aegis Test Root", "-days", "2", "-sha256", "-extensions", "root_ext", "-out",
             p("root.crt")});
    issue("inter", "Aegis Test Intermediate", "root", "inter_ext", 2);
    issue("server", "localhost", "inter", "server_ext", 3);
    issue("other", "other.example", "inter", "other_ext", 4);
    issue("client", "device-1", "root", "client_ext", 5);
    write_file(dir_ / "server.chain",
               read_file(dir_ / "server.crt") + read_file(dir_ / "inter.crt"));
    write_file(dir_ / "other.chain", read_file(dir_ / "other.crt") + read_file(dir_ / "inter.crt"));
    openssl({"x509", "-in", p("client.crt"), "-outform", "DER", "-out", p("client.der")});
    openssl({"x509", "-in", p("root.crt"), "-outform", "DER", "-out", p("root.der")});
  }

  std::string p(const std::string& name) const { return (dir_ / name).string(); }
  const std::filesystem::path& dir() const { return dir_.path(); }
  net::tls_certificate server_cert() const { return {dir_ / "server.chain", dir_ / "server.key"}; }
  net::tls_certificate other_cert() const { return {dir_ / "other.chain", dir_ / "other.key"}; }

private:
  void openssl(std::vector<std::string> args) {
    args.insert(args.begin(), "openssl");
    const auto log = dir_ / "openssl.log";
    const int rc = run(args, log);
    if (rc != 0) {
      throw std::runtime_error("openssl failed: " + read_file(log));
    }
  }
  void key(const std::string& name) {
    openssl({"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
             p(name + ".key")});
  }
  void issue(const std::string& name, const std::string& cn, const std::string& issuer,
             const std::string& ext, int serial) {
    key(name);
    openssl({"req", "-new", "-config", p("openssl.cnf"), "-key", p(name + ".key"), "-subj",
             "/CN=" + cn, "-out", p(name + ".csr")});
    openssl({"x509", "-req", "-in", p(name + ".csr"), "-CA", p(issuer + ".crt"), "-CAkey",
             p(issuer + ".key"), "-set_serial", std::to_string(serial), "-days", "2", "-sha256",
             "-extfile", p("openssl.cnf"), "-extensions", ext, "-out", p(name + ".crt")});
  }

  temp_dir dir_;
};

// What a recording handler saw, shared with the test thread.
struct recorder {
  std::mutex mutex;
  std::condition_variable changed;
  int started = 0;
  int closed = 0;
  std::vector<std::error_code> close_reasons;
  std::string received;
  std::vector<std::vector<bytes>> peer_chains;
  std::vector<std::string> server_names;
  std::vector<std::string> tls_versions;
  std::vector<std::thread::id> start_threads;
  int writable = 0;
  int shutdown_notices = 0;
  bool callbacks_on_start_thread = true;
  bool sends_refused_after_close = true;
  std::vector<connection_handle> handles;

  template <class F>
  void update(F&& f) {
    {
      const std::lock_guard lock(mutex);
      f();
    }
    changed.notify_all();
  }
  bool wait_for(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, timeout, pred);
  }
};

struct echo_options {
  // Once a '\n' has been echoed, close (flush), so that line-oriented clients (s_client) see an
  // orderly end.
  bool close_on_newline = false;
  // The first bytes count as the "first message": disarm the handler deadline.
  bool disarm_on_bytes = true;
  // Set in on_start, as MQTT sets keep-alive x 1.5 after CONNECT.
  std::chrono::milliseconds idle{0};
  idle_activity idle_counts = idle_activity::reads_and_writes;
  enum class shutdown_behaviour { default_close, say_bye, ignore };
  shutdown_behaviour on_shutdown = shutdown_behaviour::default_close;
  // Throws from on_bytes when the data contains "boom".
  bool throw_on_boom = false;
};

// Echoes every byte back; records its life in a recorder.
class echo_handler : public connection_handler {
public:
  echo_handler(std::shared_ptr<recorder> rec, echo_options opts)
      : rec_(std::move(rec)), opts_(opts) {}

  void on_start(connection& conn) override {
    thread_ = std::this_thread::get_id();
    if (opts_.idle.count() > 0) {
      conn.set_idle_timeout(opts_.idle, opts_.idle_counts);
    }
    rec_->update([&] {
      ++rec_->started;
      rec_->peer_chains.push_back(conn.peer_certificate_chain());
      rec_->server_names.push_back(conn.server_name());
      rec_->tls_versions.emplace_back(conn.tls_version());
      rec_->start_threads.push_back(thread_);
      rec_->handles.push_back(conn.handle());
    });
  }
  void on_bytes(connection& conn, bytes_view data) override {
    check_thread();
    if (opts_.disarm_on_bytes) {
      conn.disarm_deadline();
    }
    const std::string_view text = as_string_view(data);
    rec_->update([&] { rec_->received.append(text); });
    if (opts_.throw_on_boom && text.find("boom") != std::string_view::npos) {
      throw std::runtime_error("boom");
    }
    (void)conn.send(bytes(data.begin(), data.end()));
    if (opts_.close_on_newline && text.find('\n') != std::string_view::npos) {
      conn.close(net_errc::peer_closed, close_mode::flush);
    }
  }
  void on_writable(connection& /*conn*/) override {
    check_thread();
    rec_->update([&] { ++rec_->writable; });
  }
  void on_shutdown(connection& conn) override {
    check_thread();
    rec_->update([&] { ++rec_->shutdown_notices; });
    switch (opts_.on_shutdown) {
    case echo_options::shutdown_behaviour::default_close:
      connection_handler::on_shutdown(conn);
      break;
    case echo_options::shutdown_behaviour::say_bye:
      (void)conn.send(to_bytes("BYE\n"));
      conn.close(net_errc::server_shutdown, close_mode::flush);
      break;
    case echo_options::shutdown_behaviour::ignore:
      break;
    }
  }
  void on_closed(connection& conn, std::error_code reason) override {
    check_thread();
    const bool refused = conn.send(to_bytes("late")) == send_status::closed;
    rec_->update([&] {
      ++rec_->closed;
      rec_->close_reasons.push_back(reason);
      rec_->sends_refused_after_close = rec_->sends_refused_after_close && refused;
    });
  }

private:
  void check_thread() {
    if (std::this_thread::get_id() != thread_) {
      rec_->update([&] { rec_->callbacks_on_start_thread = false; });
    }
  }
  std::shared_ptr<recorder> rec_;
  echo_options opts_;
  std::thread::id thread_;
};

inline handler_factory echo_factory(std::shared_ptr<recorder> rec, echo_options opts = {}) {
  return [rec, opts](connection&) -> std::unique_ptr<connection_handler> {
    return std::make_unique<echo_handler>(rec, opts);
  };
}

} // namespace aegis::net::test
