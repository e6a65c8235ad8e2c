#pragma once

// Durable MQTT broker state in the store: a plain keyed store of opaque values (table
// broker_state, migration 4). The broker serialises its sessions, queues and retained messages
// itself; this module only keeps bytes, so it knows nothing of MQTT (and does not include the
// broker's headers: server/app adapts this to broker::session_store).
//
// Every value is sealed (sealer.hpp) with associated data naming the table, the space and the
// key: queued and retained messages are device data, encrypted at rest, and a value copied to
// another key does not open. Keys (client ids, topics, sequence numbers) are stored in clear, as
// the registry's ids are.
//
// Threads: as sqlite_store (every call blocks on disk: the storage executor only).

#include "aegis/base/bytes.hpp"
#include "aegis/base/error.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace aegis::storage_sqlite {

class sqlite_store;

struct keyed_change {
  std::uint8_t space = 0;
  std::string key;            // any bytes
  std::optional<bytes> value; // nullopt: erase (a missing key is not an error)
};

struct keyed_value {
  std::string key;
  bytes value;
};

class sqlite_broker_state {
public:
  // `store` must outlive this object.
  explicit sqlite_broker_state(sqlite_store& store) : store_(store) {}

  // Applies every change in order in one transaction: all or none. registry_errc::storage_busy
  // or storage_failed (e.g. the disk is full) on failure.
  result<void> apply(std::span<const keyed_change> changes);
  // Every record of `space` in ascending (bytewise) key order. A value that does not open
  // (altered in the file, moved to another key, another master key) fails the whole load with
  // registry_errc::sealed_value_unreadable: acknowledged data must not vanish silently.
  result<std::vector<keyed_value>> load(std::uint8_t space);
  // How many records `space` holds.
  result<std::size_t> count(std::uint8_t space);

private:
  sqlite_store& store_;
};

} // namespace aegis::storage_sqlite
