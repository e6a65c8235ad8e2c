#pragma once

// The bounded queue of QoS 1 telemetry that a device accepted from its application and has not
// yet had acknowledged by the server. The client pushes before it first tries to send and pops
// only on PUBACK (or the bridge's 200), so a reconnect, a token renewal or a power cut loses
// nothing that push() accepted. When full, push() refuses (device_errc::queue_full): the caller
// decides, nothing is silently dropped.

#include "aegis/base/bytes.hpp"
#include "aegis/base/error.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace aegis::device {

class secure_store;

struct queued_event {
  std::uint64_t sequence = 0; // strictly increasing, assigned by push()
  std::string subfolder;      // "" for the default events topic
  bytes payload;
};

struct queue_limits {
  std::size_t max_messages = 1000;
  std::size_t max_bytes = 1024U * 1024U; // payload + subfolder bytes
};

class offline_queue {
public:
  virtual ~offline_queue() = default;
  virtual result<std::uint64_t> push(std::string subfolder, bytes payload) = 0;
  // The oldest `max` entries, in order, without removing them.
  virtual std::vector<queued_event> peek(std::size_t max) const = 0;
  // Removes the entry with this sequence (acknowledged). Unknown sequence: no-op.
  virtual result<void> pop(std::uint64_t sequence) = 0;
  virtual std::size_t size() const noexcept = 0;
  virtual std::size_t bytes_used() const noexcept = 0;
};

// In memory only (tests, devices without storage): lost on restart.
std::unique_ptr<offline_queue> make_memory_queue(queue_limits limits);
// Kept in `store` under names "queue/<20-digit sequence>": survives restarts and power cuts.
result<std::unique_ptr<offline_queue>> make_persistent_queue(secure_store& store,
                                                             queue_limits limits);

} // namespace aegis::device
