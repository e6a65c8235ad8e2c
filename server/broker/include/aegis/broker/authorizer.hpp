#pragma once

// Authorization as the broker sees it. The port is server/auth's `auth::authorizer` (one
// interface for the whole server, DESIGN.md §3); the broker turns a denial into the protocol's
// answer: PUBACK/PUBREC or SUBACK with the refusal's v5 code (auth::reason_code_v5 of its
// authz_errc, 0x87 for anything else) in v5, SUBACK 0x80 in 3.1.1, and for a 3.1.1 PUBLISH,
// which has no way to say no, a closed connection.

#include "aegis/auth/authenticator.hpp"
#include "aegis/auth/authorizer.hpp"
#include "aegis/base/clock.hpp"
#include "aegis/mqtt/protocol.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace aegis::broker {

using authorizer = auth::authorizer;
using authz_decision = auth::authz_decision;

// The v5 reason code a refusal is told with.
mqtt::reason_code to_reason_code(const authz_decision& d) noexcept;

// Who a connection is, as the authenticator established it from the verified credential.
struct client_identity {
  client_identity() = default;
  // An application account named `account` (tests and callers without a full identity).
  explicit client_identity(std::string account, std::optional<steady_time> expires = std::nullopt)
      : credential_expires_at(expires) {
    who.kind = auth::identity_kind::application;
    who.method = auth::auth_method::password;
    who.client_id = account;
    who.account = std::move(account);
  }
  client_identity(auth::identity id, std::optional<steady_time> expires)
      : who(std::move(id)), credential_expires_at(expires) {}

  auth::identity who;
  // When the credential that opened the connection stops being valid (DESIGN.md §4), on the
  // runtime's steady clock; on_tick closes the connection then (DISCONNECT 0xA0 in v5).
  // nullopt: no expiry.
  std::optional<steady_time> credential_expires_at;
};

// For tests and for deployments that authorize elsewhere.
class allow_all_authorizer final : public authorizer {
public:
  // auth::authorizer
  authz_decision can_publish(const auth::identity&, std::string_view) const override {
    return authz_decision::allow();
  }
  authz_decision can_subscribe(const auth::identity&, std::string_view) const override {
    return authz_decision::allow();
  }
};

} // namespace aegis::broker
