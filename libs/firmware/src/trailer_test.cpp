#include "aegis/firmware/trailer.hpp"

#include "testing.hpp"

#include <gtest/gtest.h>

namespace {

using namespace aegis;
using namespace aegis::firmware;
using namespace aegis::firmware::testing;

TEST(firmware_Trailer, ImgtoolSizesAndOffsets) {
  auto l8 = trailer_layout::make(0x2000, 8);
  ASSERT_TRUE(l8);
  EXPECT_EQ(l8->trailer_size(), 0xc30u); // the size imgtool reports for --align 8
  EXPECT_EQ(l8->image_area(), 0x2000u - 0xc30u);
  EXPECT_EQ(l8->magic_offset(), 0x2000u - 16);
  EXPECT_EQ(l8->image_ok_offset(), 0x2000u - 24);
  EXPECT_EQ(l8->copy_done_offset(), 0x2000u - 32);
  EXPECT_EQ(l8->swap_info_offset(), 0x2000u - 40);
  EXPECT_EQ(l8->flags_size(), 40u);

  auto l1 = trailer_layout::make(0x2000, 1); // imgtool's default --align 1, max_align 8
  ASSERT_TRUE(l1);
  EXPECT_EQ(l1->max_align(), 8u);
  EXPECT_EQ(l1->trailer_size(), 128u * 3 + 32 + 16);
  EXPECT_EQ(l1->image_ok_offset(), 0x2000u - 24);

  auto l32 = trailer_layout::make(0x8000, 32); // 128 * 3 * 32 bytes of status need a big slot
  ASSERT_TRUE(l32);
  EXPECT_EQ(l32->image_ok_offset(), 0x8000u - 64); // imgtool: -(align_up(16, 32) + 32)
  EXPECT_EQ(trailer_layout::make(0x2000, 32).error(), image_errc::bad_layout);

  auto ow = trailer_layout::make(0x2000, 8, 0, 128, true);
  ASSERT_TRUE(ow);
  EXPECT_EQ(ow->trailer_size(), 32u);
  EXPECT_EQ(ow->flags_size(), 32u);
}

TEST(firmware_Trailer, MagicDependsOnMaxAlign) {
  auto l8 = trailer_layout::make(0x2000, 8);
  EXPECT_EQ(to_hex(l8->magic()), "77c295f360d2ef7f3552500f2cb67980");
  auto l16 = trailer_layout::make(0x2000, 16);
  EXPECT_EQ(to_hex(l16->magic()), "10002de15d29410b8d77679c110f1f8a");
}

TEST(firmware_Trailer, RefusesImpossibleLayouts) {
  EXPECT_EQ(trailer_layout::make(0x2000, 3).error(), image_errc::bad_layout);
  EXPECT_EQ(trailer_layout::make(0x2000, 64).error(), image_errc::bad_layout);
  EXPECT_EQ(trailer_layout::make(0x2000, 8, 4).error(), image_errc::bad_layout);
  EXPECT_EQ(trailer_layout::make(0x2004, 8).error(), image_errc::bad_layout);
  EXPECT_EQ(trailer_layout::make(0xc40, 8).error(), image_errc::bad_layout); // no room
  EXPECT_EQ(trailer_layout::make(0x2000, 8, 0, 0).error(), image_errc::bad_layout);
}

TEST(firmware_Trailer, DecodesThePaddedConfirmedFixture) {
  const auto data = fixture("img-ecdsa-p256-v2.0.0-seccnt7-padded-confirmed.bin");
  auto l = trailer_layout::make(data.size(), 8);
  ASSERT_TRUE(l);
  const auto t = decode_trailer(bytes_view(data).subspan(l->flags_offset()), *l);
  EXPECT_EQ(t.magic, magic_state::good);
  EXPECT_EQ(t.image_ok, flag_state::set);
  EXPECT_EQ(t.copy_done, flag_state::unset);
  EXPECT_EQ(t.swap, swap_type::none);
}

TEST(firmware_Trailer, FlagDecodingFollowsBootutil) {
  auto l = *trailer_layout::make(0x2000, 8);
  bytes tail(l.flags_size(), 0xff);
  const std::size_t ok_at = l.image_ok_offset() - l.flags_offset();
  EXPECT_EQ(decode_trailer(tail, l).image_ok, flag_state::unset);
  EXPECT_EQ(decode_trailer(tail, l).magic, magic_state::unset);
  tail[ok_at] = 0x01;
  EXPECT_EQ(decode_trailer(tail, l).image_ok, flag_state::set);
  tail[ok_at] = 0x00;
  EXPECT_EQ(decode_trailer(tail, l).image_ok, flag_state::bad);
  tail[ok_at] = 0xff;
  tail[ok_at + 7] = 0x01; // a set byte elsewhere in the unit is not "set", and not erased
  EXPECT_EQ(decode_trailer(tail, l).image_ok, flag_state::bad);
  tail.back() = 0x00;
  EXPECT_EQ(decode_trailer(tail, l).magic, magic_state::bad);
  EXPECT_EQ(decode_trailer(bytes(3), l).magic, magic_state::bad); // wrong size never throws
}

TEST(firmware_Trailer, SwapInfoRoundTripsAndOutOfRangeReadsNone) {
  auto l = *trailer_layout::make(0x2000, 8);
  trailer_state s;
  s.magic = magic_state::good;
  s.copy_done = flag_state::set;
  s.swap = swap_type::revert;
  s.image_num = 0;
  const auto tail = encode_trailer(s, l);
  const auto back = decode_trailer(tail, l);
  EXPECT_EQ(back.magic, magic_state::good);
  EXPECT_EQ(back.copy_done, flag_state::set);
  EXPECT_EQ(back.image_ok, flag_state::unset);
  EXPECT_EQ(back.swap, swap_type::revert);
  auto odd = tail;
  odd[0] = 0x07; // swap type 7 is not a valid request
  EXPECT_EQ(decode_trailer(odd, l).swap, swap_type::none);
}

// The decision over every combination of magic and flag states: the table is total and
// follows MCUboot's rows in order.
TEST(firmware_Trailer, DecisionTableIsTotal) {
  const magic_state magics[] = {magic_state::good, magic_state::unset, magic_state::bad};
  const flag_state flags[] = {flag_state::set, flag_state::unset, flag_state::bad};
  int tests = 0;
  int perms = 0;
  int reverts = 0;
  for (auto pm : magics) {
    for (auto sm : magics) {
      for (auto pok : flags) {
        for (auto sok : flags) {
          for (auto pcd : flags) {
            trailer_state p{pm, pok, pcd, swap_type::none, 0};
            trailer_state s{sm, sok, flag_state::unset, swap_type::none, 0};
            const auto t = decide_swap_type(p, s, true);
            swap_type expected = swap_type::none;
            if (sm == magic_state::good && sok == flag_state::unset) {
              expected = swap_type::test;
            } else if (sm == magic_state::good && sok == flag_state::set) {
              expected = swap_type::perm;
            } else if (pcd == flag_state::set && pok == flag_state::unset) {
              expected = swap_type::revert;
            }
            EXPECT_EQ(t, expected);
            tests += t == swap_type::test;
            perms += t == swap_type::perm;
            reverts += t == swap_type::revert;
            if (t == swap_type::revert) {
              EXPECT_EQ(decide_swap_type(p, s, false), swap_type::none); // overwrite-only
            }
          }
        }
      }
    }
  }
  EXPECT_EQ(tests, 27);
  EXPECT_EQ(perms, 27);
  EXPECT_GT(reverts, 0);
}

} // namespace
