#include "aegis/broker/broker_core.hpp"

#include "aegis/broker/subscription_tree.hpp"
#include "aegis/mqtt/codec.hpp"
#include "aegis/mqtt/topic.hpp"
#include "persistence_format.hpp"
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
  std::uint64_t seq = 0; // its queue record's key in the session (persistence); 0: none
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
  bool persisted = false;     // its records are in the journal's store
  std::uint64_t next_seq = 1; // for queue record keys
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

// A message held in the store's message table, shared by every queue record naming it.
struct stored_message {
  std::uint64_t id = 0;
  std::size_t refs = 0;
  message_ptr msg; // keeps the address (the table's key) from being reused while stored
};

struct journal_state {
  steady_time steady_anchor{};
  wall_time wall_anchor{};
  state_journal changes;
  std::unordered_map<const message*, stored_message> stored;
  std::uint64_t next_message_id = 1;
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
    retained.set_observer([this](const std::string& topic, const message_ptr& m) {
      if (!persist || restoring) {
        return;
      }
      if (!m) {
        erase_record(state_space::retained, topic);
        return;
      }
      if (auto value = detail::encode_message(*m, wall_ms_of(m->expires_at))) {
        put_record(state_space::retained, topic, std::move(*value));
      } else {
        ++stats.not_persisted;
      }
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
  std::optional<journal_state> persist; // engaged by restore()
  bool restoring = false;

  // --- persistence: journal of durable state (README "Persistence") ------------------------

  void put_record(state_space space, std::string key, bytes value) {
    persist->changes.push_back(state_change{space, std::move(key), std::move(value)});
  }
  void erase_record(state_space space, std::string key) {
    persist->changes.push_back(state_change{space, std::move(key), std::nullopt});
  }

  std::optional<std::int64_t> wall_ms_of(std::optional<steady_time> t) const {
    if (!t) {
      return std::nullopt;
    }
    const auto wall = persist->wall_anchor +
                      std::chrono::duration_cast<wall_time::duration>(*t - persist->steady_anchor);
    return std::chrono::duration_cast<std::chrono::milliseconds>(wall.time_since_epoch()).count();
  }

  bool should_persist(const session& s) const {
    return persist && s.expiry_interval != 0 &&
           s.identity.who.kind == auth::identity_kind::application;
  }

  void save_session_record(const session& s) {
    detail::session_record r;
    r.version = s.version;
    r.expiry_interval = s.expiry_interval;
    if (!s.conn) {
      r.expires_at_ms = wall_ms_of(s.expires_at);
    }
    r.method = s.identity.who.method;
    r.account = s.identity.who.account;
    put_record(state_space::session, s.client_id, detail::encode_session(r));
  }

  // Brings the store in line with the session: its record rewritten when it should be durable
  // (and everything it holds written the first time), all of it erased when it no longer should.
  void sync_session(session& s) {
    if (!persist) {
      return;
    }
    if (!should_persist(s)) {
      if (s.persisted) {
        forget_records(s);
      }
      return;
    }
    save_session_record(s);
    if (s.persisted) {
      return;
    }
    s.persisted = true;
    for (const auto& [filter, o] : s.subscriptions) {
      put_record(state_space::subscription, detail::child_key(s.client_id, filter),
                 detail::encode_subscription(o));
    }
    for (auto& e : s.inflight) {
      track(s, e.d, e.released ? detail::entry_state::released : detail::entry_state::inflight,
            e.packet_id);
    }
    for (auto& d : s.queue) {
      track(s, d, detail::entry_state::queued, 0);
    }
    for (const auto id : s.inbound_qos2) {
      put_record(state_space::inbound_qos2, detail::child_key(s.client_id, detail::u16_key(id)),
                 detail::encode_marker());
    }
  }

  void forget_records(session& s) {
    erase_record(state_space::session, s.client_id);
    for (const auto& [filter, o] : s.subscriptions) {
      erase_record(state_space::subscription, detail::child_key(s.client_id, filter));
    }
    for (auto& e : s.inflight) {
      untrack(s, e.d);
    }
    for (auto& d : s.queue) {
      untrack(s, d);
    }
    for (const auto id : s.inbound_qos2) {
      erase_record(state_space::inbound_qos2, detail::child_key(s.client_id, detail::u16_key(id)));
    }
    s.persisted = false;
  }

  void save_subscription(const session& s, const std::string& filter, const subscriber_options& o) {
    if (s.persisted) {
      put_record(state_space::subscription, detail::child_key(s.client_id, filter),
                 detail::encode_subscription(o));
    }
  }

  void save_inbound_qos2(const session& s, std::uint16_t id, bool present) {
    if (!s.persisted) {
      return;
    }
    auto key = detail::child_key(s.client_id, detail::u16_key(id));
    if (present) {
      put_record(state_space::inbound_qos2, std::move(key), detail::encode_marker());
    } else {
      erase_record(state_space::inbound_qos2, std::move(key));
    }
  }

  // The message's id in the store's message table, written the first time a queue names it.
  std::optional<std::uint64_t> ref_message(const message_ptr& m) {
    if (auto it = persist->stored.find(m.get()); it != persist->stored.end()) {
      ++it->second.refs;
      return it->second.id;
    }
    auto value = detail::encode_message(*m, wall_ms_of(m->expires_at));
    if (!value) {
      ++stats.not_persisted;
      return std::nullopt;
    }
    const std::uint64_t id = persist->next_message_id++;
    put_record(state_space::message, detail::u64_key(id), std::move(*value));
    persist->stored.emplace(m.get(), stored_message{id, 1, m});
    return id;
  }

  void unref_message(const message* m) {
    auto it = persist->stored.find(m);
    if (it == persist->stored.end()) {
      return;
    }
    if (--it->second.refs == 0) {
      erase_record(state_space::message, detail::u64_key(it->second.id));
      persist->stored.erase(it);
    }
  }

  // Writes (or rewrites, with its new state) the queue record of a QoS 1/2 delivery of a
  // durable session.
  void track(session& s, delivery& d, detail::entry_state st, std::uint16_t packet_id) {
    if (!s.persisted || d.q == qos::at_most_once) {
      return;
    }
    if (d.seq == 0) {
      if (!ref_message(d.msg)) {
        return;
      }
      d.seq = s.next_seq++;
    }
    detail::queue_record r;
    r.message_id = persist->stored.at(d.msg.get()).id;
    r.q = d.q;
    r.retain = d.retain;
    r.state = st;
    r.packet_id = st == detail::entry_state::queued ? 0 : packet_id;
    r.subscription_ids = d.subscription_ids;
    put_record(state_space::queue, detail::child_key(s.client_id, detail::u64_key(d.seq)),
               detail::encode_queue_entry(r));
  }

  // The delivery is done with (acknowledged, dropped, expired): its record goes.
  void untrack(const session& s, delivery& d) {
    if (d.seq == 0 || !persist) {
      return;
    }
    erase_record(state_space::queue, detail::child_key(s.client_id, detail::u64_key(d.seq)));
    unref_message(d.msg.get());
    d.seq = 0;
  }

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
      return;
    }
    if (s.expiry_interval != never_expires) {
      s.expires_at = now + std::chrono::seconds{s.expiry_interval};
    }
    sync_session(s);
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
    if (s.persisted) {
      forget_records(s);
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
        untrack(s, s.queue.front());
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
    track(s, s.queue.back(), detail::entry_state::queued, 0);
  }

  // Starts a QoS 1/2 delivery now if the client's window has room.
  void start_inflight(session& s, const connection& c, delivery&& d, steady_time now) {
    const std::uint16_t id = allocate_packet_id(s);
    if (send_publish(c, d, id, false, now)) {
      s.inflight.push_back(inflight_entry{id, std::move(d), false});
      track(s, s.inflight.back().d, detail::entry_state::inflight, id);
    } else {
      untrack(s, d);
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
        untrack(s, d);
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
      save_inbound_qos2(s, p.packet_id, true);
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
      // A client resubscribing on every connect (most do) costs no write.
      const auto previous = s.subscriptions.find(std::string_view(entry.filter));
      const bool unchanged = previous != s.subscriptions.end() && previous->second == o;
      s.subscriptions[entry.filter] = o;
      if (!unchanged) {
        save_subscription(s, entry.filter, o);
      }
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
        if (s.persisted) {
          erase_record(state_space::subscription, detail::child_key(s.client_id, filter));
        }
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
      untrack(s, it->d);
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
      track(s, e->d, detail::entry_state::released, e->packet_id);
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
      } else {
        save_inbound_qos2(s, r.packet_id, false);
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
        ++stats.session_expiry_capped;
      }
    } else {
      s->expiry_interval = p.clean_start ? 0 : limits.max_session_expiry;
    }
    s->will = std::move(p.will);
    s->conn = id;
    c.session_id = s->id;
    sync_session(*s);
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
        untrack(s, it->d);
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

  // --- restore ------------------------------------------------------------------------------

  restore_report restore(const state_snapshot& snap, steady_time now, wall_time wall_now) {
    restore_report rep;
    if (persist) {
      return rep; // once: a second snapshot would duplicate what the journal already holds
    }
    persist.emplace();
    persist->steady_anchor = now;
    persist->wall_anchor = wall_now;
    restoring = true;
    const std::int64_t now_ms = *wall_ms_of(now);
    // Expiry is at most an MQTT interval (u32 seconds) ahead; anything further is clamped so a
    // damaged value cannot overflow the clock arithmetic.
    constexpr std::int64_t max_ahead_ms = std::int64_t{0xFFFFFFFF} * 1000;
    const auto steady_of = [&](std::int64_t ms) {
      std::int64_t ahead = 0;
      if (ms > now_ms) {
        ahead = ms > now_ms + max_ahead_ms ? max_ahead_ms : ms - now_ms;
      }
      return now +
             std::chrono::duration_cast<steady_time::duration>(std::chrono::milliseconds{ahead});
    };
    const auto drop = [&](state_space space, const std::string& key, std::size_t& counter) {
      ++counter;
      erase_record(space, key);
    };

    std::unordered_map<std::uint64_t, message_ptr> messages;
    std::unordered_set<std::uint64_t> expired_ids;
    for (const auto& r : snap.of(state_space::message)) {
      const auto id = detail::parse_u64_key(r.key);
      auto m = detail::decode_message(r.value);
      if (!id || *id == 0 || !m) {
        drop(state_space::message, r.key, rep.unreadable);
        continue;
      }
      persist->next_message_id = std::max(persist->next_message_id, *id + 1);
      if (m->expires_at_ms && *m->expires_at_ms <= now_ms) {
        expired_ids.insert(*id);
        drop(state_space::message, r.key, rep.expired_messages);
        continue;
      }
      auto msg = std::make_shared<message>(std::move(m->msg));
      if (m->expires_at_ms) {
        msg->expires_at = steady_of(*m->expires_at_ms);
      }
      messages.emplace(*id, std::move(msg));
    }

    for (const auto& r : snap.of(state_space::session)) {
      const auto rec = detail::decode_session(r.value);
      if (r.key.empty() || r.key.find('\0') != std::string::npos || !rec ||
          by_client_id.contains(std::string_view(r.key))) {
        drop(state_space::session, r.key, rep.unreadable);
        continue;
      }
      const std::uint32_t interval = std::min(rec->expiry_interval, limits.max_session_expiry);
      if (interval == 0 || (rec->expires_at_ms && *rec->expires_at_ms <= now_ms)) {
        drop(state_space::session, r.key, rep.expired_sessions);
        continue;
      }
      auto fresh = std::make_unique<session>();
      fresh->id = next_session_id++;
      fresh->client_id = r.key;
      fresh->version = rec->version;
      fresh->expiry_interval = interval;
      fresh->identity.who.kind = auth::identity_kind::application;
      fresh->identity.who.method = rec->method;
      fresh->identity.who.client_id = r.key;
      fresh->identity.who.account = rec->account;
      if (interval != never_expires) {
        // Online when the server stopped: its offline time starts now.
        const auto capped = now + std::chrono::seconds{interval};
        fresh->expires_at =
            rec->expires_at_ms ? std::min(steady_of(*rec->expires_at_ms), capped) : capped;
      }
      fresh->persisted = true;
      by_id.emplace(fresh->id, fresh.get());
      by_client_id.emplace(r.key, std::move(fresh));
      ++rep.sessions;
    }

    const auto owner = [&](const std::string& key) -> std::pair<session*, std::string_view> {
      const auto parts = detail::split_child_key(key);
      if (!parts) {
        return {nullptr, {}};
      }
      auto it = by_client_id.find(parts->first);
      return {it == by_client_id.end() ? nullptr : it->second.get(), parts->second};
    };

    for (const auto& r : snap.of(state_space::subscription)) {
      const auto [s, filter] = owner(r.key);
      const auto o = detail::decode_subscription(r.value);
      if (!detail::split_child_key(r.key) || !o || !mqtt::validate_topic_filter(filter)) {
        drop(state_space::subscription, r.key, rep.unreadable);
        continue;
      }
      if (s == nullptr) {
        drop(state_space::subscription, r.key, rep.orphans);
        continue;
      }
      tree.subscribe(filter, s->id, *o);
      s->subscriptions[std::string(filter)] = *o;
      ++rep.subscriptions;
    }

    for (const auto& r : snap.of(state_space::queue)) {
      const auto [s, suffix] = owner(r.key);
      const auto seq = detail::parse_u64_key(suffix);
      const auto rec = detail::decode_queue_entry(r.value);
      if (!detail::split_child_key(r.key) || !seq || *seq == 0 || !rec) {
        drop(state_space::queue, r.key, rep.unreadable);
        continue;
      }
      auto m = messages.find(rec->message_id);
      if (m == messages.end() && expired_ids.contains(rec->message_id)) {
        ++stats.dropped_expired;
      }
      const bool id_taken =
          s != nullptr && rec->state != detail::entry_state::queued &&
          std::any_of(s->inflight.begin(), s->inflight.end(),
                      [&](const inflight_entry& e) { return e.packet_id == rec->packet_id; });
      if (s == nullptr || m == messages.end() || id_taken) {
        drop(state_space::queue, r.key, rep.orphans);
        continue;
      }
      delivery d;
      d.msg = m->second;
      d.q = rec->q;
      d.retain = rec->retain;
      d.subscription_ids = rec->subscription_ids;
      d.seq = *seq;
      s->next_seq = std::max(s->next_seq, *seq + 1);
      auto [it, fresh] = persist->stored.try_emplace(d.msg.get());
      if (fresh) {
        it->second = stored_message{rec->message_id, 0, d.msg};
      }
      ++it->second.refs;
      if (rec->state == detail::entry_state::queued) {
        s->queue_bytes += d.msg->cost();
        s->queue.push_back(std::move(d));
        ++rep.queued;
      } else {
        s->inflight.push_back(inflight_entry{rec->packet_id, std::move(d),
                                             rec->state == detail::entry_state::released});
        s->next_packet_id = static_cast<std::uint16_t>(
            rec->packet_id == 65535 ? 1 : std::max<int>(s->next_packet_id, rec->packet_id + 1));
        ++rep.inflight;
      }
    }
    // A store hands each space back in key order, which is send order; a store that did not
    // must still not reorder a session's messages.
    for (auto& [id, s] : by_id) {
      std::stable_sort(
          s->inflight.begin(), s->inflight.end(),
          [](const inflight_entry& a, const inflight_entry& b) { return a.d.seq < b.d.seq; });
      std::stable_sort(s->queue.begin(), s->queue.end(),
                       [](const delivery& a, const delivery& b) { return a.seq < b.seq; });
    }

    for (const auto& r : snap.of(state_space::inbound_qos2)) {
      const auto [s, suffix] = owner(r.key);
      const auto id = detail::parse_u16_key(suffix);
      if (!detail::split_child_key(r.key) || !id || *id == 0 || !detail::decode_marker(r.value)) {
        drop(state_space::inbound_qos2, r.key, rep.unreadable);
        continue;
      }
      if (s == nullptr) {
        drop(state_space::inbound_qos2, r.key, rep.orphans);
        continue;
      }
      s->inbound_qos2.insert(*id);
      ++rep.inbound_qos2;
    }

    for (const auto& r : snap.of(state_space::retained)) {
      auto m = detail::decode_message(r.value);
      if (!m || m->msg.topic != r.key || m->msg.payload.empty()) {
        drop(state_space::retained, r.key, rep.unreadable);
        continue;
      }
      if (m->expires_at_ms && *m->expires_at_ms <= now_ms) {
        drop(state_space::retained, r.key, rep.expired_messages);
        continue;
      }
      auto msg = std::make_shared<message>(std::move(m->msg));
      if (m->expires_at_ms) {
        msg->expires_at = steady_of(*m->expires_at_ms);
      }
      if (!retained.store(std::move(msg))) {
        // The quota was lowered since: what does not fit now is dropped, as it would be refused.
        ++stats.retained_refused;
        erase_record(state_space::retained, r.key);
        continue;
      }
      ++rep.retained;
    }

    for (const auto& [id, m] : messages) {
      if (!persist->stored.contains(m.get())) {
        drop(state_space::message, detail::u64_key(id), rep.orphans);
      }
    }
    restoring = false;
    return rep;
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
      } else {
        if (s->expiry_interval != never_expires) {
          s->expires_at = now + std::chrono::seconds{s->expiry_interval};
        }
        state_->sync_session(*s);
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

restore_report broker_core::restore(const state_snapshot& snapshot, steady_time now,
                                    wall_time wall_now) {
  return state_->restore(snapshot, now, wall_now);
}

state_journal broker_core::take_journal() {
  if (!state_->persist) {
    return {};
  }
  return std::exchange(state_->persist->changes, {});
}

bool broker_core::journaling() const noexcept {
  return state_->persist.has_value();
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
  info.persisted = s.persisted;
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
