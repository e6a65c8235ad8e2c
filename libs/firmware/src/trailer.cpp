#include "aegis/firmware/trailer.hpp"

#include "aegis/firmware/image.hpp"

#include <algorithm>

namespace aegis::firmware {
namespace {

constexpr std::array<std::uint8_t, boot_magic_size> magic_max_align_8 = {
    0x77, 0xc2, 0x95, 0xf3, 0x60, 0xd2, 0xef, 0x7f, 0x35, 0x52, 0x50, 0x0f, 0x2c, 0xb6, 0x79, 0x80};
// Bytes 2..15 of the magic when BOOT_MAX_ALIGN is not 8; bytes 0..1 are max_align (u16 LE).
constexpr std::array<std::uint8_t, boot_magic_size - 2> magic_tail_other_align = {
    0x2d, 0xe1, 0x5d, 0x29, 0x41, 0x0b, 0x8d, 0x77, 0x67, 0x9c, 0x11, 0x0f, 0x1f, 0x8a};

constexpr std::size_t align_up(std::size_t v, std::size_t a) {
  return (v + a - 1) / a * a;
}

bool all_erased(bytes_view b) {
  return std::ranges::all_of(b, [](std::uint8_t v) { return v == erased_value; });
}

// bootutil's boot_read_flag: erased unit = unset; first byte 0x01 = set; anything else = bad.
flag_state decode_flag(bytes_view unit) {
  if (all_erased(unit)) {
    return flag_state::unset;
  }
  return unit[0] == flag_set_value ? flag_state::set : flag_state::bad;
}

} // namespace

std::string_view to_string(swap_type t) noexcept {
  switch (t) {
  case swap_type::none:
    return "none";
  case swap_type::test:
    return "test";
  case swap_type::perm:
    return "permanent";
  case swap_type::revert:
    return "revert";
  case swap_type::fail:
    return "fail";
  case swap_type::panic:
    return "panic";
  }
  return "unknown";
}

std::string_view to_string(magic_state m) noexcept {
  switch (m) {
  case magic_state::good:
    return "good";
  case magic_state::unset:
    return "unset";
  case magic_state::bad:
    return "bad";
  }
  return "unknown";
}

std::string_view to_string(flag_state f) noexcept {
  switch (f) {
  case flag_state::set:
    return "set";
  case flag_state::unset:
    return "unset";
  case flag_state::bad:
    return "bad";
  }
  return "unknown";
}

result<trailer_layout> trailer_layout::make(std::size_t slot_size, std::size_t write_align,
                                            std::size_t max_align, std::size_t max_sectors,
                                            bool overwrite_only) {
  const auto pow2_upto_32 = [](std::size_t v) { return v >= 1 && v <= 32 && (v & (v - 1)) == 0; };
  if (!pow2_upto_32(write_align)) {
    return image_errc::bad_layout;
  }
  if (max_align == 0) {
    max_align = std::max(default_max_align, write_align);
  }
  if (!pow2_upto_32(max_align) || max_align < default_max_align || max_align < write_align) {
    return image_errc::bad_layout;
  }
  if (max_sectors == 0 || max_sectors > 65536) {
    return image_errc::bad_layout;
  }
  trailer_layout l;
  l.slot_size_ = slot_size;
  l.write_align_ = write_align;
  l.max_align_ = max_align;
  l.max_sectors_ = max_sectors;
  l.overwrite_only_ = overwrite_only;
  // The slot must hold a header and the trailer, with flag units at aligned offsets.
  if (slot_size % max_align != 0 || slot_size <= l.trailer_size() + image_header_size) {
    return image_errc::bad_layout;
  }
  return l;
}

std::size_t trailer_layout::trailer_size() const noexcept {
  const std::size_t magic_area = align_up(boot_magic_size, max_align_);
  if (overwrite_only_) {
    return max_align_ * 2 + magic_area;
  }
  return max_sectors_ * 3 * write_align_ + max_align_ * 4 + magic_area;
}

std::size_t trailer_layout::image_ok_offset() const noexcept {
  // ALIGN_DOWN(boot_magic_off - BOOT_MAX_ALIGN, BOOT_MAX_ALIGN), as bootutil_public.c.
  return (magic_offset() - max_align_) / max_align_ * max_align_;
}

std::array<std::uint8_t, boot_magic_size> trailer_layout::magic() const noexcept {
  if (max_align_ == default_max_align) {
    return magic_max_align_8;
  }
  std::array<std::uint8_t, boot_magic_size> m{};
  m[0] = static_cast<std::uint8_t>(max_align_);
  m[1] = static_cast<std::uint8_t>(max_align_ >> 8);
  std::ranges::copy(magic_tail_other_align, m.begin() + 2);
  return m;
}

trailer_state decode_trailer(bytes_view tail, const trailer_layout& layout) noexcept {
  trailer_state s;
  if (tail.size() != layout.flags_size()) {
    s.magic = magic_state::bad;
    return s;
  }
  const std::size_t base = layout.flags_offset();
  const auto at = [&](std::size_t off, std::size_t len) { return tail.subspan(off - base, len); };

  const auto magic = at(layout.magic_offset(), boot_magic_size);
  const auto expected = layout.magic();
  if (all_erased(magic)) {
    s.magic = magic_state::unset;
  } else {
    s.magic = std::ranges::equal(magic, expected) ? magic_state::good : magic_state::bad;
  }
  s.image_ok = decode_flag(at(layout.image_ok_offset(), layout.max_align()));
  s.copy_done = decode_flag(at(layout.copy_done_offset(), layout.max_align()));
  if (!layout.overwrite_only()) {
    const std::uint8_t info = at(layout.swap_info_offset(), 1)[0];
    const std::uint8_t type = info & 0x0f;
    // boot_read_swap_state: erased or out-of-range swap info reads as NONE.
    if (info != erased_value && type >= static_cast<std::uint8_t>(swap_type::none) &&
        type <= static_cast<std::uint8_t>(swap_type::revert)) {
      s.swap = static_cast<swap_type>(type);
      s.image_num = static_cast<std::uint8_t>(info >> 4);
    }
  }
  return s;
}

bytes encode_flag_unit(const trailer_layout& layout) {
  bytes unit(layout.max_align(), erased_value);
  unit[0] = flag_set_value;
  return unit;
}

bytes encode_trailer(const trailer_state& state, const trailer_layout& layout) {
  bytes tail(layout.flags_size(), erased_value);
  const std::size_t base = layout.flags_offset();
  if (state.magic == magic_state::good) {
    const auto m = layout.magic();
    std::ranges::copy(m, tail.begin() + static_cast<long>(layout.magic_offset() - base));
  }
  if (state.image_ok == flag_state::set) {
    tail[layout.image_ok_offset() - base] = flag_set_value;
  }
  if (state.copy_done == flag_state::set) {
    tail[layout.copy_done_offset() - base] = flag_set_value;
  }
  if (!layout.overwrite_only() && state.swap != swap_type::none) {
    tail[layout.swap_info_offset() - base] = static_cast<std::uint8_t>(
        (state.image_num << 4) | (static_cast<std::uint8_t>(state.swap) & 0x0f));
  }
  return tail;
}

swap_type decide_swap_type(const trailer_state& primary, const trailer_state& secondary,
                           bool revert_possible) noexcept {
  if (secondary.magic == magic_state::good) {
    if (secondary.image_ok == flag_state::unset) {
      return swap_type::test;
    }
    if (secondary.image_ok == flag_state::set) {
      return swap_type::perm;
    }
  }
  if (revert_possible && primary.copy_done == flag_state::set &&
      primary.image_ok == flag_state::unset) {
    return swap_type::revert;
  }
  return swap_type::none;
}

} // namespace aegis::firmware
