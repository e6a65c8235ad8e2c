#pragma once

// The I/O runtime: N threads, each running its own io_context; TCP listeners (TLS, or plain
// text only when asked for by name); connections handed round-robin to the threads, each living
// on one thread for its whole life; graceful shutdown.
//
// Lifetime: threads start in the constructor. listen() may be called from any thread until
// stop(). stop() (also run by the destructor) is blocking and must not be called from an I/O
// thread, i.e. not from a handler callback.

#include "aegis/base/error.hpp"
#include "aegis/net/connection.hpp"
#include "aegis/net/errors.hpp"
#include "aegis/net/limits.hpp"
#include "aegis/net/tls.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace aegis::net {

// Called on the new connection's thread after its TLS handshake, possibly on several threads
// at once. Returning null closes the connection (net_errc::handler_failed).
using handler_factory = std::function<std::unique_ptr<connection_handler>(connection&)>;

struct listener_options {
  std::string name = "listener"; // for logs
  std::string address = "127.0.0.1";
  std::uint16_t port = 0; // 0: any free port; listen() returns the bound one
  // Required unless insecure_plaintext; both set is refused.
  std::optional<tls_context> tls;
  // Plain TCP, for aegisd --insecure-dev only. Logged loudly.
  bool insecure_plaintext = false;
  net::limits limits;
  handler_factory make_handler;
  int backlog = 4096; // reference/performance-baseline.md §6: somaxconn, not 100
};

struct listener_info {
  std::size_t index = 0;
  std::uint16_t port = 0;
};

struct server_options {
  std::size_t threads = 0; // 0: one per hardware thread
};

// Counters since start, for metrics.
struct server_stats {
  std::uint64_t accepted = 0;
  std::uint64_t rejected_over_limit = 0; // per-listener max_connections reached
  std::uint64_t handshake_failures = 0;
  std::uint64_t handshake_timeouts = 0;
  std::uint64_t active = 0; // connections that exist now, handshakes included
};

class server {
public:
  explicit server(server_options options = {});
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  result<listener_info> listen(listener_options options);

  // Stops accepting, calls on_shutdown on every started handler, waits up to `drain_timeout`
  // for connections to finish, drops the rest (net_errc::shutdown_forced), joins the threads.
  // Idempotent.
  void stop(std::chrono::milliseconds drain_timeout);

  std::size_t thread_count() const noexcept;
  server_stats stats() const noexcept;

  struct impl;

private:
  std::unique_ptr<impl> impl_;
};

} // namespace aegis::net
