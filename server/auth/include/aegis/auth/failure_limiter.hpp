#pragma once

// Failed authentication attempts per source address, as a token bucket (DESIGN §5, STYLE.md
// habit 15): each address may fail `burst` times at once, then one more time per `refill`.
// While its bucket is empty an address is refused before any password is checked, so a
// guesser also cannot make the server spend PBKDF2 time.
//
// The table is bounded: when it is full, an address whose bucket has refilled completely is
// forgotten first; if none has, the new address shares one overflow bucket (a flood of
// addresses cannot grow memory, and it cannot reset its own limit either). Thread-safe.

#include "aegis/base/clock.hpp"

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace aegis::auth {

struct failure_limiter_options {
  double burst = 5;                        // failures allowed back to back
  std::chrono::milliseconds refill{12000}; // one more failure allowed per refill period
  std::size_t max_addresses = 65536;
};

class failure_limiter {
public:
  // The key an address is limited under: the host without the port ("192.0.2.1:5000" and
  // "[2001:db8::1]:5000" give "192.0.2.1" and "2001:db8::1"), since every reconnect comes from
  // a new port. Anything else is used as it is.
  static std::string_view host_of(std::string_view address) noexcept;

  failure_limiter(const clock& clk, failure_limiter_options options = {});

  // `address` is a connect_request::source_address.
  // False while `address` has no failures left: refuse without checking credentials.
  bool may_attempt(std::string_view address);
  // Spends one failure of `address`.
  void record_failure(std::string_view address);

  std::size_t tracked_for_test() const;

private:
  struct bucket {
    double tokens;
    steady_time updated;
  };
  bucket& find(std::string_view address, steady_time now);
  void refill(bucket& b, steady_time now) const;

  const clock& clock_;
  failure_limiter_options options_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, bucket> buckets_;
  bucket overflow_;
};

} // namespace aegis::auth
