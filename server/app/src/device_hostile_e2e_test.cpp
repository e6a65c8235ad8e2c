// More of issue 5's isolation suite against the real aegisd (the first cases are in
// device_e2e_test.cpp, HostileDevicesAreRefusedAndLeakNothing): credentials that expire or are
// removed, deleted devices, floods, malformed client ids, takeovers, forged tokens and escapes
// from the device profile. Each case asserts the refusal, that an application account listening
// to the whole registry heard nothing of it, and that another device keeps working.

#include "device_e2e_fixture.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstddef>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace aegis::app::testing::e2e;
using aegis::app::testing::child;

std::size_t count_of(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

std::string rfc3339(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[32];
  (void)std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

class HostileE2E : public hub_fixture {
protected:
  // A python3-jwt script with the device key as argv[1]; prints the token.
  std::string mint(const std::string& script, const std::string& device = "sensor-1") {
    const auto r = run({"/usr/bin/python3", "-c",
                        "import jwt, time, sys, json, hmac, hashlib, base64\n"
                        "now = int(time.time())\n"
                        "key = open(sys.argv[1]).read()\n"
                        "def b64(b): return base64.urlsafe_b64encode(b).rstrip(b'=').decode()\n" +
                            script,
                        keys_.at("fleet/" + device).string()});
    EXPECT_EQ(r.rc, 0) << r.output;
    return trimmed(r.output);
  }

  run_result publish_as(const std::string& device, const std::string& token,
                        const std::string& payload, const std::string& version = "mqttv311",
                        const std::string& client_id = "") {
    return run(
        with(device_client("mosquitto_pub", client_id.empty() ? device_path(device) : client_id,
                           token, version),
             {"-t", "/devices/" + device + "/events", "-q", "1", "-m", payload}));
  }

  // A paho session (tests/interop/paho_device.py hold) that is connected and subscribed.
  std::unique_ptr<child> hold(const std::string& device, bool mqtt5,
                              const std::string& key_name = "") {
    std::vector<std::string> argv =
        paho("hold", device, key_name.empty() ? keys_.at("fleet/" + device) : dir_ / key_name,
             {"--deadline", "60"});
    if (mqtt5) {
      argv.emplace_back("--mqtt5");
    }
    auto session = std::make_unique<child>(argv);
    EXPECT_TRUE(session->wait_for_output("READY", 20s)) << session->output() << aegisd_->output();
    return session;
  }

  // Generous bound for "within 1 s": the session must end at most 5 s after `since`.
  static void expect_closed_soon(child& session, std::chrono::steady_clock::time_point since,
                                 const std::string& what) {
    const int rc = session.wait_exit(10s);
    const auto took = std::chrono::steady_clock::now() - since;
    EXPECT_EQ(rc, 0) << what << ": the session was not closed: " << session.output();
    EXPECT_LT(took, 5s) << what << ": closed only after "
                        << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                        << " ms";
    EXPECT_TRUE(contains(session.output(), "DISCONNECTED")) << session.output();
  }
};

// A credential whose expirationTime has passed opens nothing, over 3.1.1 or 5.0.
TEST_F(HostileE2E, ExpiredCredentialIsRefused) {
  auto listener = start_listener();
  // The API accepts only future expiration times: 3 s from now, then wait until it passed
  // (plus the hub's 2 s JWT skew and a margin).
  auto credential = es256_credential(keys_.at("fleet/sensor-1"));
  const auto expires = std::chrono::system_clock::now() + 3s;
  credential["expirationTime"] = rfc3339(expires);
  const auto patched =
      api("PATCH", "/api/v1/" + device_path("sensor-1") + "?updateMask=credentials",
          {{"credentials", json::array({credential})}});
  ASSERT_EQ(patched.first, 200) << patched.second.dump();
  const std::string jwt = device_jwt("sensor-1"); // well formed, signed by the expiring key
  std::this_thread::sleep_until(expires + 3s);
  for (const std::string version : {"mqttv311", "mqttv5"}) {
    const auto r = publish_as("sensor-1", jwt, "expired-credential-" + version, version);
    EXPECT_TRUE(refused_at_connect(r)) << version << ": " << r.output;
  }
  expect_other_device_works(*listener, "expired-credential");
  expect_not_heard(*listener, "expired-credential-");
}

// Removing the credential a session logged in with (PATCH credentials) cuts that session within
// about a second; tokens signed by the removed key are refused at connect; the new key works.
TEST_F(HostileE2E, RemovedCredentialCutsTheLiveSessionAndItsTokens) {
  auto listener = start_listener();
  const std::string old_jwt = device_jwt("sensor-1");
  for (const bool mqtt5 : {false, true}) {
    SCOPED_TRACE(mqtt5 ? "MQTT 5" : "MQTT 3.1.1");
    const std::string old_key = mqtt5 ? "rotated-1.key" : "fleet_sensor-1.key";
    const std::string new_key_name = mqtt5 ? "rotated-2" : "rotated-1";
    auto session = hold("sensor-1", mqtt5, old_key);
    const fs::path new_key = make_es256_key(new_key_name);
    const auto since = std::chrono::steady_clock::now();
    const auto patched =
        api("PATCH", "/api/v1/" + device_path("sensor-1") + "?updateMask=credentials",
            {{"credentials", json::array({es256_credential(new_key)})}});
    ASSERT_EQ(patched.first, 200) << patched.second.dump();
    expect_closed_soon(*session, since, "credential removed");
    if (!mqtt5) {
      for (const std::string version : {"mqttv311", "mqttv5"}) {
        const auto r = publish_as("sensor-1", old_jwt, "removed-key-" + version, version);
        EXPECT_TRUE(refused_at_connect(r)) << version << ": " << r.output;
      }
    }
    const auto ok = publish_as("sensor-1", jwt_for(new_key), "new-key-works");
    EXPECT_EQ(ok.rc, 0) << ok.output << aegisd_->output();
  }
  EXPECT_TRUE(listener->wait_for_output("new-key-works", 10s)) << listener->output();
  expect_other_device_works(*listener, "removed-credential");
  expect_not_heard(*listener, "removed-key-");
}

// Deleting a device cuts its live session within about a second; it cannot come back.
TEST_F(HostileE2E, DeletedDeviceLosesItsLiveSession) {
  auto listener = start_listener();
  const std::string jwt = device_jwt("sensor-1");
  auto session = hold("sensor-1", false);
  const auto since = std::chrono::steady_clock::now();
  const auto deleted = api("DELETE", "/api/v1/" + device_path("sensor-1"));
  ASSERT_EQ(deleted.first, 200) << deleted.second.dump();
  expect_closed_soon(*session, since, "device deleted");
  for (const std::string version : {"mqttv311", "mqttv5"}) {
    const auto r = publish_as("sensor-1", jwt, "deleted-device-" + version, version);
    EXPECT_TRUE(refused_at_connect(r)) << version << ": " << r.output;
  }
  expect_other_device_works(*listener, "deleted-device");
  expect_not_heard(*listener, "deleted-device-");
}

// Beyond 100 messages a second on one connection the excess is dropped (v5 QoS 1 hears PUBACK
// 0x97 Quota exceeded); another device is not slowed down.
TEST_F(HostileE2E, PublishFloodIsCutToTheRateLimit) {
  auto listener = start_listener();
  const std::string jwt = device_jwt("sensor-1");
  constexpr int flood = 2000;
  const auto r0 = run(with(device_client("mosquitto_pub", device_path("sensor-1"), jwt, "mqttv5"),
                           {"-t", "/devices/sensor-1/events", "-q", "0", "--repeat",
                            std::to_string(flood), "--repeat-delay", "0", "-m", "flood-q0"}),
                      60s);
  EXPECT_EQ(r0.rc, 0) << r0.output;
  const auto r1 = run(with(device_client("mosquitto_pub", device_path("sensor-1"), jwt, "mqttv5"),
                           {"-d", "-t", "/devices/sensor-1/events", "-q", "1", "--repeat", "1000",
                            "--repeat-delay", "0", "-m", "flood-q1"}),
                      60s);
  // The refusal is told, per message.
  EXPECT_TRUE(contains(r1.output, "RC:151")) << r1.output.substr(0, 4000);
  expect_other_device_works(*listener, "flood");
  const auto heard = count_of(listener->output(), " flood-q0");
  EXPECT_GE(heard, 1U) << listener->output().substr(0, 2000);
  EXPECT_LT(heard, static_cast<std::size_t>(flood)) << "nothing was dropped";
  EXPECT_LT(count_of(listener->output(), " flood-q1"), 1000U);
}

// Client ids that are not exactly a device path are refused, even with the device's valid token.
TEST_F(HostileE2E, MalformedClientIdsAreRefused) {
  auto listener = start_listener();
  const std::string jwt = device_jwt("sensor-1");
  const std::string reg = "projects/acme-iot/locations/eu/registries/";
  for (const std::string& id : std::vector<std::string>{
           device_path("sensor-1") + "/", device_path("sensor-1") + "/#", device_path("+"),
           device_path("#"), reg + "+/devices/sensor-1", reg + "fleet/devices/../devices/sensor-1",
           " " + device_path("sensor-1"), "sensor-1",
           "PROJECTS/acme-iot/locations/eu/registries/fleet/devices/sensor-1"}) {
    for (const std::string version : {"mqttv311", "mqttv5"}) {
      const auto r = publish_as("sensor-1", jwt, "bad-client-id", version, id);
      EXPECT_TRUE(refused_at_connect(r)) << "'" << id << "' " << version << ": " << r.output;
    }
  }
  // A NUL (not valid MQTT UTF-8) or a control character inside the client id: libmosquitto
  // will not send these, paho does.
  for (const std::string suffix : {"\\x00x", "\\x01", "\\x7f"}) {
    for (const bool mqtt5 : {false, true}) {
      auto argv = paho("hold", "sensor-1", keys_.at("fleet/sensor-1"),
                       {"--client-id-suffix", suffix, "--deadline", "15"});
      if (mqtt5) {
        argv.emplace_back("--mqtt5");
      }
      const auto r = run(argv, 30s);
      EXPECT_NE(r.rc, 0) << suffix << ": " << r.output;
      EXPECT_FALSE(contains(r.output, "CONNACK 0")) << suffix << ": " << r.output;
      EXPECT_TRUE(contains(r.output, "DISCONNECTED")) << suffix << ": " << r.output;
    }
  }
  expect_other_device_works(*listener, "client-id");
  expect_not_heard(*listener, "bad-client-id");
}

// One connection per device: a second one closes the first (v5: DISCONNECT 0x8E).
TEST_F(HostileE2E, SecondConnectionClosesTheFirst) {
  auto listener = start_listener();
  for (const bool mqtt5 : {false, true}) {
    SCOPED_TRACE(mqtt5 ? "MQTT 5" : "MQTT 3.1.1");
    auto first = hold("sensor-1", mqtt5);
    const auto since = std::chrono::steady_clock::now();
    const std::string payload = std::string("second-session-") + (mqtt5 ? "5" : "3");
    const auto r = publish_as("sensor-1", device_jwt("sensor-1"), payload);
    EXPECT_EQ(r.rc, 0) << r.output << aegisd_->output();
    expect_closed_soon(*first, since, "taken over");
    EXPECT_TRUE(listener->wait_for_output(payload, 10s)) << listener->output();
  }
  expect_other_device_works(*listener, "takeover");
}

// SUBSCRIBE at QoS 2 is granted QoS 1, and the config comes at QoS 1; PUBLISH at QoS 2 over
// 3.1.1 closes the connection (device_e2e_test.cpp covers 5.0).
TEST_F(HostileE2E, QoS2IsNotGrantedToDevices) {
  auto listener = start_listener();
  ASSERT_EQ(api("POST", "/api/v1/" + device_path("sensor-1") + ":modifyCloudToDeviceConfig",
                {{"binaryData", "cW9zPTI="}}) // "qos=2"
                .first,
            200);
  for (const std::string version : {"mqttv311", "mqttv5"}) {
    const auto r = run(with(
        device_client("mosquitto_sub", device_path("sensor-1"), device_jwt("sensor-1"), version),
        {"-d", "-t", "/devices/sensor-1/config", "-q", "2", "-C", "1", "-W", "20"}));
    EXPECT_EQ(r.rc, 0) << version << ": " << r.output;
    EXPECT_TRUE(contains(r.output, "Subscribed (mid: 1): 1")) << version << ": " << r.output;
    EXPECT_TRUE(contains(r.output, "received PUBLISH (d0, q1")) << version << ": " << r.output;
    EXPECT_TRUE(contains(r.output, "qos=2")) << r.output;
  }
  const auto q2 = run(with(
      device_client("mosquitto_pub", device_path("sensor-1"), device_jwt("sensor-1"), "mqttv311"),
      {"-t", "/devices/sensor-1/events", "-q", "2", "-m", "qos2-leak"}));
  EXPECT_TRUE(closed_by_server(q2)) << q2.output;
  expect_other_device_works(*listener, "qos2");
  expect_not_heard(*listener, "qos2-leak");
}

// Tokens that are not what a device's key signs for this project are refused.
TEST_F(HostileE2E, ForgedTokensAreRefused) {
  auto listener = start_listener();
  const std::string aud = "'aud': '" + project + "'";
  const std::vector<std::pair<std::string, std::string>> tokens{
      // Device 1's valid token with device 2's client id, over 5.0 this time.
      {"forged-id", ""},
      {"alg-none",
       "print(jwt.encode({'iat': now, 'exp': now + 600, " + aud + "}, None, algorithm='none'))\n"},
      // Key confusion: HS256 with the device's public key as the HMAC secret.
      {"hs256-public-key",
       "pub = open(sys.argv[1][:-4] + '.pub').read().encode()\n"
       "h = b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())\n"
       "c = b64(json.dumps({'iat': now, 'exp': now + 600, " +
           aud +
           "}).encode())\n"
           "s = b64(hmac.new(pub, (h + '.' + c).encode(), hashlib.sha256).digest())\n"
           "print(h + '.' + c + '.' + s)\n"},
      {"no-exp", "print(jwt.encode({'iat': now, " + aud + "}, key, algorithm='ES256'))\n"},
      {"no-aud", "print(jwt.encode({'iat': now, 'exp': now + 600}, key, algorithm='ES256'))\n"},
      {"future-iat", "print(jwt.encode({'iat': now + 3600, 'exp': now + 7200, " + aud +
                         "}, key, algorithm='ES256'))\n"},
      // A valid signature over a token whose claims were edited afterwards.
      {"tampered", "t = jwt.encode({'iat': now, 'exp': now + 600, 'aud': 'other'}, key,"
                   " algorithm='ES256').split('.')\n"
                   "c = b64(json.dumps({'iat': now, 'exp': now + 600, " +
                       aud + "}).encode())\nprint(t[0] + '.' + c + '.' + t[2])\n"},
  };
  for (const auto& [name, script] : tokens) {
    for (const std::string version : {"mqttv311", "mqttv5"}) {
      run_result r;
      if (name == "forged-id") {
        r = publish_as("sensor-2", device_jwt("sensor-1"), name + "-leak", version);
      } else {
        r = publish_as("sensor-1", mint(script), name + "-leak", version);
      }
      EXPECT_TRUE(refused_at_connect(r)) << name << " " << version << ": " << r.output;
    }
  }
  expect_other_device_works(*listener, "forged");
  expect_not_heard(*listener, "-leak");
}

// Ways out of the device profile: dot segments, another device's attach, shared subscriptions,
// retained messages, wills, forged user properties, oversize state, an application account
// publishing commands without a grant.
TEST_F(HostileE2E, DeviceProfileEscapesAreRefused) {
  auto listener = start_listener();
  const std::string jwt = device_jwt("sensor-1");
  auto as_device = [&](const std::string& version) {
    return device_client("mosquitto_pub", device_path("sensor-1"), jwt, version);
  };

  // A subfolder that climbs into another device.
  auto r = run(with(as_device("mqttv311"), {"-t", "/devices/sensor-1/events/../../sensor-2/events",
                                            "-q", "1", "-m", "dot-leak"}));
  EXPECT_TRUE(closed_by_server(r)) << r.output;
  // A plain device attaching another device (only gateways attach).
  r = run(with(as_device("mqttv5"), {"-t", "/devices/sensor-2/attach", "-q", "1", "-m", "{}"}));
  EXPECT_TRUE(closed_by_server(r)) << r.output;
  // A shared subscription on its own config: refused.
  for (const std::string version : {"mqttv311", "mqttv5"}) {
    const auto s = run(with(device_client("mosquitto_sub", device_path("sensor-1"), jwt, version),
                            {"-t", "$share/g//devices/sensor-1/config", "-W", "5"}));
    EXPECT_TRUE(subscription_denied(s)) << version << ": " << s.output;
  }
  // Telemetry over 256 KiB, from a file (an argv string is limited to 128 KiB, so `-m` cannot
  // carry it): refused with PUBACK 0x97 on 5.0, silently dropped on 3.1.1; exactly 256 KiB passes.
  const fs::path oversize = dir_ / "oversize.bin";
  std::ofstream(oversize) << std::string(256 * 1024 + 1, 'o');
  r = run(with(as_device("mqttv5"),
               {"-d", "-t", "/devices/sensor-1/events", "-q", "1", "-f", oversize.string()}));
  EXPECT_TRUE(contains(r.output, "RC:151")) << "a 256 KiB + 1 event was accepted: " << r.output;
  r = run(with(as_device("mqttv311"),
               {"-t", "/devices/sensor-1/events", "-q", "1", "-f", oversize.string()}));
  EXPECT_EQ(r.rc, 0) << r.output;
  const fs::path at_limit = dir_ / "at-limit.bin";
  std::ofstream(at_limit) << std::string(256 * 1024 - 8, 'k') << "at-limit";
  r = run(with(as_device("mqttv5"),
               {"-d", "-t", "/devices/sensor-1/events", "-q", "1", "-f", at_limit.string()}));
  EXPECT_FALSE(contains(r.output, "RC:151")) << "exactly 256 KiB was refused";
  EXPECT_TRUE(listener->wait_for_output("at-limit", 10s)) << aegisd_->output();

  // State over 64 KiB: refused with PUBACK 0x97 (mosquitto_pub 2.0.11 warns, exits 0).
  r = run(with(as_device("mqttv5"), {"-d", "-t", "/devices/sensor-1/state", "-q", "1", "-m",
                                     std::string(70 * 1024, 's')}));
  EXPECT_TRUE(contains(r.output, "RC:151")) << "a 70 KiB state was accepted: " << r.output;

  // A retained event is routed but never retained: a later subscriber gets nothing.
  r = run(with(as_device("mqttv311"),
               {"-t", "/devices/sensor-1/events", "-q", "1", "-r", "-m", "retained-event"}));
  EXPECT_EQ(r.rc, 0) << r.output;
  EXPECT_TRUE(listener->wait_for_output("retained-event", 10s)) << listener->output();
  const auto late = run(with(backend_client("mosquitto_sub"),
                             {"-t", registry_path + "/devices/+/events/#", "-v", "-W", "2"}));
  EXPECT_FALSE(contains(late.output, "retained-event")) << late.output;

  // A will aimed at another device: devices have no wills.
  {
    child willing(line_buffered(with(
        device_client("mosquitto_sub", device_path("sensor-1"), jwt, "mqttv5"),
        {"-d", "-t", "/devices/sensor-1/commands/#", "--will-topic", "/devices/sensor-2/events",
         "--will-payload", "will-leak", "--will-qos", "1", "-W", "30"})));
    // The will is stripped from the CONNECT, which is accepted.
    EXPECT_TRUE(willing.wait_for_output("received SUBACK", 15s)) << willing.output();
    willing.signal(SIGKILL);
    (void)willing.wait_exit(5s);
  }

  // The device's own user properties are replaced by the server's.
  child props(with(backend_client("mosquitto_sub"),
                   {"-t", registry_path + "/devices/+/events/#", "-F", "%t|%P|%p", "-W", "30"}));
  const auto spoof =
      with(as_device("mqttv5"), {"-t", "/devices/sensor-1/events", "-q", "1", "-D", "publish",
                                 "user-property", "deviceId", "sensor-2", "-m", "spoofed-props"});
  ASSERT_TRUE(publish_until_seen(props, spoof, "spoofed-props")) << props.output();
  const auto line_at = props.output().find("spoofed-props");
  const auto line = props.output().substr(props.output().rfind('\n', line_at) + 1,
                                          line_at - props.output().rfind('\n', line_at) - 1);
  EXPECT_TRUE(contains(line, "deviceId:sensor-1")) << line;
  EXPECT_FALSE(contains(line, "deviceId:sensor-2")) << line;

  // An application account without a publish grant cannot command a device.
  r = run(with(
      backend_client("mosquitto_pub"),
      {"-d", "-t", registry_path + "/devices/sensor-1/commands", "-q", "1", "-m", "app-leak"}));
  EXPECT_TRUE(contains(r.output, "RC:135")) << r.output; // PUBACK 0x87 Not authorized

  expect_other_device_works(*listener, "profile");
  for (const char* leaked : {"dot-leak", "will-leak", "app-leak"}) {
    expect_not_heard(*listener, leaked);
  }
  expect_not_heard(*listener, std::string(64, 's'));
  expect_not_heard(*listener, std::string(64, 'o'));
  const auto states = api("GET", "/api/v1/" + device_path("sensor-1") + "/states").second;
  EXPECT_FALSE(contains(states.dump(), "c3Nzc3Nz")) << "the oversize state was stored";
  EXPECT_EQ(count_of(listener->output(), "retained-event"), 1U) << listener->output();
}

// Blocking a device cuts its live session within about a second (DISCONNECT 0x87 on 5.0).
TEST_F(HostileE2E, BlockedDeviceIsCutPromptly) {
  auto listener = start_listener();
  const std::string jwt = device_jwt("sensor-1");
  auto session = hold("sensor-1", true);
  const auto since = std::chrono::steady_clock::now();
  const auto blocked = api("PATCH", "/api/v1/" + device_path("sensor-1") + "?updateMask=blocked",
                           {{"blocked", true}});
  ASSERT_EQ(blocked.first, 200) << blocked.second.dump();
  expect_closed_soon(*session, since, "device blocked");
  const auto r = publish_as("sensor-1", jwt, "blocked-leak", "mqttv5");
  EXPECT_TRUE(refused_at_connect(r)) << r.output;
  expect_other_device_works(*listener, "blocked");
  expect_not_heard(*listener, "blocked-leak");
}

// Revoking the certificate a session logged in with cuts it within about a second.
TEST_F(HostileE2E, RevokedCertificateCutsTheLiveSession) {
  auto listener = start_listener();
  const fs::path key = dir_ / "mtls.key";
  const fs::path csr = dir_ / "mtls.csr";
  const fs::path cert = dir_ / "mtls.crt";
  ASSERT_EQ(
      run({"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
           "-nodes", "-keyout", key.string(), "-out", csr.string(), "-subj", "/CN=sensor-1"})
          .rc,
      0);
  const auto signed_cert = api("POST", "/api/v1/" + device_path("sensor-1") + ":signCertificate",
                               {{"csr", read_text(csr)}, {"validityDays", 30}});
  ASSERT_EQ(signed_cert.first, 200) << signed_cert.second.dump();
  std::ofstream(cert) << signed_cert.second["certificate"].get<std::string>();

  auto argv = paho("hold", "sensor-1", key, {"--cert", cert.string(), "--mqtt5"});
  child session(argv);
  ASSERT_TRUE(session.wait_for_output("READY", 20s)) << session.output() << aegisd_->output();
  const auto since = std::chrono::steady_clock::now();
  ASSERT_EQ(api("POST", "/api/v1/certificates:revoke",
                {{"serial", signed_cert.second["serial"].get<std::string>()}})
                .first,
            200);
  expect_closed_soon(session, since, "certificate revoked");
  const auto r = run(with(cert_client("mosquitto_pub", device_path("sensor-1"), cert, key),
                          {"-t", "/devices/sensor-1/events", "-q", "1", "-m", "revoked-leak"}));
  EXPECT_TRUE(refused_at_connect(r)) << r.output;
  expect_other_device_works(*listener, "revoked");
  expect_not_heard(*listener, "revoked-leak");
}

// Turning MQTT off on the registry cuts its devices' sessions and refuses new ones; turned back
// on, its devices work again.
TEST_F(HostileE2E, MqttDisabledRegistryCutsItsSessions) {
  auto listener = start_listener();
  const std::string jwt = device_jwt("sensor-1");
  auto session = hold("sensor-1", false);
  const auto since = std::chrono::steady_clock::now();
  const std::string reg = registries_api + "/" + registry_id + "?updateMask=mqttConfig";
  const auto off = api("PATCH", reg, {{"mqttConfig", {{"mqttEnabledState", "MQTT_DISABLED"}}}});
  ASSERT_EQ(off.first, 200) << off.second.dump();
  expect_closed_soon(*session, since, "MQTT disabled");
  for (const std::string version : {"mqttv311", "mqttv5"}) {
    const auto r = publish_as("sensor-1", jwt, "mqtt-off-leak", version);
    EXPECT_TRUE(refused_at_connect(r)) << version << ": " << r.output;
  }
  const auto on = api("PATCH", reg, {{"mqttConfig", {{"mqttEnabledState", "MQTT_ENABLED"}}}});
  ASSERT_EQ(on.first, 200) << on.second.dump();
  expect_other_device_works(*listener, "mqtt-on-again");
  expect_not_heard(*listener, "mqtt-off-leak");
}

} // namespace
