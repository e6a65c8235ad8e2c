// The smallest useful device: a key file, the server's CA, one temperature reading every ten
// seconds, config and commands printed. Build: part of the SDK's CMake (example_minimal_device).
//
//   example_minimal_device HOST PORT CA_FILE PROJECT REGISTRY DEVICE KEY_FILE

#include "aegis/device/client.hpp"
#include "aegis/device/keystore.hpp"
#include "aegis/device/offline_queue.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>
#include <string>
#include <thread>

namespace {
std::atomic<bool> stop{false};
extern "C" void on_signal(int) {
  stop = true;
}
} // namespace

int main(int argc, char** argv) {
  using namespace aegis::device;
  if (argc != 8) {
    std::cerr << "usage: " << argv[0] << " HOST PORT CA_FILE PROJECT REGISTRY DEVICE KEY_FILE\n";
    return 2;
  }
  // The private key never leaves the signer; a 0600 PEM file here, a PKCS#11 token in
  // production (open_pkcs11_key).
  auto key = open_key_file(argv[7]);
  if (!key) {
    std::cerr << "key: " << key.error().message() << "\n";
    return 1;
  }
  // QoS 1 events wait here until the server acknowledges them (make_persistent_queue keeps
  // them across power cuts).
  auto queue = make_memory_queue({});

  client_options options;
  options.host = argv[1];
  options.port = static_cast<std::uint16_t>(std::stoi(argv[2]));
  options.root_ca_files = {argv[3]}; // the only trusted root
  options.project_id = argv[4];
  options.registry_id = argv[5];
  options.device_id = argv[6];
  options.jwt_signer = key->get();
  options.token_lifetime = std::chrono::hours(1); // renewed at 80 %
  options.queue = queue.get();

  auto client = device_client::create(options);
  if (!client) {
    std::cerr << "options: " << client.error().message() << "\n";
    return 2;
  }
  (*client)->on_connection_state([](connection_state s, std::error_code ec) {
    std::cout << to_string(s) << (ec ? " (" + ec.message() + ")" : "") << std::endl;
  });
  (*client)->on_config([](aegis::bytes_view config) {
    std::cout << "config: " << aegis::as_string_view(config) << std::endl;
  });
  (*client)->on_command([](std::string_view subfolder, aegis::bytes_view payload) {
    std::cout << "command [" << subfolder << "]: " << aegis::as_string_view(payload) << std::endl;
  });
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  (*client)->start();

  double temperature = 20.0;
  while (!stop) {
    temperature += 0.1;
    const auto queued = (*client)->publish_event(
        "temperature", aegis::to_bytes("{\"celsius\":" + std::to_string(temperature) + "}"));
    if (!queued) {
      std::cerr << "not queued: " << queued.error().message() << "\n"; // e.g. queue_full
    }
    for (int i = 0; i < 100 && !stop; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  (*client)->stop();
  return 0;
}
