#pragma once

// Test support: a session_store in a std::map, with a switch to make writes fail.

#include "aegis/broker/errors.hpp"
#include "aegis/broker/session_store.hpp"

#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace aegis::broker::testing {

class memory_session_store final : public session_store {
public:
  result<void> apply(const state_journal& batch) override {
    std::lock_guard lock(mutex_);
    ++batches_;
    if (fail_) {
      return broker_errc::server_busy;
    }
    for (const auto& c : batch) {
      if (c.value) {
        records_[{c.space, c.key}] = *c.value;
      } else {
        records_.erase({c.space, c.key});
      }
    }
    return ok();
  }

  result<state_snapshot> load() override {
    std::lock_guard lock(mutex_);
    state_snapshot snap;
    for (const auto& [k, v] : records_) {
      snap.of(k.first).push_back(state_record{k.second, v});
    }
    return snap;
  }

  std::size_t count(state_space space) const {
    std::lock_guard lock(mutex_);
    std::size_t n = 0;
    for (const auto& [k, v] : records_) {
      n += k.first == space ? 1U : 0U;
    }
    return n;
  }
  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return records_.size();
  }
  std::size_t batches() const {
    std::lock_guard lock(mutex_);
    return batches_;
  }
  void set_failing(bool f) {
    std::lock_guard lock(mutex_);
    fail_ = f;
  }

private:
  mutable std::mutex mutex_;
  std::map<std::pair<state_space, std::string>, bytes> records_;
  std::size_t batches_ = 0;
  bool fail_ = false;
};

} // namespace aegis::broker::testing
