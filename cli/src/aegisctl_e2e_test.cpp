// End to end: the real aegisd, driven by the real aegisctl through the provisioning story, with
// results checked independently by curl and openssl.

#include "aegis/crypto/keys.hpp"
#include "aegis/crypto/x509.hpp"
#include "aegis/ctl/keyfiles.hpp"
#include "pkcs11_token.hpp"
#include "test_child_process.hpp"
#include "test_softhsm.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace aegis::ctl {
namespace {

#if defined(AEGISD_PATH) && defined(AEGISCTL_PATH)

using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

struct outcome {
  int code = -1;
  std::string output; // stdout and stderr together
};

outcome run_child(std::vector<std::string> argv) {
  testing::child c(std::move(argv));
  outcome o;
  o.code = c.wait_exit(60s);
  o.output = c.output();
  return o;
}

class AegisctlE2E : public ::testing::Test {
protected:
  void SetUp() override {
    data_ = dir_.path() / "data";
    keys_ = dir_.path() / "keys";
    fs::create_directories(keys_);
    aegisd_ = std::make_unique<testing::child>(
        std::vector<std::string>{AEGISD_PATH, "--data-dir", data_.string(), "--mqtt-listen",
                                 "127.0.0.1:0", "--https-listen", "127.0.0.1:0"});
    ASSERT_TRUE(aegisd_->wait_for_output("https listening on 127.0.0.1:", 60s))
        << "aegisd did not start its admin API listener:\n"
        << aegisd_->output();
    ASSERT_TRUE(aegisd_->wait_for_output("admin token: aeg_", 10s)) << aegisd_->output();
    // Let both lines complete.
    (void)aegisd_->wait_for_output("\n", 1s);
    const std::string out = aegisd_->output();
    port_ = testing::token_after(out, "https listening on 127.0.0.1:", "0123456789");
    ASSERT_FALSE(port_.empty()) << out;
    admin_token_ = testing::token_after(
        out, "admin token: ", "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");
    ASSERT_EQ(admin_token_.rfind("aeg_", 0), 0U) << out;
    ca_ = (data_ / "ca" / "ca.crt").string();
    ASSERT_TRUE(fs::exists(ca_));
    server_ = "https://127.0.0.1:" + port_;
    admin_profile_ = (dir_.path() / "admin.json").string();
    viewer_profile_ = (dir_.path() / "viewer.json").string();
  }

  void TearDown() override {
    if (aegisd_ && aegisd_->running()) {
      aegisd_->signal(SIGTERM);
      (void)aegisd_->wait_exit(20s);
    }
  }

  outcome ctl_as(const std::string& profile, std::vector<std::string> args) {
    args.insert(args.begin(), {AEGISCTL_PATH, "--config", profile});
    outcome o = run_child(std::move(args));
    EXPECT_EQ(o.output.find(admin_token_), std::string::npos) << "the admin token was printed";
    return o;
  }
  outcome ctl(std::vector<std::string> args) { return ctl_as(admin_profile_, std::move(args)); }

  json curl(const std::string& path) {
    const outcome o = run_child({"curl", "-sS", "--cacert", ca_, "-H",
                                 "Authorization: Bearer " + admin_token_, server_ + path});
    EXPECT_EQ(o.code, 0) << o.output;
    json j = json::parse(o.output, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << o.output;
    return j;
  }

  json device(const std::string& id) {
    return curl("/api/v1/projects/acme-demo/locations/global/registries/reg1/devices/" + id);
  }

  testing::temp_dir dir_;
  fs::path data_;
  fs::path keys_;
  std::unique_ptr<testing::child> aegisd_;
  std::string port_;
  std::string admin_token_;
  std::string ca_;
  std::string server_;
  std::string admin_profile_;
  std::string viewer_profile_;
};

#define EXPECT_OK(o) EXPECT_EQ((o).code, 0) << (o).output

TEST_F(AegisctlE2E, ProvisioningStory) {
  // Login checks the server against the data directory's CA and writes a 0600 profile.
  EXPECT_OK(ctl({"login", "--server", server_, "--token", admin_token_, "--ca-file", ca_,
                 "--project", "acme-demo"}));
  EXPECT_EQ(testing::mode_of(admin_profile_), 0600u);
  {
    // A CA that did not issue the server's certificate is refused.
    const auto other =
        crypto::certificate_authority::create("other", 1h, std::chrono::system_clock::now());
    ASSERT_TRUE(other);
    const auto other_ca = dir_.path() / "other-ca.crt";
    write_new_file(other_ca, *other->cert().to_pem(), 0644);
    const auto o =
        ctl_as((dir_.path() / "x.json").string(), {"login", "--server", server_, "--token",
                                                   admin_token_, "--ca-file", other_ca.string()});
    EXPECT_EQ(o.code, 1) << o.output;
    EXPECT_NE(o.output.find("aegisctl: tls: "), std::string::npos) << o.output;
    EXPECT_FALSE(fs::exists(dir_.path() / "x.json"));
  }

  EXPECT_OK(ctl({"project", "create", "acme-demo"}));
  EXPECT_OK(ctl({"registry", "create", "reg1"}));
  EXPECT_EQ(curl("/api/v1/projects/acme-demo/locations/global/registries/reg1")["id"], "reg1");

  // Three devices, each with a key pair generated locally; only the public key is registered.
  for (const std::string type : {"es256", "rs256", "ed25519"}) {
    const std::string id = "dev-" + type;
    EXPECT_OK(ctl({"device", "create", id, "--registry", "reg1", "--key-type", type, "--out",
                   keys_.string()}));
    EXPECT_EQ(testing::mode_of(keys_ / (id + ".key")), 0600u);
    json d = device(id);
    ASSERT_EQ(d["credentials"].size(), 1u) << d.dump();
    auto registered =
        crypto::public_key::from_pem(d["credentials"][0]["publicKey"]["key"].get<std::string>());
    auto priv = crypto::private_key::from_pem(read_file(keys_ / (id + ".key")));
    ASSERT_TRUE(registered && priv);
    EXPECT_TRUE(*registered == priv->public_part()) << id;
  }
  {
    const auto o = ctl({"device", "list", "--registry", "reg1"});
    EXPECT_OK(o);
    for (const char* id : {"dev-es256", "dev-rs256", "dev-ed25519"}) {
      EXPECT_NE(o.output.find(id), std::string::npos) << o.output;
    }
  }
  // Refuses to overwrite a key file.
  EXPECT_EQ(ctl({"device", "create", "dev-es256", "--registry", "reg1", "--key-type", "es256",
                 "--out", keys_.string()})
                .code,
            1);

  // Credentials: add a second key, then remove the first.
  {
    auto k2 = crypto::private_key::generate(crypto::key_type::ec_p256);
    ASSERT_TRUE(k2);
    const auto pub = keys_ / "second.pub";
    write_new_file(pub, *k2->public_part().to_pem(), 0644);
    EXPECT_OK(ctl({"device", "credentials", "add", "dev-es256", "--registry", "reg1",
                   "--public-key", pub.string()}));
    EXPECT_EQ(device("dev-es256")["credentials"].size(), 2u);
    EXPECT_OK(ctl({"device", "credentials", "list", "dev-es256", "--registry", "reg1"}));
    EXPECT_OK(ctl({"device", "credentials", "remove", "dev-es256", "0", "--registry", "reg1"}));
    json d = device("dev-es256");
    ASSERT_EQ(d["credentials"].size(), 1u);
    auto left =
        crypto::public_key::from_pem(d["credentials"][0]["publicKey"]["key"].get<std::string>());
    ASSERT_TRUE(left);
    EXPECT_TRUE(*left == k2->public_part());
    EXPECT_EQ(ctl({"device", "credentials", "remove", "dev-es256", "5", "--registry", "reg1"}).code,
              2);
  }

  // Block / unblock.
  EXPECT_OK(ctl({"device", "block", "dev-rs256", "--registry", "reg1"}));
  EXPECT_EQ(device("dev-rs256").value("blocked", false), true);
  EXPECT_OK(ctl({"device", "unblock", "dev-rs256", "--registry", "reg1"}));
  EXPECT_EQ(device("dev-rs256").value("blocked", false), false);

  // Configuration versions (the device may start with an empty version 1).
  const std::string configs =
      "/api/v1/projects/acme-demo/locations/global/registries/reg1/devices/dev-ed25519/"
      "configVersions";
  EXPECT_OK(ctl({"device", "config", "set", "dev-ed25519", "--registry", "reg1", "--data", "v1"}));
  {
    json versions = curl(configs);
    ASSERT_FALSE(versions["deviceConfigs"].empty()) << versions.dump();
    const std::string current = versions["deviceConfigs"][0]["version"];
    EXPECT_EQ(versions["deviceConfigs"][0]["binaryData"], "djE=");
    EXPECT_OK(ctl({"device", "config", "set", "dev-ed25519", "--registry", "reg1", "--data", "v2",
                   "--version", current}));
    const auto stale = ctl({"device", "config", "set", "dev-ed25519", "--registry", "reg1",
                            "--data", "v3", "--version", current});
    EXPECT_EQ(stale.code, 1) << stale.output;
    EXPECT_EQ(stale.output.rfind("aegisctl: ABORTED: ", 0), 0u) << stale.output;
    const auto get = ctl({"device", "config", "get", "dev-ed25519", "--registry", "reg1"});
    EXPECT_OK(get);
    EXPECT_NE(get.output.find("data:     v2"), std::string::npos) << get.output;
    const auto history = ctl({"device", "config", "history", "dev-ed25519", "--registry", "reg1"});
    EXPECT_OK(history);
    EXPECT_NE(history.output.find("v1"), std::string::npos) << history.output;
    EXPECT_NE(history.output.find("v2"), std::string::npos) << history.output;
    versions = curl(configs);
    EXPECT_EQ(versions["deviceConfigs"][0]["binaryData"], "djI=");
  }
  EXPECT_OK(ctl({"device", "state", "dev-ed25519", "--registry", "reg1"}));

  // A CSR made with openssl, signed by Aegis' CA through aegisctl.
  {
    const auto key = dir_.path() / "csr.key";
    const auto csr = dir_.path() / "dev.csr";
    const auto crt = dir_.path() / "dev.crt";
    const auto req = run_child({"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                                "ec_paramgen_curve:P-256", "-nodes", "-keyout", key.string(),
                                "-out", csr.string(), "-subj", "/CN=dev-es256"});
    ASSERT_EQ(req.code, 0) << req.output;
    EXPECT_OK(ctl({"cert", "sign", "--device", "dev-es256", "--registry", "reg1", "--csr",
                   csr.string(), "--out", crt.string(), "--days", "30"}));
    const auto verify = run_child({"openssl", "verify", "-CAfile", ca_, crt.string()});
    EXPECT_EQ(verify.code, 0) << verify.output;
    auto cert = crypto::certificate::from_pem(read_file(crt));
    ASSERT_TRUE(cert);
    EXPECT_EQ(cert->subject_cn(), "dev-es256");
    const std::string serial = cert->serial_hex();
    EXPECT_OK(ctl({"cert", "revoke", serial, "--reason", "keyCompromise"}));
    const auto revoked = ctl({"cert", "revoked"});
    EXPECT_OK(revoked);
    EXPECT_NE(revoked.output.find(serial), std::string::npos) << revoked.output;
  }

  // Groups.
  EXPECT_OK(ctl({"group", "create", "grp1", "--registry", "reg1", "--label", "site=lab"}));
  EXPECT_OK(ctl({"group", "add", "grp1", "dev-es256", "dev-rs256", "--registry", "reg1"}));
  {
    const auto members = ctl({"group", "devices", "grp1", "--registry", "reg1"});
    EXPECT_OK(members);
    EXPECT_NE(members.output.find("dev-rs256"), std::string::npos) << members.output;
  }

  // A viewer token can read but not write; once revoked it is refused.
  std::string viewer_id;
  {
    const auto created = ctl({"--json", "token", "create", "--scope", "viewer", "--description",
                              "e2e viewer", "--ttl", "3600"});
    EXPECT_OK(created);
    json t = json::parse(created.output, nullptr, false);
    ASSERT_TRUE(t.is_object()) << created.output;
    viewer_id = t["id"];
    const std::string viewer_token = t["token"];
    EXPECT_OK(ctl_as(viewer_profile_, {"login", "--server", server_, "--token", viewer_token,
                                       "--ca-file", ca_, "--project", "acme-demo"}));
    EXPECT_OK(ctl_as(viewer_profile_, {"registry", "list"}));
    const auto denied =
        ctl_as(viewer_profile_, {"device", "delete", "dev-es256", "--registry", "reg1"});
    EXPECT_EQ(denied.code, 1) << denied.output;
    EXPECT_NE(denied.output.find("aegisctl: PERMISSION_DENIED: "), std::string::npos)
        << denied.output;
    EXPECT_EQ(denied.output.find(viewer_token), std::string::npos);
    EXPECT_EQ(device("dev-es256")["id"], "dev-es256");

    EXPECT_OK(ctl({"token", "revoke", viewer_id}));
    const auto refused = ctl_as(viewer_profile_, {"registry", "list"});
    EXPECT_EQ(refused.code, 1) << refused.output;
    EXPECT_NE(refused.output.find("aegisctl: UNAUTHENTICATED: "), std::string::npos)
        << refused.output;
    EXPECT_EQ(refused.output.find(viewer_token), std::string::npos);
    const auto tokens = ctl({"token", "list"});
    EXPECT_OK(tokens);
    EXPECT_NE(tokens.output.find(viewer_id), std::string::npos);
  }

  // The audit log shows the writes (aegisctl's view and curl's).
  {
    const auto audit = ctl({"audit", "--limit", "1000"});
    EXPECT_OK(audit);
    for (const char* action :
         {"device.create", "device.update", "device.modify_config", "certificate.sign",
          "certificate.revoke", "token.create", "token.revoke"}) {
      EXPECT_NE(audit.output.find(action), std::string::npos) << action << "\n" << audit.output;
    }
    json records = curl("/api/v1/audit?pageSize=1000");
    bool saw_denied = false;
    bool saw_refused = false;
    for (const auto& r : records["records"]) {
      saw_denied = saw_denied || (r.value("action", "") == "auth.permission_denied" &&
                                  r.value("outcome", "") == "PERMISSION_DENIED");
      saw_refused = saw_refused || (r.value("action", "") == "auth.failure" &&
                                    r.value("outcome", "") == "UNAUTHENTICATED");
    }
    EXPECT_TRUE(saw_denied) << records.dump(1);
    EXPECT_TRUE(saw_refused) << records.dump(1);
    const auto after = ctl({"--json", "audit", "--after", "1", "--limit", "2"});
    EXPECT_OK(after);
    json page = json::parse(after.output, nullptr, false);
    ASSERT_TRUE(page.is_object()) << after.output;
    EXPECT_LE(page["records"].size(), 2u);
  }

  // Deleting: the registry refuses while it has devices.
  EXPECT_OK(ctl({"device", "delete", "dev-ed25519", "--registry", "reg1"}));
  EXPECT_EQ(ctl({"registry", "delete", "reg1"}).code, 1);
}

// A device whose key pair is generated inside a PKCS#11 token (SoftHSM2): the API holds exactly
// the token's public key, and the private key is nowhere but in the token.
TEST_F(AegisctlE2E, Pkcs11DeviceKey) {
  if (!testing::softhsm_available()) {
    GTEST_SKIP() << "SoftHSM2 is not installed (apt-get install softhsm2)";
  }
  testing::softhsm_token hsm("se");
  ASSERT_TRUE(hsm.ready()) << hsm.init_output();
  EXPECT_OK(ctl({"login", "--server", server_, "--token", admin_token_, "--ca-file", ca_,
                 "--project", "acme-demo"}));
  EXPECT_OK(ctl({"project", "create", "acme-demo"}));
  EXPECT_OK(ctl({"registry", "create", "reg1"}));

  const auto created =
      ctl({"device", "create", "dev-se", "--registry", "reg1", "--pkcs11", "--module",
           testing::softhsm_module, "--token-label", "se", "--pin-env", testing::softhsm_pin_env});
  EXPECT_OK(created);
  EXPECT_NE(created.output.find("pkcs11 URI: pkcs11:token=se;object=dev-se;type=private"),
            std::string::npos)
      << created.output;
  EXPECT_EQ(created.output.find(testing::softhsm_pin), std::string::npos) << created.output;

  const json d = device("dev-se");
  ASSERT_EQ(d["credentials"].size(), 1u) << d.dump();
  EXPECT_EQ(d["credentials"][0]["publicKey"]["format"], "ES256_PEM");
  auto registered =
      crypto::public_key::from_pem(d["credentials"][0]["publicKey"]["key"].get<std::string>());
  ASSERT_TRUE(registered) << d.dump();

  pkcs11::token tok(testing::softhsm_module, "se", as_bytes(testing::softhsm_pin));
  auto in_token = crypto::public_key::from_pem(tok.public_key_pem("dev-se"));
  ASSERT_TRUE(in_token);
  EXPECT_TRUE(*registered == *in_token);

  // A second create of the same device is refused by the token before the API is asked.
  const auto again =
      ctl({"device", "create", "dev-se", "--registry", "reg1", "--pkcs11", "--module",
           testing::softhsm_module, "--token-label", "se", "--pin-env", testing::softhsm_pin_env});
  EXPECT_EQ(again.code, 1) << again.output;
  EXPECT_NE(again.output.find("aegisctl: pkcs11: "), std::string::npos) << again.output;
}

#else

TEST(AegisctlE2E, ProvisioningStory) {
  GTEST_SKIP() << "aegisd is not part of this build (AEGIS_MODULES without app): build all "
                  "modules to run the end-to-end test";
}

TEST(AegisctlE2E, Pkcs11DeviceKey) {
  GTEST_SKIP() << "aegisd is not part of this build (AEGIS_MODULES without app): build all "
                  "modules to run the end-to-end test";
}

#endif

} // namespace
} // namespace aegis::ctl
