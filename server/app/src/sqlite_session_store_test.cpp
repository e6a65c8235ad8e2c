// The broker's session_store port over the real SQLite store: what a broker_core journals,
// written through sqlite_session_store, survives closing and reopening the database and restores
// into a new broker_core; and the adapter keeps each space apart and in key order.

#include "aegis/app/sqlite_session_store.hpp"

#include "aegis/base/log.hpp"
#include "aegis/broker/broker_core.hpp"
#include "aegis/crypto/aead.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>

namespace {

using namespace aegis;
namespace fs = std::filesystem;

const bool quiet_logs = [] {
  log::init({log::level::warn});
  return true;
}();

class SqliteSessionStore : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("aegis-session-store-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<storage_sqlite::sqlite_store> open() {
    auto key = crypto::master_key::from_bytes(bytes(crypto::aead_key_size, 0x21));
    EXPECT_TRUE(key);
    auto s = storage_sqlite::sqlite_store::open({dir_ / "aegis.db"}, *key);
    EXPECT_TRUE(s) << (s ? "" : s.error().message());
    return std::move(*s);
  }

  fs::path dir_;
  manual_clock clock_;
  broker::allow_all_authorizer authz_;
};

mqtt::connect persistent(std::string id) {
  mqtt::connect c;
  c.client_id = std::move(id);
  c.clean_start = false;
  c.properties.session_expiry_interval = 3600;
  return c;
}

TEST_F(SqliteSessionStore, JournaledStateSurvivesReopenAndRestores) {
  {
    auto db = open();
    app::sqlite_session_store store(*db);
    broker::broker_core core({}, authz_);
    (void)core.restore(*store.load(), clock_.steady_now(), clock_.wall_now());
    const auto now = clock_.steady_now();
    (void)core.on_connect(1, persistent("sub"), broker::client_identity{"alice"}, now);
    mqtt::subscribe s;
    s.packet_id = 1;
    s.subscriptions.push_back(
        {"t/#", mqtt::subscription_options{.max_qos = mqtt::qos::exactly_once}});
    (void)core.on_packet(1, std::move(s), now);
    (void)core.on_disconnect(1, broker::transport_close::peer_closed, now);
    mqtt::connect pub;
    pub.client_id = "pub";
    (void)core.on_connect(2, std::move(pub), broker::client_identity{"bob"}, now);
    for (std::uint16_t i = 1; i <= 3; ++i) {
      mqtt::publish p;
      p.topic = "t/" + std::to_string(i);
      p.payload = to_bytes("payload " + std::to_string(i));
      p.qos = mqtt::qos::at_least_once;
      p.packet_id = i;
      p.retain = i == 3;
      (void)core.on_packet(2, std::move(p), now);
    }
    ASSERT_TRUE(store.apply(core.take_journal()));
  }
  auto db = open();
  app::sqlite_session_store store(*db);
  auto snap = store.load();
  ASSERT_TRUE(snap);
  EXPECT_EQ(snap->of(broker::state_space::session).size(), 1U);
  EXPECT_EQ(snap->of(broker::state_space::queue).size(), 3U);
  EXPECT_EQ(snap->of(broker::state_space::message).size(), 3U);
  EXPECT_EQ(snap->of(broker::state_space::retained).size(), 1U);
  const auto& queue = snap->of(broker::state_space::queue);
  EXPECT_TRUE(std::is_sorted(queue.begin(), queue.end(),
                             [](const auto& a, const auto& b) { return a.key < b.key; }));

  broker::broker_core core({}, authz_);
  const auto rep = core.restore(*snap, clock_.steady_now(), clock_.wall_now());
  EXPECT_EQ(rep.sessions, 1U);
  EXPECT_EQ(rep.queued, 3U);
  EXPECT_EQ(rep.retained, 1U);
  EXPECT_EQ(rep.unreadable + rep.orphans, 0U);
  const auto as =
      core.on_connect(7, persistent("sub"), broker::client_identity{"alice"}, clock_.steady_now());
  std::vector<std::string> got;
  for (const auto& a : as) {
    if (const auto* s = std::get_if<broker::send_action>(&a)) {
      if (const auto* p = std::get_if<mqtt::publish>(&s->packet)) {
        got.emplace_back(as_string_view(p->payload));
      }
    }
  }
  EXPECT_EQ(got, (std::vector<std::string>{"payload 1", "payload 2", "payload 3"}));
}

} // namespace
