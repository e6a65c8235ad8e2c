#pragma once

// The operator side of the store: admin API bearer tokens (kept only as digests), the
// append-only audit log, and the revocation list of certificates Aegis' CA issued. A storage
// port like repository.hpp, with the same contract: synchronous, called from the storage
// executor, no rule enforced beyond identity, registry_errc failures only, nothing throws.
// sqlite_store and memory_operator_repository implement it; testing/ holds the shared
// behaviour suite.

#include "aegis/base/bytes.hpp"
#include "aegis/base/clock.hpp"
#include "aegis/base/error.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aegis::registry {

// Ordered: a scope includes every lower one.
enum class operator_scope { viewer = 1, provisioner = 2, admin = 3 };
std::string_view to_string(operator_scope s) noexcept; // "viewer", "provisioner", "admin"
std::optional<operator_scope> parse_operator_scope(std::string_view text) noexcept;

struct operator_token {
  std::string id{};          // public, unique: names the token in lists, audit and revoke
  std::string description{}; // free text from its creator
  operator_scope scope = operator_scope::viewer;
  bytes secret_digest{}; // SHA-256 of the secret part; the secret itself is never stored
  wall_time create_time{};
  std::optional<wall_time> expire_time{};
  std::optional<wall_time> revoke_time{}; // set once; a revoked token never comes back
  std::string created_by{};               // the token id of its creator, "bootstrap" for the first
  friend bool operator==(const operator_token&, const operator_token&) = default;
};

struct audit_record {
  std::int64_t sequence = 0; // assigned by the store on append: 1, 2, 3... strictly increasing
  wall_time at{};
  std::string actor{};   // token id, "device:<path>", "system"; "anonymous" when unauthenticated
  std::string action{};  // e.g. "device.create", "device.block", "token.revoke", "auth.failure"
  std::string target{};  // resource name, e.g. "projects/p/locations/l/registries/r/devices/d"
  std::string outcome{}; // "ok" or the error status name ("NOT_FOUND", "PERMISSION_DENIED")
  std::string detail{};  // short text; never a secret
  std::string source_address{};
  friend bool operator==(const audit_record&, const audit_record&) = default;
};

struct audit_query {
  std::int64_t after_sequence = 0; // records with a larger sequence, oldest first
  std::size_t limit = 100;         // 0: no limit
  std::string target_prefix{};     // empty: any; compared byte for byte, no wildcards
  std::string actor{};             // empty: any; otherwise exact
  std::string action{};            // empty: any; otherwise exact
};

struct revoked_certificate {
  std::string serial_hex{}; // lower-case hex, no separators, no leading zeros beyond "0"
  wall_time revoke_time{};
  std::string reason{};  // RFC 5280 reason name, e.g. "keyCompromise", "unspecified"
  std::string subject{}; // for operators: the device path or the certificate subject
  friend bool operator==(const revoked_certificate&, const revoked_certificate&) = default;
};

class operator_repository {
public:
  virtual ~operator_repository() = default;

  // operator_repository: tokens
  // token_exists; bad_enum_value when scope is not one of the named scopes (a stored scope
  // above admin would include admin).
  virtual result<void> insert_token(const operator_token& t) = 0;
  virtual result<operator_token> find_token(std::string_view id) = 0; // token_not_found
  virtual result<std::vector<operator_token>> list_tokens() = 0;      // ordered by id
  // Sets revoke_time if unset (revoking twice keeps the first time). token_not_found.
  virtual result<void> revoke_token(std::string_view id, wall_time at) = 0;
  virtual result<std::size_t> count_tokens() = 0;

  // operator_repository: audit (append-only: no update, no delete)
  // Returns the sequence it assigned; r.sequence is ignored.
  virtual result<std::int64_t> append_audit(const audit_record& r) = 0;
  // Records matching every non-empty filter of q, oldest first; q.limit counts matching records.
  virtual result<std::vector<audit_record>> list_audit(const audit_query& q) = 0;

  // operator_repository: revocations. Revoking a serial again succeeds and keeps the first.
  virtual result<void> insert_revocation(const revoked_certificate& r) = 0;
  // Ordered by revoke_time, then serial_hex.
  virtual result<std::vector<revoked_certificate>> list_revocations() = 0;
  virtual result<bool> is_revoked(std::string_view serial_hex) = 0;
};

// In memory, for tests and for the registry's behaviour suite. Thread-safe.
class memory_operator_repository final : public operator_repository {
public:
  // operator_repository
  result<void> insert_token(const operator_token& t) override;
  result<operator_token> find_token(std::string_view id) override;
  result<std::vector<operator_token>> list_tokens() override;
  result<void> revoke_token(std::string_view id, wall_time at) override;
  result<std::size_t> count_tokens() override;
  result<std::int64_t> append_audit(const audit_record& r) override;
  result<std::vector<audit_record>> list_audit(const audit_query& q) override;
  result<void> insert_revocation(const revoked_certificate& r) override;
  result<std::vector<revoked_certificate>> list_revocations() override;
  result<bool> is_revoked(std::string_view serial_hex) override;

private:
  std::mutex mutex_;
  std::vector<operator_token> tokens_;
  std::vector<audit_record> audit_;
  std::vector<revoked_certificate> revocations_;
};

} // namespace aegis::registry
