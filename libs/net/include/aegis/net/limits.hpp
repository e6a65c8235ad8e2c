#pragma once

// Per-listener limits: a deadline for every phase of a connection's life (DESIGN §4, STYLE
// habit 7) and the bounds of its outbox (habit 6). Durations of zero mean "no deadline" only where
// a field says so.

#include <chrono>
#include <cstddef>

namespace aegis::net {

struct limits {
  // TCP accepted -> TLS handshake complete. Separate from first_message so that a slow
  // constrained device and a silent attacker are told apart by configuration, not by luck.
  std::chrono::milliseconds tls_handshake{10'000};
  // Armed when the handler starts (after the handshake); the handler disarms it when the first
  // protocol message (MQTT CONNECT, an HTTP request head) is complete, or re-arms it. Zero: not
  // armed at start.
  std::chrono::milliseconds first_message{10'000};
  // No bytes read or written for this long closes the connection. Zero: none until the handler
  // sets one (MQTT: keep-alive x 1.5, counting reads only).
  std::chrono::milliseconds idle{0};
  // close(flush): how long the outbox may take to drain before the connection is dropped.
  std::chrono::milliseconds close_flush{5'000};
  // After the last byte: sending our close_notify and waiting for the peer's (or its FIN).
  std::chrono::milliseconds close_notify{1'000};

  // Outbox, counted in bytes queued and not yet written to the socket. Above high_water the
  // connection stops reading its peer and send() reports it; at or below low_water reading
  // resumes and the handler hears on_writable(). A send that would pass outbox_max is refused.
  std::size_t outbox_high_water = 256 * 1024;
  std::size_t outbox_low_water = 128 * 1024;
  std::size_t outbox_max = 1024 * 1024;

  // Concurrent connections on one listener, handshakes included; more are accepted and closed
  // at once (so they do not sit in the kernel backlog).
  std::size_t max_connections = 10'000;
};

} // namespace aegis::net
