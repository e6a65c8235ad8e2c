// aegisd: the Aegis hub. This is the composition root: the only place that names concrete
// types and wires the modules together.

#include "aegis/app/config.hpp"
#include "aegis/app/data_dir.hpp"
#include "aegis/base/clock.hpp"
#include "aegis/base/log.hpp"

#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <iostream>
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

} // namespace

int main(int argc, char** argv) {
  const sigset_t signals = shutdown_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  CLI::App cli{"aegisd - the Aegis secure IoT device hub"};
  std::optional<std::string> config_file;
  aegis::app::config_overrides overrides;
  std::optional<std::string> data_dir;
  bool print_default_config = false;
  cli.add_option("-c,--config", config_file, "TOML configuration file (see aegisd.example.toml)");
  cli.add_option("-d,--data-dir", data_dir, "data directory (default ./var/aegis)");
  cli.add_option("--log-level", overrides.log_level,
                 "trace, debug, info, warn, error, critical, off (default info)");
  cli.add_option("--log-format", overrides.log_format, "human or json (default human)");
  cli.add_flag("--print-default-config", print_default_config,
               "print the documented default configuration and exit");
  cli.set_version_flag("--version", "aegisd 0.1.0");
  CLI11_PARSE(cli, argc, argv);

  if (print_default_config) {
    std::cout << aegis::app::default_config_toml();
    return 0;
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
  aegis::log::info(component,
                   "give devices {} as their only trusted root; listeners (MQTT over TLS on "
                   "8883, HTTPS on 8443) are not part of this build yet. Stop with Ctrl-C or "
                   "SIGTERM.",
                   paths.ca_cert.string());
  aegis::log::flush();

  const int sig = wait_for_shutdown(signals);
  aegis::log::info(component, "received {}, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
  aegis::log::flush();
  return 0;
}
