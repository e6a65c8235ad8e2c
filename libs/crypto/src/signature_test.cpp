#include "aegis/crypto/signature.hpp"

#include <gtest/gtest.h>

#include <openssl/ec.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace {

using namespace aegis::crypto;
using aegis::bytes;
using aegis::bytes_view;

constexpr std::array all_types{key_type::ec_p256, key_type::rsa, key_type::ed25519};

bytes hex(std::string_view text) {
  auto b = aegis::from_hex(text);
  EXPECT_TRUE(b) << text;
  return b.value_or(bytes{});
}

// Each key type generated once: RSA generation is slow and the tests only need a key.
const private_key& key_of(key_type type) {
  static const std::array<private_key, 3> keys = [] {
    return std::array{*private_key::generate(key_type::ec_p256),
                      *private_key::generate(key_type::rsa),
                      *private_key::generate(key_type::ed25519)};
  }();
  return keys[static_cast<std::size_t>(type)];
}

// The pid keeps concurrent runs (two build trees' ctest at once) from sharing files.
std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "/aegis_sig_" + std::to_string(getpid()) + "_" + name;
}

void write_file(const std::string& path, bytes_view data) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

bytes read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The exit status of `openssl <args>`, output discarded.
int openssl(const std::string& args) {
  const std::string cmd = "openssl " + args + " >/dev/null 2>&1";
  return std::system(cmd.c_str()); // NOLINT(concurrency-mt-unsafe): tests are single-threaded
}

bytes raw_es256_to_der(bytes_view raw) {
  ECDSA_SIG* sig = ECDSA_SIG_new();
  ECDSA_SIG_set0(sig, BN_bin2bn(raw.data(), 32, nullptr), BN_bin2bn(raw.data() + 32, 32, nullptr));
  bytes der(static_cast<std::size_t>(i2d_ECDSA_SIG(sig, nullptr)));
  unsigned char* p = der.data();
  i2d_ECDSA_SIG(sig, &p);
  ECDSA_SIG_free(sig);
  return der;
}

TEST(Signature, JoseNames) {
  EXPECT_EQ(jose_name(sig_alg::es256), "ES256");
  EXPECT_EQ(jose_name(sig_alg::rs256), "RS256");
  EXPECT_EQ(jose_name(sig_alg::eddsa), "EdDSA");
  for (auto alg : {sig_alg::es256, sig_alg::rs256, sig_alg::eddsa}) {
    EXPECT_EQ(from_jose_name(jose_name(alg)), alg);
  }
  for (std::string_view other :
       {"none", "HS256", "es256", "ES384", "PS256", "EDDSA", "Ed25519", ""}) {
    EXPECT_FALSE(from_jose_name(other)) << other;
  }
}

TEST(Signature, AlgorithmIsTiedToKeyType) {
  EXPECT_EQ(alg_for(key_type::ec_p256), sig_alg::es256);
  EXPECT_EQ(alg_for(key_type::rsa), sig_alg::rs256);
  EXPECT_EQ(alg_for(key_type::ed25519), sig_alg::eddsa);
}

TEST(Signature, SignVerifyRoundTripAndSizes) {
  const auto msg = aegis::as_bytes("hello, aegis");
  for (auto type : all_types) {
    const auto& key = key_of(type);
    const auto alg = alg_for(type);
    auto sig = sign(key, alg, msg);
    ASSERT_TRUE(sig) << sig.error().message();
    EXPECT_EQ(sig->size(), type == key_type::rsa ? 256U : 64U) << to_string(type);
    EXPECT_TRUE(verify(key.public_part(), alg, msg, *sig)) << to_string(type);

    auto tampered_msg = aegis::to_bytes("hello, aegiS");
    EXPECT_EQ(verify(key.public_part(), alg, tampered_msg, *sig).error(), sig_errc::bad_signature);
    auto tampered_sig = *sig;
    tampered_sig[tampered_sig.size() / 2] ^= 0x01;
    EXPECT_EQ(verify(key.public_part(), alg, msg, tampered_sig).error(), sig_errc::bad_signature);
  }
}

TEST(Signature, RefusesAlgorithmOfAnotherKeyType) {
  const auto msg = aegis::as_bytes("m");
  for (auto type : all_types) {
    for (auto alg : {sig_alg::es256, sig_alg::rs256, sig_alg::eddsa}) {
      if (alg == alg_for(type)) {
        continue;
      }
      EXPECT_EQ(sign(key_of(type), alg, msg).error(), sig_errc::alg_key_mismatch);
      const bytes sig(type == key_type::rsa ? 256 : 64, 0x11);
      EXPECT_EQ(verify(key_of(type).public_part(), alg, msg, sig).error(),
                sig_errc::alg_key_mismatch);
    }
  }
}

TEST(Signature, WrongLengthIsItsOwnError) {
  const auto msg = aegis::as_bytes("m");
  for (auto type : all_types) {
    auto sig = sign(key_of(type), alg_for(type), msg);
    ASSERT_TRUE(sig);
    auto longer = *sig;
    longer.push_back(0);
    auto shorter = *sig;
    shorter.pop_back();
    const auto pub = key_of(type).public_part();
    EXPECT_EQ(verify(pub, alg_for(type), msg, longer).error(), sig_errc::bad_signature_length);
    EXPECT_EQ(verify(pub, alg_for(type), msg, shorter).error(), sig_errc::bad_signature_length);
    EXPECT_EQ(verify(pub, alg_for(type), msg, {}).error(), sig_errc::bad_signature_length);
  }
}

TEST(Signature, Es256IsRawNotDer) {
  const auto msg = aegis::as_bytes("raw r||s");
  const auto& key = key_of(key_type::ec_p256);
  auto sig = sign(key, sig_alg::es256, msg);
  ASSERT_TRUE(sig);
  const bytes der = raw_es256_to_der(*sig);
  EXPECT_NE(der.size(), 64U);
  EXPECT_EQ(verify(key.public_part(), sig_alg::es256, msg, der).error(),
            sig_errc::bad_signature_length);
  // r = 0 and s = 0 are outside [1, n-1]: well-formed length, never valid.
  EXPECT_EQ(verify(key.public_part(), sig_alg::es256, msg, bytes(64, 0)).error(),
            sig_errc::bad_signature);
  EXPECT_EQ(verify(key.public_part(), sig_alg::es256, msg, bytes(64, 0xFF)).error(),
            sig_errc::bad_signature);
}

TEST(Signature, EmptyKeys) {
  const auto msg = aegis::as_bytes("m");
  EXPECT_EQ(sign(private_key{}, sig_alg::es256, msg).error(), key_errc::no_private_key);
  EXPECT_EQ(verify(public_key{}, sig_alg::es256, msg, bytes(64, 1)).error(),
            sig_errc::bad_signature);
}

// RFC 8032 §7.1 TEST 1: Ed25519 is deterministic, so the exact signature is known.
TEST(Signature, Ed25519Rfc8032Vector) {
  const bytes pkcs8 = hex("302e020100300506032b657004220420"
                          "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  const bytes spki = hex("302a300506032b6570032100"
                         "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  const bytes expected = hex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
                             "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
  auto priv = private_key::from_der(pkcs8);
  ASSERT_TRUE(priv) << priv.error().message();
  auto pub = public_key::from_der(spki);
  ASSERT_TRUE(pub);
  EXPECT_EQ(priv->public_part(), *pub);
  auto sig = sign(*priv, sig_alg::eddsa, {});
  ASSERT_TRUE(sig);
  EXPECT_EQ(aegis::to_hex(*sig), aegis::to_hex(expected));
  EXPECT_TRUE(verify(*pub, sig_alg::eddsa, {}, expected));
}

// The openssl command line is an independent implementation: what Aegis signs it must accept,
// and what it signs Aegis must accept (after the DER -> raw conversion JWS requires).
TEST(Signature, InteropWithOpensslCli) {
  const bytes msg = aegis::to_bytes("interop message for the openssl cli\n");
  const std::string msg_path = temp_path("msg");
  write_file(msg_path, msg);
  for (auto type : all_types) {
    const auto& key = key_of(type);
    const std::string name = type == key_type::ec_p256 ? "ec"
                             : type == key_type::rsa   ? "rsa"
                                                       : "ed25519";
    const std::string priv_path = temp_path(name + "_priv.pem");
    const std::string pub_path = temp_path(name + "_pub.pem");
    {
      std::ofstream(priv_path) << *key.to_pem();
      std::ofstream(pub_path) << *key.public_part().to_pem();
    }
    const std::string sig_path = temp_path(name + "_sig");
    const std::string cli_sig_path = temp_path(name + "_cli_sig");

    auto sig = sign(key, alg_for(type), msg);
    ASSERT_TRUE(sig);
    if (type == key_type::ed25519) {
      write_file(sig_path, *sig);
      EXPECT_EQ(openssl("pkeyutl -verify -rawin -pubin -inkey " + pub_path + " -in " + msg_path +
                        " -sigfile " + sig_path),
                0);
      ASSERT_EQ(openssl("pkeyutl -sign -rawin -inkey " + priv_path + " -in " + msg_path + " -out " +
                        cli_sig_path),
                0);
    } else {
      write_file(sig_path, type == key_type::ec_p256 ? raw_es256_to_der(*sig) : *sig);
      EXPECT_EQ(
          openssl("dgst -sha256 -verify " + pub_path + " -signature " + sig_path + " " + msg_path),
          0)
          << name;
      ASSERT_EQ(
          openssl("dgst -sha256 -sign " + priv_path + " -out " + cli_sig_path + " " + msg_path), 0);
    }
    bytes cli_sig = read_file(cli_sig_path);
    if (type == key_type::ec_p256) {
      const unsigned char* p = cli_sig.data();
      ECDSA_SIG* parsed = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(cli_sig.size()));
      ASSERT_NE(parsed, nullptr);
      bytes raw(64);
      BN_bn2binpad(ECDSA_SIG_get0_r(parsed), raw.data(), 32);
      BN_bn2binpad(ECDSA_SIG_get0_s(parsed), raw.data() + 32, 32);
      ECDSA_SIG_free(parsed);
      cli_sig = raw;
    }
    EXPECT_TRUE(verify(key.public_part(), alg_for(type), msg, cli_sig)) << name;
    for (const auto& p : {priv_path, pub_path, sig_path, cli_sig_path}) {
      std::remove(p.c_str());
    }
  }
  std::remove(msg_path.c_str());
}

TEST(Signature, ErrorCategory) {
  const std::error_code ec = sig_errc::bad_signature_length;
  EXPECT_STREQ(ec.category().name(), "aegis.crypto.sig");
  EXPECT_EQ(ec.message(), "signature has the wrong length for the algorithm");
}

} // namespace
