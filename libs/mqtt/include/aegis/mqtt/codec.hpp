#pragma once

// Sans-I/O encoder and decoder (STYLE.md habit 1): bytes in, packets out, and the reverse. No
// sockets, clocks, threads or logging.
//
// Ownership and copies:
//  - Decoded packets own their bytes. A packet that arrives whole in one input chunk is parsed
//    straight from the chunk; only a packet split across chunks is buffered, and a split PUBLISH
//    buffers just its variable header: its payload is copied from the chunks directly into
//    publish::payload. Either way each payload byte is copied once (payloads over 64 KiB that
//    arrive split may be moved again as their buffer grows: nothing larger is reserved before
//    its bytes arrive).
//  - The encoder appends to a caller's buffer (encode_to), so a reused buffer allocates nothing
//    in steady state; encode_publish_header writes everything but the payload, for a gather
//    write that never copies the payload at all.
//
// The decoder checks every rule of the specs that one packet shows (see errors.hpp); rules that
// need session state (Topic Alias Maximum, Receive Maximum, a second CONNECT, ...) are the
// session's. The encoder checks framing (lengths, sizes, version) and cheap structural rules
// (packet identifiers, QoS values, empty lists, reason codes) but trusts string contents and
// property values: the caller built them.

#include "aegis/base/bytes.hpp"
#include "aegis/base/error.hpp"
#include "aegis/mqtt/errors.hpp"
#include "aegis/mqtt/packet.hpp"
#include "aegis/mqtt/protocol.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>

namespace aegis::mqtt {

// Size of `p` on the wire, fixed header included.
result<std::size_t> encoded_size(const packet& p, protocol_version version);
// Appends the encoding of `p` to `out`. On error `out` is unchanged.
result<void> encode_to(const packet& p, protocol_version version, bytes& out);
result<bytes> encode(const packet& p, protocol_version version);

// The same for one packet struct, so that encoding a `publish` does not first copy it (and its
// payload) into a `packet`. Instantiated in the library for every packet_body.
template <packet_body P>
result<std::size_t> encoded_size(const P& p, protocol_version version);
template <packet_body P>
result<void> encode_to(const P& p, protocol_version version, bytes& out);
template <packet_body P>
result<bytes> encode(const P& p, protocol_version version);
// Appends a PUBLISH without its payload; the remaining length counts the payload, so
// the caller sends `out` then `p.payload` (e.g. one writev) and the packet is complete.
result<void> encode_publish_header(const publish& p, protocol_version version, bytes& out);

struct decoder_options {
  // Protocol in force. nullopt (a server before CONNECT): the first packet must be CONNECT and
  // its Protocol Level sets the version for the packets after it.
  std::optional<protocol_version> version;
  sender from = sender::either;
  // Whole packets (fixed header included) over this are refused from the fixed header alone,
  // before any of the body is buffered; the decoder never holds more than this per connection.
  // The default is the protocol's maximum: servers set their own.
  std::uint32_t maximum_packet_size = max_packet_size;
  // Check that payloads marked Payload Format Indicator = 1 are UTF-8 (§3.3.2.3.2 MAY).
  bool validate_payload_format = true;
};

// Decodes exactly one packet, fixed header included, that fills `data`.
result<packet> decode(bytes_view data, const decoder_options& options = {});

// Why a frame_decoder stopped, and what the connection should do about it.
struct decode_failure {
  mqtt_errc code{};
  std::optional<packet_type> during; // type of the refused packet, if its first byte was read
  std::optional<protocol_version> version;
  error_response response;
};

// Splits a byte stream into packets. Chunks may be split anywhere, even inside the fixed header.
// Not thread-safe; one per connection.
class frame_decoder {
public:
  explicit frame_decoder(decoder_options options = {});

  // Consumes bytes from the front of `input` (advancing it) until one packet is complete, and
  // returns it; or consumes all of `input`, keeps what it needs of an incomplete packet, and
  // returns nullopt. Call again while `input` is not empty. After an error the decoder is
  // spent: every later call returns the same error, and failure() says what to do.
  result<std::optional<packet>> next(bytes_view& input);

  std::optional<protocol_version> version() const noexcept { return options_.version; }
  // For a client, or a server that learnt the version some other way.
  void set_version(protocol_version version) noexcept { options_.version = version; }
  const decoder_options& options() const noexcept { return options_; }
  // Set once next() has returned an error.
  const std::optional<decode_failure>& failure() const noexcept { return failure_; }
  // Bytes held for a packet not yet complete (0 between packets).
  std::size_t buffered() const noexcept;

private:
  enum class stage : std::uint8_t { fixed_header, body, publish_header, publish_payload, failed };

  result<std::optional<packet>> fail(mqtt_errc code, std::optional<protocol_version> version);
  result<std::optional<packet>> finish(bytes_view body, bytes* payload);
  result<std::optional<packet>> start_body(bytes_view& input);
  void reset_packet() noexcept;

  decoder_options options_;
  stage stage_ = stage::fixed_header;
  std::uint8_t first_byte_ = 0;
  std::uint8_t length_bytes_ = 0; // remaining length bytes read so far
  std::uint32_t remaining_ = 0;   // remaining length, once length_bytes_ ends the varint
  std::size_t header_length_ = 0; // PUBLISH variable header length, once known
  bytes body_;                    // buffered body, or a PUBLISH's variable header
  bytes payload_;                 // a split PUBLISH's payload, filled in place
  std::optional<decode_failure> failure_;
};

} // namespace aegis::mqtt
