#include "aegis/app/hub_metrics.hpp"

#include "aegis/admin/metrics_text.hpp"
#include "aegis/auth/errors.hpp"
#include "aegis/bridge/device_bridge.hpp"
#include "aegis/broker/broker_core.hpp"
#include "aegis/broker/device_profile.hpp"
#include "aegis/broker/mqtt_server.hpp"
#include "aegis/net/server.hpp"

#include <utility>

namespace aegis::app {

void auth_metrics_sink::record(const auth::audit_event& event) {
  std::string reason;
  if (event.outcome == auth::verdict::deny &&
      event.reason.category() == category_of<auth::auth_errc>()) {
    reason = auth::name(static_cast<auth::auth_errc>(event.reason.value()));
  } else if (event.outcome == auth::verdict::deny) {
    reason = "other";
  }
  {
    std::lock_guard lock(mutex_);
    ++counts_[key{std::string(auth::to_string(event.via)),
                  std::string(auth::to_string(event.outcome)), std::move(reason)}];
  }
  if (next_ != nullptr) {
    next_->record(event);
  }
}

std::map<auth_metrics_sink::key, std::uint64_t> auth_metrics_sink::snapshot() const {
  std::lock_guard lock(mutex_);
  return counts_;
}

namespace {

using admin::metric_type;
using admin::metrics_text;

void network_lines(metrics_text& m, const net::server_stats& s) {
  m.counter("aegis_connections_accepted_total", "TCP connections accepted (all listeners).",
            s.accepted);
  m.counter("aegis_connections_rejected_total",
            "Connections refused because a listener's connection limit was reached.",
            s.rejected_over_limit);
  m.family("aegis_tls_handshake_failures_total", metric_type::counter,
           "TLS handshakes that failed or timed out.");
  m.sample(s.handshake_failures, {{"cause", "failed"}});
  m.sample(s.handshake_timeouts, {{"cause", "timeout"}});
  m.gauge("aegis_connections", "Connections open now, handshakes included.", s.active);
}

void mqtt_device_lines(metrics_text& m, const broker::device_profile_stats& s) {
  m.counter("aegis_mqtt_device_events_total", "Telemetry messages accepted from MQTT devices.",
            s.events);
  m.counter("aegis_mqtt_device_states_total", "Device states stored from MQTT devices.",
            s.states_stored);
  m.family("aegis_mqtt_device_configs_total", metric_type::counter,
           "Configurations sent to MQTT devices and acknowledged by them.");
  m.sample(s.configs_sent, {{"event", "sent"}});
  m.sample(s.configs_acknowledged, {{"event", "acknowledged"}});
  m.family("aegis_mqtt_device_commands_total", metric_type::counter,
           "Commands sent to MQTT devices, and refused (not connected or not subscribed).");
  m.sample(s.commands_sent, {{"result", "sent"}});
  m.sample(s.commands_refused, {{"result", "refused"}});
  m.family("aegis_mqtt_device_refusals_total", metric_type::counter,
           "Device traffic refused by the IoT Core profile or its limits, by reason.");
  m.sample(s.devices_refused, {{"reason", "no_registry"}});
  m.sample(s.publish_denied, {{"reason", "publish_denied"}});
  m.sample(s.subscribe_denied, {{"reason", "subscribe_denied"}});
  m.sample(s.qos2_publish_closed, {{"reason", "qos2_publish"}});
  m.sample(s.oversize_refused, {{"reason", "oversize"}});
  m.sample(s.rate_limited, {{"reason", "rate_limited"}});
  m.sample(s.state_rate_limited, {{"reason", "state_rate_limited"}});
  m.counter("aegis_mqtt_device_sessions_revoked_total",
            "Device sessions closed because their authorization no longer held.",
            s.sessions_revoked);
  m.family("aegis_mqtt_device_gateway_attach_total", metric_type::counter,
           "Gateway attach requests, by result.");
  m.sample(s.attach_accepted, {{"result", "accepted"}});
  m.sample(s.attach_refused, {{"result", "refused"}});
  m.family("aegis_mqtt_device_storage_problems_total", metric_type::counter,
           "Registry work the MQTT device profile could not do.");
  m.sample(s.storage_busy, {{"problem", "busy"}});
  m.sample(s.storage_errors, {{"problem", "error"}});
}

void broker_lines(metrics_text& m, const broker::broker_stats& s) {
  m.family("aegis_mqtt_messages_dropped_total", metric_type::counter,
           "Messages the broker did not deliver, by reason.");
  m.sample(s.dropped_queue_full, {{"reason", "queue_full"}});
  m.sample(s.dropped_too_large, {{"reason", "over_client_maximum_packet_size"}});
  m.sample(s.dropped_expired, {{"reason", "expired"}});
  m.sample(s.dropped_qos0_offline, {{"reason", "qos0_offline"}});
  m.sample(s.dropped_qos0_congested, {{"reason", "qos0_congested"}});
  m.sample(s.not_persisted, {{"reason", "not_persisted"}});
  m.counter("aegis_mqtt_takeovers_total", "Sessions taken over by a new connection.", s.takeovers);
  m.counter("aegis_mqtt_wills_published_total", "Will messages published.", s.wills_published);
  m.counter("aegis_mqtt_retained_refused_total", "Retained messages refused by the quota.",
            s.retained_refused);
  m.counter("aegis_mqtt_foreign_session_refused_total",
            "CONNECTs naming a session that belongs to another principal.",
            s.foreign_session_refused);
  m.counter("aegis_mqtt_session_expiry_capped_total",
            "Session Expiry Intervals lowered to the configured maximum.", s.session_expiry_capped);
}

void persistence_lines(metrics_text& m, const broker::persistence_stats& s) {
  m.counter("aegis_mqtt_store_batches_total", "Session-store batches committed.",
            s.batches_written);
  m.counter("aegis_mqtt_store_changes_total", "Session-store changes committed.",
            s.changes_written);
  m.family("aegis_mqtt_store_problems_total", metric_type::counter,
           "Session-store batches that failed or could not be queued (retried).");
  m.sample(s.write_failures, {{"problem", "write_failed"}});
  m.sample(s.executor_refused, {{"problem", "executor_full"}});
  m.counter("aegis_mqtt_store_held_batches_total",
            "Event batches whose packets waited for their commit (acknowledged only once durable).",
            s.actions_held);
}

void bridge_lines(metrics_text& m, const bridge::bridge_stats& s) {
  m.gauge("aegis_http_bridge_open_polls", "Long polls held open by the HTTPS bridge.",
          s.open_polls);
  m.gauge("aegis_http_bridge_tracked_devices", "Devices with state in the HTTPS bridge.",
          s.tracked_devices);
  m.family("aegis_http_bridge_commands_total", metric_type::counter,
           "Commands answered to a poll, or dropped when the device never polled again.");
  m.sample(s.commands_delivered, {{"result", "delivered"}});
  m.sample(s.commands_dropped, {{"result", "dropped"}});
  m.counter("aegis_http_bridge_polls_connection_lost_total",
            "Held polls whose client closed the connection.", s.polls_connection_lost);
  m.counter("aegis_http_bridge_executor_refusals_total",
            "Requests answered 503 because the storage executor was full.", s.executor_refusals);
  m.counter("aegis_http_bridge_activity_write_errors_total",
            "Coalesced event/config-send times that could not be stored.", s.activity_write_errors);
}

void auth_lines(metrics_text& m, const auth_metrics_sink& sink) {
  m.family("aegis_auth_decisions_total", metric_type::counter,
           "Authentication decisions by transport, verdict and reason (denials).");
  for (const auto& [k, n] : sink.snapshot()) {
    const auto& [via, verdict, reason] = k;
    if (reason.empty()) {
      m.sample(n, {{"transport", via}, {"verdict", verdict}});
    } else {
      m.sample(n, {{"transport", via}, {"verdict", verdict}, {"reason", reason}});
    }
  }
}

} // namespace

std::string render_hub_metrics(const hub_metric_sources& sources) {
  metrics_text m;
  if (sources.network) {
    network_lines(m, sources.network());
  }
  if (sources.auth != nullptr) {
    auth_lines(m, *sources.auth);
  }
  if (sources.audit_records_dropped) {
    m.counter("aegis_audit_records_dropped_total",
              "Authentication audit records dropped because the storage executor was full.",
              sources.audit_records_dropped());
  }
  if (sources.mqtt_devices) {
    mqtt_device_lines(m, sources.mqtt_devices());
  }
  if (sources.mqtt_broker) {
    broker_lines(m, sources.mqtt_broker());
  }
  if (sources.mqtt_persistence) {
    persistence_lines(m, sources.mqtt_persistence());
  }
  if (sources.http_bridge) {
    bridge_lines(m, sources.http_bridge());
  }
  std::string out = m.text();
  if (sources.extra) {
    out += sources.extra();
  }
  return out;
}

} // namespace aegis::app
