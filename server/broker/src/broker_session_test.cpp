// broker_core: sessions, takeover, wills, keep-alive, expiry.

#include "broker_core_test_support.hpp"

#include <gtest/gtest.h>

namespace aegis::broker::testing {
namespace {

using namespace std::chrono_literals;

class BrokerSession : public broker_fixture {};

TEST_F(BrokerSession, ConnackAdvertisesLimits) {
  const auto as = connect(1, "dev");
  const auto acks = sent<mqtt::connack>(as, 1);
  ASSERT_EQ(acks.size(), 1U);
  EXPECT_EQ(acks[0].reason, reason_code::success);
  EXPECT_FALSE(acks[0].session_present);
  EXPECT_EQ(acks[0].properties.receive_maximum, broker_limits{}.receive_maximum);
  EXPECT_EQ(acks[0].properties.topic_alias_maximum, broker_limits{}.topic_alias_maximum);
  EXPECT_EQ(as.size(), 1U);
}

TEST_F(BrokerSession, MQTT_3_2_2_3_AssignedClientIdentifier) {
  const auto acks = sent<mqtt::connack>(connect(1, ""), 1);
  ASSERT_EQ(acks.size(), 1U);
  ASSERT_TRUE(acks[0].properties.assigned_client_identifier);
  EXPECT_TRUE(core().find_session(*acks[0].properties.assigned_client_identifier));
  // 3.1.1 [MQTT-3.1.3-8]: a zero-byte id with Clean Session 0 is refused (return code 0x02).
  const auto as = connect(2, "", protocol_version::v3_1_1, false);
  const auto refused = sent<mqtt::connack>(as, 2);
  ASSERT_EQ(refused.size(), 1U);
  EXPECT_EQ(mqtt::to_connect_return_code(refused[0].reason),
            mqtt::connect_return_code::identifier_rejected);
  EXPECT_TRUE(closed(as, 2));
}

TEST_F(BrokerSession, MQTT_3_1_2_4_CleanStart) {
  connect_persistent(1, "dev");
  packet(1, subscribe_packet(1, "t", qos::at_least_once));
  drop(1);
  // Resumed: session present, subscription kept.
  auto acks = sent<mqtt::connack>(connect_persistent(2, "dev"), 2);
  ASSERT_EQ(acks.size(), 1U);
  EXPECT_TRUE(acks[0].session_present);
  EXPECT_EQ(core().find_session("dev")->subscriptions, 1U);
  drop(2);
  // Clean Start discards it [MQTT-3.1.2-4].
  acks = sent<mqtt::connack>(connect_persistent(3, "dev", true), 3);
  ASSERT_EQ(acks.size(), 1U);
  EXPECT_FALSE(acks[0].session_present);
  EXPECT_EQ(core().find_session("dev")->subscriptions, 0U);
  connect(4, "pub");
  EXPECT_EQ(sends_to(packet(4, publish_packet("t", "x")), 3), 0U);
}

TEST_F(BrokerSession, MQTT_3_1_2_6_CleanSessionV311) {
  connect(1, "dev", protocol_version::v3_1_1, false);
  packet(1, subscribe_packet(1, "t", qos::at_least_once));
  drop(1);
  ASSERT_TRUE(core().find_session("dev"));
  auto acks = sent<mqtt::connack>(connect(2, "dev", protocol_version::v3_1_1, false), 2);
  ASSERT_EQ(acks.size(), 1U);
  EXPECT_TRUE(acks[0].session_present);
  drop(2);
  connect(3, "clean", protocol_version::v3_1_1, true);
  drop(3);
  EXPECT_FALSE(core().find_session("clean"));
}

TEST_F(BrokerSession, MQTT_3_1_2_11_SessionExpiry) {
  connect_persistent(1, "dev", false, 10);
  drop(1);
  advance(9s);
  tick();
  EXPECT_TRUE(core().find_session("dev"));
  advance(1s);
  tick();
  EXPECT_FALSE(core().find_session("dev"));
  // Expiry 0 (the default): the session ends with the connection.
  connect(2, "zero");
  drop(2);
  EXPECT_FALSE(core().find_session("zero"));
}

TEST_F(BrokerSession, SessionExpiryIsCappedAndToldInConnack) {
  broker_limits l;
  l.max_session_expiry = 100;
  make(l);
  const auto acks = sent<mqtt::connack>(connect_persistent(1, "dev", false, 5000), 1);
  ASSERT_EQ(acks.size(), 1U);
  EXPECT_EQ(acks[0].properties.session_expiry_interval, 100U);
}

TEST_F(BrokerSession, MQTT_3_14_2_2_DisconnectCannotSetExpiryFromZero) {
  connect(1, "dev");
  mqtt::disconnect d;
  d.properties.session_expiry_interval = 60;
  const auto as = packet(1, d);
  const auto ds = sent<mqtt::disconnect>(as, 1);
  ASSERT_EQ(ds.size(), 1U);
  EXPECT_EQ(ds[0].reason, reason_code::protocol_error);
  EXPECT_EQ(closed(as, 1), reason_code::protocol_error);
}

TEST_F(BrokerSession, DisconnectMayShortenExpiry) {
  connect_persistent(1, "dev", false, 3600);
  mqtt::disconnect d;
  d.properties.session_expiry_interval = 0;
  EXPECT_EQ(closed(packet(1, d), 1), reason_code::normal_disconnection);
  EXPECT_FALSE(core().find_session("dev"));
}

// Takeover, new CONNECT first: the old connection is told 0x8E and closed; its late close and
// packets never touch the new connection's session.
TEST_F(BrokerSession, MQTT_3_1_4_3_TakeoverNewConnectFirst) {
  connect_persistent(1, "dev");
  packet(1, subscribe_packet(1, "t", qos::at_least_once));
  const auto as = connect_persistent(2, "dev");
  const auto ds = sent<mqtt::disconnect>(as, 1);
  ASSERT_EQ(ds.size(), 1U);
  EXPECT_EQ(ds[0].reason, reason_code::session_taken_over);
  EXPECT_EQ(closed(as, 1), reason_code::session_taken_over);
  const auto acks = sent<mqtt::connack>(as, 2);
  ASSERT_EQ(acks.size(), 1U);
  EXPECT_TRUE(acks[0].session_present);
  EXPECT_EQ(core().stats().takeovers, 1U);
  // Late events from the old connection.
  EXPECT_TRUE(packet(1, subscribe_packet(2, "other")).empty());
  EXPECT_TRUE(drop(1).empty());
  ASSERT_TRUE(core().find_session("dev"));
  EXPECT_TRUE(core().find_session("dev")->connected);
  EXPECT_EQ(core().find_session("dev")->subscriptions, 1U);
  connect(3, "pub");
  const auto pubs =
      sent<mqtt::publish>(packet(3, publish_packet("t", "x", qos::at_least_once, 9)), 2);
  EXPECT_EQ(pubs.size(), 1U);
  EXPECT_EQ(core().connection_count(), 2U);
}

// A client id names a session, not a right to it: another account can neither take over a
// live session nor resume a stored one (whose subscriptions were authorized for its owner).
TEST_F(BrokerSession, AnotherPrincipalCannotTakeOverOrResumeASession) {
  auto owner = connect_packet("ingest", protocol_version::v5, false);
  owner.properties.session_expiry_interval = 3600;
  core().on_connect(1, std::move(owner), client_identity{"ops"}, now());
  packet(1, subscribe_packet(1, "t", qos::at_least_once));

  auto thief = connect_packet("ingest", protocol_version::v5, false);
  const auto as = core().on_connect(2, std::move(thief), client_identity{"viewer"}, now());
  EXPECT_EQ(sends_to(as, 1), 0U) << "the owner was not disturbed";
  ASSERT_EQ(sent<mqtt::connack>(as, 2).size(), 1U);
  EXPECT_EQ(sent<mqtt::connack>(as, 2)[0].reason, reason_code::not_authorized);
  EXPECT_FALSE(sent<mqtt::connack>(as, 2)[0].session_present);
  EXPECT_EQ(closed(as, 2), reason_code::not_authorized);
  EXPECT_EQ(core().stats().foreign_session_refused, 1U);
  EXPECT_TRUE(core().find_session("ingest")->connected);

  // Offline, the stored session is still the owner's alone.
  EXPECT_TRUE(drop(1).empty());
  auto again = connect_packet("ingest", protocol_version::v3_1_1, true);
  const auto bs = core().on_connect(3, std::move(again), client_identity{"viewer"}, now());
  EXPECT_EQ(closed(bs, 3), reason_code::not_authorized);
  ASSERT_TRUE(core().find_session("ingest"));
  EXPECT_EQ(core().find_session("ingest")->subscriptions, 1U);
  auto back = connect_packet("ingest", protocol_version::v5, false);
  const auto cs = core().on_connect(4, std::move(back), client_identity{"ops"}, now());
  EXPECT_TRUE(sent<mqtt::connack>(cs, 4).at(0).session_present);
}

// Takeover, old close first: an ordinary resume, nothing sent to the old connection.
TEST_F(BrokerSession, MQTT_3_1_4_3_TakeoverOldCloseFirst) {
  connect_persistent(1, "dev");
  EXPECT_TRUE(drop(1).empty());
  const auto as = connect_persistent(2, "dev");
  EXPECT_EQ(sends_to(as, 1), 0U);
  EXPECT_FALSE(closed(as, 1));
  EXPECT_TRUE(sent<mqtt::connack>(as, 2).at(0).session_present);
  EXPECT_EQ(core().stats().takeovers, 0U);
  EXPECT_TRUE(drop(1).empty());
  EXPECT_TRUE(core().find_session("dev")->connected);
}

TEST_F(BrokerSession, TakeoverV311ClosesWithoutDisconnect) {
  connect(1, "dev", protocol_version::v3_1_1, false);
  const auto as = connect(2, "dev", protocol_version::v3_1_1, false);
  EXPECT_EQ(sends_to(as, 1), 0U);
  EXPECT_EQ(closed(as, 1), reason_code::session_taken_over);
  EXPECT_TRUE(drop(1).empty());
  EXPECT_TRUE(core().find_session("dev")->connected);
}

mqtt::connect with_will(std::string id, std::uint32_t delay = 0, std::uint32_t expiry = 3600) {
  auto c = connect_packet(std::move(id), protocol_version::v5, false);
  c.properties.session_expiry_interval = expiry;
  mqtt::will_message w;
  w.topic = "wills/" + c.client_id;
  w.payload = to_bytes("gone");
  if (delay != 0) {
    w.properties.will_delay_interval = delay;
  }
  c.will = w;
  return c;
}

class BrokerWill : public broker_fixture {
protected:
  void SetUp() override {
    connect(100, "watcher");
    packet(100, subscribe_packet(1, "wills/#"));
  }
  std::size_t wills_seen(const actions& as) { return sent<mqtt::publish>(as, 100).size(); }
};

TEST_F(BrokerWill, MQTT_3_1_2_8_PublishedOnAbnormalClose) {
  connect(1, with_will("dev"));
  const auto as = drop(1);
  const auto pubs = sent<mqtt::publish>(as, 100);
  ASSERT_EQ(pubs.size(), 1U);
  EXPECT_EQ(pubs[0].topic, "wills/dev");
  EXPECT_EQ(payload_of(pubs[0]), "gone");
}

TEST_F(BrokerWill, MQTT_3_1_2_10_SuppressedByNormalDisconnect) {
  connect(1, with_will("dev"));
  EXPECT_EQ(wills_seen(packet(1, mqtt::disconnect{})), 0U);
  EXPECT_EQ(wills_seen(drop(1)), 0U);
  EXPECT_EQ(core().stats().wills_published, 0U);
}

TEST_F(BrokerWill, DisconnectWithWillMessagePublishesIt) {
  connect(1, with_will("dev"));
  mqtt::disconnect d;
  d.reason = reason_code::disconnect_with_will_message;
  EXPECT_EQ(wills_seen(packet(1, d)), 1U);
}

TEST_F(BrokerWill, DisconnectWithErrorCodeKeepsWill) {
  connect(1, with_will("dev"));
  mqtt::disconnect d;
  d.reason = reason_code::unspecified_error;
  EXPECT_EQ(wills_seen(packet(1, d)), 1U);
}

TEST_F(BrokerWill, PublishedOnKeepAliveTimeout) {
  auto c = with_will("dev");
  c.keep_alive = 10;
  connect(1, std::move(c));
  advance(16s);
  EXPECT_EQ(wills_seen(tick()), 1U);
}

TEST_F(BrokerWill, MQTT_3_1_3_9_WillDelayInterval) {
  connect(1, with_will("dev", 5));
  EXPECT_EQ(wills_seen(drop(1)), 0U);
  EXPECT_TRUE(core().find_session("dev")->will_pending);
  advance(4s);
  EXPECT_EQ(wills_seen(tick()), 0U);
  advance(1s);
  EXPECT_EQ(wills_seen(tick()), 1U);
  advance(10s);
  EXPECT_EQ(wills_seen(tick()), 0U);
}

TEST_F(BrokerWill, MQTT_3_1_3_9_NotSentWhenClientReturnsWithinDelay) {
  connect(1, with_will("dev", 5));
  drop(1);
  advance(3s);
  EXPECT_EQ(wills_seen(connect_persistent(2, "dev")), 0U);
  advance(10s);
  EXPECT_EQ(wills_seen(tick()), 0U);
  EXPECT_EQ(core().stats().wills_published, 0U);
}

TEST_F(BrokerWill, SessionEndBeforeDelaySendsWill) {
  connect(1, with_will("dev", 60, 5));
  drop(1);
  advance(5s);
  EXPECT_EQ(wills_seen(tick()), 1U);
  EXPECT_FALSE(core().find_session("dev"));
}

TEST_F(BrokerWill, TakeoverWithResumeDropsWill) {
  connect(1, with_will("dev"));
  const auto as = connect_persistent(2, "dev");
  EXPECT_EQ(wills_seen(as), 0U);
  EXPECT_EQ(wills_seen(drop(1)), 0U);
  // The new connection carried no will.
  EXPECT_EQ(wills_seen(drop(2)), 0U);
}

TEST_F(BrokerWill, TakeoverWithCleanStartEndsSessionAndSendsWill) {
  connect(1, with_will("dev"));
  EXPECT_EQ(wills_seen(connect_persistent(2, "dev", true)), 1U);
  EXPECT_EQ(wills_seen(drop(1)), 0U);
}

TEST_F(BrokerWill, DeniedWillIsNotPublished) {
  auto c = with_will("dev");
  c.will->topic = "secret/x";
  connect(1, std::move(c));
  connect(2, "spy");
  packet(2, subscribe_packet(1, "#"));
  EXPECT_EQ(sent<mqtt::publish>(drop(1), 2).size(), 0U);
}

class BrokerKeepAlive : public broker_fixture {};

TEST_F(BrokerKeepAlive, MQTT_3_1_2_22_OneAndAHalfTimes) {
  connect(1, "dev", protocol_version::v5, true, 10);
  advance(15s);
  EXPECT_TRUE(tick().empty());
  advance(1ms);
  const auto as = tick();
  const auto ds = sent<mqtt::disconnect>(as, 1);
  ASSERT_EQ(ds.size(), 1U);
  EXPECT_EQ(ds[0].reason, reason_code::keep_alive_timeout);
  EXPECT_EQ(closed(as, 1), reason_code::keep_alive_timeout);
  EXPECT_EQ(core().connection_count(), 0U);
  EXPECT_TRUE(drop(1).empty());
}

TEST_F(BrokerKeepAlive, AnyPacketResetsTimer) {
  connect(1, "dev", protocol_version::v3_1_1, true, 10);
  advance(14s);
  EXPECT_EQ(sent<mqtt::pingresp>(packet(1, mqtt::pingreq{}), 1).size(), 1U);
  advance(14s);
  EXPECT_TRUE(tick().empty());
  advance(2s);
  const auto as = tick();
  // 3.1.1 has no server DISCONNECT: just close.
  EXPECT_EQ(sends_to(as, 1), 0U);
  EXPECT_EQ(closed(as, 1), reason_code::keep_alive_timeout);
}

TEST_F(BrokerKeepAlive, ZeroDisablesIt) {
  connect(1, "dev");
  advance(24h);
  EXPECT_TRUE(tick().empty());
}

TEST_F(BrokerSession, SecondConnectIsProtocolError) {
  connect(1, "dev");
  const auto as = packet(1, connect_packet("dev"));
  EXPECT_EQ(sent<mqtt::disconnect>(as, 1).at(0).reason, reason_code::protocol_error);
  EXPECT_EQ(closed(as, 1), reason_code::protocol_error);
}

} // namespace
} // namespace aegis::broker::testing

namespace aegis::broker::testing {
namespace {

using namespace std::chrono_literals;

class BrokerAdmin : public broker_fixture {};

TEST_F(BrokerAdmin, CredentialExpiryClosesLiveConnection) {
  client_identity who{"device", now() + 60s};
  core().on_connect(1, connect_packet("dev"), who, now());
  advance(59s);
  EXPECT_TRUE(tick().empty());
  advance(1s);
  const auto as = tick();
  EXPECT_EQ(sent<mqtt::disconnect>(as, 1).at(0).reason, reason_code::maximum_connect_time);
  EXPECT_EQ(closed(as, 1), reason_code::maximum_connect_time);
}

TEST_F(BrokerAdmin, KickClosesAndEndsSession) {
  connect_persistent(1, "dev");
  const auto as = core().kick("dev", reason_code::administrative_action, now());
  EXPECT_EQ(sent<mqtt::disconnect>(as, 1).at(0).reason, reason_code::administrative_action);
  EXPECT_EQ(closed(as, 1), reason_code::administrative_action);
  EXPECT_FALSE(core().find_session("dev"));
  EXPECT_TRUE(drop(1).empty());
  EXPECT_TRUE(core().kick("dev", reason_code::administrative_action, now()).empty());
  // An offline session is ended too.
  connect_persistent(2, "off");
  drop(2);
  EXPECT_TRUE(core().kick("off", reason_code::administrative_action, now()).empty());
  EXPECT_FALSE(core().find_session("off"));
}

TEST_F(BrokerAdmin, SubscriptionQuota) {
  broker_limits l;
  l.max_subscriptions = 2;
  make(l);
  connect(1, "dev");
  auto s = subscribe_packet(1, "a");
  s.subscriptions.push_back(mqtt::subscription{"b", {}});
  s.subscriptions.push_back(mqtt::subscription{"c", {}});
  auto acks = sent<mqtt::suback>(packet(1, s), 1);
  ASSERT_EQ(acks.size(), 1U);
  EXPECT_EQ(acks[0].reasons,
            (std::vector<reason_code>{reason_code::granted_qos_0, reason_code::granted_qos_0,
                                      reason_code::quota_exceeded}));
  // Re-subscribing to an existing filter is not a new subscription.
  acks = sent<mqtt::suback>(packet(1, subscribe_packet(2, "a", qos::at_least_once)), 1);
  EXPECT_EQ(acks.at(0).reasons, (std::vector<reason_code>{reason_code::granted_qos_1}));
}

} // namespace
} // namespace aegis::broker::testing

namespace aegis::broker::testing {
namespace {

using namespace std::chrono_literals;

class BrokerRates : public broker_fixture {};

TEST_F(BrokerRates, PublishRateOverLimitDisconnects0x96) {
  broker_limits l;
  l.publish_rate = rate_limit{2, 2};
  make(l);
  connect(1, "dev");
  EXPECT_FALSE(closed(packet(1, publish_packet("t", "1")), 1));
  EXPECT_FALSE(closed(packet(1, publish_packet("t", "2")), 1));
  advance(500ms); // one token back
  EXPECT_FALSE(closed(packet(1, publish_packet("t", "3")), 1));
  const auto as = packet(1, publish_packet("t", "4"));
  EXPECT_EQ(sent<mqtt::disconnect>(as, 1).at(0).reason, reason_code::message_rate_too_high);
  EXPECT_EQ(closed(as, 1), reason_code::message_rate_too_high);
}

TEST_F(BrokerRates, PingAndSubscribeStormsAreCut) {
  broker_limits l;
  l.ping_rate = rate_limit{1, 1};
  l.subscribe_rate = rate_limit{1, 1};
  make(l);
  connect(1, "pinger", protocol_version::v3_1_1);
  EXPECT_EQ(sent<mqtt::pingresp>(packet(1, mqtt::pingreq{}), 1).size(), 1U);
  auto as = packet(1, mqtt::pingreq{});
  EXPECT_EQ(sends_to(as, 1), 0U); // 3.1.1: no DISCONNECT from a server
  EXPECT_EQ(closed(as, 1), reason_code::message_rate_too_high);
  connect(2, "subber");
  EXPECT_EQ(sent<mqtt::suback>(packet(2, subscribe_packet(1, "a")), 2).size(), 1U);
  mqtt::unsubscribe u;
  u.packet_id = 2;
  u.filters = {"a"};
  EXPECT_EQ(closed(packet(2, u), 2), reason_code::message_rate_too_high);
}

TEST_F(BrokerRates, UnlimitedByDefault) {
  connect(1, "dev");
  for (int i = 0; i < 1000; ++i) {
    ASSERT_FALSE(closed(packet(1, mqtt::pingreq{}), 1));
  }
}

} // namespace
} // namespace aegis::broker::testing
