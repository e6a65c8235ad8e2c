#include "aegis/storage_sqlite/store.hpp"

#include "aegis/base/log.hpp"
#include "aegis/registry/errors.hpp"
#include "aegis/storage_sqlite/sealer.hpp"

#include "migrations.hpp"
#include "sqlite.hpp"

#include <sqlite3.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <limits>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace aegis::storage_sqlite {

namespace reg = aegis::registry;
using detail::connection;
using detail::statement;
using reg::registry_errc;

namespace {

constexpr std::string_view component = "storage.sqlite";

// Any failure that reaches the port becomes a registry_errc; registry and store errors made on
// purpose pass through unchanged.
std::error_code mapped(std::error_code ec) {
  if (ec.category() != detail::sqlite_category()) {
    return ec;
  }
  if (detail::is_busy(ec)) {
    return registry_errc::storage_busy;
  }
  if (detail::is_corrupt(ec)) {
    return registry_errc::storage_corrupt;
  }
  return registry_errc::storage_failed;
}

std::int64_t limit_of(std::size_t n) {
  // LIMIT -1 is "no limit" in SQLite.
  if (n == 0 || n > static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max())) {
    return -1;
  }
  return static_cast<std::int64_t>(n);
}

std::int64_t count_of(std::size_t n) {
  return static_cast<std::int64_t>(n);
}

template <class Enum>
Enum enum_of(std::int64_t v) {
  return static_cast<Enum>(static_cast<int>(v));
}

template <class Enum>
std::int64_t int_of(Enum e) {
  return static_cast<std::int64_t>(e);
}

// Creates the file with mode 0600 before SQLite opens it: SQLite gives the -wal and -shm files
// the mode of the database file, so all three stay private.
result<void> create_private_file(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) {
      return ok();
    }
    log::error(component, "cannot create {}: {}", file.string(), std::strerror(errno));
    return store_errc::cannot_open;
  }
  ::close(fd);
  return ok();
}

constexpr std::string_view device_columns =
    "d.pk, d.id, d.num_id, d.blocked, d.log_level, d.gateway_type, d.gateway_auth_method, "
    "d.create_time, d.last_heartbeat_time, d.last_event_time, d.last_state_time, "
    "d.last_config_ack_time, d.last_config_send_time, d.last_error_time, d.last_error_code, "
    "d.last_error_message, d.last_accessed_gateway_id, d.last_accessed_gateway_time";

constexpr std::string_view device_key_join =
    " FROM devices d JOIN registries r ON r.pk = d.registry_pk"
    " WHERE r.project = ?1 AND r.location = ?2 AND r.id = ?3";

} // namespace

// --- the transaction ---

class sqlite_transaction final : public reg::registry_transaction {
public:
  sqlite_transaction(connection& db, const column_sealer& sealer, bool read_only)
      : db_(db), sealer_(sealer), read_only_(read_only) {}

  // registry_transaction: projects
  result<void> insert_project(const reg::project& p) override {
    auto st = writer("INSERT INTO projects (id, create_time) VALUES (?1, ?2)");
    if (!st) {
      return st.error();
    }
    st->bind(1, p.id.value()).bind(2, detail::to_column(p.create_time));
    if (auto r = st->run(); !r) {
      return detail::is_constraint(r.error()) ? registry_errc::project_exists : mapped(r.error());
    }
    return ok();
  }

  result<reg::project> find_project(const reg::project_id& id) override {
    auto st = prepare("SELECT id, create_time FROM projects WHERE id = ?1");
    if (!st) {
      return st.error();
    }
    st->bind(1, id.value());
    auto row = step(*st);
    if (!row) {
      return row.error();
    }
    if (!*row) {
      return registry_errc::project_not_found;
    }
    return reg::project{reg::project_id{st->text(0)}, detail::from_column(st->int64(1))};
  }

  result<std::vector<reg::project>> list_projects(const reg::page_request& page) override {
    auto st = prepare("SELECT id, create_time FROM projects WHERE id > ?1 ORDER BY id LIMIT ?2");
    if (!st) {
      return st.error();
    }
    st->bind(1, page.after).bind(2, limit_of(page.page_size));
    std::vector<reg::project> out;
    return collect(*st, out, [&] {
      out.push_back({reg::project_id{st->text(0)}, detail::from_column(st->int64(1))});
    });
  }

  result<void> delete_project(const reg::project_id& id) override {
    auto st = writer("DELETE FROM projects WHERE id = ?1");
    if (!st) {
      return st.error();
    }
    st->bind(1, id.value());
    return changed(*st, registry_errc::project_not_found);
  }

  result<std::size_t> count_registries(const reg::project_id& id) override {
    auto st = prepare("SELECT count(*) FROM registries WHERE project = ?1");
    if (!st) {
      return st.error();
    }
    st->bind(1, id.value());
    return count(*st);
  }

  // registry_transaction: registries
  result<void> insert_registry(const reg::device_registry& r) override {
    if (auto p = find_project(r.key.project); !p) {
      return p.error();
    }
    auto st = writer("INSERT INTO registries (project, location, id, mqtt_enabled, http_enabled, "
                     "log_level, create_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!st) {
      return st.error();
    }
    bind_registry_key(*st, r.key);
    st->bind(4, std::int64_t{r.mqtt_enabled})
        .bind(5, std::int64_t{r.http_enabled})
        .bind(6, int_of(r.log_level))
        .bind(7, detail::to_column(r.create_time));
    if (auto run = st->run(); !run) {
      return detail::is_constraint(run.error()) ? registry_errc::registry_exists
                                                : mapped(run.error());
    }
    return write_cas(sqlite3_last_insert_rowid(db_.get()), r.ca_certificates);
  }

  result<reg::device_registry> find_registry(const reg::registry_key& key) override {
    auto st = prepare("SELECT pk, mqtt_enabled, http_enabled, log_level, create_time "
                      "FROM registries WHERE project = ?1 AND location = ?2 AND id = ?3");
    if (!st) {
      return st.error();
    }
    bind_registry_key(*st, key);
    auto row = step(*st);
    if (!row) {
      return row.error();
    }
    if (!*row) {
      return registry_errc::registry_not_found;
    }
    return read_registry(*st, key);
  }

  result<std::vector<reg::device_registry>>
  list_registries(const reg::project_id& project, const reg::location_id& location,
                  const reg::page_request& page) override {
    auto st = prepare("SELECT pk, mqtt_enabled, http_enabled, log_level, create_time, id "
                      "FROM registries WHERE project = ?1 AND location = ?2 AND id > ?3 "
                      "ORDER BY id LIMIT ?4");
    if (!st) {
      return st.error();
    }
    st->bind(1, project.value())
        .bind(2, location.value())
        .bind(3, page.after)
        .bind(4, limit_of(page.page_size));
    std::vector<reg::device_registry> out;
    while (true) {
      auto row = step(*st);
      if (!row) {
        return row.error();
      }
      if (!*row) {
        return out;
      }
      auto r = read_registry(*st, {project, location, reg::registry_id{st->text(5)}});
      if (!r) {
        return r.error();
      }
      out.push_back(std::move(*r));
    }
  }

  result<void> update_registry(const reg::device_registry& r) override {
    auto pk = registry_pk(r.key);
    if (!pk) {
      return pk.error();
    }
    auto st = writer("UPDATE registries SET mqtt_enabled = ?2, http_enabled = ?3, log_level = ?4 "
                     "WHERE pk = ?1");
    if (!st) {
      return st.error();
    }
    st->bind(1, *pk)
        .bind(2, std::int64_t{r.mqtt_enabled})
        .bind(3, std::int64_t{r.http_enabled})
        .bind(4, int_of(r.log_level));
    if (auto run = exec(*st); !run) {
      return run;
    }
    auto del = writer("DELETE FROM registry_ca_certificates WHERE registry_pk = ?1");
    if (!del) {
      return del.error();
    }
    del->bind(1, *pk);
    if (auto run = exec(*del); !run) {
      return run;
    }
    return write_cas(*pk, r.ca_certificates);
  }

  result<void> delete_registry(const reg::registry_key& key) override {
    auto st = writer("DELETE FROM registries WHERE project = ?1 AND location = ?2 AND id = ?3");
    if (!st) {
      return st.error();
    }
    bind_registry_key(*st, key);
    return changed(*st, registry_errc::registry_not_found);
  }

  result<std::size_t> count_devices(const reg::registry_key& key) override {
    auto pk = registry_pk(key);
    if (!pk) {
      return pk.error();
    }
    auto st = prepare("SELECT count(*) FROM devices WHERE registry_pk = ?1");
    if (!st) {
      return st.error();
    }
    st->bind(1, *pk);
    return count(*st);
  }

  // registry_transaction: devices
  result<void> insert_device(const reg::device& d) override {
    auto rpk = registry_pk(d.key.registry);
    if (!rpk) {
      return rpk.error();
    }
    if (auto existing = device_row(d.key); existing) {
      return registry_errc::device_exists;
    } else if (existing.error() != registry_errc::device_not_found) {
      return existing.error();
    }
    if (d.num_id.value() == 0 ||
        d.num_id.value() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return registry_errc::num_id_collision;
    }
    auto st =
        writer("INSERT INTO devices (registry_pk, id, num_id, blocked, log_level, gateway_type, "
               "gateway_auth_method, create_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    if (!st) {
      return st.error();
    }
    st->bind(1, *rpk)
        .bind(2, d.key.device.value())
        .bind(3, static_cast<std::int64_t>(d.num_id.value()))
        .bind(4, std::int64_t{d.blocked})
        .bind(5, int_of(d.log_level))
        .bind(6, int_of(d.gateway.type))
        .bind(7, int_of(d.gateway.auth_method))
        .bind(8, detail::to_column(d.create_time));
    if (auto run = st->run(); !run) {
      // The id was checked above inside this transaction, so a unique violation is the num_id.
      return detail::is_constraint(run.error()) ? registry_errc::num_id_collision
                                                : mapped(run.error());
    }
    const auto pk = sqlite3_last_insert_rowid(db_.get());
    if (auto r = write_credentials(pk, d.credentials); !r) {
      return r;
    }
    if (auto r = write_metadata(pk, d.metadata); !r) {
      return r;
    }
    return write_activity(pk, d.activity);
  }

  result<reg::device> find_device(const reg::device_key& key) override {
    auto st = prepare(std::string("SELECT ")
                          .append(device_columns)
                          .append(device_key_join)
                          .append(" AND d.id = ?4"));
    if (!st) {
      return st.error();
    }
    bind_registry_key(*st, key.registry);
    st->bind(4, key.device.value());
    return one_device(*st, key.registry);
  }

  result<reg::device> find_device_by_num_id(const reg::registry_key& key,
                                            reg::device_num_id id) override {
    if (id.value() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return registry_errc::device_not_found;
    }
    auto st = prepare(std::string("SELECT ")
                          .append(device_columns)
                          .append(device_key_join)
                          .append(" AND d.num_id = ?4"));
    if (!st) {
      return st.error();
    }
    bind_registry_key(*st, key);
    st->bind(4, static_cast<std::int64_t>(id.value()));
    return one_device(*st, key);
  }

  result<std::vector<reg::device>> list_devices(const reg::registry_key& key,
                                                const reg::page_request& page) override {
    auto st = prepare(std::string("SELECT ")
                          .append(device_columns)
                          .append(device_key_join)
                          .append(" AND d.id > ?4 ORDER BY d.id LIMIT ?5"));
    if (!st) {
      return st.error();
    }
    bind_registry_key(*st, key);
    st->bind(4, page.after).bind(5, limit_of(page.page_size));
    std::vector<std::pair<std::int64_t, reg::device>> rows;
    while (true) {
      auto row = step(*st);
      if (!row) {
        return row.error();
      }
      if (!*row) {
        break;
      }
      rows.emplace_back(st->int64(0), read_device(*st, key));
    }
    std::vector<reg::device> out;
    out.reserve(rows.size());
    for (auto& [pk, d] : rows) {
      if (auto r = read_device_children(pk, d); !r) {
        return r.error();
      }
      out.push_back(std::move(d));
    }
    return out;
  }

  result<void> update_device(const reg::device& d) override {
    auto row = device_row(d.key);
    if (!row) {
      return row.error();
    }
    auto st = writer("UPDATE devices SET blocked = ?2, log_level = ?3, gateway_type = ?4, "
                     "gateway_auth_method = ?5 WHERE pk = ?1");
    if (!st) {
      return st.error();
    }
    st->bind(1, row->pk)
        .bind(2, std::int64_t{d.blocked})
        .bind(3, int_of(d.log_level))
        .bind(4, int_of(d.gateway.type))
        .bind(5, int_of(d.gateway.auth_method));
    if (auto r = exec(*st); !r) {
      return r;
    }
    for (const char* sql : {"DELETE FROM device_credentials WHERE device_pk = ?1",
                            "DELETE FROM device_metadata WHERE device_pk = ?1"}) {
      auto del = writer(sql);
      if (!del) {
        return del.error();
      }
      del->bind(1, row->pk);
      if (auto r = exec(*del); !r) {
        return r;
      }
    }
    if (auto r = write_credentials(row->pk, d.credentials); !r) {
      return r;
    }
    return write_metadata(row->pk, d.metadata);
  }

  result<reg::device_activity> find_activity(const reg::device_key& key) override {
    auto d = find_device_row_only(key);
    if (!d) {
      return d.error();
    }
    return std::move(d->activity);
  }

  result<void> update_activity(const reg::device_key& key, const reg::device_activity& a) override {
    auto row = device_row(key);
    if (!row) {
      return row.error();
    }
    return write_activity(row->pk, a);
  }

  result<void> delete_device(const reg::device_key& key) override {
    auto row = device_row(key);
    if (!row) {
      return row.error();
    }
    auto st = writer("DELETE FROM devices WHERE pk = ?1");
    if (!st) {
      return st.error();
    }
    st->bind(1, row->pk);
    return exec(*st);
  }

  // registry_transaction: config versions and states
  result<void> insert_config(const reg::device_key& key, const reg::config_version& c) override {
    auto row = device_row(key);
    if (!row) {
      return row.error();
    }
    auto sealed = sealer_.seal(c.data, config_context(key, row->num_id, c.version));
    if (!sealed) {
      return sealed.error();
    }
    auto st = writer("INSERT INTO config_versions (device_pk, version, cloud_update_time, "
                     "device_ack_time, data_sealed) VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!st) {
      return st.error();
    }
    st->bind(1, row->pk)
        .bind(2, c.version)
        .bind(3, detail::to_column(c.cloud_update_time))
        .bind(4, c.device_ack_time)
        .bind_blob(5, *sealed);
    return exec(*st);
  }

  result<std::vector<reg::config_version>> list_configs(const reg::device_key& key,
                                                        std::size_t limit) override {
    auto row = device_row(key);
    if (!row) {
      return row.error();
    }
    auto st = prepare("SELECT version, cloud_update_time, device_ack_time, data_sealed "
                      "FROM config_versions WHERE device_pk = ?1 ORDER BY version DESC LIMIT ?2");
    if (!st) {
      return st.error();
    }
    st->bind(1, row->pk).bind(2, limit_of(limit));
    std::vector<reg::config_version> out;
    while (true) {
      auto more = step(*st);
      if (!more) {
        return more.error();
      }
      if (!*more) {
        return out;
      }
      reg::config_version c;
      c.version = st->int64(0);
      c.cloud_update_time = detail::from_column(st->int64(1));
      c.device_ack_time = st->time(2);
      auto plain = sealer_.open(st->blob(3), config_context(key, row->num_id, c.version));
      if (!plain) {
        return plain.error();
      }
      c.data.assign(plain->data(), plain->data() + plain->size());
      out.push_back(std::move(c));
    }
  }

  result<void> update_config_ack(const reg::device_key& key, std::int64_t version,
                                 wall_time ack_time) override {
    auto row = device_row(key);
    if (!row) {
      return row.error();
    }
    auto st = writer(
        "UPDATE config_versions SET device_ack_time = ?3 WHERE device_pk = ?1 AND version = ?2");
    if (!st) {
      return st.error();
    }
    st->bind(1, row->pk).bind(2, version).bind(3, detail::to_column(ack_time));
    return changed(*st, registry_errc::config_version_not_found);
  }

  result<void> trim_configs(const reg::device_key& key, std::size_t keep) override {
    return trim(key, keep,
                "DELETE FROM config_versions WHERE device_pk = ?1 AND version NOT IN ("
                "SELECT version FROM config_versions WHERE device_pk = ?1 "
                "ORDER BY version DESC LIMIT ?2)");
  }

  result<void> insert_state(const reg::device_key& key, const reg::device_state& s) override {
    auto row = device_row(key);
    if (!row) {
      return row.error();
    }
    auto next = prepare("SELECT coalesce(max(seq), 0) + 1 FROM device_states WHERE device_pk = ?1");
    if (!next) {
      return next.error();
    }
    next->bind(1, row->pk);
    if (auto r = step(*next); !r) {
      return r.error();
    }
    const std::int64_t seq = next->int64(0);
    auto sealed = sealer_.seal(s.data, state_context(key, row->num_id, seq));
    if (!sealed) {
      return sealed.error();
    }
    auto st = writer("INSERT INTO device_states (device_pk, seq, update_time, data_sealed) "
                     "VALUES (?1, ?2, ?3, ?4)");
    if (!st) {
      return st.error();
    }
    st->bind(1, row->pk)
        .bind(2, seq)
        .bind(3, detail::to_column(s.update_time))
        .bind_blob(4, *sealed);
    return exec(*st);
  }

  result<std::vector<reg::device_state>> list_states(const reg::device_key& key,
                                                     std::size_t limit) override {
    auto row = device_row(key);
    if (!row) {
      return row.error();
    }
    auto st = prepare("SELECT seq, update_time, data_sealed FROM device_states "
                      "WHERE device_pk = ?1 ORDER BY seq DESC LIMIT ?2");
    if (!st) {
      return st.error();
    }
    st->bind(1, row->pk).bind(2, limit_of(limit));
    std::vector<reg::device_state> out;
    while (true) {
      auto more = step(*st);
      if (!more) {
        return more.error();
      }
      if (!*more) {
        return out;
      }
      reg::device_state s;
      s.update_time = detail::from_column(st->int64(1));
      auto plain = sealer_.open(st->blob(2), state_context(key, row->num_id, st->int64(0)));
      if (!plain) {
        return plain.error();
      }
      s.data.assign(plain->data(), plain->data() + plain->size());
      out.push_back(std::move(s));
    }
  }

  result<void> trim_states(const reg::device_key& key, std::size_t keep) override {
    return trim(key, keep,
                "DELETE FROM device_states WHERE device_pk = ?1 AND seq NOT IN ("
                "SELECT seq FROM device_states WHERE device_pk = ?1 ORDER BY seq DESC LIMIT ?2)");
  }

  // registry_transaction: gateway bindings
  result<void> insert_binding(const reg::device_key& gateway, const reg::device_id& dev) override {
    auto gw = device_row(gateway);
    if (!gw) {
      return gw.error();
    }
    auto d = device_row({gateway.registry, dev});
    if (!d) {
      return d.error();
    }
    auto st = writer("INSERT OR IGNORE INTO gateway_bindings (gateway_pk, device_pk) "
                     "VALUES (?1, ?2)");
    if (!st) {
      return st.error();
    }
    st->bind(1, gw->pk).bind(2, d->pk);
    return exec(*st);
  }

  result<void> delete_binding(const reg::device_key& gateway, const reg::device_id& dev) override {
    auto gw = device_row(gateway);
    if (!gw) {
      return gw.error() == registry_errc::device_not_found ? registry_errc::binding_not_found
                                                           : gw.error();
    }
    auto st = writer("DELETE FROM gateway_bindings WHERE gateway_pk = ?1 AND device_pk = "
                     "(SELECT pk FROM devices WHERE registry_pk = ?2 AND id = ?3)");
    if (!st) {
      return st.error();
    }
    st->bind(1, gw->pk).bind(2, gw->registry_pk).bind(3, dev.value());
    return changed(*st, registry_errc::binding_not_found);
  }

  result<std::vector<reg::device_id>> list_bound_devices(const reg::device_key& gateway,
                                                         const reg::page_request& page) override {
    auto gw = device_row(gateway);
    if (!gw) {
      return gw.error();
    }
    auto st = prepare("SELECT d.id FROM gateway_bindings b JOIN devices d ON d.pk = b.device_pk "
                      "WHERE b.gateway_pk = ?1 AND d.id > ?2 ORDER BY d.id LIMIT ?3");
    if (!st) {
      return st.error();
    }
    st->bind(1, gw->pk).bind(2, page.after).bind(3, limit_of(page.page_size));
    return ids(*st);
  }

  result<std::size_t> count_bound_devices(const reg::device_key& gateway) override {
    auto gw = device_row(gateway);
    if (!gw) {
      return gw.error();
    }
    auto st = prepare("SELECT count(*) FROM gateway_bindings WHERE gateway_pk = ?1");
    if (!st) {
      return st.error();
    }
    st->bind(1, gw->pk);
    return count(*st);
  }

  result<std::vector<reg::device_id>> list_gateways_of(const reg::device_key& dev) override {
    auto d = device_row(dev);
    if (!d) {
      return d.error();
    }
    auto st = prepare("SELECT g.id FROM gateway_bindings b JOIN devices g ON g.pk = b.gateway_pk "
                      "WHERE b.device_pk = ?1 ORDER BY g.id");
    if (!st) {
      return st.error();
    }
    st->bind(1, d->pk);
    return ids(*st);
  }

  // registry_transaction: groups
  result<void> insert_group(const reg::device_group& g) override {
    auto rpk = registry_pk(g.key.registry);
    if (!rpk) {
      return rpk.error();
    }
    auto st =
        writer("INSERT INTO device_groups (registry_pk, id, create_time) VALUES (?1, ?2, ?3)");
    if (!st) {
      return st.error();
    }
    st->bind(1, *rpk).bind(2, g.key.group.value()).bind(3, detail::to_column(g.create_time));
    if (auto run = st->run(); !run) {
      return detail::is_constraint(run.error()) ? registry_errc::group_exists : mapped(run.error());
    }
    return write_labels(sqlite3_last_insert_rowid(db_.get()), g.labels);
  }

  result<reg::device_group> find_group(const reg::group_key& key) override {
    auto st = prepare("SELECT g.pk, g.create_time FROM device_groups g "
                      "JOIN registries r ON r.pk = g.registry_pk "
                      "WHERE r.project = ?1 AND r.location = ?2 AND r.id = ?3 AND g.id = ?4");
    if (!st) {
      return st.error();
    }
    bind_registry_key(*st, key.registry);
    st->bind(4, key.group.value());
    auto row = step(*st);
    if (!row) {
      return row.error();
    }
    if (!*row) {
      return registry_errc::group_not_found;
    }
    reg::device_group g{key, {}, detail::from_column(st->int64(1))};
    if (auto r = read_labels(st->int64(0), g.labels); !r) {
      return r.error();
    }
    return g;
  }

  result<std::vector<reg::device_group>> list_groups(const reg::registry_key& key,
                                                     const reg::page_request& page) override {
    auto rpk = registry_pk(key);
    if (!rpk) {
      return rpk.error();
    }
    auto st = prepare("SELECT pk, id, create_time FROM device_groups "
                      "WHERE registry_pk = ?1 AND id > ?2 ORDER BY id LIMIT ?3");
    if (!st) {
      return st.error();
    }
    st->bind(1, *rpk).bind(2, page.after).bind(3, limit_of(page.page_size));
    std::vector<std::pair<std::int64_t, reg::device_group>> rows;
    while (true) {
      auto row = step(*st);
      if (!row) {
        return row.error();
      }
      if (!*row) {
        break;
      }
      rows.emplace_back(st->int64(0), reg::device_group{{key, reg::group_id{st->text(1)}},
                                                        {},
                                                        detail::from_column(st->int64(2))});
    }
    std::vector<reg::device_group> out;
    for (auto& [pk, g] : rows) {
      if (auto r = read_labels(pk, g.labels); !r) {
        return r.error();
      }
      out.push_back(std::move(g));
    }
    return out;
  }

  result<void> update_group(const reg::device_group& g) override {
    auto pk = group_pk(g.key);
    if (!pk) {
      return pk.error();
    }
    auto del = writer("DELETE FROM group_labels WHERE group_pk = ?1");
    if (!del) {
      return del.error();
    }
    del->bind(1, *pk);
    if (auto r = exec(*del); !r) {
      return r;
    }
    return write_labels(*pk, g.labels);
  }

  result<void> delete_group(const reg::group_key& key) override {
    auto pk = group_pk(key);
    if (!pk) {
      return pk.error();
    }
    auto st = writer("DELETE FROM device_groups WHERE pk = ?1");
    if (!st) {
      return st.error();
    }
    st->bind(1, *pk);
    return exec(*st);
  }

  result<void> insert_group_member(const reg::group_key& key, const reg::device_id& dev) override {
    auto pk = group_pk(key);
    if (!pk) {
      return pk.error();
    }
    auto d = device_row({key.registry, dev});
    if (!d) {
      return d.error();
    }
    auto st = writer("INSERT OR IGNORE INTO group_members (group_pk, device_pk) VALUES (?1, ?2)");
    if (!st) {
      return st.error();
    }
    st->bind(1, *pk).bind(2, d->pk);
    return exec(*st);
  }

  result<void> delete_group_member(const reg::group_key& key, const reg::device_id& dev) override {
    auto pk = group_pk(key);
    if (!pk) {
      return pk.error();
    }
    auto st = writer("DELETE FROM group_members WHERE group_pk = ?1 AND device_pk = "
                     "(SELECT d.pk FROM devices d JOIN device_groups g "
                     "ON g.registry_pk = d.registry_pk WHERE g.pk = ?1 AND d.id = ?2)");
    if (!st) {
      return st.error();
    }
    st->bind(1, *pk).bind(2, dev.value());
    return exec(*st);
  }

  result<std::vector<reg::device_id>> list_group_members(const reg::group_key& key,
                                                         const reg::page_request& page) override {
    auto pk = group_pk(key);
    if (!pk) {
      return pk.error();
    }
    auto st = prepare("SELECT d.id FROM group_members m JOIN devices d ON d.pk = m.device_pk "
                      "WHERE m.group_pk = ?1 AND d.id > ?2 ORDER BY d.id LIMIT ?3");
    if (!st) {
      return st.error();
    }
    st->bind(1, *pk).bind(2, page.after).bind(3, limit_of(page.page_size));
    return ids(*st);
  }

private:
  struct device_ref {
    std::int64_t pk = 0;
    std::int64_t registry_pk = 0;
    std::uint64_t num_id = 0;
  };

  // --- statement helpers: every failure leaves here already mapped ---

  result<statement> prepare(std::string_view sql) {
    auto st = db_.prepare(sql);
    if (!st) {
      return mapped(st.error());
    }
    return std::move(*st);
  }

  // A statement that writes: refused in a read transaction.
  result<statement> writer(std::string_view sql) {
    AEGIS_ASSERT(!read_only_);
    if (read_only_) {
      return registry_errc::storage_failed;
    }
    return prepare(sql);
  }

  static result<bool> step(statement& st) {
    auto r = st.step();
    if (!r) {
      return mapped(r.error());
    }
    return *r;
  }

  static result<void> exec(statement& st) {
    if (auto r = st.run(); !r) {
      return mapped(r.error());
    }
    return ok();
  }

  // Runs a write and reports `none` when it touched no row.
  result<void> changed(statement& st, registry_errc none) {
    if (auto r = exec(st); !r) {
      return r;
    }
    if (db_.changes() == 0) {
      return none;
    }
    return ok();
  }

  static result<std::size_t> count(statement& st) {
    auto row = step(st);
    if (!row) {
      return row.error();
    }
    return static_cast<std::size_t>(st.int64(0));
  }

  template <class T, class F>
  static result<std::vector<T>> collect(statement& st, std::vector<T>& out, F on_row) {
    while (true) {
      auto row = step(st);
      if (!row) {
        return row.error();
      }
      if (!*row) {
        return std::move(out);
      }
      on_row();
    }
  }

  static result<std::vector<reg::device_id>> ids(statement& st) {
    std::vector<reg::device_id> out;
    return collect(st, out, [&] { out.emplace_back(st.text(0)); });
  }

  static void bind_registry_key(statement& st, const reg::registry_key& key) {
    st.bind(1, key.project.value()).bind(2, key.location.value()).bind(3, key.registry.value());
  }

  // --- lookups ---

  result<std::int64_t> registry_pk(const reg::registry_key& key) {
    auto st = prepare("SELECT pk FROM registries WHERE project = ?1 AND location = ?2 AND id = ?3");
    if (!st) {
      return st.error();
    }
    bind_registry_key(*st, key);
    auto row = step(*st);
    if (!row) {
      return row.error();
    }
    if (!*row) {
      return registry_errc::registry_not_found;
    }
    return st->int64(0);
  }

  result<device_ref> device_row(const reg::device_key& key) {
    auto st = prepare(std::string("SELECT d.pk, d.registry_pk, d.num_id")
                          .append(device_key_join)
                          .append(" AND d.id = ?4"));
    if (!st) {
      return st.error();
    }
    bind_registry_key(*st, key.registry);
    st->bind(4, key.device.value());
    auto row = step(*st);
    if (!row) {
      return row.error();
    }
    if (!*row) {
      return registry_errc::device_not_found;
    }
    return device_ref{st->int64(0), st->int64(1), static_cast<std::uint64_t>(st->int64(2))};
  }

  result<std::int64_t> group_pk(const reg::group_key& key) {
    auto st = prepare("SELECT g.pk FROM device_groups g JOIN registries r ON r.pk = g.registry_pk "
                      "WHERE r.project = ?1 AND r.location = ?2 AND r.id = ?3 AND g.id = ?4");
    if (!st) {
      return st.error();
    }
    bind_registry_key(*st, key.registry);
    st->bind(4, key.group.value());
    auto row = step(*st);
    if (!row) {
      return row.error();
    }
    if (!*row) {
      return registry_errc::group_not_found;
    }
    return st->int64(0);
  }

  // --- rows to values ---

  result<reg::device_registry> read_registry(statement& st, const reg::registry_key& key) {
    reg::device_registry r;
    r.key = key;
    const auto pk = st.int64(0);
    r.mqtt_enabled = st.int64(1) != 0;
    r.http_enabled = st.int64(2) != 0;
    r.log_level = enum_of<reg::device_log_level>(st.int64(3));
    r.create_time = detail::from_column(st.int64(4));
    auto cas = prepare("SELECT pem FROM registry_ca_certificates WHERE registry_pk = ?1 "
                       "ORDER BY position");
    if (!cas) {
      return cas.error();
    }
    cas->bind(1, pk);
    while (true) {
      auto row = step(*cas);
      if (!row) {
        return row.error();
      }
      if (!*row) {
        return r;
      }
      r.ca_certificates.push_back({cas->text(0)});
    }
  }

  static reg::device read_device(const statement& st, const reg::registry_key& key) {
    reg::device d;
    d.key = {key, reg::device_id{st.text(1)}};
    d.num_id = reg::device_num_id{static_cast<std::uint64_t>(st.int64(2))};
    d.blocked = st.int64(3) != 0;
    d.log_level = enum_of<reg::device_log_level>(st.int64(4));
    d.gateway.type = enum_of<reg::gateway_type>(st.int64(5));
    d.gateway.auth_method = enum_of<reg::gateway_auth_method>(st.int64(6));
    d.create_time = detail::from_column(st.int64(7));
    auto& a = d.activity;
    a.last_heartbeat_time = st.time(8);
    a.last_event_time = st.time(9);
    a.last_state_time = st.time(10);
    a.last_config_ack_time = st.time(11);
    a.last_config_send_time = st.time(12);
    a.last_error_time = st.time(13);
    a.last_error_status.code = static_cast<int>(st.int64(14));
    a.last_error_status.message = st.text(15);
    a.last_accessed_gateway_id = st.text(16);
    a.last_accessed_gateway_time = st.time(17);
    return d;
  }

  result<reg::device> find_device_row_only(const reg::device_key& key) {
    auto st = prepare(std::string("SELECT ")
                          .append(device_columns)
                          .append(device_key_join)
                          .append(" AND d.id = ?4"));
    if (!st) {
      return st.error();
    }
    bind_registry_key(*st, key.registry);
    st->bind(4, key.device.value());
    auto row = step(*st);
    if (!row) {
      return row.error();
    }
    if (!*row) {
      return registry_errc::device_not_found;
    }
    return read_device(*st, key.registry);
  }

  result<reg::device> one_device(statement& st, const reg::registry_key& key) {
    auto row = step(st);
    if (!row) {
      return row.error();
    }
    if (!*row) {
      return registry_errc::device_not_found;
    }
    const auto pk = st.int64(0);
    auto d = read_device(st, key);
    if (auto r = read_device_children(pk, d); !r) {
      return r.error();
    }
    return d;
  }

  result<void> read_device_children(std::int64_t pk, reg::device& d) {
    auto creds = prepare("SELECT format, pem, expiration_time FROM device_credentials "
                         "WHERE device_pk = ?1 ORDER BY position");
    if (!creds) {
      return creds.error();
    }
    creds->bind(1, pk);
    while (true) {
      auto row = step(*creds);
      if (!row) {
        return row.error();
      }
      if (!*row) {
        break;
      }
      d.credentials.push_back(
          {enum_of<reg::credential_format>(creds->int64(0)), creds->text(1), creds->time(2)});
    }
    auto meta = prepare("SELECT meta_key, meta_value FROM device_metadata WHERE device_pk = ?1");
    if (!meta) {
      return meta.error();
    }
    meta->bind(1, pk);
    while (true) {
      auto row = step(*meta);
      if (!row) {
        return row.error();
      }
      if (!*row) {
        return ok();
      }
      d.metadata.emplace(meta->text(0), meta->text(1));
    }
  }

  result<void> read_labels(std::int64_t group, reg::string_map& labels) {
    auto st = prepare("SELECT label_key, label_value FROM group_labels WHERE group_pk = ?1");
    if (!st) {
      return st.error();
    }
    st->bind(1, group);
    while (true) {
      auto row = step(*st);
      if (!row) {
        return row.error();
      }
      if (!*row) {
        return ok();
      }
      labels.emplace(st->text(0), st->text(1));
    }
  }

  // --- values to rows ---

  result<void> write_cas(std::int64_t registry, const std::vector<reg::ca_certificate>& cas) {
    for (std::size_t i = 0; i < cas.size(); ++i) {
      auto st = writer("INSERT INTO registry_ca_certificates (registry_pk, position, pem) "
                       "VALUES (?1, ?2, ?3)");
      if (!st) {
        return st.error();
      }
      st->bind(1, registry).bind(2, count_of(i)).bind(3, cas[i].pem);
      if (auto r = exec(*st); !r) {
        return r;
      }
    }
    return ok();
  }

  result<void> write_credentials(std::int64_t device, const std::vector<reg::credential>& creds) {
    for (std::size_t i = 0; i < creds.size(); ++i) {
      auto st = writer("INSERT INTO device_credentials (device_pk, position, format, pem, "
                       "expiration_time) VALUES (?1, ?2, ?3, ?4, ?5)");
      if (!st) {
        return st.error();
      }
      st->bind(1, device)
          .bind(2, count_of(i))
          .bind(3, int_of(creds[i].format))
          .bind(4, creds[i].pem)
          .bind(5, creds[i].expiration_time);
      if (auto r = exec(*st); !r) {
        return r;
      }
    }
    return ok();
  }

  result<void> write_metadata(std::int64_t device, const reg::string_map& metadata) {
    for (const auto& [k, v] : metadata) {
      auto st = writer(
          "INSERT INTO device_metadata (device_pk, meta_key, meta_value) VALUES (?1, ?2, ?3)");
      if (!st) {
        return st.error();
      }
      st->bind(1, device).bind(2, k).bind(3, v);
      if (auto r = exec(*st); !r) {
        return r;
      }
    }
    return ok();
  }

  result<void> write_labels(std::int64_t group, const reg::string_map& labels) {
    for (const auto& [k, v] : labels) {
      auto st =
          writer("INSERT INTO group_labels (group_pk, label_key, label_value) VALUES (?1, ?2, ?3)");
      if (!st) {
        return st.error();
      }
      st->bind(1, group).bind(2, k).bind(3, v);
      if (auto r = exec(*st); !r) {
        return r;
      }
    }
    return ok();
  }

  result<void> write_activity(std::int64_t device, const reg::device_activity& a) {
    auto st = writer(
        "UPDATE devices SET last_heartbeat_time = ?2, last_event_time = ?3, last_state_time = ?4, "
        "last_config_ack_time = ?5, last_config_send_time = ?6, last_error_time = ?7, "
        "last_error_code = ?8, last_error_message = ?9, last_accessed_gateway_id = ?10, "
        "last_accessed_gateway_time = ?11 WHERE pk = ?1");
    if (!st) {
      return st.error();
    }
    st->bind(1, device)
        .bind(2, a.last_heartbeat_time)
        .bind(3, a.last_event_time)
        .bind(4, a.last_state_time)
        .bind(5, a.last_config_ack_time)
        .bind(6, a.last_config_send_time)
        .bind(7, a.last_error_time)
        .bind(8, std::int64_t{a.last_error_status.code})
        .bind(9, a.last_error_status.message)
        .bind(10, a.last_accessed_gateway_id)
        .bind(11, a.last_accessed_gateway_time);
    return exec(*st);
  }

  result<void> trim(const reg::device_key& key, std::size_t keep, const char* sql) {
    auto row = device_row(key);
    if (!row) {
      return row.error();
    }
    auto st = writer(sql);
    if (!st) {
      return st.error();
    }
    st->bind(1, row->pk).bind(2, count_of(keep));
    return exec(*st);
  }

  // Sealed payloads are bound to the device (by name and by num_id, which differs between a
  // deleted device and a new one with the same id) and to their version or sequence number.
  static seal_context config_context(const reg::device_key& key, std::uint64_t num_id,
                                     std::int64_t version) {
    return {"config_versions", "data_sealed", row_of(key, num_id, version)};
  }
  static seal_context state_context(const reg::device_key& key, std::uint64_t num_id,
                                    std::int64_t seq) {
    return {"device_states", "data_sealed", row_of(key, num_id, seq)};
  }
  static std::vector<std::string> row_of(const reg::device_key& key, std::uint64_t num_id,
                                         std::int64_t n) {
    return {key.registry.project.value(),  key.registry.location.value(),
            key.registry.registry.value(), key.device.value(),
            std::to_string(num_id),        std::to_string(n)};
  }

  connection& db_;
  const column_sealer& sealer_;
  bool read_only_;
};

// --- the store ---

struct sqlite_store::impl {
  impl(std::filesystem::path f, connection c, column_sealer s)
      : file(std::move(f)), db(std::move(c)), sealer(std::move(s)) {}

  // Runs `fn` between BEGIN and COMMIT; any error rolls back.
  result<void> transaction(const char* begin, const std::function<result<void>()>& fn) {
    if (auto r = db.exec(begin); !r) {
      return mapped(r.error());
    }
    auto r = fn();
    if (r) {
      if (auto c = db.exec("COMMIT"); c) {
        return ok();
      } else {
        r = mapped(c.error());
      }
    }
    // SQLite may already have rolled back on its own (e.g. SQLITE_FULL); only roll back an
    // open transaction.
    if (db.in_transaction()) {
      if (auto rb = db.exec("ROLLBACK"); !rb) {
        log::error(component, "rollback failed: {}", db.last_message());
      }
    }
    return r;
  }

  std::filesystem::path file;
  std::mutex mutex;
  connection db;
  column_sealer sealer;
};

result<std::unique_ptr<sqlite_store>> sqlite_store::open(const store_options& options,
                                                         const crypto::master_key& master) {
  auto sealer = column_sealer::create(master);
  if (!sealer) {
    return sealer.error();
  }
  if (auto r = create_private_file(options.file); !r) {
    return r.error();
  }
  auto db = connection::open(options.file,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW);
  if (!db) {
    return store_errc::cannot_open;
  }
  sqlite3_busy_timeout(db->get(), static_cast<int>(options.busy_timeout.count()));
  // Defensive mode: no writable_schema, no journal_mode=off, no direct shadow-table writes.
  sqlite3_db_config(db->get(), SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  sqlite3_db_config(db->get(), SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);

  auto mode = db->query_text("PRAGMA journal_mode = WAL");
  if (!mode) {
    return store_errc::cannot_open; // not a database, or unreadable
  }
  if (*mode != "wal") {
    log::error(component, "{}: journal_mode is '{}', not 'wal'", options.file.string(), *mode);
    return store_errc::wal_unavailable;
  }
  const char* sync = options.sync == durability::power_loss ? "PRAGMA synchronous = FULL"
                                                            : "PRAGMA synchronous = NORMAL";
  if (auto r = db->exec(sync); !r) {
    return store_errc::cannot_open;
  }
  if (auto r = db->exec("PRAGMA foreign_keys = ON"); !r) {
    return store_errc::cannot_open;
  }
  if (auto fk = db->query_text("PRAGMA foreign_keys"); !fk || *fk != "1") {
    return store_errc::foreign_keys_off;
  }
  if (auto r = detail::migrate(*db, detail::all_migrations(), std::chrono::system_clock::now());
      !r) {
    if (r.error() == store_errc::schema_too_new) {
      return r.error();
    }
    // Another process holding the write lock past the busy timeout is "try again", not a
    // broken migration.
    if (detail::is_busy(r.error())) {
      return registry_errc::storage_busy;
    }
    return store_errc::migration_failed;
  }
  log::info(component, "opened {} (WAL, synchronous={})", options.file.string(),
            options.sync == durability::power_loss ? "FULL" : "NORMAL");
  return std::unique_ptr<sqlite_store>(
      new sqlite_store(std::make_unique<impl>(options.file, std::move(*db), std::move(*sealer))));
}

sqlite_store::sqlite_store(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
sqlite_store::~sqlite_store() = default;

result<void> sqlite_store::write(const work& fn) {
  std::lock_guard lock(impl_->mutex);
  sqlite_transaction tx(impl_->db, impl_->sealer, false);
  // IMMEDIATE: take the write lock up front, so a read-then-write (compare-and-set) cannot be
  // overtaken by another connection between its read and its write.
  return impl_->transaction("BEGIN IMMEDIATE", [&] { return fn(tx); });
}

result<void> sqlite_store::read(const work& fn) {
  std::lock_guard lock(impl_->mutex);
  sqlite_transaction tx(impl_->db, impl_->sealer, true);
  return impl_->transaction("BEGIN", [&] { return fn(tx); });
}

namespace {

result<void> check_secret_name(std::string_view name) {
  if (name.empty() || name.size() > 255) {
    return store_errc::bad_secret_name;
  }
  return ok();
}

seal_context secret_context(std::string_view name) {
  return {"secrets", "value_sealed", {std::string(name)}};
}

} // namespace

result<void> sqlite_store::put_secret(std::string_view name, bytes_view value) {
  if (auto r = check_secret_name(name); !r) {
    return r;
  }
  auto sealed = impl_->sealer.seal(value, secret_context(name));
  if (!sealed) {
    return sealed.error();
  }
  std::lock_guard lock(impl_->mutex);
  return impl_->transaction("BEGIN IMMEDIATE", [&]() -> result<void> {
    auto st = impl_->db.prepare(
        "INSERT INTO secrets (name, value_sealed, update_time) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (name) DO UPDATE SET value_sealed = excluded.value_sealed, "
        "update_time = excluded.update_time");
    if (!st) {
      return mapped(st.error());
    }
    st->bind(1, name)
        .bind_blob(2, *sealed)
        .bind(3, detail::to_column(std::chrono::system_clock::now()));
    if (auto r = st->run(); !r) {
      return mapped(r.error());
    }
    return ok();
  });
}

result<crypto::secure_buffer> sqlite_store::get_secret(std::string_view name) {
  if (auto r = check_secret_name(name); !r) {
    return r.error();
  }
  bytes sealed;
  {
    std::lock_guard lock(impl_->mutex);
    auto st = impl_->db.prepare("SELECT value_sealed FROM secrets WHERE name = ?1");
    if (!st) {
      return mapped(st.error());
    }
    st->bind(1, name);
    auto row = st->step();
    if (!row) {
      return mapped(row.error());
    }
    if (!*row) {
      return store_errc::secret_not_found;
    }
    sealed = st->blob(0);
  }
  return impl_->sealer.open(sealed, secret_context(name));
}

result<void> sqlite_store::delete_secret(std::string_view name) {
  if (auto r = check_secret_name(name); !r) {
    return r;
  }
  std::lock_guard lock(impl_->mutex);
  auto st = impl_->db.prepare("DELETE FROM secrets WHERE name = ?1");
  if (!st) {
    return mapped(st.error());
  }
  st->bind(1, name);
  if (auto r = st->run(); !r) {
    return mapped(r.error());
  }
  if (impl_->db.changes() == 0) {
    return store_errc::secret_not_found;
  }
  return ok();
}

int sqlite_store::schema_version() {
  std::lock_guard lock(impl_->mutex);
  auto v = detail::current_schema_version(impl_->db);
  return v ? *v : -1;
}

int sqlite_store::latest_schema_version() noexcept {
  const auto all = detail::all_migrations();
  return all.empty() ? 0 : all.back().version;
}

const std::filesystem::path& sqlite_store::file() const noexcept {
  return impl_->file;
}

} // namespace aegis::storage_sqlite
