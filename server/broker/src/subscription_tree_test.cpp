#include "aegis/broker/subscription_tree.hpp"

#include "aegis/mqtt/topic.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>
#include <random>
#include <string>
#include <vector>

// Counts every global allocation in this test binary, so a test can prove a code path allocates
// nothing. Not under AddressSanitizer, which owns operator new itself and reports a replacement
// that frees with free() as a mismatch.
#if !defined(__SANITIZE_ADDRESS__)
#define AEGIS_COUNT_ALLOCATIONS 1
namespace {
std::atomic<std::size_t> allocations{0};
} // namespace

// Out of line: once inlined, g++ 12 pairs `free` with the `new` expression at the call site and
// warns (-Wmismatched-new-delete) although the pair is malloc/free.
[[gnu::noinline]] void* operator new(std::size_t n) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) {
    return p;
  }
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept {
  std::free(p);
}
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
#endif

namespace aegis::broker {
namespace {

subscriber_options opts(mqtt::qos q = mqtt::qos::at_most_once, std::uint32_t sub_id = 0) {
  subscriber_options o;
  o.max_qos = q;
  o.subscription_identifier = sub_id;
  return o;
}

std::vector<subscriber_id> ids(subscription_tree& t, std::string_view topic) {
  std::vector<match_result> out;
  t.match(topic, out);
  std::vector<subscriber_id> r;
  for (const auto& m : out) {
    r.push_back(m.id);
  }
  std::sort(r.begin(), r.end());
  return r;
}

using v = std::vector<subscriber_id>;

TEST(SubscriptionTree, ExactPlusAndHash) {
  subscription_tree t;
  EXPECT_TRUE(t.subscribe("a/b/c", 1, opts()));
  EXPECT_TRUE(t.subscribe("a/+/c", 2, opts()));
  EXPECT_TRUE(t.subscribe("a/#", 3, opts()));
  EXPECT_TRUE(t.subscribe("#", 4, opts()));
  EXPECT_TRUE(t.subscribe("+/+", 5, opts()));
  EXPECT_EQ(ids(t, "a/b/c"), (v{1, 2, 3, 4}));
  EXPECT_EQ(ids(t, "a/x/c"), (v{2, 3, 4}));
  EXPECT_EQ(ids(t, "a/b"), (v{3, 4, 5}));
  // "a/#" also matches its parent level [MQTT-4.7.1.2].
  EXPECT_EQ(ids(t, "a"), (v{3, 4}));
  EXPECT_EQ(ids(t, "b/c/d"), (v{4}));
  EXPECT_EQ(t.size(), 5U);
}

TEST(SubscriptionTree, EmptyLevels) {
  subscription_tree t;
  ASSERT_TRUE(t.subscribe("+/+", 1, opts()));
  ASSERT_TRUE(t.subscribe("/+", 2, opts()));
  ASSERT_TRUE(t.subscribe("a//b", 3, opts()));
  EXPECT_EQ(ids(t, "/"), (v{1, 2}));
  EXPECT_EQ(ids(t, "/finance"), (v{1, 2}));
  EXPECT_EQ(ids(t, "a//b"), (v{3}));
  EXPECT_EQ(ids(t, "a/b"), (v{1}));
}

TEST(MQTT_4_7_2_1_DollarTopics, WildcardsAtFirstLevelDoNotMatch) {
  subscription_tree t;
  ASSERT_TRUE(t.subscribe("#", 1, opts()));
  ASSERT_TRUE(t.subscribe("+/monitor/Clients", 2, opts()));
  ASSERT_TRUE(t.subscribe("$SYS/#", 3, opts()));
  ASSERT_TRUE(t.subscribe("$SYS/monitor/+", 4, opts()));
  EXPECT_EQ(ids(t, "$SYS/monitor/Clients"), (v{3, 4}));
  EXPECT_EQ(ids(t, "x/monitor/Clients"), (v{1, 2}));
}

TEST(MQTT_3_8_4_3_ReplaceExisting, SecondSubscribeReplacesOptions) {
  subscription_tree t;
  EXPECT_TRUE(t.subscribe("a/b", 1, opts(mqtt::qos::at_most_once)));
  EXPECT_FALSE(t.subscribe("a/b", 1, opts(mqtt::qos::exactly_once, 7)));
  std::vector<match_result> out;
  t.match("a/b", out);
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].options.max_qos, mqtt::qos::exactly_once);
  EXPECT_EQ(out[0].options.subscription_identifier, 7U);
  EXPECT_EQ(t.size(), 1U);
}

TEST(SubscriptionTree, UnsubscribePrunesNodes) {
  subscription_tree t;
  const auto empty_nodes = t.node_count();
  ASSERT_TRUE(t.subscribe("a/b/c", 1, opts()));
  ASSERT_TRUE(t.subscribe("a/+/#", 2, opts()));
  ASSERT_TRUE(t.subscribe("$share/g/a/b/c", 3, opts()));
  EXPECT_FALSE(t.unsubscribe("a/b/c", 9));
  EXPECT_FALSE(t.unsubscribe("a/b", 1));
  EXPECT_FALSE(t.unsubscribe("x/y", 1));
  EXPECT_TRUE(t.unsubscribe("a/b/c", 1));
  EXPECT_FALSE(t.unsubscribe("a/b/c", 1));
  EXPECT_EQ(ids(t, "a/b/c"), (v{2, 3}));
  EXPECT_TRUE(t.unsubscribe("a/+/#", 2));
  EXPECT_TRUE(t.unsubscribe("$share/g/a/b/c", 3));
  EXPECT_EQ(ids(t, "a/b/c"), (v{}));
  EXPECT_EQ(t.size(), 0U);
  EXPECT_EQ(t.node_count(), empty_nodes);
}

TEST(MQTT_4_8_2_SharedSubscriptions, RoundRobinPerGroup) {
  subscription_tree t;
  ASSERT_TRUE(t.subscribe("$share/g1/job/+", 1, opts()));
  ASSERT_TRUE(t.subscribe("$share/g1/job/+", 2, opts()));
  ASSERT_TRUE(t.subscribe("$share/g1/job/+", 3, opts()));
  ASSERT_TRUE(t.subscribe("$share/g2/job/+", 4, opts()));
  ASSERT_TRUE(t.subscribe("job/+", 5, opts()));
  std::vector<int> per_member(6, 0);
  std::vector<match_result> out;
  for (int i = 0; i < 9; ++i) {
    t.match("job/x", out);
    // One from each group plus the plain subscriber.
    ASSERT_EQ(out.size(), 3U);
    int g1 = 0;
    for (const auto& m : out) {
      ++per_member[m.id];
      if (m.id <= 3) {
        ++g1;
        EXPECT_TRUE(m.shared);
      }
    }
    EXPECT_EQ(g1, 1);
  }
  EXPECT_EQ(per_member[1], 3);
  EXPECT_EQ(per_member[2], 3);
  EXPECT_EQ(per_member[3], 3);
  EXPECT_EQ(per_member[4], 9);
  EXPECT_EQ(per_member[5], 9);
  // A member leaving keeps the rest of its group served.
  ASSERT_TRUE(t.unsubscribe("$share/g1/job/+", 2));
  per_member.assign(6, 0);
  for (int i = 0; i < 4; ++i) {
    t.match("job/x", out);
    for (const auto& m : out) {
      ++per_member[m.id];
    }
  }
  EXPECT_EQ(per_member[1], 2);
  EXPECT_EQ(per_member[2], 0);
  EXPECT_EQ(per_member[3], 2);
}

#if defined(AEGIS_COUNT_ALLOCATIONS)
TEST(SubscriptionTree, WarmMatchDoesNotAllocate) {
  subscription_tree t;
  ASSERT_TRUE(t.subscribe("site/1/floor/2/room/3/temp", 1, opts()));
  ASSERT_TRUE(t.subscribe("site/+/floor/+/room/+/temp", 2, opts()));
  ASSERT_TRUE(t.subscribe("site/1/#", 3, opts()));
  ASSERT_TRUE(t.subscribe("$share/g/site/1/floor/2/#", 4, opts()));
  ASSERT_TRUE(t.subscribe("site/1/floor/2/room/9/temp", 5, opts()));
  std::vector<match_result> out;
  out.reserve(16);
  const std::string topic = "site/1/floor/2/room/3/temp";
  const std::size_t before = allocations.load();
  t.match(topic, out);
  t.match(topic, out);
  EXPECT_EQ(allocations.load(), before);
  EXPECT_EQ(out.size(), 4U);
  // The hook does count: a cold output vector has to grow.
  std::vector<match_result> cold;
  t.match(topic, cold);
  EXPECT_GT(allocations.load(), before);
}
#endif

// Scale check without timing: 100k subscriptions across 10k distinct device filters plus shared
// wildcards; every device topic must reach exactly its own subscribers.
TEST(SubscriptionTree, HundredThousandSubscriptions) {
  subscription_tree t;
  constexpr subscriber_id devices = 10'000;
  subscriber_id next = 1;
  for (subscriber_id d = 0; d < devices; ++d) {
    const std::string base = "devices/" + std::to_string(d);
    for (int k = 0; k < 9; ++k) {
      ASSERT_TRUE(t.subscribe(base + "/cmd/" + std::to_string(k), next++, opts()));
    }
  }
  // One filter for all of these: they share its nodes.
  for (subscriber_id i = 0; i < devices; ++i) {
    ASSERT_TRUE(t.subscribe("devices/+/cmd/#", next++, opts()));
  }
  EXPECT_EQ(t.size(), 100'000U);
  // Nodes: root, "devices", one per device, its "cmd", nine leaves, plus "+", "cmd", "#".
  EXPECT_EQ(t.node_count(), 2 + devices * 11 + 3);
  std::vector<match_result> out;
  for (subscriber_id d = 0; d < devices; d += 997) {
    t.match("devices/" + std::to_string(d) + "/cmd/4", out);
    ASSERT_EQ(out.size(), devices + 1);
    const auto own = std::count_if(out.begin(), out.end(), [&](const match_result& m) {
      return m.id == d * 9 + 5; // the "/cmd/4" subscription of device d
    });
    EXPECT_EQ(own, 1);
  }
  t.match("devices/unknown/cmd/4", out);
  EXPECT_EQ(out.size(), devices);
}

} // namespace
} // namespace aegis::broker

namespace aegis::broker {
namespace {

TEST(MQTT_4_8_2_SharedSubscriptions, SkipsUnavailableMembers) {
  subscription_tree t;
  std::vector<bool> up = {false, true, false, true};
  t.set_availability([&](subscriber_id id) { return up[id]; });
  for (subscriber_id id = 0; id < 4; ++id) {
    ASSERT_TRUE(t.subscribe("$share/g/x", id, subscriber_options{}));
  }
  std::vector<int> hits(4, 0);
  std::vector<match_result> out;
  for (int i = 0; i < 6; ++i) {
    t.match("x", out);
    ASSERT_EQ(out.size(), 1U);
    ++hits[out[0].id];
  }
  EXPECT_EQ(hits, (std::vector<int>{0, 3, 0, 3}));
  // None available: still one member, so the message can queue.
  up.assign(4, false);
  t.match("x", out);
  EXPECT_EQ(out.size(), 1U);
}

} // namespace
} // namespace aegis::broker

namespace aegis::broker {
namespace {

// The trie against the reference matcher, mqtt::topic_matches, on random filters and topics
// over a small alphabet (so that they collide often), '$' levels and empty levels included.
TEST(SubscriptionTree, AgreesWithTopicMatches) {
  std::mt19937 rng(12345);
  const std::vector<std::string> levels = {"a", "b", "$s", ""};
  const auto pick = [&](std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
  };
  const auto make = [&](bool filter) {
    std::string s;
    const std::size_t depth = 1 + pick(4);
    for (std::size_t i = 0; i < depth; ++i) {
      if (i > 0) {
        s += '/';
      }
      const std::size_t k = pick(filter ? 6 : 4);
      if (filter && k == 5) {
        s += '#';
        break;
      }
      s += filter && k == 4 ? std::string("+") : levels[k % 4];
    }
    return s;
  };
  subscription_tree t;
  std::vector<std::string> filters;
  for (subscriber_id id = 0; id < 300; ++id) {
    std::string f = make(true);
    while (!mqtt::validate_topic_filter(f)) {
      f = make(true);
    }
    filters.push_back(f);
    t.subscribe(filters.back(), id, subscriber_options{});
  }
  // Remove a third, to exercise pruning too.
  std::vector<bool> live(filters.size(), true);
  for (subscriber_id id = 0; id < 300; id += 3) {
    ASSERT_TRUE(t.unsubscribe(filters[id], id));
    live[id] = false;
  }
  std::vector<match_result> out;
  for (int i = 0; i < 500; ++i) {
    const std::string topic = make(false);
    if (!mqtt::validate_topic_name(topic)) {
      continue;
    }
    t.match(topic, out);
    std::vector<subscriber_id> got;
    for (const auto& m : out) {
      got.push_back(m.id);
    }
    std::sort(got.begin(), got.end());
    std::vector<subscriber_id> want;
    for (subscriber_id id = 0; id < filters.size(); ++id) {
      if (live[id] && mqtt::topic_matches(filters[id], topic)) {
        want.push_back(id);
      }
    }
    ASSERT_EQ(got, want) << "topic '" << topic << "'";
  }
  for (subscriber_id id = 0; id < filters.size(); ++id) {
    if (live[id]) {
      ASSERT_TRUE(t.unsubscribe(filters[id], id));
    }
  }
  EXPECT_EQ(t.size(), 0U);
  EXPECT_EQ(t.node_count(), 1U); // everything pruned but the root
}

} // namespace
} // namespace aegis::broker
