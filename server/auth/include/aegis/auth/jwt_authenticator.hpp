#pragma once

// IoT Core's device authentication (reference §1.3-§1.4): client id
// "projects/{p}/locations/{l}/registries/{r}/devices/{d}", password = a JWT signed by one of the
// device's credentials, "aud" = the project.
//
// Abstains unless the client id starts with "projects/"; a client id that starts so but does
// not parse is refused (client_id_malformed). Checks, in order: the client id; the registry and
// device exist; a password is present; the JWT verifies against the device's unexpired
// credentials (public keys and the public keys of X.509 credentials whose certificate is still
// valid) whose key type matches the token's alg, with aud = project, 10 min skew and a lifetime
// of at most 24 h; then that the device is not blocked and its registry accepts the transport.
// Blocked/disabled are checked only after the token verifies, so only a key holder can learn
// them. The username is ignored (IoT Core clients send anything).
//
// On success credential_expires_at = the token's exp and expiry_grace = the skew: IoT Core
// closed the session at exp + 10 min (reference §1.4). When the credential that verified the
// token expires before that (its expiration_time, or its certificate's notAfter),
// credential_expires_at = that expiry and expiry_grace = 0.

#include "aegis/auth/authenticator.hpp"
#include "aegis/base/clock.hpp"
#include "aegis/registry/service.hpp"

#include <chrono>
#include <cstddef>
#include <memory>
#include <string_view>

namespace aegis::auth {

namespace detail {
class parsed_key_cache;
} // namespace detail

struct jwt_authenticator_options {
  std::chrono::seconds skew{600};
  std::chrono::seconds max_lifetime{24 * 3600};
  // Parsed credential keys kept (least recently used out); 0 parses every time.
  std::size_t parsed_key_cache_size = 16384;
};

class jwt_authenticator final : public authenticator {
public:
  jwt_authenticator(registry::registry_service& registry, const clock& clk,
                    jwt_authenticator_options options = {});
  ~jwt_authenticator() override;
  jwt_authenticator(const jwt_authenticator&) = delete;
  jwt_authenticator& operator=(const jwt_authenticator&) = delete;

  // authenticator
  std::string_view name() const noexcept override { return "jwt"; }
  auth_decision authenticate(const connect_request& req) override;

  // The token checks alone, for a device already looked up (the gateway attach check uses it):
  // no blocked/transport checks. On allow the identity names `d` (client id = its path).
  auth_decision verify_token(const registry::device& d, std::string_view token) const;

private:
  registry::registry_service& registry_;
  const clock& clock_;
  jwt_authenticator_options options_;
  std::unique_ptr<detail::parsed_key_cache> keys_;
};

} // namespace aegis::auth
