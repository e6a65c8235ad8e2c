// aegisd: the Aegis hub. This is the composition root: the only place that names concrete
// types and wires the modules together.

#include "aegis/admin/admin_api.hpp"
#include "aegis/app/application_authorizer.hpp"
#include "aegis/app/config.hpp"
#include "aegis/app/data_dir.hpp"
#include "aegis/app/hub_metrics.hpp"
#include "aegis/app/sqlite_session_store.hpp"
#include "aegis/app/store_audit_sink.hpp"
#include "aegis/auth/authenticator.hpp"
#include "aegis/auth/failure_limiter.hpp"
#include "aegis/auth/jwt_authenticator.hpp"
#include "aegis/auth/password_authenticator.hpp"
#include "aegis/auth/password_hash.hpp"
#include "aegis/auth/x509_authenticator.hpp"
#include "aegis/base/clock.hpp"
#include "aegis/base/log.hpp"
#include "aegis/bridge/device_bridge.hpp"
#include "aegis/broker/mqtt_server.hpp"
#include "aegis/http/router.hpp"
#include "aegis/http/server.hpp"
#include "aegis/net/server.hpp"
#include "aegis/net/tls.hpp"
#include "aegis/registry/operators.hpp"
#include "aegis/registry/service.hpp"
#include "aegis/storage_sqlite/executor.hpp"
#include "aegis/storage_sqlite/store.hpp"

#include <CLI/CLI.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

namespace {

constexpr std::string_view component = "aegisd";

// Signals are taken synchronously by this thread (sigwait) so no handler runs in an arbitrary
// context; they must be blocked before any other thread starts so every thread inherits it.
sigset_t shutdown_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

int wait_for_shutdown(const sigset_t& set) {
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) {
      return SIGTERM;
    }
    if (sig == SIGHUP) {
      aegis::log::info(component, "SIGHUP received; configuration reload is not supported yet");
      continue;
    }
    return sig;
  }
}

// Reads "username:$pbkdf2-sha256$..." lines; blank lines and '#' comments are skipped. A missing
// file is no accounts. Returns how many were loaded.
std::size_t load_accounts(const std::filesystem::path& file,
                          aegis::auth::memory_account_store& store) {
  if (file.empty()) {
    return 0;
  }
  std::ifstream in(file);
  if (!in) {
    aegis::log::warn(component, "accounts file {} cannot be read: no account can log in",
                     file.string());
    return 0;
  }
  std::size_t count = 0;
  std::size_t line_no = 0;
  std::string line;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    if (line.empty() || line.front() == '#') {
      continue;
    }
    const auto colon = line.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == line.size()) {
      aegis::log::warn(component, "{}:{}: not username:hash, skipped", file.string(), line_no);
      continue;
    }
    aegis::auth::account a;
    a.username = line.substr(0, colon);
    a.password_hash = line.substr(colon + 1);
    store.put(std::move(a));
    ++count;
  }
  return count;
}

// Runs blocking store work on the storage thread; false when its queue is full or stopped.
aegis::admin::blocking_executor on_storage(aegis::storage_sqlite::storage_executor& storage) {
  return [&storage](std::function<void()> fn) {
    return storage
        .submit(
            [fn = std::move(fn)]() -> aegis::result<bool> {
              fn();
              return true;
            },
            [](const aegis::result<bool>&) {})
        .has_value();
  };
}

// The admin API's view of the data plane: a device is reached over MQTT when it has a session
// there, else over the HTTPS bridge when it is long polling (or polled a moment ago).
class hub_device_channel final : public aegis::admin::device_channel {
public:
  hub_device_channel(aegis::broker::mqtt_server& mqtt, aegis::bridge::device_bridge& http)
      : mqtt_(mqtt), http_(http) {}

  void send_command(const aegis::registry::device_key& device, std::string subfolder,
                    aegis::bytes payload, std::function<void(std::error_code)> done) override {
    auto over_http = [this, device, subfolder, payload,
                      done = std::move(done)](std::error_code mqtt_result) mutable {
      if (!mqtt_result) {
        done({});
        return;
      }
      if (http_.deliver_command(device, std::move(subfolder), std::move(payload))) {
        done({});
        return;
      }
      done(mqtt_result);
    };
    mqtt_.send_command(device, subfolder, payload, std::move(over_http));
  }
  void config_changed(const aegis::registry::device_key& device,
                      const aegis::registry::config_version& latest) override {
    mqtt_.publish_config(device, latest);
    http_.config_changed(device, latest);
  }
  void device_changed(const aegis::registry::device_key& device) override {
    mqtt_.revalidate_device(device);
    http_.device_changed(device);
  }
  void registry_changed(const aegis::registry::registry_key& registry) override {
    mqtt_.revalidate_registry(registry);
    http_.registry_changed(registry);
  }
  void certificate_revoked(const std::string& serial_hex) override {
    mqtt_.revoke_certificate(serial_hex);
    http_.certificate_revoked();
  }

private:
  aegis::broker::mqtt_server& mqtt_;
  aegis::bridge::device_bridge& http_;
};

// Telemetry that arrives over HTTPS reaches application subscribers as MQTT telemetry does.
class broker_telemetry_sink final : public aegis::bridge::telemetry_sink {
public:
  explicit broker_telemetry_sink(aegis::broker::mqtt_server& mqtt) : mqtt_(mqtt) {}

  void publish_event(const aegis::auth::identity& device, std::string subfolder,
                     aegis::bytes payload) override {
    mqtt_.publish_device_event(device, std::move(subfolder), std::move(payload));
  }
  void publish_state(const aegis::auth::identity& device, aegis::bytes payload) override {
    mqtt_.publish_device_state(device, std::move(payload));
  }

private:
  aegis::broker::mqtt_server& mqtt_;
};

// Aegis' CA revocation list as it stands, for the X.509 authenticator.
std::vector<aegis::crypto::crl> current_crls(aegis::registry::operator_repository& operators,
                                             const aegis::crypto::certificate_authority& ca) {
  auto revoked = operators.list_revocations();
  if (!revoked) {
    throw std::runtime_error("cannot read the revocation list: " + revoked.error().message());
  }
  std::vector<aegis::crypto::revoked_entry> entries;
  for (const auto& r : *revoked) {
    entries.push_back({r.serial_hex, r.revoke_time});
  }
  auto list = ca.issue_crl(entries, aegis::real_clock().wall_now(), std::chrono::hours{24 * 365});
  if (!list) {
    throw std::runtime_error("cannot issue the CRL: " + list.error().message());
  }
  return {std::move(*list)};
}

// The first start creates an admin token and shows it once; it is also left, 0600, in the
// data directory for `aegisctl login`, to be deleted once saved elsewhere.
void announce_bootstrap_token(const std::string& token, const std::filesystem::path& dir) {
  const auto file = dir / "initial-admin-token";
  {
    std::ofstream out(file, std::ios::trunc);
    out << token << "\n";
  }
  std::filesystem::permissions(file, std::filesystem::perms::owner_read |
                                         std::filesystem::perms::owner_write);
  std::cout << "admin token: " << token << "\n" << std::flush;
  aegis::log::info(component,
                   "created the first admin token (shown once above, and in {}: delete that file "
                   "once the token is stored safely)",
                   file.string());
}

int hash_password_from_stdin() {
  std::string password;
  if (!std::getline(std::cin, password) || password.empty()) {
    std::cerr << "aegisd: --hash-password reads a non-empty password from stdin\n";
    return 2;
  }
  const auto* p = reinterpret_cast<const std::uint8_t*>(password.data());
  auto hashed = aegis::auth::hash_password(aegis::bytes_view(p, password.size()));
  if (!hashed) {
    std::cerr << "aegisd: cannot hash: " << hashed.error().message() << "\n";
    return 1;
  }
  std::cout << *hashed << "\n";
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  const sigset_t signals = shutdown_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  CLI::App cli{"aegisd - the Aegis secure IoT device hub"};
  std::optional<std::string> config_file;
  aegis::app::config_overrides overrides;
  std::optional<std::string> data_dir;
  bool print_default_config = false;
  bool hash_password = false;
  cli.add_option("-c,--config", config_file, "TOML configuration file (see aegisd.example.toml)");
  cli.add_option("-d,--data-dir", data_dir, "data directory (default ./var/aegis)");
  cli.add_option("--log-level", overrides.log_level,
                 "trace, debug, info, warn, error, critical, off (default info)");
  cli.add_option("--log-format", overrides.log_format, "human or json (default human)");
  cli.add_option("--mqtt-listen", overrides.mqtt_listen,
                 "MQTT over TLS listener address:port (default 127.0.0.1:8883)");
  cli.add_option("--https-listen", overrides.https_listen,
                 "HTTPS (admin API) listener address:port (default 127.0.0.1:8443)");
  cli.add_flag("--print-default-config", print_default_config,
               "print the documented default configuration and exit");
  cli.add_flag("--hash-password", hash_password,
               "read a password from stdin, print its hash for the accounts file, and exit");
  cli.set_version_flag("--version", "aegisd 0.1.0");
  CLI11_PARSE(cli, argc, argv);

  if (print_default_config) {
    std::cout << aegis::app::default_config_toml();
    return 0;
  }
  if (hash_password) {
    return hash_password_from_stdin();
  }
  if (data_dir) {
    overrides.data_dir = *data_dir;
  }

  aegis::app::config cfg;
  try {
    std::optional<std::filesystem::path> file;
    if (config_file) {
      file = *config_file;
    }
    cfg = aegis::app::load_config(file, overrides);
  } catch (const aegis::app::config_error& e) {
    std::cerr << "aegisd: configuration error: " << e.what() << "\n";
    return 2;
  }
  aegis::log::init({cfg.log_level, cfg.log_format});

  std::optional<aegis::app::data_dir> data;
  try {
    data.emplace(aegis::app::open_data_dir(cfg, aegis::real_clock()));
  } catch (const aegis::app::data_dir_error& e) {
    aegis::log::write(aegis::log::level::critical, component, "cannot open data directory",
                      {{"error", e.what()}});
    return 1;
  }

  const auto& paths = data->paths;
  if (data->created) {
    aegis::log::info(component, "initialised new data directory {}", paths.root.string());
  }
  if (data->server_cert_renewed) {
    aegis::log::info(component, "issued a new server certificate");
  }
  aegis::log::write(aegis::log::level::info, component, "ready",
                    {{"data_dir", paths.root.string()},
                     {"master_key", paths.master_key.string()},
                     {"ca_certificate", paths.ca_cert.string()},
                     {"server_certificate", data->server_cert_file.string()},
                     {"server_key", data->server_key_file.string()},
                     {"ca_fingerprint_sha256", data->ca.cert().fingerprint_sha256()}});
  // The embedded store, and the one thread that touches it.
  auto store = aegis::storage_sqlite::sqlite_store::open(
      {paths.root / aegis::storage_sqlite::default_file_name}, data->master);
  if (!store) {
    aegis::log::write(aegis::log::level::critical, component, "cannot open the store",
                      {{"error", store.error().message()}});
    return 1;
  }
  aegis::storage_sqlite::storage_executor storage;
  aegis::registry::registry_service registry(**store, aegis::real_clock());
  aegis::registry::operator_repository& operators = **store;
  const auto run_blocking = on_storage(storage);

  // Who may connect: devices by client certificate or JWT, application accounts by password.
  aegis::auth::memory_account_store accounts;
  const std::size_t account_count = load_accounts(cfg.mqtt.accounts_file, accounts);
  aegis::auth::log_audit_sink audit_log;
  aegis::app::store_audit_sink audit(operators, run_blocking, &audit_log);
  aegis::auth::failure_limiter limiter(aegis::real_clock());
  // Only password guesses are rate-limited per address (PBKDF2 is the costly check); a JWT or a
  // certificate cannot be guessed, and many devices share one NAT address.
  aegis::app::auth_metrics_sink auth_counts(&audit); // GET /metrics: decisions by reason
  aegis::auth::authenticator_chain chain(auth_counts, aegis::real_clock());
  std::optional<aegis::app::application_authorizer> app_authz;
  try {
    chain.add(std::make_unique<aegis::auth::x509_authenticator>(
        registry, aegis::real_clock(), data->ca.cert(), current_crls(operators, data->ca),
        [&operators](std::string_view serial) { return operators.is_revoked(serial); }));
    app_authz.emplace(cfg.mqtt.acl);
  } catch (const std::exception& e) {
    aegis::log::write(aegis::log::level::critical, component, "cannot set up authentication",
                      {{"error", e.what()}});
    return 1;
  }
  aegis::auth::jwt_authenticator_options jwt_options;
  jwt_options.skew = cfg.auth.jwt_skew;
  chain.add(
      std::make_unique<aegis::auth::jwt_authenticator>(registry, aegis::real_clock(), jwt_options));
  chain.add(std::make_unique<aegis::auth::password_authenticator>(accounts, limiter));

  aegis::broker::mqtt_server_options mqtt_options;
  mqtt_options.limits.maximum_packet_size = cfg.mqtt.max_packet_size;
  mqtt_options.device_profile.registry = &registry;
  mqtt_options.device_profile.run_blocking = run_blocking;
  mqtt_options.device_profile.application_authorizer = &*app_authz;
  mqtt_options.limits.max_queued_messages = cfg.mqtt.max_queued_messages;
  mqtt_options.limits.max_queued_bytes = cfg.mqtt.max_queued_bytes;
  mqtt_options.limits.overflow = cfg.mqtt.queue_overflow == "drop_newest"
                                     ? aegis::broker::queue_overflow::drop_newest
                                     : aegis::broker::queue_overflow::drop_oldest;
  mqtt_options.limits.retained.max_messages = cfg.mqtt.max_retained_messages;
  mqtt_options.limits.retained.max_bytes = cfg.mqtt.max_retained_bytes;
  mqtt_options.limits.max_session_expiry = cfg.mqtt.max_session_expiry_seconds;
  // Durable sessions and retained messages: written on the storage thread, loaded before the
  // listeners open so that no client sees a broker without its sessions.
  aegis::app::sqlite_session_store session_store(**store);
  if (cfg.mqtt.persistence) {
    mqtt_options.persistence.store = &session_store;
    mqtt_options.persistence.run_blocking = run_blocking;
  }
  aegis::broker::mqtt_server mqtt(mqtt_options, chain, aegis::real_clock());
  if (auto restored = mqtt.restore(); !restored) {
    aegis::log::write(aegis::log::level::critical, component,
                      "cannot load the broker's sessions and retained messages",
                      {{"error", restored.error().message()}});
    mqtt.stop();
    storage.stop();
    return 1;
  } else if (cfg.mqtt.persistence) {
    aegis::log::info(component,
                     "restored {} MQTT sessions ({} subscriptions, {} queued and {} in-flight "
                     "messages), {} retained messages; dropped {} expired sessions, {} expired "
                     "messages, {} unreadable and {} orphaned records",
                     restored->sessions, restored->subscriptions, restored->queued,
                     restored->inflight, restored->retained, restored->expired_sessions,
                     restored->expired_messages, restored->unreadable, restored->orphans);
  }

  // The HTTPS device bridge and the admin API share the HTTPS listener.
  broker_telemetry_sink telemetry(mqtt);
  aegis::bridge::device_bridge http_bridge({}, chain, registry, run_blocking, telemetry,
                                           aegis::real_clock());
  hub_device_channel channel(mqtt, http_bridge);
  // GET /metrics: read at each scrape from each part's thread-safe counters. The network
  // server is created below; until then (and it outlives every scrape) it reports nothing.
  std::atomic<const aegis::net::server*> metrics_network{nullptr};
  aegis::app::hub_metric_sources metric_sources;
  metric_sources.network = [&metrics_network] {
    const auto* n = metrics_network.load();
    return n != nullptr ? n->stats() : aegis::net::server_stats{};
  };
  metric_sources.mqtt_devices = [&mqtt] { return mqtt.device_stats(); };
  metric_sources.mqtt_broker = [&mqtt] { return mqtt.broker_counters(); };
  metric_sources.mqtt_persistence = [&mqtt] { return mqtt.persistence_counters(); };
  metric_sources.http_bridge = [&http_bridge] { return http_bridge.stats(); };
  metric_sources.auth = &auth_counts;
  metric_sources.audit_records_dropped = [&audit] { return audit.dropped(); };
  aegis::admin::admin_api admin(
      {registry, operators, data->ca, aegis::real_clock(), run_blocking, channel,
       [&metric_sources] { return aegis::app::render_hub_metrics(metric_sources); }});
  auto bootstrap = admin.bootstrap_admin_token();
  if (!bootstrap) {
    aegis::log::write(aegis::log::level::critical, component, "cannot set up operator tokens",
                      {{"error", bootstrap.error().message()}});
    return 1;
  }
  aegis::http::router routes;
  admin.add_routes(routes);
  http_bridge.add_routes(routes);
  aegis::http::server_options http_options;
  http_options.max_body_bytes = cfg.https.max_body_bytes;
  // MQTT over secure WebSocket on the HTTPS port (wss://host:port/mqtt, sub-protocol "mqtt"):
  // the same broker, limits and authentication as the MQTT listener. A WebSocket message may
  // hold one packet plus the start of the next: the slack covers that.
  {
    aegis::http::websocket_route mqtt_over_websocket;
    mqtt_over_websocket.path = "/mqtt";
    mqtt_over_websocket.subprotocol = "mqtt";
    mqtt_over_websocket.inner = mqtt.handler_factory();
    mqtt_over_websocket.max_message_size = std::size_t{cfg.mqtt.max_packet_size} + 64 * 1024;
    http_options.websocket_routes.push_back(std::move(mqtt_over_websocket));
  }

  aegis::net::tls_server_config tls_config;
  tls_config.certificates.push_back({data->server_cert_file, data->server_key_file});
  tls_config.client_certificates = aegis::net::client_certificate_mode::request;
  auto tls = aegis::net::tls_context::create(tls_config);
  if (!tls) {
    aegis::log::write(aegis::log::level::critical, component, "cannot set up TLS",
                      {{"error", tls.error().message()}});
    return 1;
  }
  aegis::net::server net;
  metrics_network.store(&net);
  const auto listen = [&](std::string name, const std::string& address, std::uint16_t port,
                          aegis::net::handler_factory factory) -> std::optional<std::uint16_t> {
    aegis::net::listener_options listener;
    listener.name = name;
    listener.address = address;
    listener.port = port;
    listener.tls = *tls;
    listener.make_handler = std::move(factory);
    auto bound = net.listen(std::move(listener));
    if (!bound) {
      aegis::log::write(aegis::log::level::critical, component, "cannot listen",
                        {{"listener", name},
                         {"address", address},
                         {"port", std::to_string(port)},
                         {"error", bound.error().message()}});
      return std::nullopt;
    }
    return bound->port;
  };
  const auto mqtt_port =
      listen("mqtt", cfg.mqtt.listen_address, cfg.mqtt.listen_port, mqtt.handler_factory());
  const auto https_port =
      mqtt_port ? listen("https", cfg.https.listen_address, cfg.https.listen_port,
                         aegis::http::make_handler_factory(http_options, routes.handler()))
                : std::nullopt;
  if (!mqtt_port || !https_port) {
    aegis::log::flush();
    http_bridge.shutdown();
    net.stop(std::chrono::seconds{1});
    mqtt.stop();
    storage.stop();
    return 1;
  }
  aegis::log::info(component, "mqtt listening on {}:{} ({} application accounts)",
                   cfg.mqtt.listen_address, *mqtt_port, account_count);
  aegis::log::info(component,
                   "https listening on {}:{} (admin API under /api/v1/, device bridge under /v1/)",
                   cfg.https.listen_address, *https_port);
  if (*bootstrap) {
    announce_bootstrap_token(**bootstrap, paths.root);
  }
  aegis::log::info(component,
                   "manage devices with: aegisctl login --server https://localhost:{} --ca-file "
                   "{} --token <admin token>. Give devices {} as their only trusted root. Stop "
                   "with Ctrl-C or SIGTERM.",
                   *https_port, paths.ca_cert.string(), paths.ca_cert.string());
  if (account_count == 0) {
    aegis::log::info(component, "no application accounts yet: add a line 'user:HASH' (HASH from "
                                "`echo -n PASSWORD | aegisd --hash-password`) to a file and set "
                                "mqtt.accounts_file to it");
  }
  aegis::log::flush();

  const int sig = wait_for_shutdown(signals);
  aegis::log::info(component, "received {}, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
  aegis::log::flush();
  mqtt.shutdown(std::chrono::seconds{5}); // DISCONNECT 0x8B to every v5 client
  http_bridge.shutdown();                 // open long polls answer 503
  net.stop(std::chrono::seconds{5});
  mqtt.stop();
  storage.stop(); // runs every accepted write before the store closes
  aegis::log::info(component, "stopped");
  aegis::log::flush();
  return 0;
}
