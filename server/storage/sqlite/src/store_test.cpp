#include "aegis/storage_sqlite/store.hpp"

#include "aegis/base/log.hpp"
#include "aegis/registry/errors.hpp"
#include "aegis/registry/service.hpp"
#include "aegis/registry/testing/credentials.hpp"
#include "aegis/storage_sqlite/errors.hpp"

#include "migrations.hpp"
#include "sqlite.hpp"
#include "store_fixture.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <sys/stat.h>

#include <array>
#include <span>
#include <string>

namespace {

using namespace aegis;
using namespace aegis::registry;
using namespace aegis::storage_sqlite;
namespace fx = aegis::storage_sqlite::testing;

// Migration and open messages are info lines; keep test output to what matters.
const bool quiet_logs = [] {
  log::init({log::level::warn});
  return true;
}();

// A second, raw connection to the same file: how a test looks at (or damages) what the store
// wrote, without going through it.
detail::connection raw(const std::filesystem::path& file) {
  auto c = detail::connection::open(file, SQLITE_OPEN_READWRITE);
  if (!c) {
    throw std::runtime_error("raw open failed");
  }
  return std::move(*c);
}

std::int64_t scalar(detail::connection& c, const char* sql) {
  auto st = c.prepare(sql);
  EXPECT_TRUE(st);
  auto row = st->step();
  EXPECT_TRUE(row && *row) << sql;
  return st->int64(0);
}

class SqliteStore : public ::testing::Test {
protected:
  void SetUp() override {
    store_ = fx::open_store(dir_.db(), key_);
    svc_ = std::make_unique<registry_service>(*store_, clock_);
    ASSERT_TRUE(svc_->create_project(project_id{"acme-iot"}));
    ASSERT_TRUE(svc_->create_registry(registry_spec{reg_}));
  }

  void reopen(const crypto::master_key& key) {
    svc_.reset();
    store_.reset();
    store_ = fx::open_store(dir_.db(), key);
    svc_ = std::make_unique<registry_service>(*store_, clock_);
  }

  device_key dev(const std::string& id) const { return {reg_, device_id{id}}; }

  device make_device(const std::string& id, bytes config = {}) {
    device_spec spec;
    spec.key = dev(id);
    spec.initial_config = std::move(config);
    auto d = svc_->create_device(spec);
    EXPECT_TRUE(d) << d.error().message();
    return d ? *d : device{};
  }

  const registry_key reg_{project_id{"acme-iot"}, location_id{"us-central1"},
                          registry_id{"fleet-a"}};
  fx::temp_dir dir_;
  crypto::master_key key_ = fx::test_master_key();
  manual_clock clock_;
  std::unique_ptr<sqlite_store> store_;
  std::unique_ptr<registry_service> svc_;
};

// --- opening, pragmas, migrations ---

TEST_F(SqliteStore, OpensInWalModeWithForeignKeysAndPrivateFiles) {
  make_device("sensor-001");
  auto c = raw(dir_.db());
  auto mode = c.query_text("PRAGMA journal_mode");
  ASSERT_TRUE(mode);
  EXPECT_EQ(*mode, "wal");
  for (const char* suffix : {"", "-wal", "-shm"}) {
    struct stat st {};
    const auto p = dir_.db().string() + suffix;
    ASSERT_EQ(::stat(p.c_str(), &st), 0) << p;
    EXPECT_EQ(st.st_mode & 0777U, 0600U) << p;
  }
  // Foreign keys are on for the store's connection (SQLite's default is off): removing a
  // project that registries still reference is refused by the database itself, even when the
  // service's own check is bypassed.
  auto bad = store_->write(
      [](registry_transaction& tx) { return tx.delete_project(project_id{"acme-iot"}); });
  EXPECT_EQ(bad.error(), registry_errc::storage_failed);
  EXPECT_TRUE(svc_->get_project(project_id{"acme-iot"}));
}

TEST_F(SqliteStore, MigrationsApplyFromEmptyAndReopenKeepsData) {
  EXPECT_EQ(store_->schema_version(), sqlite_store::latest_schema_version());
  EXPECT_EQ(sqlite_store::latest_schema_version(), 4);
  auto d = make_device("sensor-001", to_bytes("kept"));
  ASSERT_TRUE(store_->put_secret("psk/sensor-001", to_bytes("psk bytes")));

  reopen(key_);
  EXPECT_EQ(store_->schema_version(), 4);
  auto c = raw(dir_.db());
  EXPECT_EQ(scalar(c, "SELECT count(*) FROM schema_migrations"), 4);
  EXPECT_EQ(scalar(c, "SELECT min(version) FROM schema_migrations"), 1);
  auto got = svc_->get_device(d.key);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, d);
  EXPECT_EQ(svc_->get_config(d.key)->data, to_bytes("kept"));
  auto psk = store_->get_secret("psk/sensor-001");
  ASSERT_TRUE(psk);
  EXPECT_EQ(as_string_view(psk->view()), "psk bytes");
}

TEST(SqliteMigrations, UpgradesAnOlderSchemaInPlace) {
  fx::temp_dir dir;
  {
    auto c = detail::connection::open(dir.db(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    ASSERT_TRUE(c);
    // A database as the first release left it: only migration 1.
    ASSERT_TRUE(detail::migrate(*c, detail::all_migrations().first(1), wall_time{}));
    EXPECT_EQ(*detail::current_schema_version(*c), 1);
  }
  auto key = fx::test_master_key();
  auto store = fx::open_store(dir.db(), key);
  EXPECT_EQ(store->schema_version(), 4);
  EXPECT_TRUE(store->put_secret("ca/private_key", to_bytes("der")));
}

// Data written by the version-1 schema survives the upgrade to the operator tables (version 3),
// and the new tables work at once.
TEST(SqliteMigrations, UpgradeFromVersionOneKeepsRegistryDataAndAddsOperatorTables) {
  fx::temp_dir dir;
  auto key = fx::test_master_key();
  manual_clock clock;
  const registry_key reg{project_id{"acme-iot"}, location_id{"us-central1"},
                         registry_id{"fleet-a"}};
  const device_key dev{reg, device_id{"sensor-001"}};
  device written;
  {
    // Registry data written through the store (migration 1's tables only)...
    auto store = fx::open_store(dir.db(), key);
    registry_service svc(*store, clock);
    ASSERT_TRUE(svc.create_project(project_id{"acme-iot"}));
    ASSERT_TRUE(svc.create_registry(registry_spec{reg}));
    device_spec spec;
    spec.key = dev;
    spec.initial_config = to_bytes("cfg");
    spec.metadata = {{"site", "plant-4"}};
    auto d = svc.create_device(spec);
    ASSERT_TRUE(d);
    written = *d;
  }
  {
    // ...then the file taken back to exactly what version 1 had.
    auto c = raw(dir.db());
    ASSERT_TRUE(c.exec("DROP TABLE secrets; DROP TABLE operator_tokens; DROP TABLE audit_log; "
                       "DROP TABLE revoked_certificates; DROP TABLE broker_state; "
                       "DELETE FROM schema_migrations WHERE version > 1"));
    ASSERT_EQ(*detail::current_schema_version(c), 1);
  }
  {
    auto store = fx::open_store(dir.db(), key);
    EXPECT_EQ(store->schema_version(), 4);
    registry_service svc(*store, clock);
    EXPECT_EQ(*svc.get_device(dev), written);
    EXPECT_EQ(svc.get_config(dev)->data, to_bytes("cfg"));
    operator_token t;
    t.id = "tok-1";
    t.secret_digest = bytes(32, 0x5a);
    t.create_time = clock.wall_now();
    t.created_by = "bootstrap";
    ASSERT_TRUE(store->insert_token(t));
    EXPECT_EQ(*store->find_token("tok-1"), t);
    EXPECT_EQ(*store->append_audit({.actor = "system", .action = "store.upgrade"}), 1);
    ASSERT_TRUE(store->insert_revocation({"01", clock.wall_now(), "unspecified", ""}));
    ASSERT_TRUE(store->put_secret("ca/private_key", to_bytes("der")));
  }
  {
    auto c = raw(dir.db());
    EXPECT_EQ(scalar(c, "SELECT count(*) FROM schema_migrations"), 4);
    EXPECT_EQ(scalar(c, "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' AND "
                        "tbl_name = 'audit_log'"),
              3);
  }
  auto store = fx::open_store(dir.db(), key);
  registry_service svc(*store, clock);
  EXPECT_EQ(*svc.get_device(dev), written);
  EXPECT_EQ(*store->count_tokens(), 1U);
  EXPECT_EQ(store->list_audit({})->size(), 1U);
  EXPECT_TRUE(*store->is_revoked("01"));
}

// A database left at version 2 (registry and secrets, before the operator tables) upgrades too,
// keeping its sealed secrets.
TEST(SqliteMigrations, UpgradeFromVersionTwoKeepsSecrets) {
  fx::temp_dir dir;
  auto key = fx::test_master_key();
  {
    auto store = fx::open_store(dir.db(), key);
    ASSERT_TRUE(store->put_secret("ca/private_key", to_bytes("der bytes")));
  }
  {
    // Take the file back to version 2: drop what migration 3 added and its record.
    auto c = raw(dir.db());
    ASSERT_TRUE(c.exec("DROP TABLE operator_tokens; DROP TABLE audit_log; "
                       "DROP TABLE revoked_certificates; DROP TABLE broker_state; "
                       "DELETE FROM schema_migrations WHERE version >= 3"));
    EXPECT_EQ(*detail::current_schema_version(c), 2);
  }
  auto store = fx::open_store(dir.db(), key);
  EXPECT_EQ(store->schema_version(), 4);
  EXPECT_EQ(as_string_view(store->get_secret("ca/private_key")->view()), "der bytes");
  EXPECT_EQ(*store->count_tokens(), 0U);
  EXPECT_EQ(*store->append_audit({.actor = "system", .action = "store.upgrade"}), 1);
}

TEST(SqliteMigrations, AFailedMigrationLeavesTheDatabaseAsItWas) {
  fx::temp_dir dir;
  auto c = detail::connection::open(dir.db(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  ASSERT_TRUE(c);
  const std::array<detail::migration, 2> broken{{
      {1, "good", "CREATE TABLE t1 (x INTEGER) STRICT;"},
      {2, "bad", "CREATE TABLE t2 (x INTEGER) STRICT; CREATE TABLE t2 (y TEXT);"},
  }};
  EXPECT_EQ(detail::migrate(*c, broken, wall_time{}).error(), store_errc::migration_failed);
  EXPECT_EQ(*detail::current_schema_version(*c), 0);
  EXPECT_EQ(scalar(*c, "SELECT count(*) FROM sqlite_schema WHERE name IN ('t1', 't2')"), 0);
  EXPECT_FALSE(c->in_transaction());
}

TEST(SqliteMigrations, RefusesASchemaFromANewerBuild) {
  fx::temp_dir dir;
  auto key = fx::test_master_key();
  fx::open_store(dir.db(), key).reset();
  {
    auto c = raw(dir.db());
    ASSERT_TRUE(
        c.exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'x', 0)"));
  }
  auto again = sqlite_store::open({dir.db()}, key);
  EXPECT_EQ(again.error(), store_errc::schema_too_new);
}

TEST(SqliteMigrations, RefusesAFileThatIsNotADatabase) {
  fx::temp_dir dir;
  {
    std::ofstream out(dir.db(), std::ios::binary);
    out << std::string(8192, 'x');
  }
  auto key = fx::test_master_key();
  EXPECT_EQ(sqlite_store::open({dir.db()}, key).error(), store_errc::cannot_open);
}

// --- secrets at rest ---

TEST_F(SqliteStore, RawFilesNeverHoldPayloadsOrSecretsInClear) {
  const std::string config = "CONFIG-PLAINTEXT-3b1f9c2e";
  const std::string state = "STATE-PLAINTEXT-8d4a7e51";
  const std::string secret = "PSK-PLAINTEXT-c0ffee77";
  const std::string control = "sensor-in-clear-5e6f";
  const std::string digest = "TOKEN-DIGEST-PLAINTEXT-9a8b7c6d"; // 32 bytes, like a SHA-256
  const std::string token_id = "token-id-in-clear-4d3c";
  auto d = make_device(control, to_bytes(config));
  ASSERT_TRUE(svc_->modify_config(d.key, to_bytes(config + "-v2")));
  ASSERT_TRUE(svc_->report_state(d.key, to_bytes(state)));
  ASSERT_TRUE(store_->put_secret("psk/" + control, to_bytes(secret)));
  operator_token token;
  token.id = token_id;
  token.scope = operator_scope::admin;
  token.secret_digest = to_bytes(digest);
  token.created_by = "bootstrap";
  ASSERT_TRUE(store_->insert_token(token));

  // While open, the recent writes live in the -wal file.
  auto live = fx::raw_database_bytes(dir_.db());
  ASSERT_TRUE(std::filesystem::exists(dir_.db().string() + "-wal"));
  EXPECT_NE(live.find(control), std::string::npos) << "the scan must see what is stored in clear";
  EXPECT_EQ(live.find(config), std::string::npos);
  EXPECT_EQ(live.find(state), std::string::npos);
  EXPECT_EQ(live.find(secret), std::string::npos);
  EXPECT_NE(live.find(token_id), std::string::npos);
  EXPECT_EQ(live.find(digest), std::string::npos);

  // After close the WAL is checkpointed into the main file.
  svc_.reset();
  store_.reset();
  auto closed = fx::raw_database_bytes(dir_.db());
  EXPECT_NE(closed.find(control), std::string::npos);
  EXPECT_EQ(closed.find(config), std::string::npos);
  EXPECT_EQ(closed.find(state), std::string::npos);
  EXPECT_EQ(closed.find(secret), std::string::npos);
  EXPECT_NE(closed.find(token_id), std::string::npos);
  EXPECT_EQ(closed.find(digest), std::string::npos);

  // And the payloads are all there, sealed.
  reopen(key_);
  EXPECT_EQ(svc_->get_config(d.key)->data, to_bytes(config + "-v2"));
  EXPECT_EQ(svc_->list_states(d.key)->front().data, to_bytes(state));
  EXPECT_EQ(as_string_view(store_->get_secret("psk/" + control)->view()), secret);
  EXPECT_EQ(*store_->find_token(token_id), token);
}

TEST_F(SqliteStore, SealedValuesMovedToAnotherRowDoNotOpen) {
  auto a = make_device("sensor-aaa", to_bytes("config of a"));
  auto b = make_device("sensor-bbb", to_bytes("config of b"));
  {
    auto c = raw(dir_.db());
    ASSERT_TRUE(c.exec("UPDATE config_versions SET data_sealed = "
                       "(SELECT data_sealed FROM config_versions cv JOIN devices d "
                       " ON d.pk = cv.device_pk WHERE d.id = 'sensor-bbb') "
                       "WHERE device_pk = (SELECT pk FROM devices WHERE id = 'sensor-aaa')"));
  }
  EXPECT_EQ(svc_->get_config(a.key).error(), registry_errc::sealed_value_unreadable);
  EXPECT_EQ(http_status(registry_errc::sealed_value_unreadable), 500);
  EXPECT_EQ(svc_->get_config(b.key)->data, to_bytes("config of b"));

  // A secret copied under another name does not open either.
  ASSERT_TRUE(store_->put_secret("psk/one", to_bytes("one")));
  ASSERT_TRUE(store_->put_secret("psk/two", to_bytes("two")));
  {
    auto c = raw(dir_.db());
    ASSERT_TRUE(c.exec("UPDATE secrets SET value_sealed = (SELECT value_sealed FROM secrets "
                       "WHERE name = 'psk/one') WHERE name = 'psk/two'"));
  }
  EXPECT_EQ(store_->get_secret("psk/two").error(), registry_errc::sealed_value_unreadable);
  EXPECT_TRUE(store_->get_secret("psk/one"));
}

TEST_F(SqliteStore, TamperedOrForeignKeySealedValuesDoNotOpen) {
  auto d = make_device("sensor-001", to_bytes("the config"));
  ASSERT_TRUE(svc_->report_state(d.key, to_bytes("the state")));
  ASSERT_TRUE(store_->put_secret("token/admin", to_bytes("digest")));

  reopen(fx::test_master_key(0x43));
  EXPECT_EQ(svc_->get_config(d.key).error(), registry_errc::sealed_value_unreadable);
  EXPECT_EQ(svc_->list_states(d.key).error(), registry_errc::sealed_value_unreadable);
  EXPECT_EQ(store_->get_secret("token/admin").error(), registry_errc::sealed_value_unreadable);
  // Everything not sealed still reads.
  EXPECT_TRUE(svc_->get_device(d.key));

  reopen(key_);
  {
    auto c = raw(dir_.db());
    ASSERT_TRUE(c.exec("UPDATE device_states SET data_sealed = "
                       "CAST(substr(data_sealed, 1, length(data_sealed) - 1) || "
                       "CASE WHEN substr(data_sealed, -1) = x'00' THEN x'01' ELSE x'00' END "
                       "AS BLOB)"));
  }
  EXPECT_EQ(svc_->list_states(d.key).error(), registry_errc::sealed_value_unreadable);
  EXPECT_EQ(svc_->get_config(d.key)->data, to_bytes("the config"));
}

TEST_F(SqliteStore, SecretsApi) {
  EXPECT_EQ(store_->get_secret("missing").error(), store_errc::secret_not_found);
  EXPECT_EQ(store_->delete_secret("missing").error(), store_errc::secret_not_found);
  EXPECT_EQ(store_->put_secret("", to_bytes("x")).error(), store_errc::bad_secret_name);
  EXPECT_EQ(store_->put_secret(std::string(256, 'n'), to_bytes("x")).error(),
            store_errc::bad_secret_name);
  const std::string odd = "psk/it's \"quoted\"; DROP TABLE secrets; --";
  ASSERT_TRUE(store_->put_secret(odd, to_bytes("v1")));
  ASSERT_TRUE(store_->put_secret(odd, to_bytes("v2")));
  EXPECT_EQ(as_string_view(store_->get_secret(odd)->view()), "v2");
  ASSERT_TRUE(store_->put_secret("empty", {}));
  EXPECT_TRUE(store_->get_secret("empty")->empty());
  ASSERT_TRUE(store_->delete_secret(odd));
  EXPECT_EQ(store_->get_secret(odd).error(), store_errc::secret_not_found);
}

// --- bad input and atomicity at the store ---

// The repository port takes whatever it is given (rules live in the service); even so, hostile
// text is data, never SQL.
TEST_F(SqliteStore, HostileTextIsBoundNeverSpliced) {
  const std::string evil_id = "x' OR '1'='1";
  const std::string evil_label = "'); DROP TABLE devices; --";
  make_device("sensor-001");
  auto r = store_->write([&](registry_transaction& tx) -> result<void> {
    device d;
    d.key = dev(evil_id);
    d.num_id = device_num_id{4242};
    if (auto w = tx.insert_device(d); !w) {
      return w;
    }
    return tx.insert_group(
        device_group{{reg_, group_id{evil_label}}, {{evil_label, evil_label}, {"k%_", "%"}}, {}});
  });
  ASSERT_TRUE(r) << r.error().message();
  auto found = store_->read([&](registry_transaction& tx) -> result<void> {
    auto d = tx.find_device(dev(evil_id));
    EXPECT_TRUE(d);
    EXPECT_EQ(d->key.device.value(), evil_id);
    auto g = tx.find_group({reg_, group_id{evil_label}});
    EXPECT_TRUE(g);
    EXPECT_EQ(g->labels.at(evil_label), evil_label);
    EXPECT_EQ(g->labels.at("k%_"), "%");
    EXPECT_EQ(tx.find_device(dev("x' OR '1'='2")).error(), registry_errc::device_not_found);
    return ok();
  });
  EXPECT_TRUE(found);
  EXPECT_EQ(svc_->list_devices(reg_)->size(), 2U);
}

// A real SQLite failure in the middle of create_device (the device row and its credentials are
// written, then the config insert fails): nothing of the device remains.
TEST_F(SqliteStore, AFailureHalfWayRollsBackEverything) {
  {
    auto c = raw(dir_.db());
    ASSERT_TRUE(c.exec("CREATE TRIGGER fail_config BEFORE INSERT ON config_versions "
                       "BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"));
  }
  device_spec spec;
  spec.key = dev("sensor-001");
  spec.credentials = {registry::testing::es256_credential()};
  spec.metadata = {{"site", "plant-4"}};
  EXPECT_EQ(svc_->create_device(spec).error(), registry_errc::storage_failed);
  EXPECT_EQ(svc_->get_device(spec.key).error(), registry_errc::device_not_found);
  {
    auto c = raw(dir_.db());
    EXPECT_EQ(scalar(c, "SELECT count(*) FROM devices"), 0);
    EXPECT_EQ(scalar(c, "SELECT count(*) FROM device_credentials"), 0);
    EXPECT_EQ(scalar(c, "SELECT count(*) FROM device_metadata"), 0);
    ASSERT_TRUE(c.exec("DROP TRIGGER fail_config"));
  }
  auto d = svc_->create_device(spec);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(svc_->get_device(spec.key)->metadata, spec.metadata);
}

TEST_F(SqliteStore, ABusyDatabaseIsReportedAsRetryable) {
  auto other = sqlite_store::open(
      {dir_.db(), durability::process_crash, std::chrono::milliseconds(50)}, key_);
  ASSERT_TRUE(other);
  auto c = raw(dir_.db());
  ASSERT_TRUE(c.exec("BEGIN IMMEDIATE")); // another writer holds the lock
  registry_service slow(**other, clock_);
  auto r = slow.create_project(project_id{"other-project"});
  EXPECT_EQ(r.error(), registry_errc::storage_busy);
  EXPECT_EQ(http_status(registry_errc::storage_busy), 503);
  ASSERT_TRUE(c.exec("ROLLBACK"));
  EXPECT_TRUE(slow.create_project(project_id{"other-project"}));
}

TEST_F(SqliteStore, FullDurabilityModeOpensAndWrites) {
  svc_.reset();
  store_.reset();
  store_ = fx::open_store(dir_.db(), key_, durability::power_loss);
  svc_ = std::make_unique<registry_service>(*store_, clock_);
  make_device("sensor-001");
  EXPECT_TRUE(svc_->get_device(dev("sensor-001")));
}

// --- operators ---

TEST_F(SqliteStore, OperatorDataSurvivesARestart) {
  operator_token admin;
  admin.id = "tok-admin";
  admin.description = "first admin";
  admin.scope = operator_scope::admin;
  admin.secret_digest = bytes(32, 0xab);
  admin.create_time = clock_.wall_now();
  admin.expire_time = clock_.wall_now() + std::chrono::hours(24);
  admin.created_by = "bootstrap";
  operator_token viewer = admin;
  viewer.id = "tok-viewer";
  viewer.scope = operator_scope::viewer;
  viewer.secret_digest = bytes(32, 0xcd);
  viewer.expire_time.reset();
  viewer.created_by = "tok-admin";
  ASSERT_TRUE(store_->insert_token(admin));
  ASSERT_TRUE(store_->insert_token(viewer));
  ASSERT_TRUE(store_->revoke_token("tok-viewer", clock_.wall_now() + std::chrono::seconds(3)));
  viewer.revoke_time = clock_.wall_now() + std::chrono::seconds(3);

  std::vector<audit_record> audit;
  for (int i = 0; i < 3; ++i) {
    audit_record r{.at = clock_.wall_now() + std::chrono::seconds(i),
                   .actor = "tok-admin",
                   .action = "device.create",
                   .target = "projects/acme-iot/locations/us-central1/registries/fleet-a/"
                             "devices/d" +
                             std::to_string(i),
                   .outcome = "ok",
                   .detail = "",
                   .source_address = "127.0.0.1:4000"};
    auto seq = store_->append_audit(r);
    ASSERT_TRUE(seq);
    r.sequence = *seq;
    audit.push_back(r);
  }
  const revoked_certificate rev{"7f3e", clock_.wall_now(), "keyCompromise", "devices/d0"};
  ASSERT_TRUE(store_->insert_revocation(rev));

  reopen(key_);
  EXPECT_EQ(*store_->list_tokens(), (std::vector<operator_token>{admin, viewer}));
  EXPECT_EQ(*store_->list_audit({}), audit);
  EXPECT_EQ(*store_->list_revocations(), std::vector<revoked_certificate>{rev});
  EXPECT_TRUE(*store_->is_revoked("7f3e"));
  // Sequences continue after the restart; they are never reused.
  EXPECT_EQ(*store_->append_audit({.actor = "system", .action = "store.open"}), 4);
  EXPECT_EQ(store_->insert_token(admin).error(), registry_errc::token_exists);
}

TEST_F(SqliteStore, TheAuditLogRefusesUpdateAndDelete) {
  ASSERT_TRUE(store_->append_audit({.actor = "tok-1", .action = "device.create", .target = "a"}));
  ASSERT_TRUE(store_->append_audit({.actor = "tok-1", .action = "device.delete", .target = "a"}));
  auto c = raw(dir_.db());
  for (const char* sql : {"UPDATE audit_log SET actor = 'someone-else' WHERE sequence = 1",
                          "UPDATE audit_log SET sequence = 10 WHERE sequence = 2",
                          "DELETE FROM audit_log WHERE sequence = 1", "DELETE FROM audit_log"}) {
    auto r = c.exec(sql);
    ASSERT_FALSE(r) << sql;
    EXPECT_NE(c.last_message().find("audit_log is append-only"), std::string::npos)
        << sql << ": " << c.last_message();
  }
  // REPLACE over an existing sequence would delete a record without a DELETE trigger firing.
  for (const char* verb : {"INSERT OR REPLACE", "REPLACE", "INSERT"}) {
    const std::string sql = std::string(verb) +
                            " INTO audit_log (sequence, at, actor, action, target, outcome, "
                            "detail, source_address) VALUES (1, 0, 'x', 'x', 'x', 'x', 'x', 'x')";
    EXPECT_FALSE(c.exec(sql.c_str())) << sql;
  }
  // UPSERT turns into an UPDATE: refused by the update trigger.
  EXPECT_FALSE(c.exec("INSERT INTO audit_log (sequence, at, actor, action, target, outcome, "
                      "detail, source_address) VALUES (2, 0, 'x', 'x', 'x', 'x', 'x', 'x') "
                      "ON CONFLICT (sequence) DO UPDATE SET actor = 'x'"));
  // Sequences are positive.
  EXPECT_FALSE(c.exec("INSERT INTO audit_log (sequence, at, actor, action, target, outcome, "
                      "detail, source_address) VALUES (0, 0, 'x', 'x', 'x', 'x', 'x', 'x')"));
  EXPECT_EQ(scalar(c, "SELECT count(*) FROM audit_log"), 2);
  auto list = store_->list_audit({});
  ASSERT_EQ(list->size(), 2U);
  EXPECT_EQ(list->front().actor, "tok-1");
  EXPECT_EQ(list->back().sequence, 2);
}

TEST_F(SqliteStore, TokenDigestsAreSealedToTheirToken) {
  operator_token a;
  a.id = "tok-a";
  a.secret_digest = bytes(32, 0x01);
  operator_token b = a;
  b.id = "tok-b";
  b.secret_digest = bytes(32, 0x02);
  ASSERT_TRUE(store_->insert_token(a));
  ASSERT_TRUE(store_->insert_token(b));
  {
    // A digest copied onto another token's row does not open.
    auto c = raw(dir_.db());
    ASSERT_TRUE(c.exec("UPDATE operator_tokens SET secret_digest_sealed = (SELECT "
                       "secret_digest_sealed FROM operator_tokens WHERE id = 'tok-a') "
                       "WHERE id = 'tok-b'"));
  }
  EXPECT_EQ(store_->find_token("tok-b").error(), registry_errc::sealed_value_unreadable);
  EXPECT_EQ(store_->list_tokens().error(), registry_errc::sealed_value_unreadable);
  EXPECT_EQ(*store_->find_token("tok-a"), a);
  // Under another master key no digest opens; the count still reads.
  reopen(fx::test_master_key(0x43));
  EXPECT_EQ(store_->find_token("tok-a").error(), registry_errc::sealed_value_unreadable);
  EXPECT_EQ(*store_->count_tokens(), 2U);
}

TEST_F(SqliteStore, OperatorTextIsBoundNeverSpliced) {
  const std::string evil = "x' OR '1'='1";
  operator_token t;
  t.id = evil;
  t.description = "'); DROP TABLE operator_tokens; --";
  ASSERT_TRUE(store_->insert_token(t));
  EXPECT_EQ(*store_->find_token(evil), t);
  EXPECT_EQ(store_->find_token("x' OR '1'='2").error(), registry_errc::token_not_found);
  EXPECT_EQ(store_->revoke_token("' OR 1=1 --", clock_.wall_now()).error(),
            registry_errc::token_not_found);
  ASSERT_TRUE(store_->append_audit({.actor = evil, .target = "%"}));
  EXPECT_EQ(store_->list_audit({.target_prefix = "%"})->size(), 1U);
  EXPECT_EQ(store_->list_audit({.actor = "x"})->size(), 0U);
  EXPECT_FALSE(*store_->is_revoked("' OR '1'='1"));
}

} // namespace
