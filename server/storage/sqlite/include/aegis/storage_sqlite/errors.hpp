#pragma once

// Errors of the SQLite store that are not registry errors: opening the database, migrating its
// schema, and the sealed-secrets table. Registry operations report registry_errc (storage_busy,
// storage_failed, storage_corrupt, sealed_value_unreadable) as the repository port requires.

#include "aegis/base/error.hpp"

#include <string_view>

namespace aegis::storage_sqlite {

enum class store_errc {
  cannot_open = 1,       // the file cannot be created or opened, or is not a database
  wal_unavailable,       // the file system refused WAL mode (e.g. a network mount)
  foreign_keys_off,      // this SQLite build cannot enforce foreign keys
  schema_too_new,        // written by a newer Aegis: refuse rather than guess
  migration_failed,      // a migration failed; the database is left as it was
  key_derivation_failed, // the master key could not derive the store's sealing key
  secret_not_found,
  bad_secret_name, // empty or over 255 bytes
};
std::string_view describe(store_errc e) noexcept;

} // namespace aegis::storage_sqlite

AEGIS_ERROR_ENUM(aegis::storage_sqlite, store_errc, "aegis.storage.sqlite", describe)
