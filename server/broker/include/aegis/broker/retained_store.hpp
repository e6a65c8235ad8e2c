#pragma once

// Retained messages (MQTT 5.0 §3.3.1.3): the last retained message per topic, with message
// expiry and a quota in count and bytes (STYLE.md pitfall: retained messages on 500k topics).
//
// Topics are kept sorted, so a filter whose first wildcard comes late ("devices/42/#") scans only
// the topics under its literal prefix; a filter starting with a wildcard scans everything.

#include "aegis/base/clock.hpp"
#include "aegis/base/error.hpp"
#include "aegis/broker/errors.hpp"
#include "aegis/broker/message.hpp"

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace aegis::broker {

struct retained_limits {
  std::size_t max_messages = 100'000;
  std::size_t max_bytes = 64U * 1024U * 1024U; // counted as message::cost()
};

class retained_store {
public:
  explicit retained_store(retained_limits limits = {}) : limits_(limits) {}

  // Told of every change that outlives the call: `m` stored under `topic`, or null when the
  // topic was removed (an empty payload, expiry). broker_core journals them (persistence).
  using observer = std::function<void(const std::string& topic, const message_ptr& m)>;
  void set_observer(observer o) { observer_ = std::move(o); }

  // Stores `m` under its topic, replacing what was there; an empty payload deletes the topic
  // [MQTT-3.3.1-6/7]. Refused with retained_quota_exceeded (or retained_too_large) when the
  // result would exceed the quota; the store is then unchanged.
  result<void> store(message_ptr m);

  // Appends the unexpired messages whose topic `filter` matches (a plain, non-shared filter) to
  // `out`. Expired messages met on the way are removed.
  void match(std::string_view filter, steady_time now, std::vector<message_ptr>& out);

  // Removes every expired message; returns how many.
  std::size_t purge_expired(steady_time now);

  std::size_t size() const noexcept { return messages_.size(); }
  std::size_t bytes() const noexcept { return bytes_; }
  std::size_t refused() const noexcept { return refused_; }

private:
  retained_limits limits_;
  void notify_removed(const std::string& topic) const {
    if (observer_) {
      observer_(topic, nullptr);
    }
  }

  std::map<std::string, message_ptr, std::less<>> messages_;
  observer observer_;
  std::size_t bytes_ = 0;
  std::size_t refused_ = 0;
};

} // namespace aegis::broker
