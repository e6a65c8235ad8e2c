#pragma once

// The MCUboot image trailer at the end of a slot (docs reference/secure-boot.md §3), read
// backwards from the slot end. Each flag fills one max_align unit padded with the erased value,
// so it can be written once without erasing:
//
//   slot end - 16                magic (16 bytes)
//   image_ok_offset()            image_ok   (0x01 = set, erased = unset, else bad)
//   copy_done_offset()           copy_done
//   swap_info_offset()           swap_info  (low nibble swap type, high nibble image number)
//   ...                          swap_size, swap status: reserved (Aegis keeps swap progress in
//                                its non-volatile state instead, see boot.hpp)
//
// trailer_size() is what imgtool reserves, so images padded by imgtool and by aegis-image fit
// the same slots.

#include "aegis/base/bytes.hpp"
#include "aegis/base/error.hpp"
#include "aegis/firmware/errors.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace aegis::firmware {

inline constexpr std::size_t boot_magic_size = 16;
inline constexpr std::uint8_t erased_value = 0xff;
inline constexpr std::uint8_t flag_set_value = 0x01;
inline constexpr std::size_t default_max_sectors = 128; // imgtool's DEFAULT_MAX_SECTORS
inline constexpr std::size_t default_max_align = 8;     // BOOT_MAX_ALIGN

// bootutil_public.h values.
enum class swap_type : std::uint8_t {
  none = 1,
  test = 2,
  perm = 3,
  revert = 4,
  fail = 5,
  panic = 0xff
};
std::string_view to_string(swap_type t) noexcept;

enum class magic_state { good, unset, bad };
enum class flag_state { set, bad, unset };
std::string_view to_string(magic_state m) noexcept;
std::string_view to_string(flag_state f) noexcept;

class trailer_layout {
public:
  // write_align: flash write size, imgtool --align (1, 2, 4, 8, 16, 32).
  // max_align: BOOT_MAX_ALIGN, the flag unit; 0 means imgtool's default max(8, write_align).
  // max_sectors: imgtool -M, sizes the (reserved) swap status area.
  static result<trailer_layout> make(std::size_t slot_size, std::size_t write_align = 8,
                                     std::size_t max_align = 0,
                                     std::size_t max_sectors = default_max_sectors,
                                     bool overwrite_only = false);

  std::size_t slot_size() const noexcept { return slot_size_; }
  std::size_t write_align() const noexcept { return write_align_; }
  std::size_t max_align() const noexcept { return max_align_; }
  std::size_t max_sectors() const noexcept { return max_sectors_; }
  bool overwrite_only() const noexcept { return overwrite_only_; }

  // imgtool's _trailer_size (without encryption keys).
  std::size_t trailer_size() const noexcept;
  // Where an image must end: MCUboot's bootutil_max_image_size.
  std::size_t image_area() const noexcept { return slot_size_ - trailer_size(); }

  std::size_t magic_offset() const noexcept { return slot_size_ - boot_magic_size; }
  std::size_t image_ok_offset() const noexcept;
  std::size_t copy_done_offset() const noexcept { return image_ok_offset() - max_align_; }
  std::size_t swap_info_offset() const noexcept { return copy_done_offset() - max_align_; }
  // The tail holding magic and the flags: [flags_offset(), slot_size). Overwrite-only trailers
  // (imgtool --overwrite-only) have no swap_info.
  std::size_t flags_offset() const noexcept {
    return overwrite_only_ ? copy_done_offset() : swap_info_offset();
  }
  std::size_t flags_size() const noexcept { return slot_size_ - flags_offset(); }

  // 77 c2 95 f3 ... for max_align 8; otherwise u16 max_align + 2d e1 5d 29 ... (MCUboot).
  std::array<std::uint8_t, boot_magic_size> magic() const noexcept;

private:
  std::size_t slot_size_ = 0;
  std::size_t write_align_ = 8;
  std::size_t max_align_ = default_max_align;
  std::size_t max_sectors_ = default_max_sectors;
  bool overwrite_only_ = false;
};

struct trailer_state {
  magic_state magic = magic_state::unset;
  flag_state image_ok = flag_state::unset;
  flag_state copy_done = flag_state::unset;
  swap_type swap = swap_type::none; // erased or out-of-range swap_info reads as none
  std::uint8_t image_num = 0;
};

// Decodes the tail [flags_offset(), slot_size) exactly as bootutil does; never fails.
trailer_state decode_trailer(bytes_view tail, const trailer_layout& layout) noexcept;
// Encodes a tail (flags_size() bytes) holding the given fields. Only "good" magic and "set"
// flags are written; anything else stays erased, as a boot loader never writes a bad value.
bytes encode_trailer(const trailer_state& state, const trailer_layout& layout);
// One flag unit as it is written: 0x01 then erased bytes.
bytes encode_flag_unit(const trailer_layout& layout);

// MCUboot's swap-type decision (boot_swap_type_multi), made total over partly written flags as
// PR #2100 did: TEST if the secondary has good magic and unset image_ok; PERM if the secondary
// has good magic and image_ok set; REVERT if the primary has copy_done set and image_ok unset
// (only when `revert_possible`, i.e. not for overwrite-only); NONE otherwise.
swap_type decide_swap_type(const trailer_state& primary, const trailer_state& secondary,
                           bool revert_possible) noexcept;

} // namespace aegis::firmware
