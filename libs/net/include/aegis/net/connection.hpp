#pragma once

// A connection as a protocol handler sees it. The handler is sans-I/O in spirit: it is handed
// bytes, and it hands back bytes to send; sockets, TLS, timers and threads stay in libs/net.
//
// Threading: a connection lives on one I/O thread for its whole life. Every connection_handler
// callback and every `connection` member runs on that thread. From any other thread use a
// connection_handle, whose calls are posted to the connection's thread.

#include "aegis/base/bytes.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace aegis::net {

namespace detail {
struct connection_shared;
} // namespace detail

class connection;

// An immutable buffer that many connections can send without copying (broker fan-out).
using shared_bytes = std::shared_ptr<const bytes>;

// What happened to one send. The producer uses it to apply its own policy: stop producing or
// drop QoS 0 above the high-water mark, disconnect a peer whose outbox is full.
enum class send_status {
  queued,                  // accepted; outbox at or below the high-water mark
  queued_above_high_water, // accepted; outbox above the high-water mark, reading is paused
  refused_outbox_full,     // not accepted: it would pass limits::outbox_max
  closed,                  // not accepted: the connection is closing or gone
};
std::string_view to_string(send_status s) noexcept;
inline bool accepted(send_status s) noexcept {
  return s == send_status::queued || s == send_status::queued_above_high_water;
}

// What keeps a connection from being idle.
enum class idle_activity {
  reads,            // only bytes from the peer (MQTT keep-alive: a control packet from the client)
  reads_and_writes, // bytes either way (a long download to a silent client is not idle)
};

enum class close_mode {
  flush, // write what is queued (within limits::close_flush), then close_notify, then close
  drop,  // discard what is queued, then close_notify, then close
};

// A framing layer between a protocol and the connection (WebSocket under MQTT): once set on a
// connection, every send() through it or any of its handles passes through frame() first, on
// the sending thread, and the result is queued as one unit, so frames from several threads never
// interleave. Sends of a shared_bytes buffer are framed into a copy. frame() runs on whichever
// thread sends, concurrently: it must be thread-safe; closing() runs on the connection's thread.
class send_framer {
public:
  virtual ~send_framer() = default;
  // The bytes to queue for one send of `payload` (never empty).
  virtual bytes frame(bytes_view payload) const = 0;
  // Written last when the connection starts closing with close_mode::flush (a WebSocket close
  // frame carrying a code derived from `reason`); empty for none.
  virtual bytes closing(std::error_code reason) const = 0;
};

// Implemented by a protocol (MQTT session, HTTP bridge). Created per connection by the
// listener's factory after the TLS handshake; owned by the connection; destroyed after
// on_closed, on the connection's thread.
class connection_handler {
public:
  virtual ~connection_handler() = default;

  // Once, first. The first_message deadline is already armed.
  virtual void on_start(connection& conn) = 0;
  // Bytes as they arrive (any split). `data` is valid only during the call.
  virtual void on_bytes(connection& conn, bytes_view data) = 0;
  // The outbox fell to the low-water mark after having passed the high-water mark.
  virtual void on_writable(connection& conn);
  // The server is shutting down gracefully: say goodbye (MQTT DISCONNECT 0x8B) and close. The
  // default closes with net_errc::server_shutdown, flushing. Whatever is still open at the end
  // of the drain timeout is dropped.
  virtual void on_shutdown(connection& conn);
  // Exactly once, last, after the socket is closed. `reason` is the first cause: the code the
  // handler passed to close(), a net_errc, or the socket's system error.
  virtual void on_closed(connection& conn, std::error_code reason) = 0;
};

// A thread-safe reference to a connection that may outlive it. Calls made after the connection
// closed are harmless (send returns closed, post returns false or its function never runs).
// Calls from one thread reach the connection in the order they were made.
class connection_handle {
public:
  connection_handle() = default;

  std::uint64_t id() const noexcept;
  explicit operator bool() const noexcept { return shared_ != nullptr; }

  send_status send(bytes data) const;
  send_status send(shared_bytes data) const;
  void close(std::error_code reason, close_mode mode = close_mode::flush) const;
  // Runs `fn` on the connection's thread if the connection is still open then. Returns false
  // when it certainly will not run (closing or closed, server stopped).
  bool post(std::function<void(connection&)> fn) const;
  // Bytes accepted and not yet written; readable from any thread (a snapshot).
  std::size_t outbox_bytes() const noexcept;

  explicit connection_handle(std::shared_ptr<detail::connection_shared> s)
      : shared_(std::move(s)) {}

private:
  std::shared_ptr<detail::connection_shared> shared_;
};

class connection {
public:
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  virtual std::uint64_t id() const noexcept = 0;
  virtual std::string_view listener_name() const noexcept = 0;
  virtual connection_handle handle() const = 0;

  virtual send_status send(bytes data) = 0;
  virtual send_status send(shared_bytes data) = 0;
  // Bytes queued as they are, bypassing the send framer: what the framing layer itself writes
  // (an HTTP 101 response, WebSocket pongs). Same outbox accounting as send().
  virtual send_status send_unframed(bytes data) = 0;
  // Installs the send framer (see send_framer), once: false if one is already set or the
  // connection is closing. Sends queued before the call stay unframed.
  virtual bool set_send_framer(std::shared_ptr<const send_framer> framer) = 0;
  // Idempotent; the first reason wins. A later close(drop) turns a running flush into a drop.
  virtual void close(std::error_code reason, close_mode mode = close_mode::flush) = 0;
  // True from the first close() until the end; sends are refused from then on.
  virtual bool closing() const noexcept = 0;

  // The handler's deadline (first message / CONNECT, or any later phase): closes with
  // net_errc::deadline_expired `after` from now unless disarmed or re-armed first.
  virtual void arm_deadline(std::chrono::milliseconds after) = 0;
  virtual void disarm_deadline() = 0;
  // Zero turns it off.
  virtual void set_idle_timeout(std::chrono::milliseconds timeout,
                                idle_activity counts = idle_activity::reads_and_writes) = 0;

  virtual std::size_t outbox_bytes() const noexcept = 0;
  virtual bool reading_paused() const noexcept = 0;

  // "address:port" of the peer.
  virtual std::string remote_address() const = 0;
  virtual bool is_tls() const noexcept = 0;
  // "TLSv1.3", "TLSv1.2"; empty for plain TCP.
  virtual std::string_view tls_version() const noexcept = 0;
  // The SNI host name the client sent; empty when none.
  virtual std::string server_name() const = 0;
  // The client's certificate chain as DER, leaf first, exactly as presented: NOT verified (the
  // auth layer decides). Empty without a client certificate. After resumption of a TLS session
  // only the leaf is known (OpenSSL keeps just the leaf in a session ticket).
  virtual std::vector<bytes> peer_certificate_chain() const = 0;

protected:
  connection() = default;
  virtual ~connection() = default;
};

} // namespace aegis::net
