#pragma once

// The admin REST API (docs/admin-api.md): the operator's door to the registry, operator tokens,
// the audit log and Aegis' CA. Handlers run on the caller's I/O thread only long enough to hand
// the request to the blocking executor (deps.run); authentication, validation, every store call
// and the audit record happen there, and the answer goes back through the http::responder.
//
// The composition root owns the admin_api, registers its routes on the HTTPS router and keeps
// it (and everything in api_dependencies) alive until the router and the executor stopped.

#include "aegis/base/bytes.hpp"
#include "aegis/base/clock.hpp"
#include "aegis/base/error.hpp"
#include "aegis/crypto/x509.hpp"
#include "aegis/http/router.hpp"
#include "aegis/registry/ids.hpp"
#include "aegis/registry/model.hpp"
#include "aegis/registry/operators.hpp"
#include "aegis/registry/service.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace aegis::admin {

// Runs blocking store work off the I/O threads; returns false when it cannot take more (-> 503).
using blocking_executor = std::function<bool(std::function<void()>)>;

// The data plane, implemented by the composition root over the broker/bridges. Called from the
// storage thread or an I/O thread; must not block.
class device_channel {
public:
  virtual ~device_channel() = default;
  // done({}) when delivered to a connected, subscribed device; done(any error) -> the API
  // answers 400 FAILED_PRECONDITION "device is not connected/subscribed". `done` may be called
  // from any thread, once.
  virtual void send_command(const registry::device_key& device, std::string subfolder,
                            bytes payload, std::function<void(std::error_code)> done) = 0;
  virtual void config_changed(const registry::device_key& device,
                              const registry::config_version& latest) = 0;
  // After block/unblock, credential change, unbind, delete: live sessions are re-checked (and
  // kicked).
  virtual void device_changed(const registry::device_key& device) = 0;
  // After a registry update (MQTT/HTTP turned off, CA certificates removed): every live session
  // and poll of its devices is re-checked.
  virtual void registry_changed(const registry::registry_key& registry) = 0;
  virtual void certificate_revoked(const std::string& serial_hex) = 0;
};

struct api_dependencies {
  registry::registry_service& registry;
  registry::operator_repository& operators;
  const crypto::certificate_authority& ca; // Aegis' CA: signCertificate, CRL, GET /api/v1/ca
  const clock& clk;
  blocking_executor run;
  device_channel& devices;
  // GET /metrics (viewer scope): the hub's counters and gauges in the Prometheus text format
  // (metrics_text.hpp). Called on the executor after the token is checked; must not block. Empty:
  // /metrics answers 404.
  std::function<std::string()> metrics{};
};

// One registered route: the method and the router pattern, which is also the path template of
// the OpenAPI document ("/api/v1/projects/{p}/...", "{d}:sendCommandToDevice").
struct route_info {
  std::string method;
  std::string pattern;
  friend bool operator==(const route_info&, const route_info&) = default;
};

class admin_api {
public:
  explicit admin_api(api_dependencies deps);
  ~admin_api();
  admin_api(const admin_api&) = delete;
  admin_api& operator=(const admin_api&) = delete;

  // Registers every /api/v1/ route. The admin_api must outlive the router's use, and every task
  // it handed to deps.run must have finished before it is destroyed.
  void add_routes(http::router& r);

  // Call once at start-up (blocking, before serving): when the store holds no token at all,
  // creates an admin token and returns its full text (to print once); otherwise nullopt.
  result<std::optional<std::string>> bootstrap_admin_token();

  // Every (method, pattern) add_routes registers, in registration order.
  static std::vector<route_info> routes();

  // The OpenAPI 3.0 document served at GET /api/v1/openapi.json (server/admin/openapi.json).
  static std::string_view openapi_document() noexcept;

  struct impl;

private:
  std::unique_ptr<impl> impl_;
};

// A no-op device_channel for tests and deployments without a broker: commands fail
// precondition (std::errc::not_connected); the notifications do nothing.
class null_device_channel final : public device_channel {
public:
  // device_channel
  void send_command(const registry::device_key& device, std::string subfolder, bytes payload,
                    std::function<void(std::error_code)> done) override;
  void config_changed(const registry::device_key& device,
                      const registry::config_version& latest) override;
  void device_changed(const registry::device_key& device) override;
  void registry_changed(const registry::registry_key& registry) override;
  void certificate_revoked(const std::string& serial_hex) override;
};

// Operator tokens: "aeg_" + 12 lower-case base32 characters (the id) + "_" + 43 base64url
// characters (256-bit secret). The store keeps SHA-256 of the decoded secret only.
struct token_parts {
  std::string id;
  bytes secret; // 32 bytes
};
// nullopt unless `text` has exactly that shape.
std::optional<token_parts> parse_token(std::string_view text);
struct new_token {
  std::string id;
  std::string text;    // the full token, shown once
  bytes secret_digest; // what the store keeps
};
result<new_token> generate_token();

} // namespace aegis::admin
