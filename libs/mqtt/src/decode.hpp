#pragma once

// Body decoders shared by decode() and frame_decoder.

#include "aegis/base/bytes.hpp"
#include "aegis/mqtt/errors.hpp"
#include "aegis/mqtt/packet.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>

namespace aegis::mqtt::detail {

struct decode_context {
  // In force; decoding a CONNECT sets it as soon as the Protocol Level is read, so an error
  // later in that CONNECT is answered in its version.
  std::optional<protocol_version> version;
  sender from = sender::either;
  bool validate_payload_format = true;
};

// Type, flag, sequence and direction rules of the first byte of the fixed header.
mqtt_errc check_first_byte(std::uint8_t byte, const decode_context& ctx) noexcept;

// Decodes the body of a packet whose first byte passed check_first_byte. With `payload`
// non-null (a split PUBLISH), `body` is just the variable header and the payload is taken
// from *payload.
mqtt_errc decode_body(std::uint8_t first_byte, bytes_view body, bytes* payload, decode_context& ctx,
                      packet& out);

// How long a PUBLISH variable header is, as far as the first `have` bytes of the body show:
// a value > have.size() asks for that many bytes; == have.size() means the header is complete.
// Never more than `remaining`; a header that does not fit makes the whole body the "header",
// so decode_body reports the same error as for an unsplit packet.
std::size_t publish_header_need(std::uint8_t first_byte, bytes_view have, protocol_version version,
                                std::size_t remaining) noexcept;

} // namespace aegis::mqtt::detail
