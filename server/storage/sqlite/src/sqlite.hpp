#pragma once

// Small RAII wrappers over the sqlite3 C API, private to this module. Values only ever enter SQL
// through bind_*: there is no way to splice text into a statement here.

#include "aegis/base/bytes.hpp"
#include "aegis/base/clock.hpp"
#include "aegis/base/error.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

struct sqlite3;
struct sqlite3_stmt;

namespace aegis::storage_sqlite::detail {

// SQLite (extended) result codes as std::error_code, category "sqlite".
const std::error_category& sqlite_category() noexcept;
inline std::error_code sqlite_error(int rc) noexcept {
  return {rc, sqlite_category()};
}
bool is_constraint(std::error_code ec) noexcept;
bool is_busy(std::error_code ec) noexcept;
bool is_corrupt(std::error_code ec) noexcept;

// Times are stored as INTEGER nanoseconds since the Unix epoch (exact for wall_time).
std::int64_t to_column(wall_time t) noexcept;
wall_time from_column(std::int64_t ns) noexcept;

class statement {
public:
  statement() = default;
  statement(sqlite3* db, sqlite3_stmt* stmt) noexcept : db_(db), stmt_(stmt) {}
  statement(statement&& other) noexcept;
  statement& operator=(statement&& other) noexcept;
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  ~statement();

  // Parameters are numbered from 1. A failed bind is remembered and reported by step().
  statement& bind(int index, std::int64_t value);
  statement& bind(int index, std::string_view text);
  statement& bind_blob(int index, bytes_view blob);
  statement& bind(int index, std::optional<wall_time> t);
  statement& bind_null(int index);

  // true: a row is available; false: the statement is done.
  result<bool> step();
  // Steps to completion; rows, if any, are ignored.
  result<void> run();
  // Ready to run again with new bindings (a statement prepared once for many rows).
  void reset() noexcept;

  std::int64_t int64(int column) const;
  std::string text(int column) const;
  bytes blob(int column) const;
  bool is_null(int column) const;
  std::optional<wall_time> time(int column) const;

private:
  void note(int rc) noexcept;

  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  int bind_rc_ = 0;
};

class connection {
public:
  connection() = default;
  // SQLITE_OPEN_* flags; extended result codes are always on.
  static result<connection> open(const std::filesystem::path& file, int flags);
  connection(connection&& other) noexcept;
  connection& operator=(connection&& other) noexcept;
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  ~connection();

  // One or more statements without parameters (schema, pragmas, BEGIN/COMMIT).
  result<void> exec(const char* sql);
  result<statement> prepare(std::string_view sql);
  // A one-row, one-column query (e.g. "PRAGMA journal_mode=WAL").
  result<std::string> query_text(const char* sql);

  std::int64_t changes() const noexcept;
  bool in_transaction() const noexcept;
  std::string last_message() const;
  sqlite3* get() const noexcept { return db_; }

private:
  explicit connection(sqlite3* db) noexcept : db_(db) {}
  sqlite3* db_ = nullptr;
};

} // namespace aegis::storage_sqlite::detail
