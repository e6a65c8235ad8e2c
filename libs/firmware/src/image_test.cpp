#include "aegis/firmware/image.hpp"

#include "testing.hpp"

#include <gtest/gtest.h>

#include <random>

namespace {

using namespace aegis;
using namespace aegis::firmware;
using namespace aegis::firmware::testing;

std::vector<std::uint16_t> types_of(const parsed_image& img) {
  std::vector<std::uint16_t> out;
  for (const auto& t : img.tlvs) {
    out.push_back(t.type);
  }
  return out;
}

TEST(firmware_ImageParse, FixtureV123Layout) {
  const auto data = fixture("img-ecdsa-p256-v1.2.3.bin");
  auto img = parse_image(data);
  ASSERT_TRUE(img) << img.error().message();
  EXPECT_EQ(img->header.magic, image_magic);
  EXPECT_EQ(img->header.hdr_size, 0x200);
  EXPECT_EQ(img->header.img_size, 0x1000u);
  EXPECT_EQ(img->header.protect_tlv_size, 0);
  EXPECT_EQ(img->header.flags, 0u);
  EXPECT_EQ(img->header.version, (image_version{1, 2, 3, 4}));
  EXPECT_EQ(img->tlv_offset, 0x1200u);
  EXPECT_EQ(img->protected_end, 0x1200u);
  EXPECT_EQ(img->image_end, data.size());
  EXPECT_EQ(types_of(*img),
            (std::vector<std::uint16_t>{tlv_type::sha256, tlv_type::keyhash, tlv_type::ecdsa_sig}));
  EXPECT_FALSE(img->security_counter);
  EXPECT_TRUE(img->dependencies.empty());
  EXPECT_EQ(img->payload().size(), 0x1000u);
  EXPECT_TRUE(std::ranges::equal(img->payload(), fixture("payload.bin")));
}

TEST(firmware_ImageParse, FixtureWithSecurityCounterInProtectedArea) {
  const auto data = fixture("img-ecdsa-p256-v2.0.0-seccnt7.bin");
  auto img = parse_image(data);
  ASSERT_TRUE(img) << img.error().message();
  EXPECT_EQ(img->header.protect_tlv_size, 12);
  EXPECT_EQ(img->protected_end, 0x120cu);
  EXPECT_EQ(img->header.version, (image_version{2, 0, 0, 0}));
  ASSERT_TRUE(img->security_counter);
  EXPECT_EQ(*img->security_counter, 7u);
  ASSERT_FALSE(img->tlvs.empty());
  EXPECT_EQ(img->tlvs[0].type, tlv_type::sec_cnt);
  EXPECT_TRUE(img->tlvs[0].is_protected);
  EXPECT_FALSE(img->tlvs[1].is_protected);
}

TEST(firmware_ImageParse, EveryFixtureParses) {
  for (const char* name :
       {"img-ecdsa-p256-v1.2.3.bin", "img-ed25519-v1.2.3.bin", "img-rsa2048-v1.2.3.bin",
        "img-ecdsa-p256-v2.0.0-seccnt7.bin", "img-ecdsa-p256-v2.0.0-seccnt7-padded-confirmed.bin",
        "bad-payload-flipped.bin", "bad-header-version.bin"}) {
    const auto data = fixture(name);
    auto img = parse_image(data);
    EXPECT_TRUE(img) << name << ": " << img.error().message();
  }
  // The padded image parses with the trailer after it ignored, and fits the 8 KiB slot's
  // image area (slot - 0xc30 trailer for --align 8).
  const auto padded = fixture("img-ecdsa-p256-v2.0.0-seccnt7-padded-confirmed.bin");
  auto img = parse_image(padded, parse_options{0x2000 - 0xc30});
  ASSERT_TRUE(img);
  EXPECT_EQ(img->image_end, 0x12a3u);
}

TEST(firmware_ImageHeader, EncodeDecodeRoundTripsFixtureHeader) {
  const auto data = fixture("img-ed25519-v1.2.3.bin");
  auto h = decode_header(data);
  ASSERT_TRUE(h);
  const auto enc = encode_header(*h);
  EXPECT_TRUE(std::equal(enc.begin(), enc.end(), data.begin()));
  EXPECT_EQ(decode_header(bytes(31, 0)).error(), image_errc::truncated_header);
}

TEST(firmware_ImageVersion, ParsesImgtoolSyntax) {
  EXPECT_EQ(*parse_version("1.2.3+4"), (image_version{1, 2, 3, 4}));
  EXPECT_EQ(*parse_version("1"), (image_version{1, 0, 0, 0}));
  EXPECT_EQ(*parse_version("1.2"), (image_version{1, 2, 0, 0}));
  EXPECT_EQ(*parse_version("255.255.65535+4294967295"),
            (image_version{255, 255, 65535, 4294967295u}));
  for (const char* bad : {"", "01.2.3", "1.2.3.4", "256", "1.256", "1.2.65536", "1.2+3", "1..2",
                          "a", "1.2.3+", "1.2.3+4294967296", "-1", "1.2.3 ", "+1"}) {
    EXPECT_EQ(parse_version(bad).error(), image_errc::bad_version_string) << bad;
  }
  EXPECT_EQ(to_string(image_version{1, 2, 3, 4}), "1.2.3+4");
}

TEST(firmware_ImageVersion, ComparesLikeMcuboot) {
  EXPECT_EQ(compare_versions({1, 2, 3, 0}, {1, 2, 4, 0}), std::strong_ordering::less);
  EXPECT_EQ(compare_versions({2, 0, 0, 0}, {1, 9, 9, 0}), std::strong_ordering::greater);
  // The build number is ignored unless asked for.
  EXPECT_EQ(compare_versions({1, 2, 3, 9}, {1, 2, 3, 1}), std::strong_ordering::equal);
  EXPECT_EQ(compare_versions({1, 2, 3, 9}, {1, 2, 3, 1}, true), std::strong_ordering::greater);
  EXPECT_EQ(security_counter_from_version({1, 2, 3, 4}), 0x01020003u);
}

// ---- Refusals: each malformed input has its own error ----

class firmware_ImageParseRefuses : public ::testing::Test {
protected:
  bytes v123 = fixture("img-ecdsa-p256-v1.2.3.bin");           // TLVs at 0x1200, no protected area
  bytes seccnt = fixture("img-ecdsa-p256-v2.0.0-seccnt7.bin"); // protected 0x1200..0x120c
};

TEST_F(firmware_ImageParseRefuses, TruncatedHeader) {
  EXPECT_EQ(parse_image(bytes_view(v123).first(31)).error(), image_errc::truncated_header);
  EXPECT_EQ(parse_image(bytes{}).error(), image_errc::truncated_header);
}

TEST_F(firmware_ImageParseRefuses, ErasedSlotAndBadMagic) {
  EXPECT_EQ(parse_image(bytes(4096, 0xff)).error(), image_errc::empty_slot);
  store32(v123, 0, image_magic_v1);
  EXPECT_EQ(parse_image(v123).error(), image_errc::bad_magic);
  store32(v123, 0, 0);
  EXPECT_EQ(parse_image(v123).error(), image_errc::bad_magic);
}

TEST_F(firmware_ImageParseRefuses, HeaderSizeSmallerThanHeader) {
  store16(v123, 8, 16);
  EXPECT_EQ(parse_image(v123).error(), image_errc::bad_header_size);
}

TEST_F(firmware_ImageParseRefuses, TruncatedPayload) {
  EXPECT_EQ(parse_image(bytes_view(v123).first(0x1100)).error(), image_errc::truncated_image);
}

TEST_F(firmware_ImageParseRefuses, SizesPointingOutsideTheFile) {
  auto huge = v123;
  store32(huge, 12, 0xffffffff); // ih_img_size
  EXPECT_EQ(parse_image(huge).error(), image_errc::truncated_image);
  auto big_header = v123;
  store16(big_header, 8, 0xffff); // ih_hdr_size
  EXPECT_EQ(parse_image(big_header).error(), image_errc::truncated_image);
}

TEST_F(firmware_ImageParseRefuses, NoRoomForTlvInfo) {
  EXPECT_EQ(parse_image(bytes_view(v123).first(0x1202)).error(), image_errc::truncated_tlv_info);
  // Protected area present, unprotected info header cut off.
  EXPECT_EQ(parse_image(bytes_view(seccnt).first(0x120e)).error(), image_errc::truncated_tlv_info);
}

TEST_F(firmware_ImageParseRefuses, WrongTlvMagic) {
  store16(v123, 0x1200, 0x6906);
  EXPECT_EQ(parse_image(v123).error(), image_errc::bad_tlv_magic);
  store16(seccnt, 0x120c, 0x6908); // a second protected area instead of the unprotected one
  EXPECT_EQ(parse_image(seccnt).error(), image_errc::bad_tlv_magic);
}

TEST_F(firmware_ImageParseRefuses, ProtectedSizeDisagreesWithArea) {
  auto claims_protected = v123; // header says 12 protected bytes, area starts with 0x6907
  store16(claims_protected, 10, 12);
  EXPECT_EQ(parse_image(claims_protected).error(), image_errc::protected_size_mismatch);
  auto overlapping = seccnt; // header and area disagree: the areas would overlap
  store16(overlapping, 10, 0x10);
  EXPECT_EQ(parse_image(overlapping).error(), image_errc::protected_size_mismatch);
  auto zero = seccnt;
  store16(zero, 10, 0);
  EXPECT_EQ(parse_image(zero).error(), image_errc::protected_size_mismatch);
}

TEST_F(firmware_ImageParseRefuses, AreaTotalSmallerThanInfoHeader) {
  store16(v123, 0x1202, 2);
  EXPECT_EQ(parse_image(v123).error(), image_errc::bad_tlv_area_size);
}

TEST_F(firmware_ImageParseRefuses, OversizedTlvArea) {
  store16(v123, 0x1202, 0xffff);
  EXPECT_EQ(parse_image(v123).error(), image_errc::tlv_area_out_of_bounds);
  auto prot = seccnt;
  store16(prot, 0x1202, 0xfff0);
  store16(prot, 10, 0xfff0);
  EXPECT_EQ(parse_image(prot).error(), image_errc::tlv_area_out_of_bounds);
}

TEST_F(firmware_ImageParseRefuses, TlvLengthPastItsArea) {
  auto long_value = v123;
  store16(long_value, 0x1206, 0x200); // SHA256 entry claims 512 bytes
  EXPECT_EQ(parse_image(long_value).error(), image_errc::tlv_entry_out_of_bounds);
  // The protected SEC_CNT claims more than the protected area holds, though the file has it.
  auto escapes = seccnt;
  store16(escapes, 0x1206, 8);
  EXPECT_EQ(parse_image(escapes).error(), image_errc::tlv_entry_out_of_bounds);
  // Area total ends inside an entry header.
  auto slack = v123;
  store16(slack, 0x1202, static_cast<std::uint16_t>(v123.size() - 0x1200 + 2));
  slack.push_back(0);
  slack.push_back(0);
  EXPECT_EQ(parse_image(slack).error(), image_errc::tlv_entry_out_of_bounds);
}

TEST_F(firmware_ImageParseRefuses, UnknownTlvInProtectedArea) {
  store16(seccnt, 0x1204, 0x51);
  EXPECT_EQ(parse_image(seccnt).error(), image_errc::unknown_tlv);
  store16(seccnt, 0x1204, 0x03);
  EXPECT_EQ(parse_image(seccnt).error(), image_errc::unknown_tlv);
}

TEST_F(firmware_ImageParseRefuses, UnknownTlvInUnprotectedArea) {
  store16(v123, 0x1204, 0x13);
  EXPECT_EQ(parse_image(v123).error(), image_errc::unknown_tlv);
  // Vendor TLVs are policy: imgtool writes them protected, so unprotected is refused.
  store16(v123, 0x1204, 0x00a0);
  EXPECT_EQ(parse_image(v123).error(), image_errc::misplaced_tlv);
}

TEST_F(firmware_ImageParseRefuses, TlvInTheWrongArea) {
  auto sec_unprotected = v123;
  store16(sec_unprotected, 0x1204, tlv_type::sec_cnt); // SEC_CNT where SHA256 was: unprotected
  EXPECT_EQ(parse_image(sec_unprotected).error(), image_errc::misplaced_tlv);
  auto key_protected = seccnt;
  store16(key_protected, 0x1204, tlv_type::keyhash); // a key id in the hashed area
  EXPECT_EQ(parse_image(key_protected).error(), image_errc::misplaced_tlv);
}

TEST(firmware_ImageParseRefusesBuilt, WrongLengthForType) {
  image_header h;
  const bytes payload(64, 0x5a);
  const auto short_counter =
      assemble(h, payload, {{tlv_type::sec_cnt, bytes(2, 1)}}, {{tlv_type::sha256, bytes(32)}});
  EXPECT_EQ(parse_image(short_counter).error(), image_errc::bad_tlv_length);
  const auto short_hash = assemble(h, payload, {}, {{tlv_type::sha256, bytes(31)}}, false);
  EXPECT_EQ(parse_image(short_hash).error(), image_errc::bad_tlv_length);
  const auto long_ed =
      assemble(h, payload, {}, {{tlv_type::sha256, bytes(32)}, {tlv_type::ed25519, bytes(65)}});
  EXPECT_EQ(parse_image(long_ed).error(), image_errc::bad_tlv_length);
  const auto odd_keyhash =
      assemble(h, payload, {}, {{tlv_type::sha256, bytes(32)}, {tlv_type::keyhash, bytes(40)}});
  EXPECT_EQ(parse_image(odd_keyhash).error(), image_errc::bad_tlv_length);
  const auto dep =
      assemble(h, payload, {{tlv_type::dependency, bytes(8)}}, {{tlv_type::sha256, bytes(32)}});
  EXPECT_EQ(parse_image(dep).error(), image_errc::bad_tlv_length);
}

TEST(firmware_ImageParseRefusesBuilt, RepeatedSingleValuedTlv) {
  image_header h;
  const bytes payload(64, 0x5a);
  const auto two_counters =
      assemble(h, payload, {{tlv_type::sec_cnt, u32_le(1)}, {tlv_type::sec_cnt, u32_le(9)}},
               {{tlv_type::sha256, bytes(32)}});
  EXPECT_EQ(parse_image(two_counters).error(), image_errc::duplicate_tlv);
  const auto two_hashes =
      assemble(h, payload, {}, {{tlv_type::sha256, bytes(32)}, {tlv_type::sha256, bytes(32)}});
  EXPECT_EQ(parse_image(two_hashes).error(), image_errc::duplicate_tlv);
}

TEST(firmware_ImageParseBuilt, DependenciesAndVendorTlvs) {
  image_header h;
  const bytes payload(64, 0x5a);
  const auto img_bytes = assemble(h, payload,
                                  {{tlv_type::sec_cnt, u32_le(3)},
                                   {tlv_type::dependency, encode_dependency({1, {1, 2, 3, 4}})},
                                   {tlv_type::dependency, encode_dependency({2, {0, 9, 0, 0}})},
                                   {0x00a0, bytes{0x12, 0x34}},
                                   {0xfffe, bytes{}}},
                                  {{tlv_type::sha256, bytes(32)}});
  auto img = parse_image(img_bytes);
  ASSERT_TRUE(img) << img.error().message();
  EXPECT_EQ(img->security_counter, 3u);
  ASSERT_EQ(img->dependencies.size(), 2u);
  EXPECT_EQ(img->dependencies[0], (image_dependency{1, {1, 2, 3, 4}}));
  EXPECT_EQ(img->dependencies[1], (image_dependency{2, {0, 9, 0, 0}}));
  ASSERT_NE(img->find(0x00a0), nullptr);
  EXPECT_TRUE(img->find(0x00a0)->is_protected);
  EXPECT_EQ(tlv_name(0x00a0), "VENDOR");
  EXPECT_EQ(tlv_name(tlv_type::sec_cnt), "SEC_CNT");
  EXPECT_EQ(tlv_name(0x13), "UNKNOWN");
}

TEST_F(firmware_ImageParseRefuses, ImageReachingIntoTrailer) {
  EXPECT_EQ(parse_image(v123, parse_options{0x1000}).error(), image_errc::image_overlaps_trailer);
  EXPECT_TRUE(parse_image(v123, parse_options{v123.size()}));
}

// Every prefix of every fixture is either refused or (from the image end on) parsed, and no
// parsed view ever reaches past the input.
TEST(firmware_ImageParse, EveryTruncationIsRefusedCleanly) {
  for (const char* name : {"img-ecdsa-p256-v1.2.3.bin", "img-ecdsa-p256-v2.0.0-seccnt7.bin"}) {
    const auto data = fixture(name);
    const std::size_t end = parse_image(data)->image_end;
    for (std::size_t n = 0; n <= data.size(); ++n) {
      auto r = parse_image(bytes_view(data).first(n));
      EXPECT_EQ(r.has_value(), n >= end) << name << " cut at " << n;
      if (r) {
        for (const auto& t : r->tlvs) {
          EXPECT_LE(t.offset + t.value.size(), n);
        }
      }
    }
  }
}

// Random corruption of the header and TLV bytes must only ever produce a parse or an error
// (the fuzz target does this at scale; this keeps a deterministic slice in the unit tests).
TEST(firmware_ImageParse, RandomCorruptionNeverEscapesBounds) {
  const auto data = fixture("img-ecdsa-p256-v2.0.0-seccnt7.bin");
  std::mt19937 rng(1234);
  std::uniform_int_distribution<std::size_t> pick_hdr(0, 31);
  std::uniform_int_distribution<std::size_t> pick_tlv(0x1200, data.size() - 1);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int i = 0; i < 3000; ++i) {
    auto copy = data;
    for (int k = 0; k < 3; ++k) {
      copy[(i % 2 == 0) ? pick_hdr(rng) : pick_tlv(rng)] = static_cast<std::uint8_t>(byte(rng));
    }
    auto r = parse_image(copy);
    if (r) {
      EXPECT_LE(r->image_end, copy.size());
      EXPECT_LE(r->protected_end, r->image_end);
    }
  }
}

} // namespace
