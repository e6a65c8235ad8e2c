// aegisd: the Aegis hub. This is the composition root: the only place that names concrete
// types and wires the modules together.

#include "aegis/app/config.hpp"
#include "aegis/app/data_dir.hpp"
#include "aegis/auth/authenticator.hpp"
#include "aegis/auth/failure_limiter.hpp"
#include "aegis/auth/password_authenticator.hpp"
#include "aegis/auth/password_hash.hpp"
#include "aegis/base/clock.hpp"
#include "aegis/base/log.hpp"
#include "aegis/broker/authorizer.hpp"
#include "aegis/broker/mqtt_server.hpp"
#include "aegis/net/server.hpp"
#include "aegis/net/tls.hpp"

#include <CLI/CLI.hpp>

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
  // MQTT over TLS for application accounts (user name + password).
  aegis::auth::memory_account_store accounts;
  const std::size_t account_count = load_accounts(cfg.mqtt.accounts_file, accounts);
  aegis::auth::log_audit_sink audit;
  aegis::auth::failure_limiter limiter(aegis::real_clock());
  aegis::auth::authenticator_chain chain(audit, aegis::real_clock());
  chain.add(std::make_unique<aegis::auth::password_authenticator>(accounts, limiter));
  const aegis::broker::allow_all_authorizer authz;
  aegis::broker::mqtt_server_options mqtt_options;
  mqtt_options.limits.maximum_packet_size = cfg.mqtt.max_packet_size;
  aegis::broker::mqtt_server mqtt(mqtt_options, authz, chain, aegis::real_clock());

  aegis::net::tls_server_config tls_config;
  tls_config.certificates.push_back({data->server_cert_file, data->server_key_file});
  auto tls = aegis::net::tls_context::create(tls_config);
  if (!tls) {
    aegis::log::write(aegis::log::level::critical, component, "cannot set up TLS",
                      {{"error", tls.error().message()}});
    return 1;
  }
  aegis::net::server net;
  aegis::net::listener_options listener;
  listener.name = "mqtt";
  listener.address = cfg.mqtt.listen_address;
  listener.port = cfg.mqtt.listen_port;
  listener.tls = *tls;
  listener.make_handler = mqtt.handler_factory();
  auto bound = net.listen(std::move(listener));
  if (!bound) {
    aegis::log::write(aegis::log::level::critical, component, "cannot listen for MQTT",
                      {{"address", cfg.mqtt.listen_address},
                       {"port", std::to_string(cfg.mqtt.listen_port)},
                       {"error", bound.error().message()}});
    aegis::log::flush();
    mqtt.stop();
    return 1;
  }
  aegis::log::info(component, "mqtt listening on {}:{} ({} application accounts)",
                   cfg.mqtt.listen_address, bound->port, account_count);
  if (account_count == 0) {
    aegis::log::info(component, "no application accounts yet: add a line 'user:HASH' (HASH from "
                                "`echo -n PASSWORD | aegisd --hash-password`) to a file and set "
                                "mqtt.accounts_file to it");
  }
  aegis::log::info(component,
                   "connect with: mosquitto_sub --cafile {} -h localhost -p {} -u USER -P "
                   "PASSWORD -t '#'. Give devices {} as their only trusted root. Stop with "
                   "Ctrl-C or SIGTERM.",
                   paths.ca_cert.string(), bound->port, paths.ca_cert.string());
  aegis::log::flush();

  const int sig = wait_for_shutdown(signals);
  aegis::log::info(component, "received {}, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
  aegis::log::flush();
  mqtt.shutdown(std::chrono::seconds{5}); // DISCONNECT 0x8B to every v5 client
  net.stop(std::chrono::seconds{5});
  mqtt.stop();
  aegis::log::info(component, "stopped");
  aegis::log::flush();
  return 0;
}
