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
#include <type_traits>
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

// SELECT of whole device rows of the registry bound to ?1..?3, narrowed by `condition`.
std::string device_query(std::string_view condition) {
  return std::string("SELECT ").append(device_columns).append(device_key_join).append(condition);
}

// --- statements: values enter SQL only through bind; every failure leaves here mapped ---

// Binds the next parameter(s) at `index`: a blob, the three parts of a registry key (project,
// location, id), or anything statement::bind takes.
void bind_param(statement& st, int& index, const bytes& blob) {
  st.bind_blob(index++, blob);
}

void bind_param(statement& st, int& index, const reg::registry_key& key) {
  st.bind(index++, key.project.value());
  st.bind(index++, key.location.value());
  st.bind(index++, key.registry.value());
}

template <class T>
void bind_param(statement& st, int& index, const T& value) {
  st.bind(index++, value);
}

// Prepares `sql` and binds `params` to ?1, ?2, ... in order.
template <class... Params>
result<statement> prepare_bound(connection& db, std::string_view sql, const Params&... params) {
  auto st = db.prepare(sql);
  if (!st) {
    return mapped(st.error());
  }
  [[maybe_unused]] int index = 1; // unused when there are no params
  (bind_param(*st, index, params), ...);
  return std::move(*st);
}

result<bool> step(statement& st) {
  auto r = st.step();
  if (!r) {
    return mapped(r.error());
  }
  return *r;
}

result<void> exec(result<statement> st) {
  if (!st) {
    return st.error();
  }
  if (auto r = st->run(); !r) {
    return mapped(r.error());
  }
  return ok();
}

// Runs an INSERT; a constraint violation is `exists`.
result<void> insert(result<statement> st, registry_errc exists) {
  if (!st) {
    return st.error();
  }
  if (auto r = st->run(); !r) {
    return detail::is_constraint(r.error()) ? exists : mapped(r.error());
  }
  return ok();
}

// Runs a write and reports `none` when it touched no row.
result<void> changed(connection& db, result<statement> st, std::error_code none) {
  if (auto r = exec(std::move(st)); !r) {
    return r;
  }
  if (db.changes() == 0) {
    return none;
  }
  return ok();
}

// The first column of a query that always yields a row (count(*), max(...)).
result<std::int64_t> scalar(result<statement> st) {
  if (!st) {
    return st.error();
  }
  if (auto row = step(*st); !row) {
    return row.error();
  }
  return st->int64(0);
}

result<std::size_t> count(result<statement> st) {
  auto n = scalar(std::move(st));
  if (!n) {
    return n.error();
  }
  return static_cast<std::size_t>(*n);
}

// A row reader is called with the statement on a row and returns a T or a result<T>.
template <class T>
struct unwrap_result {
  using type = T;
};
template <class T>
struct unwrap_result<result<T>> {
  using type = T;
};
template <class F>
using row_value_t = typename unwrap_result<std::invoke_result_t<F&, const statement&>>::type;

// The first row of `st` read by `read_row`, or `none` when there is no row.
template <class F>
result<row_value_t<F>> one_row(result<statement> st, std::error_code none, F read_row) {
  if (!st) {
    return st.error();
  }
  auto row = step(*st);
  if (!row) {
    return row.error();
  }
  if (!*row) {
    return none;
  }
  return read_row(*st);
}

// Calls `on_row` (returning void or result<void>) for each row; stops at the first error.
template <class F>
result<void> for_each_row(result<statement> st, F on_row) {
  if (!st) {
    return st.error();
  }
  while (true) {
    auto row = step(*st);
    if (!row) {
      return row.error();
    }
    if (!*row) {
      return ok();
    }
    if constexpr (std::is_void_v<std::invoke_result_t<F&, const statement&>>) {
      on_row(*st);
    } else if (auto r = on_row(*st); !r) {
      return r;
    }
  }
}

// Every row of `st`, each read by `read_row`.
template <class F>
result<std::vector<row_value_t<F>>> collect_rows(result<statement> st, F read_row) {
  std::vector<row_value_t<F>> out;
  auto done = for_each_row(std::move(st), [&](const statement& row) -> result<void> {
    result<row_value_t<F>> value = read_row(row);
    if (!value) {
      return value.error();
    }
    out.push_back(std::move(*value));
    return ok();
  });
  if (!done) {
    return done.error();
  }
  return out;
}

// Values listed with their row's pk, completed by `read_children(pk, value)` once the listing
// statement is done.
template <class T, class F>
result<std::vector<T>> with_children(result<std::vector<std::pair<std::int64_t, T>>> rows,
                                     F read_children) {
  if (!rows) {
    return rows.error();
  }
  std::vector<T> out;
  out.reserve(rows->size());
  for (auto& [pk, value] : *rows) {
    if (auto r = read_children(pk, value); !r) {
      return r.error();
    }
    out.push_back(std::move(value));
  }
  return out;
}

std::int64_t read_pk(const statement& row) {
  return row.int64(0);
}

reg::device_id read_id(const statement& row) {
  return reg::device_id{row.text(0)};
}

} // namespace

// --- the transaction ---

class sqlite_transaction final : public reg::registry_transaction {
public:
  sqlite_transaction(connection& db, const column_sealer& sealer, bool read_only)
      : db_(db), sealer_(sealer), read_only_(read_only) {}

  // registry_transaction: projects
  result<void> insert_project(const reg::project& p) override {
    return insert(writer("INSERT INTO projects (id, create_time) VALUES (?1, ?2)", p.id.value(),
                         detail::to_column(p.create_time)),
                  registry_errc::project_exists);
  }

  result<reg::project> find_project(const reg::project_id& id) override {
    return one_row(prepare("SELECT id, create_time FROM projects WHERE id = ?1", id.value()),
                   registry_errc::project_not_found, read_project);
  }

  result<std::vector<reg::project>> list_projects(const reg::page_request& page) override {
    return collect_rows(
        prepare("SELECT id, create_time FROM projects WHERE id > ?1 ORDER BY id LIMIT ?2",
                page.after, limit_of(page.page_size)),
        read_project);
  }

  result<void> delete_project(const reg::project_id& id) override {
    return changed(db_, writer("DELETE FROM projects WHERE id = ?1", id.value()),
                   registry_errc::project_not_found);
  }

  result<std::size_t> count_registries(const reg::project_id& id) override {
    return count(prepare("SELECT count(*) FROM registries WHERE project = ?1", id.value()));
  }

  // registry_transaction: registries
  result<void> insert_registry(const reg::device_registry& r) override {
    if (auto p = find_project(r.key.project); !p) {
      return p.error();
    }
    auto ins = insert(writer("INSERT INTO registries (project, location, id, mqtt_enabled, "
                             "http_enabled, log_level, create_time) "
                             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                             r.key, std::int64_t{r.mqtt_enabled}, std::int64_t{r.http_enabled},
                             int_of(r.log_level), detail::to_column(r.create_time)),
                      registry_errc::registry_exists);
    if (!ins) {
      return ins;
    }
    return write_cas(sqlite3_last_insert_rowid(db_.get()), r.ca_certificates);
  }

  result<reg::device_registry> find_registry(const reg::registry_key& key) override {
    return one_row(prepare("SELECT pk, mqtt_enabled, http_enabled, log_level, create_time "
                           "FROM registries WHERE project = ?1 AND location = ?2 AND id = ?3",
                           key),
                   registry_errc::registry_not_found,
                   [&](const statement& row) { return read_registry(row, key); });
  }

  result<std::vector<reg::device_registry>>
  list_registries(const reg::project_id& project, const reg::location_id& location,
                  const reg::page_request& page) override {
    return collect_rows(
        prepare("SELECT pk, mqtt_enabled, http_enabled, log_level, create_time, id "
                "FROM registries WHERE project = ?1 AND location = ?2 AND id > ?3 "
                "ORDER BY id LIMIT ?4",
                project.value(), location.value(), page.after, limit_of(page.page_size)),
        [&](const statement& row) {
          return read_registry(row, {project, location, reg::registry_id{row.text(5)}});
        });
  }

  result<void> update_registry(const reg::device_registry& r) override {
    auto pk = registry_pk(r.key);
    if (!pk) {
      return pk.error();
    }
    if (auto run = exec(writer("UPDATE registries SET mqtt_enabled = ?2, http_enabled = ?3, "
                               "log_level = ?4 WHERE pk = ?1",
                               *pk, std::int64_t{r.mqtt_enabled}, std::int64_t{r.http_enabled},
                               int_of(r.log_level)));
        !run) {
      return run;
    }
    if (auto run = exec(writer("DELETE FROM registry_ca_certificates WHERE registry_pk = ?1", *pk));
        !run) {
      return run;
    }
    return write_cas(*pk, r.ca_certificates);
  }

  result<void> delete_registry(const reg::registry_key& key) override {
    return changed(
        db_, writer("DELETE FROM registries WHERE project = ?1 AND location = ?2 AND id = ?3", key),
        registry_errc::registry_not_found);
  }

  result<std::size_t> count_devices(const reg::registry_key& key) override {
    auto pk = registry_pk(key);
    if (!pk) {
      return pk.error();
    }
    return count(prepare("SELECT count(*) FROM devices WHERE registry_pk = ?1", *pk));
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
    // The id was checked above inside this transaction, so a unique violation is the num_id.
    auto ins =
        insert(writer("INSERT INTO devices (registry_pk, id, num_id, blocked, log_level, "
                      "gateway_type, gateway_auth_method, create_time) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                      *rpk, d.key.device.value(), static_cast<std::int64_t>(d.num_id.value()),
                      std::int64_t{d.blocked}, int_of(d.log_level), int_of(d.gateway.type),
                      int_of(d.gateway.auth_method), detail::to_column(d.create_time)),
               registry_errc::num_id_collision);
    if (!ins) {
      return ins;
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
    return one_row(select_device(key), registry_errc::device_not_found,
                   [&](const statement& row) { return read_full_device(row, key.registry); });
  }

  result<reg::device> find_device_by_num_id(const reg::registry_key& key,
                                            reg::device_num_id id) override {
    if (id.value() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return registry_errc::device_not_found;
    }
    return one_row(
        prepare(device_query(" AND d.num_id = ?4"), key, static_cast<std::int64_t>(id.value())),
        registry_errc::device_not_found,
        [&](const statement& row) { return read_full_device(row, key); });
  }

  result<std::vector<reg::device>> list_devices(const reg::registry_key& key,
                                                const reg::page_request& page) override {
    return with_children(
        collect_rows(prepare(device_query(" AND d.id > ?4 ORDER BY d.id LIMIT ?5"), key, page.after,
                             limit_of(page.page_size)),
                     [&](const statement& row) {
                       return std::pair{row.int64(0), read_device(row, key)};
                     }),
        [this](std::int64_t pk, reg::device& d) { return read_device_children(pk, d); });
  }

  result<void> update_device(const reg::device& d) override {
    auto row = device_row(d.key);
    if (!row) {
      return row.error();
    }
    if (auto r = exec(writer("UPDATE devices SET blocked = ?2, log_level = ?3, gateway_type = ?4, "
                             "gateway_auth_method = ?5 WHERE pk = ?1",
                             row->pk, std::int64_t{d.blocked}, int_of(d.log_level),
                             int_of(d.gateway.type), int_of(d.gateway.auth_method)));
        !r) {
      return r;
    }
    for (const char* sql : {"DELETE FROM device_credentials WHERE device_pk = ?1",
                            "DELETE FROM device_metadata WHERE device_pk = ?1"}) {
      if (auto r = exec(writer(sql, row->pk)); !r) {
        return r;
      }
    }
    if (auto r = write_credentials(row->pk, d.credentials); !r) {
      return r;
    }
    return write_metadata(row->pk, d.metadata);
  }

  result<reg::device_activity> find_activity(const reg::device_key& key) override {
    auto d = one_row(select_device(key), registry_errc::device_not_found,
                     [&](const statement& row) { return read_device(row, key.registry); });
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
    return exec(writer("DELETE FROM devices WHERE pk = ?1", row->pk));
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
    return exec(writer("INSERT INTO config_versions (device_pk, version, cloud_update_time, "
                       "device_ack_time, data_sealed) VALUES (?1, ?2, ?3, ?4, ?5)",
                       row->pk, c.version, detail::to_column(c.cloud_update_time),
                       c.device_ack_time, *sealed));
  }

  result<std::vector<reg::config_version>> list_configs(const reg::device_key& key,
                                                        std::size_t limit) override {
    auto dev = device_row(key);
    if (!dev) {
      return dev.error();
    }
    return collect_rows(
        prepare("SELECT version, cloud_update_time, device_ack_time, data_sealed FROM "
                "config_versions WHERE device_pk = ?1 ORDER BY version DESC LIMIT ?2",
                dev->pk, limit_of(limit)),
        [&](const statement& row) -> result<reg::config_version> {
          reg::config_version c;
          c.version = row.int64(0);
          c.cloud_update_time = detail::from_column(row.int64(1));
          c.device_ack_time = row.time(2);
          auto data = open_sealed(row.blob(3), config_context(key, dev->num_id, c.version));
          if (!data) {
            return data.error();
          }
          c.data = std::move(*data);
          return c;
        });
  }

  result<void> update_config_ack(const reg::device_key& key, std::int64_t version,
                                 wall_time ack_time) override {
    auto row = device_row(key);
    if (!row) {
      return row.error();
    }
    return changed(db_,
                   writer("UPDATE config_versions SET device_ack_time = ?3 "
                          "WHERE device_pk = ?1 AND version = ?2",
                          row->pk, version, detail::to_column(ack_time)),
                   registry_errc::config_version_not_found);
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
    auto seq = scalar(prepare(
        "SELECT coalesce(max(seq), 0) + 1 FROM device_states WHERE device_pk = ?1", row->pk));
    if (!seq) {
      return seq.error();
    }
    auto sealed = sealer_.seal(s.data, state_context(key, row->num_id, *seq));
    if (!sealed) {
      return sealed.error();
    }
    return exec(writer("INSERT INTO device_states (device_pk, seq, update_time, data_sealed) "
                       "VALUES (?1, ?2, ?3, ?4)",
                       row->pk, *seq, detail::to_column(s.update_time), *sealed));
  }

  result<std::vector<reg::device_state>> list_states(const reg::device_key& key,
                                                     std::size_t limit) override {
    auto dev = device_row(key);
    if (!dev) {
      return dev.error();
    }
    return collect_rows(prepare("SELECT seq, update_time, data_sealed FROM device_states "
                                "WHERE device_pk = ?1 ORDER BY seq DESC LIMIT ?2",
                                dev->pk, limit_of(limit)),
                        [&](const statement& row) -> result<reg::device_state> {
                          reg::device_state s;
                          s.update_time = detail::from_column(row.int64(1));
                          auto data = open_sealed(row.blob(2),
                                                  state_context(key, dev->num_id, row.int64(0)));
                          if (!data) {
                            return data.error();
                          }
                          s.data = std::move(*data);
                          return s;
                        });
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
    return exec(writer("INSERT OR IGNORE INTO gateway_bindings (gateway_pk, device_pk) "
                       "VALUES (?1, ?2)",
                       gw->pk, d->pk));
  }

  result<void> delete_binding(const reg::device_key& gateway, const reg::device_id& dev) override {
    auto gw = device_row(gateway);
    if (!gw) {
      return gw.error() == registry_errc::device_not_found ? registry_errc::binding_not_found
                                                           : gw.error();
    }
    return changed(db_,
                   writer("DELETE FROM gateway_bindings WHERE gateway_pk = ?1 AND device_pk = "
                          "(SELECT pk FROM devices WHERE registry_pk = ?2 AND id = ?3)",
                          gw->pk, gw->registry_pk, dev.value()),
                   registry_errc::binding_not_found);
  }

  result<std::vector<reg::device_id>> list_bound_devices(const reg::device_key& gateway,
                                                         const reg::page_request& page) override {
    auto gw = device_row(gateway);
    if (!gw) {
      return gw.error();
    }
    return collect_rows(
        prepare("SELECT d.id FROM gateway_bindings b JOIN devices d ON d.pk = b.device_pk "
                "WHERE b.gateway_pk = ?1 AND d.id > ?2 ORDER BY d.id LIMIT ?3",
                gw->pk, page.after, limit_of(page.page_size)),
        read_id);
  }

  result<std::size_t> count_bound_devices(const reg::device_key& gateway) override {
    auto gw = device_row(gateway);
    if (!gw) {
      return gw.error();
    }
    return count(prepare("SELECT count(*) FROM gateway_bindings WHERE gateway_pk = ?1", gw->pk));
  }

  result<std::vector<reg::device_id>> list_gateways_of(const reg::device_key& dev) override {
    auto d = device_row(dev);
    if (!d) {
      return d.error();
    }
    return collect_rows(
        prepare("SELECT g.id FROM gateway_bindings b JOIN devices g ON g.pk = b.gateway_pk "
                "WHERE b.device_pk = ?1 ORDER BY g.id",
                d->pk),
        read_id);
  }

  // registry_transaction: groups
  result<void> insert_group(const reg::device_group& g) override {
    auto rpk = registry_pk(g.key.registry);
    if (!rpk) {
      return rpk.error();
    }
    auto ins = insert(
        writer("INSERT INTO device_groups (registry_pk, id, create_time) VALUES (?1, ?2, ?3)", *rpk,
               g.key.group.value(), detail::to_column(g.create_time)),
        registry_errc::group_exists);
    if (!ins) {
      return ins;
    }
    return write_labels(sqlite3_last_insert_rowid(db_.get()), g.labels);
  }

  result<reg::device_group> find_group(const reg::group_key& key) override {
    return one_row(prepare("SELECT g.pk, g.create_time FROM device_groups g "
                           "JOIN registries r ON r.pk = g.registry_pk "
                           "WHERE r.project = ?1 AND r.location = ?2 AND r.id = ?3 AND g.id = ?4",
                           key.registry, key.group.value()),
                   registry_errc::group_not_found,
                   [&](const statement& row) -> result<reg::device_group> {
                     reg::device_group g{key, {}, detail::from_column(row.int64(1))};
                     if (auto r = read_labels(row.int64(0), g.labels); !r) {
                       return r.error();
                     }
                     return g;
                   });
  }

  result<std::vector<reg::device_group>> list_groups(const reg::registry_key& key,
                                                     const reg::page_request& page) override {
    auto rpk = registry_pk(key);
    if (!rpk) {
      return rpk.error();
    }
    return with_children(
        collect_rows(prepare("SELECT pk, id, create_time FROM device_groups "
                             "WHERE registry_pk = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
                             *rpk, page.after, limit_of(page.page_size)),
                     [&](const statement& row) {
                       return std::pair{row.int64(0),
                                        reg::device_group{{key, reg::group_id{row.text(1)}},
                                                          {},
                                                          detail::from_column(row.int64(2))}};
                     }),
        [this](std::int64_t pk, reg::device_group& g) { return read_labels(pk, g.labels); });
  }

  result<void> update_group(const reg::device_group& g) override {
    auto pk = group_pk(g.key);
    if (!pk) {
      return pk.error();
    }
    if (auto r = exec(writer("DELETE FROM group_labels WHERE group_pk = ?1", *pk)); !r) {
      return r;
    }
    return write_labels(*pk, g.labels);
  }

  result<void> delete_group(const reg::group_key& key) override {
    auto pk = group_pk(key);
    if (!pk) {
      return pk.error();
    }
    return exec(writer("DELETE FROM device_groups WHERE pk = ?1", *pk));
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
    return exec(writer("INSERT OR IGNORE INTO group_members (group_pk, device_pk) VALUES (?1, ?2)",
                       *pk, d->pk));
  }

  result<void> delete_group_member(const reg::group_key& key, const reg::device_id& dev) override {
    auto pk = group_pk(key);
    if (!pk) {
      return pk.error();
    }
    return exec(writer("DELETE FROM group_members WHERE group_pk = ?1 AND device_pk = "
                       "(SELECT d.pk FROM devices d JOIN device_groups g "
                       "ON g.registry_pk = d.registry_pk WHERE g.pk = ?1 AND d.id = ?2)",
                       *pk, dev.value()));
  }

  result<std::vector<reg::device_id>> list_group_members(const reg::group_key& key,
                                                         const reg::page_request& page) override {
    auto pk = group_pk(key);
    if (!pk) {
      return pk.error();
    }
    return collect_rows(
        prepare("SELECT d.id FROM group_members m JOIN devices d ON d.pk = m.device_pk "
                "WHERE m.group_pk = ?1 AND d.id > ?2 ORDER BY d.id LIMIT ?3",
                *pk, page.after, limit_of(page.page_size)),
        read_id);
  }

private:
  struct device_ref {
    std::int64_t pk = 0;
    std::int64_t registry_pk = 0;
    std::uint64_t num_id = 0;
  };

  // --- statements ---

  template <class... Params>
  result<statement> prepare(std::string_view sql, const Params&... params) {
    return prepare_bound(db_, sql, params...);
  }

  // A statement that writes: refused in a read transaction.
  template <class... Params>
  result<statement> writer(std::string_view sql, const Params&... params) {
    AEGIS_ASSERT(!read_only_);
    if (read_only_) {
      return registry_errc::storage_failed;
    }
    return prepare(sql, params...);
  }

  // --- lookups ---

  result<std::int64_t> registry_pk(const reg::registry_key& key) {
    return one_row(
        prepare("SELECT pk FROM registries WHERE project = ?1 AND location = ?2 AND id = ?3", key),
        registry_errc::registry_not_found, read_pk);
  }

  result<device_ref> device_row(const reg::device_key& key) {
    return one_row(
        prepare(std::string("SELECT d.pk, d.registry_pk, d.num_id")
                    .append(device_key_join)
                    .append(" AND d.id = ?4"),
                key.registry, key.device.value()),
        registry_errc::device_not_found, [](const statement& row) {
          return device_ref{row.int64(0), row.int64(1), static_cast<std::uint64_t>(row.int64(2))};
        });
  }

  result<std::int64_t> group_pk(const reg::group_key& key) {
    return one_row(
        prepare("SELECT g.pk FROM device_groups g JOIN registries r ON r.pk = g.registry_pk "
                "WHERE r.project = ?1 AND r.location = ?2 AND r.id = ?3 AND g.id = ?4",
                key.registry, key.group.value()),
        registry_errc::group_not_found, read_pk);
  }

  result<statement> select_device(const reg::device_key& key) {
    return prepare(device_query(" AND d.id = ?4"), key.registry, key.device.value());
  }

  // --- rows to values ---

  static reg::project read_project(const statement& row) {
    return {reg::project_id{row.text(0)}, detail::from_column(row.int64(1))};
  }

  result<reg::device_registry> read_registry(const statement& st, const reg::registry_key& key) {
    reg::device_registry r;
    r.key = key;
    const auto pk = st.int64(0);
    r.mqtt_enabled = st.int64(1) != 0;
    r.http_enabled = st.int64(2) != 0;
    r.log_level = enum_of<reg::device_log_level>(st.int64(3));
    r.create_time = detail::from_column(st.int64(4));
    auto cas =
        for_each_row(prepare("SELECT pem FROM registry_ca_certificates WHERE registry_pk = ?1 "
                             "ORDER BY position",
                             pk),
                     [&](const statement& row) { r.ca_certificates.push_back({row.text(0)}); });
    if (!cas) {
      return cas.error();
    }
    return r;
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

  // A device row with its credentials and metadata.
  result<reg::device> read_full_device(const statement& st, const reg::registry_key& key) {
    const auto pk = st.int64(0);
    auto d = read_device(st, key);
    if (auto r = read_device_children(pk, d); !r) {
      return r.error();
    }
    return d;
  }

  result<void> read_device_children(std::int64_t pk, reg::device& d) {
    auto creds =
        for_each_row(prepare("SELECT format, pem, expiration_time FROM "
                             "device_credentials WHERE device_pk = ?1 ORDER BY position",
                             pk),
                     [&](const statement& row) {
                       d.credentials.push_back({enum_of<reg::credential_format>(row.int64(0)),
                                                row.text(1), row.time(2)});
                     });
    if (!creds) {
      return creds;
    }
    return read_map("SELECT meta_key, meta_value FROM device_metadata WHERE device_pk = ?1", pk,
                    d.metadata);
  }

  result<void> read_labels(std::int64_t group, reg::string_map& labels) {
    return read_map("SELECT label_key, label_value FROM group_labels WHERE group_pk = ?1", group,
                    labels);
  }

  // Key/value rows of `sql`, the owner's pk bound to ?1, into `out`.
  result<void> read_map(std::string_view sql, std::int64_t owner, reg::string_map& out) {
    return for_each_row(prepare(sql, owner),
                        [&](const statement& row) { out.emplace(row.text(0), row.text(1)); });
  }

  // Opens a sealed column into plain bytes.
  result<bytes> open_sealed(bytes_view sealed, const seal_context& where) const {
    auto plain = sealer_.open(sealed, where);
    if (!plain) {
      return plain.error();
    }
    return bytes(plain->data(), plain->data() + plain->size());
  }

  // --- values to rows ---

  result<void> write_cas(std::int64_t registry, const std::vector<reg::ca_certificate>& cas) {
    for (std::size_t i = 0; i < cas.size(); ++i) {
      if (auto r = exec(writer("INSERT INTO registry_ca_certificates (registry_pk, position, pem) "
                               "VALUES (?1, ?2, ?3)",
                               registry, count_of(i), cas[i].pem));
          !r) {
        return r;
      }
    }
    return ok();
  }

  result<void> write_credentials(std::int64_t device, const std::vector<reg::credential>& creds) {
    for (std::size_t i = 0; i < creds.size(); ++i) {
      if (auto r = exec(writer("INSERT INTO device_credentials (device_pk, position, format, pem, "
                               "expiration_time) VALUES (?1, ?2, ?3, ?4, ?5)",
                               device, count_of(i), int_of(creds[i].format), creds[i].pem,
                               creds[i].expiration_time));
          !r) {
        return r;
      }
    }
    return ok();
  }

  result<void> write_metadata(std::int64_t device, const reg::string_map& metadata) {
    return write_map(
        "INSERT INTO device_metadata (device_pk, meta_key, meta_value) VALUES (?1, ?2, ?3)", device,
        metadata);
  }

  result<void> write_labels(std::int64_t group, const reg::string_map& labels) {
    return write_map(
        "INSERT INTO group_labels (group_pk, label_key, label_value) VALUES (?1, ?2, ?3)", group,
        labels);
  }

  // One row of `sql` per entry: the owner's pk, the key and the value as ?1, ?2 and ?3.
  result<void> write_map(std::string_view sql, std::int64_t owner, const reg::string_map& map) {
    for (const auto& [k, v] : map) {
      if (auto r = exec(writer(sql, owner, k, v)); !r) {
        return r;
      }
    }
    return ok();
  }

  result<void> write_activity(std::int64_t device, const reg::device_activity& a) {
    return exec(writer(
        "UPDATE devices SET last_heartbeat_time = ?2, last_event_time = ?3, last_state_time = ?4, "
        "last_config_ack_time = ?5, last_config_send_time = ?6, last_error_time = ?7, "
        "last_error_code = ?8, last_error_message = ?9, last_accessed_gateway_id = ?10, "
        "last_accessed_gateway_time = ?11 WHERE pk = ?1",
        device, a.last_heartbeat_time, a.last_event_time, a.last_state_time, a.last_config_ack_time,
        a.last_config_send_time, a.last_error_time, std::int64_t{a.last_error_status.code},
        a.last_error_status.message, a.last_accessed_gateway_id, a.last_accessed_gateway_time));
  }

  result<void> trim(const reg::device_key& key, std::size_t keep, const char* sql) {
    auto row = device_row(key);
    if (!row) {
      return row.error();
    }
    return exec(writer(sql, row->pk, count_of(keep)));
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

result<void> sqlite_store::in_transaction(
    bool write, const std::function<result<void>(connection&, const column_sealer&)>& fn) {
  std::lock_guard lock(impl_->mutex);
  return impl_->transaction(write ? "BEGIN IMMEDIATE" : "BEGIN",
                            [&] { return fn(impl_->db, impl_->sealer); });
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
    return exec(
        prepare_bound(impl_->db,
                      "INSERT INTO secrets (name, value_sealed, update_time) VALUES (?1, ?2, ?3) "
                      "ON CONFLICT (name) DO UPDATE SET value_sealed = excluded.value_sealed, "
                      "update_time = excluded.update_time",
                      name, *sealed, detail::to_column(std::chrono::system_clock::now())));
  });
}

result<crypto::secure_buffer> sqlite_store::get_secret(std::string_view name) {
  if (auto r = check_secret_name(name); !r) {
    return r.error();
  }
  std::unique_lock lock(impl_->mutex);
  auto sealed =
      one_row(prepare_bound(impl_->db, "SELECT value_sealed FROM secrets WHERE name = ?1", name),
              store_errc::secret_not_found, [](const statement& row) { return row.blob(0); });
  lock.unlock();
  if (!sealed) {
    return sealed.error();
  }
  return impl_->sealer.open(*sealed, secret_context(name));
}

result<void> sqlite_store::delete_secret(std::string_view name) {
  if (auto r = check_secret_name(name); !r) {
    return r;
  }
  std::lock_guard lock(impl_->mutex);
  return changed(impl_->db, prepare_bound(impl_->db, "DELETE FROM secrets WHERE name = ?1", name),
                 store_errc::secret_not_found);
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

// --- registry::operator_repository ---
//
// Each call is one statement (or one read and its unsealing) under the store's mutex; writes
// run in their own IMMEDIATE transaction like every other write.

namespace {

// The token digest is sealed bound to the token id, so a digest copied onto another token's
// row does not open.
seal_context token_digest_context(std::string_view id) {
  return {"operator_tokens", "secret_digest_sealed", {std::string(id)}};
}

constexpr std::string_view token_columns =
    "SELECT id, description, scope, secret_digest_sealed, create_time, expire_time, revoke_time, "
    "created_by FROM operator_tokens";

constexpr std::string_view audit_columns =
    "SELECT sequence, at, actor, action, target, outcome, detail, source_address FROM audit_log";

result<reg::operator_token> read_token(const statement& row, const column_sealer& sealer) {
  reg::operator_token t;
  t.id = row.text(0);
  t.description = row.text(1);
  t.scope = enum_of<reg::operator_scope>(row.int64(2));
  auto digest = sealer.open(row.blob(3), token_digest_context(t.id));
  if (!digest) {
    return digest.error();
  }
  t.secret_digest = bytes(digest->data(), digest->data() + digest->size());
  t.create_time = detail::from_column(row.int64(4));
  t.expire_time = row.time(5);
  t.revoke_time = row.time(6);
  t.created_by = row.text(7);
  return t;
}

reg::audit_record read_audit(const statement& row) {
  reg::audit_record r;
  r.sequence = row.int64(0);
  r.at = detail::from_column(row.int64(1));
  r.actor = row.text(2);
  r.action = row.text(3);
  r.target = row.text(4);
  r.outcome = row.text(5);
  r.detail = row.text(6);
  r.source_address = row.text(7);
  return r;
}

reg::revoked_certificate read_revocation(const statement& row) {
  return {row.text(0), detail::from_column(row.int64(1)), row.text(2), row.text(3)};
}

} // namespace

result<void> sqlite_store::insert_token(const reg::operator_token& t) {
  const auto scope = int_of(t.scope);
  if (scope < int_of(reg::operator_scope::viewer) || scope > int_of(reg::operator_scope::admin)) {
    return registry_errc::bad_enum_value;
  }
  auto sealed = impl_->sealer.seal(t.secret_digest, token_digest_context(t.id));
  if (!sealed) {
    return sealed.error();
  }
  std::lock_guard lock(impl_->mutex);
  return impl_->transaction("BEGIN IMMEDIATE", [&]() -> result<void> {
    return insert(prepare_bound(impl_->db,
                                "INSERT INTO operator_tokens (id, description, scope, "
                                "secret_digest_sealed, create_time, expire_time, revoke_time, "
                                "created_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                                t.id, t.description, scope, *sealed,
                                detail::to_column(t.create_time), t.expire_time, t.revoke_time,
                                t.created_by),
                  registry_errc::token_exists);
  });
}

result<reg::operator_token> sqlite_store::find_token(std::string_view id) {
  std::lock_guard lock(impl_->mutex);
  return one_row(prepare_bound(impl_->db, std::string(token_columns).append(" WHERE id = ?1"), id),
                 registry_errc::token_not_found,
                 [&](const statement& row) { return read_token(row, impl_->sealer); });
}

result<std::vector<reg::operator_token>> sqlite_store::list_tokens() {
  std::lock_guard lock(impl_->mutex);
  // A read transaction: the list is one consistent snapshot.
  std::vector<reg::operator_token> out;
  auto r = impl_->transaction("BEGIN", [&]() -> result<void> {
    auto rows =
        collect_rows(prepare_bound(impl_->db, std::string(token_columns).append(" ORDER BY id")),
                     [&](const statement& row) { return read_token(row, impl_->sealer); });
    if (!rows) {
      return rows.error();
    }
    out = std::move(*rows);
    return ok();
  });
  if (!r) {
    return r.error();
  }
  return out;
}

result<void> sqlite_store::revoke_token(std::string_view id, wall_time at) {
  std::lock_guard lock(impl_->mutex);
  return impl_->transaction("BEGIN IMMEDIATE", [&]() -> result<void> {
    // coalesce keeps the first revoke time; the row still counts as changed, so an unknown id
    // is the only way to change nothing.
    return changed(impl_->db,
                   prepare_bound(impl_->db,
                                 "UPDATE operator_tokens SET revoke_time = "
                                 "coalesce(revoke_time, ?2) WHERE id = ?1",
                                 id, detail::to_column(at)),
                   registry_errc::token_not_found);
  });
}

result<std::size_t> sqlite_store::count_tokens() {
  std::lock_guard lock(impl_->mutex);
  return count(prepare_bound(impl_->db, "SELECT count(*) FROM operator_tokens"));
}

result<std::int64_t> sqlite_store::append_audit(const reg::audit_record& r) {
  std::lock_guard lock(impl_->mutex);
  std::int64_t sequence = 0;
  auto done = impl_->transaction("BEGIN IMMEDIATE", [&]() -> result<void> {
    // The sequence is the store's: r.sequence is ignored.
    if (auto w = exec(prepare_bound(impl_->db,
                                    "INSERT INTO audit_log (at, actor, action, target, outcome, "
                                    "detail, source_address) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                                    detail::to_column(r.at), r.actor, r.action, r.target, r.outcome,
                                    r.detail, r.source_address));
        !w) {
      return w;
    }
    sequence = sqlite3_last_insert_rowid(impl_->db.get());
    return ok();
  });
  if (!done) {
    return done.error();
  }
  return sequence;
}

result<std::vector<reg::audit_record>> sqlite_store::list_audit(const reg::audit_query& q) {
  std::lock_guard lock(impl_->mutex);
  // Empty filters match everything. The prefix compares bytes (BLOB), so LIKE wildcards and
  // case have no special meaning.
  return collect_rows(prepare_bound(impl_->db,
                                    std::string(audit_columns)
                                        .append(" WHERE sequence > ?1"
                                                " AND (?2 = '' OR substr(CAST(target AS BLOB), 1, "
                                                "length(CAST(?2 AS BLOB))) = CAST(?2 AS BLOB))"
                                                " AND (?3 = '' OR actor = ?3)"
                                                " AND (?4 = '' OR action = ?4)"
                                                " ORDER BY sequence LIMIT ?5"),
                                    q.after_sequence, q.target_prefix, q.actor, q.action,
                                    limit_of(q.limit)),
                      read_audit);
}

result<void> sqlite_store::insert_revocation(const reg::revoked_certificate& r) {
  std::lock_guard lock(impl_->mutex);
  return impl_->transaction("BEGIN IMMEDIATE", [&]() -> result<void> {
    // Revoking again keeps the first record.
    return exec(
        prepare_bound(impl_->db,
                      "INSERT INTO revoked_certificates (serial_hex, revoke_time, reason, "
                      "subject) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (serial_hex) DO NOTHING",
                      r.serial_hex, detail::to_column(r.revoke_time), r.reason, r.subject));
  });
}

result<std::vector<reg::revoked_certificate>> sqlite_store::list_revocations() {
  std::lock_guard lock(impl_->mutex);
  return collect_rows(prepare_bound(impl_->db,
                                    "SELECT serial_hex, revoke_time, reason, subject FROM "
                                    "revoked_certificates ORDER BY revoke_time, serial_hex"),
                      read_revocation);
}

result<bool> sqlite_store::is_revoked(std::string_view serial_hex) {
  std::lock_guard lock(impl_->mutex);
  auto n = scalar(prepare_bound(
      impl_->db, "SELECT count(*) FROM revoked_certificates WHERE serial_hex = ?1", serial_hex));
  if (!n) {
    return n.error();
  }
  return *n != 0;
}

} // namespace aegis::storage_sqlite
