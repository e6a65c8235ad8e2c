#pragma once

// The embedded SQLite store: implements the registry's repository port, and keeps sealed secrets.
//
// Durability. The database runs in WAL mode. With durability::process_crash (the default,
// synchronous=NORMAL) a transaction is committed once its WAL frames are written to the file:
// it survives the process being killed (kill -9, a crash, an OOM kill) because the data is in
// the kernel's page cache, and SQLite recovers the WAL on the next open; only a power cut or a
// kernel crash can lose the last transactions. durability::power_loss (synchronous=FULL)
// fsyncs the WAL on every commit and survives those too, at the cost of one fsync per write.
// Either way the database itself is never corrupted by a crash.
//
// Threads. Every call is synchronous and may block on disk: call it from the storage executor
// (executor.hpp), never from an I/O thread. Calls from several threads are serialised.
//
// Secrets at rest. Config and state payloads, operator token digests, the broker's stored
// messages and sessions (broker_state.hpp) and the secrets table are sealed (sealer.hpp); ids,
// metadata, labels, credentials (public keys and certificates), the audit log, revocations and
// times are stored in clear. The file and its -wal/-shm companions are created with mode 0600.
//
// Operators. The store is also the registry's operator_repository (operators.hpp), by plain
// multiple inheritance: pass the same sqlite_store where either port is wanted. Each operator
// call is its own transaction. The audit log is append-only in the database itself: triggers
// abort any UPDATE or DELETE of audit_log.

#include "aegis/base/bytes.hpp"
#include "aegis/base/error.hpp"
#include "aegis/crypto/aead.hpp"
#include "aegis/crypto/random.hpp"
#include "aegis/registry/operators.hpp"
#include "aegis/registry/repository.hpp"
#include "aegis/storage_sqlite/errors.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

namespace aegis::storage_sqlite {

namespace detail {
class connection;
}
class column_sealer;
class sqlite_broker_state;

// The store's file name inside the data directory.
inline constexpr std::string_view default_file_name = "aegis.db";

enum class durability {
  process_crash, // synchronous=NORMAL: acknowledged writes survive the process dying
  power_loss,    // synchronous=FULL: acknowledged writes also survive power loss
};

struct store_options {
  std::filesystem::path file; // e.g. data_dir / default_file_name; created if missing
  durability sync = durability::process_crash;
  // How long a write waits for another connection (another process) to release the lock
  // before failing with storage_busy.
  std::chrono::milliseconds busy_timeout{5000};
};

class sqlite_store final : public registry::registry_repository,
                           public registry::operator_repository {
public:
  // Opens (creating if needed) the database, sets WAL mode and the pragmas, and applies every
  // pending schema migration in one transaction. Errors are store_errc values.
  static result<std::unique_ptr<sqlite_store>> open(const store_options& options,
                                                    const crypto::master_key& master);

  ~sqlite_store() override;
  sqlite_store(const sqlite_store&) = delete;
  sqlite_store& operator=(const sqlite_store&) = delete;

  // registry::registry_repository
  result<void> write(const work& fn) override;
  result<void> read(const work& fn) override;

  // registry::operator_repository
  result<void> insert_token(const registry::operator_token& t) override;
  result<registry::operator_token> find_token(std::string_view id) override;
  result<std::vector<registry::operator_token>> list_tokens() override;
  result<void> revoke_token(std::string_view id, wall_time at) override;
  result<std::size_t> count_tokens() override;
  result<std::int64_t> append_audit(const registry::audit_record& r) override;
  result<std::vector<registry::audit_record>> list_audit(const registry::audit_query& q) override;
  result<void> insert_revocation(const registry::revoked_certificate& r) override;
  result<std::vector<registry::revoked_certificate>> list_revocations() override;
  result<bool> is_revoked(std::string_view serial_hex) override;

  // Sealed secrets by name (e.g. "ca/private_key", "psk/<device>", "token/<id>"). Names are
  // 1-255 bytes of any text; the value is sealed bound to its name.
  result<void> put_secret(std::string_view name, bytes_view value);
  result<crypto::secure_buffer> get_secret(std::string_view name); // secret_not_found
  result<void> delete_secret(std::string_view name);               // secret_not_found

  // The highest migration applied, and the highest this build knows.
  int schema_version();
  static int latest_schema_version() noexcept;
  const std::filesystem::path& file() const noexcept;

  struct impl;

private:
  friend class sqlite_broker_state;
  // For the other tables' classes of this module (broker_state.cpp): runs `fn` under the store's
  // lock inside one transaction (BEGIN IMMEDIATE when `write`), rolled back on any error.
  result<void>
  in_transaction(bool write,
                 const std::function<result<void>(detail::connection&, const column_sealer&)>& fn);

  explicit sqlite_store(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace aegis::storage_sqlite
