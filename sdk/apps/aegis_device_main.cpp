// aegis-device: the reference device agent (`run`) and the fleet simulator (`simulate`).

#include "aegis/base/log.hpp"
#include "agent.hpp"

#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>

namespace {

std::atomic<bool> stop_requested{false};

extern "C" void on_signal(int) {
  stop_requested = true;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"aegis-device - reference device agent and fleet simulator for Aegis"};
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, off");

  std::string config;
  auto* run = app.add_subcommand("run", "run one device from a TOML configuration");
  run->add_option("-c,--config", config, "device.toml")->required();

  aegis::device::app::simulate_options sim;
  std::string token_file;
  std::string ca;
  std::int64_t duration = 10;
  auto* simulate = app.add_subcommand("simulate", "N simulated devices in one process");
  simulate->add_option("--devices", sim.devices, "number of devices")->required();
  simulate->add_option("--rate", sim.rate, "events per second per device")->required();
  simulate->add_option("--duration", duration, "seconds of publishing");
  simulate->add_option("--host", sim.host, "MQTT host (default 127.0.0.1)");
  simulate->add_option("--port", sim.mqtt_port, "MQTT port (default 8883)");
  simulate->add_option("--ca", ca, "CA certificate (PEM) the server chains to")->required();
  simulate->add_option("--admin-url", sim.admin_url, "admin API, https://host:port")->required();
  simulate->add_option("--admin-token-file", token_file,
                       "file holding the admin token (else $AEGIS_ADMIN_TOKEN)");
  simulate->add_option("--project", sim.project)->required();
  simulate->add_option("--location", sim.location);
  simulate->add_option("--registry", sim.registry)->required();
  simulate->add_option("--prefix", sim.prefix, "device id prefix (default sim-)");
  simulate->add_option("--payload-bytes", sim.payload_bytes);
  simulate->add_flag("--create-registry", sim.create_registry,
                     "create the project and registry first (existing ones are kept)");

  CLI11_PARSE(app, argc, argv);

  aegis::log::level lvl{};
  if (!aegis::log::parse_level(log_level, lvl)) {
    std::cerr << "aegis-device: bad --log-level\n";
    return 2;
  }
  aegis::log::init({.min_level = lvl});
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  if (*run) {
    return aegis::device::app::run_agent(config, stop_requested);
  }
  sim.ca_file = ca;
  sim.duration = std::chrono::seconds(duration);
  if (!token_file.empty()) {
    std::ifstream in(token_file);
    std::getline(in, sim.admin_token);
  } else if (const char* env = std::getenv("AEGIS_ADMIN_TOKEN")) {
    sim.admin_token = env;
  }
  return aegis::device::app::run_simulation(sim, stop_requested);
}
