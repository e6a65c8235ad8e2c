#pragma once

// Time is injected: code that checks expiry or arms deadlines takes a clock, so tests can move
// time by hand instead of sleeping.

#include <atomic>
#include <chrono>

namespace aegis {

using wall_time = std::chrono::system_clock::time_point;
using steady_time = std::chrono::steady_clock::time_point;

class clock {
public:
  virtual ~clock() = default;
  // Wall-clock time, for certificates and token claims.
  virtual wall_time wall_now() const = 0;
  // Monotonic time, for deadlines and rates.
  virtual steady_time steady_now() const = 0;
};

class system_clock final : public clock {
public:
  wall_time wall_now() const override { return std::chrono::system_clock::now(); }
  steady_time steady_now() const override { return std::chrono::steady_clock::now(); }
};

// The process-wide real clock, for composition roots.
const clock& real_clock() noexcept;

// A clock that moves only when told; both time lines advance together.
class manual_clock final : public clock {
public:
  explicit manual_clock(wall_time start = wall_time{std::chrono::seconds{1'700'000'000}})
      : wall_(start.time_since_epoch().count()) {}

  wall_time wall_now() const override { return wall_time{wall_time::duration{wall_.load()}}; }
  steady_time steady_now() const override {
    return steady_time{steady_time::duration{steady_.load()}};
  }

  template <class Rep, class Period>
  void advance(std::chrono::duration<Rep, Period> d) {
    wall_ += std::chrono::duration_cast<wall_time::duration>(d).count();
    steady_ += std::chrono::duration_cast<steady_time::duration>(d).count();
  }
  void set_wall(wall_time t) { wall_ = t.time_since_epoch().count(); }

private:
  std::atomic<wall_time::rep> wall_;
  std::atomic<steady_time::rep> steady_{0};
};

} // namespace aegis
