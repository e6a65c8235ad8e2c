#include "aegis/broker/broker_core.hpp"

#include "aegis/broker/subscription_tree.hpp"
#include "aegis/mqtt/codec.hpp"
#include "aegis/mqtt/topic.hpp"
#include "token_bucket.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace aegis::broker {

namespace {

using detail::token_bucket;

// Whether two identities are the same principal: the same device, or the same account.
bool same_principal(const auth::identity& a, const auth::identity& b) {
  if (a.kind == auth::identity_kind::application || b.kind == auth::identity_kind::application) {
    return a.kind == b.kind && a.account == b.account;
  }
  return a.device == b.device;
}
using mqtt::protocol_version;
using mqtt::qos;
using mqtt::reason_code;

constexpr std::uint32_t never_expires = std::numeric_limits<std::uint32_t>::max();

qos min_qos(qos a, qos b) noexcept {
  return static_cast<std::uint8_t>(a) < static_cast<std::uint8_t>(b) ? a : b;
}

reason_code granted(qos q) noexcept {
  switch (q) {
  case qos::at_most_once:
    return reason_code::granted_qos_0;
  case qos::at_least_once:
    return reason_code::granted_qos_1;
  case qos::exactly_once:
    return reason_code::granted_qos_2;
  }
  return reason_code::granted_qos_0;
}

// One delivery to a session: what the PUBLISH carries besides the shared message.
struct delivery {
  message_ptr msg;
  qos q = qos::at_most_once;
  bool retain = false;
  std::vector<std::uint32_t> subscription_ids;
};

struct inflight_entry {
  std::uint16_t packet_id = 0;
  delivery d;
  bool released = false; // PUBREC received and PUBREL sent: waiting for PUBCOMP
};

struct session {
  std::uint64_t id = 0;
  std::string client_id;
  client_identity identity;
  protocol_version version = protocol_version::v5;
  std::optional<connection_id> conn;
  std::uint32_t expiry_interval = 0;     // seconds; never_expires: never
  std::optional<steady_time> expires_at; // while offline
  std::map<std::string, subscriber_options, std::less<>> subscriptions;
  std::uint16_t next_packet_id = 1;
  std::deque<inflight_entry> inflight; // outbound QoS 1/2, in send order
  std::deque<delivery> queue;
  std::size_t queue_bytes = 0;
  std::uint64_t dropped = 0;
  std::unordered_set<std::uint16_t> inbound_qos2; // PUBREC sent, PUBREL awaited
  // Armed while connected; after an abnormal close it is pending until will_at or session end.
  std::optional<mqtt::will_message> will;
  std::optional<steady_time> will_at;
};

struct connection {
  connection_id id = 0;
  std::uint64_t session_id = 0;
  protocol_version version = protocol_version::v5;
  std::chrono::milliseconds keep_alive{0};
  steady_time last_seen{};
  std::uint16_t client_receive_maximum = 65535; // our send window: min(theirs, our cap)
  std::uint32_t client_maximum_packet_size = mqtt::max_packet_size;
  std::vector<std::string> topic_aliases; // index alias - 1
  std::optional<steady_time> credential_expires_at;
  bool congested = false; // outbox above its high-water mark
  token_bucket publish_bucket;
  token_bucket subscribe_bucket;
  token_bucket ping_bucket;
};

struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

} // namespace

struct broker_core::state {
  state(broker_limits l, const authorizer& a) : limits(l), authz(a), retained(l.retained) {
    // `this` is heap-allocated and never moves: broker_core holds it by unique_ptr.
    tree.set_availability([this](subscriber_id id) {
      auto it = by_id.find(id);
      if (it == by_id.end() || !it->second->conn) {
        return false;
      }
      auto c = conns.find(*it->second->conn);
      return c != conns.end() && !c->second.congested;
    });
  }
  state(const state&) = delete;
  state& operator=(const state&) = delete;

  broker_limits limits;
  const authorizer& authz;
  subscription_tree tree;
  retained_store retained;
  std::unordered_map<std::string, std::unique_ptr<session>, string_hash, std::equal_to<>>
      by_client_id;
  std::unordered_map<std::uint64_t, session*> by_id;
  std::unordered_map<connection_id, connection> conns;
  std::uint64_t next_session_id = 1;
  std::uint64_t next_assigned_id = 1;
  broker_stats stats;
  std::vector<match_result> matches; // reused by route()
  actions out;

  // --- output -----------------------------------------------------------------------------

  void send(const connection& c, mqtt::packet p) {
    out.push_back(send_action{c.id, c.version, std::move(p)});
  }

  // Closes `c` on the broker's initiative: DISCONNECT first in v5 (3.1.1 has none from a server),
  // then the close, then the session goes offline as after any abnormal close (will included).
  void fail(connection_id id, reason_code reason, steady_time now) {
    auto it = conns.find(id);
    if (it == conns.end()) {
      return;
    }
    if (it->second.version == protocol_version::v5) {
      mqtt::disconnect d;
      d.reason = reason;
      send(it->second, d);
    }
    out.push_back(close_action{id, reason});
    connection_lost(id, false, now);
  }

  // --- sessions ---------------------------------------------------------------------------

  session* session_of(const connection& c) {
    auto it = by_id.find(c.session_id);
    return it == by_id.end() ? nullptr : it->second;
  }

  // Forgets the connection; the session stays per its expiry. `graceful`: a DISCONNECT without
  // "with will" came first, so the will is discarded [MQTT-3.1.2-10].
  void connection_lost(connection_id id, bool graceful, steady_time now) {
    auto it = conns.find(id);
    if (it == conns.end()) {
      return;
    }
    const std::uint64_t sid = it->second.session_id;
    conns.erase(it);
    auto sit = by_id.find(sid);
    if (sit == by_id.end()) {
      return;
    }
    session& s = *sit->second;
    s.conn.reset();
    if (graceful) {
      s.will.reset();
    }
    if (s.will) {
      const std::uint32_t delay = s.version == protocol_version::v5
                                      ? s.will->properties.will_delay_interval.value_or(0)
                                      : 0;
      if (delay == 0) {
        publish_will(s, now);
      } else {
        s.will_at = now + std::chrono::seconds{delay};
      }
    }
    if (s.expiry_interval == 0) {
      end_session(s.id, now);
    } else if (s.expiry_interval != never_expires) {
      s.expires_at = now + std::chrono::seconds{s.expiry_interval};
    }
  }

  // The session ends: a pending will goes out now (§3.1.3.2.2: "when the Will Delay Interval
  // has passed or the Session ends, whichever happens first"), its subscriptions leave the
  // tree, its queue is dropped.
  void end_session(std::uint64_t sid, steady_time now) {
    auto sit = by_id.find(sid);
    if (sit == by_id.end()) {
      return;
    }
    session& s = *sit->second;
    if (s.will && !s.conn) {
      publish_will(s, now);
    }
    for (const auto& [filter, opts] : s.subscriptions) {
      tree.unsubscribe(filter, s.id);
    }
    by_id.erase(sit);
    by_client_id.erase(by_client_id.find(std::string_view(s.client_id)));
  }

  void publish_will(session& s, steady_time now) {
    auto w = std::move(*s.will);
    s.will.reset();
    s.will_at.reset();
    if (!authz.can_publish(s.identity.who, w.topic).allowed) {
      return;
    }
    auto m = std::make_shared<message>();
    m->topic = std::move(w.topic);
    m->payload = std::move(w.payload);
    m->qos = w.qos;
    m->retain = w.retain;
    m->properties.payload_format_indicator = w.properties.payload_format_indicator;
    m->properties.message_expiry_interval = w.properties.message_expiry_interval;
    m->properties.content_type = std::move(w.properties.content_type);
    m->properties.response_topic = std::move(w.properties.response_topic);
    m->properties.correlation_data = std::move(w.properties.correlation_data);
    m->properties.user_properties = std::move(w.properties.user_properties);
    if (w.properties.message_expiry_interval) {
      m->expires_at = now + std::chrono::seconds{*w.properties.message_expiry_interval};
    }
    m->origin_session = s.id;
    ++stats.wills_published;
    if (m->retain && !retained.store(m)) {
      ++stats.retained_refused;
    }
    route(m, now);
  }

  // --- outbound ---------------------------------------------------------------------------

  std::uint16_t allocate_packet_id(session& s) {
    // The window is below 65,535, so a free id exists.
    while (true) {
      const std::uint16_t id = s.next_packet_id;
      s.next_packet_id = static_cast<std::uint16_t>(id == 65535 ? 1 : id + 1);
      const bool used = std::any_of(s.inflight.begin(), s.inflight.end(),
                                    [&](const inflight_entry& e) { return e.packet_id == id; });
      if (!used) {
        return id;
      }
    }
  }

  // Sends one PUBLISH. False when it must not go out: expired, or larger than the client accepts
  // (then it is discarded as if delivered [MQTT-3.1.2-25]).
  bool send_publish(const connection& c, const delivery& d, std::uint16_t packet_id, bool dup,
                    steady_time now) {
    const message& m = *d.msg;
    if (m.expired(now)) {
      ++stats.dropped_expired;
      return false;
    }
    mqtt::publish p;
    p.topic = m.topic;
    p.payload = m.payload;
    p.qos = d.q;
    p.retain = d.retain;
    p.dup = dup;
    p.packet_id = packet_id;
    p.properties = m.properties;
    if (m.expires_at) {
      // [MQTT-3.3.2-6]: the interval sent is what is left of it, rounded up so a live message
      // never goes out as 0.
      const auto left = std::chrono::ceil<std::chrono::seconds>(*m.expires_at - now);
      p.properties.message_expiry_interval = static_cast<std::uint32_t>(left.count());
    }
    p.properties.subscription_identifiers = d.subscription_ids;
    auto size = mqtt::encoded_size(p, c.version);
    if (!size || *size > c.client_maximum_packet_size) {
      ++stats.dropped_too_large;
      return false;
    }
    send(c, std::move(p));
    return true;
  }

  void enqueue(session& s, delivery&& d) {
    const std::size_t cost = d.msg->cost();
    const auto full = [&] {
      return s.queue.size() >= limits.max_queued_messages ||
             s.queue_bytes + cost > limits.max_queued_bytes;
    };
    if (limits.overflow == queue_overflow::drop_oldest) {
      while (full() && !s.queue.empty()) {
        s.queue_bytes -= s.queue.front().msg->cost();
        s.queue.pop_front();
        ++s.dropped;
        ++stats.dropped_queue_full;
      }
    }
    if (full()) {
      ++s.dropped;
      ++stats.dropped_queue_full;
      return;
    }
    s.queue_bytes += cost;
    s.queue.push_back(std::move(d));
  }

  // Starts a QoS 1/2 delivery now if the client's window has room.
  void start_inflight(session& s, const connection& c, delivery&& d, steady_time now) {
    const std::uint16_t id = allocate_packet_id(s);
    if (send_publish(c, d, id, false, now)) {
      s.inflight.push_back(inflight_entry{id, std::move(d), false});
    }
  }

  void deliver(session& s, delivery&& d, steady_time now) {
    if (!s.conn) {
      if (d.q == qos::at_most_once) {
        ++stats.dropped_qos0_offline;
        return;
      }
      enqueue(s, std::move(d));
      return;
    }
    const connection& c = conns.at(*s.conn);
    if (c.congested) {
      if (d.q == qos::at_most_once) {
        ++stats.dropped_qos0_congested;
        return;
      }
      enqueue(s, std::move(d));
      return;
    }
    if (d.q == qos::at_most_once) {
      send_publish(c, d, 0, false, now);
      return;
    }
    // Order is kept: nothing overtakes the queue.
    if (s.queue.empty() && s.inflight.size() < c.client_receive_maximum) {
      start_inflight(s, c, std::move(d), now);
      return;
    }
    enqueue(s, std::move(d));
  }

  // Moves queued messages into the window while it has room.
  void pump(session& s, steady_time now) {
    if (!s.conn) {
      return;
    }
    const connection& c = conns.at(*s.conn);
    if (c.congested) {
      return;
    }
    while (!s.queue.empty()) {
      delivery& front = s.queue.front();
      if (front.q != qos::at_most_once && s.inflight.size() >= c.client_receive_maximum) {
        return;
      }
      delivery d = std::move(front);
      s.queue_bytes -= d.msg->cost();
      s.queue.pop_front();
      if (d.q == qos::at_most_once) {
        send_publish(c, d, 0, false, now);
      } else {
        start_inflight(s, c, std::move(d), now);
      }
    }
  }

  // Fans a message out to every matching subscription; returns how many sessions it reached.
  std::size_t route(const message_ptr& m, steady_time now) {
    tree.match(m->topic, matches);
    // Overlapping plain subscriptions of one session give one delivery with the highest QoS
    // and every subscription identifier (§3.3.4); shared ones are deliveries of their own.
    std::stable_sort(matches.begin(), matches.end(),
                     [](const match_result& a, const match_result& b) {
                       return std::pair(a.shared, a.id) < std::pair(b.shared, b.id);
                     });
    std::size_t reached = 0;
    for (std::size_t i = 0; i < matches.size();) {
      const match_result first = matches[i];
      std::size_t end = i + 1;
      if (!first.shared) {
        while (end < matches.size() && !matches[end].shared && matches[end].id == first.id) {
          ++end;
        }
      }
      delivery d;
      d.msg = m;
      bool any = false;
      for (std::size_t k = i; k < end; ++k) {
        const match_result& r = matches[k];
        // [MQTT-3.8.3-3]: no-local.
        if (!r.shared && r.options.no_local && r.id == m->origin_session) {
          continue;
        }
        const qos q = min_qos(m->qos, r.options.max_qos);
        d.q = any ? std::max(d.q, q) : q;
        // [MQTT-3.3.1-12/13]: retain-as-published keeps the flag, otherwise it is cleared.
        d.retain = d.retain || (r.options.retain_as_published && m->retain);
        if (r.options.subscription_identifier != 0) {
          d.subscription_ids.push_back(r.options.subscription_identifier);
        }
        any = true;
      }
      i = end;
      if (!any) {
        continue;
      }
      auto sit = by_id.find(first.id);
      if (sit == by_id.end()) {
        continue;
      }
      ++reached;
      deliver(*sit->second, std::move(d), now);
    }
    return reached;
  }

  // --- inbound ----------------------------------------------------------------------------

  void on_publish(connection& c, session& s, mqtt::publish&& p, steady_time now) {
    if (c.version == protocol_version::v5 && p.properties.topic_alias) {
      const std::uint16_t alias = *p.properties.topic_alias;
      // [MQTT-3.3.2-9/10]: 0 or above our Topic Alias Maximum.
      if (alias == 0 || alias > c.topic_aliases.size()) {
        fail(c.id, reason_code::topic_alias_invalid, now);
        return;
      }
      std::string& slot = c.topic_aliases[alias - 1U];
      if (p.topic.empty()) {
        if (slot.empty()) {
          // An alias never set: a Protocol Error (§3.3.2.3.4).
          fail(c.id, reason_code::protocol_error, now);
          return;
        }
        p.topic = slot;
      } else {
        slot = p.topic;
      }
    }
    if (p.qos == qos::exactly_once && s.inbound_qos2.contains(p.packet_id)) {
      // A resend of a QoS 2 PUBLISH already taken: acknowledge again, deliver once (§4.3.3).
      mqtt::pubrec rec;
      rec.packet_id = p.packet_id;
      send(c, rec);
      return;
    }
    if (p.qos == qos::exactly_once && s.inbound_qos2.size() >= limits.receive_maximum) {
      fail(c.id, reason_code::receive_maximum_exceeded, now); // [MQTT-3.3.4-9]
      return;
    }
    const authz_decision allowed = authz.can_publish(s.identity.who, p.topic);
    if (!allowed.allowed) {
      if (c.version == protocol_version::v3_1_1) {
        fail(c.id, reason_code::not_authorized, now);
        return;
      }
      ack(c, p, to_reason_code(allowed));
      return;
    }
    auto m = std::make_shared<message>();
    m->topic = std::move(p.topic);
    m->payload = std::move(p.payload);
    m->qos = p.qos;
    m->retain = p.retain;
    m->properties = std::move(p.properties);
    m->properties.topic_alias.reset();
    m->properties.subscription_identifiers.clear();
    if (m->properties.message_expiry_interval) {
      m->expires_at = now + std::chrono::seconds{*m->properties.message_expiry_interval};
    }
    m->origin_session = s.id;
    if (m->retain) {
      if (auto stored = retained.store(m); !stored) {
        ++stats.retained_refused;
        if (c.version == protocol_version::v5 && p.qos != qos::at_most_once) {
          ack(c, p, reason_code::quota_exceeded);
          return;
        }
      }
    }
    const std::size_t reached = route(m, now);
    if (p.qos == qos::exactly_once) {
      s.inbound_qos2.insert(p.packet_id);
    }
    ack(c, p,
        reached == 0 && c.version == protocol_version::v5 ? reason_code::no_matching_subscribers
                                                          : reason_code::success);
  }

  void ack(const connection& c, const mqtt::publish& p, reason_code reason) {
    if (p.qos == qos::at_least_once) {
      mqtt::puback a;
      a.packet_id = p.packet_id;
      a.reason = reason;
      send(c, a);
    } else if (p.qos == qos::exactly_once) {
      mqtt::pubrec r;
      r.packet_id = p.packet_id;
      r.reason = reason;
      send(c, r);
    }
  }

  void on_subscribe(connection& c, session& s, const mqtt::subscribe& sub, steady_time now) {
    mqtt::suback ack;
    ack.packet_id = sub.packet_id;
    const std::uint32_t sub_id = sub.properties.subscription_identifier.value_or(0);
    std::vector<std::pair<message_ptr, subscriber_options>> to_send;
    for (const auto& entry : sub.subscriptions) {
      const authz_decision allowed = authz.can_subscribe(s.identity.who, entry.filter);
      if (!allowed.allowed) {
        ack.reasons.push_back(c.version == protocol_version::v5 ? to_reason_code(allowed)
                                                                : reason_code::unspecified_error);
        continue;
      }
      const bool known = s.subscriptions.contains(std::string_view(entry.filter));
      if (!known && s.subscriptions.size() >= limits.max_subscriptions) {
        ack.reasons.push_back(c.version == protocol_version::v5 ? reason_code::quota_exceeded
                                                                : reason_code::unspecified_error);
        continue;
      }
      subscriber_options o;
      o.max_qos = entry.options.max_qos;
      o.no_local = entry.options.no_local;
      o.retain_as_published = entry.options.retain_as_published;
      o.retain_handling = entry.options.retain_handling;
      o.subscription_identifier = sub_id;
      const bool is_new = tree.subscribe(entry.filter, s.id, o);
      s.subscriptions[entry.filter] = o;
      ack.reasons.push_back(granted(o.max_qos));
      // [MQTT-3.3.1-9/10/11] retain handling; none for shared subscriptions (§4.8.2).
      const bool send_retained =
          !mqtt::is_shared_subscription(entry.filter) &&
          (o.retain_handling == mqtt::retain_handling::send_on_subscribe ||
           (o.retain_handling == mqtt::retain_handling::send_if_new_subscription && is_new));
      if (send_retained) {
        std::vector<message_ptr> found;
        retained.match(entry.filter, now, found);
        for (auto& m : found) {
          to_send.emplace_back(std::move(m), o);
        }
      }
    }
    send(c, std::move(ack));
    for (auto& [m, o] : to_send) {
      delivery d;
      d.q = min_qos(m->qos, o.max_qos);
      d.retain = true; // retained messages sent on subscribe keep RETAIN [MQTT-3.3.1-9]
      if (o.subscription_identifier != 0) {
        d.subscription_ids.push_back(o.subscription_identifier);
      }
      d.msg = std::move(m);
      deliver(s, std::move(d), now);
    }
  }

  void on_unsubscribe(connection& c, session& s, const mqtt::unsubscribe& u) {
    mqtt::unsuback ack;
    ack.packet_id = u.packet_id;
    for (const auto& filter : u.filters) {
      const bool removed = tree.unsubscribe(filter, s.id);
      if (auto it = s.subscriptions.find(std::string_view(filter)); it != s.subscriptions.end()) {
        s.subscriptions.erase(it);
      }
      ack.reasons.push_back(removed ? reason_code::success : reason_code::no_subscription_existed);
    }
    send(c, std::move(ack));
  }

  inflight_entry* find_inflight(session& s, std::uint16_t id) {
    auto it = std::find_if(s.inflight.begin(), s.inflight.end(),
                           [&](const inflight_entry& e) { return e.packet_id == id; });
    return it == s.inflight.end() ? nullptr : &*it;
  }

  void erase_inflight(session& s, std::uint16_t id) {
    auto it = std::find_if(s.inflight.begin(), s.inflight.end(),
                           [&](const inflight_entry& e) { return e.packet_id == id; });
    if (it != s.inflight.end()) {
      s.inflight.erase(it);
    }
  }

  void on_disconnect_packet(connection& c, session& s, const mqtt::disconnect& d, steady_time now) {
    if (c.version == protocol_version::v5 && d.properties.session_expiry_interval) {
      // [MQTT-3.14.2-2] (§3.14.2.2.2): from 0 at CONNECT to non-zero is a Protocol Error.
      if (s.expiry_interval == 0 && *d.properties.session_expiry_interval != 0) {
        fail(c.id, reason_code::protocol_error, now);
        return;
      }
      s.expiry_interval =
          std::min(*d.properties.session_expiry_interval, limits.max_session_expiry);
    }
    // [MQTT-3.1.2-10]: only Normal disconnection (0x00) removes the will; 0x04 and the error
    // codes leave it to be published.
    const bool keep_will =
        c.version == protocol_version::v5 && d.reason != reason_code::normal_disconnection;
    const connection_id id = c.id;
    out.push_back(close_action{id, d.reason});
    connection_lost(id, !keep_will, now);
  }

  // Per-connection abuse limits (habit 15), before any work is done for the packet.
  bool within_rate(connection& c, mqtt::packet_type type, steady_time now) {
    switch (type) {
    case mqtt::packet_type::publish:
      return c.publish_bucket.try_take(now);
    case mqtt::packet_type::subscribe:
    case mqtt::packet_type::unsubscribe:
      return c.subscribe_bucket.try_take(now);
    case mqtt::packet_type::pingreq:
      return c.ping_bucket.try_take(now);
    default:
      return true;
    }
  }

  void dispatch(connection& c, session& s, mqtt::packet&& p, steady_time now) {
    if (!within_rate(c, mqtt::type_of(p), now)) {
      fail(c.id, reason_code::message_rate_too_high, now);
      return;
    }
    switch (mqtt::type_of(p)) {
    case mqtt::packet_type::publish:
      on_publish(c, s, std::get<mqtt::publish>(std::move(p)), now);
      return;
    case mqtt::packet_type::puback: {
      const auto& a = std::get<mqtt::puback>(p);
      if (auto* e = find_inflight(s, a.packet_id); e && e->d.q == qos::at_least_once) {
        erase_inflight(s, a.packet_id);
        pump(s, now);
      }
      return;
    }
    case mqtt::packet_type::pubrec: {
      const auto& r = std::get<mqtt::pubrec>(p);
      auto* e = find_inflight(s, r.packet_id);
      if (e == nullptr || e->d.q != qos::exactly_once) {
        mqtt::pubrel rel;
        rel.packet_id = r.packet_id;
        rel.reason = reason_code::packet_identifier_not_found;
        send(c, rel);
        return;
      }
      if (static_cast<std::uint8_t>(r.reason) >= 0x80) {
        // The receiver refused it: the flow ends here (§4.3.3).
        erase_inflight(s, r.packet_id);
        pump(s, now);
        return;
      }
      e->released = true;
      mqtt::pubrel rel;
      rel.packet_id = r.packet_id;
      send(c, rel);
      return;
    }
    case mqtt::packet_type::pubrel: {
      const auto& r = std::get<mqtt::pubrel>(p);
      mqtt::pubcomp comp;
      comp.packet_id = r.packet_id;
      if (s.inbound_qos2.erase(r.packet_id) == 0) {
        comp.reason = reason_code::packet_identifier_not_found;
      }
      send(c, comp);
      return;
    }
    case mqtt::packet_type::pubcomp: {
      const auto& r = std::get<mqtt::pubcomp>(p);
      if (auto* e = find_inflight(s, r.packet_id); e && e->released) {
        erase_inflight(s, r.packet_id);
        pump(s, now);
      }
      return;
    }
    case mqtt::packet_type::subscribe:
      on_subscribe(c, s, std::get<mqtt::subscribe>(p), now);
      return;
    case mqtt::packet_type::unsubscribe:
      on_unsubscribe(c, s, std::get<mqtt::unsubscribe>(p));
      return;
    case mqtt::packet_type::pingreq:
      send(c, mqtt::pingresp{});
      return;
    case mqtt::packet_type::disconnect:
      on_disconnect_packet(c, s, std::get<mqtt::disconnect>(p), now);
      return;
    case mqtt::packet_type::connect: // a second CONNECT [MQTT-3.1.0-2]
    case mqtt::packet_type::auth:    // enhanced authentication is not offered
    default:
      fail(c.id, reason_code::protocol_error, now);
      return;
    }
  }

  // --- connect ----------------------------------------------------------------------------

  void connect(connection_id id, mqtt::connect&& p, const client_identity& who, steady_time now) {
    if (conns.contains(id)) {
      fail(id, reason_code::protocol_error, now);
      return;
    }
    connection c;
    c.id = id;
    c.version = p.version;
    c.keep_alive = std::chrono::seconds{p.keep_alive};
    c.last_seen = now;
    c.credential_expires_at = who.credential_expires_at;
    c.publish_bucket = token_bucket(limits.publish_rate, now);
    c.subscribe_bucket = token_bucket(limits.subscribe_rate, now);
    c.ping_bucket = token_bucket(limits.ping_rate, now);
    const bool v5 = p.version == protocol_version::v5;
    mqtt::connack ack;
    if (p.client_id.empty()) {
      if (!v5 && !p.clean_start) {
        // 3.1.1 [MQTT-3.1.3-8]: a zero-byte id needs Clean Session.
        ack.reason = reason_code::client_identifier_not_valid;
        send(c, ack);
        out.push_back(close_action{id, ack.reason});
        return;
      }
      p.client_id = "aegis-" + std::to_string(next_assigned_id++);
      if (v5) {
        ack.properties.assigned_client_identifier = p.client_id;
      }
    }
    c.client_receive_maximum = limits.max_outbound_inflight;
    if (v5) {
      c.client_receive_maximum =
          std::min(p.properties.receive_maximum.value_or(65535), limits.max_outbound_inflight);
      c.client_maximum_packet_size =
          p.properties.maximum_packet_size.value_or(mqtt::max_packet_size);
      c.topic_aliases.resize(limits.topic_alias_maximum);
    }

    session* s = nullptr;
    if (auto it = by_client_id.find(std::string_view(p.client_id)); it != by_client_id.end()) {
      s = it->second.get();
    }
    if (s != nullptr && !same_principal(s->identity.who, who.who)) {
      // A client id names a session, not who may use it: another principal may neither resume
      // it (its subscriptions were authorized for their owner) nor take it over.
      ++stats.foreign_session_refused;
      ack.reason = reason_code::not_authorized;
      send(c, ack);
      out.push_back(close_action{id, ack.reason});
      return;
    }
    if (s != nullptr && s->conn) {
      // Takeover [MQTT-3.1.4-3]: the old connection is told and forgotten first, so that its
      // late close finds nothing. Its will: dropped when the session is resumed (the client is
      // back [MQTT-3.1.3-9]), published when Clean Start ends the session.
      ++stats.takeovers;
      const connection_id old = *s->conn;
      auto oit = conns.find(old);
      if (oit != conns.end()) {
        if (oit->second.version == protocol_version::v5) {
          mqtt::disconnect d;
          d.reason = reason_code::session_taken_over;
          send(oit->second, d);
        }
        conns.erase(oit);
      }
      out.push_back(close_action{old, reason_code::session_taken_over});
      s->conn.reset();
      if (!p.clean_start) {
        s->will.reset();
      }
    }
    if (s != nullptr && p.clean_start) {
      end_session(s->id, now);
      s = nullptr;
    }
    if (s != nullptr) {
      // Resumed before any pending will fired: it is not sent [MQTT-3.1.3-9].
      s->will.reset();
      s->will_at.reset();
      s->expires_at.reset();
      ack.session_present = true;
    } else {
      auto fresh = std::make_unique<session>();
      fresh->id = next_session_id++;
      fresh->client_id = p.client_id;
      s = fresh.get();
      by_id.emplace(s->id, s);
      by_client_id.emplace(p.client_id, std::move(fresh));
    }
    s->identity = who;
    s->version = p.version;
    if (v5) {
      const std::uint32_t asked = p.properties.session_expiry_interval.value_or(0);
      s->expiry_interval = std::min(asked, limits.max_session_expiry);
      if (s->expiry_interval != asked) {
        ack.properties.session_expiry_interval = s->expiry_interval;
      }
    } else {
      s->expiry_interval = p.clean_start ? 0 : limits.max_session_expiry;
    }
    s->will = std::move(p.will);
    s->conn = id;
    c.session_id = s->id;
    if (v5) {
      ack.properties.receive_maximum = limits.receive_maximum;
      ack.properties.maximum_packet_size = limits.maximum_packet_size;
      if (limits.topic_alias_maximum > 0) {
        ack.properties.topic_alias_maximum = limits.topic_alias_maximum;
      }
    }
    auto [cit, inserted] = conns.emplace(id, std::move(c));
    send(cit->second, ack);
    if (ack.session_present) {
      resend_inflight(*s, cit->second, now);
      pump(*s, now);
    }
  }

  // [MQTT-4.4.0-1]: on resumption unacknowledged PUBLISH go again with DUP, PUBRELs again.
  void resend_inflight(session& s, const connection& c, steady_time now) {
    for (auto it = s.inflight.begin(); it != s.inflight.end();) {
      if (it->released) {
        mqtt::pubrel rel;
        rel.packet_id = it->packet_id;
        send(c, rel);
        ++it;
        continue;
      }
      if (send_publish(c, it->d, it->packet_id, true, now)) {
        ++it;
      } else {
        it = s.inflight.erase(it);
      }
    }
  }

  void tick(steady_time now) {
    std::vector<std::pair<connection_id, reason_code>> to_close;
    for (const auto& [id, c] : conns) {
      // [MQTT-3.1.2-22]: one and a half times the Keep Alive without a packet.
      if (c.keep_alive.count() > 0 && now - c.last_seen > c.keep_alive * 3 / 2) {
        to_close.emplace_back(id, reason_code::keep_alive_timeout);
      } else if (c.credential_expires_at && *c.credential_expires_at <= now) {
        // The credential ran out on a live connection (STYLE.md pitfall "Auth lifecycle"):
        // 0xA0 Maximum connect time, as the connection may not outlive its credential.
        to_close.emplace_back(id, reason_code::maximum_connect_time);
      }
    }
    std::sort(to_close.begin(), to_close.end()); // deterministic action order
    for (const auto& [id, reason] : to_close) {
      fail(id, reason, now);
    }
    std::vector<std::uint64_t> wills;
    std::vector<std::uint64_t> expired;
    for (const auto& [sid, s] : by_id) {
      if (s->conn) {
        continue;
      }
      if (s->will && s->will_at && *s->will_at <= now) {
        wills.push_back(sid);
      }
      if (s->expires_at && *s->expires_at <= now) {
        expired.push_back(sid);
      }
    }
    std::sort(wills.begin(), wills.end());
    std::sort(expired.begin(), expired.end());
    for (const auto sid : wills) {
      if (auto it = by_id.find(sid); it != by_id.end() && it->second->will) {
        publish_will(*it->second, now);
      }
    }
    for (const auto sid : expired) {
      end_session(sid, now);
    }
    retained.purge_expired(now);
  }
};

broker_core::broker_core(broker_limits limits, const authorizer& authz)
    : state_(std::make_unique<state>(limits, authz)) {}
broker_core::~broker_core() = default;

actions broker_core::on_connect(connection_id conn, mqtt::connect&& packet,
                                const client_identity& who, steady_time now) {
  state_->out.clear();
  state_->connect(conn, std::move(packet), who, now);
  return std::exchange(state_->out, {});
}

actions broker_core::on_packet(connection_id conn, mqtt::packet&& packet, steady_time now) {
  state_->out.clear();
  auto it = state_->conns.find(conn);
  if (it == state_->conns.end()) {
    return {}; // closed already (takeover, keep-alive, error): nothing may reach a new session
  }
  it->second.last_seen = now;
  session* s = state_->session_of(it->second);
  if (s == nullptr) {
    return {};
  }
  state_->dispatch(it->second, *s, std::move(packet), now);
  return std::exchange(state_->out, {});
}

actions broker_core::on_disconnect(connection_id conn, transport_close /*cause*/, steady_time now) {
  state_->out.clear();
  state_->connection_lost(conn, false, now);
  return std::exchange(state_->out, {});
}

actions broker_core::on_backpressure(connection_id conn, bool congested, steady_time now) {
  state_->out.clear();
  auto it = state_->conns.find(conn);
  if (it == state_->conns.end() || it->second.congested == congested) {
    return {};
  }
  it->second.congested = congested;
  if (!congested) {
    if (session* s = state_->session_of(it->second)) {
      state_->pump(*s, now);
    }
  }
  return std::exchange(state_->out, {});
}

actions broker_core::shutdown(steady_time now) {
  state_->out.clear();
  std::vector<connection_id> ids;
  for (const auto& [id, c] : state_->conns) {
    ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  for (const connection_id id : ids) {
    const connection& c = state_->conns.at(id);
    if (c.version == protocol_version::v5) {
      mqtt::disconnect d;
      d.reason = reason_code::server_shutting_down;
      state_->send(c, d);
    }
    state_->out.push_back(close_action{id, reason_code::server_shutting_down});
    if (session* s = state_->session_of(c)) {
      s->conn.reset();
      s->will.reset();
      if (s->expiry_interval == 0) {
        state_->end_session(s->id, now);
      }
    }
  }
  state_->conns.clear();
  return std::exchange(state_->out, {});
}

actions broker_core::kick(std::string_view client_id, mqtt::reason_code reason, steady_time now) {
  state_->out.clear();
  auto it = state_->by_client_id.find(client_id);
  if (it == state_->by_client_id.end()) {
    return {};
  }
  const std::uint64_t sid = it->second->id;
  if (it->second->conn) {
    state_->fail(*it->second->conn, reason, now);
  }
  state_->end_session(sid, now);
  return std::exchange(state_->out, {});
}

actions broker_core::publish(message m, steady_time now) {
  state_->out.clear();
  m.origin_session = 0;
  m.retain = false;
  auto ptr = std::make_shared<const message>(std::move(m));
  (void)state_->route(ptr, now);
  return std::exchange(state_->out, {});
}

actions broker_core::deliver_to(std::string_view client_id, message m, mqtt::qos q,
                                steady_time now) {
  state_->out.clear();
  auto it = state_->by_client_id.find(client_id);
  if (it == state_->by_client_id.end() || !it->second->conn) {
    return {};
  }
  m.origin_session = 0;
  m.retain = false;
  delivery d;
  d.q = q;
  d.msg = std::make_shared<const message>(std::move(m));
  state_->deliver(*it->second, std::move(d), now);
  return std::exchange(state_->out, {});
}

actions broker_core::on_tick(steady_time now) {
  state_->out.clear();
  state_->tick(now);
  return std::exchange(state_->out, {});
}

const broker_stats& broker_core::stats() const noexcept {
  return state_->stats;
}

std::optional<session_info> broker_core::find_session(std::string_view client_id) const {
  auto it = state_->by_client_id.find(client_id);
  if (it == state_->by_client_id.end()) {
    return std::nullopt;
  }
  const session& s = *it->second;
  session_info info;
  info.connected = s.conn.has_value();
  info.subscriptions = s.subscriptions.size();
  info.inflight = s.inflight.size();
  info.queued = s.queue.size();
  info.queued_bytes = s.queue_bytes;
  info.dropped = s.dropped;
  info.will_pending = !s.conn && s.will.has_value();
  return info;
}

std::size_t broker_core::session_count() const noexcept {
  return state_->by_client_id.size();
}

std::size_t broker_core::connection_count() const noexcept {
  return state_->conns.size();
}

const retained_store& broker_core::retained() const noexcept {
  return state_->retained;
}

} // namespace aegis::broker
