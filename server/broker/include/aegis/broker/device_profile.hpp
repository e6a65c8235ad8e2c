#pragma once

// Options and counters of the IoT Core device profile (reference §1.6-1.12) that mqtt_server
// applies to device and gateway identities. See README.md "Device profile" for the behaviour.

#include "aegis/auth/authorizer.hpp"
#include "aegis/base/bytes.hpp"
#include "aegis/broker/broker_core.hpp"
#include "aegis/registry/service.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>

namespace aegis::broker {

struct device_profile_options {
  registry::registry_service* registry = nullptr; // null: no device support (devices refused)
  // Runs blocking registry work off the I/O and core threads (the storage executor); false when
  // full. Unset (with a registry): the work runs inline on the core thread (tests only).
  std::function<bool(std::function<void()>)> run_blocking;
  // null: applications may do anything (tests).
  const auth::authorizer* application_authorizer = nullptr;
  std::size_t max_event_payload = 256 * 1024, max_state_payload = 64 * 1024,
              max_config_payload = 64 * 1024;
  rate_limit device_publish_rate{100, 100}; // per connection
  std::chrono::milliseconds state_min_interval{1000};
  // Activity writes (heartbeat, event times) are coalesced per device and flushed this often.
  std::chrono::milliseconds activity_flush_interval{1000};
};

// Refusals and device traffic, for metrics. A snapshot: every field only grows.
struct device_profile_stats {
  std::uint64_t devices_refused = 0;     // device CONNECT without a registry configured
  std::uint64_t publish_denied = 0;      // outside the profile: connection closed
  std::uint64_t subscribe_denied = 0;    // filters refused in SUBACK
  std::uint64_t qos2_publish_closed = 0; // QoS 2 PUBLISH: connection closed (0x9B)
  std::uint64_t qos2_subscribe_downgraded = 0;
  std::uint64_t oversize_refused = 0;   // over max_event/state_payload
  std::uint64_t rate_limited = 0;       // over device_publish_rate
  std::uint64_t state_rate_limited = 0; // a state within state_min_interval of the last
  std::uint64_t events = 0;             // telemetry messages accepted
  std::uint64_t states_stored = 0;
  std::uint64_t configs_sent = 0;
  std::uint64_t configs_acknowledged = 0;
  std::uint64_t commands_sent = 0;
  std::uint64_t commands_refused = 0; // not connected / not subscribed
  std::uint64_t sessions_revoked = 0; // closed by revalidate_device / revoke_certificate
  std::uint64_t storage_busy = 0;     // run_blocking refused work (dropped)
  std::uint64_t storage_errors = 0;   // registry calls that failed
  std::uint64_t attach_accepted = 0;
  std::uint64_t attach_refused = 0;
};

} // namespace aegis::broker
