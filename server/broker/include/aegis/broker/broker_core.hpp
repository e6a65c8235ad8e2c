#pragma once

// The broker's sans-I/O state machine (STYLE.md habit 1): sessions, takeover, QoS flows,
// retained messages, wills, keep-alive, topic aliases. Events in, actions out; the caller owns
// sockets, timers and threads and passes the time in. One broker_core is single-threaded.
//
// Events: on_connect (a CONNECT the runtime decoded and the authenticator accepted), on_packet
// (every later packet, already decoded with decoder_options{.from = sender::client}), on_disconnect
// (the transport is gone), on_tick (time passed). Each returns the actions to run, in order:
// send a packet to a connection, then possibly close it. Once broker_core has emitted a close for
// a connection it forgets it: later events for that id (a late disconnect after takeover, bytes
// still in flight) are ignored, so they can never touch a newer connection's session.

#include "aegis/base/clock.hpp"
#include "aegis/broker/authorizer.hpp"
#include "aegis/broker/message.hpp"
#include "aegis/broker/retained_store.hpp"
#include "aegis/broker/session_store.hpp"
#include "aegis/mqtt/packet.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <variant>
#include <vector>

namespace aegis::broker {

using connection_id = std::uint64_t;

struct send_action {
  connection_id conn = 0;
  mqtt::protocol_version version = mqtt::protocol_version::v5; // encode in this
  mqtt::packet packet;
};

// Close the network connection after the sends before it. `reason` is for logs and metrics; in
// v5 the DISCONNECT that told the client (if any) is the send_action just before.
struct close_action {
  connection_id conn = 0;
  mqtt::reason_code reason = mqtt::reason_code::normal_disconnection;
};

using action = std::variant<send_action, close_action>;
using actions = std::vector<action>;

// Why the transport went away; every cause is abnormal unless a DISCONNECT came first.
enum class transport_close : std::uint8_t { peer_closed, io_error, decode_error, timeout };

enum class queue_overflow : std::uint8_t {
  drop_oldest, // keep the freshest data (telemetry)
  drop_newest, // keep what was queued first (commands)
};

// A token bucket's shape: `per_second` sustained, `burst` at once. per_second 0: unlimited.
struct rate_limit {
  std::uint32_t per_second = 0;
  std::uint32_t burst = 0;
};

struct broker_limits {
  std::uint16_t receive_maximum = 32;                // inbound QoS 2 window we advertise
  std::uint32_t maximum_packet_size = 1024U * 1024U; // advertised; the decoder enforces it
  std::uint16_t topic_alias_maximum = 16;            // inbound aliases per connection
  // Outbound QoS 1/2 window: the client's Receive Maximum, but never above this (3.1.1 clients
  // have no Receive Maximum; a non-reading peer must not pin unbounded state, habit 15).
  std::uint16_t max_outbound_inflight = 64;
  std::uint32_t max_session_expiry = 7U * 24U * 3600U; // also caps 3.1.1 persistent sessions
  // Per session, for messages waiting while offline or while the inflight window is full.
  std::size_t max_queued_messages = 1000;
  std::size_t max_queued_bytes = 1024U * 1024U; // counted as message::cost()
  std::size_t max_subscriptions = 1000;         // per session; over it: SUBACK 0x97 / 0x80
  queue_overflow overflow = queue_overflow::drop_oldest;
  // Per connection (STYLE.md habit 15); over one: DISCONNECT 0x96 (v5) or close (3.1.1).
  rate_limit publish_rate;
  rate_limit subscribe_rate; // SUBSCRIBE and UNSUBSCRIBE
  rate_limit ping_rate;
  retained_limits retained;
};

struct broker_stats {
  std::uint64_t dropped_queue_full = 0;
  std::uint64_t dropped_too_large = 0; // over the client's Maximum Packet Size [MQTT-3.1.2-25]
  std::uint64_t dropped_expired = 0;
  std::uint64_t dropped_qos0_offline = 0;
  std::uint64_t dropped_qos0_congested = 0;
  std::uint64_t takeovers = 0;
  std::uint64_t wills_published = 0;
  std::uint64_t retained_refused = 0;
  // A CONNECT naming a session that belongs to another account or device (CONNACK 0x87 / 5).
  std::uint64_t foreign_session_refused = 0;
  // A v5 Session Expiry Interval above max_session_expiry, lowered (and told in CONNACK).
  std::uint64_t session_expiry_capped = 0;
  // Persistence: a message the codec would not encode stays in memory only (never expected).
  std::uint64_t not_persisted = 0;
};

// A read-only look at one session, for metrics and tests.
struct session_info {
  bool connected = false;
  std::size_t subscriptions = 0;
  std::size_t inflight = 0;
  std::size_t queued = 0;
  std::size_t queued_bytes = 0;
  std::uint64_t dropped = 0;
  bool will_pending = false; // a will waits for its delay after an abnormal close
  bool persisted = false;    // journaled: it survives a restart (README "Persistence")
};

class broker_core {
public:
  // `authz` must outlive the broker_core. It is asked with the connection's client_identity::who.
  broker_core(broker_limits limits, const authorizer& authz);
  ~broker_core();
  broker_core(const broker_core&) = delete;
  broker_core& operator=(const broker_core&) = delete;

  actions on_connect(connection_id conn, mqtt::connect&& packet, const client_identity& who,
                     steady_time now);
  actions on_packet(connection_id conn, mqtt::packet&& packet, steady_time now);
  actions on_disconnect(connection_id conn, transport_close cause, steady_time now);
  // Keep-alive, will delays, session expiry, expired retained messages. The runtime calls it
  // about once a second; a scan of every session (a timer wheel would replace it at scale).
  actions on_tick(steady_time now);
  // The connection's outbox crossed its high-water mark (true) or fell below the low one (false)
  // (STYLE.md habit 6). While congested, QoS 0 to it is dropped and counted, QoS 1/2 queue
  // (within the session's caps) and shared groups prefer other members; on relief the queue
  // drains into the inflight window.
  actions on_backpressure(connection_id conn, bool congested, steady_time now);
  // Server shutdown (STYLE.md habit 8): DISCONNECT 0x8B to every v5 connection, close them all.
  // Wills are not published (the server, not the client, went away); sessions stay in memory
  // for a caller that persists them. Later events for those connections are ignored.
  actions shutdown(steady_time now);
  // Block / revoke (DESIGN.md §4): closes the client's connection with `reason` (v5 DISCONNECT)
  // and ends its session so it cannot be resumed. No-op for an unknown client id.
  actions kick(std::string_view client_id, mqtt::reason_code reason, steady_time now);

  // A message the server itself publishes (commands, configs, gateway errors): routed to every
  // matching subscription as a client's PUBLISH would be, without authorization (the caller
  // decided), never retained.
  actions publish(message m, steady_time now);
  // Delivers `m` with `q` to the session of `client_id` alone, as if one of its subscriptions
  // matched (config on subscribe). Nothing when that session is not connected.
  actions deliver_to(std::string_view client_id, message m, mqtt::qos q, steady_time now);

  // --- persistence (README "Persistence") ---
  // Rebuilds the durable state from `snapshot` (sessions offline, their subscriptions, queued and
  // in-flight messages, inbound QoS 2 packet ids awaiting PUBREL; retained messages) and from
  // then on journals every change of it. Call once, before any other event; without it nothing
  // is journaled (no store). `wall_now` maps the stored absolute expiry times onto `now`: a
  // session or message whose time passed while the server was down is dropped. Records that do
  // not decode, or whose session or message is gone, are skipped, counted and erased through
  // the journal. Only sessions with a non-zero expiry owned by an application account are
  // durable; wills are not (a crash is not the client's abnormal close).
  restore_report restore(const state_snapshot& snapshot, steady_time now, wall_time wall_now);
  // The changes since the last call, in order; for session_store::apply. The runtime takes it
  // after every event and holds that event's actions until the batch is durable.
  state_journal take_journal();
  bool journaling() const noexcept;

  const broker_stats& stats() const noexcept;
  std::optional<session_info> find_session(std::string_view client_id) const;
  std::size_t session_count() const noexcept;
  std::size_t connection_count() const noexcept;
  const retained_store& retained() const noexcept;

private:
  struct state;
  std::unique_ptr<state> state_;
};

} // namespace aegis::broker
