// A gateway that speaks for devices without their own connection (e.g. on a field bus): it
// connects with its own key, attaches each bound device, and publishes their readings.
//
//   example_gateway_device HOST PORT CA_FILE PROJECT REGISTRY GATEWAY KEY_FILE LEAF...
//
// Provision first: aegisctl device create GATEWAY --gateway ...; aegisctl device bind LEAF
// --registry REGISTRY --gateway GATEWAY.

#include "aegis/device/client.hpp"
#include "aegis/device/keystore.hpp"
#include "aegis/device/offline_queue.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

namespace {
std::atomic<bool> stop{false};
extern "C" void on_signal(int) {
  stop = true;
}
} // namespace

int main(int argc, char** argv) {
  using namespace aegis::device;
  if (argc < 9) {
    std::cerr << "usage: " << argv[0]
              << " HOST PORT CA_FILE PROJECT REGISTRY GATEWAY KEY_FILE LEAF...\n";
    return 2;
  }
  auto key = open_key_file(argv[7]);
  if (!key) {
    std::cerr << "key: " << key.error().message() << "\n";
    return 1;
  }
  auto queue = make_memory_queue({});
  client_options options;
  options.host = argv[1];
  options.port = static_cast<std::uint16_t>(std::stoi(argv[2]));
  options.root_ca_files = {argv[3]};
  options.project_id = argv[4];
  options.registry_id = argv[5];
  options.device_id = argv[6];
  options.jwt_signer = key->get();
  options.queue = queue.get();
  options.gateway = true; // also subscribes to /devices/{gateway}/errors

  auto client = device_client::create(options);
  if (!client) {
    std::cerr << "options: " << client.error().message() << "\n";
    return 2;
  }
  (*client)->on_attach_result([](std::string_view leaf, std::error_code ec) {
    std::cout << "attach/detach " << leaf << ": " << (ec ? ec.message() : "ok") << std::endl;
  });
  (*client)->on_leaf_config([](std::string_view leaf, aegis::bytes_view config) {
    std::cout << "config for " << leaf << ": " << aegis::as_string_view(config) << std::endl;
  });
  (*client)->on_leaf_command(
      [](std::string_view leaf, std::string_view subfolder, aegis::bytes_view payload) {
        std::cout << "command for " << leaf << " [" << subfolder
                  << "]: " << aegis::as_string_view(payload) << std::endl;
      });
  (*client)->on_gateway_error([](aegis::bytes_view error) {
    std::cout << "gateway error: " << aegis::as_string_view(error) << std::endl;
  });
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  (*client)->start();

  const std::vector<std::string> leaves(argv + 8, argv + argc);
  for (const auto& leaf : leaves) {
    // Association only: no leaf token. Re-attached by the client after every reconnect.
    (void)(*client)->attach(leaf, "");
  }
  int reading = 0;
  while (!stop) {
    for (const auto& leaf : leaves) {
      (void)(*client)->publish_event_for(leaf, "",
                                         aegis::to_bytes("reading " + std::to_string(reading)));
    }
    ++reading;
    for (int i = 0; i < 50 && !stop; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  for (const auto& leaf : leaves) {
    (void)(*client)->detach(leaf);
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  (*client)->stop();
  return 0;
}
