#include "aegis/device/offline_queue.hpp"

#include "aegis/base/log.hpp"
#include "aegis/device/errors.hpp"
#include "aegis/device/secure_store.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <map>
#include <mutex>

namespace aegis::device {

namespace {

constexpr std::string_view log_component = "device.queue";
constexpr std::string_view entry_prefix = "queue/";
// Outside "queue/" so that it never looks like an entry; kept so that sequences keep growing
// even after the queue ran empty and the device restarted.
constexpr std::string_view next_sequence_name = "queue.next";
constexpr std::size_t sequence_digits = 20;
constexpr std::size_t max_subfolder_size = 0xFFFF;

std::string entry_name(std::uint64_t sequence) {
  std::array<char, sequence_digits + 1> digits{};
  std::snprintf(digits.data(), digits.size(), "%020llu", static_cast<unsigned long long>(sequence));
  return std::string(entry_prefix) + digits.data();
}

std::optional<std::uint64_t> parse_u64(std::string_view text) {
  std::uint64_t v = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc{} || ptr != end || text.empty()) {
    return std::nullopt;
  }
  return v;
}

// subfolder length u16 | subfolder | payload
bytes encode_entry(const queued_event& e) {
  bytes out;
  out.reserve(2 + e.subfolder.size() + e.payload.size());
  out.push_back(static_cast<std::uint8_t>(e.subfolder.size() >> 8));
  out.push_back(static_cast<std::uint8_t>(e.subfolder.size()));
  out.insert(out.end(), e.subfolder.begin(), e.subfolder.end());
  out.insert(out.end(), e.payload.begin(), e.payload.end());
  return out;
}

std::optional<queued_event> decode_entry(std::uint64_t sequence, bytes_view value) {
  if (value.size() < 2) {
    return std::nullopt;
  }
  const std::size_t len = (std::size_t{value[0]} << 8) | value[1];
  if (value.size() - 2 < len) {
    return std::nullopt;
  }
  queued_event e;
  e.sequence = sequence;
  e.subfolder = std::string(as_string_view(value.subspan(2, len)));
  e.payload.assign(value.begin() + static_cast<std::ptrdiff_t>(2 + len), value.end());
  return e;
}

std::size_t cost(const queued_event& e) {
  return e.subfolder.size() + e.payload.size();
}

class queue_base : public offline_queue {
public:
  explicit queue_base(queue_limits limits) : limits_(limits) {}

  result<std::uint64_t> push(std::string subfolder, bytes payload) override {
    queued_event e{0, std::move(subfolder), std::move(payload)};
    if (e.subfolder.size() > max_subfolder_size || cost(e) > limits_.max_bytes) {
      return device_errc::payload_too_large; // could never fit, even in an empty queue
    }
    const std::lock_guard lock(mutex_);
    if (entries_.size() >= limits_.max_messages || bytes_used_ + cost(e) > limits_.max_bytes) {
      return device_errc::queue_full;
    }
    e.sequence = next_sequence_;
    auto stored = persist_push(e);
    if (!stored) {
      return stored.error();
    }
    ++next_sequence_;
    bytes_used_ += cost(e);
    const std::uint64_t sequence = e.sequence;
    entries_.emplace(sequence, std::move(e));
    return sequence;
  }

  std::vector<queued_event> peek(std::size_t max) const override {
    const std::lock_guard lock(mutex_);
    std::vector<queued_event> out;
    for (auto it = entries_.begin(); it != entries_.end() && out.size() < max; ++it) {
      out.push_back(it->second);
    }
    return out;
  }

  result<void> pop(std::uint64_t sequence) override {
    const std::lock_guard lock(mutex_);
    const auto it = entries_.find(sequence);
    if (it == entries_.end()) {
      return ok();
    }
    auto erased = persist_pop(sequence);
    if (!erased) {
      return erased;
    }
    bytes_used_ -= cost(it->second);
    entries_.erase(it);
    return ok();
  }

  std::size_t size() const noexcept override {
    const std::lock_guard lock(mutex_);
    return entries_.size();
  }
  std::size_t bytes_used() const noexcept override {
    const std::lock_guard lock(mutex_);
    return bytes_used_;
  }

protected:
  virtual result<void> persist_push(const queued_event& e) = 0;
  virtual result<void> persist_pop(std::uint64_t sequence) = 0;

  // For loading, before the queue is shared.
  void restore(queued_event e) {
    bytes_used_ += cost(e);
    const std::uint64_t sequence = e.sequence;
    entries_.emplace(sequence, std::move(e));
  }
  void restore_next_sequence(std::uint64_t next) { next_sequence_ = next; }
  std::uint64_t next_sequence() const noexcept { return next_sequence_; }

private:
  queue_limits limits_;
  mutable std::mutex mutex_;
  std::map<std::uint64_t, queued_event> entries_;
  std::uint64_t next_sequence_ = 1;
  std::size_t bytes_used_ = 0;
};

class memory_queue final : public queue_base {
public:
  using queue_base::queue_base;

private:
  result<void> persist_push(const queued_event& /*e*/) override { return ok(); }
  result<void> persist_pop(std::uint64_t /*sequence*/) override { return ok(); }
};

class persistent_queue final : public queue_base {
public:
  persistent_queue(secure_store& store, queue_limits limits) : queue_base(limits), store_(store) {}

  result<void> load() {
    std::uint64_t next = 1;
    auto stored_next = store_.get(next_sequence_name);
    if (!stored_next) {
      return stored_next.error();
    }
    if (*stored_next) {
      auto v = parse_u64(as_string_view(**stored_next));
      if (!v) {
        log::warn(log_component, "the store's {} record is not a number", next_sequence_name);
        return store_errc::tampered;
      }
      next = *v;
    }
    for (const auto& name : store_.names(entry_prefix)) {
      const std::string_view digits = std::string_view(name).substr(entry_prefix.size());
      // A plain integer rather than an optional: g++ -O2 cannot see that a decoded event implies
      // a parsed sequence and warns (-Wmaybe-uninitialized) on the optional's later use.
      std::uint64_t sequence = 0;
      bool sequence_ok = false;
      if (digits.size() == sequence_digits) {
        if (const auto parsed = parse_u64(digits)) {
          sequence = *parsed;
          sequence_ok = true;
        }
      }
      auto value = store_.get(name);
      if (!value) {
        return value.error();
      }
      auto event = sequence_ok && *value ? decode_entry(sequence, **value) : std::nullopt;
      if (!event) {
        log::warn(log_component, "the store's record {} is not a queued event", name);
        return store_errc::tampered;
      }
      next = std::max(next, sequence + 1);
      restore(std::move(*event));
    }
    restore_next_sequence(next);
    return ok();
  }

private:
  result<void> persist_push(const queued_event& e) override {
    // The entry and the counter in one atomic write: a power cut keeps both or neither.
    return store_.apply(
        {{entry_name(e.sequence), encode_entry(e)},
         {std::string(next_sequence_name), to_bytes(std::to_string(e.sequence + 1))}});
  }
  result<void> persist_pop(std::uint64_t sequence) override {
    return store_.erase(entry_name(sequence));
  }

  secure_store& store_;
};

} // namespace

std::unique_ptr<offline_queue> make_memory_queue(queue_limits limits) {
  return std::make_unique<memory_queue>(limits);
}

result<std::unique_ptr<offline_queue>> make_persistent_queue(secure_store& store,
                                                             queue_limits limits) {
  auto q = std::make_unique<persistent_queue>(store, limits);
  auto loaded = q->load();
  if (!loaded) {
    return loaded.error();
  }
  return std::unique_ptr<offline_queue>(std::move(q));
}

} // namespace aegis::device
