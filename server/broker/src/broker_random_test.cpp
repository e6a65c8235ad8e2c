// broker_core under random event sequences: connects, takeovers, publishes, acks, drops, ticks
// and backpressure, with invariants checked after every event. Deterministic seeds.

#include "broker_core_test_support.hpp"
#include "memory_session_store.hpp"

#include "aegis/mqtt/codec.hpp"
#include "aegis/mqtt/topic.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

namespace aegis::broker::testing {
namespace {

using namespace std::chrono_literals;

constexpr std::uint16_t client_window = 2;

struct live_conn {
  std::string client_id;
  protocol_version version = protocol_version::v5;
  std::map<std::uint16_t, qos> outbound; // QoS 1/2 PUBLISH sent to it, not yet acknowledged
  std::set<std::uint16_t> to_release;    // PUBREC we got for our QoS 2 publishes
  std::uint16_t next_id = 1;
};

class BrokerRandom : public broker_fixture, public ::testing::WithParamInterface<unsigned> {
protected:
  void check(const actions& as) {
    std::set<connection_id> closed_here;
    for (const auto& a : as) {
      if (const auto* c = std::get_if<close_action>(&a)) {
        ASSERT_FALSE(closed_here.contains(c->conn)) << "closed twice";
        ASSERT_TRUE(live_.contains(c->conn)) << "close for a connection already gone";
        closed_here.insert(c->conn);
        continue;
      }
      const auto& s = std::get<send_action>(a);
      ASSERT_FALSE(closed_here.contains(s.conn)) << "send after close";
      auto it = live_.find(s.conn);
      ASSERT_NE(it, live_.end()) << "send to a connection already gone";
      ASSERT_EQ(s.version, it->second.version);
      ASSERT_TRUE(mqtt::encode(s.packet, s.version)) << "unencodable packet";
      if (const auto* rel = std::get_if<mqtt::pubrel>(&s.packet)) {
        // Also the resumed QoS 2 flows of a new connection: they hold a window slot.
        ASSERT_EQ(rel->reason, reason_code::success);
        it->second.to_release.insert(rel->packet_id);
      }
      if (const auto* p = std::get_if<mqtt::publish>(&s.packet); p && p->qos != qos::at_most_once) {
        ASSERT_NE(p->packet_id, 0U);
        ASSERT_FALSE(it->second.to_release.contains(p->packet_id)) << "id reused before PUBCOMP";
        const bool fresh = it->second.outbound.emplace(p->packet_id, p->qos).second;
        ASSERT_TRUE(fresh || p->dup) << "packet id reused while in flight";
        // Released QoS 2 messages hold their slot until PUBCOMP.
        ASSERT_LE(it->second.outbound.size() + it->second.to_release.size(), client_window)
            << "inflight window exceeded";
      }
    }
    for (const auto id : closed_here) {
      live_.erase(id);
    }
    ASSERT_EQ(core().connection_count(), live_.size());
  }

  // One random event, checked.
  void random_step(int step) {
    const std::vector<std::string> topics = {"t/a", "t/b", "$s/x"};
    const std::vector<std::string> filters = {"t/#", "t/+", "$share/g/t/a", "#", "$s/#"};
    const std::size_t kind = live_.empty() ? 0 : pick(10);
    actions as;
    if (kind == 0) {
      const connection_id id = next_conn_++;
      auto c = connect_packet("c" + std::to_string(pick(4)),
                              pick(3) == 0 ? protocol_version::v3_1_1 : protocol_version::v5,
                              pick(3) == 0, static_cast<std::uint16_t>(pick(2) * 5));
      c.properties.session_expiry_interval = static_cast<std::uint32_t>(pick(2) * 60);
      c.properties.receive_maximum = client_window;
      if (pick(2) == 0) {
        mqtt::will_message w;
        w.topic = "t/will";
        w.payload = to_bytes("w");
        w.qos = static_cast<qos>(pick(3));
        w.properties.will_delay_interval = static_cast<std::uint32_t>(pick(2) * 3);
        c.will = w;
      }
      live_conn lc;
      lc.client_id = c.client_id;
      lc.version = c.version;
      live_.emplace(id, lc);
      as = connect(id, std::move(c));
    } else {
      const connection_id id = any_live();
      live_conn& lc = live_.at(id);
      switch (kind) {
      case 1:
      case 2: {
        const auto q = static_cast<qos>(pick(3));
        const std::uint16_t pid = q == qos::at_most_once ? 0 : lc.next_id++;
        as = packet(id, publish_packet(topics[pick(topics.size())], "p", q, pid, pick(4) == 0));
        break;
      }
      case 3: {
        mqtt::subscription_options o;
        o.retain_handling = static_cast<mqtt::retain_handling>(pick(3));
        const auto& f = filters[pick(filters.size())];
        o.no_local = !mqtt::is_shared_subscription(f) && pick(2) == 0;
        if (lc.version == protocol_version::v3_1_1) {
          o = {};
        }
        as = packet(id, subscribe_packet(lc.next_id++, f, static_cast<qos>(pick(3)), o));
        break;
      }
      case 4:
      case 5: {
        // Acknowledge what we hold, the way a well-behaved client would.
        if (!lc.to_release.empty()) {
          mqtt::pubcomp comp;
          comp.packet_id = *lc.to_release.begin();
          lc.to_release.erase(lc.to_release.begin());
          as = packet(id, comp);
        } else if (!lc.outbound.empty()) {
          const auto [pid, q] = *lc.outbound.begin();
          if (q == qos::at_least_once) {
            mqtt::puback a;
            a.packet_id = pid;
            lc.outbound.erase(pid);
            as = packet(id, a);
          } else {
            mqtt::pubrec r;
            r.packet_id = pid;
            lc.to_release.insert(pid);
            lc.outbound.erase(pid);
            as = packet(id, r);
          }
        } else {
          as = packet(id, mqtt::pingreq{});
        }
        break;
      }
      case 6:
        as = drop(id);
        live_.erase(id);
        break;
      case 7:
        as = packet(id, mqtt::disconnect{});
        break;
      case 8:
        advance(std::chrono::seconds{pick(5)});
        as = tick();
        break;
      default:
        as = core().on_backpressure(id, pick(2) == 0, now());
        break;
      }
    }
    ASSERT_NO_FATAL_FAILURE(check(as)) << "step " << step;
  }

  void make_random_core() {
    broker_limits l;
    l.max_queued_messages = 5;
    l.receive_maximum = 4;
    l.max_outbound_inflight = client_window; // the window for 3.1.1 clients
    make(l);
  }

  std::mt19937 rng_{GetParam()};
  std::map<connection_id, live_conn> live_;
  connection_id next_conn_ = 1;

  std::size_t pick(std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
  }
  connection_id any_live() {
    auto it = live_.begin();
    std::advance(it, static_cast<std::ptrdiff_t>(pick(live_.size())));
    return it->first;
  }
};

TEST_P(BrokerRandom, InvariantsHold) {
  make_random_core();
  for (int step = 0; step < 2000; ++step) {
    ASSERT_NO_FATAL_FAILURE(random_step(step));
  }
}

// With persistence on, the journal applied to a store after every event always rebuilds the
// durable part of the broker: the same sessions, subscriptions, queued and in-flight messages,
// and retained messages. A transition that forgot its journal entry shows up here.
TEST_P(BrokerRandom, JournalRebuildsTheDurableState) {
  make_random_core();
  memory_session_store store;
  (void)core().restore({}, now(), clock_.wall_now());
  for (int step = 0; step < 1500; ++step) {
    ASSERT_NO_FATAL_FAILURE(random_step(step));
    ASSERT_TRUE(store.apply(core().take_journal()));
    if (step % 100 != 99) {
      continue;
    }
    // Sessions whose expiry passed end on the tick; a restore at the same instant drops them.
    ASSERT_NO_FATAL_FAILURE(check(tick()));
    ASSERT_TRUE(store.apply(core().take_journal()));
    broker_limits l;
    l.max_queued_messages = 5;
    l.receive_maximum = 4;
    l.max_outbound_inflight = client_window;
    broker_core rebuilt(l, authz_);
    const auto rep = rebuilt.restore(*store.load(), now(), clock_.wall_now());
    ASSERT_EQ(rep.unreadable + rep.orphans, 0U) << "step " << step;
    ASSERT_TRUE(rebuilt.take_journal().empty()) << "step " << step;
    for (int c = 0; c < 4; ++c) {
      const std::string id = "c" + std::to_string(c);
      const auto live = core().find_session(id);
      const auto back = rebuilt.find_session(id);
      if (!live || !live->persisted) {
        EXPECT_FALSE(back) << id << " at step " << step;
        continue;
      }
      ASSERT_TRUE(back) << id << " at step " << step;
      EXPECT_EQ(back->subscriptions, live->subscriptions) << id << " at step " << step;
      EXPECT_EQ(back->inflight, live->inflight) << id << " at step " << step;
      EXPECT_EQ(back->queued, live->queued) << id << " at step " << step;
      EXPECT_EQ(back->queued_bytes, live->queued_bytes) << id << " at step " << step;
    }
    EXPECT_EQ(rebuilt.retained().size(), core().retained().size()) << "step " << step;
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, BrokerRandom, ::testing::Values(1U, 2U, 3U, 42U));

} // namespace
} // namespace aegis::broker::testing
