#pragma once

// The two commands of aegis-device. Each returns the process exit code: 0 success, 1 runtime
// failure, 2 bad configuration or arguments.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

namespace aegis::device::app {

// `aegis-device run --config device.toml`: runs until `stop` becomes true.
int run_agent(const std::filesystem::path& config_file, const std::atomic<bool>& stop);

struct simulate_options {
  std::string host = "127.0.0.1";
  std::uint16_t mqtt_port = 8883;
  std::string admin_url; // https://host:port of the admin API
  std::filesystem::path ca_file;
  std::string admin_token; // from --admin-token-file or AEGIS_ADMIN_TOKEN
  std::string project;
  std::string location = "global";
  std::string registry;
  std::string prefix = "sim-";
  std::size_t devices = 10;
  double rate = 1.0; // events per second per device
  std::chrono::seconds duration{10};
  std::size_t payload_bytes = 64;
  bool create_registry = false;
};

int run_simulation(const simulate_options& options, const std::atomic<bool>& stop);

} // namespace aegis::device::app
