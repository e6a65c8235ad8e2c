// Device keys generated inside a PKCS#11 token: the token unit against SoftHSM2, and
// `aegisctl device create|credentials add --pkcs11` through run() with a scripted transport.

#include "pkcs11_token.hpp"

#include "aegis/crypto/digest_signature.hpp"
#include "aegis/crypto/keys.hpp"
#include "aegis/crypto/signature.hpp"
#include "aegis/ctl/app.hpp"
#include "aegis/ctl/keyfiles.hpp"
#include "aegis/ctl/profile.hpp"
#include "test_softhsm.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/ec.h>

#include <sstream>

#define CRYPTOKI_GNU 1
#include <p11-kit/pkcs11.h>

namespace aegis::ctl {
namespace {

using nlohmann::json;
using testing::fake_server;
using testing::fake_transport;
using testing::softhsm_module;
using testing::softhsm_pin;
using testing::softhsm_pin_env;
using testing::softhsm_token;
using testing::temp_dir;

const std::string R = "/api/v1/projects/p1/locations/global/registries";

// The token's raw r||s as the DER SEQUENCE { r, s } OpenSSL verifies.
bytes raw_to_der(bytes_view raw) {
  EXPECT_EQ(raw.size(), 64u);
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(raw.data(), 32, nullptr);
  BIGNUM* s = BN_bin2bn(raw.data() + 32, 32, nullptr);
  EXPECT_EQ(ECDSA_SIG_set0(sig, r, s), 1);
  unsigned char* der = nullptr;
  const int n = i2d_ECDSA_SIG(sig, &der);
  EXPECT_GT(n, 0);
  bytes out(der, der + n);
  OPENSSL_free(der);
  ECDSA_SIG_free(sig);
  return out;
}

std::string text(const bytes& b) {
  return std::string(as_string_view(b));
}

// --- no token needed --------------------------------------------------------------------

TEST(Pkcs11Pem, BuildsTheSubjectPublicKeyInfoFromEcPoint) {
  auto key = crypto::private_key::generate(crypto::key_type::ec_p256);
  ASSERT_TRUE(key);
  const auto spki = key->public_part().to_der();
  ASSERT_TRUE(spki);
  ASSERT_GT(spki->size(), 65u);
  const bytes point(spki->end() - 65, spki->end()); // SPKI ends with the BIT STRING's point
  ASSERT_EQ(point[0], 0x04);
  const bytes params{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
  bytes wrapped{0x04, 0x41};
  wrapped.insert(wrapped.end(), point.begin(), point.end());

  const std::string pem = pkcs11::ec_p256_public_pem(params, wrapped);
  auto parsed = crypto::public_key::from_pem(pem);
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(*parsed == key->public_part());
  EXPECT_EQ(pem, *key->public_part().to_pem());
  // A bare point (tokens that do not wrap CKA_EC_POINT) gives the same key.
  EXPECT_EQ(pkcs11::ec_p256_public_pem(params, point), pem);

  // Another curve, a compressed or truncated point, and a point off the curve are refused.
  const bytes p384{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
  EXPECT_THROW((void)pkcs11::ec_p256_public_pem(p384, wrapped), ctl_error);
  bytes compressed(point.begin(), point.begin() + 33);
  compressed[0] = 0x02;
  EXPECT_THROW((void)pkcs11::ec_p256_public_pem(params, compressed), ctl_error);
  EXPECT_THROW((void)pkcs11::ec_p256_public_pem(params, bytes_view(wrapped).first(40)), ctl_error);
  bytes off_curve = wrapped;
  off_curve.back() ^= 0x01;
  EXPECT_THROW((void)pkcs11::ec_p256_public_pem(params, off_curve), ctl_error);
}

TEST(Pkcs11Uri, PercentEncodesLabels) {
  EXPECT_EQ(pkcs11::key_uri("T", "dev-1"), "pkcs11:token=T;object=dev-1;type=private");
  EXPECT_EQ(pkcs11::key_uri("my token", "a;b=c/%"),
            "pkcs11:token=my%20token;object=a%3Bb%3Dc%2F%25;type=private");
}

TEST(Pkcs11Pin, ComesFromAnOwnerOnlyFileOrTheEnvironment) {
  temp_dir dir;
  const auto f = dir.path() / "pin";
  write_new_file(f, "4321\n", 0600);
  const auto read = pkcs11::pin_from_file(f.string());
  EXPECT_EQ(as_string_view(read.view()), "4321");

  const auto open = dir.path() / "pin-0644";
  write_new_file(open, "4321", 0644);
  try {
    (void)pkcs11::pin_from_file(open.string());
    ADD_FAILURE() << "a 0644 PIN file was read";
  } catch (const ctl_error& e) {
    EXPECT_EQ(e.exit_code(), exit_usage);
    EXPECT_NE(std::string(e.what()).find("0644"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("4321"), std::string::npos) << e.what();
  }
  const auto link = dir.path() / "pin-link";
  std::filesystem::create_symlink(f, link);
  EXPECT_THROW((void)pkcs11::pin_from_file(link.string()), ctl_error);
  const auto empty = dir.path() / "pin-empty";
  write_new_file(empty, "\n", 0600);
  EXPECT_THROW((void)pkcs11::pin_from_file(empty.string()), ctl_error);
  EXPECT_THROW((void)pkcs11::pin_from_file((dir.path() / "missing").string()), ctl_error);

  ::setenv("AEGIS_TEST_PIN_X", "5678", 1);
  EXPECT_EQ(as_string_view(pkcs11::pin_from_env("AEGIS_TEST_PIN_X").view()), "5678");
  ::unsetenv("AEGIS_TEST_PIN_X");
  EXPECT_THROW((void)pkcs11::pin_from_env("AEGIS_TEST_PIN_X"), ctl_error);
}

TEST(Pkcs11Module, AMissingModuleIsAClearError) {
  try {
    pkcs11::token t("/nonexistent/libnothing.so", "T", as_bytes("1234"));
    ADD_FAILURE() << "opened a missing module";
  } catch (const ctl_error& e) {
    EXPECT_EQ(e.status(), "pkcs11");
    EXPECT_NE(std::string(e.what()).find("cannot load the PKCS#11 module"), std::string::npos);
  }
}

// --- against SoftHSM2 -------------------------------------------------------------------

class Pkcs11 : public ::testing::Test {
protected:
  void SetUp() override {
    if (!testing::softhsm_available()) {
      GTEST_SKIP() << "SoftHSM2 is not installed (apt-get install softhsm2)";
    }
    hsm_ = std::make_unique<softhsm_token>("T");
    ASSERT_TRUE(hsm_->ready()) << hsm_->init_output();
    ::unsetenv("AEGISCTL_TOKEN");
    profile p;
    p.server = "https://127.0.0.1:8443";
    p.token = "aeg_abcdefghijkl_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0cw";
    p.ca_file = (dir_.path() / "ca.crt").string();
    p.project = "p1";
    save_profile(config(), p);
  }

  std::string config() const { return (dir_.path() / "aegisctl.json").string(); }

  int ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--config", config()});
    out_.str({});
    err_.str({});
    return run(args, out_, err_,
               [this](const endpoint&) { return std::make_unique<fake_transport>(server_); });
  }

  std::vector<std::string> create(const std::string& id, std::vector<std::string> extra = {}) {
    std::vector<std::string> a{
        "device",       "create",        id, "--registry", "r1", "--pkcs11", "--module",
        softhsm_module, "--token-label", "T"};
    if (extra.empty()) {
      extra = {"--pin-env", softhsm_pin_env};
    }
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  std::unique_ptr<pkcs11::token> open(const std::string& pin = softhsm_pin) {
    return std::make_unique<pkcs11::token>(softhsm_module, "T", as_bytes(pin));
  }

  temp_dir dir_;
  std::unique_ptr<softhsm_token> hsm_;
  fake_server server_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(Pkcs11, DeviceCreateGeneratesTheKeyInTheTokenAndRegistersItsPublicKey) {
  server_.answer(200, R"({"id":"d1","credentials":[{}]})");
  ASSERT_EQ(ctl(create("d1")), 0) << err_.str();
  EXPECT_NE(out_.str().find("pkcs11 URI: pkcs11:token=T;object=d1;type=private\n"),
            std::string::npos)
      << out_.str();
  EXPECT_EQ((out_.str() + err_.str()).find(softhsm_pin), std::string::npos);

  ASSERT_EQ(server_.requests.size(), 1u);
  const request& req = server_.requests[0];
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.target, R + "/r1/devices");
  ASSERT_EQ(req.body["credentials"].size(), 1u) << req.body.dump();
  EXPECT_EQ(req.body["credentials"][0]["publicKey"]["format"], "ES256_PEM");
  const std::string registered = req.body["credentials"][0]["publicKey"]["key"];
  EXPECT_EQ(registered.find("PRIVATE"), std::string::npos);

  auto tok = open();
  EXPECT_TRUE(tok->has_object("d1"));
  EXPECT_EQ(tok->public_key_pem("d1"), registered);
  auto pub = crypto::public_key::from_pem(registered);
  ASSERT_TRUE(pub) << registered;
  EXPECT_EQ(pub->type(), crypto::key_type::ec_p256);

  // A signature made inside the token verifies with the registered key.
  const std::string message = "measured temperature 21.5";
  const auto digest = crypto::sha256(as_bytes(message));
  ASSERT_TRUE(digest);
  const bytes raw = tok->sign_digest("d1", *digest);
  ASSERT_EQ(raw.size(), 64u);
  EXPECT_TRUE(crypto::verify_digest(*pub, crypto::digest_sig_scheme::ecdsa_p256_sha256, *digest,
                                    raw_to_der(raw)));
  EXPECT_TRUE(crypto::verify(*pub, crypto::sig_alg::es256, as_bytes(message), raw));
  auto other = *digest;
  other[0] ^= 1;
  EXPECT_FALSE(crypto::verify_digest(*pub, crypto::digest_sig_scheme::ecdsa_p256_sha256, other,
                                     raw_to_der(raw)));

  // The private key cannot leave the token.
  const auto value = tok->private_key_attribute("d1", CKA_VALUE);
  EXPECT_EQ(value.rv, CKR_ATTRIBUTE_SENSITIVE);
  EXPECT_TRUE(value.value.empty());
  for (const auto& [type, expected] :
       std::vector<std::pair<unsigned long, std::uint8_t>>{{CKA_EXTRACTABLE, 0},
                                                           {CKA_SENSITIVE, 1},
                                                           {CKA_NEVER_EXTRACTABLE, 1},
                                                           {CKA_ALWAYS_SENSITIVE, 1},
                                                           {CKA_PRIVATE, 1},
                                                           {CKA_TOKEN, 1},
                                                           {CKA_SIGN, 1},
                                                           {CKA_LOCAL, 1}}) {
    const auto a = tok->private_key_attribute("d1", type);
    EXPECT_EQ(a.rv, CKR_OK) << std::hex << type;
    EXPECT_EQ(a.value, bytes{expected}) << std::hex << type;
  }
  EXPECT_EQ(text(tok->private_key_attribute("d1", CKA_ID).value), "d1");
  EXPECT_EQ(text(tok->private_key_attribute("d1", CKA_LABEL).value), "d1");
}

TEST_F(Pkcs11, KeyLabelAndPinFile) {
  const auto pin = dir_.path() / "pin";
  write_new_file(pin, std::string(softhsm_pin) + "\n", 0600);
  server_.answer(200, R"({"id":"d1"})");
  ASSERT_EQ(ctl(create("d1", {"--key-label", "se key", "--pin-file", pin.string()})), 0)
      << err_.str();
  EXPECT_NE(out_.str().find("pkcs11:token=T;object=se%20key;type=private"), std::string::npos)
      << out_.str();
  auto tok = open();
  EXPECT_TRUE(tok->has_object("se key"));
  EXPECT_FALSE(tok->has_object("d1"));
}

TEST_F(Pkcs11, WrongPinIsAClearErrorAndCreatesNothing) {
  ::setenv("AEGIS_TEST_WRONG_PIN", "987654", 1);
  EXPECT_EQ(ctl(create("d1", {"--pin-env", "AEGIS_TEST_WRONG_PIN"})), 1);
  EXPECT_EQ(err_.str(), "aegisctl: pkcs11: token \"T\" refused the PIN (CKR_PIN_INCORRECT)\n");
  EXPECT_TRUE(server_.requests.empty());
  EXPECT_THROW(open("987654"), ctl_error);
  // The right PIN still works, and nothing was generated.
  EXPECT_FALSE(open()->has_object("d1"));
}

TEST_F(Pkcs11, UnknownTokenLabel) {
  auto args = create("d1");
  args[9] = "nope";
  EXPECT_EQ(ctl(args), 1);
  EXPECT_EQ(err_.str(), "aegisctl: pkcs11: no token labelled \"nope\" in the module\n");
  EXPECT_TRUE(server_.requests.empty());
}

TEST_F(Pkcs11, DuplicateLabelOrIdIsRefused) {
  server_.answer(200, R"({"id":"d1"})");
  ASSERT_EQ(ctl(create("d1")), 0) << err_.str();
  const auto first = open()->public_key_pem("d1");

  EXPECT_EQ(ctl(create("d1")), 1);
  EXPECT_NE(err_.str().find("already holds an object with label or id \"d1\""), std::string::npos)
      << err_.str();
  // Another device may not reuse the label either.
  EXPECT_EQ(ctl(create("d2", {"--key-label", "d1", "--pin-env", softhsm_pin_env})), 1);
  EXPECT_EQ(server_.requests.size(), 1u);
  EXPECT_EQ(open()->public_key_pem("d1"), first);
}

TEST_F(Pkcs11, RegistrationFailureDestroysTheKeySoARetryIsClean) {
  server_.answer(409, R"({"error":{"code":409,"status":"ALREADY_EXISTS","message":"taken"}})");
  EXPECT_EQ(ctl(create("d1")), 1);
  EXPECT_EQ(err_.str(), "aegisctl: ALREADY_EXISTS: taken\n");
  EXPECT_FALSE(open()->has_object("d1"));

  server_.answer(200, R"({"id":"d1"})");
  EXPECT_EQ(ctl(create("d1")), 0) << err_.str();
  EXPECT_TRUE(open()->has_object("d1"));
}

TEST_F(Pkcs11, PinNeverOnTheCommandLine) {
  EXPECT_EQ(ctl(create("d1", {"--pin", "1234"})), 2);
  EXPECT_EQ(err_.str().rfind("aegisctl: usage: the PIN is never taken on the command line", 0), 0u)
      << err_.str();
  EXPECT_EQ(err_.str().find("1234"), std::string::npos);
  EXPECT_EQ(ctl(create("d1", {"--pin=1234"})), 2);
  EXPECT_EQ(err_.str().find("1234"), std::string::npos);
  EXPECT_FALSE(open()->has_object("d1"));
  EXPECT_TRUE(server_.requests.empty());
}

TEST_F(Pkcs11, PinFileOthersCanReadIsRefused) {
  const auto pin = dir_.path() / "pin";
  write_new_file(pin, softhsm_pin, 0644);
  EXPECT_EQ(ctl(create("d1", {"--pin-file", pin.string()})), 2);
  EXPECT_NE(err_.str().find("mode 0644"), std::string::npos) << err_.str();
  EXPECT_EQ(err_.str().find(softhsm_pin), std::string::npos) << err_.str();
  EXPECT_FALSE(open()->has_object("d1"));
  EXPECT_TRUE(server_.requests.empty());
}

TEST_F(Pkcs11, UsageErrors) {
  const std::string dir = dir_.path().string();
  // Local-key options do not mix with --pkcs11; token options need it.
  EXPECT_EQ(ctl(create("d1", {"--pin-env", softhsm_pin_env, "--key-type", "es256", "--out", dir})),
            2);
  EXPECT_EQ(ctl(create("d1", {"--pin-env", softhsm_pin_env, "--public-key", dir + "/x.pub"})), 2);
  EXPECT_EQ(ctl({"device", "create", "d1", "--registry", "r1", "--pkcs11", "--token-label", "T",
                 "--pin-env", softhsm_pin_env}),
            2); // no --module
  EXPECT_EQ(ctl(create("d1", {"--pin-env", softhsm_pin_env, "--pin-file", dir + "/p"})), 2);
  EXPECT_EQ(ctl(create("d1", {"--key-label", "x"})), 2); // no PIN source
  EXPECT_EQ(ctl({"device", "create", "d1", "--registry", "r1", "--module", softhsm_module}), 2);
  ::unsetenv("AEGIS_TEST_UNSET_PIN");
  EXPECT_EQ(ctl(create("d1", {"--pin-env", "AEGIS_TEST_UNSET_PIN"})), 2);
  auto long_label = create("d1");
  long_label[9] = std::string(33, 't');
  EXPECT_EQ(ctl(long_label), 2);
  EXPECT_NE(err_.str().find("--token-label must be 1 to 32 bytes"), std::string::npos)
      << err_.str();
  EXPECT_TRUE(server_.requests.empty());
  EXPECT_FALSE(open()->has_object("d1"));
}

TEST_F(Pkcs11, JsonOutputKeepsStdoutForTheAnswer) {
  const std::string body = R"({"id":"d1"})";
  server_.answer(200, body);
  auto args = create("d1");
  args.insert(args.begin(), "--json");
  ASSERT_EQ(ctl(args), 0) << err_.str();
  EXPECT_EQ(out_.str(), body + "\n");
  EXPECT_EQ(err_.str(), "pkcs11 URI: pkcs11:token=T;object=d1;type=private\n");
}

TEST_F(Pkcs11, CredentialsAddWithAToken) {
  server_.answer(200,
                 R"({"id":"d1","credentials":[{"publicKey":{"format":"RSA_PEM","key":"k"}}]})");
  server_.answer(200, R"({"id":"d1","credentials":[]})");
  std::vector<std::string> args{
      "device", "credentials", "add",      "d1",           "--registry",
      "r1",     "--pkcs11",    "--module", softhsm_module, "--token-label",
      "T",      "--key-label", "d1-2",     "--pin-env",    softhsm_pin_env};
  ASSERT_EQ(ctl(args), 0) << err_.str();
  ASSERT_EQ(server_.requests.size(), 2u);
  EXPECT_EQ(server_.requests[1].method, "PATCH");
  const json& creds = server_.requests[1].body["credentials"];
  ASSERT_EQ(creds.size(), 2u) << creds.dump();
  EXPECT_EQ(creds[1]["publicKey"]["format"], "ES256_PEM");
  EXPECT_EQ(creds[1]["publicKey"]["key"], open()->public_key_pem("d1-2"));
  EXPECT_NE(out_.str().find("pkcs11:token=T;object=d1-2;type=private"), std::string::npos);

  // Refused by the API: the new key pair is removed from the token again.
  server_.answer(200, R"({"id":"d1","credentials":[]})");
  server_.answer(400, R"({"error":{"code":400,"status":"INVALID_ARGUMENT","message":"no"}})");
  args[12] = "d1-3";
  EXPECT_EQ(ctl(args), 1);
  EXPECT_FALSE(open()->has_object("d1-3"));
  EXPECT_TRUE(open()->has_object("d1-2"));
}

} // namespace
} // namespace aegis::ctl
