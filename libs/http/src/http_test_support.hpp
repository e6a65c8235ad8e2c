#pragma once

// Test-only helpers for libs/http (included by *_test.cpp, never by the library): a temporary
// PKI made with the openssl CLI (copied from libs/net/src/test_support.hpp, which is private to
// libs/net) and a bounded TLS client that speaks raw HTTP/1.1 bytes and parses responses with
// Beast's response_parser.

#include "aegis/net/tls.hpp"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

namespace aegis::http::test {

using namespace std::chrono_literals;

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

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using http_response = bhttp::response<bhttp::string_body>;

// A blocking-style TLS client whose every operation is bounded by a timeout: each runs the
// client's own io_context until it completes or the time is up, then cancels.
class test_client {
public:
  explicit test_client(const test_pki& pki) {
    ssl_ctx_.set_verify_mode(asio::ssl::verify_peer);
    ssl_ctx_.load_verify_file(pki.p("root.crt"));
  }
  ~test_client() { close(); }
  test_client(const test_client&) = delete;
  test_client& operator=(const test_client&) = delete;

  bool connect(std::uint16_t port) {
    stream_.emplace(ioc_, ssl_ctx_);
    boost::system::error_code result = asio::error::timed_out;
    socket().async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                           [&](boost::system::error_code ec) { result = ec; });
    run(5s);
    if (result) {
      return false;
    }
    SSL_set_tlsext_host_name(stream_->native_handle(), "localhost");
    stream_->set_verify_callback(asio::ssl::host_name_verification("localhost"));
    result = asio::error::timed_out;
    stream_->async_handshake(asio::ssl::stream_base::client,
                             [&](boost::system::error_code ec) { result = ec; });
    run(10s);
    return !result;
  }

  boost::system::error_code write(std::string_view data) {
    boost::system::error_code result = asio::error::timed_out;
    asio::async_write(*stream_, asio::buffer(data),
                      [&](boost::system::error_code ec, std::size_t) { result = ec; });
    run(10s);
    return result;
  }

  // Appends what one read returns; timed_out if nothing came in time.
  boost::system::error_code read_some(std::chrono::milliseconds timeout) {
    boost::system::error_code result = asio::error::timed_out;
    stream_->async_read_some(asio::buffer(buffer_),
                             [&](boost::system::error_code ec, std::size_t n) {
                               result = ec;
                               received_.append(buffer_.data(), n);
                             });
    if (!run(timeout)) {
      return asio::error::timed_out; // cancelled at the deadline
    }
    return result;
  }

  // The next complete response (interim 1xx ones included), or nothing if the connection ended
  // or nothing complete came within `timeout`.
  std::optional<http_response> read_response(std::chrono::milliseconds timeout = 10s) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (!received_.empty()) {
        bhttp::response_parser<bhttp::string_body> parser;
        parser.eager(true);
        parser.body_limit(64 * 1024 * 1024);
        boost::system::error_code ec;
        std::size_t used = 0;
        while (used < received_.size() && !parser.is_done()) {
          const std::size_t n =
              parser.put(asio::buffer(received_.data() + used, received_.size() - used), ec);
          used += n;
          if (ec || n == 0) {
            break;
          }
        }
        if (parser.is_done()) {
          received_.erase(0, used);
          return parser.release();
        }
        if (ec && ec != bhttp::error::need_more) {
          ADD_FAILURE() << "unparseable response: " << ec.message() << ": " << received_;
          return std::nullopt;
        }
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        return std::nullopt;
      }
      if (read_some(left)) {
        return std::nullopt;
      }
    }
  }

  // Reads until the server ends the connection: true if it did within `timeout`.
  bool closed_by_server(std::chrono::milliseconds timeout = 10s) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        return false;
      }
      const auto ec = read_some(left);
      if (ec == asio::error::timed_out) {
        return false;
      }
      if (ec) {
        return true;
      }
    }
  }

  const std::string& unparsed() const noexcept { return received_; }
  // Hands over what arrived and was not parsed as a response (after a 101: WebSocket frames).
  std::string take_unparsed() { return std::exchange(received_, {}); }

  void close() {
    if (stream_) {
      boost::system::error_code ec;
      socket().close(ec);
    }
  }
  tcp::socket& socket() { return stream_->next_layer(); }

private:
  // False when the operation had to be cancelled at the deadline.
  bool run(std::chrono::milliseconds timeout) {
    ioc_.restart();
    ioc_.run_for(timeout);
    if (!ioc_.stopped()) {
      boost::system::error_code ec;
      socket().cancel(ec);
      ioc_.restart();
      ioc_.run();
      return false;
    }
    return true;
  }

  asio::io_context ioc_;
  asio::ssl::context ssl_ctx_{asio::ssl::context::tls_client};
  std::optional<asio::ssl::stream<tcp::socket>> stream_;
  std::array<char, 64 * 1024> buffer_{};
  std::string received_;
};

} // namespace aegis::http::test
