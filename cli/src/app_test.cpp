// Argument -> request mapping and output of aegisctl, through run() with a scripted transport.

#include "aegis/ctl/app.hpp"

#include "aegis/crypto/keys.hpp"
#include "aegis/crypto/x509.hpp"
#include "aegis/ctl/keyfiles.hpp"
#include "aegis/ctl/profile.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <sstream>

namespace aegis::ctl {
namespace {

using nlohmann::json;
using testing::fake_server;
using testing::fake_transport;
using testing::temp_dir;

const std::string token = "aeg_abcdefghijkl_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0cw";
const std::string R = "/api/v1/projects/p1/locations/global/registries";

class App : public ::testing::Test {
protected:
  void SetUp() override {
    ::unsetenv("AEGISCTL_TOKEN");
    profile p;
    p.server = "https://127.0.0.1:8443";
    p.token = token;
    p.ca_file = (dir.path() / "ca.crt").string();
    p.project = "p1";
    save_profile(config(), p);
  }

  std::string config() const { return (dir.path() / "aegisctl.json").string(); }

  int ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--config", config()});
    out.str({});
    err.str({});
    return run(args, out, err, [this](const endpoint& ep) {
      server.endpoints.push_back(ep);
      return std::make_unique<fake_transport>(server);
    });
  }

  const request& last() const { return server.requests.back(); }

  temp_dir dir;
  fake_server server;
  std::ostringstream out;
  std::ostringstream err;
};

TEST_F(App, UsesTheProfileEndpointAndDefaults) {
  server.answer(200, R"({"projects":[{"id":"p1","name":"projects/p1","createTime":"t"}]})");
  ASSERT_EQ(ctl({"project", "list"}), 0) << err.str();
  ASSERT_EQ(server.endpoints.size(), 1u);
  EXPECT_EQ(server.endpoints[0].server, "https://127.0.0.1:8443");
  EXPECT_EQ(server.endpoints[0].token, token);
  EXPECT_EQ(server.endpoints[0].ca_file, (dir.path() / "ca.crt").string());
  EXPECT_FALSE(server.endpoints[0].system_roots);
  EXPECT_EQ(server.endpoints[0].timeout, std::chrono::seconds(30));
  EXPECT_EQ(last(), (request{"GET", "/api/v1/projects", nullptr}));
  EXPECT_EQ(out.str(), "ID  NAME         CREATED\np1  projects/p1  t\n");
}

TEST_F(App, JsonPrintsTheAnswerUnchanged) {
  const std::string body = R"({"projects": [ {"id":"p1"} ], "nextPageToken":"n"})";
  server.answer(200, body);
  ASSERT_EQ(ctl({"--json", "project", "list", "--page-size", "1"}), 0);
  EXPECT_EQ(out.str(), body + "\n");
  EXPECT_EQ(last().target, "/api/v1/projects?pageSize=1");
  // Global flags may follow the subcommand too.
  server.answer(200, body);
  ASSERT_EQ(ctl({"project", "list", "--json"}), 0);
  EXPECT_EQ(out.str(), body + "\n");
}

TEST_F(App, TablesMentionTheNextPage) {
  server.answer(200, R"({"projects":[],"nextPageToken":"tok"})");
  ASSERT_EQ(ctl({"project", "list"}), 0);
  EXPECT_NE(err.str().find("--page-token tok"), std::string::npos);
}

TEST_F(App, ApiErrorIsOneLineExit1) {
  server.answer(
      404, R"({"error":{"code":404,"message":"device \"d1\" not found","status":"NOT_FOUND"}})");
  EXPECT_EQ(ctl({"device", "get", "d1", "--registry", "r1"}), 1);
  EXPECT_EQ(err.str(), "aegisctl: NOT_FOUND: device \"d1\" not found\n");
  EXPECT_EQ(out.str(), "");
}

TEST_F(App, ErrorWithoutDocumentNamesTheHttpStatus) {
  server.answer(502, "<html>bad gateway</html>");
  EXPECT_EQ(ctl({"project", "list"}), 1);
  EXPECT_EQ(err.str(), "aegisctl: HTTP 502: the server answered 502\n");
}

TEST_F(App, TheTokenNeverAppearsInErrors) {
  server.answer(401, R"({"error":{"code":401,"message":"bad token )" + token +
                         R"(","status":"UNAUTHENTICATED"}})");
  EXPECT_EQ(ctl({"project", "list"}), 1);
  EXPECT_EQ(err.str().find(token), std::string::npos);
  EXPECT_EQ(err.str().find("c2VjcmV0c2Vj"), std::string::npos);
  EXPECT_NE(err.str().find("UNAUTHENTICATED"), std::string::npos);
}

TEST_F(App, UsageErrorsExit2) {
  EXPECT_EQ(ctl({}), 2);
  EXPECT_EQ(ctl({"device", "get", "d1"}), 2); // --registry missing
  EXPECT_EQ(err.str().rfind("aegisctl: usage: ", 0), 0u);
  EXPECT_EQ(ctl({"token", "create", "--scope", "root"}), 2);
  EXPECT_EQ(ctl({"device", "config", "set", "d1", "--registry", "r"}), 2); // no data
  EXPECT_EQ(ctl({"device", "config", "set", "d1", "--registry", "r", "--data", "a", "--file", "f"}),
            2);
  EXPECT_TRUE(server.requests.empty());
}

TEST_F(App, Pkcs11DoesNotMixWithLocalKeys) {
  // The token itself is covered by pkcs11_token_test (SoftHSM2).
  EXPECT_EQ(ctl({"device", "create", "d1", "--registry", "r1", "--pkcs11", "--key-type", "es256",
                 "--out", dir.path().string()}),
            2);
  EXPECT_NE(err.str().find("--pkcs11 generates the key in the token"), std::string::npos)
      << err.str();
  EXPECT_TRUE(server.requests.empty());
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "d1.key"));
}

TEST_F(App, NoProjectIsAUsageError) {
  profile p = load_profile(config());
  p.project.clear();
  save_profile(config(), p);
  EXPECT_EQ(ctl({"registry", "list"}), 2);
  EXPECT_NE(err.str().find("--project"), std::string::npos);
  ASSERT_EQ(ctl({"registry", "list", "--project", "p2", "--location", "eu"}), 0);
  EXPECT_EQ(last().target, "/api/v1/projects/p2/locations/eu/registries");
}

TEST_F(App, ProjectAndRegistryCommands) {
  ASSERT_EQ(ctl({"project", "create", "p9"}), 0);
  EXPECT_EQ(last(), (request{"POST", "/api/v1/projects", {{"id", "p9"}}}));
  ASSERT_EQ(ctl({"registry", "create", "r1", "--no-mqtt"}), 0);
  EXPECT_EQ(last(),
            (request{"POST",
                     R,
                     {{"id", "r1"}, {"mqttConfig", {{"mqttEnabledState", "MQTT_DISABLED"}}}}}));
  ASSERT_EQ(ctl({"registry", "create", "r2"}), 0);
  EXPECT_EQ(last().body, json::parse(R"({"id":"r2"})"));
  ASSERT_EQ(ctl({"registry", "get", "r1"}), 0);
  EXPECT_EQ(last(), (request{"GET", R + "/r1", nullptr}));
  ASSERT_EQ(ctl({"registry", "delete", "r1"}), 0);
  EXPECT_EQ(last(), (request{"DELETE", R + "/r1", nullptr}));
  EXPECT_EQ(out.str(), "deleted registry r1\n");
}

TEST_F(App, DeviceCreateGeneratesTheKeyLocallyAndRegistersOnlyThePublicPart) {
  server.answer(200, R"({"id":"d1","numId":"5"})");
  ASSERT_EQ(ctl({"device", "create", "d1", "--registry", "r1", "--key-type", "ed25519", "--out",
                 dir.path().string()}),
            0)
      << err.str();
  const request& req = last();
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.target, R + "/r1/devices");
  EXPECT_EQ(req.body["id"], "d1");
  ASSERT_EQ(req.body["credentials"].size(), 1u);
  EXPECT_EQ(req.body["credentials"][0]["publicKey"]["format"], "ED25519_PEM");
  const std::string pem = req.body["credentials"][0]["publicKey"]["key"];
  EXPECT_EQ(req.body.dump().find("PRIVATE"), std::string::npos);
  auto priv = crypto::private_key::from_pem(read_file(dir.path() / "d1.key"));
  ASSERT_TRUE(priv);
  auto pub = crypto::public_key::from_pem(pem);
  ASSERT_TRUE(pub);
  EXPECT_TRUE(priv->public_part() == *pub);
  EXPECT_EQ(testing::mode_of(dir.path() / "d1.key"), 0600u);
  EXPECT_NE(out.str().find("numId:"), std::string::npos);

  // A second create refuses to overwrite the key and sends nothing.
  const auto before = server.requests.size();
  EXPECT_EQ(ctl({"device", "create", "d1", "--registry", "r1", "--key-type", "es256", "--out",
                 dir.path().string()}),
            1);
  EXPECT_NE(err.str().find("refusing to overwrite"), std::string::npos);
  EXPECT_EQ(server.requests.size(), before);
}

TEST_F(App, DeviceCreateRemovesTheKeyWhenRegistrationFails) {
  server.answer(409, R"({"error":{"code":409,"message":"exists","status":"ALREADY_EXISTS"}})");
  EXPECT_EQ(ctl({"device", "create", "d1", "--registry", "r1", "--key-type", "es256", "--out",
                 dir.path().string()}),
            1);
  EXPECT_EQ(err.str(), "aegisctl: ALREADY_EXISTS: exists\n");
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "d1.key"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "d1.pub"));
}

TEST_F(App, DeviceCreateWithAGivenPublicKeyInfersOrTakesTheFormat) {
  auto key = crypto::private_key::generate(crypto::key_type::rsa);
  ASSERT_TRUE(key);
  const auto pub = dir.path() / "k.pub";
  write_new_file(pub, *key->public_part().to_pem(), 0644);
  ASSERT_EQ(ctl({"device", "create", "d2", "--registry", "r1", "--public-key", pub.string()}), 0);
  EXPECT_EQ(last().body["credentials"][0]["publicKey"]["format"], "RSA_PEM");
  ASSERT_EQ(ctl({"device", "create", "d3", "--registry", "r1", "--public-key", pub.string(),
                 "--format", "RSA_PEM", "--gateway", "--metadata", "a=b"}),
            0);
  EXPECT_EQ(last().body["gatewayConfig"]["gatewayType"], "GATEWAY");
  EXPECT_EQ(last().body["metadata"], json::parse(R"({"a":"b"})"));
  EXPECT_EQ(ctl({"device", "create", "d4", "--registry", "r1", "--public-key", pub.string(),
                 "--key-type", "es256", "--out", dir.path().string()}),
            2);
}

TEST_F(App, BlockUnblockDeleteListGet) {
  ASSERT_EQ(ctl({"device", "block", "d1", "--registry", "r1"}), 0);
  EXPECT_EQ(last(),
            (request{"PATCH", R + "/r1/devices/d1?updateMask=blocked", {{"blocked", true}}}));
  ASSERT_EQ(ctl({"device", "unblock", "d1", "--registry", "r1"}), 0);
  EXPECT_EQ(last().body, json::parse(R"({"blocked":false})"));
  ASSERT_EQ(ctl({"device", "delete", "d1", "--registry", "r1"}), 0);
  EXPECT_EQ(last(), (request{"DELETE", R + "/r1/devices/d1", nullptr}));
  server.answer(200, R"({"devices":[{"id":"d1","numId":"7","blocked":true}]})");
  ASSERT_EQ(ctl({"device", "list", "--registry", "r1"}), 0);
  EXPECT_EQ(last().target, R + "/r1/devices");
  EXPECT_EQ(out.str(), "ID  NUM_ID  BLOCKED  GATEWAY  LAST_EVENT\nd1  7       yes\n");
}

TEST_F(App, CredentialsAddAndRemoveReadModifyWrite) {
  const json existing = json::parse(R"({"id":"d1","credentials":[
      {"publicKey":{"format":"ES256_PEM","key":"A"}},
      {"publicKey":{"format":"ES256_PEM","key":"B"},"expirationTime":"2030-01-01T00:00:00Z"}]})");
  server.answer(200, existing.dump());
  ASSERT_EQ(ctl({"device", "credentials", "remove", "d1", "0", "--registry", "r1"}), 0)
      << err.str();
  ASSERT_EQ(server.requests.size(), 2u);
  EXPECT_EQ(server.requests[0], (request{"GET", R + "/r1/devices/d1", nullptr}));
  EXPECT_EQ(last().method, "PATCH");
  EXPECT_EQ(last().target, R + "/r1/devices/d1?updateMask=credentials");
  EXPECT_EQ(last().body, (json{{"credentials", json::array({existing["credentials"][1]})}}));

  server.answer(200, existing.dump());
  EXPECT_EQ(ctl({"device", "credentials", "remove", "d1", "2", "--registry", "r1"}), 2);

  server.answer(200, existing.dump());
  ASSERT_EQ(ctl({"device", "credentials", "add", "d1", "--registry", "r1", "--key-type", "es256",
                 "--out", dir.path().string(), "--expiration", "2031-01-01T00:00:00Z"}),
            0);
  ASSERT_EQ(last().body["credentials"].size(), 3u);
  EXPECT_EQ(last().body["credentials"][2]["expirationTime"], "2031-01-01T00:00:00Z");
  EXPECT_EQ(last().body["credentials"][2]["publicKey"]["key"], read_file(dir.path() / "d1.pub"));
}

TEST_F(App, CredentialsListShowsIndexAndFingerprint) {
  auto key = crypto::private_key::generate(crypto::key_type::ec_p256);
  ASSERT_TRUE(key);
  const auto pem = *key->public_part().to_pem();
  const auto fp = *key->public_part().fingerprint_sha256();
  server.answer(200,
                json{{"id", "d1"},
                     {"credentials", {{{"publicKey", {{"format", "ES256_PEM"}, {"key", pem}}}}}}}
                    .dump());
  ASSERT_EQ(ctl({"device", "credentials", "list", "d1", "--registry", "r1"}), 0);
  EXPECT_EQ(out.str(), "INDEX  FORMAT     FINGERPRINT              EXPIRES\n"
                       "0      ES256_PEM  sha256:" +
                           fp.substr(0, 16) + "\n");
}

TEST_F(App, ConfigStateCommandBind) {
  server.answer(200, R"({"version":"2"})");
  ASSERT_EQ(
      ctl({"device", "config", "set", "d1", "--registry", "r1", "--data", "on", "--version", "1"}),
      0);
  EXPECT_EQ(last(), (request{"POST",
                             R + "/r1/devices/d1:modifyCloudToDeviceConfig",
                             {{"binaryData", "b24="}, {"versionToUpdate", "1"}}}));
  EXPECT_EQ(out.str(), "config version 2 set for d1\n");

  const auto f = dir.path() / "cfg.bin";
  write_new_file(f, "xyz", 0644);
  ASSERT_EQ(ctl({"device", "config", "set", "d1", "--registry", "r1", "--file", f.string()}), 0);
  EXPECT_EQ(last().body, json::parse(R"({"binaryData":"eHl6"})"));

  server.answer(
      200, R"({"deviceConfigs":[{"version":"2","cloudUpdateTime":"t2","binaryData":"b24="}]})");
  ASSERT_EQ(ctl({"device", "config", "get", "d1", "--registry", "r1"}), 0);
  EXPECT_EQ(last().target, R + "/r1/devices/d1/configVersions?numVersions=1");
  EXPECT_NE(out.str().find("data:     on"), std::string::npos) << out.str();

  server.answer(
      200,
      R"({"deviceConfigs":[{"version":"2","binaryData":"b24="},{"version":"1","binaryData":"AAE="}]})");
  ASSERT_EQ(ctl({"device", "config", "history", "d1", "--registry", "r1", "--limit", "5"}), 0);
  EXPECT_EQ(last().target, R + "/r1/devices/d1/configVersions?numVersions=5");
  EXPECT_EQ(out.str(), "VERSION  UPDATED  ACKED  DATA\n2                        on\n1              "
                       "          base64:AAE=\n");

  ASSERT_EQ(ctl({"device", "state", "d1", "--registry", "r1", "--limit", "3"}), 0);
  EXPECT_EQ(last().target, R + "/r1/devices/d1/states?numStates=3");

  ASSERT_EQ(ctl({"device", "command", "send", "d1", "--registry", "r1", "--data", "go",
                 "--subfolder", "ops"}),
            0);
  EXPECT_EQ(last(), (request{"POST",
                             R + "/r1/devices/d1:sendCommandToDevice",
                             {{"binaryData", "Z28="}, {"subfolder", "ops"}}}));

  ASSERT_EQ(ctl({"device", "bind", "d1", "--registry", "r1", "--gateway", "gw"}), 0);
  EXPECT_EQ(
      last(),
      (request{"POST", R + "/r1:bindDeviceToGateway", {{"gatewayId", "gw"}, {"deviceId", "d1"}}}));
  ASSERT_EQ(ctl({"device", "unbind", "d1", "--registry", "r1", "--gateway", "gw"}), 0);
  EXPECT_EQ(last().target, R + "/r1:unbindDeviceFromGateway");
}

TEST_F(App, Groups) {
  ASSERT_EQ(ctl({"group", "create", "g1", "--registry", "r1", "--label", "env=prod"}), 0);
  EXPECT_EQ(last(),
            (request{"POST", R + "/r1/groups", {{"id", "g1"}, {"labels", {{"env", "prod"}}}}}));
  ASSERT_EQ(ctl({"group", "add", "g1", "d1", "d2", "--registry", "r1"}), 0);
  EXPECT_EQ(last(),
            (request{"POST", R + "/r1/groups/g1:addDevices", {{"deviceIds", {"d1", "d2"}}}}));
  ASSERT_EQ(ctl({"group", "remove", "g1", "d2", "--registry", "r1"}), 0);
  EXPECT_EQ(last().target, R + "/r1/groups/g1:removeDevices");
  server.answer(200, R"({"groups":[{"id":"g1","name":"n1"}]})");
  ASSERT_EQ(ctl({"group", "list", "--registry", "r1"}), 0);
  EXPECT_EQ(last().target, R + "/r1/groups");
  EXPECT_EQ(out.str(), "ID  NAME\ng1  n1\n");
  ASSERT_EQ(ctl({"group", "get", "g1", "--registry", "r1"}), 0);
  ASSERT_EQ(ctl({"group", "delete", "g1", "--registry", "r1"}), 0);
  EXPECT_EQ(last(), (request{"DELETE", R + "/r1/groups/g1", nullptr}));
  EXPECT_EQ(ctl({"group", "create", "g1", "--registry", "r1", "--label", "bad"}), 2);
}

TEST_F(App, CaCertTokenAudit) {
  ASSERT_EQ(ctl({"ca", "get"}), 0);
  EXPECT_EQ(last(), (request{"GET", "/api/v1/ca", nullptr}));
  ASSERT_EQ(ctl({"ca", "registration-code"}), 0);
  EXPECT_EQ(last().target, "/api/v1/ca:registrationCode");
  const auto c = dir.path() / "c.pem";
  const auto v = dir.path() / "v.pem";
  write_new_file(c, "CERT", 0644);
  write_new_file(v, "VERIFY", 0644);
  ASSERT_EQ(ctl({"ca", "register", "--registry", "r1", "--cert", c.string(), "--verification-cert",
                 v.string()}),
            0);
  EXPECT_EQ(last(), (request{"POST",
                             R + "/r1:registerCaCertificate",
                             {{"certificate", "CERT"}, {"verificationCertificate", "VERIFY"}}}));
  ASSERT_EQ(ctl({"cert", "revoke", "0abc", "--reason", "lost"}), 0);
  EXPECT_EQ(
      last(),
      (request{"POST", "/api/v1/certificates:revoke", {{"serial", "0abc"}, {"reason", "lost"}}}));
  ASSERT_EQ(ctl({"cert", "revoked"}), 0);
  EXPECT_EQ(last().target, "/api/v1/certificates/revoked");

  server.answer(200, R"({"id":"t1","token":"aeg_t1_newsecret","scope":"viewer"})");
  ASSERT_EQ(ctl({"token", "create", "--scope", "viewer", "--description", "ci", "--ttl", "60"}), 0);
  EXPECT_EQ(last(), (request{"POST",
                             "/api/v1/tokens",
                             {{"scope", "viewer"}, {"description", "ci"}, {"ttlSeconds", "60"}}}));
  // The new token is the point of the command; the caller's own token is not shown.
  EXPECT_NE(out.str().find("aeg_t1_newsecret"), std::string::npos);
  EXPECT_EQ(out.str().find(token), std::string::npos);
  ASSERT_EQ(ctl({"token", "list"}), 0);
  EXPECT_EQ(last(), (request{"GET", "/api/v1/tokens", nullptr}));
  ASSERT_EQ(ctl({"token", "revoke", "t1"}), 0);
  EXPECT_EQ(last(), (request{"DELETE", "/api/v1/tokens/t1", nullptr}));

  server.answer(
      200,
      R"({"records":[{"sequence":"3","time":"t","actor":"a","action":"device.create","target":"x","outcome":"OK"}]})");
  ASSERT_EQ(ctl({"audit", "--after", "2", "--limit", "10"}), 0);
  EXPECT_EQ(last().target, "/api/v1/audit?afterSequence=2&pageSize=10");
  EXPECT_EQ(out.str(), "SEQ  TIME  ACTOR  ACTION         TARGET  OUTCOME\n3    t     a      "
                       "device.create  x       OK\n");
}

TEST_F(App, CertSignChecksTheCsrAndWritesTheCertificate) {
  auto key = crypto::private_key::generate(crypto::key_type::ec_p256);
  ASSERT_TRUE(key);
  auto csr = crypto::certificate_request::create(*key, "d1");
  ASSERT_TRUE(csr);
  const auto csr_path = dir.path() / "d1.csr";
  write_new_file(csr_path, *csr->to_pem(), 0644);
  const auto out_path = dir.path() / "d1.crt";
  server.answer(200, R"({"certificate":"CERTPEM","serial":"ab","expireTime":"t"})");
  ASSERT_EQ(ctl({"cert", "sign", "--device", "d1", "--registry", "r1", "--csr", csr_path.string(),
                 "--out", out_path.string(), "--days", "30"}),
            0)
      << err.str();
  EXPECT_EQ(last(), (request{"POST",
                             R + "/r1/devices/d1:signCertificate",
                             {{"csr", *csr->to_pem()}, {"validityDays", 30}}}));
  EXPECT_EQ(read_file(out_path), "CERTPEM");
  // Never overwrites; a non-CSR is refused before any request.
  const auto n = server.requests.size();
  EXPECT_EQ(ctl({"cert", "sign", "--device", "d1", "--registry", "r1", "--csr", csr_path.string(),
                 "--out", out_path.string()}),
            1);
  EXPECT_EQ(ctl({"cert", "sign", "--device", "d1", "--registry", "r1", "--csr", out_path.string(),
                 "--out", (dir.path() / "x.crt").string()}),
            2);
  EXPECT_EQ(server.requests.size(), n);
}

TEST_F(App, LoginChecksTheServerAndWritesA0600Profile) {
  const auto path = dir.path() / "new" / "profile.json";
  const auto ca = dir.path() / "ca.crt";
  write_new_file(ca, "CA", 0644);
  std::vector<std::string> args = {
      "--config", path.string(), "login",     "--server",  "https://h.example:9443",
      "--token",  token,         "--ca-file", ca.string(), "--project",
      "p7"};
  const int rc = run(args, out, err, [this](const endpoint& ep) {
    server.endpoints.push_back(ep);
    return std::make_unique<fake_transport>(server);
  });
  ASSERT_EQ(rc, 0) << err.str();
  EXPECT_EQ(last(), (request{"GET", "/api/v1/projects?pageSize=1", nullptr}));
  EXPECT_EQ(server.endpoints.back().token, token);
  EXPECT_EQ(testing::mode_of(path), 0600u);
  const profile p = load_profile(path);
  EXPECT_EQ(p.server, "https://h.example:9443");
  EXPECT_EQ(p.token, token);
  EXPECT_EQ(p.ca_file, ca.string());
  EXPECT_EQ(p.project, "p7");
  EXPECT_EQ(out.str().find(token), std::string::npos);
}

TEST_F(App, LoginWritesNothingWhenTheServerRefuses) {
  const auto path = dir.path() / "refused.json";
  const auto ca = dir.path() / "ca.crt";
  write_new_file(ca, "CA", 0644);
  server.answer(401,
                R"({"error":{"code":401,"message":"unauthenticated","status":"UNAUTHENTICATED"}})");
  std::vector<std::string> args = {"--config", path.string(), "login",
                                   "--server", "https://h:1", "--token",
                                   token,      "--ca-file",   ca.string()};
  EXPECT_EQ(run(args, out, err,
                [this](const endpoint&) { return std::make_unique<fake_transport>(server); }),
            1);
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_EQ(err.str().find(token), std::string::npos);
  args[4] = "http://h:1";
  EXPECT_EQ(run(args, out, err,
                [this](const endpoint&) { return std::make_unique<fake_transport>(server); }),
            2);
}

TEST_F(App, RefusesAProfileOthersCanRead) {
  std::filesystem::permissions(config(), static_cast<std::filesystem::perms>(0644));
  EXPECT_EQ(ctl({"project", "list"}), 2);
  EXPECT_NE(err.str().find("chmod 600"), std::string::npos);
  EXPECT_TRUE(server.requests.empty());
}

TEST_F(App, EnvironmentTokenAndServerFlagWorkWithoutAProfile) {
  std::filesystem::remove(config());
  ::setenv("AEGISCTL_TOKEN", token.c_str(), 1);
  EXPECT_EQ(ctl({"--server", "https://x:1", "--ca-file", "/ca.pem", "token", "list"}), 0)
      << err.str();
  ::unsetenv("AEGISCTL_TOKEN");
  EXPECT_EQ(server.endpoints.back().server, "https://x:1");
  EXPECT_EQ(server.endpoints.back().token, token);
}

} // namespace
} // namespace aegis::ctl
