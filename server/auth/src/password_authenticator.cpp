#include "aegis/auth/password_authenticator.hpp"

#include "aegis/auth/password_hash.hpp"
#include "device_lookup.hpp"

#include <utility>

namespace aegis::auth {

void memory_account_store::put(account a) {
  std::lock_guard lock(mutex_);
  std::string key = a.username;
  accounts_.insert_or_assign(std::move(key), std::move(a));
}

void memory_account_store::remove(std::string_view username) {
  std::lock_guard lock(mutex_);
  if (auto it = accounts_.find(username); it != accounts_.end()) {
    accounts_.erase(it);
  }
}

result<std::optional<account>> memory_account_store::find(std::string_view username) {
  std::lock_guard lock(mutex_);
  auto it = accounts_.find(username);
  if (it == accounts_.end()) {
    return std::optional<account>{};
  }
  return std::optional<account>{it->second};
}

password_authenticator::password_authenticator(account_store& accounts, failure_limiter& limiter)
    : accounts_(accounts), limiter_(limiter) {}

auth_decision password_authenticator::authenticate(const connect_request& req) {
  // Device paths belong to the device authenticators: an account must never open a session
  // under a device's client id (the broker would hand it the device's session).
  if (!req.username || req.username->empty() || detail::looks_like_device_path(req.client_id)) {
    return auth_decision::abstain();
  }
  auto found = accounts_.find(*req.username);
  if (!found) {
    return auth_decision::deny(auth_errc::server_unavailable, found.error());
  }
  if (!found->has_value()) {
    return auth_decision::abstain();
  }
  const account& acct = **found;

  if (!limiter_.may_attempt(req.source_address)) {
    return auth_decision::deny(auth_errc::rate_limited);
  }
  if (!req.password || req.password->empty()) {
    limiter_.record_failure(req.source_address);
    return auth_decision::deny(auth_errc::password_missing);
  }
  auto match = verify_password(*req.password, acct.password_hash);
  if (!match) {
    // A stored hash we cannot use is our fault, not the client's: no failure is counted.
    return auth_decision::deny(auth_errc::server_unavailable, match.error());
  }
  if (!*match) {
    limiter_.record_failure(req.source_address);
    return auth_decision::deny(auth_errc::password_mismatch);
  }
  // Checked after the password so that only the holder learns the account is disabled.
  if (acct.disabled) {
    return auth_decision::deny(auth_errc::account_disabled);
  }

  identity id;
  id.kind = identity_kind::application;
  id.method = auth_method::password;
  id.client_id = req.client_id;
  id.account = acct.username;
  return auth_decision::allow(std::move(id));
}

} // namespace aegis::auth
