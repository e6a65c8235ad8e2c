#include "aegis/device/keystore.hpp"

#include "aegis/crypto/jwt.hpp"
#include "aegis/crypto/keys.hpp"
#include "aegis/device/errors.hpp"
#include "pkcs11_test_support.hpp"
#include "pkcs11_token.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>

#define CRYPTOKI_GNU 1
#include <p11-kit/pkcs11.h>

namespace {

using namespace aegis;
using namespace aegis::device;
using namespace aegis::device::store_testing;
namespace fs = std::filesystem;

constexpr std::string_view project = "sdk-project";

// Debian python3-jwt, from /usr/bin/python3: a `python3` earlier on PATH may lack it.
constexpr std::string_view pyjwt_verify = R"(import sys
import jwt
alg, key_path, aud, token = sys.argv[1:5]
with open(key_path) as f:
    key = f.read()
try:
    claims = jwt.decode(token, key, algorithms=[alg], audience=aud,
                        options={"require": ["iat", "exp", "aud"]})
except jwt.InvalidTokenError as e:
    print("pyjwt refused the token: %s: %s" % (type(e).__name__, e))
    sys.exit(1)
header = jwt.get_unverified_header(token)
if header != {"alg": alg, "typ": "JWT"} or claims["exp"] - claims["iat"] != 600:
    print("unexpected header or lifetime:", header, claims)
    sys.exit(3)
print("ok")
)";

fs::path write_key_file(const temp_dir& dir, crypto::key_type type, mode_t mode = 0600) {
  auto key = crypto::private_key::generate(type);
  EXPECT_TRUE(key);
  auto pem = key->to_pem();
  EXPECT_TRUE(pem);
  const auto path = dir.path() / ("key-" + std::string(crypto::to_string(type)) + ".pem");
  write_file(path, *pem, mode);
  return path;
}

// Verifies `token` with libs/crypto and with PyJWT; the public key comes from the signer.
void expect_token_verifies(const signer& key, const std::string& token, const temp_dir& dir) {
  auto pem = key.public_key_pem();
  ASSERT_TRUE(pem) << pem.error().message();
  auto pub = crypto::public_key::from_pem(*pem);
  ASSERT_TRUE(pub);
  crypto::jwt_policy policy;
  policy.audience = std::string(project);
  const std::vector<crypto::public_key> candidates{*pub};
  auto verified = crypto::jwt_verify(token, candidates, policy, std::chrono::system_clock::now());
  ASSERT_TRUE(verified) << verified.error().message();
  EXPECT_EQ(verified->alg, key.algorithm());
  EXPECT_EQ(verified->claims.audience, project);

  const auto script = dir.path() / "verify.py";
  const auto pub_path = dir.path() / "pub.pem";
  std::ofstream(script) << pyjwt_verify;
  std::ofstream(pub_path) << *pem;
  const auto log = dir.path() / "pyjwt.log";
  const int rc = run_command({"/usr/bin/python3", script.string(),
                              std::string(crypto::jose_name(key.algorithm())), pub_path.string(),
                              std::string(project), token},
                             log);
  EXPECT_EQ(rc, 0) << read_text(log);
}

TEST(KeyFile, EveryKeyTypeMintsATokenThatLibsCryptoAndPyJwtAccept) {
  const temp_dir dir;
  for (const auto type :
       {crypto::key_type::ec_p256, crypto::key_type::rsa, crypto::key_type::ed25519}) {
    SCOPED_TRACE(std::string(crypto::to_string(type)));
    const auto path = write_key_file(dir, type);
    auto key = open_key_file(path);
    ASSERT_TRUE(key) << key.error().message();
    EXPECT_EQ((*key)->algorithm(), crypto::alg_for(type));
    EXPECT_EQ((*key)->describe(), "file:" + path.string());
    auto token = mint_device_jwt(**key, {std::string(project), std::chrono::seconds{600}},
                                 std::chrono::system_clock::now());
    ASSERT_TRUE(token) << token.error().message();
    expect_token_verifies(**key, *token, dir);
  }
}

TEST(KeyFile, TokenHasExactlyTheIotCoreClaims) {
  const temp_dir dir;
  auto key = open_key_file(write_key_file(dir, crypto::key_type::ec_p256));
  ASSERT_TRUE(key);
  const wall_time now{std::chrono::seconds{1'700'000'000}};
  auto token = mint_device_jwt(**key, {"p1", std::chrono::seconds{1200}}, now);
  ASSERT_TRUE(token);
  const auto first_dot = token->find('.');
  const auto second_dot = token->find('.', first_dot + 1);
  auto header = base64url_decode(token->substr(0, first_dot));
  auto payload = base64url_decode(token->substr(first_dot + 1, second_dot - first_dot - 1));
  ASSERT_TRUE(header && payload);
  EXPECT_EQ(nlohmann::json::parse(as_string_view(*header)),
            nlohmann::json::parse(R"({"alg":"ES256","typ":"JWT"})"));
  EXPECT_EQ(nlohmann::json::parse(as_string_view(*payload)),
            nlohmann::json::parse(R"({"aud":"p1","iat":1700000000,"exp":1700001200})"));
}

TEST(KeyFile, MintRefusesOptionsTheServerWouldRefuse) {
  const temp_dir dir;
  auto key = open_key_file(write_key_file(dir, crypto::key_type::ed25519));
  ASSERT_TRUE(key);
  const auto now = std::chrono::system_clock::now();
  EXPECT_EQ(mint_device_jwt(**key, {"", std::chrono::seconds{60}}, now).error(),
            device_errc::bad_config);
  EXPECT_EQ(mint_device_jwt(**key, {"p", std::chrono::seconds{0}}, now).error(),
            device_errc::bad_config);
  EXPECT_EQ(mint_device_jwt(**key, {"p", std::chrono::seconds{24 * 3600 + 1}}, now).error(),
            device_errc::bad_config);
  EXPECT_EQ(mint_device_jwt(**key, {"p\xff", std::chrono::seconds{60}}, now).error(),
            device_errc::bad_config);
}

TEST(KeyFile, RefusedUnlessAPrivateRegularFile) {
  const temp_dir dir;
  for (const mode_t mode :
       std::initializer_list<mode_t>{0640, 0604, 0644, 0660, 0610, 0601, 0666}) {
    SCOPED_TRACE(mode);
    const auto path = write_key_file(dir, crypto::key_type::ec_p256, mode);
    EXPECT_EQ(open_key_file(path).error(), keystore_errc::insecure_permissions);
  }
  const auto good = write_key_file(dir, crypto::key_type::ec_p256);
  ASSERT_TRUE(open_key_file(good));
  const auto link = dir.path() / "link.pem";
  fs::create_symlink(good, link);
  EXPECT_EQ(open_key_file(link).error(), keystore_errc::insecure_permissions);
  const auto sub = dir.path() / "dir.pem";
  fs::create_directory(sub);
  ASSERT_EQ(::chmod(sub.c_str(), 0700), 0);
  EXPECT_EQ(open_key_file(sub).error(), keystore_errc::insecure_permissions);
  EXPECT_EQ(open_key_file(dir.path() / "missing.pem").error(), keystore_errc::not_found);
}

TEST(KeyFile, NotAKeyIsAClearError) {
  const temp_dir dir;
  const auto path = dir.path() / "junk.pem";
  write_file(path, "-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n");
  auto key = open_key_file(path);
  ASSERT_FALSE(key);
  EXPECT_EQ(key.error().category().name(), std::string("aegis.crypto.key"));
}

TEST(Pkcs11Key, GeneratedInTheTokenSignsAndCannotBeRead) {
  softhsm_token token;
  AEGIS_REQUIRE_SOFTHSM(token);
  const temp_dir dir;
  auto key = generate_pkcs11_key(token.slot(), "device-key");
  ASSERT_TRUE(key) << key.error().message();
  EXPECT_EQ((*key)->algorithm(), crypto::sig_alg::es256);
  EXPECT_EQ((*key)->describe(), "pkcs11:token=sdk-test;object=device-key;type=private");

  // Signatures are raw r||s and verify with the public key alone.
  auto pem = (*key)->public_key_pem();
  ASSERT_TRUE(pem);
  auto pub = crypto::public_key::from_pem(*pem);
  ASSERT_TRUE(pub);
  EXPECT_EQ(pub->type(), crypto::key_type::ec_p256);
  const auto message = to_bytes("telemetry to sign");
  auto sig = (*key)->sign(message);
  ASSERT_TRUE(sig) << sig.error().message();
  EXPECT_EQ(sig->size(), 64U);
  EXPECT_TRUE(crypto::verify(*pub, crypto::sig_alg::es256, message, *sig));
  EXPECT_FALSE(crypto::verify(*pub, crypto::sig_alg::es256, to_bytes("other"), *sig));

  auto jwt = mint_device_jwt(**key, {std::string(project), std::chrono::seconds{600}},
                             std::chrono::system_clock::now());
  ASSERT_TRUE(jwt) << jwt.error().message();
  expect_token_verifies(**key, *jwt, dir);

  // The proof that the key cannot leave the token: the token itself refuses to give it out.
  auto session = detail::pkcs11_token::open(token.slot());
  ASSERT_TRUE(session);
  const auto value = (*session)->private_key_attribute("device-key", CKA_VALUE);
  EXPECT_NE(value.rv, CKR_OK);
  EXPECT_EQ(value.rv, CKR_ATTRIBUTE_SENSITIVE);
  EXPECT_TRUE(value.value.empty());
  const auto sensitive = (*session)->private_key_attribute("device-key", CKA_SENSITIVE);
  ASSERT_EQ(sensitive.rv, CKR_OK);
  EXPECT_EQ(sensitive.value, bytes{1});
  const auto extractable = (*session)->private_key_attribute("device-key", CKA_EXTRACTABLE);
  ASSERT_EQ(extractable.rv, CKR_OK);
  EXPECT_EQ(extractable.value, bytes{0});
  const auto never_extractable =
      (*session)->private_key_attribute("device-key", CKA_NEVER_EXTRACTABLE);
  ASSERT_EQ(never_extractable.rv, CKR_OK);
  EXPECT_EQ(never_extractable.value, bytes{1});
}

TEST(Pkcs11Key, SurvivesReopeningTheModuleAndRefusesASecondKeyOfTheSameLabel) {
  softhsm_token token;
  AEGIS_REQUIRE_SOFTHSM(token);
  std::string first_pem;
  {
    auto key = generate_pkcs11_key(token.slot(), "k1");
    ASSERT_TRUE(key) << key.error().message();
    first_pem = *(*key)->public_key_pem();
    EXPECT_EQ(generate_pkcs11_key(token.slot(), "k1").error(), keystore_errc::key_exists);
  }
  // Everything was closed and finalised above: this loads and logs in again.
  auto again = open_pkcs11_key(token.slot(), "k1");
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(*(*again)->public_key_pem(), first_pem);
  auto sig = (*again)->sign(to_bytes("m"));
  ASSERT_TRUE(sig);
  EXPECT_TRUE(crypto::verify(*crypto::public_key::from_pem(first_pem), crypto::sig_alg::es256,
                             to_bytes("m"), *sig));
  EXPECT_EQ(open_pkcs11_key(token.slot(), "no-such-key").error(), keystore_errc::not_found);
}

TEST(Pkcs11Key, RefusesWrongPinUnknownTokenAndBadModule) {
  softhsm_token token;
  AEGIS_REQUIRE_SOFTHSM(token);
  EXPECT_EQ(generate_pkcs11_key(token.slot("9999"), "k").error(), keystore_errc::pkcs11_login);
  auto unknown = token.slot();
  unknown.token_label = "no-such-token";
  EXPECT_EQ(generate_pkcs11_key(unknown, "k").error(), keystore_errc::pkcs11_login);
  auto bad_module = token.slot();
  bad_module.module = "/nonexistent/libpkcs11.so";
  EXPECT_EQ(open_pkcs11_key(bad_module, "k").error(), keystore_errc::pkcs11_module);
  auto not_a_module = token.slot();
  not_a_module.module = "libc.so.6";
  EXPECT_EQ(open_pkcs11_key(not_a_module, "k").error(), keystore_errc::pkcs11_module);

  // While a session is open, a different PIN may not ride on its login.
  auto key = generate_pkcs11_key(token.slot(), "k");
  ASSERT_TRUE(key);
  EXPECT_EQ(open_pkcs11_key(token.slot("0000"), "k").error(), keystore_errc::pkcs11_login);
  EXPECT_TRUE(open_pkcs11_key(token.slot(), "k"));
  EXPECT_EQ(generate_pkcs11_key(token.slot(), "").error(), device_errc::bad_config);
}

TEST(Errors, EveryValueHasItsOwnMessage) {
  std::set<std::string> seen;
  for (int v = 1; v <= 7; ++v) {
    EXPECT_TRUE(seen.insert(make_error_code(static_cast<keystore_errc>(v)).message()).second);
  }
  for (int v = 1; v <= 4; ++v) {
    EXPECT_TRUE(seen.insert(make_error_code(static_cast<store_errc>(v)).message()).second);
  }
  for (int v = 1; v <= 8; ++v) {
    EXPECT_TRUE(seen.insert(make_error_code(static_cast<device_errc>(v)).message()).second);
  }
  EXPECT_EQ(make_error_code(store_errc::tampered).category().name(),
            std::string("aegis.device.store"));
}

} // namespace
