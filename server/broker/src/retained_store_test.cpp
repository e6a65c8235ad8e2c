#include "aegis/broker/retained_store.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

namespace aegis::broker {
namespace {

using namespace std::chrono_literals;

message_ptr msg(std::string topic, std::string payload,
                std::optional<steady_time> expires = std::nullopt) {
  auto m = std::make_shared<message>();
  m->topic = std::move(topic);
  m->payload = to_bytes(payload);
  m->retain = true;
  m->expires_at = expires;
  return m;
}

std::vector<std::string> topics(retained_store& s, std::string_view filter,
                                steady_time now = steady_time{}) {
  std::vector<message_ptr> out;
  s.match(filter, now, out);
  std::vector<std::string> r;
  for (const auto& m : out) {
    r.push_back(m->topic);
  }
  std::sort(r.begin(), r.end());
  return r;
}

using strings = std::vector<std::string>;

TEST(RetainedStore, MatchesFiltersWithWildcards) {
  retained_store s;
  ASSERT_TRUE(s.store(msg("a/b", "1")));
  ASSERT_TRUE(s.store(msg("a/c/d", "2")));
  ASSERT_TRUE(s.store(msg("b", "3")));
  ASSERT_TRUE(s.store(msg("$SYS/x", "4")));
  EXPECT_EQ(topics(s, "a/b"), (strings{"a/b"}));
  EXPECT_EQ(topics(s, "a/+"), (strings{"a/b"}));
  EXPECT_EQ(topics(s, "a/#"), (strings{"a/b", "a/c/d"}));
  EXPECT_EQ(topics(s, "#"), (strings{"a/b", "a/c/d", "b"}));
  EXPECT_EQ(topics(s, "+/c/+"), (strings{"a/c/d"}));
  EXPECT_EQ(topics(s, "$SYS/#"), (strings{"$SYS/x"}));
  EXPECT_EQ(topics(s, "c"), (strings{}));
}

TEST(MQTT_3_3_1_6_RetainedReplace, LatestReplacesAndEmptyPayloadDeletes) {
  retained_store s;
  ASSERT_TRUE(s.store(msg("a", "old")));
  ASSERT_TRUE(s.store(msg("a", "newer")));
  std::vector<message_ptr> out;
  s.match("a", steady_time{}, out);
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(as_string_view(out[0]->payload), "newer");
  EXPECT_EQ(s.bytes(), 6U);
  // [MQTT-3.3.1-6/7]: a zero-byte retained message removes the topic and is not stored.
  ASSERT_TRUE(s.store(msg("a", "")));
  EXPECT_EQ(s.size(), 0U);
  EXPECT_EQ(s.bytes(), 0U);
  ASSERT_TRUE(s.store(msg("never-stored", "")));
  EXPECT_EQ(s.size(), 0U);
}

TEST(RetainedStore, ExpiredMessagesAreNotReturnedAndAreRemoved) {
  retained_store s;
  const steady_time t0{};
  ASSERT_TRUE(s.store(msg("a/1", "x", t0 + 10s)));
  ASSERT_TRUE(s.store(msg("a/2", "y")));
  EXPECT_EQ(topics(s, "a/#", t0 + 9s), (strings{"a/1", "a/2"}));
  EXPECT_EQ(topics(s, "a/#", t0 + 10s), (strings{"a/2"}));
  EXPECT_EQ(s.size(), 1U);
  ASSERT_TRUE(s.store(msg("b", "z", t0 + 20s)));
  EXPECT_EQ(topics(s, "b", t0 + 21s), (strings{}));
  ASSERT_TRUE(s.store(msg("c", "z", t0 + 20s)));
  EXPECT_EQ(s.purge_expired(t0 + 19s), 0U);
  EXPECT_EQ(s.purge_expired(t0 + 20s), 1U);
  EXPECT_EQ(s.size(), 1U);
  EXPECT_EQ(s.bytes(), 4U);
}

TEST(RetainedStore, QuotaRefusesClearlyAndLeavesStoreUnchanged) {
  retained_limits limits;
  limits.max_messages = 2;
  limits.max_bytes = 10;
  retained_store s(limits);
  ASSERT_TRUE(s.store(msg("a", "1234"))); // 5
  ASSERT_TRUE(s.store(msg("b", "12")));   // 3
  auto r = s.store(msg("c", "1"));        // count would be 3
  EXPECT_EQ(r.error(), make_error_code(broker_errc::retained_quota_exceeded));
  EXPECT_EQ(to_reason_code(broker_errc::retained_quota_exceeded),
            mqtt::reason_code::quota_exceeded);
  r = s.store(msg("b", "12345")); // bytes would be 11
  EXPECT_EQ(r.error(), make_error_code(broker_errc::retained_quota_exceeded));
  r = s.store(msg("z", "12345678901"));
  EXPECT_EQ(r.error(), make_error_code(broker_errc::retained_too_large));
  EXPECT_EQ(s.refused(), 3U);
  EXPECT_EQ(s.size(), 2U);
  EXPECT_EQ(s.bytes(), 8U);
  // Replacing within quota and deleting still work at the limit.
  EXPECT_TRUE(s.store(msg("b", "1234")));
  EXPECT_TRUE(s.store(msg("a", "")));
  EXPECT_TRUE(s.store(msg("c", "1")));
  EXPECT_EQ(topics(s, "#"), (strings{"b", "c"}));
}

} // namespace
} // namespace aegis::broker
