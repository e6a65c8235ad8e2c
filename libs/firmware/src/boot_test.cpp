#include "aegis/firmware/boot.hpp"

#include "testing.hpp"

#include <gtest/gtest.h>

namespace {

using namespace aegis;
using namespace aegis::firmware;
using namespace aegis::firmware::testing;

constexpr std::size_t slot_size = 0x2000;
constexpr std::size_t sector = 1024;

// A device with 8 KiB slots, 1 KiB sectors, trusting the fixture ECDSA key.
class device {
public:
  explicit device(upgrade_mode mode) : storage(slot_size, sector) {
    config.mode = mode;
    config.sector_size = sector;
  }

  void program(boot_area area, bytes_view image) {
    storage.area(area).assign(slot_size, 0xff);
    storage.program(area, 0, image);
  }

  result<boot_report> boot() { return firmware::boot(storage, keys, config); }
  bool slot_holds(boot_area area, const bytes& image) const {
    const auto& a = storage.area(area);
    return std::equal(image.begin(), image.end(), a.begin());
  }
  std::uint32_t nv_counter() { return read_nv_state(storage)->security_counter; }

  crypto::private_key key = fixture_private("key-ecdsa-p256.pem");
  key_ring keys = ring({key.public_part()});
  boot_config config;
  memory_storage storage;
};

bytes image_v(const crypto::private_key& k, std::uint8_t major, std::uint32_t counter,
              std::size_t size = 2000) {
  return signed_image(k, {major, 0, 0, 0}, counter, size, static_cast<std::uint8_t>(0x10 + major));
}

// A device that booted a factory v1 (counter 1), with v2 (counter 2) downloaded and requested.
class firmware_UpgradeTest : public ::testing::TestWithParam<upgrade_mode> {
protected:
  void SetUp() override {
    dev.program(boot_area::primary, v1);
    auto first = dev.boot();
    ASSERT_TRUE(first);
    ASSERT_EQ(first->slot, boot_slot::primary);
    ASSERT_EQ(dev.nv_counter(), 1u); // a trailer-less factory image counts as confirmed
    dev.program(boot_area::secondary, v2);
  }
  device dev{GetParam()};
  bytes v1 = image_v(dev.key, 1, 1, 1800);
  bytes v2 = image_v(dev.key, 2, 2, 3000);
};

TEST_P(firmware_UpgradeTest, TestUpgradeRunsUnconfirmedWithoutRaisingTheCounter) {
  ASSERT_TRUE(request_upgrade(dev.storage, dev.config, false));
  auto r = dev.boot();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->action, swap_type::test);
  EXPECT_EQ(r->slot, boot_slot::primary);
  EXPECT_EQ(r->version, (image_version{2, 0, 0, 0}));
  EXPECT_TRUE(dev.slot_holds(boot_area::primary, v2));
  EXPECT_EQ(r->nv_counter, 1u);
  EXPECT_FALSE(r->counter_raised);
}

TEST_P(firmware_UpgradeTest, UnconfirmedTestImageIsRevertedOnlyInSwapMode) {
  ASSERT_TRUE(request_upgrade(dev.storage, dev.config, false));
  ASSERT_TRUE(dev.boot());
  auto r = dev.boot(); // the application never confirmed
  ASSERT_TRUE(r);
  if (GetParam() == upgrade_mode::swap) {
    EXPECT_EQ(r->action, swap_type::revert);
    EXPECT_TRUE(dev.slot_holds(boot_area::primary, v1));
    EXPECT_TRUE(dev.slot_holds(boot_area::secondary, v2));
    EXPECT_EQ(r->version, (image_version{1, 0, 0, 0}));
  } else {
    EXPECT_EQ(r->action, swap_type::none); // nothing left to revert to
    EXPECT_TRUE(dev.slot_holds(boot_area::primary, v2));
  }
  EXPECT_EQ(r->nv_counter, 1u);
  auto again = dev.boot();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->action, swap_type::none);
}

TEST_P(firmware_UpgradeTest, ConfirmedTestImageRaisesTheCounterOnTheNextBoot) {
  ASSERT_TRUE(request_upgrade(dev.storage, dev.config, false));
  ASSERT_TRUE(dev.boot());
  ASSERT_TRUE(confirm(dev.storage, dev.config));
  EXPECT_EQ(dev.nv_counter(), 1u); // confirm itself only writes image_ok
  auto r = dev.boot();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->action, swap_type::none);
  EXPECT_TRUE(r->counter_raised);
  EXPECT_EQ(r->nv_counter, 2u);
  EXPECT_TRUE(dev.slot_holds(boot_area::primary, v2));
  EXPECT_TRUE(confirm(dev.storage, dev.config)); // confirming twice is harmless
}

TEST_P(firmware_UpgradeTest, PermanentUpgradeRaisesTheCounterAtOnce) {
  ASSERT_TRUE(request_upgrade(dev.storage, dev.config, true));
  auto r = dev.boot();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->action, swap_type::perm);
  EXPECT_EQ(r->nv_counter, 2u);
  EXPECT_TRUE(dev.slot_holds(boot_area::primary, v2));
  auto again = dev.boot();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->action, swap_type::none);
  EXPECT_TRUE(dev.slot_holds(boot_area::primary, v2));
}

TEST_P(firmware_UpgradeTest, ImgtoolConfirmedPaddedImageIsAPermanentRequest) {
  // --pad --confirm writes magic + image_ok into the image's own trailer: PERM once loaded.
  sign_options o;
  o.pad_header = true;
  o.version = {3, 0, 0, 0};
  o.security_counter = 3;
  o.confirm = true;
  o.slot_size = slot_size;
  o.align = 8;
  auto padded = sign_image(bytes(2500, 0x33), dev.key, o);
  ASSERT_TRUE(padded);
  dev.program(boot_area::secondary, *padded);
  auto r = dev.boot();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->action, swap_type::perm);
  EXPECT_EQ(r->version, (image_version{3, 0, 0, 0}));
  EXPECT_EQ(r->nv_counter, 3u);
}

// Each refused request: its own error, the secondary erased, the previous image booted.
TEST_P(firmware_UpgradeTest, RefusedRequestsBootThePreviousImage) {
  auto stranger = crypto::private_key::generate(crypto::key_type::ec_p256);
  ASSERT_TRUE(stranger);
  auto tampered = v2;
  tampered[0x20 + 10] ^= 1;
  auto old_counter = image_v(dev.key, 3, 0); // newer version, lower security counter
  auto no_counter = signed_image(dev.key, {4, 0, 0, 0}, std::nullopt, 100, 1);
  auto outside = v2; // unprotected TLV area total pointing past the slot
  store16(outside, parse_image(v2)->protected_end + 2, 0xffff);
  auto too_big = image_v(dev.key, 5, 5, 5000); // runs into the trailer area
  const std::pair<bytes, image_errc> cases[] = {
      {image_v(*stranger, 2, 2), image_errc::unknown_key},
      {tampered, image_errc::hash_mismatch},
      {old_counter, image_errc::security_counter_rollback},
      {no_counter, image_errc::missing_security_counter},
      {outside, image_errc::tlv_area_out_of_bounds},
      {too_big, image_errc::image_overlaps_trailer},
  };
  for (const auto& [image, expected] : cases) {
    for (bool permanent : {false, true}) {
      SCOPED_TRACE(std::string(describe(expected)) + (permanent ? " perm" : " test"));
      dev.program(boot_area::secondary, image);
      ASSERT_TRUE(request_upgrade(dev.storage, dev.config, permanent));
      auto r = dev.boot();
      ASSERT_TRUE(r);
      EXPECT_EQ(r->action, swap_type::fail);
      EXPECT_EQ(r->refused, expected);
      EXPECT_EQ(r->slot, boot_slot::primary);
      EXPECT_TRUE(dev.slot_holds(boot_area::primary, v1));
      EXPECT_TRUE(std::ranges::all_of(dev.storage.area(boot_area::secondary),
                                      [](std::uint8_t b) { return b == 0xff; }));
      EXPECT_EQ(r->nv_counter, 1u);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, firmware_UpgradeTest,
                         ::testing::Values(upgrade_mode::swap, upgrade_mode::overwrite),
                         [](const auto& p) { return std::string(to_string(p.param)); });

// mcuboot#1708: the anti-rollback check must also hold on the revert path. Here the trailer of
// a confirmed v2 is rewritten to look like an unconfirmed test swap, to bring back v1 from the
// secondary after the counter has been raised past it.
TEST(firmware_BootRollback, RevertToAnImageBelowTheCounterIsRefused) {
  device dev(upgrade_mode::swap);
  const auto v1 = image_v(dev.key, 1, 1);
  const auto v2 = image_v(dev.key, 2, 2);
  dev.program(boot_area::primary, v1);
  ASSERT_TRUE(dev.boot());
  dev.program(boot_area::secondary, v2);
  ASSERT_TRUE(request_upgrade(dev.storage, dev.config, true));
  ASSERT_TRUE(dev.boot());
  ASSERT_EQ(dev.nv_counter(), 2u);
  ASSERT_TRUE(dev.slot_holds(boot_area::secondary, v1));

  auto layout = *trailer_layout::make(slot_size, 8);
  trailer_state fake;
  fake.magic = magic_state::good;
  fake.copy_done = flag_state::set; // image_ok unset: REVERT
  dev.storage.program(boot_area::primary, layout.flags_offset(), encode_trailer(fake, layout));
  auto r = dev.boot();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->action, swap_type::fail);
  EXPECT_EQ(r->refused, image_errc::security_counter_rollback);
  EXPECT_EQ(r->version, (image_version{2, 0, 0, 0}));
  EXPECT_TRUE(dev.slot_holds(boot_area::primary, v2));
  // The erased backup leaves nothing to revert to, and v2 is never confirmed behind the
  // application's back.
  auto again = dev.boot();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->action, swap_type::none);
  EXPECT_EQ(again->slot, boot_slot::primary);
}

TEST(firmware_BootFallback, CorruptPrimaryBootsThePreviousImageThenSafeMode) {
  device dev(upgrade_mode::swap);
  const auto v1 = image_v(dev.key, 1, 1);
  const auto v2 = image_v(dev.key, 2, 1);
  dev.program(boot_area::primary, v1);
  ASSERT_TRUE(dev.boot());
  dev.program(boot_area::secondary, v2);
  ASSERT_TRUE(request_upgrade(dev.storage, dev.config, true));
  ASSERT_TRUE(dev.boot()); // v2 in primary, v1 in secondary

  dev.storage.area(boot_area::primary)[0x30] ^= 0xff; // bit rot or tampering at rest
  auto r = dev.boot();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->slot, boot_slot::secondary);
  EXPECT_EQ(r->primary_error, image_errc::hash_mismatch);
  EXPECT_EQ(r->version, (image_version{1, 0, 0, 0}));

  dev.storage.area(boot_area::secondary)[0x30] ^= 0xff;
  auto safe = dev.boot();
  ASSERT_TRUE(safe);
  EXPECT_EQ(safe->slot, boot_slot::none);
  EXPECT_EQ(safe->secondary_error, image_errc::hash_mismatch);
}

TEST(firmware_BootFallback, PrimaryBelowTheCounterIsNotBooted) {
  device dev(upgrade_mode::overwrite);
  dev.program(boot_area::primary, image_v(dev.key, 5, 5));
  ASSERT_TRUE(dev.boot());
  ASSERT_EQ(dev.nv_counter(), 5u);
  dev.program(boot_area::primary, image_v(dev.key, 4, 4)); // written behind the loader's back
  auto r = dev.boot();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->slot, boot_slot::none);
  EXPECT_EQ(r->primary_error, image_errc::security_counter_rollback);
  EXPECT_EQ(r->secondary_error, image_errc::empty_slot);
  EXPECT_EQ(dev.nv_counter(), 5u);
}

TEST(firmware_BootFixtures, ImgtoolPaddedConfirmedFixtureUpgradesPermanently) {
  device dev(upgrade_mode::swap);
  const auto v1 = image_v(dev.key, 1, 1);
  dev.program(boot_area::primary, v1);
  ASSERT_TRUE(dev.boot());
  dev.program(boot_area::secondary, fixture("img-ecdsa-p256-v2.0.0-seccnt7-padded-confirmed.bin"));
  auto r = dev.boot();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->action, swap_type::perm);
  EXPECT_EQ(r->version, (image_version{2, 0, 0, 0}));
  EXPECT_EQ(r->nv_counter, 7u);
}

TEST(firmware_BootFixtures, ImagesWithoutCounterNeedTheCounterOptional) {
  device dev(upgrade_mode::swap);
  dev.program(boot_area::primary, fixture("img-ecdsa-p256-v1.2.3.bin"));
  auto strict = dev.boot();
  ASSERT_TRUE(strict);
  EXPECT_EQ(strict->slot, boot_slot::none);
  EXPECT_EQ(strict->primary_error, image_errc::missing_security_counter);
  dev.config.require_security_counter = false;
  auto lenient = dev.boot();
  ASSERT_TRUE(lenient);
  EXPECT_EQ(lenient->slot, boot_slot::primary);
  // Once the stored counter is above 0 a counter-less image counts as 0 and is refused.
  dev.program(boot_area::secondary, image_v(dev.key, 2, 3));
  ASSERT_TRUE(request_upgrade(dev.storage, dev.config, true));
  ASSERT_TRUE(dev.boot());
  ASSERT_EQ(dev.nv_counter(), 3u);
  dev.program(boot_area::secondary, fixture("img-ecdsa-p256-v1.2.3.bin"));
  ASSERT_TRUE(request_upgrade(dev.storage, dev.config, true));
  auto r = dev.boot();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->refused, image_errc::security_counter_rollback);
}

TEST(firmware_BootState, RecordsRoundTripAndNewestWins) {
  nv_state s;
  s.sequence = 7;
  s.security_counter = 42;
  s.op = nv_operation::swap;
  s.op_type = swap_type::test;
  s.chunk = 3;
  s.step = 2;
  s.swap_size = 4096;
  s.sector_size = 1024;
  s.pending_counter = 43;
  const auto rec = encode_nv_record(s);
  ASSERT_EQ(rec.size(), nv_record_size);
  EXPECT_EQ(decode_nv_record(rec), s);
  auto flipped = rec;
  flipped[13] ^= 1;
  EXPECT_FALSE(decode_nv_record(flipped)); // CRC

  memory_storage st(slot_size, sector);
  EXPECT_EQ(read_nv_state(st)->sequence, 0u); // erased: fresh
  auto newer = s;
  newer.sequence = 8;
  newer.security_counter = 50;
  st.program(boot_area::state, 0, encode_nv_record(newer));
  st.program(boot_area::state, nv_record_size, rec);
  EXPECT_EQ(read_nv_state(st)->security_counter, 50u);
}

TEST(firmware_BootState, TornFirstWriteIsFreshButTwoBadCopiesAreCorrupt) {
  memory_storage st(slot_size, sector);
  st.program(boot_area::state, 0, bytes(20, 0x12)); // half a record, the other copy erased
  EXPECT_EQ(read_nv_state(st)->security_counter, 0u);
  st.program(boot_area::state, nv_record_size, bytes(20, 0x34));
  EXPECT_EQ(read_nv_state(st).error(), boot_errc::state_corrupt);
  device dev(upgrade_mode::swap);
  dev.storage.program(boot_area::state, 0, bytes(nv_state_size, 0));
  EXPECT_EQ(dev.boot().error(), boot_errc::state_corrupt); // never a silent counter of 0
}

TEST(firmware_BootState, RecordsAlternateBetweenCopies) {
  device dev(upgrade_mode::swap);
  dev.program(boot_area::primary, image_v(dev.key, 1, 1));
  ASSERT_TRUE(dev.boot()); // writes the counter: copy 0
  dev.program(boot_area::secondary, image_v(dev.key, 2, 2));
  ASSERT_TRUE(request_upgrade(dev.storage, dev.config, true));
  ASSERT_TRUE(dev.boot());
  const bytes_view state(dev.storage.area(boot_area::state));
  auto a = decode_nv_record(state.first(nv_record_size));
  auto b = decode_nv_record(state.subspan(nv_record_size));
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->sequence > b->sequence ? a->sequence - b->sequence : b->sequence - a->sequence, 1u);
}

TEST(firmware_BootConfirm, Rules) {
  device dev(upgrade_mode::swap);
  dev.program(boot_area::primary, image_v(dev.key, 1, 1));
  const auto before = dev.storage.writes();
  EXPECT_TRUE(confirm(dev.storage, dev.config)); // pristine: already confirmed, nothing written
  EXPECT_EQ(dev.storage.writes(), before);
  dev.storage.area(boot_area::primary).back() = 0x00; // corrupt magic
  EXPECT_EQ(confirm(dev.storage, dev.config).error(), boot_errc::bad_trailer);

  nv_state busy;
  busy.op = nv_operation::swap;
  busy.op_type = swap_type::test;
  busy.sequence = 1;
  busy.swap_size = 1024;
  busy.sector_size = 1024;
  dev.storage.program(boot_area::state, 0, encode_nv_record(busy));
  EXPECT_EQ(confirm(dev.storage, dev.config).error(), boot_errc::upgrade_in_progress);
}

TEST(firmware_BootRequest, NeedsAnImageAndWritesTheMagicLast) {
  device dev(upgrade_mode::swap);
  EXPECT_EQ(request_upgrade(dev.storage, dev.config, false).error(), boot_errc::no_image);
  dev.program(boot_area::secondary, image_v(dev.key, 2, 2));
  auto layout = *trailer_layout::make(slot_size, 8);
  // A cut after each of the permanent request's writes: no request at all until the magic
  // lands, then the whole PERM request.
  for (std::size_t n = 1; n <= 3; ++n) {
    auto copy = dev.storage;
    copy.cut_power_after(n);
    const auto r = request_upgrade(copy, dev.config, true);
    copy.restore_power();
    const auto tail = bytes_view(copy.area(boot_area::secondary)).subspan(layout.flags_offset());
    const auto t = decode_trailer(tail, layout);
    const swap_type decided = decide_swap_type(trailer_state{}, t, true);
    EXPECT_EQ(decided, n < 3 ? swap_type::none : swap_type::perm) << n;
    EXPECT_TRUE(n < 3 ? !r : static_cast<bool>(r));
  }
  ASSERT_TRUE(request_upgrade(dev.storage, dev.config, false));
  const auto writes = dev.storage.writes();
  ASSERT_TRUE(request_upgrade(dev.storage, dev.config, true)); // already pending: unchanged
  EXPECT_EQ(dev.storage.writes(), writes);
}

TEST(firmware_BootGeometry, RefusesInconsistentSizes) {
  device dev(upgrade_mode::swap);
  dev.storage.area(boot_area::secondary).resize(0x1000, 0xff);
  EXPECT_EQ(dev.boot().error(), boot_errc::bad_geometry);
  device small_scratch(upgrade_mode::swap);
  small_scratch.config.sector_size = 4096; // scratch holds 1 KiB
  EXPECT_EQ(small_scratch.boot().error(), boot_errc::bad_geometry);
  device tiny(upgrade_mode::overwrite);
  tiny.storage.area(boot_area::primary).resize(0x800, 0xff);
  tiny.storage.area(boot_area::secondary).resize(0x800, 0xff);
  EXPECT_EQ(tiny.boot().error(), boot_errc::bad_geometry); // no room for the trailer
}

TEST(firmware_BootInspect, ReportsBothSlotsWithoutWriting) {
  device dev(upgrade_mode::swap);
  dev.program(boot_area::primary, image_v(dev.key, 1, 1));
  dev.program(boot_area::secondary, image_v(dev.key, 2, 2));
  ASSERT_TRUE(request_upgrade(dev.storage, dev.config, false));
  const auto writes = dev.storage.writes();
  auto s = inspect(dev.storage, dev.keys, dev.config);
  ASSERT_TRUE(s);
  EXPECT_EQ(dev.storage.writes(), writes);
  EXPECT_EQ(s->pending, swap_type::test);
  EXPECT_EQ(s->primary.version, (image_version{1, 0, 0, 0}));
  EXPECT_EQ(s->secondary.security_counter, 2u);
  EXPECT_FALSE(s->primary.image_error);
  EXPECT_EQ(s->secondary.trailer.magic, magic_state::good);
  EXPECT_EQ(s->image_area, slot_size - 0xc30);
}

} // namespace
