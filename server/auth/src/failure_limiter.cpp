#include "aegis/auth/failure_limiter.hpp"

#include <algorithm>

namespace aegis::auth {

failure_limiter::failure_limiter(const clock& clk, failure_limiter_options options)
    : clock_(clk), options_(options), overflow_{options.burst, clk.steady_now()} {}

void failure_limiter::refill(bucket& b, steady_time now) const {
  if (now <= b.updated) {
    return;
  }
  const auto elapsed = std::chrono::duration<double, std::milli>(now - b.updated).count();
  const auto period = std::chrono::duration<double, std::milli>(options_.refill).count();
  b.tokens = std::min(options_.burst, b.tokens + (period > 0 ? elapsed / period : options_.burst));
  b.updated = now;
}

failure_limiter::bucket& failure_limiter::find(std::string_view address, steady_time now) {
  auto it = buckets_.find(std::string(address));
  if (it != buckets_.end()) {
    refill(it->second, now);
    return it->second;
  }
  if (buckets_.size() >= options_.max_addresses) {
    for (auto i = buckets_.begin(); i != buckets_.end();) {
      refill(i->second, now);
      i = i->second.tokens >= options_.burst ? buckets_.erase(i) : std::next(i);
    }
  }
  if (buckets_.size() >= options_.max_addresses) {
    refill(overflow_, now);
    return overflow_;
  }
  return buckets_.emplace(std::string(address), bucket{options_.burst, now}).first->second;
}

std::string_view failure_limiter::host_of(std::string_view address) noexcept {
  if (!address.empty() && address.front() == '[') {
    auto close = address.find(']');
    return close == std::string_view::npos ? address : address.substr(1, close - 1);
  }
  auto colon = address.find(':');
  if (colon != std::string_view::npos && address.find(':', colon + 1) == std::string_view::npos) {
    return address.substr(0, colon);
  }
  return address;
}

bool failure_limiter::may_attempt(std::string_view address) {
  std::lock_guard lock(mutex_);
  return find(host_of(address), clock_.steady_now()).tokens >= 1.0;
}

void failure_limiter::record_failure(std::string_view address) {
  std::lock_guard lock(mutex_);
  auto& b = find(host_of(address), clock_.steady_now());
  b.tokens = std::max(0.0, b.tokens - 1.0);
}

std::size_t failure_limiter::tracked_for_test() const {
  std::lock_guard lock(mutex_);
  return buckets_.size();
}

} // namespace aegis::auth
