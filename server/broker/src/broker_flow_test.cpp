// broker_core: QoS flows, inflight windows, queues, retained messages, aliases, properties,
// authorization.

#include "broker_core_test_support.hpp"

#include <gtest/gtest.h>

namespace aegis::broker::testing {
namespace {

using namespace std::chrono_literals;

constexpr connection_id sub_conn = 1;
constexpr connection_id pub_conn = 2;

class BrokerFlow : public broker_fixture {
protected:
  // A subscriber "sub" on conn 1 (v5, persistent) and a publisher "pub" on conn 2.
  void start(mqtt::connect sub, const std::string& filter, qos q,
             mqtt::subscription_options o = {}) {
    connect(sub_conn, std::move(sub));
    const auto acks = sent<mqtt::suback>(packet(sub_conn, subscribe_packet(1, filter, q, o)), 1);
    ASSERT_EQ(acks.size(), 1U);
    connect(pub_conn, "pub");
  }
  void start(const std::string& filter, qos q) {
    auto c = connect_packet("sub", protocol_version::v5, false);
    c.properties.session_expiry_interval = 3600;
    start(std::move(c), filter, q);
  }
  actions publish(std::string topic, std::string payload, qos q = qos::at_most_once,
                  std::uint16_t id = 0, bool retain = false) {
    return packet(pub_conn, publish_packet(std::move(topic), std::move(payload), q, id, retain));
  }
  std::vector<mqtt::publish> received(const actions& as) {
    return sent<mqtt::publish>(as, sub_conn);
  }
};

TEST_F(BrokerFlow, QoS0Forwarded) {
  start("t/+", qos::exactly_once);
  const auto pubs = received(publish("t/1", "hello"));
  ASSERT_EQ(pubs.size(), 1U);
  EXPECT_EQ(pubs[0].topic, "t/1");
  EXPECT_EQ(payload_of(pubs[0]), "hello");
  EXPECT_EQ(pubs[0].qos, qos::at_most_once);
  EXPECT_EQ(pubs[0].packet_id, 0U);
}

TEST_F(BrokerFlow, MQTT_4_3_2_QoS1BothDirections) {
  start("t", qos::at_least_once);
  const auto as = publish("t", "x", qos::at_least_once, 7);
  const auto acks = sent<mqtt::puback>(as, pub_conn);
  ASSERT_EQ(acks.size(), 1U);
  EXPECT_EQ(acks[0].packet_id, 7U);
  EXPECT_EQ(acks[0].reason, reason_code::success);
  const auto pubs = received(as);
  ASSERT_EQ(pubs.size(), 1U);
  EXPECT_EQ(pubs[0].qos, qos::at_least_once);
  EXPECT_NE(pubs[0].packet_id, 0U);
  EXPECT_EQ(core().find_session("sub")->inflight, 1U);
  mqtt::puback back;
  back.packet_id = pubs[0].packet_id;
  packet(sub_conn, back);
  EXPECT_EQ(core().find_session("sub")->inflight, 0U);
}

TEST_F(BrokerFlow, GrantedQoSCapsDelivery) {
  start("t", qos::at_most_once);
  const auto pubs = received(publish("t", "x", qos::exactly_once, 3));
  ASSERT_EQ(pubs.size(), 1U);
  EXPECT_EQ(pubs[0].qos, qos::at_most_once);
}

TEST_F(BrokerFlow, NoMatchingSubscribersIsReportedInV5) {
  start("t", qos::at_least_once);
  const auto acks = sent<mqtt::puback>(publish("nobody", "x", qos::at_least_once, 1), pub_conn);
  ASSERT_EQ(acks.size(), 1U);
  EXPECT_EQ(acks[0].reason, reason_code::no_matching_subscribers);
}

TEST_F(BrokerFlow, MQTT_4_3_3_QoS2Receiver) {
  start("t", qos::at_most_once);
  auto as = publish("t", "once", qos::exactly_once, 5);
  auto recs = sent<mqtt::pubrec>(as, pub_conn);
  ASSERT_EQ(recs.size(), 1U);
  EXPECT_EQ(recs[0].packet_id, 5U);
  EXPECT_EQ(received(as).size(), 1U);
  // A resend before PUBREL: PUBREC again, no second delivery [MQTT-4.3.3-10].
  auto dup = publish_packet("t", "once", qos::exactly_once, 5);
  dup.dup = true;
  as = packet(pub_conn, dup);
  EXPECT_EQ(sent<mqtt::pubrec>(as, pub_conn).size(), 1U);
  EXPECT_EQ(received(as).size(), 0U);
  mqtt::pubrel rel;
  rel.packet_id = 5;
  auto comps = sent<mqtt::pubcomp>(packet(pub_conn, rel), pub_conn);
  ASSERT_EQ(comps.size(), 1U);
  EXPECT_EQ(comps[0].reason, reason_code::success);
  // After PUBCOMP the id is new again.
  EXPECT_EQ(received(publish("t", "again", qos::exactly_once, 5)).size(), 1U);
  rel.packet_id = 99;
  comps = sent<mqtt::pubcomp>(packet(pub_conn, rel), pub_conn);
  ASSERT_EQ(comps.size(), 1U);
  EXPECT_EQ(comps[0].reason, reason_code::packet_identifier_not_found);
}

TEST_F(BrokerFlow, MQTT_4_3_3_QoS2Sender) {
  start("t", qos::exactly_once);
  const auto pubs = received(publish("t", "x", qos::exactly_once, 1));
  ASSERT_EQ(pubs.size(), 1U);
  EXPECT_EQ(pubs[0].qos, qos::exactly_once);
  mqtt::pubrec rec;
  rec.packet_id = pubs[0].packet_id;
  const auto rels = sent<mqtt::pubrel>(packet(sub_conn, rec), sub_conn);
  ASSERT_EQ(rels.size(), 1U);
  EXPECT_EQ(rels[0].packet_id, pubs[0].packet_id);
  EXPECT_EQ(core().find_session("sub")->inflight, 1U);
  mqtt::pubcomp comp;
  comp.packet_id = pubs[0].packet_id;
  packet(sub_conn, comp);
  EXPECT_EQ(core().find_session("sub")->inflight, 0U);
}

TEST_F(BrokerFlow, MQTT_3_3_4_9_InflightWindowRespected) {
  auto c = connect_packet("sub", protocol_version::v5, false);
  c.properties.session_expiry_interval = 3600;
  c.properties.receive_maximum = 2;
  start(std::move(c), "t", qos::at_least_once);
  std::vector<std::uint16_t> ids;
  for (int i = 0; i < 3; ++i) {
    for (const auto& p : received(publish("t", std::to_string(i), qos::at_least_once, 10))) {
      ids.push_back(p.packet_id);
    }
  }
  ASSERT_EQ(ids.size(), 2U);
  EXPECT_EQ(core().find_session("sub")->queued, 1U);
  mqtt::puback back;
  back.packet_id = ids[0];
  const auto next = received(packet(sub_conn, back));
  ASSERT_EQ(next.size(), 1U);
  EXPECT_EQ(payload_of(next[0]), "2");
  EXPECT_NE(next[0].packet_id, ids[1]);
  EXPECT_EQ(core().find_session("sub")->queued, 0U);
}

TEST_F(BrokerFlow, MQTT_3_3_4_9_InboundReceiveMaximumExceeded) {
  broker_limits l;
  l.receive_maximum = 2;
  make(l);
  start("t", qos::at_most_once);
  publish("t", "1", qos::exactly_once, 1);
  publish("t", "2", qos::exactly_once, 2);
  const auto as = publish("t", "3", qos::exactly_once, 3);
  EXPECT_EQ(sent<mqtt::disconnect>(as, pub_conn).at(0).reason,
            reason_code::receive_maximum_exceeded);
  EXPECT_EQ(closed(as, pub_conn), reason_code::receive_maximum_exceeded);
}

TEST_F(BrokerFlow, MQTT_4_4_0_1_RetransmitWithDupOnReconnect) {
  start("t", qos::exactly_once);
  const auto q1 = received(publish("t", "one", qos::at_least_once, 1));
  const auto q2 = received(publish("t", "two", qos::exactly_once, 2));
  ASSERT_EQ(q1.size(), 1U);
  ASSERT_EQ(q2.size(), 1U);
  EXPECT_FALSE(q1[0].dup);
  drop(sub_conn);
  // A third arrives while offline: queued behind the two inflight.
  publish("t", "three", qos::at_least_once, 3);
  EXPECT_EQ(core().find_session("sub")->queued, 1U);
  const auto as = connect_persistent(3, "sub");
  const auto pubs = sent<mqtt::publish>(as, 3);
  ASSERT_EQ(pubs.size(), 3U);
  EXPECT_TRUE(pubs[0].dup);
  EXPECT_EQ(pubs[0].packet_id, q1[0].packet_id);
  EXPECT_TRUE(pubs[1].dup);
  EXPECT_EQ(pubs[1].packet_id, q2[0].packet_id);
  EXPECT_FALSE(pubs[2].dup);
  EXPECT_EQ(payload_of(pubs[2]), "three");
  // A QoS 2 message already PUBREC'd is resumed with PUBREL, not PUBLISH.
  mqtt::pubrec rec;
  rec.packet_id = q2[0].packet_id;
  packet(3, rec);
  drop(3);
  const auto again = connect_persistent(4, "sub");
  const auto rels = sent<mqtt::pubrel>(again, 4);
  ASSERT_EQ(rels.size(), 1U);
  EXPECT_EQ(rels[0].packet_id, q2[0].packet_id);
  EXPECT_EQ(sent<mqtt::publish>(again, 4).size(), 2U);
}

class BrokerQueue : public BrokerFlow {
protected:
  std::vector<std::string> reconnect_and_collect() {
    std::vector<std::string> r;
    for (const auto& p : sent<mqtt::publish>(connect_persistent(9, "sub"), 9)) {
      r.push_back(payload_of(p));
    }
    return r;
  }
};

TEST_F(BrokerQueue, CountCapDropOldest) {
  broker_limits l;
  l.max_queued_messages = 3;
  make(l);
  start("t", qos::at_least_once);
  drop(sub_conn);
  for (int i = 1; i <= 5; ++i) {
    publish("t", std::to_string(i), qos::at_least_once, static_cast<std::uint16_t>(i));
  }
  const auto info = core().find_session("sub");
  EXPECT_EQ(info->queued, 3U);
  EXPECT_EQ(info->dropped, 2U);
  EXPECT_EQ(core().stats().dropped_queue_full, 2U);
  EXPECT_EQ(reconnect_and_collect(), (std::vector<std::string>{"3", "4", "5"}));
}

TEST_F(BrokerQueue, CountCapDropNewest) {
  broker_limits l;
  l.max_queued_messages = 3;
  l.overflow = queue_overflow::drop_newest;
  make(l);
  start("t", qos::at_least_once);
  drop(sub_conn);
  for (int i = 1; i <= 5; ++i) {
    publish("t", std::to_string(i), qos::at_least_once, static_cast<std::uint16_t>(i));
  }
  EXPECT_EQ(core().find_session("sub")->dropped, 2U);
  EXPECT_EQ(reconnect_and_collect(), (std::vector<std::string>{"1", "2", "3"}));
}

TEST_F(BrokerQueue, ByteCap) {
  broker_limits l;
  l.max_queued_bytes = 20; // cost = topic (1) + payload
  make(l);
  start("t", qos::at_least_once);
  drop(sub_conn);
  publish("t", "123456789", qos::at_least_once, 1); // 10
  publish("t", "abcdefghi", qos::at_least_once, 2); // 20
  publish("t", "XYZ", qos::at_least_once, 3);       // would be 24: oldest goes
  const auto info = core().find_session("sub");
  EXPECT_EQ(info->queued, 2U);
  EXPECT_EQ(info->queued_bytes, 14U);
  EXPECT_EQ(reconnect_and_collect(), (std::vector<std::string>{"abcdefghi", "XYZ"}));
}

TEST_F(BrokerQueue, QoS0IsNotQueuedOffline) {
  start("t", qos::at_least_once);
  drop(sub_conn);
  publish("t", "x");
  EXPECT_EQ(core().find_session("sub")->queued, 0U);
  EXPECT_EQ(core().stats().dropped_qos0_offline, 1U);
}

TEST_F(BrokerFlow, MQTT_3_3_2_6_MessageExpiryDecrementedOnForward) {
  start("t", qos::at_least_once);
  drop(sub_conn);
  auto p = publish_packet("t", "soon", qos::at_least_once, 1);
  p.properties.message_expiry_interval = 10;
  packet(pub_conn, p);
  auto q = publish_packet("t", "later", qos::at_least_once, 2);
  q.properties.message_expiry_interval = 100;
  packet(pub_conn, q);
  advance(4s);
  auto pubs = sent<mqtt::publish>(connect_persistent(3, "sub"), 3);
  ASSERT_EQ(pubs.size(), 2U);
  EXPECT_EQ(pubs[0].properties.message_expiry_interval, 6U);
  EXPECT_EQ(pubs[1].properties.message_expiry_interval, 96U);
  drop(3);
  packet(pub_conn, p);
  advance(11s);
  pubs = sent<mqtt::publish>(connect_persistent(4, "sub"), 4);
  // The two unacknowledged ones are resent (only "later" is still alive), the expired new one
  // is dropped.
  ASSERT_EQ(pubs.size(), 1U);
  EXPECT_EQ(payload_of(pubs[0]), "later");
  EXPECT_EQ(core().stats().dropped_expired, 2U);
}

TEST_F(BrokerFlow, MQTT_3_1_2_25_NeverSendOverClientMaximumPacketSize) {
  auto c = connect_packet("sub");
  c.properties.maximum_packet_size = 40;
  start(std::move(c), "t", qos::at_least_once);
  EXPECT_EQ(received(publish("t", "small", qos::at_least_once, 1)).size(), 1U);
  const auto as = publish("t", std::string(64, 'x'), qos::at_least_once, 2);
  EXPECT_EQ(received(as).size(), 0U);
  EXPECT_EQ(core().stats().dropped_too_large, 1U);
  // Discarded as if delivered: it holds no inflight slot.
  EXPECT_EQ(core().find_session("sub")->inflight, 1U);
}

TEST_F(BrokerFlow, MQTT_3_3_2_SubscriptionIdentifiersAndOverlap) {
  connect(sub_conn, "sub");
  auto s1 = subscribe_packet(1, "a/+", qos::at_most_once);
  s1.properties.subscription_identifier = 11;
  packet(sub_conn, s1);
  auto s2 = subscribe_packet(2, "a/#", qos::at_least_once);
  s2.properties.subscription_identifier = 22;
  packet(sub_conn, s2);
  connect(pub_conn, "pub");
  const auto pubs = received(publish("a/b", "x", qos::exactly_once, 1));
  // One delivery, the highest granted QoS, both identifiers (§3.3.4).
  ASSERT_EQ(pubs.size(), 1U);
  EXPECT_EQ(pubs[0].qos, qos::at_least_once);
  auto ids = pubs[0].properties.subscription_identifiers;
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::uint32_t>{11, 22}));
}

TEST_F(BrokerFlow, MQTT_3_8_3_3_NoLocal) {
  connect(sub_conn, "self");
  mqtt::subscription_options o;
  o.no_local = true;
  packet(sub_conn, subscribe_packet(1, "t", qos::at_most_once, o));
  packet(sub_conn, subscribe_packet(2, "u"));
  EXPECT_EQ(sent<mqtt::publish>(packet(sub_conn, publish_packet("t", "x")), sub_conn).size(), 0U);
  EXPECT_EQ(sent<mqtt::publish>(packet(sub_conn, publish_packet("u", "x")), sub_conn).size(), 1U);
}

TEST_F(BrokerFlow, MQTT_3_3_1_12_RetainAsPublished) {
  connect(sub_conn, "sub");
  mqtt::subscription_options keep;
  keep.retain_as_published = true;
  keep.retain_handling = mqtt::retain_handling::do_not_send;
  packet(sub_conn, subscribe_packet(1, "keep", qos::at_most_once, keep));
  mqtt::subscription_options clear;
  clear.retain_handling = mqtt::retain_handling::do_not_send;
  packet(sub_conn, subscribe_packet(2, "clear", qos::at_most_once, clear));
  connect(pub_conn, "pub");
  auto pubs = received(publish("keep", "x", qos::at_most_once, 0, true));
  ASSERT_EQ(pubs.size(), 1U);
  EXPECT_TRUE(pubs[0].retain);
  pubs = received(publish("clear", "x", qos::at_most_once, 0, true));
  ASSERT_EQ(pubs.size(), 1U);
  EXPECT_FALSE(pubs[0].retain);
}

TEST_F(BrokerFlow, RequestResponseAndUserPropertiesPassThrough) {
  start("req", qos::at_most_once);
  auto p = publish_packet("req", "q");
  p.properties.response_topic = "resp/1";
  p.properties.correlation_data = to_bytes("c-1");
  p.properties.content_type = "text/plain";
  p.properties.payload_format_indicator = mqtt::payload_format::utf8;
  p.properties.user_properties = {{"b", "2"}, {"a", "1"}, {"b", "3"}};
  const auto pubs = received(packet(pub_conn, p));
  ASSERT_EQ(pubs.size(), 1U);
  EXPECT_EQ(pubs[0].properties.response_topic, "resp/1");
  EXPECT_EQ(pubs[0].properties.correlation_data, to_bytes("c-1"));
  EXPECT_EQ(pubs[0].properties.content_type, "text/plain");
  EXPECT_EQ(pubs[0].properties.payload_format_indicator, mqtt::payload_format::utf8);
  EXPECT_EQ(pubs[0].properties.user_properties, p.properties.user_properties);
}

TEST_F(BrokerFlow, MQTT_4_8_2_SharedSubscriptionDistribution) {
  connect(10, "w1");
  connect(11, "w2");
  packet(10, subscribe_packet(1, "$share/workers/jobs/+"));
  packet(11, subscribe_packet(1, "$share/workers/jobs/+"));
  connect(pub_conn, "pub");
  std::size_t w1 = 0;
  std::size_t w2 = 0;
  for (int i = 0; i < 6; ++i) {
    const auto as = publish("jobs/x", std::to_string(i));
    const auto a = sent<mqtt::publish>(as, 10).size();
    const auto b = sent<mqtt::publish>(as, 11).size();
    EXPECT_EQ(a + b, 1U);
    w1 += a;
    w2 += b;
  }
  EXPECT_EQ(w1, 3U);
  EXPECT_EQ(w2, 3U);
}

class BrokerRetained : public BrokerFlow {
protected:
  std::size_t retained_on_subscribe(connection_id conn, std::uint16_t id, const std::string& f,
                                    mqtt::retain_handling rh) {
    mqtt::subscription_options o;
    o.retain_handling = rh;
    const auto pubs =
        sent<mqtt::publish>(packet(conn, subscribe_packet(id, f, qos::at_least_once, o)), conn);
    for (const auto& p : pubs) {
      EXPECT_TRUE(p.retain);
    }
    return pubs.size();
  }
};

TEST_F(BrokerRetained, MQTT_3_3_1_9_RetainHandling) {
  connect(pub_conn, "pub");
  publish("r/1", "one", qos::at_most_once, 0, true);
  publish("r/2", "two", qos::at_least_once, 1, true);
  publish("other", "x", qos::at_most_once, 0, true);
  connect(sub_conn, "sub");
  using rh = mqtt::retain_handling;
  EXPECT_EQ(retained_on_subscribe(sub_conn, 1, "r/+", rh::send_on_subscribe), 2U);
  // 0: again on a repeated subscribe.
  EXPECT_EQ(retained_on_subscribe(sub_conn, 2, "r/+", rh::send_on_subscribe), 2U);
  // 1: only when the subscription is new [MQTT-3.3.1-10].
  EXPECT_EQ(retained_on_subscribe(sub_conn, 3, "r/+", rh::send_if_new_subscription), 0U);
  EXPECT_EQ(retained_on_subscribe(sub_conn, 4, "r/#", rh::send_if_new_subscription), 2U);
  // 2: never [MQTT-3.3.1-11].
  EXPECT_EQ(retained_on_subscribe(sub_conn, 5, "#", rh::do_not_send), 0U);
  // Shared subscriptions never get retained messages on subscribe.
  EXPECT_EQ(retained_on_subscribe(sub_conn, 6, "$share/g/r/+", rh::send_on_subscribe), 0U);
  // An empty retained payload deletes [MQTT-3.3.1-6].
  publish("r/1", "", qos::at_most_once, 0, true);
  EXPECT_EQ(retained_on_subscribe(sub_conn, 7, "r/+", rh::send_on_subscribe), 1U);
  EXPECT_EQ(core().retained().size(), 2U);
}

TEST_F(BrokerRetained, QuotaRefusalIsTold) {
  broker_limits l;
  l.retained.max_messages = 1;
  make(l);
  connect(pub_conn, "pub");
  EXPECT_EQ(
      sent<mqtt::puback>(publish("a", "1", qos::at_least_once, 1, true), pub_conn).at(0).reason,
      reason_code::no_matching_subscribers);
  EXPECT_EQ(
      sent<mqtt::puback>(publish("b", "1", qos::at_least_once, 2, true), pub_conn).at(0).reason,
      reason_code::quota_exceeded);
  EXPECT_EQ(core().stats().retained_refused, 1U);
  EXPECT_EQ(core().retained().size(), 1U);
}

class BrokerAlias : public BrokerFlow {};

TEST_F(BrokerAlias, MQTT_3_3_2_3_4_InboundTopicAlias) {
  start("t/long/name", qos::at_most_once);
  auto p = publish_packet("t/long/name", "1");
  p.properties.topic_alias = 3;
  EXPECT_EQ(received(packet(pub_conn, p)).size(), 1U);
  auto q = publish_packet("", "2");
  q.properties.topic_alias = 3;
  const auto pubs = received(packet(pub_conn, q));
  ASSERT_EQ(pubs.size(), 1U);
  EXPECT_EQ(pubs[0].topic, "t/long/name");
  // The alias never goes to subscribers: it is per hop.
  EXPECT_FALSE(pubs[0].properties.topic_alias);
}

TEST_F(BrokerAlias, MQTT_3_3_2_10_AliasAboveMaximum) {
  start("t", qos::at_most_once);
  auto p = publish_packet("t", "1");
  p.properties.topic_alias = static_cast<std::uint16_t>(broker_limits{}.topic_alias_maximum + 1);
  const auto as = packet(pub_conn, p);
  EXPECT_EQ(sent<mqtt::disconnect>(as, pub_conn).at(0).reason, reason_code::topic_alias_invalid);
  EXPECT_EQ(closed(as, pub_conn), reason_code::topic_alias_invalid);
  EXPECT_EQ(received(as).size(), 0U);
}

TEST_F(BrokerAlias, AliasZeroAndDisabledAliases) {
  broker_limits l;
  l.topic_alias_maximum = 0;
  make(l);
  start("t", qos::at_most_once);
  auto p = publish_packet("t", "1");
  p.properties.topic_alias = 1;
  EXPECT_EQ(closed(packet(pub_conn, p), pub_conn), reason_code::topic_alias_invalid);
}

TEST_F(BrokerAlias, UnknownAliasIsProtocolError) {
  start("t", qos::at_most_once);
  auto p = publish_packet("", "1");
  p.properties.topic_alias = 2;
  EXPECT_EQ(closed(packet(pub_conn, p), pub_conn), reason_code::protocol_error);
}

class BrokerAuthz : public BrokerFlow {};

TEST_F(BrokerAuthz, PublishDeniedV5Acks0x87) {
  start("#", qos::at_least_once);
  auto as = publish("secret/a", "x", qos::at_least_once, 1);
  EXPECT_EQ(sent<mqtt::puback>(as, pub_conn).at(0).reason, reason_code::not_authorized);
  EXPECT_EQ(received(as).size(), 0U);
  as = publish("secret/a", "x", qos::exactly_once, 2);
  EXPECT_EQ(sent<mqtt::pubrec>(as, pub_conn).at(0).reason, reason_code::not_authorized);
  EXPECT_FALSE(closed(as, pub_conn));
}

TEST_F(BrokerAuthz, PublishDeniedV311Closes) {
  connect(pub_conn, "old", protocol_version::v3_1_1);
  const auto as = packet(pub_conn, publish_packet("secret/a", "x", qos::at_least_once, 1));
  EXPECT_EQ(sends_to(as, pub_conn), 0U);
  EXPECT_EQ(closed(as, pub_conn), reason_code::not_authorized);
}

TEST_F(BrokerAuthz, SubscribeDenied) {
  connect(1, "v5");
  auto s = subscribe_packet(1, "secret/#", qos::at_least_once);
  s.subscriptions.push_back(mqtt::subscription{"open", {}});
  auto acks = sent<mqtt::suback>(packet(1, s), 1);
  ASSERT_EQ(acks.size(), 1U);
  EXPECT_EQ(acks[0].reasons,
            (std::vector<reason_code>{reason_code::not_authorized, reason_code::granted_qos_0}));
  connect(2, "v3", protocol_version::v3_1_1);
  acks = sent<mqtt::suback>(packet(2, s), 2);
  ASSERT_EQ(acks.size(), 1U);
  EXPECT_EQ(acks[0].reasons,
            (std::vector<reason_code>{reason_code::unspecified_error, reason_code::granted_qos_0}));
  EXPECT_EQ(core().find_session("v3")->subscriptions, 1U);
}

TEST_F(BrokerFlow, UnsubscribeReportsWhatExisted) {
  start("t", qos::at_most_once);
  mqtt::unsubscribe u;
  u.packet_id = 4;
  u.filters = {"t", "never"};
  const auto acks = sent<mqtt::unsuback>(packet(sub_conn, u), sub_conn);
  ASSERT_EQ(acks.size(), 1U);
  EXPECT_EQ(acks[0].packet_id, 4U);
  EXPECT_EQ(acks[0].reasons,
            (std::vector<reason_code>{reason_code::success, reason_code::no_subscription_existed}));
  EXPECT_EQ(received(publish("t", "x")).size(), 0U);
}

} // namespace
} // namespace aegis::broker::testing

namespace aegis::broker::testing {
namespace {

class BrokerBackpressure : public BrokerFlow {};

TEST_F(BrokerBackpressure, CongestedConnectionDropsQoS0AndQueuesQoS1) {
  start("t", qos::at_least_once);
  EXPECT_TRUE(core().on_backpressure(sub_conn, true, now()).empty());
  EXPECT_EQ(received(publish("t", "q0")).size(), 0U);
  EXPECT_EQ(core().stats().dropped_qos0_congested, 1U);
  EXPECT_EQ(received(publish("t", "q1", qos::at_least_once, 1)).size(), 0U);
  EXPECT_EQ(core().find_session("sub")->queued, 1U);
  const auto pubs = received(core().on_backpressure(sub_conn, false, now()));
  ASSERT_EQ(pubs.size(), 1U);
  EXPECT_EQ(payload_of(pubs[0]), "q1");
  EXPECT_EQ(core().find_session("sub")->inflight, 1U);
}

TEST_F(BrokerBackpressure, SharedGroupPrefersAvailableMembers) {
  connect(10, "w1");
  connect_persistent(11, "w2");
  packet(10, subscribe_packet(1, "$share/g/jobs", qos::at_least_once));
  packet(11, subscribe_packet(1, "$share/g/jobs", qos::at_least_once));
  drop(11); // w2's session stays, offline
  connect(pub_conn, "pub");
  for (std::uint16_t i = 1; i <= 4; ++i) {
    EXPECT_EQ(sent<mqtt::publish>(publish("jobs", "x", qos::at_least_once, i), 10).size(), 1U);
  }
  EXPECT_EQ(core().find_session("w2")->queued, 0U);
  // A congested member is passed over the same way.
  connect_persistent(12, "w2");
  core().on_backpressure(10, true, now());
  for (std::uint16_t i = 5; i <= 6; ++i) {
    EXPECT_EQ(sent<mqtt::publish>(publish("jobs", "y", qos::at_least_once, i), 12).size(), 1U);
  }
}

TEST_F(BrokerFlow, ShutdownDisconnectsEveryone) {
  auto c = connect_packet("sub");
  mqtt::will_message w;
  w.topic = "wills/sub";
  w.payload = to_bytes("x");
  c.will = w;
  start(std::move(c), "wills/#", qos::at_most_once);
  connect(3, "old", protocol_version::v3_1_1);
  const auto as = core().shutdown(now());
  EXPECT_EQ(sent<mqtt::disconnect>(as, sub_conn).at(0).reason, reason_code::server_shutting_down);
  EXPECT_EQ(closed(as, sub_conn), reason_code::server_shutting_down);
  EXPECT_EQ(closed(as, pub_conn), reason_code::server_shutting_down);
  EXPECT_EQ(sends_to(as, 3), 0U);
  EXPECT_EQ(closed(as, 3), reason_code::server_shutting_down);
  EXPECT_EQ(core().stats().wills_published, 0U);
  EXPECT_EQ(core().connection_count(), 0U);
  EXPECT_TRUE(drop(sub_conn).empty());
}

} // namespace
} // namespace aegis::broker::testing

namespace aegis::broker::testing {
namespace {

using namespace std::chrono_literals;

TEST_F(BrokerRetained, RetainedExpiryCountsDownAndEnds) {
  connect(pub_conn, "pub");
  auto p = publish_packet("r", "x", qos::at_most_once, 0, true);
  p.properties.message_expiry_interval = 30;
  packet(pub_conn, p);
  advance(10s);
  connect(sub_conn, "sub");
  auto pubs = sent<mqtt::publish>(packet(sub_conn, subscribe_packet(1, "r")), sub_conn);
  ASSERT_EQ(pubs.size(), 1U);
  EXPECT_EQ(pubs[0].properties.message_expiry_interval, 20U);
  advance(20s);
  pubs = sent<mqtt::publish>(packet(sub_conn, subscribe_packet(2, "r")), sub_conn);
  EXPECT_EQ(pubs.size(), 0U);
  EXPECT_EQ(core().retained().size(), 0U);
}

TEST_F(BrokerFlow, MQTT_3_3_1_9_V311RetainedAndForwarding) {
  connect(pub_conn, "pub", protocol_version::v3_1_1);
  packet(pub_conn, publish_packet("r", "kept", qos::at_least_once, 1, true));
  connect(sub_conn, "old", protocol_version::v3_1_1);
  auto as = packet(sub_conn, subscribe_packet(1, "r", qos::at_least_once));
  const auto acks = sent<mqtt::suback>(as, sub_conn);
  ASSERT_EQ(acks.size(), 1U);
  EXPECT_EQ(acks[0].reasons, (std::vector<reason_code>{reason_code::granted_qos_1}));
  auto pubs = sent<mqtt::publish>(as, sub_conn);
  ASSERT_EQ(pubs.size(), 1U);
  EXPECT_TRUE(pubs[0].retain); // sent because of the subscription
  EXPECT_EQ(payload_of(pubs[0]), "kept");
  // Forwarded to an existing subscriber: RETAIN cleared (3.1.1 [MQTT-3.3.1-9]).
  as = packet(pub_conn, publish_packet("r", "new", qos::at_least_once, 2, true));
  pubs = sent<mqtt::publish>(as, sub_conn);
  ASSERT_EQ(pubs.size(), 1U);
  EXPECT_FALSE(pubs[0].retain);
  // 3.1.1 PUBACK has no reason code: success even with no other subscriber.
  EXPECT_EQ(sent<mqtt::puback>(packet(pub_conn, publish_packet("none", "x", qos::at_least_once, 3)),
                               pub_conn)
                .at(0)
                .reason,
            reason_code::success);
}

} // namespace
} // namespace aegis::broker::testing
