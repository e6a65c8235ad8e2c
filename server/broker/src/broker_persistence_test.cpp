// broker_core persistence: the journal each transition writes, restore round trips, expiry
// across a restart, and damaged records.

#include "broker_core_test_support.hpp"
#include "memory_session_store.hpp"
#include "persistence_format.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace aegis::broker::testing {
namespace {

using namespace std::chrono_literals;

constexpr connection_id sub_conn = 1;
constexpr connection_id pub_conn = 2;

std::string child(std::string_view client, std::string_view rest) {
  return detail::child_key(client, rest);
}

std::size_t puts(const state_journal& j, state_space space) {
  return static_cast<std::size_t>(std::count_if(
      j.begin(), j.end(), [&](const state_change& c) { return c.space == space && c.value; }));
}
std::size_t erases(const state_journal& j, state_space space) {
  return static_cast<std::size_t>(std::count_if(
      j.begin(), j.end(), [&](const state_change& c) { return c.space == space && !c.value; }));
}
const state_change* last(const state_journal& j, state_space space) {
  for (auto it = j.rbegin(); it != j.rend(); ++it) {
    if (it->space == space) {
      return &*it;
    }
  }
  return nullptr;
}

class BrokerPersistence : public broker_fixture {
protected:
  void SetUp() override { (void)core().restore({}, now(), clock_.wall_now()); }

  // Applies what the core journaled since the last call to the store.
  state_journal commit() {
    auto j = core().take_journal();
    EXPECT_TRUE(store_.apply(j));
    return j;
  }
  // A new core (as after a restart) rebuilt from the store.
  restore_report restart() {
    commit();
    core_.reset();
    make(limits_);
    auto snap = store_.load();
    EXPECT_TRUE(snap);
    auto rep = core().restore(*snap, now(), clock_.wall_now());
    commit();
    return rep;
  }
  actions publish(std::string topic, std::string payload, qos q = qos::at_most_once,
                  std::uint16_t id = 0, bool retain = false) {
    return packet(pub_conn, publish_packet(std::move(topic), std::move(payload), q, id, retain));
  }

  broker_limits limits_;
  memory_session_store store_;
};

TEST_F(BrokerPersistence, NothingIsJournaledWithoutRestore) {
  core_.reset();
  make({});
  EXPECT_FALSE(core().journaling());
  connect_persistent(sub_conn, "sub");
  packet(sub_conn, subscribe_packet(1, "t", qos::at_least_once));
  EXPECT_TRUE(core().take_journal().empty());
}

TEST_F(BrokerPersistence, CleanSessionsAreNotJournaled) {
  connect(1, "clean5");
  connect(2, "clean3", protocol_version::v3_1_1, true);
  packet(1, subscribe_packet(1, "t", qos::at_least_once));
  packet(2, subscribe_packet(1, "t", qos::at_least_once));
  packet(2, publish_packet("t", "x", qos::at_least_once, 5));
  packet(1, publish_packet("t", "y", qos::exactly_once, 6));
  EXPECT_TRUE(commit().empty());
  EXPECT_EQ(store_.size(), 0U);
}

TEST_F(BrokerPersistence, SessionAndSubscriptionRecords) {
  connect_persistent(sub_conn, "sub", false, 600);
  auto j = commit();
  ASSERT_EQ(j.size(), 1U);
  EXPECT_EQ(j[0].space, state_space::session);
  EXPECT_EQ(j[0].key, "sub");
  auto rec = detail::decode_session(*j[0].value);
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->expiry_interval, 600U);
  EXPECT_FALSE(rec->expires_at_ms); // online
  EXPECT_EQ(rec->account, "device");

  packet(sub_conn, subscribe_packet(1, "a/+", qos::exactly_once));
  j = commit();
  ASSERT_EQ(j.size(), 1U);
  EXPECT_EQ(j[0].key, child("sub", "a/+"));
  EXPECT_EQ(detail::decode_subscription(*j[0].value)->max_qos, qos::exactly_once);

  mqtt::unsubscribe u;
  u.packet_id = 2;
  u.filters = {"a/+"};
  packet(sub_conn, u);
  j = commit();
  ASSERT_EQ(j.size(), 1U);
  EXPECT_EQ(j[0].key, child("sub", "a/+"));
  EXPECT_FALSE(j[0].value);

  // Going offline rewrites the record with its absolute end.
  drop(sub_conn);
  j = commit();
  ASSERT_EQ(j.size(), 1U);
  rec = detail::decode_session(*j[0].value);
  ASSERT_TRUE(rec && rec->expires_at_ms);
  const auto wall_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_.wall_now().time_since_epoch())
          .count();
  EXPECT_EQ(*rec->expires_at_ms, wall_ms + 600'000);

  // Clean Start ends it: every record goes.
  packet(sub_conn, subscribe_packet(1, "b", qos::at_least_once)); // conn 1 is gone: ignored
  connect_persistent(3, "sub", true, 0);
  j = commit();
  EXPECT_EQ(erases(j, state_space::session), 1U);
  EXPECT_EQ(store_.size(), 0U);
}

TEST_F(BrokerPersistence, ResubscribingUnchangedWritesNothing) {
  connect_persistent(sub_conn, "sub");
  packet(sub_conn, subscribe_packet(1, "t", qos::at_least_once));
  commit();
  packet(sub_conn, subscribe_packet(2, "t", qos::at_least_once));
  EXPECT_TRUE(commit().empty());
  packet(sub_conn, subscribe_packet(3, "t", qos::exactly_once));
  const auto j = commit();
  ASSERT_EQ(j.size(), 1U);
  EXPECT_EQ(detail::decode_subscription(*j[0].value)->max_qos, qos::exactly_once);
}

TEST_F(BrokerPersistence, QueuedMessageIsStoredOnceForManySessions) {
  for (const connection_id c : {connection_id{10}, connection_id{11}, connection_id{12}}) {
    connect_persistent(c, "s" + std::to_string(c));
    packet(c, subscribe_packet(1, "t", qos::at_least_once));
    drop(c);
  }
  connect(pub_conn, "pub");
  commit();
  const auto as = publish("t", "payload", qos::at_least_once, 9);
  EXPECT_EQ(sent<mqtt::puback>(as, pub_conn).size(), 1U);
  const auto j = commit();
  EXPECT_EQ(puts(j, state_space::message), 1U);
  EXPECT_EQ(puts(j, state_space::queue), 3U);
  const auto* q = last(j, state_space::queue);
  ASSERT_TRUE(q);
  const auto entry = detail::decode_queue_entry(*q->value);
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->state, detail::entry_state::queued);
  EXPECT_EQ(entry->q, qos::at_least_once);
  const auto msg = detail::decode_message(*last(j, state_space::message)->value);
  ASSERT_TRUE(msg);
  EXPECT_EQ(as_string_view(msg->msg.payload), "payload");
  EXPECT_EQ(msg->msg.topic, "t");
}

TEST_F(BrokerPersistence, Qos1QueueInflightAckErase) {
  connect_persistent(sub_conn, "sub");
  packet(sub_conn, subscribe_packet(1, "t", qos::at_least_once));
  drop(sub_conn);
  connect(pub_conn, "pub");
  publish("t", "one", qos::at_least_once, 1);
  commit();
  EXPECT_EQ(store_.count(state_space::queue), 1U);
  // Resumed: sent, the record becomes in flight with its packet id.
  auto as = connect_persistent(3, "sub");
  const auto pubs = sent<mqtt::publish>(as, 3);
  ASSERT_EQ(pubs.size(), 1U);
  auto j = commit();
  const auto* q = last(j, state_space::queue);
  ASSERT_TRUE(q && q->value);
  auto entry = detail::decode_queue_entry(*q->value);
  EXPECT_EQ(entry->state, detail::entry_state::inflight);
  EXPECT_EQ(entry->packet_id, pubs[0].packet_id);
  // PUBACK: the entry and the message (nobody else holds it) go.
  mqtt::puback ack;
  ack.packet_id = pubs[0].packet_id;
  packet(3, ack);
  j = commit();
  EXPECT_EQ(erases(j, state_space::queue), 1U);
  EXPECT_EQ(erases(j, state_space::message), 1U);
  EXPECT_EQ(store_.count(state_space::queue), 0U);
  EXPECT_EQ(store_.count(state_space::message), 0U);
}

TEST_F(BrokerPersistence, Qos2ReleasedStateAndInboundIds) {
  connect_persistent(sub_conn, "sub");
  packet(sub_conn, subscribe_packet(1, "t", qos::exactly_once));
  connect_persistent(pub_conn, "pub");
  commit();
  auto as = publish("t", "two", qos::exactly_once, 42);
  EXPECT_EQ(sent<mqtt::pubrec>(as, pub_conn).size(), 1U);
  const auto pubs = sent<mqtt::publish>(as, sub_conn);
  ASSERT_EQ(pubs.size(), 1U);
  auto j = commit();
  ASSERT_TRUE(last(j, state_space::inbound_qos2));
  EXPECT_EQ(last(j, state_space::inbound_qos2)->key, child("pub", detail::u16_key(42)));
  EXPECT_EQ(detail::decode_queue_entry(*last(j, state_space::queue)->value)->state,
            detail::entry_state::inflight);
  mqtt::pubrec rec;
  rec.packet_id = pubs[0].packet_id;
  packet(sub_conn, rec);
  j = commit();
  EXPECT_EQ(detail::decode_queue_entry(*last(j, state_space::queue)->value)->state,
            detail::entry_state::released);
  mqtt::pubrel rel;
  rel.packet_id = 42;
  packet(pub_conn, rel);
  j = commit();
  EXPECT_EQ(erases(j, state_space::inbound_qos2), 1U);
  mqtt::pubcomp comp;
  comp.packet_id = pubs[0].packet_id;
  packet(sub_conn, comp);
  j = commit();
  EXPECT_EQ(erases(j, state_space::queue), 1U);
  EXPECT_EQ(store_.count(state_space::queue), 0U);
  EXPECT_EQ(store_.count(state_space::message), 0U);
}

TEST_F(BrokerPersistence, RetainedPutAndErase) {
  connect(pub_conn, "pub");
  publish("r/1", "kept", qos::at_least_once, 1, true);
  auto j = commit();
  ASSERT_EQ(puts(j, state_space::retained), 1U);
  EXPECT_EQ(last(j, state_space::retained)->key, "r/1");
  publish("r/1", "", qos::at_most_once, 0, true);
  j = commit();
  EXPECT_EQ(erases(j, state_space::retained), 1U);
  EXPECT_EQ(store_.count(state_space::retained), 0U);
}

TEST_F(BrokerPersistence, DropOldestErasesTheDroppedRecord) {
  limits_.max_queued_messages = 2;
  core_.reset();
  make(limits_);
  (void)core().restore({}, now(), clock_.wall_now());
  connect_persistent(sub_conn, "sub");
  packet(sub_conn, subscribe_packet(1, "t", qos::at_least_once));
  drop(sub_conn);
  connect(pub_conn, "pub");
  for (int i = 0; i < 5; ++i) {
    publish("t", std::to_string(i), qos::at_least_once, static_cast<std::uint16_t>(i + 1));
  }
  commit();
  EXPECT_EQ(store_.count(state_space::queue), 2U);
  EXPECT_EQ(store_.count(state_space::message), 2U);
  EXPECT_EQ(core().stats().dropped_queue_full, 3U);
  restart();
  auto as = connect_persistent(3, "sub");
  const auto pubs = sent<mqtt::publish>(as, 3);
  ASSERT_EQ(pubs.size(), 2U);
  EXPECT_EQ(payload_of(pubs[0]), "3");
  EXPECT_EQ(payload_of(pubs[1]), "4");
}

TEST_F(BrokerPersistence, RestoreRoundTrip) {
  connect_persistent(sub_conn, "sub");
  mqtt::subscribe s = subscribe_packet(1, "t/#", qos::exactly_once);
  s.properties.subscription_identifier = 7;
  packet(sub_conn, s);
  // One message in flight (sent, not acknowledged), then offline with two more queued.
  connect(pub_conn, "pub");
  auto as = publish("t/1", "in flight", qos::at_least_once, 1);
  ASSERT_EQ(sent<mqtt::publish>(as, sub_conn).size(), 1U);
  const std::uint16_t inflight_id = sent<mqtt::publish>(as, sub_conn)[0].packet_id;
  drop(sub_conn);
  publish("t/2", "queued 1", qos::exactly_once, 2);
  publish("t/3", "queued 2", qos::at_least_once, 3);
  publish("t/keep", "retained", qos::at_least_once, 4, true);
  publish("t/4", "qos0 is not kept", qos::at_most_once);

  const auto rep = restart();
  EXPECT_EQ(rep.sessions, 1U); // "pub" is clean
  EXPECT_EQ(rep.subscriptions, 1U);
  EXPECT_EQ(rep.inflight, 1U);
  EXPECT_EQ(rep.queued, 3U); // the retained one matched too
  EXPECT_EQ(rep.retained, 1U);
  EXPECT_EQ(rep.unreadable + rep.orphans + rep.expired_sessions, 0U);
  const auto info = core().find_session("sub");
  ASSERT_TRUE(info);
  EXPECT_FALSE(info->connected);
  EXPECT_EQ(info->subscriptions, 1U);

  as = connect_persistent(3, "sub");
  const auto acks = sent<mqtt::connack>(as, 3);
  ASSERT_EQ(acks.size(), 1U);
  EXPECT_TRUE(acks[0].session_present);
  const auto pubs = sent<mqtt::publish>(as, 3);
  ASSERT_EQ(pubs.size(), 4U);
  EXPECT_EQ(payload_of(pubs[0]), "in flight");
  EXPECT_TRUE(pubs[0].dup);
  EXPECT_EQ(pubs[0].packet_id, inflight_id);
  EXPECT_EQ(payload_of(pubs[1]), "queued 1");
  EXPECT_EQ(pubs[1].qos, qos::exactly_once);
  EXPECT_FALSE(pubs[1].dup);
  EXPECT_NE(pubs[1].packet_id, inflight_id);
  EXPECT_EQ(pubs[1].properties.subscription_identifiers, std::vector<std::uint32_t>{7});
  EXPECT_EQ(payload_of(pubs[2]), "queued 2");
  EXPECT_EQ(payload_of(pubs[3]), "retained");

  // A new subscriber gets the retained message.
  connect(4, "late");
  as = packet(4, subscribe_packet(1, "t/keep", qos::at_least_once));
  const auto late = sent<mqtt::publish>(as, 4);
  ASSERT_EQ(late.size(), 1U);
  EXPECT_EQ(payload_of(late[0]), "retained");
  EXPECT_TRUE(late[0].retain);

  // Acknowledging everything after the restart empties the store of queue entries.
  for (const auto& p : pubs) {
    if (p.qos == qos::at_least_once) {
      mqtt::puback a;
      a.packet_id = p.packet_id;
      packet(3, a);
    } else {
      mqtt::pubrec r;
      r.packet_id = p.packet_id;
      packet(3, r);
      mqtt::pubcomp c;
      c.packet_id = p.packet_id;
      packet(3, c);
    }
  }
  commit();
  EXPECT_EQ(store_.count(state_space::queue), 0U);
  EXPECT_EQ(store_.count(state_space::message), 0U);
  EXPECT_EQ(store_.count(state_space::retained), 1U);
}

TEST_F(BrokerPersistence, ReleasedQos2SendsPubrelAfterRestart) {
  connect_persistent(sub_conn, "sub");
  packet(sub_conn, subscribe_packet(1, "t", qos::exactly_once));
  connect(pub_conn, "pub");
  const auto pubs = sent<mqtt::publish>(publish("t", "x", qos::exactly_once, 1), sub_conn);
  ASSERT_EQ(pubs.size(), 1U);
  mqtt::pubrec rec;
  rec.packet_id = pubs[0].packet_id;
  packet(sub_conn, rec);
  restart();
  const auto as = connect_persistent(3, "sub");
  EXPECT_TRUE(sent<mqtt::publish>(as, 3).empty());
  const auto rels = sent<mqtt::pubrel>(as, 3);
  ASSERT_EQ(rels.size(), 1U);
  EXPECT_EQ(rels[0].packet_id, pubs[0].packet_id);
}

TEST_F(BrokerPersistence, InboundQos2IsNotDeliveredTwiceAfterRestart) {
  connect_persistent(sub_conn, "sub");
  packet(sub_conn, subscribe_packet(1, "t", qos::at_least_once));
  connect_persistent(pub_conn, "pub");
  ASSERT_EQ(sent<mqtt::publish>(publish("t", "once", qos::exactly_once, 5), sub_conn).size(), 1U);
  restart();
  connect_persistent(sub_conn, "sub");
  connect_persistent(pub_conn, "pub");
  // The publisher did not see the PUBREC and sends again: acknowledged, not delivered again.
  auto p = publish_packet("t", "once", qos::exactly_once, 5);
  p.dup = true;
  auto as = packet(pub_conn, p);
  EXPECT_EQ(sent<mqtt::pubrec>(as, pub_conn).size(), 1U);
  EXPECT_TRUE(sent<mqtt::publish>(as, sub_conn).empty());
  mqtt::pubrel rel;
  rel.packet_id = 5;
  as = packet(pub_conn, rel);
  const auto comps = sent<mqtt::pubcomp>(as, pub_conn);
  ASSERT_EQ(comps.size(), 1U);
  EXPECT_EQ(comps[0].reason, reason_code::success);
}

TEST_F(BrokerPersistence, MessageExpiryKeepsCountingAcrossRestart) {
  connect_persistent(sub_conn, "sub", false, 3600);
  packet(sub_conn, subscribe_packet(1, "t", qos::at_least_once));
  drop(sub_conn);
  connect(pub_conn, "pub");
  auto p = publish_packet("t", "short", qos::at_least_once, 1);
  p.properties.message_expiry_interval = 100;
  packet(pub_conn, p);
  auto p2 = publish_packet("t", "shorter", qos::at_least_once, 2);
  p2.properties.message_expiry_interval = 20;
  packet(pub_conn, p2);
  commit();
  // Down for 30 s: the second expired meanwhile, the first has 70 s left.
  advance(30s);
  const auto rep = restart();
  EXPECT_EQ(rep.expired_messages, 1U);
  EXPECT_EQ(rep.queued, 1U);
  const auto pubs = sent<mqtt::publish>(connect_persistent(3, "sub", false, 3600), 3);
  ASSERT_EQ(pubs.size(), 1U);
  EXPECT_EQ(payload_of(pubs[0]), "short");
  EXPECT_EQ(pubs[0].properties.message_expiry_interval, 70U);
  commit();
  EXPECT_EQ(store_.count(state_space::message), 1U); // in flight now
}

TEST_F(BrokerPersistence, SessionExpiryKeepsCountingAcrossRestart) {
  connect_persistent(10, "short", false, 50);
  connect_persistent(11, "long", false, 500);
  drop(10);
  drop(11);
  advance(40s);
  commit();
  // A wall clock that moved on while the server was down (the steady one restarts).
  clock_.set_wall(clock_.wall_now() + 20s);
  auto rep = restart();
  EXPECT_EQ(rep.expired_sessions, 1U);
  EXPECT_EQ(rep.sessions, 1U);
  EXPECT_FALSE(core().find_session("short"));
  ASSERT_TRUE(core().find_session("long"));
  EXPECT_EQ(store_.count(state_space::session), 1U);
  // "long" ends 500 s after its disconnect: 440 s from the restart.
  advance(439s);
  tick();
  EXPECT_TRUE(core().find_session("long"));
  advance(1s);
  tick();
  EXPECT_FALSE(core().find_session("long"));
  commit();
  EXPECT_EQ(store_.size(), 0U);
}

TEST_F(BrokerPersistence, ConnectedSessionRestoresAsJustDisconnected) {
  connect_persistent(sub_conn, "sub", false, 100);
  commit(); // killed while connected
  restart();
  advance(99s);
  tick();
  EXPECT_TRUE(core().find_session("sub"));
  advance(1s);
  tick();
  EXPECT_FALSE(core().find_session("sub"));
}

TEST_F(BrokerPersistence, ShutdownRecordsSessionsOffline) {
  connect_persistent(sub_conn, "sub", false, 100);
  commit();
  core().shutdown(now());
  const auto j = commit();
  const auto* s = last(j, state_space::session);
  ASSERT_TRUE(s && s->value);
  EXPECT_TRUE(detail::decode_session(*s->value)->expires_at_ms);
}

TEST_F(BrokerPersistence, ForeignOwnerCannotResumeARestoredSession) {
  connect_persistent(sub_conn, "sub");
  restart();
  const auto as = core().on_connect(5, connect_packet("sub", protocol_version::v5, false),
                                    client_identity{"mallory"}, now());
  const auto acks = sent<mqtt::connack>(as, 5);
  ASSERT_EQ(acks.size(), 1U);
  EXPECT_EQ(acks[0].reason, reason_code::not_authorized);
}

TEST_F(BrokerPersistence, DamagedRecordsAreSkippedCountedAndErased) {
  connect_persistent(sub_conn, "sub");
  packet(sub_conn, subscribe_packet(1, "t", qos::at_least_once));
  drop(sub_conn);
  commit();
  state_journal junk{
      {state_space::session, "bad", to_bytes("\x09garbage")},
      {state_space::subscription, child("sub", "a/#/b"), detail::encode_subscription({})},
      {state_space::subscription, child("nobody", "x"), detail::encode_subscription({})},
      {state_space::queue, child("sub", detail::u64_key(9)), to_bytes("\x01")},
      {state_space::message, detail::u64_key(77), to_bytes("\x01\x00")},
      {state_space::inbound_qos2, child("sub", "xyz"), detail::encode_marker()},
      {state_space::retained, "r", to_bytes("not a message")},
  };
  ASSERT_TRUE(store_.apply(junk));
  const auto rep = restart();
  EXPECT_EQ(rep.sessions, 1U);
  EXPECT_EQ(rep.subscriptions, 1U);
  EXPECT_EQ(rep.unreadable, 6U);
  EXPECT_EQ(rep.orphans, 1U);
  // Each was erased through the journal: the store is clean again.
  EXPECT_EQ(store_.size(), 2U);
}

TEST_F(BrokerPersistence, FormatRoundTrips) {
  detail::session_record s{mqtt::protocol_version::v3_1_1, 77, 123456789, auth::auth_method::x509,
                           "acct"};
  EXPECT_EQ(detail::decode_session(detail::encode_session(s)), s);
  detail::queue_record q;
  q.message_id = 5;
  q.q = qos::exactly_once;
  q.retain = true;
  q.state = detail::entry_state::released;
  q.packet_id = 65535;
  q.subscription_ids = {1, 268'435'455};
  EXPECT_EQ(detail::decode_queue_entry(detail::encode_queue_entry(q)), q);
  message m;
  m.topic = "a/b";
  m.payload = to_bytes("data");
  m.qos = qos::at_least_once;
  m.properties.content_type = "text/plain";
  m.properties.user_properties.push_back({"k", "v"});
  const auto enc = detail::encode_message(m, 42);
  ASSERT_TRUE(enc);
  const auto dec = detail::decode_message(*enc);
  ASSERT_TRUE(dec);
  EXPECT_EQ(dec->msg.topic, "a/b");
  EXPECT_EQ(dec->msg.properties, m.properties);
  EXPECT_EQ(dec->expires_at_ms, 42);
  // Truncations and trailing bytes are refused.
  for (std::size_t n = 0; n < enc->size(); ++n) {
    EXPECT_FALSE(detail::decode_message(bytes_view(enc->data(), n))) << n;
  }
  auto longer = detail::encode_queue_entry(q);
  longer.push_back(0);
  EXPECT_FALSE(detail::decode_queue_entry(longer));
  EXPECT_EQ(detail::parse_u64_key(detail::u64_key(0x0102030405060708ULL)), 0x0102030405060708ULL);
}

} // namespace
} // namespace aegis::broker::testing
