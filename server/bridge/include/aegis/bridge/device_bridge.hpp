#pragma once

// The HTTPS device bridge (issue 6, reference §2): Google Cloud IoT Core's HTTP DeviceService
// (publishEvent, setState, getConfig) plus Aegis' long polls for configuration and commands.
// server/bridge/README.md documents the wire contract; this header is the C++ side.
//
// Threading: add_routes' handlers run on the HTTP I/O threads and never block there: every
// request is authenticated on the `run` executor (the authenticator chain reads the registry),
// and answered through its http::responder from whichever thread has the answer. Held polls cost
// no thread: they sit in a table with a min-heap of deadlines that one timer thread serves.
// deliver_command, config_changed and device_changed may be called from any thread.

#include "aegis/auth/authenticator.hpp"
#include "aegis/base/bytes.hpp"
#include "aegis/base/clock.hpp"
#include "aegis/http/router.hpp"
#include "aegis/registry/ids.hpp"
#include "aegis/registry/model.hpp"
#include "aegis/registry/service.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace aegis::bridge {

// The storage executor: runs the task later on one of its threads, or returns false (without
// running it) when its queue is full or it stopped; the request is then answered 503.
using blocking_executor = std::function<bool(std::function<void()>)>;

// Implemented by the composition root over the MQTT broker: HTTP telemetry reaches application
// subscribers exactly as MQTT telemetry does. Called on the executor's threads.
class telemetry_sink {
public:
  virtual ~telemetry_sink() = default;
  // `subfolder` is empty or a valid MQTT topic suffix (no empty, "." or ".." level, no wildcard).
  // `device` is the device the data is from (for a gateway acting for a bound device, that
  // device, with method gateway_association).
  virtual void publish_event(const auth::identity& device, std::string subfolder,
                             bytes payload) = 0;
  virtual void publish_state(const auth::identity& device, bytes payload) = 0;
};

struct bridge_options {
  std::chrono::seconds max_wait{300};
  // A device counts as subscribed to commands this long after its last commands poll closed.
  std::chrono::seconds subscribed_grace{30};
  std::size_t max_polls_per_device = 2;
  std::size_t max_event_payload = 256 * 1024;
  std::size_t max_state_payload = 64 * 1024;
  // Per device token bucket (burst = one second's worth) shared by publishEvent and setState;
  // over it: 429 + Retry-After.
  std::uint32_t requests_per_second = 100;
  // setState at most this often per device (IoT Core: 1 per second); faster: 429.
  std::chrono::milliseconds min_state_interval{1000};
  // Commands delivered while a device is between polls (within subscribed_grace) wait for its
  // next commands poll, at most this many and this many payload bytes per device; over either
  // deliver_command answers false. They are dropped when the grace runs out unpolled.
  std::size_t max_pending_commands = 8;
  std::size_t max_pending_command_bytes = 256 * 1024;
  // How often the timer thread checks held polls for closed connections (their slot is freed
  // and the grace starts), and forgets idle devices' rate state.
  std::chrono::milliseconds sweep_interval{1000};
  // Event and config-send times are coalesced per device and written by one executor job at
  // most this often (the MQTT device profile does the same): a device sending ten events a
  // second costs one store write a second, not ten.
  std::chrono::milliseconds activity_flush_interval{1000};
};

// Counters since construction, for metrics and tests.
struct bridge_stats {
  std::size_t open_polls = 0;
  std::size_t tracked_devices = 0;
  std::uint64_t commands_delivered = 0;    // answered to a poll
  std::uint64_t commands_dropped = 0;      // pending when the grace ran out
  std::uint64_t polls_connection_lost = 0; // closed by the client while held
  std::uint64_t executor_refusals = 0;     // answered 503 because `run` refused
  std::uint64_t activity_write_errors = 0; // coalesced event/config-send times not stored
};

class device_bridge {
public:
  device_bridge(bridge_options options, auth::authenticator_chain& chain,
                registry::registry_service& registry, blocking_executor run, telemetry_sink& sink,
                const clock& clk);
  // Answers every open poll 503, stops the timer thread, and waits for its tasks still queued
  // on `run` to run or be destroyed (so the executor must still be alive, or already stopped
  // and drained).
  ~device_bridge();
  device_bridge(const device_bridge&) = delete;
  device_bridge& operator=(const device_bridge&) = delete;

  // POST /v1/projects/{p}/locations/{l}/registries/{r}/devices/{d}:publishEvent
  // POST /v1/projects/{p}/locations/{l}/registries/{r}/devices/{d}:setState
  // GET  /v1/projects/{p}/locations/{l}/registries/{r}/devices/{d}/config
  // GET  /v1/projects/{p}/locations/{l}/registries/{r}/devices/{d}/commands
  // {d} is a device id or its numeric id. The routes keep the bridge's state alive; once the
  // bridge is shut down or destroyed they answer 503.
  void add_routes(http::router& r);

  // From the admin API (any thread). Answers the device's oldest open commands poll and returns
  // true; or, when its last commands poll closed less than subscribed_grace ago, keeps the
  // command for its next poll (bounded, see bridge_options) and returns true; otherwise false
  // (the admin API answers FAILED_PRECONDITION, as for an unsubscribed MQTT device).
  bool deliver_command(const registry::device_key& device, std::string subfolder, bytes payload);
  // The device's configuration changed (after the store has it): answers its config polls
  // waiting for a version older than `latest`.
  void config_changed(const registry::device_key& device, const registry::config_version& latest);
  // The device was blocked, deleted, had its credentials, bindings or registry changed: its
  // open polls (and, for a gateway, those it holds for bound devices) are authenticated again
  // on the executor and answered 401 (deleted device, credential removed) or 403 (blocked, HTTP
  // disabled, no longer bound) at once; unaffected polls stay open.
  void device_changed(const registry::device_key& device);
  // A registry changed (HTTP turned off, CA certificates removed): every open poll of its devices
  // is re-checked as a new request would be, and answered with the refusal if it fails.
  void registry_changed(const registry::registry_key& reg);
  // A certificate was revoked: every open poll opened with a client certificate is re-checked.
  void certificate_revoked();
  // Answers every open poll 503 and refuses (503) every request from now on. Idempotent.
  void shutdown();

  bridge_stats stats() const;
  // Runs what the timer thread runs (expired deadlines, grace ends, closed connections, the
  // activity flush) at once, by the injected clock: tests that move a manual_clock call it
  // instead of waiting.
  void run_timers_for_test();

  struct impl;

private:
  std::shared_ptr<impl> impl_;
};

} // namespace aegis::bridge
