#include "aegis/firmware/verify.hpp"

#include "aegis/firmware/sign.hpp"

#include "testing.hpp"

#include <gtest/gtest.h>

namespace {

using namespace aegis;
using namespace aegis::firmware;
using namespace aegis::firmware::testing;

constexpr const char* v123_sha = "57758661b9c95ae7ab3398871be923da502221d6bf817f0591e104e5f81b3599";
constexpr const char* v200_sha = "c9ca61754485b4a59608242226972d37876b1b0f1b41dc9bebb9a7c80477ac69";

struct fixture_case {
  const char* image;
  const char* key;  // the key it was signed with
  const char* hash; // README's image SHA-256
  std::optional<std::uint32_t> counter;
  image_version version;
};

const fixture_case valid_fixtures[] = {
    {"img-ecdsa-p256-v1.2.3.bin", "pub-ecdsa-p256.pem", v123_sha, std::nullopt, {1, 2, 3, 4}},
    {"img-ed25519-v1.2.3.bin", "pub-ed25519.pem", v123_sha, std::nullopt, {1, 2, 3, 4}},
    {"img-rsa2048-v1.2.3.bin", "pub-rsa-2048.pem", v123_sha, std::nullopt, {1, 2, 3, 4}},
    {"img-ecdsa-p256-v2.0.0-seccnt7.bin", "pub-ecdsa-p256.pem", v200_sha, 7u, {2, 0, 0, 0}},
    {"img-ecdsa-p256-v2.0.0-seccnt7-padded-confirmed.bin",
     "pub-ecdsa-p256.pem",
     v200_sha,
     7u,
     {2, 0, 0, 0}},
};
const char* const all_keys[] = {"pub-ecdsa-p256.pem", "pub-ed25519.pem", "pub-rsa-2048.pem"};

// README: each valid image verifies with its key, with the stated version, counter and hash.
TEST(firmware_FixtureVerdicts, ValidImagesVerifyWithTheirOwnKey) {
  for (const auto& c : valid_fixtures) {
    SCOPED_TRACE(c.image);
    const auto data = fixture(c.image);
    auto v = verify_image(data, fixture_ring(c.key));
    ASSERT_TRUE(v) << v.error().message();
    EXPECT_EQ(to_hex(v->digest), c.hash);
    EXPECT_EQ(v->image.header.version, c.version);
    EXPECT_EQ(v->image.security_counter, c.counter);
    EXPECT_EQ(v->key_index, 0u);
  }
}

// README: "Every valid image also fails against any key other than its own."
TEST(firmware_FixtureVerdicts, ValidImagesFailWithEveryOtherKey) {
  for (const auto& c : valid_fixtures) {
    for (const char* key : all_keys) {
      if (std::string_view(key) == c.key) {
        continue;
      }
      SCOPED_TRACE(std::string(c.image) + " with " + key);
      EXPECT_EQ(verify_image(fixture(c.image), fixture_ring(key)).error(), image_errc::unknown_key);
    }
  }
}

TEST(firmware_FixtureVerdicts, AllKeysRingPicksTheRightKey) {
  std::vector<crypto::public_key> keys;
  for (const char* k : all_keys) {
    keys.push_back(fixture_public(k));
  }
  const auto r = ring(std::move(keys));
  EXPECT_EQ(verify_image(fixture("img-ecdsa-p256-v1.2.3.bin"), r)->key_index, 0u);
  EXPECT_EQ(verify_image(fixture("img-ed25519-v1.2.3.bin"), r)->key_index, 1u);
  EXPECT_EQ(verify_image(fixture("img-rsa2048-v1.2.3.bin"), r)->key_index, 2u);
}

// README: the two bad fixtures are "invalid hash".
TEST(firmware_FixtureVerdicts, BadFixturesFailTheHash) {
  const auto r = fixture_ring("pub-ecdsa-p256.pem");
  EXPECT_EQ(verify_image(fixture("bad-payload-flipped.bin"), r).error(), image_errc::hash_mismatch);
  EXPECT_EQ(verify_image(fixture("bad-header-version.bin"), r).error(), image_errc::hash_mismatch);
}

class firmware_VerifyRefuses : public ::testing::Test {
protected:
  key_ring ec = fixture_ring("pub-ecdsa-p256.pem");
  bytes v123 = fixture("img-ecdsa-p256-v1.2.3.bin");
  bytes seccnt = fixture("img-ecdsa-p256-v2.0.0-seccnt7.bin");
};

TEST_F(firmware_VerifyRefuses, TamperedPayload) {
  v123[0x200 + 100] ^= 0x01;
  EXPECT_EQ(verify_image(v123, ec).error(), image_errc::hash_mismatch);
}

TEST_F(firmware_VerifyRefuses, TamperedHeader) {
  v123[4] ^= 0x01; // load address
  EXPECT_EQ(verify_image(v123, ec).error(), image_errc::hash_mismatch);
  auto padding = fixture("img-ecdsa-p256-v1.2.3.bin");
  padding[0x100] = 0x00; // header padding is hashed too
  EXPECT_EQ(verify_image(padding, ec).error(), image_errc::hash_mismatch);
}

TEST_F(firmware_VerifyRefuses, TamperedProtectedTlv) {
  seccnt[0x1208] = 8; // SEC_CNT 7 -> 8
  EXPECT_EQ(verify_image(seccnt, ec).error(), image_errc::hash_mismatch);
}

TEST_F(firmware_VerifyRefuses, TamperedHashTlv) {
  v123[0x1210] ^= 0x80;
  EXPECT_EQ(verify_image(v123, ec).error(), image_errc::hash_mismatch);
}

TEST_F(firmware_VerifyRefuses, TamperedKeyHashTlv) {
  v123[0x1230] ^= 0x01;
  EXPECT_EQ(verify_image(v123, ec).error(), image_errc::unknown_key);
}

TEST_F(firmware_VerifyRefuses, TamperedSignature) {
  v123[0x1260] ^= 0x01; // inside r
  EXPECT_EQ(verify_image(v123, ec).error(), image_errc::bad_signature);
}

TEST_F(firmware_VerifyRefuses, WrongKey) {
  auto other = crypto::private_key::generate(crypto::key_type::ec_p256);
  ASSERT_TRUE(other);
  EXPECT_EQ(verify_image(v123, ring({other->public_part()})).error(), image_errc::unknown_key);
}

TEST_F(firmware_VerifyRefuses, LowerSecurityCounter) {
  verify_policy p;
  p.min_security_counter = 8;
  EXPECT_EQ(verify_image(seccnt, ec, p).error(), image_errc::security_counter_rollback);
  p.min_security_counter = 7; // equal is allowed, as MCUboot's ">="
  EXPECT_TRUE(verify_image(seccnt, ec, p));
}

TEST_F(firmware_VerifyRefuses, MissingSecurityCounterWhenRequired) {
  verify_policy p;
  p.min_security_counter = 0;
  EXPECT_EQ(verify_image(v123, ec, p).error(), image_errc::missing_security_counter);
}

TEST_F(firmware_VerifyRefuses, NoTrustedKeys) {
  EXPECT_EQ(verify_image(v123, key_ring{}).error(), image_errc::no_trusted_keys);
}

TEST_F(firmware_VerifyRefuses, MissingHash) {
  store16(v123, 0x1204, tlv_type::keyhash); // the SHA256 TLV becomes a (wrong) key hash
  EXPECT_EQ(verify_image(v123, ec).error(), image_errc::missing_hash);
}

TEST_F(firmware_VerifyRefuses, StructuralErrorsComeFirst) {
  store16(v123, 0x1202, 0xffff);
  EXPECT_EQ(verify_image(v123, ec).error(), image_errc::tlv_area_out_of_bounds);
}

TEST_F(firmware_VerifyRefuses, ImageIntoTrailer) {
  verify_policy p;
  p.max_image_end = 0x1210;
  EXPECT_EQ(verify_image(v123, ec, p).error(), image_errc::image_overlaps_trailer);
}

TEST(firmware_VerifyBuilt, MissingAndUnsupportedSignatures) {
  const auto key = fixture_private("key-ecdsa-p256.pem");
  const auto r = ring({key.public_part()});
  image_header h;
  const bytes payload(100, 7);
  const auto no_sig =
      assemble(h, payload, {},
               {{tlv_type::sha256, {}}, {tlv_type::keyhash, key_hash_of(key.public_part())}});
  EXPECT_EQ(verify_image(no_sig, r).error(), image_errc::missing_signature);
  const auto ecdsa224 = assemble(h, payload, {},
                                 {{tlv_type::sha256, {}},
                                  {tlv_type::keyhash, key_hash_of(key.public_part())},
                                  {tlv_type::ecdsa224, bytes(56, 1)}});
  EXPECT_EQ(verify_image(ecdsa224, r).error(), image_errc::unsupported_signature);
  const auto pure =
      assemble(h, payload, {}, {{tlv_type::sig_pure, {1}}, {tlv_type::ed25519, bytes(64)}});
  EXPECT_EQ(verify_image(pure, r).error(), image_errc::unsupported_signature);
}

TEST(firmware_VerifyBuilt, SignatureNeedsAKeyIdBeforeIt) {
  const auto key = fixture_private("key-ecdsa-p256.pem");
  const auto r = ring({key.public_part()});
  image_header h;
  const bytes payload(100, 7);
  // Signature first, key hash after it: MCUboot's loop never pairs them.
  auto img = assemble(h, payload, {}, {{tlv_type::sha256, {}}});
  const auto sig = signature_over(key, bytes_view(img).first(h.hdr_size + payload.size()));
  const auto swapped = assemble(h, payload, {},
                                {{tlv_type::sha256, {}},
                                 {tlv_type::ecdsa_sig, sig},
                                 {tlv_type::keyhash, key_hash_of(key.public_part())}});
  EXPECT_EQ(verify_image(swapped, r).error(), image_errc::unknown_key);
  const auto paired = assemble(h, payload, {},
                               {{tlv_type::sha256, {}},
                                {tlv_type::keyhash, key_hash_of(key.public_part())},
                                {tlv_type::ecdsa_sig, sig}});
  EXPECT_TRUE(verify_image(paired, r));
}

// Several signatures: an unknown signer's is skipped, one good trusted signature suffices.
TEST(firmware_VerifyBuilt, SkipsUnknownSignersAndAcceptsOneGoodSignature) {
  const auto trusted = fixture_private("key-ed25519.pem");
  auto stranger = crypto::private_key::generate(crypto::key_type::ec_p256);
  ASSERT_TRUE(stranger);
  image_header h;
  const bytes payload(300, 9);
  const auto prefix = assemble(h, payload, {}, {});
  const auto hashed = bytes_view(prefix).first(h.hdr_size + payload.size());
  const auto img = assemble(h, payload, {},
                            {{tlv_type::sha256, {}},
                             {tlv_type::keyhash, key_hash_of(stranger->public_part())},
                             {tlv_type::ecdsa_sig, signature_over(*stranger, hashed)},
                             {tlv_type::keyhash, key_hash_of(trusted.public_part())},
                             {tlv_type::ed25519, signature_over(trusted, hashed)}});
  auto v = verify_image(img, ring({trusted.public_part()}));
  ASSERT_TRUE(v) << v.error().message();
  EXPECT_EQ(v->key_index, 0u);
}

TEST(firmware_VerifyBuilt, SignatureTypeMustFitTheNamedKey) {
  const auto ed = fixture_private("key-ed25519.pem");
  image_header h;
  const bytes payload(50, 1);
  const auto prefix = assemble(h, payload, {}, {});
  const auto sig = signature_over(ed, bytes_view(prefix).first(h.hdr_size + payload.size()));
  // An Ed25519 signature carried in an ECDSA_SIG TLV, naming the Ed25519 key.
  const auto img = assemble(h, payload, {},
                            {{tlv_type::sha256, {}},
                             {tlv_type::keyhash, key_hash_of(ed.public_part())},
                             {tlv_type::ecdsa_sig, sig}});
  EXPECT_EQ(verify_image(img, ring({ed.public_part()})).error(), image_errc::bad_signature);
}

TEST(firmware_VerifyBuilt, UnsupportedFlagsAndNonBootable) {
  const auto key = fixture_private("key-ecdsa-p256.pem");
  const auto r = ring({key.public_part()});
  sign_options o;
  o.version = {1, 0, 0, 0};
  o.non_bootable = true;
  auto img = sign_image(bytes(64, 0), key, o);
  ASSERT_TRUE(img);
  EXPECT_TRUE(verify_image(*img, r));
  verify_policy p;
  p.require_bootable = true;
  EXPECT_EQ(verify_image(*img, r, p).error(), image_errc::not_bootable);
  for (std::uint32_t flag : {image_flag::encrypted_aes128, image_flag::encrypted_aes256,
                             image_flag::pic, image_flag::compressed_lzma2, 0x80000000u}) {
    auto flagged = *img;
    store32(flagged, 16, flag);
    EXPECT_EQ(verify_image(flagged, r).error(), image_errc::unsupported_flags) << flag;
  }
}

TEST(firmware_VerifyBuilt, PubkeyTlvSelectsTheKey) {
  const auto key = fixture_private("key-rsa-2048.pem");
  sign_options o;
  o.version = {3, 0, 0, 0};
  o.public_key_full = true;
  auto img = sign_image(bytes(128, 0), key, o);
  ASSERT_TRUE(img);
  auto parsed = parse_image(*img);
  ASSERT_TRUE(parsed);
  EXPECT_NE(parsed->find(tlv_type::pubkey), nullptr);
  EXPECT_EQ(parsed->find(tlv_type::keyhash), nullptr);
  EXPECT_TRUE(verify_image(*img, ring({key.public_part()})));
  auto other = crypto::private_key::generate(crypto::key_type::ed25519);
  EXPECT_EQ(verify_image(*img, ring({other->public_part()})).error(), image_errc::unknown_key);
}

TEST(firmware_VerifyBuilt, Rsa3072AndTheSizeTheTlvNames) {
  auto key = crypto::private_key::generate(crypto::key_type::rsa, 3072);
  ASSERT_TRUE(key);
  sign_options o;
  o.version = {1, 0, 0, 0};
  auto img = sign_image(bytes(64, 0), *key, o);
  ASSERT_TRUE(img);
  auto parsed = parse_image(*img);
  ASSERT_TRUE(parsed);
  ASSERT_NE(parsed->find(tlv_type::rsa3072_pss), nullptr);
  EXPECT_TRUE(verify_image(*img, ring({key->public_part()})));
  // Relabel the 384-byte signature's TLV... RSA2048_PSS must be 256 bytes, so the format
  // itself refuses the mislabelled entry.
  auto relabelled = *img;
  const std::size_t type_off = parsed->find(tlv_type::rsa3072_pss)->offset - 4;
  store16(relabelled, type_off, tlv_type::rsa2048_pss);
  EXPECT_EQ(verify_image(relabelled, ring({key->public_part()})).error(),
            image_errc::bad_tlv_length);
}

} // namespace
