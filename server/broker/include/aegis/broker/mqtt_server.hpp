#pragma once

// The MQTT runtime: glues libs/net (connections on I/O threads), the authenticator chain
// (server/auth) and broker_core (sans-I/O, single-threaded) together.
//
// Threads: each connection's handler runs on its I/O thread and decodes its bytes there
// (mqtt::frame_decoder). A CONNECT goes to the auth thread (the chain is synchronous and may
// spend PBKDF2 time); its verdict, and every later packet, go to the core thread, the only one
// that touches broker_core and the device profile around it (README "The device profile";
// registry work runs through device_profile_options::run_blocking). Actions are encoded there and
// handed to the connection's connection_handle. The core thread also calls broker_core::on_tick
// periodically.
//
// Persistence (options.persistence.store): restore() once before listening; then every event's
// journal is written on the storage executor (group commit: one batch in flight, the next
// accumulating) and the event's sends and closes wait for that write (README "Persistence").
//
// Shutdown: shutdown() (broker_core::shutdown: DISCONNECT 0x8B to v5 clients, close all) before
// net::server::stop(), then stop() (or the destructor) joins the threads.

#include "aegis/auth/authenticator.hpp"
#include "aegis/base/clock.hpp"
#include "aegis/broker/authorizer.hpp"
#include "aegis/broker/broker_core.hpp"
#include "aegis/broker/device_profile.hpp"
#include "aegis/broker/session_store.hpp"
#include "aegis/net/server.hpp"
#include "aegis/registry/ids.hpp"
#include "aegis/registry/model.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

namespace aegis::broker {

// Durable sessions and retained messages (README "Persistence").
struct persistence_options {
  session_store* store = nullptr; // null: everything in memory only, nothing held back
  // Runs a batch write off the I/O and core threads (the storage executor); false when full
  // (the batch waits for the next tick). Unset: device_profile.run_blocking; both unset: the
  // write runs on the core thread (tests only).
  std::function<bool(std::function<void()>)> run_blocking;
};

struct mqtt_server_options {
  broker_limits limits;                          // maximum_packet_size also bounds the decoder
  std::chrono::milliseconds tick_interval{1000}; // broker_core::on_tick period
  device_profile_options device_profile;         // IoT Core profile for device identities
  persistence_options persistence;
};

// Counters of the commit gate (a snapshot; every field only grows).
struct persistence_stats {
  std::uint64_t batches_written = 0;
  std::uint64_t changes_written = 0;
  // Batches the store failed to write: logged, retried (under newer changes) on the next tick;
  // the actions they held were released so that the broker keeps serving (README).
  std::uint64_t write_failures = 0;
  std::uint64_t executor_refused = 0; // the storage executor was full: retried on the next tick
  std::uint64_t actions_held = 0;     // event batches whose sends waited for a commit
};

class mqtt_server {
public:
  // `chain`, `clk` and what the options point to must outlive the mqtt_server (and every
  // connection it served). Device and gateway identities get the device profile; application
  // accounts options.device_profile.application_authorizer.
  mqtt_server(mqtt_server_options options, auth::authenticator_chain& chain, const clock& clk);
  // As above with `authz` for application accounts when the options name none (the earlier
  // signature; `authz` must outlive the server).
  mqtt_server(mqtt_server_options options, const authorizer& authz,
              auth::authenticator_chain& chain, const clock& clk);
  ~mqtt_server();
  mqtt_server(const mqtt_server&) = delete;
  mqtt_server& operator=(const mqtt_server&) = delete;

  // Loads options.persistence.store on the calling thread (not an I/O or core thread: call it at
  // start, before listening) and restores it into the broker on the core thread; from then on
  // every change of durable state is written, and actions wait for their changes (README
  // "Persistence"). Without a store: an empty report. A store that cannot be read is an error:
  // the caller should not start without the messages it acknowledged.
  result<restore_report> restore(std::chrono::milliseconds timeout = std::chrono::seconds{60});

  // For net::listener_options::make_handler. Handlers keep the runtime's shared state alive.
  net::handler_factory handler_factory();

  // broker_core::shutdown on the core thread; blocks until its actions were handed to the
  // connections and every pending change is durable (bounded by `timeout`). New CONNECTs are
  // refused afterwards (0x8B / 3).
  void shutdown(std::chrono::milliseconds timeout = std::chrono::milliseconds{5000});
  // Joins the auth and core threads; later events are dropped. Idempotent.
  void stop();

  // --- device profile: callable from any thread, never blocking. Completions run on the core
  // thread and must not block.

  // Publishes `payload` to /devices/{d}/commands[/{subfolder}] (QoS 1) for the device's session
  // (or a gateway's attached to it). `done` gets broker_errc::device_not_connected or
  // device_not_subscribed (IoT Core's FAILED_PRECONDITION) when no subscription of that session
  // matches, payload_too_large over max_event_payload; nothing is queued then.
  void send_command(const registry::device_key& device, std::string subfolder, bytes payload,
                    std::function<void(std::error_code)> done);
  // Delivers `latest` to sessions subscribed to the device's config topic, replacing an
  // unacknowledged older version. Older than or equal to what was sent already: ignored.
  void publish_config(const registry::device_key& device, const registry::config_version& latest);
  // Re-reads the device (via run_blocking); a deleted or blocked device, a registry with MQTT
  // off, or a credential the session used that was removed or expired: its session closes at
  // once with DISCONNECT 0x87 (v5). `done` (optional) runs on the core thread after the check
  // and any close were handed to the connection.
  void revalidate_device(const registry::device_key& device);
  void revalidate_device(const registry::device_key& device, std::function<void()> done);
  // revalidate_device for every device with a session in the registry (MQTT turned off, the
  // registry deleted...).
  void revalidate_registry(const registry::registry_key& reg);
  // Sessions opened with a client certificate of that serial (hex, any case) close with
  // DISCONNECT 0x87.
  void revoke_certificate(std::string serial_hex);
  // Telemetry and state a device sent over another transport (the HTTPS bridge), which already
  // authenticated, authorized, size-checked and recorded it: delivered to application
  // subscribers as the same message over MQTT would be (same topic, QoS 1, same attributes).
  void publish_device_event(const auth::identity& device, std::string subfolder, bytes payload);
  void publish_device_state(const auth::identity& device, bytes payload);

  // Counters of the device profile (a snapshot; cheap, any thread).
  device_profile_stats device_stats() const;
  // The commit gate's counters, and broker_core's as of the last tick (any thread).
  persistence_stats persistence_counters() const;
  broker_stats broker_counters() const;

  struct shared;

private:
  std::shared_ptr<shared> shared_;
};

} // namespace aegis::broker
