#pragma once

// The CSPRNG (OpenSSL's RAND_bytes), constant-time comparison, and a buffer for secrets that
// is wiped (OPENSSL_cleanse) when it is freed.

#include "aegis/base/bytes.hpp"
#include "aegis/base/error.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace aegis::crypto {

// Fills `out` with cryptographically secure random bytes.
result<void> random_fill(std::span<std::uint8_t> out);
result<bytes> random_bytes(std::size_t n);

// True when a and b have the same length and contents; time depends only on the lengths.
bool constant_time_equal(bytes_view a, bytes_view b) noexcept;

// Overwrites `size` bytes at `p` with zeros in a way the optimiser may not drop.
void secure_wipe(void* p, std::size_t size) noexcept;

// Test-only: called with every block a secure_allocator is about to free, after the wipe and
// while the memory is still valid, so a test can check the wipe without reading freed memory.
// Pass nullptr to remove. Not for production code.
using wipe_observer = void (*)(const std::uint8_t* data, std::size_t size);
void set_wipe_observer_for_test(wipe_observer observer) noexcept;

namespace detail {
// Wipes a block a secure_allocator is about to free (and tells the test observer).
void wipe_before_free(void* p, std::size_t size) noexcept;
} // namespace detail

// Wipes memory before returning it to the heap. Wiping in the allocator, not in the owner,
// also covers the blocks a container frees when it grows or is move-assigned over.
template <class T>
struct secure_allocator {
  using value_type = T;

  secure_allocator() noexcept = default;
  template <class U>
  secure_allocator(const secure_allocator<U>& /*other*/) noexcept {} // NOLINT: rebinding

  T* allocate(std::size_t n) { return std::allocator<T>{}.allocate(n); }
  void deallocate(T* p, std::size_t n) noexcept {
    detail::wipe_before_free(static_cast<void*>(p), n * sizeof(T));
    std::allocator<T>{}.deallocate(p, n);
  }

  template <class U>
  friend bool operator==(const secure_allocator& /*a*/, const secure_allocator<U>& /*b*/) noexcept {
    return true;
  }
};

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
  // Wipes and releases the bytes; size() is 0 afterwards.
  void clear() noexcept;

private:
  std::vector<std::uint8_t, secure_allocator<std::uint8_t>> data_;
};

} // namespace aegis::crypto
