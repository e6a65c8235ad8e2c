#include "aegis/storage_sqlite/errors.hpp"

namespace aegis::storage_sqlite {

std::string_view describe(store_errc e) noexcept {
  switch (e) {
  case store_errc::cannot_open:
    return "cannot create or open the database file (or it is not a database)";
  case store_errc::wal_unavailable:
    return "the file system does not support SQLite WAL mode (network mounts often do not)";
  case store_errc::foreign_keys_off:
    return "this SQLite build cannot enforce foreign keys";
  case store_errc::schema_too_new:
    return "the database was written by a newer Aegis (schema version above this build's)";
  case store_errc::migration_failed:
    return "a schema migration failed; the database is unchanged";
  case store_errc::key_derivation_failed:
    return "cannot derive the store's sealing key from the master key";
  case store_errc::secret_not_found:
    return "no secret with that name";
  case store_errc::bad_secret_name:
    return "secret name must be 1-255 bytes";
  }
  return "unknown storage error";
}

} // namespace aegis::storage_sqlite
