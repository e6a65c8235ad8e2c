#include "aegis/auth/authenticator.hpp"

#include "aegis/auth/failure_limiter.hpp"
#include "aegis/base/log.hpp"
#include "aegis/registry/ids.hpp"

#include <utility>

namespace aegis::auth {

std::string_view to_string(transport t) noexcept {
  switch (t) {
  case transport::mqtt:
    return "mqtt";
  case transport::mqtt_websocket:
    return "mqtt-websocket";
  case transport::http:
    return "http";
  case transport::coap:
    return "coap";
  }
  return "unknown";
}

std::string_view to_string(identity_kind k) noexcept {
  switch (k) {
  case identity_kind::device:
    return "device";
  case identity_kind::gateway:
    return "gateway";
  case identity_kind::application:
    return "application";
  }
  return "unknown";
}

std::string_view to_string(auth_method m) noexcept {
  switch (m) {
  case auth_method::jwt:
    return "jwt";
  case auth_method::x509:
    return "x509";
  case auth_method::password:
    return "password";
  case auth_method::gateway_association:
    return "gateway-association";
  }
  return "unknown";
}

std::string_view to_string(verdict v) noexcept {
  switch (v) {
  case verdict::abstain:
    return "abstain";
  case verdict::allow:
    return "allow";
  case verdict::deny:
    return "deny";
  }
  return "unknown";
}

void memory_audit_sink::record(const audit_event& event) {
  std::lock_guard lock(mutex_);
  events_.push_back(event);
}

std::vector<audit_event> memory_audit_sink::events() const {
  std::lock_guard lock(mutex_);
  return events_;
}

namespace {

// Client ids and user names are attacker-chosen: keep log lines bounded and printable.
std::string printable(std::string_view s) {
  constexpr std::size_t max_len = 300;
  std::string out;
  for (char c : s.substr(0, max_len)) {
    auto u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u < 0x7F) ? c : '?';
  }
  if (s.size() > max_len) {
    out += "...";
  }
  return out;
}

} // namespace

void log_audit_sink::record(const audit_event& event) {
  std::string who;
  if (event.who) {
    who = event.who->kind == identity_kind::application ? event.who->account
                                                        : registry::to_name(event.who->device);
  }
  log::write(event.outcome == verdict::allow ? log::level::info : log::level::warn, "audit",
             "authentication",
             {{"outcome", std::string(to_string(event.outcome))},
              {"authenticator", event.authenticator},
              {"client_id", printable(event.client_id)},
              {"username", event.username ? printable(*event.username) : std::string()},
              {"source", printable(event.source_address)},
              {"transport", std::string(to_string(event.via))},
              {"reason", event.reason ? event.reason.message() : std::string()},
              {"detail", event.detail ? std::string(event.detail.category().name()) + ": " +
                                            event.detail.message()
                                      : std::string()},
              {"identity", who}});
}

authenticator_chain::authenticator_chain(audit_sink& audit, const clock& clk,
                                         failure_limiter* limiter)
    : audit_(audit), clock_(clk), limiter_(limiter) {}

void authenticator_chain::add(std::unique_ptr<authenticator> a) {
  chain_.push_back(std::move(a));
}

auth_decision authenticator_chain::decide(const connect_request& req, std::string& decided_by) {
  if (limiter_ && !limiter_->may_attempt(req.source_address)) {
    decided_by = "limiter";
    return auth_decision::deny(auth_errc::rate_limited);
  }
  auth_decision decision = auth_decision::deny(auth_errc::no_authenticator);
  for (auto& a : chain_) {
    auth_decision d = a->authenticate(req);
    if (d.outcome == verdict::abstain) {
      continue;
    }
    // An authenticator that allows without an identity is a bug; refuse rather than admit an
    // anonymous session.
    if (d.outcome == verdict::allow && !d.who) {
      AEGIS_ASSERT(false);
      d = auth_decision::deny(auth_errc::server_unavailable);
    }
    decision = std::move(d);
    decided_by = std::string(a->name());
    break;
  }
  if (limiter_ && decision.outcome == verdict::deny &&
      decision.reason != auth_errc::server_unavailable &&
      decision.reason != auth_errc::rate_limited) {
    limiter_->record_failure(req.source_address);
  }
  return decision;
}

auth_decision authenticator_chain::authenticate(const connect_request& req) {
  std::string decided_by;
  auth_decision decision = decide(req, decided_by);
  audit_event event;
  event.at = clock_.wall_now();
  event.authenticator = std::move(decided_by);
  event.client_id = req.client_id;
  event.username = req.username;
  event.source_address = req.source_address;
  event.via = req.via;
  event.outcome = decision.outcome;
  event.reason = decision.reason;
  event.detail = decision.detail;
  event.who = decision.who;
  audit_.record(event);
  return decision;
}

} // namespace aegis::auth
