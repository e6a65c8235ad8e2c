#pragma once

// The MQTT runtime: glues libs/net (connections on I/O threads), the authenticator chain
// (server/auth) and broker_core (sans-I/O, single-threaded) together.
//
// Threads: each connection's handler runs on its I/O thread and decodes its bytes there
// (mqtt::frame_decoder). A CONNECT goes to the auth thread (the chain is synchronous and may
// spend PBKDF2 time); its verdict, and every later packet, go to the core thread, the only one
// that touches broker_core. Actions are encoded there and handed to the connection's
// connection_handle. The core thread also calls broker_core::on_tick periodically.
//
// Shutdown: shutdown() (broker_core::shutdown: DISCONNECT 0x8B to v5 clients, close all) before
// net::server::stop(), then stop() (or the destructor) joins the threads.

#include "aegis/auth/authenticator.hpp"
#include "aegis/base/clock.hpp"
#include "aegis/broker/authorizer.hpp"
#include "aegis/broker/broker_core.hpp"
#include "aegis/net/server.hpp"

#include <chrono>
#include <memory>

namespace aegis::broker {

struct mqtt_server_options {
  broker_limits limits;                          // maximum_packet_size also bounds the decoder
  std::chrono::milliseconds tick_interval{1000}; // broker_core::on_tick period
};

class mqtt_server {
public:
  // `authz`, `chain` and `clk` must outlive the mqtt_server (and every connection it served).
  mqtt_server(mqtt_server_options options, const authorizer& authz,
              auth::authenticator_chain& chain, const clock& clk);
  ~mqtt_server();
  mqtt_server(const mqtt_server&) = delete;
  mqtt_server& operator=(const mqtt_server&) = delete;

  // For net::listener_options::make_handler. Handlers keep the runtime's shared state alive.
  net::handler_factory handler_factory();

  // broker_core::shutdown on the core thread; blocks until its actions were handed to the
  // connections (bounded by `timeout`). New CONNECTs are refused afterwards (0x8B / 3).
  void shutdown(std::chrono::milliseconds timeout = std::chrono::milliseconds{5000});
  // Joins the auth and core threads; later events are dropped. Idempotent.
  void stop();

  struct shared;

private:
  std::shared_ptr<shared> shared_;
};

} // namespace aegis::broker
