#include "aegis/crypto/random.hpp"

#include "aegis/crypto/errors.hpp"

#include "ossl.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <utility>

namespace aegis::crypto {
namespace {

std::atomic<wipe_observer> g_wipe_observer{nullptr};

} // namespace

result<void> random_fill(std::span<std::uint8_t> out) {
  // RAND_bytes takes an int length; larger requests are served in pieces.
  constexpr std::size_t max_chunk = static_cast<std::size_t>(INT_MAX);
  std::size_t done = 0;
  while (done < out.size()) {
    const std::size_t n = std::min(max_chunk, out.size() - done);
    if (RAND_bytes(out.data() + done, static_cast<int>(n)) != 1) {
      ossl::clear_errors();
      return aead_errc::random_failed;
    }
    done += n;
  }
  return ok();
}

result<bytes> random_bytes(std::size_t n) {
  bytes out(n);
  if (auto r = random_fill(out); !r) {
    return r.error();
  }
  return out;
}

bool constant_time_equal(bytes_view a, bytes_view b) noexcept {
  if (a.size() != b.size()) {
    return false;
  }
  if (a.empty()) {
    return true;
  }
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void secure_wipe(void* p, std::size_t size) noexcept {
  if (p != nullptr && size > 0) {
    OPENSSL_cleanse(p, size);
  }
}

void set_wipe_observer_for_test(wipe_observer observer) noexcept {
  g_wipe_observer.store(observer);
}

namespace detail {

void wipe_before_free(void* p, std::size_t size) noexcept {
  if (p == nullptr) {
    return;
  }
  secure_wipe(p, size);
  if (auto observer = g_wipe_observer.load()) {
    observer(static_cast<const std::uint8_t*>(p), size);
  }
}

} // namespace detail

secure_buffer::secure_buffer(std::size_t size) : data_(size) {}

secure_buffer::secure_buffer(bytes_view data) : data_(data.begin(), data.end()) {}

secure_buffer::secure_buffer(secure_buffer&& other) noexcept : data_(std::move(other.data_)) {
  // A moved-from vector is only "valid but unspecified"; make the source reliably empty.
  other.data_.clear();
}

secure_buffer& secure_buffer::operator=(secure_buffer&& other) noexcept {
  if (this != &other) {
    // The allocator wipes the block this buffer held when the vector frees it.
    data_ = std::move(other.data_);
    other.data_.clear();
  }
  return *this;
}

secure_buffer::~secure_buffer() = default;

void secure_buffer::clear() noexcept {
  // Swapping with an empty vector frees the block (and so wipes it); clear() alone would not.
  decltype(data_)().swap(data_);
}

} // namespace aegis::crypto
