#include "websocket_session.hpp"

#include "aegis/base/log.hpp"
#include "aegis/net/errors.hpp"

namespace aegis::http::detail {

std::string_view describe(websocket_errc e) noexcept {
  switch (e) {
  case websocket_errc::protocol_error:
    return "WebSocket protocol error";
  case websocket_errc::unsupported_data:
    return "WebSocket text message refused";
  case websocket_errc::invalid_payload:
    return "WebSocket close reason not UTF-8";
  case websocket_errc::message_too_big:
    return "WebSocket message too big";
  case websocket_errc::internal_error:
    return "WebSocket inner handler unavailable";
  }
  return "WebSocket error";
}

std::uint16_t close_code_for(std::error_code reason) noexcept {
  if (reason.category() == make_error_code(websocket_errc::protocol_error).category()) {
    return static_cast<std::uint16_t>(reason.value());
  }
  if (!reason || reason == net::net_errc::peer_closed) {
    return websocket::close_code::normal;
  }
  if (reason == net::net_errc::server_shutdown) {
    return websocket::close_code::going_away;
  }
  if (reason == net::net_errc::handler_failed) {
    return websocket::close_code::internal_error;
  }
  return websocket::close_code::policy_violation;
}

bytes websocket_framer::frame(bytes_view payload) const {
  return websocket::encode_frame(websocket::opcode::binary, payload);
}

bytes websocket_framer::closing(std::error_code reason) const {
  const std::uint16_t peer = peer_code_.load(std::memory_order_relaxed);
  // RFC 6455 §5.5.1: the answer to a close frame typically echoes its code; a close frame
  // without one is answered with 1000.
  if (reason == net::net_errc::peer_closed && peer != 0 &&
      peer != websocket::close_code::no_status) {
    return websocket::encode_close(peer);
  }
  return websocket::encode_close(close_code_for(reason));
}

websocket_session::websocket_session(net::connection& conn,
                                     std::unique_ptr<net::connection_handler> inner,
                                     std::shared_ptr<websocket_framer> framer,
                                     std::size_t max_message_size)
    : conn_(conn), inner_(std::move(inner)), framer_(std::move(framer)),
      decoder_(websocket::decoder_limits{max_message_size}) {}

void websocket_session::start(std::string_view pipelined) {
  started_ = true;
  inner_->on_start(conn_);
  if (!pipelined.empty() && !conn_.closing()) {
    on_bytes(as_bytes(pipelined));
  }
}

void websocket_session::on_bytes(bytes_view data) {
  if (conn_.closing() || decoder_.state() != websocket::frame_decoder::status::open) {
    return;
  }
  if (decoder_.feed(data, *this) == websocket::frame_decoder::status::failed) {
    log::info("http", "connection {} from {}: WebSocket closed with {}: {}", conn_.id(),
              conn_.remote_address(), decoder_.failure_code(), decoder_.failure_message());
    // The code goes out in the close frame the framer writes last.
    conn_.close(std::error_code(static_cast<int>(decoder_.failure_code()),
                                make_error_code(websocket_errc::protocol_error).category()),
                net::close_mode::flush);
  }
}

void websocket_session::on_writable() {
  inner_->on_writable(conn_);
}

void websocket_session::on_shutdown() {
  inner_->on_shutdown(conn_);
}

void websocket_session::on_closed(std::error_code reason) {
  if (started_) {
    inner_->on_closed(conn_, reason);
  }
}

bool websocket_session::on_data(bytes_view data) {
  if (conn_.closing()) {
    return false;
  }
  inner_->on_bytes(conn_, data);
  return !conn_.closing();
}

bool websocket_session::on_ping(bytes_view payload) {
  (void)conn_.send_unframed(websocket::encode_frame(websocket::opcode::pong, payload));
  return !conn_.closing();
}

bool websocket_session::on_pong(bytes_view /*payload*/) {
  return true; // we send no pings: an unsolicited pong is allowed and ignored (§5.5.3)
}

void websocket_session::on_close(std::uint16_t code, std::string_view /*reason*/) {
  // The peer's orderly end: answer with a close frame echoing its code, and close; the inner
  // handler hears peer_closed, as after a TCP FIN.
  framer_->peer_closed_with(code);
  conn_.close(net::net_errc::peer_closed, net::close_mode::flush);
}

} // namespace aegis::http::detail
