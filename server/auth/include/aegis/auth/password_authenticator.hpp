#pragma once

// Application accounts (operators' services, dashboards): user name + password.
//
// Abstains when the user name is absent or names no account, so device clients that send
// "unused" as user name fall through to the device authenticators; abstains as well when the
// client id is a device path ("projects/..."), so an account can never take a device's session.
// Refuses a disabled account, a missing or wrong password, and any attempt from a source address
// that has used up its failures (failure_limiter). Passwords are compared through verify_password
// (constant time).

#include "aegis/auth/authenticator.hpp"
#include "aegis/auth/failure_limiter.hpp"
#include "aegis/base/error.hpp"

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace aegis::auth {

struct account {
  std::string username{};
  std::string password_hash{}; // password_hash.hpp's encoding
  bool disabled = false;
};

// The storage port for accounts (SQLite later). Synchronous, like the registry's.
class account_store {
public:
  virtual ~account_store() = default;
  // nullopt when there is no such account; an error when the store failed.
  virtual result<std::optional<account>> find(std::string_view username) = 0;
};

class memory_account_store final : public account_store {
public:
  void put(account a);
  void remove(std::string_view username);

  // account_store
  result<std::optional<account>> find(std::string_view username) override;

private:
  std::mutex mutex_;
  std::map<std::string, account, std::less<>> accounts_;
};

class password_authenticator final : public authenticator {
public:
  password_authenticator(account_store& accounts, failure_limiter& limiter);

  // authenticator
  std::string_view name() const noexcept override { return "password"; }
  auth_decision authenticate(const connect_request& req) override;

private:
  account_store& accounts_;
  failure_limiter& limiter_;
};

} // namespace aegis::auth
