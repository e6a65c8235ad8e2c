#pragma once

// Private to libs/http: what an HTTP connection becomes after a successful WebSocket upgrade.
// Bytes from the connection go through the frame decoder into an inner connection_handler (the
// MQTT handler, unchanged); what the inner handler sends is framed by the connection's send
// framer (installed at the upgrade, see net::send_framer), so sends through the connection and
// through any connection_handle, from any thread, become whole binary frames.

#include "aegis/base/error.hpp"
#include "aegis/http/websocket.hpp"
#include "aegis/net/connection.hpp"

#include <atomic>
#include <cstddef>
#include <memory>
#include <string_view>
#include <system_error>

namespace aegis::http::detail {

// Why the WebSocket layer closed a connection; each value is the close code sent.
enum class websocket_errc {
  protocol_error = websocket::close_code::protocol_error,
  unsupported_data = websocket::close_code::unsupported_data,
  invalid_payload = websocket::close_code::invalid_payload,
  message_too_big = websocket::close_code::message_too_big,
  internal_error = websocket::close_code::internal_error,
};
std::string_view describe(websocket_errc e) noexcept;

} // namespace aegis::http::detail

AEGIS_ERROR_ENUM(aegis::http::detail, websocket_errc, "aegis.http.websocket", describe)

namespace aegis::http::detail {

// The close code a connection closing for `reason` sends: a websocket_errc is its own code;
// an orderly end 1000, a server shutdown 1001, a failed handler 1011, anything else the inner
// protocol decided (an MQTT protocol error, a session takeover, a refused CONNECT) 1008.
std::uint16_t close_code_for(std::error_code reason) noexcept;

// Every send becomes one unmasked binary frame; a flush close ends with a close frame. One per
// connection: it remembers the code of the peer's close frame, which our answer echoes.
class websocket_framer final : public net::send_framer {
public:
  bytes frame(bytes_view payload) const override;
  bytes closing(std::error_code reason) const override;
  // The peer's close frame carried `code` (on the connection's thread, before the close).
  void peer_closed_with(std::uint16_t code) noexcept {
    peer_code_.store(code, std::memory_order_relaxed);
  }

private:
  std::atomic<std::uint16_t> peer_code_{0};
};

class websocket_session final : private websocket::frame_decoder::sink {
public:
  websocket_session(net::connection& conn, std::unique_ptr<net::connection_handler> inner,
                    std::shared_ptr<websocket_framer> framer, std::size_t max_message_size);
  websocket_session(const websocket_session&) = delete;
  websocket_session& operator=(const websocket_session&) = delete;

  // Starts the inner handler, then decodes bytes that came pipelined after the upgrade request.
  void start(std::string_view pipelined);
  void on_bytes(bytes_view data);
  void on_writable();
  void on_shutdown();
  void on_closed(std::error_code reason);

private:
  bool on_data(bytes_view data) override;
  bool on_ping(bytes_view payload) override;
  bool on_pong(bytes_view payload) override;
  void on_close(std::uint16_t code, std::string_view reason) override;

  net::connection& conn_;
  std::unique_ptr<net::connection_handler> inner_;
  std::shared_ptr<websocket_framer> framer_;
  websocket::frame_decoder decoder_;
  bool started_ = false;
};

} // namespace aegis::http::detail
