// The bridge behind a real TLS listener (net::server + http::make_handler_factory), driven by
// curl: a held long poll costs no thread, so with ONE I/O thread and ONE storage thread other
// devices' requests on other connections are still answered while it waits.

#include "aegis/bridge/device_bridge.hpp"
#include "aegis/http/server.hpp"
#include "aegis/net/server.hpp"
#include "aegis/net/tls.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

extern char** environ;

namespace aegis::bridge::test {
namespace {

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class temp_dir {
public:
  temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "aegis-bridge-XXXXXX").string();
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
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

private:
  std::filesystem::path path_;
};

// A child with stdout+stderr in a file; killed (by its pid) and reaped if still running.
class child {
public:
  child(const std::vector<std::string>& argv, const std::string& output) {
    ::signal(SIGPIPE, SIG_IGN);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
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
    if (rc != 0) {
      throw std::runtime_error("posix_spawnp failed for " + argv[0]);
    }
  }
  ~child() {
    if (!exit_code_) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  child(const child&) = delete;
  child& operator=(const child&) = delete;

  bool running() {
    if (exit_code_) {
      return false;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
      return false;
    }
    return true;
  }
  // The exit code, or nullopt when it is still running after `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (running()) {
      if (std::chrono::steady_clock::now() >= end) {
        return std::nullopt;
      }
      std::this_thread::sleep_for(10ms);
    }
    return exit_code_;
  }

private:
  pid_t pid_ = 0;
  std::optional<int> exit_code_;
};

int run(const std::vector<std::string>& argv, const std::string& output) {
  child c(argv, output);
  return c.wait(60s).value_or(-1);
}

// root CA -> server certificate for localhost / 127.0.0.1 (EC P-256), with the openssl CLI.
void make_pki(const temp_dir& dir) {
  std::ofstream(dir / "ext.cnf") << "[srv]\n"
                                    "basicConstraints = critical, CA:FALSE\n"
                                    "keyUsage = critical, digitalSignature\n"
                                    "extendedKeyUsage = serverAuth\n"
                                    "subjectAltName = DNS:localhost, IP:127.0.0.1\n";
  const auto log = dir / "openssl.log";
  const std::vector<std::vector<std::string>> steps = {
      {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
       "-keyout", dir / "root.key", "-out", dir / "root.crt", "-days", "2", "-subj",
       "/CN=Aegis Bridge Test Root"},
      {"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
       "-keyout", dir / "server.key", "-out", dir / "server.csr", "-subj", "/CN=localhost"},
      {"openssl",
       "x509",
       "-req",
       "-in",
       dir / "server.csr",
       "-CA",
       dir / "root.crt",
       "-CAkey",
       dir / "root.key",
       "-set_serial",
       "2",
       "-days",
       "2",
       "-sha256",
       "-extfile",
       dir / "ext.cnf",
       "-extensions",
       "srv",
       "-out",
       dir / "server.crt"},
  };
  for (const auto& step : steps) {
    if (run(step, log) != 0) {
      throw std::runtime_error("openssl failed: " + read_text(log));
    }
  }
}

// The bridge of a bridge_world served over TLS on 127.0.0.1 by ONE I/O thread (a poll that
// held it would stall everything), and a curl command line for it.
class DeviceBridgeTls : public ::testing::Test {
protected:
  DeviceBridgeTls() {
    make_pki(dir);
    world.add_device("fleet-a", "sensor-001", 0);
    world.add_device("fleet-a", "sensor-002", 1);
    net::tls_server_config tls;
    tls.certificates.push_back({dir / "server.crt", dir / "server.key"});
    auto ctx = net::tls_context::create(tls);
    if (!ctx) {
      throw std::runtime_error(ctx.error().message());
    }
    net::listener_options lo;
    lo.name = "bridge-test";
    lo.tls = *ctx;
    lo.make_handler = http::make_handler_factory({}, world.router().handler());
    auto listening = server.listen(std::move(lo));
    if (!listening) {
      throw std::runtime_error(listening.error().message());
    }
    port = std::to_string(listening->port);
  }
  ~DeviceBridgeTls() override {
    world.bridge().shutdown();
    server.stop(2s);
  }

  static net::server_options one_thread() {
    net::server_options so;
    so.threads = 1;
    return so;
  }

  std::vector<std::string> curl(const std::string& token, std::vector<std::string> extra,
                                const std::string& path, const std::string& out) const {
    std::vector<std::string> argv = {"curl",       "-sS",
                                     "--max-time", "30",
                                     "--cacert",   dir / "root.crt",
                                     "--resolve",  "localhost:" + port + ":127.0.0.1",
                                     "-H",         "Authorization: Bearer " + token,
                                     "-H",         "cache-control: no-cache",
                                     "-o",         out,
                                     "-w",         "%{http_code}"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back("https://localhost:" + port + path);
    return argv;
  }

  bool wait_for_open_polls(std::size_t n, child& client) {
    const auto end = std::chrono::steady_clock::now() + 20s;
    while (world.bridge().stats().open_polls != n) {
      if (std::chrono::steady_clock::now() >= end || !client.running()) {
        return false;
      }
      std::this_thread::sleep_for(10ms);
    }
    return true;
  }

  temp_dir dir;
  bridge_world world; // one storage thread
  net::server server{one_thread()};
  std::string port;
  const std::string dev1 = "/v1/" + registry::to_name(device_key_of("fleet-a", "sensor-001"));
  const std::string dev2 = "/v1/" + registry::to_name(device_key_of("fleet-a", "sensor-002"));
};

TEST_F(DeviceBridgeTls, AHeldPollDoesNotBlockOtherConnections) {
  // Device 1 long-polls for commands.
  child poll(curl(world.token(0), {}, dev1 + "/commands?wait=60", dir / "poll.body"),
             dir / "poll.status");
  ASSERT_TRUE(wait_for_open_polls(1, poll)) << read_text(dir / "poll.status");

  // Meanwhile device 2 publishes and reads its config over other connections.
  EXPECT_EQ(run(curl(world.token(1),
                     {"-X", "POST", "-H", "content-type: application/json", "--data",
                      R"({"binary_data":"aGk=","sub_folder":"t"})"},
                     dev2 + ":publishEvent", dir / "event.body"),
                dir / "event.status"),
            0);
  EXPECT_EQ(read_text(dir / "event.status"), "200");
  EXPECT_EQ(read_text(dir / "event.body"), "{}");
  EXPECT_EQ(run(curl(world.token(1), {}, dev2 + "/config?local_version=0", dir / "config.body"),
                dir / "config.status"),
            0);
  EXPECT_EQ(read_text(dir / "config.status"), "200");
  EXPECT_NE(read_text(dir / "config.body").find(R"("version":"1")"), std::string::npos);
  // A bad token on a third connection: refused, and still nothing disturbs the poll.
  EXPECT_EQ(run(curl("not-a-token", {}, dev2 + "/config", dir / "bad.body"), dir / "bad.status"),
            0);
  EXPECT_EQ(read_text(dir / "bad.status"), "401");
  ASSERT_TRUE(poll.running());
  ASSERT_EQ(world.sink().events().size(), 1u);
  EXPECT_EQ(as_string_view(world.sink().events()[0].payload), "hi");

  // A command reaches the waiting device at once.
  const auto sent = std::chrono::steady_clock::now();
  EXPECT_TRUE(world.bridge().deliver_command(device_key_of("fleet-a", "sensor-001"), "ping",
                                             to_bytes("now")));
  EXPECT_EQ(poll.wait(10s), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - sent, 5s);
  EXPECT_EQ(read_text(dir / "poll.status"), "200");
  const auto body = nlohmann::json::parse(read_text(dir / "poll.body"), nullptr, false);
  ASSERT_TRUE(body.is_object()) << read_text(dir / "poll.body");
  EXPECT_EQ(body["commands"][0]["subFolder"], "ping");
  EXPECT_EQ(body["commands"][0]["binaryData"], base64_encode(to_bytes("now")));
}

TEST_F(DeviceBridgeTls, AClientThatHangsUpFreesItsPollAndStartsTheGrace) {
  const auto key = device_key_of("fleet-a", "sensor-001");
  {
    child poll(curl(world.token(0), {}, dev1 + "/commands?wait=60", dir / "poll.body"),
               dir / "poll.status");
    ASSERT_TRUE(wait_for_open_polls(1, poll)) << read_text(dir / "poll.status");
  } // killed: the connection closes under the held poll
  const auto end = std::chrono::steady_clock::now() + 20s;
  while (world.bridge().stats().open_polls != 0 && std::chrono::steady_clock::now() < end) {
    world.bridge().run_timers_for_test();
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(world.bridge().stats().open_polls, 0u);
  EXPECT_EQ(world.bridge().stats().polls_connection_lost, 1u);
  // Within the grace a command waits for the next poll.
  EXPECT_TRUE(world.bridge().deliver_command(key, "", to_bytes("kept")));
  EXPECT_EQ(run(curl(world.token(0), {}, dev1 + "/commands?wait=60", dir / "next.body"),
                dir / "next.status"),
            0);
  EXPECT_EQ(read_text(dir / "next.status"), "200");
  EXPECT_NE(read_text(dir / "next.body").find(base64_encode(to_bytes("kept"))), std::string::npos);
}

} // namespace
} // namespace aegis::bridge::test
