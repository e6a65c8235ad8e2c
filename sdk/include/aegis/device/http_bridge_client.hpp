#pragma once

// A blocking HTTPS client for the device bridge (IoT Core's HTTP DeviceService, plus Aegis' long
// polling for configuration and commands): for devices that only speak HTTPS or sit behind NAT.
// One TLS 1.2+ connection, kept alive and reused; the server is verified against only the root
// certificates given (never the system store) and the host name dialled (SNI and
// SSL_set1_host). Every request carries "Authorization: Bearer <jwt>" from the token source,
// asked once per request so that it can renew the token before it expires.
//
// Not thread-safe: one thread at a time per client (open one client per polling thread).

#include "aegis/base/bytes.hpp"
#include "aegis/base/error.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace aegis::device {

struct http_bridge_options {
  std::string host = "127.0.0.1"; // name or IP address dialled, checked against the certificate
  std::uint16_t port = 443;
  std::vector<std::filesystem::path> root_ca_files; // PEM; the only trusted roots (required)

  std::string project_id;
  std::string location = "us-central1";
  std::string registry_id;
  std::string device_id;

  // The device JWT for each request (e.g. a cached mint_device_jwt that renews before expiry).
  std::function<result<std::string>()> token_source;

  std::chrono::milliseconds connect_timeout{10'000}; // TCP connect + TLS handshake
  std::chrono::milliseconds io_timeout{30'000};      // each request, on top of any long-poll wait
  std::size_t max_response_bytes = 1024U * 1024U;
};

struct bridge_config {
  std::uint64_t version = 0;
  std::string cloud_update_time; // RFC 3339, as the server sent it
  bytes data;
};

struct bridge_command {
  std::string subfolder; // "" when the command has none
  bytes data;
};

class http_bridge_client {
public:
  // Checks the options and loads the roots; connects on the first request. Errors:
  // device_errc::bad_config (missing ids, no roots, no token source, unreadable roots).
  static result<std::unique_ptr<http_bridge_client>> create(http_bridge_options options);
  virtual ~http_bridge_client() = default;

  // POST …:publishEvent. `subfolder` "" for the default events topic.
  virtual result<void> publish_event(std::string_view subfolder, bytes_view payload) = 0;
  // POST …:setState.
  virtual result<void> set_state(bytes_view state) = 0;
  // GET …/config?local_version=N[&wait=S]: the latest configuration; with `wait` > 0 and
  // local_version equal to the latest, held up to `wait` until a newer one exists.
  virtual result<bridge_config> get_config(std::uint64_t local_version,
                                           std::chrono::seconds wait) = 0;
  // GET …/commands[?wait=S]: the commands waiting for the device (empty on 204).
  virtual result<std::vector<bridge_command>> poll_commands(std::chrono::seconds wait) = 0;

  // The HTTP status of the last answered request (0 before any); a refusal is
  // device_errc::server_refused and its status and message are logged.
  virtual int last_status() const noexcept = 0;
  // Drops the connection (the next request opens a new one).
  virtual void close() noexcept = 0;
  // Connections opened so far (keep-alive reuse shows as 1 across many requests).
  virtual std::size_t connections_opened() const noexcept = 0;
};

} // namespace aegis::device
