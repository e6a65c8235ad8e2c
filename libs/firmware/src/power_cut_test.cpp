// Power-cut harness (docs reference/secure-boot.md §9: mcuboot#1588, #829, #1966). For each
// upgrade mode and request kind, a scenario (boot, confirm, boot, ...) is first run without
// faults to count its writes W. Then for every N in 1..W the scenario is rerun with power cut
// right after write N (and, in the torn variant, halfway through write N), the device restarts
// (boots again), the rest of the scenario runs, and:
//   * every completed boot ran a good, signed image from the primary slot: byte-identical to
//     the old or the new image, with SEC_CNT >= the stored counter (never a downgrade);
//   * the stored counter never decreases, and no upgrade is left half done after a boot;
//   * the final slots and counter are exactly those of the uninterrupted run - except when the
//     cut lands after a TEST swap has fully completed and before the application confirmed:
//     the test image has had its one boot (the loader cannot tell a reset before the hand-over
//     from a crash of the new image), so the device must then revert to the old image, exactly
//     as MCUboot does.
// The double-cut variant also cuts the restart itself after each of its writes.

#include "aegis/firmware/boot.hpp"

#include "testing.hpp"

#include <gtest/gtest.h>

#include <iostream>
#include <memory>

namespace {

using namespace aegis;
using namespace aegis::firmware;
using namespace aegis::firmware::testing;

constexpr std::size_t slot_size = 0x2000;
constexpr std::size_t sector = 1024;

enum class event { boot, confirm };

struct scenario {
  const char* name;
  upgrade_mode mode;
  bool permanent;
  std::vector<event> events;
  bool ends_on_new;
  std::uint32_t final_counter;
};

std::ostream& operator<<(std::ostream& os, const scenario& s) {
  return os << s.name;
}

class firmware_PowerCut : public ::testing::TestWithParam<scenario> {
protected:
  void SetUp() override {
    config_.mode = GetParam().mode;
    config_.sector_size = sector;
    initial_.program(boot_area::primary, 0, old_); // factory image, no trailer
    auto first = boot(initial_, keys_, config_);
    ASSERT_TRUE(first);
    ASSERT_EQ(first->nv_counter, 1u);
    initial_.program(boot_area::secondary, 0, new_); // downloaded by the running image
    ASSERT_TRUE(request_upgrade(initial_, config_, GetParam().permanent));

    auto reference = initial_;
    const std::size_t before = reference.writes();
    max_counter_ = 0;
    ASSERT_TRUE(run_events(reference, 0));
    total_writes_ = reference.writes() - before;
    reference_ = std::make_unique<memory_storage>(reference);
    ASSERT_GT(total_writes_, 0u);
    EXPECT_TRUE(holds(reference, boot_area::primary, GetParam().ends_on_new ? new_ : old_));
    EXPECT_EQ(read_nv_state(reference)->security_counter, GetParam().final_counter);

    // Where a lost test boot leads: the swap, then the revert on the next boot.
    if (GetParam().mode == upgrade_mode::swap && !GetParam().permanent) {
      auto reverted = initial_;
      ASSERT_TRUE(boot(reverted, keys_, config_));
      ASSERT_TRUE(boot(reverted, keys_, config_));
      ASSERT_TRUE(holds(reverted, boot_area::primary, old_));
      reverted_ = std::make_unique<memory_storage>(reverted);
    }
  }

  // The NV state as stored, readable while the double's power is off.
  static nv_state stored_nv(const memory_storage& s) {
    auto copy = s;
    copy.restore_power();
    auto nv = read_nv_state(copy);
    EXPECT_TRUE(nv);
    return nv ? *nv : nv_state{};
  }

  // Called at each cut, before the restart: is the device in "test image installed and not
  // yet confirmed", with the confirm still to come (`next_event` on)?
  void note_cut(const memory_storage& s, std::size_t next_event) {
    if (!reverted_) {
      return;
    }
    const auto& events = GetParam().events;
    const bool confirm_pending = std::find(events.begin() + static_cast<long>(next_event),
                                           events.end(), event::confirm) != events.end();
    const auto layout = *trailer_layout::make(slot_size, config_.write_align);
    const auto t = decode_trailer(
        bytes_view(s.area(boot_area::primary)).subspan(layout.flags_offset()), layout);
    if (confirm_pending && stored_nv(s).op == nv_operation::none &&
        holds(s, boot_area::primary, new_) && t.copy_done == flag_state::set &&
        t.image_ok == flag_state::unset) {
      expect_revert_ = true;
    }
  }

  static bool holds(const memory_storage& s, boot_area a, const bytes& image) {
    return std::equal(image.begin(), image.end(), s.area(a).begin());
  }

  // Invariants after every boot that completed.
  void check_boot(memory_storage& s, const result<boot_report>& r) {
    ASSERT_TRUE(r) << r.error().message();
    ASSERT_EQ(r->slot, boot_slot::primary)
        << "safe mode or fallback: " << r->primary_error.message();
    const bool is_old = holds(s, boot_area::primary, old_);
    const bool is_new = holds(s, boot_area::primary, new_);
    ASSERT_TRUE(is_old || is_new) << "primary holds neither signed image";
    const std::uint32_t image_counter = is_new ? 2 : 1;
    EXPECT_EQ(r->version, (image_version{static_cast<std::uint8_t>(is_new ? 2 : 1), 0, 0, 0}));
    const nv_state nv = stored_nv(s);
    EXPECT_EQ(nv.op, nv_operation::none) << "upgrade left half done";
    EXPECT_GE(image_counter, nv.security_counter) << "booted below the stored counter";
    EXPECT_GE(nv.security_counter, max_counter_) << "stored counter went down";
    max_counter_ = std::max(max_counter_, nv.security_counter);
  }

  // Runs events[from..]; after a cut, restarts (boots) and carries on with the next event.
  // `restart_cut` cuts the first restart too, after that many of its writes.
  ::testing::AssertionResult run_events(memory_storage& s, std::size_t from,
                                        std::optional<std::size_t> restart_cut = std::nullopt) {
    const auto& events = GetParam().events;
    for (std::size_t i = from; i < events.size(); ++i) {
      if (events[i] == event::boot) {
        auto r = boot(s, keys_, config_);
        if (!s.power_cut()) {
          check_boot(s, r);
        } else if (r) {
          // The cut came after the boot's last write: it did complete.
          check_boot(s, r);
        }
      } else {
        auto r = confirm(s, config_);
        if (!r && !s.power_cut()) {
          return ::testing::AssertionFailure() << "confirm failed: " << r.error().message();
        }
      }
      if (::testing::Test::HasFatalFailure()) {
        return ::testing::AssertionFailure() << "invariant broken at event " << i;
      }
      if (s.power_cut()) {
        note_cut(s, i + 1);
        s.restore_power();
        if (restart_cut) {
          s.cut_power_after(*restart_cut);
          (void)boot(s, keys_, config_);
          if (!s.power_cut()) {
            return ::testing::AssertionFailure() << "restart did fewer writes than planned";
          }
          note_cut(s, i + 1);
          s.restore_power();
          restart_cut.reset();
        }
        check_boot(s, boot(s, keys_, config_));
        if (::testing::Test::HasFatalFailure()) {
          return ::testing::AssertionFailure() << "invariant broken after restart at event " << i;
        }
      }
    }
    return ::testing::AssertionSuccess();
  }

  void check_final(const memory_storage& s) {
    const memory_storage& expected = expect_revert_ ? *reverted_ : *reference_;
    EXPECT_EQ(s.area(boot_area::primary), expected.area(boot_area::primary));
    EXPECT_EQ(s.area(boot_area::secondary), expected.area(boot_area::secondary));
    EXPECT_EQ(stored_nv(s).security_counter, stored_nv(expected).security_counter);
    if (expect_revert_) {
      ++reverted_runs_;
    }
  }

  // Fresh per run.
  void start_run() {
    max_counter_ = 0;
    expect_revert_ = false;
  }

  crypto::private_key key_ = fixture_private("key-ecdsa-p256.pem");
  key_ring keys_ = ring({key_.public_part()});
  bytes old_ = signed_image(key_, {1, 0, 0, 0}, 1, 1800, 0x11);
  bytes new_ = signed_image(key_, {2, 0, 0, 0}, 2, 3000, 0x22);
  boot_config config_;
  memory_storage initial_{slot_size, sector};
  std::unique_ptr<memory_storage> reference_;
  std::unique_ptr<memory_storage> reverted_; // swap TEST scenarios only
  bool expect_revert_ = false;
  std::size_t reverted_runs_ = 0;
  std::size_t total_writes_ = 0;
  std::uint32_t max_counter_ = 0;
};

TEST_P(firmware_PowerCut, CutAfterEveryWrite) {
  for (std::size_t n = 1; n <= total_writes_; ++n) {
    SCOPED_TRACE("cut after write " + std::to_string(n) + " of " + std::to_string(total_writes_));
    auto s = initial_;
    start_run();
    s.cut_power_after(n);
    ASSERT_TRUE(run_events(s, 0));
    check_final(s);
  }
  std::cout << "[ harness  ] " << GetParam().name << ": " << total_writes_
            << " cut points, all recovered (" << reverted_runs_
            << " lost the test boot and reverted)\n";
}

TEST_P(firmware_PowerCut, TornWriteAtEveryWrite) {
  for (std::size_t n = 1; n <= total_writes_; ++n) {
    SCOPED_TRACE("torn write " + std::to_string(n) + " of " + std::to_string(total_writes_));
    auto s = initial_;
    start_run();
    s.cut_power_after(n, true);
    ASSERT_TRUE(run_events(s, 0));
    check_final(s);
  }
}

TEST_P(firmware_PowerCut, CutAgainDuringTheRecovery) {
  std::size_t runs = 0;
  for (std::size_t n = 1; n <= total_writes_; ++n) {
    // How many writes does the restart after cut n make?
    auto probe = initial_;
    probe.cut_power_after(n);
    max_counter_ = 0;
    std::size_t event_index = 0;
    const auto& events = GetParam().events;
    for (; event_index < events.size() && !probe.power_cut(); ++event_index) {
      if (events[event_index] == event::boot) {
        (void)boot(probe, keys_, config_);
      } else {
        (void)confirm(probe, config_);
      }
    }
    ASSERT_TRUE(probe.power_cut());
    probe.restore_power();
    const std::size_t before = probe.writes();
    ASSERT_TRUE(boot(probe, keys_, config_));
    const std::size_t restart_writes = probe.writes() - before;
    for (std::size_t m = 1; m <= restart_writes; ++m) {
      SCOPED_TRACE("cut after write " + std::to_string(n) + ", then restart write " +
                   std::to_string(m));
      auto s = initial_;
      start_run();
      s.cut_power_after(n);
      ASSERT_TRUE(run_events(s, 0, m));
      check_final(s);
      ++runs;
    }
  }
  std::cout << "[ harness  ] " << GetParam().name << ": " << runs << " double-cut runs\n";
}

const scenario scenarios[] = {
    {"swap_test_not_confirmed_reverts",
     upgrade_mode::swap,
     false,
     {event::boot, event::boot, event::boot},
     false,
     1},
    {"swap_test_confirmed",
     upgrade_mode::swap,
     false,
     {event::boot, event::confirm, event::boot, event::boot},
     true,
     2},
    {"swap_permanent", upgrade_mode::swap, true, {event::boot, event::boot}, true, 2},
    {"overwrite_test_not_confirmed",
     upgrade_mode::overwrite,
     false,
     {event::boot, event::boot},
     true,
     1},
    {"overwrite_test_confirmed",
     upgrade_mode::overwrite,
     false,
     {event::boot, event::confirm, event::boot},
     true,
     2},
    {"overwrite_permanent", upgrade_mode::overwrite, true, {event::boot, event::boot}, true, 2},
};

INSTANTIATE_TEST_SUITE_P(Scenarios, firmware_PowerCut, ::testing::ValuesIn(scenarios),
                         [](const auto& p) { return std::string(p.param.name); });

} // namespace
