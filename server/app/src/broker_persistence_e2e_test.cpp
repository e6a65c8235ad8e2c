// Durable MQTT state against the real aegisd (TLS, an application account): a persistent
// subscriber (mosquitto_sub -c) goes away; mosquitto_pub publishes QoS 1, QoS 2 and a retained
// message and gets its acknowledgements; aegisd is killed (SIGKILL, or stopped with SIGTERM) and
// started again on the same data directory; the subscriber comes back under its client id and
// receives exactly what was acknowledged, and a new subscriber gets the retained message. A
// hand-written client (python3's ssl module, raw MQTT 3.1.1) checks that a message sent but not
// acknowledged before the kill comes again with DUP and its packet id.

#include "aegis/auth/password_hash.hpp"
#include "test_child_process.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using aegis::app::testing::child;

// Phase "subscribe": CONNECT (clean session 0), SUBSCRIBE QoS 1, print READY, print the first
// PUBLISH without acknowledging it, then wait to be killed. Phase "resume": CONNECT again, print
// every PUBLISH (DUP flag, packet id, payload), PUBACK each; exit 0 after argv[5] of them.
constexpr const char* raw_client = R"py(
import socket, ssl, struct, sys, time
port, ca, phase, topic = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
want = int(sys.argv[5]) if len(sys.argv) > 5 else 1
def s16(b): return struct.pack('!H', len(b)) + b
def packet(t, body):
    n, rl = len(body), b''
    while True:
        d, n = n % 128, n // 128
        rl += bytes([d | (0x80 if n else 0)])
        if not n: break
    return bytes([t]) + rl + body
ctx = ssl.create_default_context(cafile=ca)
sock = ctx.wrap_socket(socket.create_connection(('127.0.0.1', port), timeout=20), server_hostname='localhost')
buf = b''
def read_packet():
    global buf
    while True:
        if len(buf) >= 2:
            mult, n, i = 1, 0, 1
            while True:
                if i >= len(buf): break
                b = buf[i]; n += (b & 0x7f) * mult; mult *= 128; i += 1
                if not b & 0x80:
                    if len(buf) >= i + n:
                        p = (buf[0], buf[i:i + n]); buf = buf[i + n:]; return p
                    break
        data = sock.recv(4096)
        if not data: raise SystemExit('closed')
        buf += data
var = s16(b'MQTT') + bytes([4, 0xC0]) + struct.pack('!H', 0)  # user, password, clean session 0
sock.sendall(packet(0x10, var + s16(b'raw-inflight') + s16(b'alice') + s16(b'correct horse')))
t, body = read_packet()
assert t == 0x20 and body[1] == 0, ('connack', t, body)
print('SESSION_PRESENT', body[0] & 1, flush=True)
if phase == 'subscribe':
    sock.sendall(packet(0x82, struct.pack('!H', 1) + s16(topic.encode()) + bytes([1])))
    t, body = read_packet()
    assert t == 0x90, ('suback', t)
    print('READY', flush=True)
    t, body = read_packet()
    assert t & 0xF0 == 0x30, ('publish', t)
    tl = struct.unpack('!H', body[:2])[0]
    pid = struct.unpack('!H', body[2 + tl:4 + tl])[0]
    print('GOT dup=%d qos=%d pid=%d %s' % ((t >> 3) & 1, (t >> 1) & 3, pid, body[4 + tl:].decode()), flush=True)
    time.sleep(60)
else:
    for _ in range(want):
        t, body = read_packet()
        assert t & 0xF0 == 0x30, ('publish', t)
        tl = struct.unpack('!H', body[:2])[0]
        pid = struct.unpack('!H', body[2 + tl:4 + tl])[0]
        print('GOT dup=%d qos=%d pid=%d %s' % ((t >> 3) & 1, (t >> 1) & 3, pid, body[4 + tl:].decode()), flush=True)
        sock.sendall(packet(0x40, struct.pack('!H', pid)))
    sock.sendall(bytes([0xE0, 0]))
    print('DONE', flush=True)
)py";

class BrokerPersistenceE2E : public ::testing::Test {
protected:
  void SetUp() override {
    for (const char* tool :
         {"/usr/bin/mosquitto_pub", "/usr/bin/mosquitto_sub", "/usr/bin/python3"}) {
      ASSERT_EQ(::access(tool, X_OK), 0) << tool << " missing: run scripts/install-deps";
    }
    dir_ = fs::path(::testing::TempDir()) /
           ("aegisd_persist_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    const std::string password = "correct horse";
    auto hash = aegis::auth::hash_password(
        aegis::bytes_view(reinterpret_cast<const std::uint8_t*>(password.data()), password.size()));
    ASSERT_TRUE(hash);
    std::ofstream(dir_ / "accounts") << "alice:" << *hash << "\n";
    std::ofstream(dir_ / "aegisd.toml")
        << "[mqtt]\nlisten = \"127.0.0.1:0\"\naccounts_file = \"" << (dir_ / "accounts").string()
        << "\"\n[https]\nlisten = \"127.0.0.1:0\"\n";
    std::ofstream(dir_ / "raw_client.py") << raw_client;
    start_aegisd();
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

  void start_aegisd() {
    aegisd_ = std::make_unique<child>(
        std::vector<std::string>{AEGISD_PATH, "--config", (dir_ / "aegisd.toml").string(),
                                 "--data-dir", (dir_ / "data").string()});
    const std::string marker = "mqtt listening on 127.0.0.1:";
    ASSERT_TRUE(aegisd_->wait_for_output(marker, 30s)) << aegisd_->output();
    ASSERT_TRUE(aegisd_->wait_for_output("application accounts", 5s)) << aegisd_->output();
    const auto at = aegisd_->output().find(marker) + marker.size();
    port_ = std::to_string(std::stoi(aegisd_->output().substr(at, 6)));
    ca_ = (dir_ / "data" / "ca" / "ca.crt").string();
  }

  // Stops aegisd with `sig` and starts it again on the same data directory.
  void restart(int sig) {
    aegisd_->signal(sig);
    const int rc = aegisd_->wait_exit(20s);
    if (sig == SIGKILL) {
      EXPECT_EQ(rc, 128 + SIGKILL);
    } else {
      EXPECT_EQ(rc, 0) << aegisd_->output();
    }
    last_output_ = aegisd_->output();
    aegisd_.reset();
    start_aegisd();
  }

  std::vector<std::string> client(const std::string& tool, const std::string& version) const {
    return {tool, "--cafile",      ca_,  "-h",   "localhost", "-p", port_, "-u", "alice",
            "-P", "correct horse", "-V", version};
  }

  static int run(std::vector<std::string> argv, std::string* output = nullptr) {
    child c(std::move(argv));
    const int rc = c.wait_exit(20s);
    if (output != nullptr) {
      *output = c.output();
    }
    return rc;
  }

  void publish(const std::string& version, const std::string& topic, const std::string& payload,
               const std::string& qos, bool retain = false) {
    auto args = client("mosquitto_pub", version);
    for (const auto& a :
         {std::string("-t"), topic, std::string("-q"), qos, std::string("-m"), payload}) {
      args.push_back(a);
    }
    if (retain) {
      args.emplace_back("-r");
    }
    std::string out;
    // Exit status 0: the PUBACK (QoS 1) or PUBCOMP (QoS 2) arrived.
    ASSERT_EQ(run(args, &out), 0) << out << aegisd_->output();
  }

  // The acknowledged messages must all be there after a restart by `sig`.
  void survives_restart(const std::string& version, int sig) {
    const std::string id = "persist-" + version;
    const std::string filter = "e2e/" + version + "/#";
    // Subscribe (clean session 0 / session expiry), then leave (-E: exit once subscribed).
    auto sub_args = client("mosquitto_sub", version);
    for (const auto& a : {std::string("-c"), std::string("-i"), id, std::string("-q"),
                          std::string("1"), std::string("-t"), filter, std::string("-E")}) {
      sub_args.push_back(a);
    }
    std::string out;
    ASSERT_EQ(run(sub_args, &out), 0) << out << aegisd_->output();

    publish(version, "e2e/" + version + "/a", "first qos1", "1");
    publish(version, "e2e/" + version + "/b", "second qos2", "2");
    publish(version, "e2e/" + version + "/c", "third qos1", "1");
    publish(version, "retained/" + version, "the retained one", "1", true);
    restart(sig);
    EXPECT_NE(aegisd_->output().find("restored 1 MQTT sessions"), std::string::npos)
        << aegisd_->output();

    // Back under the same client id: exactly the three messages, in order. It stays until its
    // timeout (-W, exit status 27) rather than leaving after the third (-C 3): a client that
    // closes with a packet still unread (our SUBACK) makes its kernel reset the connection, and
    // the server's kernel may then discard the client's last PUBACK before aegisd reads it.
    const auto resume = [&](const std::string& seconds) {
      auto args = client("mosquitto_sub", version);
      for (const auto& a :
           {std::string("-c"), std::string("-i"), id, std::string("-q"), std::string("1"),
            std::string("-t"), filter, std::string("-v"), std::string("-W"), seconds}) {
        args.push_back(a);
      }
      return args;
    };
    EXPECT_EQ(run(resume("4"), &out), 27) << out << aegisd_->output();
    EXPECT_EQ(out, "e2e/" + version + "/a first qos1\ne2e/" + version + "/b second qos2\ne2e/" +
                       version + "/c third qos1\nTimed out\n");
    // Everything was acknowledged: nothing is queued any more.
    EXPECT_EQ(run(resume("2"), &out), 27) << out;
    EXPECT_EQ(out, "Timed out\n");

    // A new subscriber gets the retained message.
    auto fresh_args = client("mosquitto_sub", version);
    for (const auto& a : {std::string("-t"), "retained/" + version, std::string("-C"),
                          std::string("1"), std::string("-W"), std::string("15")}) {
      fresh_args.push_back(a);
    }
    ASSERT_EQ(run(fresh_args, &out), 0) << out << aegisd_->output();
    EXPECT_EQ(out, "the retained one\n");
  }

  fs::path dir_;
  std::unique_ptr<child> aegisd_;
  std::string port_;
  std::string ca_;
  std::string last_output_;
};

TEST_F(BrokerPersistenceE2E, AcknowledgedMessagesSurviveSigkillV311) {
  survives_restart("mqttv311", SIGKILL);
}

TEST_F(BrokerPersistenceE2E, AcknowledgedMessagesSurviveSigkillV5) {
  survives_restart("mqttv5", SIGKILL);
}

TEST_F(BrokerPersistenceE2E, AcknowledgedMessagesSurviveSigtermV5) {
  survives_restart("mqttv5", SIGTERM);
  EXPECT_NE(last_output_.find("stopped"), std::string::npos) << last_output_;
}

TEST_F(BrokerPersistenceE2E, InflightMessageIsResentWithDupAfterSigkill) {
  const std::string script = (dir_ / "raw_client.py").string();
  child sub({"/usr/bin/python3", script, port_, ca_, "subscribe", "e2e/inflight"});
  ASSERT_TRUE(sub.wait_for_output("READY", 20s)) << sub.output() << aegisd_->output();
  publish("mqttv311", "e2e/inflight", "not yet acknowledged", "1");
  ASSERT_TRUE(sub.wait_for_output("GOT", 20s)) << sub.output();
  const auto first = sub.output().substr(sub.output().find("GOT"));
  EXPECT_EQ(first.find("GOT dup=0 qos=1 pid="), 0U) << first;
  const auto pid =
      first.substr(first.find("pid="), first.find(' ', first.find("pid=")) - first.find("pid="));
  restart(SIGKILL);
  sub.signal(SIGKILL);
  (void)sub.wait_exit(5s);

  child again({"/usr/bin/python3", script, port_, ca_, "resume", "e2e/inflight", "1"});
  EXPECT_EQ(again.wait_exit(20s), 0) << again.output() << aegisd_->output();
  EXPECT_NE(again.output().find("SESSION_PRESENT 1"), std::string::npos) << again.output();
  EXPECT_NE(again.output().find("GOT dup=1 qos=1 " + pid + " not yet acknowledged"),
            std::string::npos)
      << again.output() << " expected " << pid;
  EXPECT_NE(again.output().find("DONE"), std::string::npos);
}

} // namespace
