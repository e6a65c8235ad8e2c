#pragma once

// A reference boot verifier over two slots, with MCUboot's upgrade rules (docs
// reference/secure-boot.md §3-§6), for Linux-class devices (aegis-boot) and for tests.
//
// Slots have MCUboot's layout: image at offset 0, trailer at the end. Each boot:
//   1. finishes an upgrade interrupted by a power cut, from the progress in the NV state;
//   2. otherwise decides the swap type from the trailers (decide_swap_type): TEST, PERM or
//      REVERT validate the secondary image - signature, hash, and SEC_CNT >= the stored counter
//      on every path - and either perform the upgrade or, if it fails, erase the secondary so
//      the request is not retried;
//   3. boots the primary if it validates (same checks), else the secondary if that validates
//      ("previous good image"), else reports safe mode;
//   4. raises the stored counter to the booted primary's SEC_CNT only once that image is
//      confirmed: at once for PERM, after the application's confirm for TEST.
//
// Upgrade modes:
//   swap       3-way swap through a one-sector scratch area, chunk by chunk; TEST images that
//              are not confirmed before the next boot are swapped back (REVERT).
//   overwrite  copy secondary -> primary, then erase the secondary; no revert is possible, so
//              TEST only means "installed but not yet confirmed" (the counter waits for confirm).
//
// Power-cut safety: every mutation is a boot_storage write or erase. The upgrade's progress is
// journaled in the NV state (two copies, sequence number, CRC) after each idempotent step, and a
// step is redone from its still-intact source after a cut. Unlike MCUboot, the swap status lives
// in the NV state, not in the slot trailer, whose status area stays reserved.

#include "aegis/base/bytes.hpp"
#include "aegis/base/error.hpp"
#include "aegis/firmware/errors.hpp"
#include "aegis/firmware/image.hpp"
#include "aegis/firmware/trailer.hpp"
#include "aegis/firmware/verify.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>

namespace aegis::firmware {

enum class boot_area : std::uint8_t { primary, secondary, scratch, state };
std::string_view to_string(boot_area area) noexcept;

// The verifier's only access to non-volatile storage, with flash semantics: erase sets bytes
// to 0xff. Each write() and erase() call is one "write" for the power-cut harness; an
// implementation must have made it durable before returning.
class boot_storage {
public:
  virtual ~boot_storage() = default;
  virtual std::size_t size(boot_area area) const = 0;
  virtual result<void> read(boot_area area, std::size_t offset, std::span<std::uint8_t> out) = 0;
  virtual result<void> write(boot_area area, std::size_t offset, bytes_view data) = 0;
  virtual result<void> erase(boot_area area, std::size_t offset, std::size_t length) = 0;
};

enum class upgrade_mode : std::uint8_t { overwrite, swap };
std::string_view to_string(upgrade_mode m) noexcept;

struct boot_config {
  upgrade_mode mode = upgrade_mode::swap;
  // Trailer layout (as imgtool --align / --max-align / -M); the slot size is the storage's.
  std::size_t write_align = 8;
  std::size_t max_align = 0;
  std::size_t max_sectors = default_max_sectors;
  // Unit of copy and swap; the scratch area must hold one (swap mode).
  std::size_t sector_size = 4096;
  // MCUBOOT_HW_ROLLBACK_PROT: images without a SEC_CNT TLV are refused. When false they count
  // as counter 0, so they still cannot boot once the stored counter is above 0.
  bool require_security_counter = true;
};

// Two records of nv_record_size at offsets 0 and nv_record_size of the state area.
inline constexpr std::size_t nv_record_size = 64;
inline constexpr std::size_t nv_state_size = 2 * nv_record_size;

enum class nv_operation : std::uint8_t { none = 0, swap = 1, overwrite = 2 };
enum class nv_phase : std::uint8_t { chunks = 0, erase_secondary = 1 };

struct nv_state {
  std::uint32_t sequence = 0; // 0 = never written (erased state area)
  std::uint32_t security_counter = 0;
  // The upgrade in progress, if any.
  nv_operation op = nv_operation::none;
  swap_type op_type = swap_type::none;
  nv_phase phase = nv_phase::chunks;
  std::uint32_t chunk = 0; // swap: chunk whose step was last completed
  std::uint8_t step = 0;   // swap: 0 = nothing done in `chunk`, 1..3 = step done
  std::uint32_t swap_size = 0;
  std::uint32_t sector_size = 0;
  std::optional<std::uint32_t> pending_counter; // validated SEC_CNT of the incoming image

  friend bool operator==(const nv_state&, const nv_state&) = default;
};

// Newest valid record. An entirely erased area is a fresh state; one erased copy beside an
// unreadable one is a torn first write (still fresh); two unreadable copies are state_corrupt
// (never silently a counter of 0).
result<nv_state> read_nv_state(boot_storage& storage);
bytes encode_nv_record(const nv_state& state);
std::optional<nv_state> decode_nv_record(bytes_view record);

enum class boot_slot : std::uint8_t { primary, secondary, none };
std::string_view to_string(boot_slot s) noexcept;

struct boot_report {
  boot_slot slot = boot_slot::none; // none = safe mode: no image may be booted
  std::optional<image_version> version;
  std::optional<std::uint32_t> image_security_counter;
  // What this boot did: none, test/perm/revert (performed or resumed), fail (request refused).
  swap_type action = swap_type::none;
  bool resumed = false;            // finished an upgrade a power cut had interrupted
  std::error_code refused;         // why the secondary (upgrade or revert target) was refused
  std::error_code primary_error;   // why the primary was not booted
  std::error_code secondary_error; // why the fallback was not booted either
  std::uint32_t nv_counter = 0;    // stored security counter after this boot
  bool counter_raised = false;
};

result<boot_report> boot(boot_storage& storage, const key_ring& keys, const boot_config& config);

// What the running image calls once it works (boot_set_confirmed): sets image_ok in the primary
// trailer. A trailer-less ("pristine") primary counts as confirmed already.
result<void> confirm(boot_storage& storage, const boot_config& config);

// boot_set_pending: marks the secondary image as an upgrade, TEST or (permanent) PERM. Writes
// swap_info and image_ok first and the magic last, so a cut leaves either no request or the
// whole one. An already pending request is left as it is.
result<void> request_upgrade(boot_storage& storage, const boot_config& config, bool permanent);

struct slot_status {
  trailer_state trailer;
  std::error_code image_error; // verification against the stored counter; empty when valid
  std::optional<image_version> version;
  std::optional<std::uint32_t> security_counter;
  std::size_t image_end = 0;
};
struct boot_status {
  nv_state nv;
  slot_status primary;
  slot_status secondary;
  swap_type pending = swap_type::none; // what the next boot would do (if nothing is resumed)
  std::size_t slot_size = 0;
  std::size_t image_area = 0;
};
// Read-only view of both slots and the NV state.
result<boot_status> inspect(boot_storage& storage, const key_ring& keys, const boot_config& config);

} // namespace aegis::firmware
