#pragma once

// RFC 6455 WebSocket, server side, sans-I/O: the opening-handshake check on an already parsed
// HTTP request, the 101 answer, a frame decoder fed bytes in any split, and the server's frame
// encoder. No sockets, no libs/net: the HTTP server (server.hpp, websocket_routes) drives it, and
// the fuzz target drives the decoder alone.
//
// Only what a byte-stream protocol on top (MQTT over WebSocket) needs: binary messages, whose
// payload is handed on as a stream (a frame may hold several packets of the protocol above, and
// a packet may span frames), ping/pong and the close handshake. Text messages and extensions
// (permessage-deflate) are not offered.

#include "aegis/base/bytes.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aegis::http::websocket {

// RFC 6455 §7.4.1 status codes this side sends or checks.
namespace close_code {
inline constexpr std::uint16_t normal = 1000;
inline constexpr std::uint16_t going_away = 1001;
inline constexpr std::uint16_t protocol_error = 1002;
inline constexpr std::uint16_t unsupported_data = 1003; // a text message: MQTT is binary
inline constexpr std::uint16_t no_status = 1005;        // a close frame without a code
inline constexpr std::uint16_t invalid_payload = 1007;  // a close reason that is not UTF-8
inline constexpr std::uint16_t policy_violation = 1008;
inline constexpr std::uint16_t message_too_big = 1009;
inline constexpr std::uint16_t internal_error = 1011;
} // namespace close_code

enum class opcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

// --- opening handshake (RFC 6455 §4.2) ------------------------------------------------------

using header_fields = std::vector<std::pair<std::string, std::string>>;

struct handshake_result {
  bool accepted = false;
  // Refused: 400, or 426 for an unsupported Sec-WebSocket-Version (answer with
  // "Sec-WebSocket-Version: 13").
  unsigned status = 400;
  std::string message;
  std::string accept; // accepted: the Sec-WebSocket-Accept value
};

// True when the request asks for a WebSocket upgrade at all ("Upgrade" holds the token
// "websocket"); such a request on a WebSocket route is answered by check_handshake, any other
// goes to the ordinary request handler.
bool wants_upgrade(const header_fields& headers);

// Checks the client's opening handshake: GET, HTTP/1.1 or later, Upgrade: websocket,
// Connection holding the token "upgrade", exactly one Sec-WebSocket-Key that is base64 of 16
// bytes, Sec-WebSocket-Version: 13, and a Sec-WebSocket-Protocol list holding `subprotocol`.
handshake_result check_handshake(std::string_view method, unsigned http_version,
                                 const header_fields& headers, std::string_view subprotocol);

// base64(SHA-1(key + the RFC's GUID)).
std::string accept_value(std::string_view key);

// "HTTP/1.1 101 Switching Protocols" with Upgrade, Connection, Sec-WebSocket-Accept and
// Sec-WebSocket-Protocol.
std::string switching_protocols(std::string_view accept, std::string_view subprotocol);

// --- frames ---------------------------------------------------------------------------------

// A server frame: FIN set, unmasked (RFC 6455 §5.1: a server never masks).
bytes encode_frame(opcode op, bytes_view payload);
// A close frame with a status code and an optional UTF-8 reason (cut to fit 125 bytes).
bytes encode_close(std::uint16_t code, std::string_view reason = {});
// A client frame (masked with `mask`), for tests and the fuzz target.
bytes encode_client_frame(opcode op, bytes_view payload, std::array<std::uint8_t, 4> mask,
                          bool fin = true);

// Valid in a close frame received from a peer (§7.4: 1000-1003, 1007-1014, 3000-4999).
bool valid_received_close_code(std::uint16_t code) noexcept;
// Strict UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF).
bool valid_utf8(std::string_view text) noexcept;

struct decoder_limits {
  // The largest binary message (the sum of its fragments); larger closes with 1009 before any
  // of its payload is read. Nothing is buffered per message: payload is streamed through.
  std::size_t max_message_size = 1024 * 1024;
};

// Client frames in, events out, in stream order. Buffers at most one frame header (14 bytes)
// and one control-frame payload (125 bytes): binary payload is unmasked in small chunks and
// handed on at once.
class frame_decoder {
public:
  class sink {
  public:
    virtual ~sink() = default;
    // Unmasked payload of binary messages, in order, in any split. False stops decoding.
    virtual bool on_data(bytes_view data) = 0;
    // False stops decoding.
    virtual bool on_ping(bytes_view payload) = 0;
    virtual bool on_pong(bytes_view payload) = 0;
    // The peer's close frame (no_status when it carried no code); decoding ends.
    virtual void on_close(std::uint16_t code, std::string_view reason) = 0;
  };

  enum class status {
    open,    // more frames may come
    closed,  // a valid close frame was received; what follows it is ignored
    failed,  // a protocol violation: close with failure_code()
    stopped, // the sink asked to stop
  };

  explicit frame_decoder(decoder_limits limits = {}) noexcept : limits_(limits) {}

  // Consumes `data`, calling `s` for each event. Once not `open`, further calls do nothing.
  status feed(bytes_view data, sink& s);
  status state() const noexcept { return status_; }
  std::uint16_t failure_code() const noexcept { return failure_code_; }
  std::string_view failure_message() const noexcept { return failure_message_; }

private:
  status fail(std::uint16_t code, std::string_view message) noexcept;
  bool header_complete(); // validates what the header holds so far; false on failure
  std::size_t header_size() const noexcept;
  bool finish_control(sink& s);

  decoder_limits limits_;
  status status_ = status::open;
  std::uint16_t failure_code_ = 0;
  std::string_view failure_message_; // points at a string literal

  std::array<std::uint8_t, 14> header_{};
  std::size_t header_have_ = 0;
  bool in_payload_ = false;
  // The current frame.
  bool fin_ = false;
  opcode op_ = opcode::binary;
  std::array<std::uint8_t, 4> mask_{};
  std::uint64_t payload_size_ = 0;
  std::uint64_t payload_done_ = 0;
  // A binary message whose final frame has not come yet.
  bool in_message_ = false;
  std::uint64_t message_size_ = 0;
  // A control frame's payload, collected whole (at most 125 bytes).
  std::array<std::uint8_t, 125> control_{};
};

} // namespace aegis::http::websocket
