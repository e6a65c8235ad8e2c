#include "aegis/app/hub_metrics.hpp"

#include "aegis/auth/errors.hpp"
#include "aegis/bridge/device_bridge.hpp"
#include "aegis/broker/broker_core.hpp"
#include "aegis/broker/device_profile.hpp"
#include "aegis/broker/mqtt_server.hpp"
#include "aegis/net/server.hpp"

#include <gtest/gtest.h>

#include <string>

namespace aegis::app {
namespace {

auth::audit_event event(auth::transport via, auth::verdict v, std::error_code reason = {}) {
  auth::audit_event e;
  e.via = via;
  e.outcome = v;
  e.reason = reason;
  return e;
}

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.starts_with(line + "\n");
}

TEST(HubMetrics, AuthDecisionsAreCountedByTransportVerdictAndReasonAndPassedOn) {
  auth::memory_audit_sink next;
  auth_metrics_sink sink(&next);
  sink.record(event(auth::transport::mqtt, auth::verdict::allow));
  sink.record(event(auth::transport::mqtt, auth::verdict::allow));
  sink.record(event(auth::transport::http, auth::verdict::deny,
                    make_error_code(auth::auth_errc::token_expired)));
  sink.record(event(auth::transport::mqtt, auth::verdict::deny,
                    std::make_error_code(std::errc::io_error))); // not an auth_errc
  EXPECT_EQ(next.events().size(), 4U);

  hub_metric_sources sources;
  sources.auth = &sink;
  const auto text = render_hub_metrics(sources);
  EXPECT_TRUE(has_line(text, "# TYPE aegis_auth_decisions_total counter")) << text;
  EXPECT_TRUE(has_line(text, R"(aegis_auth_decisions_total{transport="mqtt",verdict="allow"} 2)"))
      << text;
  EXPECT_TRUE(has_line(
      text,
      R"(aegis_auth_decisions_total{transport="http",verdict="deny",reason="token_expired"} 1)"))
      << text;
  EXPECT_TRUE(has_line(
      text, R"(aegis_auth_decisions_total{transport="mqtt",verdict="deny",reason="other"} 1)"))
      << text;
}

TEST(HubMetrics, EverySourceGivesItsFamiliesAndAMissingOneNone) {
  hub_metric_sources sources;
  EXPECT_EQ(render_hub_metrics(sources), "");

  sources.network = [] {
    net::server_stats s;
    s.accepted = 10;
    s.active = 3;
    s.handshake_timeouts = 2;
    return s;
  };
  sources.mqtt_devices = [] {
    broker::device_profile_stats s;
    s.events = 42;
    s.rate_limited = 5;
    return s;
  };
  sources.http_bridge = [] {
    bridge::bridge_stats s;
    s.open_polls = 7;
    return s;
  };
  sources.mqtt_broker = [] {
    broker::broker_stats s;
    s.dropped_qos0_congested = 9;
    s.takeovers = 4;
    return s;
  };
  sources.mqtt_persistence = [] {
    broker::persistence_stats s;
    s.batches_written = 11;
    s.write_failures = 1;
    return s;
  };
  sources.audit_records_dropped = [] { return std::uint64_t{1}; };
  sources.extra = [] { return std::string("aegis_extra 1\n"); };
  const auto text = render_hub_metrics(sources);
  EXPECT_TRUE(has_line(text, "aegis_connections_accepted_total 10")) << text;
  EXPECT_TRUE(has_line(text, "aegis_connections 3")) << text;
  EXPECT_TRUE(has_line(text, R"(aegis_tls_handshake_failures_total{cause="timeout"} 2)")) << text;
  EXPECT_TRUE(has_line(text, "aegis_mqtt_device_events_total 42")) << text;
  EXPECT_TRUE(has_line(text, R"(aegis_mqtt_device_refusals_total{reason="rate_limited"} 5)"))
      << text;
  EXPECT_TRUE(has_line(text, "aegis_http_bridge_open_polls 7")) << text;
  EXPECT_TRUE(has_line(text, R"(aegis_mqtt_messages_dropped_total{reason="qos0_congested"} 9)"))
      << text;
  EXPECT_TRUE(has_line(text, "aegis_mqtt_takeovers_total 4")) << text;
  EXPECT_TRUE(has_line(text, "aegis_mqtt_store_batches_total 11")) << text;
  EXPECT_TRUE(has_line(text, R"(aegis_mqtt_store_problems_total{problem="write_failed"} 1)"))
      << text;
  EXPECT_TRUE(has_line(text, "aegis_audit_records_dropped_total 1")) << text;
  EXPECT_TRUE(text.ends_with("aegis_extra 1\n")) << text;
  // Each family is declared once.
  EXPECT_EQ(text.find("# TYPE aegis_connections gauge"),
            text.rfind("# TYPE aegis_connections gauge"));
}

} // namespace
} // namespace aegis::app
