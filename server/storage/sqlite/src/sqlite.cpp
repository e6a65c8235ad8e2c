#include "sqlite.hpp"

#include "aegis/base/log.hpp"

#include <sqlite3.h>

#include <chrono>
#include <limits>
#include <utility>

namespace aegis::storage_sqlite::detail {
namespace {

class sqlite_error_category final : public std::error_category {
public:
  const char* name() const noexcept override { return "sqlite"; }
  std::string message(int rc) const override { return sqlite3_errstr(rc); }
};

constexpr std::string_view component = "storage.sqlite";

// Logs a failure with SQLite's own message (which names tables and constraints, never bound
// values). Constraint failures are expected outcomes (a duplicate id) and stay at debug.
void log_failure(sqlite3* db, int rc, std::string_view what) {
  const char* msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  if ((rc & 0xff) == SQLITE_CONSTRAINT) {
    log::debug(component, "{}: {} ({})", what, msg, rc);
  } else {
    log::error(component, "{}: {} ({})", what, msg, rc);
  }
}

} // namespace

const std::error_category& sqlite_category() noexcept {
  static const sqlite_error_category category;
  return category;
}

bool is_constraint(std::error_code ec) noexcept {
  return ec.category() == sqlite_category() && (ec.value() & 0xff) == SQLITE_CONSTRAINT;
}

bool is_busy(std::error_code ec) noexcept {
  return ec.category() == sqlite_category() &&
         ((ec.value() & 0xff) == SQLITE_BUSY || (ec.value() & 0xff) == SQLITE_LOCKED);
}

bool is_corrupt(std::error_code ec) noexcept {
  return ec.category() == sqlite_category() &&
         ((ec.value() & 0xff) == SQLITE_CORRUPT || (ec.value() & 0xff) == SQLITE_NOTADB);
}

std::int64_t to_column(wall_time t) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

wall_time from_column(std::int64_t ns) noexcept {
  return wall_time{std::chrono::duration_cast<wall_time::duration>(std::chrono::nanoseconds{ns})};
}

// --- statement ---

statement::statement(statement&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), stmt_(std::exchange(other.stmt_, nullptr)),
      bind_rc_(std::exchange(other.bind_rc_, 0)) {}

statement& statement::operator=(statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    db_ = std::exchange(other.db_, nullptr);
    stmt_ = std::exchange(other.stmt_, nullptr);
    bind_rc_ = std::exchange(other.bind_rc_, 0);
  }
  return *this;
}

statement::~statement() {
  sqlite3_finalize(stmt_);
}

void statement::note(int rc) noexcept {
  if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) {
    bind_rc_ = rc;
  }
}

statement& statement::bind(int index, std::int64_t value) {
  note(sqlite3_bind_int64(stmt_, index, value));
  return *this;
}

statement& statement::bind(int index, std::string_view text) {
  if (text.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    note(SQLITE_TOOBIG);
    return *this;
  }
  // SQLITE_TRANSIENT: SQLite copies the bytes, so the caller's buffer may go away.
  note(sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()),
                         SQLITE_TRANSIENT));
  return *this;
}

statement& statement::bind_blob(int index, bytes_view blob) {
  if (blob.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    note(SQLITE_TOOBIG);
    return *this;
  }
  // A zero-length blob must still be a BLOB, not NULL: pass a non-null pointer.
  static const std::uint8_t empty = 0;
  note(sqlite3_bind_blob(stmt_, index, blob.empty() ? &empty : blob.data(),
                         static_cast<int>(blob.size()), SQLITE_TRANSIENT));
  return *this;
}

statement& statement::bind(int index, std::optional<wall_time> t) {
  if (t) {
    return bind(index, to_column(*t));
  }
  return bind_null(index);
}

statement& statement::bind_null(int index) {
  note(sqlite3_bind_null(stmt_, index));
  return *this;
}

result<bool> statement::step() {
  if (bind_rc_ != SQLITE_OK) {
    log_failure(db_, bind_rc_, "bind");
    return sqlite_error(bind_rc_);
  }
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) {
    return true;
  }
  if (rc == SQLITE_DONE) {
    return false;
  }
  log_failure(db_, rc, sqlite3_sql(stmt_) != nullptr ? sqlite3_sql(stmt_) : "step");
  return sqlite_error(rc);
}

void statement::reset() noexcept {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_rc_ = 0;
}

result<void> statement::run() {
  while (true) {
    auto r = step();
    if (!r) {
      return r.error();
    }
    if (!*r) {
      return ok();
    }
  }
}

std::int64_t statement::int64(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

std::string statement::text(int column) const {
  const auto* p = sqlite3_column_text(stmt_, column);
  const int n = sqlite3_column_bytes(stmt_, column);
  if (p == nullptr || n <= 0) {
    return {};
  }
  return {reinterpret_cast<const char*>(p), static_cast<std::size_t>(n)};
}

bytes statement::blob(int column) const {
  const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, column));
  const int n = sqlite3_column_bytes(stmt_, column);
  if (p == nullptr || n <= 0) {
    return {};
  }
  return {p, p + n};
}

bool statement::is_null(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

std::optional<wall_time> statement::time(int column) const {
  if (is_null(column)) {
    return std::nullopt;
  }
  return from_column(int64(column));
}

// --- connection ---

result<connection> connection::open(const std::filesystem::path& file, int flags) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(file.c_str(), &db, flags, nullptr);
  connection c(db); // closes db on every path, even when open failed half-way
  if (rc != SQLITE_OK) {
    log_failure(db, rc, "open");
    return sqlite_error(rc);
  }
  sqlite3_extended_result_codes(db, 1);
  return c;
}

connection::connection(connection&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}

connection& connection::operator=(connection&& other) noexcept {
  if (this != &other) {
    sqlite3_close_v2(db_);
    db_ = std::exchange(other.db_, nullptr);
  }
  return *this;
}

connection::~connection() {
  sqlite3_close_v2(db_);
}

result<void> connection::exec(const char* sql) {
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    log_failure(db_, rc, "exec");
    return sqlite_error(rc);
  }
  return ok();
}

result<statement> connection::prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    log_failure(db_, rc, "prepare");
    return sqlite_error(rc);
  }
  return statement(db_, stmt);
}

result<std::string> connection::query_text(const char* sql) {
  auto stmt = prepare(sql);
  if (!stmt) {
    return stmt.error();
  }
  auto row = stmt->step();
  if (!row) {
    return row.error();
  }
  if (!*row) {
    return std::string{};
  }
  return stmt->text(0);
}

std::int64_t connection::changes() const noexcept {
  return sqlite3_changes(db_);
}

bool connection::in_transaction() const noexcept {
  return sqlite3_get_autocommit(db_) == 0;
}

std::string connection::last_message() const {
  return db_ != nullptr ? sqlite3_errmsg(db_) : "";
}

} // namespace aegis::storage_sqlite::detail
