#pragma once

// Helpers for driving broker_core in tests: packet builders and action filters.

#include "aegis/base/clock.hpp"
#include "aegis/broker/broker_core.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace aegis::broker::testing {

using mqtt::protocol_version;
using mqtt::qos;
using mqtt::reason_code;

inline mqtt::connect connect_packet(std::string client_id,
                                    protocol_version v = protocol_version::v5,
                                    bool clean_start = true, std::uint16_t keep_alive = 0) {
  mqtt::connect c;
  c.version = v;
  c.client_id = std::move(client_id);
  c.clean_start = clean_start;
  c.keep_alive = keep_alive;
  return c;
}

inline mqtt::publish publish_packet(std::string topic, std::string payload,
                                    qos q = qos::at_most_once, std::uint16_t id = 0,
                                    bool retain = false) {
  mqtt::publish p;
  p.topic = std::move(topic);
  p.payload = to_bytes(payload);
  p.qos = q;
  p.packet_id = id;
  p.retain = retain;
  return p;
}

inline mqtt::subscribe subscribe_packet(std::uint16_t id, std::string filter,
                                        qos q = qos::at_most_once,
                                        mqtt::subscription_options o = {}) {
  mqtt::subscribe s;
  s.packet_id = id;
  o.max_qos = q;
  s.subscriptions.push_back(mqtt::subscription{std::move(filter), o});
  return s;
}

template <class P>
std::vector<P> sent(const actions& as, connection_id conn) {
  std::vector<P> r;
  for (const auto& a : as) {
    if (const auto* s = std::get_if<send_action>(&a); s && s->conn == conn) {
      if (const auto* p = std::get_if<P>(&s->packet)) {
        r.push_back(*p);
      }
    }
  }
  return r;
}

inline std::size_t sends_to(const actions& as, connection_id conn) {
  std::size_t n = 0;
  for (const auto& a : as) {
    if (const auto* s = std::get_if<send_action>(&a); s && s->conn == conn) {
      ++n;
    }
  }
  return n;
}

inline std::optional<reason_code> closed(const actions& as, connection_id conn) {
  for (const auto& a : as) {
    if (const auto* c = std::get_if<close_action>(&a); c && c->conn == conn) {
      return c->reason;
    }
  }
  return std::nullopt;
}

inline std::string payload_of(const mqtt::publish& p) {
  return std::string(as_string_view(p.payload));
}

class deny_topics final : public authorizer {
public:
  authz_decision can_publish(const auth::identity&, std::string_view topic) const override {
    return topic.starts_with("secret") ? authz_decision::deny(auth::authz_errc::no_matching_rule)
                                       : authz_decision::allow();
  }
  authz_decision can_subscribe(const auth::identity&, std::string_view filter) const override {
    return filter.starts_with("secret") ? authz_decision::deny(auth::authz_errc::no_matching_rule)
                                        : authz_decision::allow();
  }
};

class broker_fixture : public ::testing::Test {
protected:
  void make(broker_limits l) { core_ = std::make_unique<broker_core>(l, authz_); }
  broker_core& core() {
    if (!core_) {
      make({});
    }
    return *core_;
  }
  steady_time now() const { return clock_.steady_now(); }
  template <class Rep, class Period>
  void advance(std::chrono::duration<Rep, Period> d) {
    clock_.advance(d);
  }

  actions connect(connection_id conn, mqtt::connect c) {
    return core().on_connect(conn, std::move(c), client_identity{"device"}, now());
  }
  actions connect(connection_id conn, std::string id, protocol_version v = protocol_version::v5,
                  bool clean = true, std::uint16_t keep_alive = 0) {
    return connect(conn, connect_packet(std::move(id), v, clean, keep_alive));
  }
  // A v5 connection whose session outlives it by `expiry` seconds.
  actions connect_persistent(connection_id conn, std::string id, bool clean = false,
                             std::uint32_t expiry = 3600) {
    auto c = connect_packet(std::move(id), protocol_version::v5, clean);
    c.properties.session_expiry_interval = expiry;
    return connect(conn, std::move(c));
  }
  actions packet(connection_id conn, mqtt::packet p) {
    return core().on_packet(conn, std::move(p), now());
  }
  actions drop(connection_id conn) {
    return core().on_disconnect(conn, transport_close::peer_closed, now());
  }
  actions tick() { return core().on_tick(now()); }

  deny_topics authz_;
  manual_clock clock_;
  std::unique_ptr<broker_core> core_;
};

} // namespace aegis::broker::testing
