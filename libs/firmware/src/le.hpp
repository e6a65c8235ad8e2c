#pragma once

// Little-endian field access for the image and trailer formats (private). Callers bound-check
// offsets first; the asserts only catch our own mistakes.

#include "aegis/base/error.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

namespace aegis::firmware::detail {

inline std::uint16_t load_le16(std::span<const std::uint8_t> d, std::size_t off) noexcept {
  AEGIS_ASSERT(off + 2 <= d.size());
  return static_cast<std::uint16_t>(d[off] | (d[off + 1] << 8));
}

inline std::uint32_t load_le32(std::span<const std::uint8_t> d, std::size_t off) noexcept {
  AEGIS_ASSERT(off + 4 <= d.size());
  return static_cast<std::uint32_t>(d[off]) | (static_cast<std::uint32_t>(d[off + 1]) << 8) |
         (static_cast<std::uint32_t>(d[off + 2]) << 16) |
         (static_cast<std::uint32_t>(d[off + 3]) << 24);
}

inline void store_le16(std::span<std::uint8_t> d, std::size_t off, std::uint16_t v) noexcept {
  AEGIS_ASSERT(off + 2 <= d.size());
  d[off] = static_cast<std::uint8_t>(v);
  d[off + 1] = static_cast<std::uint8_t>(v >> 8);
}

inline void store_le32(std::span<std::uint8_t> d, std::size_t off, std::uint32_t v) noexcept {
  AEGIS_ASSERT(off + 4 <= d.size());
  for (std::size_t i = 0; i < 4; ++i) {
    d[off + i] = static_cast<std::uint8_t>(v >> (8 * i));
  }
}

} // namespace aegis::firmware::detail
