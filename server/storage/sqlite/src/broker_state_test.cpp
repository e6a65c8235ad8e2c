#include "aegis/storage_sqlite/broker_state.hpp"

#include "aegis/base/log.hpp"
#include "aegis/registry/errors.hpp"

#include "migrations.hpp"
#include "sqlite.hpp"
#include "store_fixture.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>
#include <vector>

namespace {

using namespace aegis;
using namespace aegis::storage_sqlite;
namespace fx = aegis::storage_sqlite::testing;

const bool quiet_logs = [] {
  log::init({log::level::warn});
  return true;
}();

keyed_change put(std::uint8_t space, std::string key, std::string value) {
  return {space, std::move(key), to_bytes(value)};
}
keyed_change erase(std::uint8_t space, std::string key) {
  return {space, std::move(key), std::nullopt};
}

std::vector<std::string> keys_of(const std::vector<keyed_value>& v) {
  std::vector<std::string> out;
  for (const auto& r : v) {
    out.push_back(r.key);
  }
  return out;
}

TEST(SqliteBrokerState, RoundTripInKeyOrderAcrossReopen) {
  fx::temp_dir dir;
  const auto key = fx::test_master_key();
  const std::string binary_key("c\0\x01\xff", 4);
  {
    auto store = fx::open_store(dir.db(), key);
    sqlite_broker_state state(*store);
    const std::vector<keyed_change> batch{put(1, "b", "second"),      put(1, "a", "first"),
                                          put(2, "a", "other space"), put(1, binary_key, "binary"),
                                          put(1, "gone", "x"),        erase(1, "gone"),
                                          erase(1, "never there")};
    ASSERT_TRUE(state.apply(batch));
    ASSERT_TRUE(state.apply(std::vector<keyed_change>{put(1, "b", "replaced")}));
  }
  auto store = fx::open_store(dir.db(), key);
  sqlite_broker_state state(*store);
  auto one = state.load(1);
  ASSERT_TRUE(one) << one.error().message();
  EXPECT_EQ(keys_of(*one), (std::vector<std::string>{"a", "b", binary_key}));
  EXPECT_EQ((*one)[1].value, to_bytes("replaced"));
  EXPECT_EQ((*one)[2].value, to_bytes("binary"));
  auto two = state.load(2);
  ASSERT_TRUE(two);
  ASSERT_EQ(two->size(), 1U);
  EXPECT_EQ((*two)[0].value, to_bytes("other space"));
  EXPECT_EQ(*state.count(1), 3U);
  EXPECT_TRUE(state.load(9)->empty());
}

// Values are sealed: the payload is not in the files, and a flipped byte is detected at load.
TEST(SqliteBrokerState, ValuesAreSealedAndTamperingIsDetected) {
  fx::temp_dir dir;
  const auto key = fx::test_master_key();
  auto store = fx::open_store(dir.db(), key);
  sqlite_broker_state state(*store);
  const std::string secret = "device telemetry 8d1f0c5e payload";
  ASSERT_TRUE(state.apply(std::vector<keyed_change>{put(3, "m1", secret), put(3, "m2", "ok")}));
  EXPECT_EQ(fx::raw_database_bytes(dir.db()).find(secret), std::string::npos);
  {
    auto c = detail::connection::open(dir.db(), SQLITE_OPEN_READWRITE);
    ASSERT_TRUE(c);
    // Flip one byte of the sealed value in the file.
    auto read = c->prepare("SELECT value_sealed FROM broker_state WHERE key = ?1");
    ASSERT_TRUE(read);
    read->bind_blob(1, as_bytes("m1"));
    ASSERT_TRUE(*read->step());
    bytes sealed = read->blob(0);
    sealed[sealed.size() / 2] ^= 0x01;
    auto write = c->prepare("UPDATE broker_state SET value_sealed = ?1 WHERE key = ?2");
    ASSERT_TRUE(write);
    write->bind_blob(1, sealed).bind_blob(2, as_bytes("m1"));
    ASSERT_TRUE(write->run());
  }
  auto loaded = state.load(3);
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error(), registry::registry_errc::sealed_value_unreadable);
}

TEST(SqliteBrokerState, AValueMovedToAnotherKeyDoesNotOpen) {
  fx::temp_dir dir;
  const auto key = fx::test_master_key();
  auto store = fx::open_store(dir.db(), key);
  sqlite_broker_state state(*store);
  ASSERT_TRUE(state.apply(std::vector<keyed_change>{put(4, "alice", "a"), put(4, "bob", "b")}));
  {
    auto c = detail::connection::open(dir.db(), SQLITE_OPEN_READWRITE);
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->exec("UPDATE broker_state SET value_sealed = (SELECT value_sealed FROM "
                        "broker_state WHERE key = CAST('alice' AS BLOB)) WHERE key = "
                        "CAST('bob' AS BLOB)"));
  }
  EXPECT_FALSE(state.load(4));
  // Another master key opens nothing either.
  ASSERT_TRUE(state.apply(std::vector<keyed_change>{erase(4, "bob")}));
  ASSERT_TRUE(state.load(4));
  store.reset();
  const auto other = fx::test_master_key(0x17);
  auto foreign = fx::open_store(dir.db(), other);
  sqlite_broker_state foreign_state(*foreign);
  EXPECT_FALSE(foreign_state.load(4));
}

// A batch is atomic: a failure half-way leaves nothing of it.
TEST(SqliteBrokerState, AFailedBatchAppliesNothing) {
  fx::temp_dir dir;
  const auto key = fx::test_master_key();
  auto store = fx::open_store(dir.db(), key);
  sqlite_broker_state state(*store);
  ASSERT_TRUE(state.apply(std::vector<keyed_change>{put(1, "kept", "v")}));
  {
    auto c = detail::connection::open(dir.db(), SQLITE_OPEN_READWRITE);
    ASSERT_TRUE(c);
    // A trigger makes the next insert of key "boom" fail, as a full disk would.
    ASSERT_TRUE(c->exec("CREATE TRIGGER fail_boom BEFORE INSERT ON broker_state WHEN "
                        "NEW.key = CAST('boom' AS BLOB) BEGIN SELECT RAISE(ABORT, 'boom'); END"));
  }
  auto r = state.apply(
      std::vector<keyed_change>{put(1, "first", "v"), erase(1, "kept"), put(1, "boom", "v")});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), registry::registry_errc::storage_failed);
  EXPECT_EQ(keys_of(*state.load(1)), std::vector<std::string>{"kept"});
}

// A database written by the previous release (schema 3) gains the table on open and keeps its data.
TEST(SqliteBrokerState, MigratesAVersionThreeDatabase) {
  fx::temp_dir dir;
  const auto key = fx::test_master_key();
  {
    auto c = detail::connection::open(dir.db(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    ASSERT_TRUE(c);
    ASSERT_TRUE(detail::migrate(*c, detail::all_migrations().first(3), wall_time{}));
    EXPECT_EQ(*detail::current_schema_version(*c), 3);
  }
  {
    auto store = fx::open_store(dir.db(), key);
    ASSERT_TRUE(store->put_secret("ca/private_key", to_bytes("der")));
  }
  {
    // Back to exactly version 3, with the secret written by it.
    auto c = detail::connection::open(dir.db(), SQLITE_OPEN_READWRITE);
    ASSERT_TRUE(c);
    ASSERT_TRUE(
        c->exec("DROP TABLE broker_state; DELETE FROM schema_migrations WHERE version = 4"));
    EXPECT_EQ(*detail::current_schema_version(*c), 3);
  }
  auto store = fx::open_store(dir.db(), key);
  EXPECT_EQ(store->schema_version(), 4);
  EXPECT_EQ(as_string_view(store->get_secret("ca/private_key")->view()), "der");
  sqlite_broker_state state(*store);
  EXPECT_TRUE(state.load(1)->empty());
  ASSERT_TRUE(state.apply(std::vector<keyed_change>{put(1, "s", "v")}));
  EXPECT_EQ(state.load(1)->size(), 1U);
}

} // namespace
