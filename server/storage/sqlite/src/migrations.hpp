#pragma once

// The schema, as numbered migrations. A migration is never edited once released: change the
// schema by appending one. open() applies every migration above the database's version in one
// transaction, and records each in schema_migrations.

#include "aegis/base/clock.hpp"
#include "aegis/base/error.hpp"

#include "sqlite.hpp"

#include <span>
#include <string_view>

namespace aegis::storage_sqlite::detail {

struct migration {
  int version;
  std::string_view name;
  const char* sql;
};

std::span<const migration> all_migrations() noexcept;

// The highest version recorded in schema_migrations (0 for an empty database).
result<int> current_schema_version(connection& db);

// Applies every migration of `migrations` above the current version, in one IMMEDIATE
// transaction; on any failure nothing is applied. store_errc::schema_too_new when the database
// records a version above the last of `migrations`.
result<void> migrate(connection& db, std::span<const migration> migrations, wall_time now);

} // namespace aegis::storage_sqlite::detail
