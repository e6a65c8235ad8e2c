#include "aegis/firmware/sign.hpp"

#include "aegis/firmware/trailer.hpp"
#include "aegis/firmware/verify.hpp"

#include "testing.hpp"

#include <gtest/gtest.h>

namespace {

using namespace aegis;
using namespace aegis::firmware;
using namespace aegis::firmware::testing;

// The fixtures' imgtool invocation: -H 0x200 --pad-header --align 8 -v 1.2.3+4 (plus -s 7,
// --pad --confirm -S 0x2000 for the v2.0.0 ones).
sign_options fixture_options(image_version v) {
  sign_options o;
  o.header_size = 0x200;
  o.pad_header = true;
  o.align = 8;
  o.version = v;
  return o;
}

// Compares two signed images that differ only in their (randomised) signature: identical
// hashed region and TLVs, except the signature value and the lengths that follow from it.
::testing::AssertionResult same_but_signature(const bytes& expected, const bytes& actual) {
  auto e = parse_image(expected);
  auto a = parse_image(actual);
  if (!e || !a) {
    return ::testing::AssertionFailure() << "does not parse";
  }
  if (!std::ranges::equal(e->hashed_region(), a->hashed_region())) {
    return ::testing::AssertionFailure() << "hashed regions differ";
  }
  if (e->tlvs.size() != a->tlvs.size()) {
    return ::testing::AssertionFailure() << "TLV counts differ";
  }
  for (std::size_t i = 0; i < e->tlvs.size(); ++i) {
    const auto& et = e->tlvs[i];
    const auto& at = a->tlvs[i];
    if (et.type != at.type || et.is_protected != at.is_protected) {
      return ::testing::AssertionFailure() << "TLV " << i << " differs in type or area";
    }
    const bool is_sig = i + 1 == e->tlvs.size();
    if (!is_sig && !std::ranges::equal(et.value, at.value)) {
      return ::testing::AssertionFailure() << "TLV " << i << " differs";
    }
  }
  return ::testing::AssertionSuccess();
}

TEST(firmware_SignImage, Ed25519IsByteIdenticalToImgtool) {
  const auto out = sign_image(fixture("payload.bin"), fixture_private("key-ed25519.pem"),
                              fixture_options({1, 2, 3, 4}));
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(*out, fixture("img-ed25519-v1.2.3.bin"));
}

// ECDSA and RSA-PSS signatures are randomised: everything but the signature bytes must match
// imgtool's output, and the result must verify by MCUboot's rules.
TEST(firmware_SignImage, EcdsaAndRsaMatchImgtoolUpToTheSignature) {
  for (auto [key, pub, ref] :
       {std::tuple{"key-ecdsa-p256.pem", "pub-ecdsa-p256.pem", "img-ecdsa-p256-v1.2.3.bin"},
        std::tuple{"key-rsa-2048.pem", "pub-rsa-2048.pem", "img-rsa2048-v1.2.3.bin"}}) {
    SCOPED_TRACE(ref);
    const auto out =
        sign_image(fixture("payload.bin"), fixture_private(key), fixture_options({1, 2, 3, 4}));
    ASSERT_TRUE(out);
    EXPECT_TRUE(same_but_signature(fixture(ref), *out));
    EXPECT_TRUE(verify_image(*out, fixture_ring(pub)));
  }
}

TEST(firmware_SignImage, SecurityCounterPaddedConfirmedMatchesImgtool) {
  auto o = fixture_options({2, 0, 0, 0});
  o.security_counter = 7;
  const auto unpadded =
      sign_image(fixture("payload.bin"), fixture_private("key-ecdsa-p256.pem"), o);
  ASSERT_TRUE(unpadded);
  EXPECT_TRUE(same_but_signature(fixture("img-ecdsa-p256-v2.0.0-seccnt7.bin"), *unpadded));

  o.pad = true;
  o.confirm = true;
  o.slot_size = 0x2000;
  const auto padded = sign_image(fixture("payload.bin"), fixture_private("key-ecdsa-p256.pem"), o);
  ASSERT_TRUE(padded);
  const auto ref_padded = fixture("img-ecdsa-p256-v2.0.0-seccnt7-padded-confirmed.bin");
  ASSERT_EQ(padded->size(), ref_padded.size());
  EXPECT_TRUE(same_but_signature(ref_padded, *padded));
  // The whole trailer end (flags and magic) is identical.
  EXPECT_TRUE(std::equal(ref_padded.end() - 64, ref_padded.end(), padded->end() - 64));
  auto layout = trailer_layout::make(0x2000, 8);
  ASSERT_TRUE(layout);
  const auto tail = bytes_view(*padded).subspan(layout->flags_offset());
  const auto t = decode_trailer(tail, *layout);
  EXPECT_EQ(t.magic, magic_state::good);
  EXPECT_EQ(t.image_ok, flag_state::set);
  verify_policy p;
  p.min_security_counter = 7;
  p.max_image_end = layout->image_area();
  EXPECT_TRUE(verify_image(*padded, fixture_ring("pub-ecdsa-p256.pem"), p));
}

TEST(firmware_SignImage, PadWithoutConfirmWritesOnlyTheMagic) {
  auto o = fixture_options({1, 0, 0, 0});
  o.pad = true;
  o.slot_size = 0x2000;
  const auto out = sign_image(fixture("payload.bin"), fixture_private("key-ed25519.pem"), o);
  ASSERT_TRUE(out);
  auto layout = trailer_layout::make(0x2000, 8);
  const auto t = decode_trailer(bytes_view(*out).subspan(layout->flags_offset()), *layout);
  EXPECT_EQ(t.magic, magic_state::good);
  EXPECT_EQ(t.image_ok, flag_state::unset); // a test request once in the secondary slot
  EXPECT_EQ(t.copy_done, flag_state::unset);
}

TEST(firmware_SignImage, OverwriteOnlyConfirmLeavesImageOkAlone) {
  auto o = fixture_options({1, 0, 0, 0});
  o.confirm = true;
  o.overwrite_only = true;
  o.slot_size = 0x2000;
  const auto out = sign_image(fixture("payload.bin"), fixture_private("key-ed25519.pem"), o);
  ASSERT_TRUE(out);
  EXPECT_EQ((*out)[0x2000 - 24], 0xff);
  EXPECT_EQ((*out)[0x2000 - 16], 0x77);
}

TEST(firmware_SignImage, HeaderMustBeReservedWithoutPadHeader) {
  const auto key = fixture_private("key-ed25519.pem");
  sign_options o;
  o.header_size = 0x100;
  o.version = {1, 0, 0, 0};
  bytes input(0x100, 0);
  input.resize(0x180, 0xab);
  auto out = sign_image(input, key, o);
  ASSERT_TRUE(out) << out.error().message();
  auto parsed = parse_image(*out);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->header.hdr_size, 0x100);
  EXPECT_EQ(parsed->header.img_size, 0x80u);
  input[5] = 1;
  EXPECT_EQ(sign_image(input, key, o).error(), image_errc::bad_header_padding);
  EXPECT_EQ(sign_image(bytes(0x10, 0), key, o).error(), image_errc::bad_header_padding);
  o.header_size = 16;
  EXPECT_EQ(sign_image(input, key, o).error(), image_errc::bad_header_size);
}

TEST(firmware_SignImage, RefusesWhatDoesNotFit) {
  const auto key = fixture_private("key-ed25519.pem");
  auto o = fixture_options({1, 0, 0, 0});
  o.pad = true;
  EXPECT_EQ(sign_image(fixture("payload.bin"), key, o).error(), image_errc::bad_layout);
  o.slot_size = 0x1800; // 0x1200 + TLVs + 0xc30 trailer does not fit
  EXPECT_EQ(sign_image(fixture("payload.bin"), key, o).error(), image_errc::image_too_large);
  o.pad = false; // imgtool checks the fit whenever a slot size is given
  EXPECT_EQ(sign_image(fixture("payload.bin"), key, o).error(), image_errc::image_too_large);
  o.slot_size = 0x2000;
  o.align = 3;
  EXPECT_EQ(sign_image(fixture("payload.bin"), key, o).error(), image_errc::bad_layout);
}

TEST(firmware_SignImage, ProtectedTlvsInImgtoolOrder) {
  const auto key = fixture_private("key-ecdsa-p256.pem");
  sign_options o;
  o.version = {1, 2, 3, 0};
  o.security_counter = security_counter_from_version(o.version);
  o.dependencies = {{1, {1, 0, 0, 0}}};
  o.custom_tlvs = {{0x00a0, bytes{0x12, 0x34}}};
  o.pad_header = true;
  auto out = sign_image(bytes(200, 0x42), key, o);
  ASSERT_TRUE(out);
  auto v = verify_image(*out, ring({key.public_part()}));
  ASSERT_TRUE(v) << v.error().message();
  const auto& img = v->image;
  ASSERT_EQ(img.tlvs.size(), 6u);
  EXPECT_EQ(img.tlvs[0].type, tlv_type::sec_cnt);
  EXPECT_EQ(img.tlvs[1].type, tlv_type::dependency);
  EXPECT_EQ(img.tlvs[2].type, 0x00a0);
  EXPECT_EQ(img.security_counter, 0x01020003u);
  EXPECT_EQ(img.dependencies, (std::vector<image_dependency>{{1, {1, 0, 0, 0}}}));
  o.custom_tlvs = {{0x0050, bytes{1}}}; // not a vendor type
  EXPECT_EQ(sign_image(bytes(200, 0x42), key, o).error(), image_errc::unknown_tlv);
}

TEST(firmware_SignImage, LoadAddressFlags) {
  const auto key = fixture_private("key-ed25519.pem");
  sign_options o;
  o.pad_header = true;
  o.load_addr = 0x20000000;
  auto ram = sign_image(bytes(32, 1), key, o);
  ASSERT_TRUE(ram);
  EXPECT_EQ(parse_image(*ram)->header.flags, image_flag::ram_load);
  EXPECT_EQ(parse_image(*ram)->header.load_addr, 0x20000000u);
  o.load_addr.reset();
  o.rom_fixed = 0x8000;
  auto rom = sign_image(bytes(32, 1), key, o);
  ASSERT_TRUE(rom);
  EXPECT_EQ(parse_image(*rom)->header.flags, image_flag::rom_fixed);
  o.load_addr = 1;
  EXPECT_EQ(sign_image(bytes(32, 1), key, o).error(), image_errc::unsupported_flags);
}

TEST(firmware_SignImage, RsaOfOtherSizesHasNoTlv) {
  auto key = crypto::private_key::generate(crypto::key_type::rsa, 4096);
  ASSERT_TRUE(key);
  sign_options o;
  o.pad_header = true;
  EXPECT_EQ(sign_image(bytes(32, 1), *key, o).error(), image_errc::unsupported_signature);
}

} // namespace
