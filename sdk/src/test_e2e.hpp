#pragma once

// Test support for the SDK's end-to-end tests: child processes (the idea of
// cli/src/test_child_process.hpp), temporary directories, a TCP relay the test can open, close
// and cut (a network outage the test controls), and the real aegisd provisioned with the real
// aegisctl. Every wait is bounded; every child is killed and reaped.

#include "aegis/crypto/keys.hpp"
#include "aegis/device/keystore.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <poll.h>
#include <stdexcept>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace aegis::device::testing {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// A child process with stdout and stderr on one pipe; killed (by its pid) if still running when
// destroyed.
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
  // Counts occurrences of `needle`, reading for at most `limit` until there are `count`.
  std::size_t wait_for_count(const std::string& needle, std::size_t count,
                             std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      const auto n = occurrences(needle);
      if (n >= count || !read_some(deadline)) {
        return occurrences(needle);
      }
    }
  }
  std::size_t occurrences(const std::string& needle) const {
    std::size_t n = 0;
    for (auto at = output_.find(needle); at != std::string::npos;
         at = output_.find(needle, at + needle.size())) {
      ++n;
    }
    return n;
  }
  // Reads what is there now, for at most `limit`.
  void drain(std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (read_some(deadline)) {
    }
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
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      return false;
    }
    return true;
  }
  void signal(int sig) {
    if (!exited_) {
      ::kill(pid_, sig);
    }
  }
  const std::string& output() const { return output_; }

private:
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
  std::string output_;
};

struct outcome {
  int code = -1;
  std::string output;
};

inline outcome run_child(std::vector<std::string> argv, std::chrono::milliseconds limit = 60s) {
  child c(std::move(argv));
  outcome o;
  o.code = c.wait_exit(limit);
  o.output = c.output();
  return o;
}

class temp_dir {
public:
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "aegis-sdk-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      throw std::runtime_error("mkdtemp");
    }
    path_ = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const fs::path& path() const { return path_; }

private:
  fs::path path_;
};

inline void write_file(const fs::path& p, const std::string& content, fs::perms mode) {
  {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << content;
  }
  fs::permissions(p, mode);
}

inline std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The run of `allowed` characters after the first `marker` (empty when absent).
inline std::string token_after(const std::string& text, const std::string& marker,
                               const std::string& allowed) {
  const auto at = text.find(marker);
  if (at == std::string::npos) {
    return {};
  }
  const auto start = at + marker.size();
  const auto end = text.find_first_not_of(allowed, start);
  return text.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

// A fresh P-256 key in a 0600 PEM file, opened through the SDK's keystore.
inline std::unique_ptr<signer> make_key_file(const fs::path& path) {
  auto key = crypto::private_key::generate(crypto::key_type::ec_p256);
  if (!key) {
    return nullptr;
  }
  auto pem = key->to_pem();
  if (!pem) {
    return nullptr;
  }
  write_file(path, *pem, fs::perms::owner_read | fs::perms::owner_write);
  auto s = open_key_file(path);
  return s ? std::move(*s) : nullptr;
}

// A TCP relay on 127.0.0.1: accepts when open, forwards to `target_port`, and can cut every
// relayed connection at once. It lets a test decide when a device may reach the server.
class tcp_relay {
public:
  tcp_relay() : acceptor_(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    accept();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~tcp_relay() {
    ioc_.stop();
    thread_.join();
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  void set_target(std::uint16_t port) { target_ = port; }
  void set_open(bool open) { open_ = open; }
  void cut_all() {
    boost::asio::post(ioc_, [this] {
      for (auto& w : links_) {
        if (auto l = w.lock()) {
          boost::system::error_code ec;
          l->a.close(ec);
          l->b.close(ec);
        }
      }
      links_.clear();
    });
  }
  // Existing connections stay open but carry nothing more (a silent network path); new ones
  // work normally.
  void freeze_all() {
    boost::asio::post(ioc_, [this] {
      for (auto& w : links_) {
        if (auto l = w.lock()) {
          l->frozen = true;
        }
      }
    });
  }

private:
  using tcp = boost::asio::ip::tcp;
  struct link {
    explicit link(boost::asio::io_context& ioc) : a(ioc), b(ioc) {}
    tcp::socket a;
    tcp::socket b;
    bool frozen = false;
    std::array<char, 16384> ab{};
    std::array<char, 16384> ba{};
  };

  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket s) {
      if (ec) {
        return;
      }
      if (open_) {
        auto l = std::make_shared<link>(ioc_);
        l->a = std::move(s);
        boost::system::error_code cec;
        l->b.connect({boost::asio::ip::make_address("127.0.0.1"), target_.load()}, cec);
        if (!cec) {
          links_.push_back(l);
          pump(l, l->a, l->b, l->ab);
          pump(l, l->b, l->a, l->ba);
        }
      }
      accept();
    });
  }
  static void pump(const std::shared_ptr<link>& l, tcp::socket& from, tcp::socket& to,
                   std::array<char, 16384>& buf) {
    from.async_read_some(boost::asio::buffer(buf),
                         [l, &from, &to, &buf](boost::system::error_code ec, std::size_t n) {
                           if (ec && l->frozen) {
                             return; // a silent path does not carry a close either
                           }
                           if (ec) {
                             boost::system::error_code ignored;
                             to.close(ignored);
                             from.close(ignored);
                             return;
                           }
                           if (l->frozen) {
                             pump(l, from, to, buf); // swallowed: a silent path
                             return;
                           }
                           boost::asio::async_write(
                               to, boost::asio::buffer(buf.data(), n),
                               [l, &from, &to, &buf](boost::system::error_code wec, std::size_t) {
                                 if (wec) {
                                   boost::system::error_code ignored;
                                   from.close(ignored);
                                   return;
                                 }
                                 pump(l, from, to, buf);
                               });
                         });
  }

  boost::asio::io_context ioc_;
  tcp::acceptor acceptor_;
  std::atomic<std::uint16_t> target_{0};
  std::atomic<bool> open_{true};
  std::vector<std::weak_ptr<link>> links_;
  std::thread thread_;
};

#if defined(AEGISD_PATH) && defined(AEGISCTL_PATH)

// The real aegisd with an application account ("app" / app_password), provisioned through the
// real aegisctl (project "proj-sdk", registry "reg1", location "global").
class aegisd_instance {
public:
  static constexpr const char* app_password = "app secret 1";

  explicit aegisd_instance(const fs::path& dir, int jwt_skew_seconds = 600) : dir_(dir) {
    fs::create_directories(dir_);
    const outcome hash = run_child(
        {"sh", "-c",
         std::string("printf '%s' '") + app_password + "' | " + AEGISD_PATH + " --hash-password"});
    if (hash.code != 0) {
      throw std::runtime_error("aegisd --hash-password failed: " + hash.output);
    }
    std::string line = hash.output;
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
      line.pop_back();
    }
    write_file(dir_ / "accounts", "app:" + line + "\n",
               fs::perms::owner_read | fs::perms::owner_write);
    write_file(dir_ / "aegisd.toml",
               "[mqtt]\naccounts_file = \"" + (dir_ / "accounts").string() +
                   "\"\n[[mqtt.acl]]\nuser = \"app\"\naccess = \"subscribe\"\npattern = "
                   "\"projects/#\"\n[auth]\njwt_skew_seconds = " +
                   std::to_string(jwt_skew_seconds) + "\n",
               fs::perms::owner_read | fs::perms::owner_write);
    start();
  }
  ~aegisd_instance() { stop(); }

  // aegisd writes its log to a file, not a pipe: a pipe nobody reads while a thousand devices
  // connect would fill and stall the server.
  void start() {
    log_ = dir_ / ("aegisd-" + std::to_string(++starts_) + ".log");
    process_ = std::make_unique<child>(std::vector<std::string>{
        "sh", "-c", "exec \"$0\" \"$@\" > \"" + log_.string() + "\" 2>&1", AEGISD_PATH, "--config",
        (dir_ / "aegisd.toml").string(), "--data-dir", (dir_ / "data").string(), "--mqtt-listen",
        "127.0.0.1:0", "--https-listen", "127.0.0.1:0"});
    if (!wait_for_log("mqtt listening on 127.0.0.1:", 60s) ||
        !wait_for_log("https listening on 127.0.0.1:", 30s)) {
      throw std::runtime_error("aegisd did not start:\n" + output());
    }
    (void)wait_for_log("admin token: aeg_", 3s);
    std::this_thread::sleep_for(200ms);
    const std::string out = output();
    mqtt_port_ = static_cast<std::uint16_t>(
        std::stoi(token_after(out, "mqtt listening on 127.0.0.1:", "0123456789")));
    https_port_ = token_after(out, "https listening on 127.0.0.1:", "0123456789");
    const auto token = token_after(
        out, "admin token: ", "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");
    if (!token.empty()) {
      admin_token_ = token; // printed on the first start only
    }
  }
  bool wait_for_log(const std::string& needle, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (output().find(needle) == std::string::npos) {
      if (std::chrono::steady_clock::now() >= deadline || !process_->running()) {
        return output().find(needle) != std::string::npos;
      }
      std::this_thread::sleep_for(50ms);
    }
    return true;
  }
  void kill_hard() {
    if (process_) {
      process_->signal(SIGKILL);
      (void)process_->wait_exit(20s);
      process_.reset();
    }
  }
  void stop() {
    if (process_) {
      process_->signal(SIGTERM);
      if (process_->wait_exit(20s) < 0) {
        process_->signal(SIGKILL);
        (void)process_->wait_exit(10s);
      }
      process_.reset();
    }
  }

  std::uint16_t mqtt_port() const { return mqtt_port_; }
  std::string https_url() const { return "https://127.0.0.1:" + https_port_; }
  fs::path ca_file() const { return dir_ / "data" / "ca" / "ca.crt"; }
  const std::string& admin_token() const { return admin_token_; }
  std::string output() const { return log_.empty() ? std::string() : read_text(log_); }

  outcome ctl(std::vector<std::string> args) {
    const std::string profile = (dir_ / "ctl.json").string();
    if (!logged_in_) {
      const outcome login = run_child({AEGISCTL_PATH, "--config", profile, "login", "--server",
                                       https_url(), "--token", admin_token_, "--ca-file",
                                       ca_file().string(), "--project", "proj-sdk"});
      if (login.code != 0) {
        return login;
      }
      logged_in_ = true;
    }
    args.insert(args.begin(), {AEGISCTL_PATH, "--config", profile, "--server", https_url()});
    return run_child(std::move(args));
  }

  // Project p1 and registry reg1 (once).
  bool provision_registry() {
    for (auto args : {std::vector<std::string>{"project", "create", "proj-sdk"},
                      std::vector<std::string>{"registry", "create", "reg1"}}) {
      const outcome o = ctl(args);
      if (o.code != 0) {
        ADD_FAILURE() << "aegisctl " << args[0] << " create: " << o.output;
        return false;
      }
    }
    return true;
  }
  outcome create_device(const std::string& id, const signer& key, bool gateway = false) {
    auto pem = key.public_key_pem();
    if (!pem) {
      return {};
    }
    const fs::path pub = dir_ / (id + ".pub");
    write_file(pub, *pem, fs::perms::owner_read | fs::perms::owner_write);
    std::vector<std::string> args{"device", "create",       id,          "--registry",
                                  "reg1",   "--public-key", pub.string()};
    if (gateway) {
      args.emplace_back("--gateway");
    }
    return ctl(std::move(args));
  }

  // mosquitto_sub as the application account, -d so that "received SUBACK" says it is ready.
  std::unique_ptr<child> subscribe(const std::string& filter) const {
    auto c = std::make_unique<child>(std::vector<std::string>{"stdbuf",
                                                              "-oL",
                                                              "mosquitto_sub",
                                                              "-d",
                                                              "--cafile",
                                                              ca_file().string(),
                                                              "-h",
                                                              "127.0.0.1",
                                                              "-p",
                                                              std::to_string(mqtt_port_),
                                                              "-u",
                                                              "app",
                                                              "-P",
                                                              app_password,
                                                              "-V",
                                                              "mqttv311",
                                                              "-q",
                                                              "1",
                                                              "-v",
                                                              "-t",
                                                              filter});
    return c;
  }

private:
  fs::path dir_;
  std::unique_ptr<child> process_;
  fs::path log_;
  int starts_ = 0;
  std::uint16_t mqtt_port_ = 0;
  std::string https_port_;
  std::string admin_token_;
  bool logged_in_ = false;
};

#endif

} // namespace aegis::device::testing
