#pragma once

// What GET /metrics reports (server/admin serves it, viewer scope): the composition root knows
// every part, so it gathers their counters here. Each source is optional; a part that is not
// running simply has no lines. Counters are read as snapshots (each part's stats() is
// thread-safe), so one scrape never waits on the broker or the store.
//
// Authentication results are counted by an audit_sink decorator placed in the authenticator
// chain's sink chain: by transport, verdict and reason (auth_errc names).

#include "aegis/auth/authenticator.hpp"

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>

namespace aegis::net {
struct server_stats;
}
namespace aegis::broker {
struct device_profile_stats;
struct broker_stats;
struct persistence_stats;
} // namespace aegis::broker
namespace aegis::bridge {
struct bridge_stats;
}

namespace aegis::app {

// Counts every authentication decision, then passes it on to `next` (may be null).
class auth_metrics_sink final : public auth::audit_sink {
public:
  explicit auth_metrics_sink(auth::audit_sink* next = nullptr) : next_(next) {}

  // auth::audit_sink
  void record(const auth::audit_event& event) override;

  // (transport, verdict, reason) -> count; reason is "" for admissions.
  using key = std::tuple<std::string, std::string, std::string>;
  std::map<key, std::uint64_t> snapshot() const;

private:
  auth::audit_sink* next_;
  mutable std::mutex mutex_;
  std::map<key, std::uint64_t> counts_;
};

struct hub_metric_sources {
  std::function<net::server_stats()> network;                  // both listeners (one net::server)
  std::function<broker::device_profile_stats()> mqtt_devices;  // the MQTT device profile
  std::function<broker::broker_stats()> mqtt_broker;           // drops, takeovers, wills
  std::function<broker::persistence_stats()> mqtt_persistence; // session store writes
  std::function<bridge::bridge_stats()> http_bridge;           // the HTTPS device bridge
  const auth_metrics_sink* auth = nullptr;
  std::function<std::uint64_t()> audit_records_dropped; // store_audit_sink::dropped
  // Anything else in Prometheus text, appended as is (e.g. the broker's own counters).
  std::function<std::string()> extra;
};

// The Prometheus text for one scrape.
std::string render_hub_metrics(const hub_metric_sources& sources);

} // namespace aegis::app
