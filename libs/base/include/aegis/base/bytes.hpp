#pragma once

// Byte buffers and the text encodings the protocols use (hex, base64, base64url).
// Decoders are strict: they refuse anything that is not the canonical encoding.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace aegis {

using bytes = std::vector<std::uint8_t>;
using bytes_view = std::span<const std::uint8_t>;

inline bytes_view as_bytes(std::string_view s) noexcept {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
inline std::string_view as_string_view(bytes_view b) noexcept {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}
inline bytes to_bytes(std::string_view s) {
  return {s.begin(), s.end()};
}

std::string to_hex(bytes_view data);
std::optional<bytes> from_hex(std::string_view hex);

// RFC 4648 §4, with padding.
std::string base64_encode(bytes_view data);
// Refuses characters outside the alphabet, bad padding and non-zero trailing bits.
std::optional<bytes> base64_decode(std::string_view text);

// RFC 4648 §5 without padding, as JWS uses it (RFC 7515 §2).
std::string base64url_encode(bytes_view data);
// Refuses '=' padding, characters outside the alphabet and non-zero trailing bits.
std::optional<bytes> base64url_decode(std::string_view text);

} // namespace aegis
