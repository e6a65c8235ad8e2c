#pragma once

// The broker's port for authorization (DESIGN.md §3: server/auth implements it later). Decisions
// are per topic or filter; the broker turns a denial into the protocol's answer: PUBACK/PUBREC or
// SUBACK with `reason` (0x87 by default) in v5, SUBACK 0x80 in 3.1.1, and for a 3.1.1 PUBLISH,
// which has no way to say no, a closed connection.

#include "aegis/base/clock.hpp"
#include "aegis/mqtt/protocol.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace aegis::broker {

// Who a connection is, as the authenticator established it from the verified credential.
struct client_identity {
  client_identity() = default;
  explicit client_identity(std::string p, std::optional<steady_time> expires = std::nullopt)
      : principal(std::move(p)), credential_expires_at(expires) {}

  std::string principal;
  // When the credential that opened the connection stops being valid (DESIGN.md §4), on the
  // runtime's steady clock; on_tick closes the connection then. nullopt: no expiry.
  std::optional<steady_time> credential_expires_at;
};

struct authz_decision {
  bool allowed = true;
  mqtt::reason_code reason = mqtt::reason_code::not_authorized; // v5 code sent on denial

  static authz_decision allow() noexcept { return {}; }
  static authz_decision deny(mqtt::reason_code r = mqtt::reason_code::not_authorized) noexcept {
    return {false, r};
  }
};

class authorizer {
public:
  virtual ~authorizer() = default;
  // Called once per PUBLISH received (and per will published) before anything is stored.
  virtual authz_decision can_publish(const client_identity& who, std::string_view topic) const = 0;
  // Called once per filter in a SUBSCRIBE; `filter` is as sent, "$share/..." included.
  virtual authz_decision can_subscribe(const client_identity& who,
                                       std::string_view filter) const = 0;
};

// For tests and for deployments that authorize elsewhere.
class allow_all_authorizer final : public authorizer {
public:
  // authorizer
  authz_decision can_publish(const client_identity&, std::string_view) const override {
    return authz_decision::allow();
  }
  authz_decision can_subscribe(const client_identity&, std::string_view) const override {
    return authz_decision::allow();
  }
};

} // namespace aegis::broker
