#include "aegis/crypto/keys.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

namespace {

using namespace aegis::crypto;

std::string run_openssl(const std::string& args) {
  const std::string cmd = "openssl " + args + " 2>/dev/null";
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[4096];
    std::size_t n = 0;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) {
      out.append(buf, n);
    }
    pclose(p);
  }
  return out;
}

TEST(Keys, GenerateEachSupportedType) {
  for (auto [type, bits] : {std::pair{key_type::ec_p256, 256}, std::pair{key_type::rsa, 2048},
                            std::pair{key_type::ed25519, 256}}) {
    auto key = private_key::generate(type);
    ASSERT_TRUE(key) << key.error().message();
    EXPECT_EQ(key->type(), type);
    EXPECT_EQ(key->bits(), bits);
    EXPECT_EQ(key->public_part().type(), type);
  }
}

TEST(Keys, RsaSizeLimits) {
  EXPECT_EQ(private_key::generate(key_type::rsa, 1024).error(), key_errc::rsa_too_small);
  EXPECT_EQ(private_key::generate(key_type::rsa, 8192).error(), key_errc::rsa_too_large);
  auto small = run_openssl("genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024");
  ASSERT_FALSE(small.empty());
  EXPECT_EQ(private_key::from_pem(small).error(), key_errc::rsa_too_small);
}

TEST(Keys, RefusesOtherCurvesAndTypes) {
  auto p384 = run_openssl("genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384");
  ASSERT_FALSE(p384.empty());
  auto r = private_key::from_pem(p384);
  EXPECT_EQ(r.error(), key_errc::unsupported_curve);
  EXPECT_STREQ(r.error().category().name(), "aegis.crypto.key");

  auto x25519 = run_openssl("genpkey -algorithm X25519");
  ASSERT_FALSE(x25519.empty());
  EXPECT_EQ(private_key::from_pem(x25519).error(), key_errc::unsupported_key_type);
  auto ed448 = run_openssl("genpkey -algorithm ED448");
  EXPECT_EQ(private_key::from_pem(ed448).error(), key_errc::unsupported_key_type);
}

TEST(Keys, PemAndDerRoundTrip) {
  for (auto type : {key_type::ec_p256, key_type::rsa, key_type::ed25519}) {
    auto key = private_key::generate(type);
    ASSERT_TRUE(key);
    auto pem = key->to_pem();
    ASSERT_TRUE(pem);
    EXPECT_NE(pem->find("BEGIN PRIVATE KEY"), std::string::npos);
    auto back = private_key::from_pem(*pem);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->public_part(), key->public_part());

    auto der = key->to_der();
    ASSERT_TRUE(der);
    auto from_der = private_key::from_der(*der);
    ASSERT_TRUE(from_der);
    EXPECT_EQ(from_der->public_part(), key->public_part());

    auto pub = key->public_part();
    auto pub_pem = pub.to_pem();
    ASSERT_TRUE(pub_pem);
    auto pub_back = public_key::from_pem(*pub_pem);
    ASSERT_TRUE(pub_back);
    EXPECT_EQ(*pub_back, pub);
    auto pub_der = pub.to_der();
    ASSERT_TRUE(pub_der);
    EXPECT_EQ(*public_key::from_der(*pub_der), pub);
  }
}

TEST(Keys, EncryptedPem) {
  auto key = private_key::generate(key_type::ec_p256);
  ASSERT_TRUE(key);
  auto pem = key->to_pem("correct horse");
  ASSERT_TRUE(pem);
  EXPECT_NE(pem->find("ENCRYPTED"), std::string::npos);
  EXPECT_EQ(private_key::from_pem(*pem).error(), key_errc::passphrase_required);
  EXPECT_EQ(private_key::from_pem(*pem, "wrong").error(), key_errc::bad_passphrase);
  auto back = private_key::from_pem(*pem, "correct horse");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->public_part(), key->public_part());
}

TEST(Keys, PublicLoaderRefusesPrivatePemAndGarbage) {
  auto key = private_key::generate(key_type::ec_p256);
  ASSERT_TRUE(key);
  EXPECT_EQ(public_key::from_pem(*key->to_pem()).error(), key_errc::bad_pem);
  EXPECT_EQ(
      public_key::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").error(),
      key_errc::bad_pem);
  const aegis::bytes junk{0x30, 0x03, 0x02, 0x01, 0x00};
  EXPECT_EQ(public_key::from_der(junk).error(), key_errc::bad_der);
  auto der = key->public_part().to_der();
  ASSERT_TRUE(der);
  der->push_back(0); // trailing garbage
  EXPECT_EQ(public_key::from_der(*der).error(), key_errc::bad_der);
}

TEST(Keys, FingerprintMatchesOpenssl) {
  auto key = private_key::generate(key_type::ec_p256);
  ASSERT_TRUE(key);
  auto pub = key->public_part();
  auto fp = pub.fingerprint_sha256();
  ASSERT_TRUE(fp);
  EXPECT_EQ(fp->size(), 64U);
  const std::string path =
      ::testing::TempDir() + "/aegis_fp_pub_" + std::to_string(::getpid()) + ".pem";
  std::ofstream(path) << *pub.to_pem();
  const std::string out =
      run_openssl("pkey -pubin -in " + path + " -outform DER | openssl dgst -sha256 -r");
  std::remove(path.c_str());
  EXPECT_EQ(out.substr(0, 64), *fp);
}

TEST(Keys, ReadsOpensslGeneratedKeys) {
  auto ec = run_openssl("ecparam -name prime256v1 -genkey -noout"); // traditional SEC1 PEM
  ASSERT_FALSE(ec.empty());
  auto k = private_key::from_pem(ec);
  ASSERT_TRUE(k) << k.error().message();
  EXPECT_EQ(k->type(), key_type::ec_p256);
  auto ed = run_openssl("genpkey -algorithm ED25519");
  auto k2 = private_key::from_pem(ed);
  ASSERT_TRUE(k2);
  EXPECT_EQ(k2->type(), key_type::ed25519);
}

} // namespace
