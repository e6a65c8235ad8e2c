#pragma once

// Who may publish to which topic and subscribe to which filter, once authenticated.
//
// device_profile_authorizer is IoT Core's device view (reference §1.6, §1.11):
//   publish    /devices/{own}/events, /devices/{own}/events/{subfolder...}, /devices/{own}/state
//   subscribe  /devices/{own}/config, /devices/{own}/commands, /devices/{own}/commands/#, and
//              subfilters of commands/# such as /devices/{own}/commands/a/+
//   gateways   also publish /devices/{bound}/attach|detach, subscribe /devices/{own}/errors, and
//              use the device topics above of every device the lookup says is bound/attached.
// A filter with a wildcard in the first three levels ("#", "/devices/+/config", "/+/...") could
// reach another device's topics and is refused (wildcard_escape). Subfolders may not hold ".",
// ".." or empty levels: MQTT does not interpret them, but paths derived from topics elsewhere
// (HTTP bridge, stores) might.
//
// topic_acl_authorizer serves application accounts: rules with MQTT wildcards, "%c" (client id)
// and "%u" (user name) substituted first. A rule whose substituted value holds '/', '+', '#' or
// NUL, or is empty, is skipped: such a value would let a client choose its own namespace.
// A publish topic is allowed when a rule's pattern matches it; a subscription when a rule's
// pattern covers every topic the filter can match. As in MQTT, wildcards at the first level do
// not match topics starting with '$'.

#include "aegis/auth/authenticator.hpp"
#include "aegis/auth/errors.hpp"

#include <functional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace aegis::auth {

struct authz_decision {
  bool allowed = false;
  std::error_code reason{}; // an authz_errc when refused

  static authz_decision allow() { return {true, {}}; }
  static authz_decision deny(authz_errc e) { return {false, make_error_code(e)}; }
};

class authorizer {
public:
  virtual ~authorizer() = default;
  virtual authz_decision can_publish(const identity& who, std::string_view topic) const = 0;
  virtual authz_decision can_subscribe(const identity& who, std::string_view filter) const = 0;
};

// MQTT's own syntax rules (v5 §4.7), shared by both authorizers: non-empty, at most 65535
// bytes, no NUL; topic names without wildcards; in filters '+' and '#' fill a whole level and
// '#' only the last one.
bool valid_topic_name(std::string_view topic) noexcept;
bool valid_topic_filter(std::string_view filter) noexcept;
// Whether `filter` matches `topic` (both valid).
bool filter_matches(std::string_view filter, std::string_view topic) noexcept;
// Whether every topic `inner` can match is matched by `outer` (both valid filters).
bool filter_covers(std::string_view outer, std::string_view inner) noexcept;

// Whether the gateway `gateway` may act for `device_id` (same registry): bound to it, and for a
// live session typically also attached. Called on every publish/subscribe of a gateway for
// another device, so it should answer from memory.
using bound_device_lookup =
    std::function<bool(const identity& gateway, std::string_view device_id)>;

class device_profile_authorizer final : public authorizer {
public:
  explicit device_profile_authorizer(bound_device_lookup bound = {});

  // authorizer
  authz_decision can_publish(const identity& who, std::string_view topic) const override;
  authz_decision can_subscribe(const identity& who, std::string_view filter) const override;

private:
  // Empty when `device_id` is the identity's own device or bound to it (gateways only).
  std::error_code may_act_for(const identity& who, std::string_view device_id) const;

  bound_device_lookup bound_;
};

enum class acl_access { publish, subscribe, both };

struct acl_rule {
  std::string username{}; // empty: every application account
  acl_access access = acl_access::both;
  std::string pattern{}; // a topic filter, with %c / %u
};

class topic_acl_authorizer final : public authorizer {
public:
  // Rules whose pattern is not a valid filter once "%c"/"%u" are replaced by a plain level are
  // refused at start-up (std::invalid_argument).
  explicit topic_acl_authorizer(std::vector<acl_rule> rules);

  // authorizer
  authz_decision can_publish(const identity& who, std::string_view topic) const override;
  authz_decision can_subscribe(const identity& who, std::string_view filter) const override;

private:
  authz_decision decide(const identity& who, std::string_view target, bool publish) const;

  std::vector<acl_rule> rules_;
};

} // namespace aegis::auth
