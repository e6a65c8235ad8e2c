#pragma once

// The fixture of the device end-to-end tests beside device_e2e_test.cpp (whose own copy stays
// there): a real aegisd on 127.0.0.1:0 with a temporary data directory, provisioned through the
// admin API with curl, devices keyed by `openssl`, JWTs minted by python3-jwt, and helpers to
// drive mosquitto clients. Stopped with SIGTERM, which must exit 0.

#include "aegis/auth/password_hash.hpp"
#include "test_child_process.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

namespace aegis::app::testing::e2e {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using json = nlohmann::json;

inline const std::string project = "acme-iot";
inline const std::string location = "eu";
inline const std::string registry_id = "fleet";
inline const std::string registry_path =
    "projects/" + project + "/locations/" + location + "/registries/" + registry_id;
inline const std::string registries_api =
    "/api/v1/projects/" + project + "/locations/" + location + "/registries";
inline const std::string backend_password = "backend secret";

inline std::string device_path(const std::string& device, const std::string& reg = registry_id) {
  return "projects/" + project + "/locations/" + location + "/registries/" + reg + "/devices/" +
         device;
}

inline std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) {
    s.pop_back();
  }
  return s;
}

struct run_result {
  int rc = -1;
  std::string output;
};

inline run_result run(std::vector<std::string> argv, std::chrono::milliseconds limit = 20s) {
  child c(std::move(argv));
  run_result r;
  r.rc = c.wait_exit(limit);
  r.output = c.output();
  return r;
}

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// mosquitto_sub exits (with 0) saying so when the broker refused every filter; a closed
// connection is a refusal too.
inline bool subscription_denied(const run_result& r) {
  return contains(r.output, "All subscription requests were denied") || (r.rc != 0 && r.rc != -1);
}

// mosquitto_pub/_sub reached the server and were refused at connect (CONNACK with a refusal,
// or a TLS handshake the server failed): not a local error such as an argument libmosquitto
// rejects before sending anything.
inline bool refused_at_connect(const run_result& r) {
  return r.rc != 0 && r.rc != -1 &&
         (contains(r.output, "Connection error") || contains(r.output, "TLS") ||
          contains(r.output, "Connection Refused") || contains(r.output, "protocol error"));
}

// mosquitto_pub connected and the server then closed the connection (on a refused PUBLISH).
inline bool closed_by_server(const run_result& r) {
  return r.rc != 0 && r.rc != -1 &&
         (contains(r.output, "connection was lost") ||
          contains(r.output, "not currently connected") || contains(r.output, "Not authorized"));
}

inline std::vector<std::string> with(std::vector<std::string> argv,
                                     std::initializer_list<std::string> more) {
  argv.insert(argv.end(), more);
  return argv;
}

// stdbuf -oL: a child's debug lines would otherwise sit in its stdio buffer on a pipe.
inline std::vector<std::string> line_buffered(const std::vector<std::string>& argv) {
  std::vector<std::string> out{"stdbuf", "-oL"};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

class hub_fixture : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_EQ(::access("/usr/bin/mosquitto_pub", X_OK), 0) << "run scripts/install-deps";
    ASSERT_EQ(::access("/usr/bin/curl", X_OK), 0) << "run scripts/install-deps";
    ASSERT_EQ(run({"/usr/bin/python3", "-c", "import jwt"}).rc, 0) << "python3-jwt missing";
    dir_ = fs::path(::testing::TempDir()) /
           ("aegisd_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->test_suite_name() + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);

    auto hash = aegis::auth::hash_password(aegis::bytes_view(
        reinterpret_cast<const std::uint8_t*>(backend_password.data()), backend_password.size()));
    ASSERT_TRUE(hash);
    std::ofstream(dir_ / "accounts") << "backend:" << *hash << "\nother:" << *hash << "\n";
    std::ofstream toml(dir_ / "aegisd.toml");
    toml << "[mqtt]\nlisten = \"127.0.0.1:0\"\naccounts_file = \"" << (dir_ / "accounts").string()
         << "\"\n";
    for (const std::string& pattern :
         {registry_path + "/devices/+/events/#", registry_path + "/devices/+/state",
          registry_path + "/devices/+/errors"}) {
      toml << "[[mqtt.acl]]\nuser = \"backend\"\naccess = \"subscribe\"\npattern = \"" << pattern
           << "\"\n";
    }
    toml << "[https]\nlisten = \"127.0.0.1:0\"\n"
         << "[auth]\njwt_skew_seconds = 2\n";
    toml.close();

    aegisd_ = std::make_unique<child>(
        std::vector<std::string>{AEGISD_PATH, "--config", (dir_ / "aegisd.toml").string(),
                                 "--data-dir", (dir_ / "data").string()});
    mqtt_port_ = port_after("mqtt listening on 127.0.0.1:");
    https_port_ = port_after("https listening on 127.0.0.1:");
    ASSERT_TRUE(aegisd_->wait_for_output("admin token: ", 10s)) << aegisd_->output();
    const auto at = aegisd_->output().find("admin token: ") + 13;
    token_ = aegisd_->output().substr(at, aegisd_->output().find('\n', at) - at);
    ASSERT_EQ(token_.rfind("aeg_", 0), 0U) << token_;
    ca_ = (dir_ / "data" / "ca" / "ca.crt").string();

    ASSERT_EQ(api("POST", "/api/v1/projects", {{"id", project}}).first, 200);
    ASSERT_EQ(api("POST", registries_api, {{"id", registry_id}}).first, 200);
    for (const std::string d : {"sensor-1", "sensor-2"}) {
      create_es256_device(d);
    }
  }

  void TearDown() override {
    if (aegisd_) {
      aegisd_->signal(SIGTERM);
      EXPECT_EQ(aegisd_->wait_exit(20s), 0) << aegisd_->output();
      aegisd_.reset();
    }
    if (!dir_.empty() && !HasFailure()) {
      fs::remove_all(dir_);
    }
  }

  std::string port_after(const std::string& marker) {
    EXPECT_TRUE(aegisd_->wait_for_output(marker, 30s)) << aegisd_->output();
    const auto pos = aegisd_->output().find(marker);
    if (pos == std::string::npos) {
      return "0";
    }
    return std::to_string(std::stoi(aegisd_->output().substr(pos + marker.size(), 6)));
  }

  // (HTTP status, parsed body) of one admin API call, by curl.
  std::pair<int, json> api(const std::string& method, const std::string& path,
                           const json& body = nullptr) {
    std::vector<std::string> argv{"curl",
                                  "-sS",
                                  "--cacert",
                                  ca_,
                                  "-H",
                                  "Authorization: Bearer " + token_,
                                  "-X",
                                  method,
                                  "-w",
                                  "\n%{http_code}",
                                  "https://localhost:" + https_port_ + path};
    if (!body.is_null()) {
      argv.insert(argv.end(),
                  {"-H", "Content-Type: application/json", "--data-binary", body.dump()});
    }
    const auto r = run(argv);
    if (r.rc != 0) {
      ADD_FAILURE() << "curl failed: " << r.output;
      return {0, nullptr};
    }
    const auto nl = r.output.rfind('\n');
    const int status = std::stoi(r.output.substr(nl + 1));
    const std::string text = r.output.substr(0, nl);
    return {status, text.empty() ? json(nullptr) : json::parse(text, nullptr, false)};
  }

  // A P-256 key made the way IoT Core's documentation makes it.
  fs::path make_es256_key(const std::string& name) {
    const fs::path key = dir_ / (name + ".key");
    const fs::path pub = dir_ / (name + ".pub");
    EXPECT_EQ(run({"openssl", "ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out",
                   key.string()})
                  .rc,
              0);
    EXPECT_EQ(run({"openssl", "ec", "-in", key.string(), "-pubout", "-out", pub.string()}).rc, 0);
    return key;
  }

  static json es256_credential(const fs::path& key) {
    return {
        {"publicKey",
         {{"format", "ES256_PEM"}, {"key", read_text(fs::path(key).replace_extension(".pub"))}}}};
  }

  void create_device(const std::string& id, json device, const std::string& reg = registry_id) {
    device["id"] = id;
    const auto r = api("POST", registries_api + "/" + reg + "/devices", device);
    ASSERT_EQ(r.first, 200) << r.second.dump();
  }

  void create_es256_device(const std::string& id, const std::string& reg = registry_id) {
    const fs::path key = make_es256_key(reg + "_" + id);
    keys_[reg + "/" + id] = key;
    create_device(id, {{"credentials", json::array({es256_credential(key)})}}, reg);
  }

  // A device JWT from python3-jwt, as IoT Core's Python sample mints it.
  std::string jwt_for(const fs::path& key, int lifetime_seconds = 3600,
                      const std::string& audience = project) {
    const std::string script =
        "import jwt, time, sys\n"
        "now = int(time.time())\n"
        "key = open(sys.argv[1]).read()\n"
        "print(jwt.encode({'iat': now, 'exp': now + int(sys.argv[2]), 'aud': sys.argv[3]}, key,"
        " algorithm='ES256'))\n";
    auto r = run({"/usr/bin/python3", "-c", script, key.string(), std::to_string(lifetime_seconds),
                  audience});
    EXPECT_EQ(r.rc, 0) << r.output;
    return trimmed(r.output);
  }

  std::string device_jwt(const std::string& device, const std::string& reg = registry_id) {
    return jwt_for(keys_.at(reg + "/" + device));
  }

  std::vector<std::string> device_client(const std::string& tool, const std::string& client_id,
                                         const std::string& password,
                                         const std::string& version = "mqttv311") const {
    return {tool,      "--cafile", ca_,      "-h", "localhost", "-p", mqtt_port_, "-i",
            client_id, "-u",       "unused", "-P", password,    "-V", version};
  }

  // A mosquitto client with a client certificate and no user name or password.
  std::vector<std::string> cert_client(const std::string& tool, const std::string& client_id,
                                       const fs::path& cert, const fs::path& key) const {
    return {tool,      "--cafile", ca_,        "-h",     "localhost",   "-p",    mqtt_port_,  "-i",
            client_id, "-V",       "mqttv311", "--cert", cert.string(), "--key", key.string()};
  }

  std::vector<std::string> backend_client(const std::string& tool,
                                          const std::string& user = "backend") const {
    return {tool, "--cafile",       ca_,  "-h",    "localhost", "-p", mqtt_port_, "-u", user,
            "-P", backend_password, "-V", "mqttv5"};
  }

  // An application listener on every device's events, state and gateway errors, whose
  // subscription is known to be active when this returns.
  std::unique_ptr<child> start_listener(int seconds = 120) {
    auto l = std::make_unique<child>(line_buffered(
        with(backend_client("mosquitto_sub"),
             {"-t", registry_path + "/devices/+/events/#", "-t", registry_path + "/devices/+/state",
              "-t", registry_path + "/devices/+/errors", "-q", "1", "-v", "-d", "-W",
              std::to_string(seconds)})));
    EXPECT_TRUE(l->wait_for_output("received SUBACK", 15s)) << l->output() << aegisd_->output();
    return l;
  }

  // Publishes as `device` until `sub` saw `payload` (the subscription may not be active yet).
  bool publish_until_seen(child& sub, const std::vector<std::string>& pub_argv,
                          const std::string& payload) {
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    while (sub.running() && std::chrono::steady_clock::now() < deadline) {
      const auto r = run(pub_argv);
      EXPECT_EQ(r.rc, 0) << r.output << aegisd_->output();
      if (r.rc != 0) {
        return false;
      }
      if (sub.wait_for_output(payload, 500ms)) {
        return true;
      }
    }
    return contains(sub.output(), payload);
  }

  // sensor-2 (never the device under attack) still publishes and is heard by `listener`.
  void expect_other_device_works(child& listener, const std::string& marker) {
    const std::string payload = "still-fine-" + marker;
    const auto pub =
        with(device_client("mosquitto_pub", device_path("sensor-2"), device_jwt("sensor-2")),
             {"-t", "/devices/sensor-2/events", "-q", "1", "-m", payload});
    EXPECT_TRUE(publish_until_seen(listener, pub, payload)) << marker << ": " << listener.output();
  }

  // Waits until the listener has been quiet a moment, then checks `leaked` never reached it.
  static void expect_not_heard(child& listener, const std::string& leaked) {
    (void)listener.wait_for_output("\x01never", 300ms);
    EXPECT_FALSE(contains(listener.output(), leaked)) << leaked << " leaked: " << listener.output();
  }

  std::vector<std::string> paho(const std::string& mode, const std::string& device,
                                const fs::path& key,
                                std::initializer_list<std::string> more = {}) const {
    std::vector<std::string> argv{"/usr/bin/python3",
                                  "-u",
                                  std::string(AEGIS_SOURCE_DIR) + "/tests/interop/paho_device.py",
                                  mode,
                                  "--port",
                                  mqtt_port_,
                                  "--ca",
                                  ca_,
                                  "--project",
                                  project,
                                  "--location",
                                  location,
                                  "--registry",
                                  registry_id,
                                  "--device",
                                  device,
                                  "--key",
                                  key.string()};
    argv.insert(argv.end(), more);
    return argv;
  }

  fs::path dir_;
  std::unique_ptr<child> aegisd_;
  std::string mqtt_port_;
  std::string https_port_;
  std::string token_;
  std::string ca_;
  std::map<std::string, fs::path> keys_;
};

} // namespace aegis::app::testing::e2e
