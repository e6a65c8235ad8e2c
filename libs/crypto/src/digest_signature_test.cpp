#include "aegis/crypto/digest_signature.hpp"

#include "ossl.hpp"

#include <openssl/rsa.h>

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>

namespace {

using namespace aegis;
using namespace aegis::crypto;

const std::string fixtures = AEGIS_SHARED_DIR "/fixtures/mcuboot/";

std::string read_text(const std::string& name) {
  std::ifstream in(fixtures + name, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bytes read_bytes(const std::string& name) {
  return to_bytes(read_text(name));
}

private_key load_private(const std::string& name) {
  auto k = private_key::from_pem(read_text(name));
  EXPECT_TRUE(k) << name << ": " << k.error().message();
  return k ? std::move(*k) : private_key{};
}

public_key load_public(const std::string& name) {
  auto k = public_key::from_pem(read_text(name));
  EXPECT_TRUE(k) << name << ": " << k.error().message();
  return k ? *k : public_key{};
}

// The v1.2.3 fixtures: header 0x200 + payload 0x1000, no protected TLVs, and the unprotected
// TLVs SHA256 (at 0x1204), KEYHASH (at 0x1228) and the signature (header at 0x124c).
constexpr std::size_t hashed_size = 0x1200;
constexpr std::size_t sig_tlv = 0x124c;

sha256_digest fixture_digest(const bytes& image) {
  auto d = sha256(bytes_view(image).first(hashed_size));
  EXPECT_TRUE(d);
  return d ? *d : sha256_digest{};
}

bytes fixture_signature(const bytes& image) {
  const std::size_t len = static_cast<std::size_t>(image[sig_tlv + 2]) |
                          (static_cast<std::size_t>(image[sig_tlv + 3]) << 8);
  return {image.begin() + sig_tlv + 4, image.begin() + static_cast<long>(sig_tlv + 4 + len)};
}

TEST(DigestSignature, Sha256KnownAnswer) {
  auto d = sha256(as_bytes("abc"));
  ASSERT_TRUE(d);
  EXPECT_EQ(to_hex(*d), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(DigestSignature, RoundTripEachScheme) {
  const auto digest = *sha256(as_bytes("image region"));
  for (auto [type, bits] : {std::pair{key_type::ec_p256, 0}, std::pair{key_type::ed25519, 0},
                            std::pair{key_type::rsa, 2048}, std::pair{key_type::rsa, 3072}}) {
    auto key = private_key::generate(type, bits == 0 ? 2048 : bits);
    ASSERT_TRUE(key);
    const auto scheme = scheme_for(type);
    auto sig = sign_digest(*key, scheme, digest);
    ASSERT_TRUE(sig) << sig.error().message();
    if (type == key_type::rsa) {
      EXPECT_EQ(sig->size(), static_cast<std::size_t>(bits / 8));
    }
    const auto pub = key->public_part();
    EXPECT_TRUE(verify_digest(pub, scheme, digest, *sig)) << to_string(scheme);

    auto other = digest;
    other[0] ^= 1;
    EXPECT_EQ(verify_digest(pub, scheme, other, *sig).error(), sig_errc::bad_signature);
    auto tampered = *sig;
    tampered[tampered.size() / 2] ^= 0x40;
    EXPECT_FALSE(verify_digest(pub, scheme, digest, tampered));
  }
}

TEST(DigestSignature, SchemeMustMatchKeyType) {
  const auto digest = *sha256(as_bytes("x"));
  auto ec = private_key::generate(key_type::ec_p256);
  ASSERT_TRUE(ec);
  EXPECT_EQ(sign_digest(*ec, digest_sig_scheme::ed25519_digest, digest).error(),
            sig_errc::alg_key_mismatch);
  auto sig = sign_digest(*ec, digest_sig_scheme::ecdsa_p256_sha256, digest);
  ASSERT_TRUE(sig);
  EXPECT_EQ(
      verify_digest(ec->public_part(), digest_sig_scheme::rsa_pss_sha256, digest, *sig).error(),
      sig_errc::alg_key_mismatch);
}

TEST(DigestSignature, DigestMustBe32Bytes) {
  auto ed = private_key::generate(key_type::ed25519);
  ASSERT_TRUE(ed);
  const bytes short_digest(31, 0);
  EXPECT_EQ(sign_digest(*ed, digest_sig_scheme::ed25519_digest, short_digest).error(),
            std::errc::invalid_argument);
  EXPECT_EQ(sign_digest(private_key{}, digest_sig_scheme::ed25519_digest, bytes(32)).error(),
            key_errc::no_private_key);
}

// imgtool signs the digest, not the image, with Ed25519; Ed25519 is deterministic, so signing
// the fixture's digest with its key must reproduce imgtool's signature byte for byte.
TEST(DigestSignature, Ed25519MatchesImgtoolByteForByte) {
  const auto image = read_bytes("img-ed25519-v1.2.3.bin");
  ASSERT_GT(image.size(), sig_tlv + 4);
  ASSERT_EQ(image[sig_tlv], 0x24); // ED25519 TLV
  const auto key = load_private("key-ed25519.pem");
  auto sig = sign_digest(key, digest_sig_scheme::ed25519_digest, fixture_digest(image));
  ASSERT_TRUE(sig);
  EXPECT_EQ(*sig, fixture_signature(image));
  EXPECT_TRUE(verify_digest(load_public("pub-ed25519.pem"), digest_sig_scheme::ed25519_digest,
                            fixture_digest(image), fixture_signature(image)));
}

TEST(DigestSignature, VerifiesImgtoolEcdsaAndRsaSignatures) {
  const auto ec_image = read_bytes("img-ecdsa-p256-v1.2.3.bin");
  ASSERT_EQ(ec_image.at(sig_tlv), 0x22); // ECDSA_SIG
  EXPECT_TRUE(verify_digest(load_public("pub-ecdsa-p256.pem"), digest_sig_scheme::ecdsa_p256_sha256,
                            fixture_digest(ec_image), fixture_signature(ec_image)));
  const auto rsa_image = read_bytes("img-rsa2048-v1.2.3.bin");
  ASSERT_EQ(rsa_image.at(sig_tlv), 0x20); // RSA2048_PSS
  EXPECT_TRUE(verify_digest(load_public("pub-rsa-2048.pem"), digest_sig_scheme::rsa_pss_sha256,
                            fixture_digest(rsa_image), fixture_signature(rsa_image)));
  // The other fixture keys must not verify them.
  auto wrong = private_key::generate(key_type::ec_p256);
  ASSERT_TRUE(wrong);
  EXPECT_EQ(verify_digest(wrong->public_part(), digest_sig_scheme::ecdsa_p256_sha256,
                          fixture_digest(ec_image), fixture_signature(ec_image))
                .error(),
            sig_errc::bad_signature);
}

TEST(DigestSignature, EcdsaRefusesNonCanonicalEncodings) {
  const auto key = load_private("key-ecdsa-p256.pem");
  const auto digest = *sha256(as_bytes("payload"));
  auto sig = sign_digest(key, digest_sig_scheme::ecdsa_p256_sha256, digest);
  ASSERT_TRUE(sig);
  const auto pub = key.public_part();
  ASSERT_TRUE(verify_digest(pub, digest_sig_scheme::ecdsa_p256_sha256, digest, *sig));

  auto trailing = *sig; // old imgtool padded ECDSA signatures with zeros; Aegis does not accept it
  trailing.push_back(0);
  // A 72-byte DER signature plus the zero is over the size bound, any shorter one fails DER.
  EXPECT_EQ(verify_digest(pub, digest_sig_scheme::ecdsa_p256_sha256, digest, trailing).error(),
            sig->size() < max_ecdsa_p256_der_size ? sig_errc::bad_signature
                                                  : sig_errc::bad_signature_length);
  while (trailing.size() > 71) { // the same check, always below the bound
    trailing = *sign_digest(key, digest_sig_scheme::ecdsa_p256_sha256, digest);
    trailing.push_back(0);
  }
  EXPECT_EQ(verify_digest(pub, digest_sig_scheme::ecdsa_p256_sha256, digest, trailing).error(),
            sig_errc::bad_signature);
  EXPECT_EQ(
      verify_digest(pub, digest_sig_scheme::ecdsa_p256_sha256, digest, bytes(73, 0x30)).error(),
      sig_errc::bad_signature_length);
  EXPECT_EQ(verify_digest(pub, digest_sig_scheme::ecdsa_p256_sha256, digest, bytes{}).error(),
            sig_errc::bad_signature_length);
  EXPECT_EQ(verify_digest(pub, digest_sig_scheme::ecdsa_p256_sha256, digest, bytes(64, 1)).error(),
            sig_errc::bad_signature);
}

TEST(DigestSignature, RsaPssRefusesOtherSaltLengthsAndSizes) {
  const auto key = load_private("key-rsa-2048.pem");
  const auto digest = *sha256(as_bytes("payload"));
  // Sign with salt length 20 directly through OpenSSL: a valid PSS signature, wrong salt.
  ossl::pkey_ctx_ptr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key.native_handle(), nullptr));
  ASSERT_TRUE(ctx);
  ASSERT_EQ(EVP_PKEY_sign_init(ctx.get()), 1);
  ASSERT_GT(EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()), 0);
  ASSERT_GT(EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PSS_PADDING), 0);
  ASSERT_GT(EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx.get(), 20), 0);
  bytes sig(256);
  std::size_t len = sig.size();
  ASSERT_EQ(EVP_PKEY_sign(ctx.get(), sig.data(), &len, digest.data(), digest.size()), 1);
  ASSERT_EQ(len, 256u);
  EXPECT_EQ(
      verify_digest(key.public_part(), digest_sig_scheme::rsa_pss_sha256, digest, sig).error(),
      sig_errc::bad_signature);

  auto good = sign_digest(key, digest_sig_scheme::rsa_pss_sha256, digest);
  ASSERT_TRUE(good);
  EXPECT_TRUE(verify_digest(key.public_part(), digest_sig_scheme::rsa_pss_sha256, digest, *good));
  good->pop_back();
  EXPECT_EQ(
      verify_digest(key.public_part(), digest_sig_scheme::rsa_pss_sha256, digest, *good).error(),
      sig_errc::bad_signature_length);
}

// The KEYHASH TLV of each fixture is SHA-256 over the key structure MCUboot uses.
TEST(DigestSignature, KeyStructureDerMatchesImgtoolKeyHash) {
  for (auto [pub, image] : {std::pair{"pub-ecdsa-p256.pem", "img-ecdsa-p256-v1.2.3.bin"},
                            std::pair{"pub-ed25519.pem", "img-ed25519-v1.2.3.bin"},
                            std::pair{"pub-rsa-2048.pem", "img-rsa2048-v1.2.3.bin"}}) {
    const auto bytes_of_image = read_bytes(image);
    ASSERT_GT(bytes_of_image.size(), 0x124cu);
    ASSERT_EQ(bytes_of_image[0x1228], 0x01); // KEYHASH TLV
    const bytes keyhash(bytes_of_image.begin() + 0x122c, bytes_of_image.begin() + 0x124c);
    auto der = key_structure_der(load_public(pub));
    ASSERT_TRUE(der);
    auto h = sha256(*der);
    ASSERT_TRUE(h);
    EXPECT_EQ(bytes(h->begin(), h->end()), keyhash) << pub;
  }
  auto ec = key_structure_der(load_public("pub-ecdsa-p256.pem"));
  ASSERT_TRUE(ec);
  EXPECT_EQ(ec->size(), 91u); // SubjectPublicKeyInfo of a P-256 key
  EXPECT_FALSE(key_structure_der(public_key{}));
}

} // namespace
