#pragma once

// A token bucket for per-connection rates (STYLE.md habit 15), shared by broker_core and the
// device profile. Integer arithmetic in thousandths of a token, refilled from the time passed in:
// no clock reads, so it stays sans-I/O and testable with any time.

#include "aegis/base/clock.hpp"
#include "aegis/broker/broker_core.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace aegis::broker::detail {

class token_bucket {
public:
  token_bucket() = default;
  token_bucket(rate_limit r, steady_time now)
      : per_second_(r.per_second), capacity_(std::int64_t{r.burst} * 1000), tokens_(capacity_),
        last_(now) {}

  bool try_take(steady_time now) {
    if (per_second_ == 0) {
      return true;
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - last_).count();
    if (ms > 0) {
      tokens_ = std::min(capacity_, tokens_ + ms * std::int64_t{per_second_});
      last_ = now;
    }
    if (tokens_ < 1000) {
      return false;
    }
    tokens_ -= 1000;
    return true;
  }

private:
  std::uint32_t per_second_ = 0;
  std::int64_t capacity_ = 0;
  std::int64_t tokens_ = 0;
  steady_time last_{};
};

} // namespace aegis::broker::detail
