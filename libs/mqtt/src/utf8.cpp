#include "aegis/mqtt/utf8.hpp"

#include "checks.hpp"

#include <cstdint>
#include <cstring>

namespace aegis::mqtt {
namespace detail {

mqtt_errc check_utf8(std::string_view text, bool allow_null) noexcept {
  const auto* p = reinterpret_cast<const std::uint8_t*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    // Topics and client ids are mostly ASCII: take eight bytes at a time while they are ASCII
    // and non-zero.
    while (i + 8 <= n) {
      std::uint64_t w = 0;
      std::memcpy(&w, p + i, 8);
      constexpr std::uint64_t high = 0x8080808080808080ULL;
      constexpr std::uint64_t ones = 0x0101010101010101ULL;
      if (((w | (w - ones)) & high) != 0) { // a byte >= 0x80, or a zero byte
        break;
      }
      i += 8;
    }
    if (i >= n) {
      break;
    }
    const std::uint8_t c = p[i];
    if (c < 0x80) {
      if (c == 0 && !allow_null) {
        return mqtt_errc::utf8_null_character;
      }
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint8_t lo = 0x80;
    std::uint8_t hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) {
        lo = 0xA0; // overlong below U+0800
      } else if (c == 0xED) {
        // U+D800..U+DFFF would be ED A0..BF xx.
        if (i + 1 < n && p[i + 1] >= 0xA0 && p[i + 1] <= 0xBF) {
          return mqtt_errc::utf8_surrogate;
        }
        hi = 0x9F;
      }
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) {
        lo = 0x90; // overlong below U+10000
      } else if (c == 0xF4) {
        hi = 0x8F; // over U+10FFFF
      }
    } else {
      return mqtt_errc::invalid_utf8; // continuation byte, C0/C1 overlong, or F5..FF
    }
    if (n - i < len) {
      return mqtt_errc::invalid_utf8;
    }
    if (p[i + 1] < lo || p[i + 1] > hi) {
      return mqtt_errc::invalid_utf8;
    }
    for (std::size_t k = 2; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) {
        return mqtt_errc::invalid_utf8;
      }
    }
    i += len;
  }
  return no_error;
}

} // namespace detail

result<void> validate_utf8(std::string_view text) noexcept {
  if (const auto e = detail::check_utf8(text); e != detail::no_error) {
    return e;
  }
  return ok();
}

} // namespace aegis::mqtt
