#pragma once

// The authenticator chain (STYLE.md habit 3): small deciders that each recognise one kind of
// credential and abstain on anything else. The first decisive answer wins; when every one
// abstains the client is refused. Every final decision goes to the audit sink with its precise
// reason; the client only ever sees the CONNACK code of that reason (errors.hpp).
//
// Everything here is synchronous and protocol-neutral: the MQTT listener, the HTTP bridge and
// the CoAP gateway fill a connect_request from their own wire format. Authenticators that call
// the registry block on storage, so the chain runs on the storage executor, not an I/O thread.

#include "aegis/auth/errors.hpp"
#include "aegis/base/bytes.hpp"
#include "aegis/base/clock.hpp"
#include "aegis/registry/ids.hpp"

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace aegis::auth {

enum class transport { mqtt, mqtt_websocket, http, coap };
std::string_view to_string(transport t) noexcept;

struct connect_request {
  std::string client_id{};
  std::optional<std::string> username{};  // absent when the CONNECT carries no user name
  std::optional<bytes> password{};        // a secret: never logged, never audited
  std::vector<bytes> peer_certificates{}; // DER, leaf first; empty without a client certificate
  std::string source_address{};           // "ip:port" or "[ip6]:port"
  transport via = transport::mqtt;
};

enum class identity_kind { device, gateway, application };
std::string_view to_string(identity_kind k) noexcept;

enum class auth_method { jwt, x509, password, gateway_association };
std::string_view to_string(auth_method m) noexcept;

// Who a connection is, as established by a verified credential.
struct identity {
  identity_kind kind = identity_kind::device;
  auth_method method = auth_method::jwt;
  std::string client_id{};
  // device and gateway: the device; application: empty.
  registry::device_key device{};
  // device and gateway: the device's server-assigned numeric id (0 when unknown).
  registry::device_num_id device_num_id{};
  // application: the account name; device and gateway: empty.
  std::string account{};
  // jwt: index into the device's credentials of the key that verified the token.
  std::optional<std::size_t> credential_index{};
  // jwt: the PEM of that credential, so that a later check can tell whether it was removed
  // (indices shift when credentials are removed). Public material, not a secret.
  std::string credential_pem{};
  // x509: the verified leaf certificate's serial (hex, as crypto::certificate::serial_hex()),
  // so that revoking the certificate can close the sessions it opened.
  std::string certificate_serial{};
  // When the credential that opened the session stops being valid: the JWT's exp, the client
  // certificate's notAfter; none for accounts. The session must be closed at
  // credential_expires_at + expiry_grace (the JWT skew, as IoT Core did: reference §1.4).
  std::optional<wall_time> credential_expires_at{};
  std::chrono::seconds expiry_grace{0};

  std::optional<wall_time> close_deadline() const {
    if (!credential_expires_at) {
      return std::nullopt;
    }
    return *credential_expires_at + expiry_grace;
  }
};

enum class verdict { abstain, allow, deny };
std::string_view to_string(verdict v) noexcept;

struct auth_decision {
  verdict outcome = verdict::abstain;
  std::optional<identity> who{}; // set exactly when outcome == allow
  std::error_code reason{};      // an auth_errc when outcome == deny
  std::error_code detail{};      // the underlying error (jwt_errc, x509_errc, registry_errc)

  static auth_decision abstain() { return {}; }
  static auth_decision allow(identity id) { return {verdict::allow, std::move(id), {}, {}}; }
  static auth_decision deny(auth_errc reason, std::error_code detail = {}) {
    return {verdict::deny, std::nullopt, make_error_code(reason), detail};
  }
  bool allowed() const noexcept { return outcome == verdict::allow; }
};

class authenticator {
public:
  virtual ~authenticator() = default;
  // A short name for the audit log ("jwt", "x509", "password").
  virtual std::string_view name() const noexcept = 0;
  // Must not throw on untrusted input.
  virtual auth_decision authenticate(const connect_request& req) = 0;
};

// One audited decision. Carries no password.
struct audit_event {
  wall_time at{};
  std::string authenticator{}; // who decided; empty when all abstained
  std::string client_id{};
  std::optional<std::string> username{};
  std::string source_address{};
  transport via = transport::mqtt;
  verdict outcome = verdict::deny;
  std::error_code reason{};
  std::error_code detail{};
  std::optional<identity> who{};
};

class audit_sink {
public:
  virtual ~audit_sink() = default;
  // Called once per decision, on the thread that authenticated. Must not throw.
  virtual void record(const audit_event& event) = 0;
};

// Keeps every event in memory: for tests and diagnostics.
class memory_audit_sink final : public audit_sink {
public:
  // audit_sink
  void record(const audit_event& event) override;

  std::vector<audit_event> events() const;

private:
  mutable std::mutex mutex_;
  std::vector<audit_event> events_;
};

// Writes one structured log line per decision (component "audit").
class log_audit_sink final : public audit_sink {
public:
  // audit_sink
  void record(const audit_event& event) override;
};

class failure_limiter;

class authenticator_chain {
public:
  // With a limiter, a source address that has used up its failures is refused (rate_limited)
  // before any authenticator runs, and every refusal but server_unavailable and rate_limited
  // spends one of its failures.
  authenticator_chain(audit_sink& audit, const clock& clk, failure_limiter* limiter = nullptr);

  // Asked in the order added.
  void add(std::unique_ptr<authenticator> a);

  // First allow or deny wins; every authenticator abstaining is a deny (no_authenticator).
  auth_decision authenticate(const connect_request& req);

private:
  auth_decision decide(const connect_request& req, std::string& decided_by);

  audit_sink& audit_;
  const clock& clock_;
  failure_limiter* limiter_;
  std::vector<std::unique_ptr<authenticator>> chain_;
};

} // namespace aegis::auth
