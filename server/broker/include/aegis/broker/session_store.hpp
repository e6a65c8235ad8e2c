#pragma once

// The broker's storage port for durable sessions and retained messages (README "Persistence").
//
// broker_core never does I/O: it records what changed as a journal of keyed puts and erases
// (broker_core::take_journal) whose values it serialised itself (a small versioned binary
// format, src/persistence_format.hpp), and rebuilds itself from a snapshot once at start
// (broker_core::restore). A session_store is therefore a dumb durable keyed store: it applies a
// batch of changes atomically and hands everything back, each space in key order. The SQLite
// implementation lives in server/storage/sqlite and is adapted to this port by server/app.

#include "aegis/base/bytes.hpp"
#include "aegis/base/error.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace aegis::broker {

// Key spaces. Keys are binary strings (client ids and filters are never NUL, so a NUL separates
// a client id from what follows it and every record of one session sorts together).
enum class state_space : std::uint8_t {
  session = 1,      // client id -> expiry, protocol version, owner
  subscription = 2, // client id NUL filter -> subscription options
  message = 3,      // message id (8 bytes, big-endian) -> message (encoded v5 PUBLISH + expiry)
  queue = 4,        // client id NUL sequence (8 bytes, big-endian) -> queued / in-flight entry
  inbound_qos2 = 5, // client id NUL packet id (2 bytes, big-endian) -> PUBREL awaited
  retained = 6,     // topic -> message
};
inline constexpr std::array<state_space, 6> all_state_spaces{
    state_space::session, state_space::subscription, state_space::message,
    state_space::queue,   state_space::inbound_qos2, state_space::retained};

// One change: `value` set puts (insert or replace), nullopt erases (erasing a missing key is not
// an error).
struct state_change {
  state_space space = state_space::session;
  std::string key;
  std::optional<bytes> value;
  friend bool operator==(const state_change&, const state_change&) = default;
};
using state_journal = std::vector<state_change>;

struct state_record {
  std::string key;
  bytes value;
};

// Everything a store holds, per space, each in ascending key order (bytewise).
struct state_snapshot {
  std::array<std::vector<state_record>, all_state_spaces.size()> spaces;

  std::vector<state_record>& of(state_space s) { return spaces[index(s)]; }
  const std::vector<state_record>& of(state_space s) const { return spaces[index(s)]; }
  static std::size_t index(state_space s) { return static_cast<std::size_t>(s) - 1U; }
};

// What broker_core::restore found, for the start-up log.
struct restore_report {
  std::size_t sessions = 0;
  std::size_t subscriptions = 0;
  std::size_t queued = 0;   // waiting to be sent
  std::size_t inflight = 0; // sent, not yet acknowledged: sent again with DUP on resumption
  std::size_t inbound_qos2 = 0;
  std::size_t retained = 0;
  std::size_t expired_sessions = 0; // their expiry passed while the server was down
  std::size_t expired_messages = 0;
  std::size_t unreadable = 0; // records that did not decode (an unknown format version...)
  std::size_t orphans = 0;    // records whose session or message is gone
};

class session_store {
public:
  virtual ~session_store() = default;
  // Applies every change of `batch` or none of them; the batch is durable when this returns.
  virtual result<void> apply(const state_journal& batch) = 0;
  // Every record. A record that cannot be read (tampered, sealed under another key) is an
  // error, not skipped: the caller refuses to start rather than forget acknowledged messages.
  virtual result<state_snapshot> load() = 0;
};

} // namespace aegis::broker
