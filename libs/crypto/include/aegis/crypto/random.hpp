#pragma once

// The CSPRNG (OpenSSL's RAND_bytes), constant-time comparison, and a buffer for secrets that
// is wiped (OPENSSL_cleanse) when it is freed.

#include "aegis/base/bytes.hpp"
#include "aegis/base/error.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace aegis::crypto {

// Fills `out` with cryptographically secure random bytes.
result<void> random_fill(std::span<std::uint8_t> out);
result<bytes> random_bytes(std::size_t n);

// True when a and b have the same length and contents; time depends only on the lengths.
bool constant_time_equal(bytes_view a, bytes_view b) noexcept;

// Owns secret bytes; wipes them on destruction, on reassignment and on clear(). Move-only.
class secure_buffer {
public:
  secure_buffer() = default;
  explicit secure_buffer(std::size_t size);
  explicit secure_buffer(bytes_view data);
  secure_buffer(secure_buffer&& other) noexcept;
  secure_buffer& operator=(secure_buffer&& other) noexcept;
  secure_buffer(const secure_buffer&) = delete;
  secure_buffer& operator=(const secure_buffer&) = delete;
  ~secure_buffer();

  std::uint8_t* data() noexcept { return data_.data(); }
  const std::uint8_t* data() const noexcept { return data_.data(); }
  std::size_t size() const noexcept { return data_.size(); }
  bool empty() const noexcept { return data_.empty(); }
  bytes_view view() const noexcept { return {data_.data(), data_.size()}; }
  std::span<std::uint8_t> span() noexcept { return {data_.data(), data_.size()}; }
  void clear() noexcept;

private:
  std::vector<std::uint8_t> data_;
};

} // namespace aegis::crypto
