#pragma once

// A gateway's attach request for one of its devices (reference §1.11): PUBLISH to
// /devices/{device}/attach with {"authorization": "<device JWT>"}. What is required depends on
// the gateway's auth method, read fresh from the registry on every attach:
//   association_only                    the device is bound to the gateway; any token ignored
//   device_auth_token_only              the device's own JWT verifies; binding not checked
//   association_and_device_auth_token   both
//   unspecified                         nothing may attach (gateway_auth_disabled)
// Always: the requester is a gateway identity whose device is still a gateway and not blocked;
// the device exists in the gateway's registry, is not itself a gateway and is not blocked.
//
// On allow the identity names the attached device. Its expiry is the device token's (as
// jwt_authenticator sets it) for token methods, and the gateway session's for association only:
// an attachment never outlives what admitted it. The broker calls this on the storage executor
// and keeps the attached set per gateway session for device_profile_authorizer's lookup.

#include "aegis/auth/authenticator.hpp"
#include "aegis/auth/jwt_authenticator.hpp"
#include "aegis/base/clock.hpp"
#include "aegis/registry/service.hpp"

#include <string_view>

namespace aegis::auth {

class gateway_attach_checker {
public:
  gateway_attach_checker(registry::registry_service& registry, const clock& clk,
                         jwt_authenticator_options options = {});

  // `token` is the attach payload's "authorization" value, empty when there is none.
  auth_decision check(const identity& gateway, std::string_view device_id, std::string_view token);

private:
  registry::registry_service& registry_;
  jwt_authenticator tokens_;
};

} // namespace aegis::auth
