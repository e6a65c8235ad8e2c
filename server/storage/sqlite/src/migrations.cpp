#include "migrations.hpp"

#include "aegis/base/log.hpp"
#include "aegis/storage_sqlite/errors.hpp"

#include <array>

namespace aegis::storage_sqlite::detail {
namespace {

// Tables are STRICT (a value of the wrong type is an error, not a silent conversion). Child
// tables cascade with their parent; every foreign key column that a cascade or a lookup
// searches is the leading column of an index.
constexpr const char* registry_schema = R"sql(
CREATE TABLE projects (
  id TEXT NOT NULL PRIMARY KEY,
  create_time INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE registries (
  pk INTEGER PRIMARY KEY,
  project TEXT NOT NULL REFERENCES projects(id),
  location TEXT NOT NULL,
  id TEXT NOT NULL,
  mqtt_enabled INTEGER NOT NULL,
  http_enabled INTEGER NOT NULL,
  log_level INTEGER NOT NULL,
  create_time INTEGER NOT NULL,
  UNIQUE (project, location, id)
) STRICT;

CREATE TABLE registry_ca_certificates (
  registry_pk INTEGER NOT NULL REFERENCES registries(pk) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  pem TEXT NOT NULL,
  PRIMARY KEY (registry_pk, position)
) STRICT, WITHOUT ROWID;

CREATE TABLE devices (
  pk INTEGER PRIMARY KEY,
  registry_pk INTEGER NOT NULL REFERENCES registries(pk),
  id TEXT NOT NULL,
  num_id INTEGER NOT NULL UNIQUE CHECK (num_id > 0),
  blocked INTEGER NOT NULL,
  log_level INTEGER NOT NULL,
  gateway_type INTEGER NOT NULL,
  gateway_auth_method INTEGER NOT NULL,
  create_time INTEGER NOT NULL,
  last_heartbeat_time INTEGER,
  last_event_time INTEGER,
  last_state_time INTEGER,
  last_config_ack_time INTEGER,
  last_config_send_time INTEGER,
  last_error_time INTEGER,
  last_error_code INTEGER NOT NULL DEFAULT 0,
  last_error_message TEXT NOT NULL DEFAULT '',
  last_accessed_gateway_id TEXT NOT NULL DEFAULT '',
  last_accessed_gateway_time INTEGER,
  UNIQUE (registry_pk, id)
) STRICT;

CREATE TABLE device_credentials (
  device_pk INTEGER NOT NULL REFERENCES devices(pk) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  format INTEGER NOT NULL,
  pem TEXT NOT NULL,
  expiration_time INTEGER,
  PRIMARY KEY (device_pk, position)
) STRICT, WITHOUT ROWID;

CREATE TABLE device_metadata (
  device_pk INTEGER NOT NULL REFERENCES devices(pk) ON DELETE CASCADE,
  meta_key TEXT NOT NULL,
  meta_value TEXT NOT NULL,
  PRIMARY KEY (device_pk, meta_key)
) STRICT, WITHOUT ROWID;

-- data_sealed: the config payload sealed with associated data naming the device and version.
CREATE TABLE config_versions (
  device_pk INTEGER NOT NULL REFERENCES devices(pk) ON DELETE CASCADE,
  version INTEGER NOT NULL,
  cloud_update_time INTEGER NOT NULL,
  device_ack_time INTEGER,
  data_sealed BLOB NOT NULL,
  PRIMARY KEY (device_pk, version)
) STRICT, WITHOUT ROWID;

CREATE TABLE device_states (
  device_pk INTEGER NOT NULL REFERENCES devices(pk) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  update_time INTEGER NOT NULL,
  data_sealed BLOB NOT NULL,
  PRIMARY KEY (device_pk, seq)
) STRICT, WITHOUT ROWID;

CREATE TABLE gateway_bindings (
  gateway_pk INTEGER NOT NULL REFERENCES devices(pk) ON DELETE CASCADE,
  device_pk INTEGER NOT NULL REFERENCES devices(pk) ON DELETE CASCADE,
  PRIMARY KEY (gateway_pk, device_pk)
) STRICT, WITHOUT ROWID;
CREATE INDEX gateway_bindings_by_device ON gateway_bindings (device_pk);

CREATE TABLE device_groups (
  pk INTEGER PRIMARY KEY,
  registry_pk INTEGER NOT NULL REFERENCES registries(pk) ON DELETE CASCADE,
  id TEXT NOT NULL,
  create_time INTEGER NOT NULL,
  UNIQUE (registry_pk, id)
) STRICT;

CREATE TABLE group_labels (
  group_pk INTEGER NOT NULL REFERENCES device_groups(pk) ON DELETE CASCADE,
  label_key TEXT NOT NULL,
  label_value TEXT NOT NULL,
  PRIMARY KEY (group_pk, label_key)
) STRICT, WITHOUT ROWID;

CREATE TABLE group_members (
  group_pk INTEGER NOT NULL REFERENCES device_groups(pk) ON DELETE CASCADE,
  device_pk INTEGER NOT NULL REFERENCES devices(pk) ON DELETE CASCADE,
  PRIMARY KEY (group_pk, device_pk)
) STRICT, WITHOUT ROWID;
CREATE INDEX group_members_by_device ON group_members (device_pk);
)sql";

// Named secrets (CA private key, PSKs, operator token digests), sealed bound to their name.
constexpr const char* secrets_schema = R"sql(
CREATE TABLE secrets (
  name TEXT NOT NULL PRIMARY KEY,
  value_sealed BLOB NOT NULL,
  update_time INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
)sql";

// The operator side (registry/operators.hpp): admin API tokens, the audit log, revocations.
// secret_digest_sealed: the token's SHA-256 digest sealed bound to the token id. The audit log
// is append-only, and the database itself refuses to change, remove or replace a record. sequence
// is AUTOINCREMENT so a number is never handed out twice, whatever happens to the table.
constexpr const char* operators_schema = R"sql(
CREATE TABLE operator_tokens (
  id TEXT NOT NULL PRIMARY KEY,
  description TEXT NOT NULL,
  scope INTEGER NOT NULL,
  secret_digest_sealed BLOB NOT NULL,
  create_time INTEGER NOT NULL,
  expire_time INTEGER,
  revoke_time INTEGER,
  created_by TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE audit_log (
  sequence INTEGER PRIMARY KEY AUTOINCREMENT CHECK (sequence > 0),
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  outcome TEXT NOT NULL,
  detail TEXT NOT NULL,
  source_address TEXT NOT NULL
) STRICT;
CREATE INDEX audit_log_by_actor ON audit_log (actor, sequence);
CREATE INDEX audit_log_by_action ON audit_log (action, sequence);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only');
END;
-- REPLACE deletes the conflicting row without firing DELETE triggers (recursive_triggers is
-- off): refuse any insert that names an existing sequence.
CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log
WHEN EXISTS (SELECT 1 FROM audit_log WHERE sequence = NEW.sequence)
BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TABLE revoked_certificates (
  serial_hex TEXT NOT NULL PRIMARY KEY,
  revoke_time INTEGER NOT NULL,
  reason TEXT NOT NULL,
  subject TEXT NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX revoked_certificates_by_time ON revoked_certificates (revoke_time, serial_hex);
)sql";

// Durable MQTT state (sqlite_broker_state): keyed values the broker serialised itself, opaque
// here, each sealed bound to its space and key. WITHOUT ROWID keeps a space's rows in key order
// on disk, the order load() hands them back in.
constexpr const char* broker_state_schema = R"sql(
CREATE TABLE broker_state (
  space INTEGER NOT NULL CHECK (space BETWEEN 0 AND 255),
  key BLOB NOT NULL,
  value_sealed BLOB NOT NULL,
  PRIMARY KEY (space, key)
) STRICT, WITHOUT ROWID;
)sql";

constexpr std::array<migration, 4> migrations{{
    {1, "registry", registry_schema},
    {2, "secrets", secrets_schema},
    {3, "operators", operators_schema},
    {4, "broker_state", broker_state_schema},
}};

constexpr const char* create_migrations_table = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER NOT NULL PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at INTEGER NOT NULL
) STRICT;
)sql";

} // namespace

std::span<const migration> all_migrations() noexcept {
  return migrations;
}

result<int> current_schema_version(connection& db) {
  auto exists = db.prepare(
      "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'");
  if (!exists) {
    return exists.error();
  }
  auto found = exists->step();
  if (!found) {
    return found.error();
  }
  if (!*found || exists->int64(0) == 0) {
    return 0;
  }
  auto max = db.prepare("SELECT coalesce(max(version), 0) FROM schema_migrations");
  if (!max) {
    return max.error();
  }
  auto row = max->step();
  if (!row) {
    return row.error();
  }
  return static_cast<int>(max->int64(0));
}

result<void> migrate(connection& db, std::span<const migration> list, wall_time now) {
  // IMMEDIATE takes the write lock first, so two processes opening one new database do not
  // both apply migration 1: the second waits, then finds it applied.
  if (auto r = db.exec("BEGIN IMMEDIATE"); !r) {
    return r;
  }
  auto fail = [&](std::error_code ec) -> result<void> {
    (void)db.exec("ROLLBACK");
    return ec;
  };
  if (auto r = db.exec(create_migrations_table); !r) {
    return fail(r.error());
  }
  auto current = current_schema_version(db);
  if (!current) {
    return fail(current.error());
  }
  const int latest = list.empty() ? 0 : list.back().version;
  if (*current > latest) {
    log::error("storage.sqlite", "database schema version {} is newer than this build's {}",
               *current, latest);
    return fail(store_errc::schema_too_new);
  }
  for (const auto& m : list) {
    if (m.version <= *current) {
      continue;
    }
    if (auto r = db.exec(m.sql); !r) {
      log::error("storage.sqlite", "migration {} ({}) failed", m.version, m.name);
      return fail(store_errc::migration_failed);
    }
    auto record =
        db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)");
    if (!record) {
      return fail(store_errc::migration_failed);
    }
    record->bind(1, std::int64_t{m.version}).bind(2, m.name).bind(3, to_column(now));
    if (auto r = record->run(); !r) {
      return fail(store_errc::migration_failed);
    }
    log::info("storage.sqlite", "applied schema migration {} ({})", m.version, m.name);
  }
  if (auto r = db.exec("COMMIT"); !r) {
    return fail(r.error());
  }
  return ok();
}

} // namespace aegis::storage_sqlite::detail
