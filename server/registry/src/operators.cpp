#include "aegis/registry/operators.hpp"

#include "aegis/registry/errors.hpp"

#include <algorithm>
#include <tuple>
#include <utility>

namespace aegis::registry {

std::string_view to_string(operator_scope s) noexcept {
  switch (s) {
  case operator_scope::viewer:
    return "viewer";
  case operator_scope::provisioner:
    return "provisioner";
  case operator_scope::admin:
    return "admin";
  }
  return "unknown";
}

std::optional<operator_scope> parse_operator_scope(std::string_view text) noexcept {
  for (const auto s :
       {operator_scope::viewer, operator_scope::provisioner, operator_scope::admin}) {
    if (text == to_string(s)) {
      return s;
    }
  }
  return std::nullopt;
}

// --- memory_operator_repository ---

result<void> memory_operator_repository::insert_token(const operator_token& t) {
  if (t.scope < operator_scope::viewer || t.scope > operator_scope::admin) {
    return registry_errc::bad_enum_value;
  }
  const std::lock_guard lock(mutex_);
  const auto it =
      std::lower_bound(tokens_.begin(), tokens_.end(), t.id,
                       [](const operator_token& a, const std::string& id) { return a.id < id; });
  if (it != tokens_.end() && it->id == t.id) {
    return registry_errc::token_exists;
  }
  tokens_.insert(it, t); // kept ordered by id
  return ok();
}

result<operator_token> memory_operator_repository::find_token(std::string_view id) {
  const std::lock_guard lock(mutex_);
  const auto it = std::find_if(tokens_.begin(), tokens_.end(),
                               [id](const operator_token& t) { return t.id == id; });
  if (it == tokens_.end()) {
    return registry_errc::token_not_found;
  }
  return *it;
}

result<std::vector<operator_token>> memory_operator_repository::list_tokens() {
  const std::lock_guard lock(mutex_);
  return tokens_;
}

result<void> memory_operator_repository::revoke_token(std::string_view id, wall_time at) {
  const std::lock_guard lock(mutex_);
  const auto it = std::find_if(tokens_.begin(), tokens_.end(),
                               [id](const operator_token& t) { return t.id == id; });
  if (it == tokens_.end()) {
    return registry_errc::token_not_found;
  }
  if (!it->revoke_time) {
    it->revoke_time = at;
  }
  return ok();
}

result<std::size_t> memory_operator_repository::count_tokens() {
  const std::lock_guard lock(mutex_);
  return tokens_.size();
}

result<std::int64_t> memory_operator_repository::append_audit(const audit_record& r) {
  const std::lock_guard lock(mutex_);
  audit_record stored = r;
  // Nothing is ever removed, so the next sequence is the count plus one.
  stored.sequence = static_cast<std::int64_t>(audit_.size()) + 1;
  audit_.push_back(std::move(stored));
  return audit_.back().sequence;
}

result<std::vector<audit_record>> memory_operator_repository::list_audit(const audit_query& q) {
  const std::lock_guard lock(mutex_);
  std::vector<audit_record> out;
  for (const auto& r : audit_) { // oldest first
    if (q.limit != 0 && out.size() >= q.limit) {
      break;
    }
    if (r.sequence <= q.after_sequence) {
      continue;
    }
    if (!q.target_prefix.empty() && !r.target.starts_with(q.target_prefix)) {
      continue;
    }
    if (!q.actor.empty() && r.actor != q.actor) {
      continue;
    }
    if (!q.action.empty() && r.action != q.action) {
      continue;
    }
    out.push_back(r);
  }
  return out;
}

result<void> memory_operator_repository::insert_revocation(const revoked_certificate& r) {
  const std::lock_guard lock(mutex_);
  const auto it =
      std::find_if(revocations_.begin(), revocations_.end(),
                   [&r](const revoked_certificate& c) { return c.serial_hex == r.serial_hex; });
  if (it == revocations_.end()) {
    revocations_.push_back(r); // revoking again keeps the first record
  }
  return ok();
}

result<std::vector<revoked_certificate>> memory_operator_repository::list_revocations() {
  const std::lock_guard lock(mutex_);
  auto out = revocations_;
  std::sort(out.begin(), out.end(), [](const revoked_certificate& a, const revoked_certificate& b) {
    return std::tie(a.revoke_time, a.serial_hex) < std::tie(b.revoke_time, b.serial_hex);
  });
  return out;
}

result<bool> memory_operator_repository::is_revoked(std::string_view serial_hex) {
  const std::lock_guard lock(mutex_);
  return std::any_of(
      revocations_.begin(), revocations_.end(),
      [serial_hex](const revoked_certificate& c) { return c.serial_hex == serial_hex; });
}

} // namespace aegis::registry
