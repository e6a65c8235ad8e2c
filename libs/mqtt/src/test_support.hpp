#pragma once

// Helpers for the unit tests: run one input through every decoding path and insist they agree.

#include "aegis/mqtt/codec.hpp"
#include "test_vectors.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace aegis::mqtt::test {

struct stream_result {
  std::vector<packet> packets;
  std::optional<mqtt_errc> error;
  std::optional<decode_failure> failure;
};

// Feeds `wire` to a fresh frame_decoder in chunks of `chunk` bytes (0: all at once).
inline stream_result feed(bytes_view wire, const decoder_options& options, std::size_t chunk = 0) {
  frame_decoder decoder(options);
  stream_result out;
  std::size_t pos = 0;
  while (pos < wire.size() && !out.error) {
    const std::size_t n = chunk == 0 ? wire.size() - pos : std::min(chunk, wire.size() - pos);
    bytes_view input = wire.subspan(pos, n);
    pos += n;
    while (!input.empty()) {
      auto r = decoder.next(input);
      if (!r) {
        out.error = static_cast<mqtt_errc>(r.error().value());
        out.failure = decoder.failure();
        break;
      }
      if (!r->has_value()) {
        break;
      }
      out.packets.push_back(std::move(**r));
    }
  }
  return out;
}

// A packet from its first byte and body; the Remaining Length is computed.
inline bytes frame(std::uint8_t first_byte, std::string_view body_hex) {
  const bytes body = hex(body_hex);
  bytes out{first_byte};
  std::size_t n = body.size();
  do {
    auto digit = static_cast<std::uint8_t>(n % 128);
    n /= 128;
    if (n > 0) {
      digit = static_cast<std::uint8_t>(digit | 0x80);
    }
    out.push_back(digit);
  } while (n > 0);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

inline decoder_options options_for(std::optional<protocol_version> version,
                                   sender from = sender::either) {
  decoder_options o;
  o.version = version;
  o.from = from;
  return o;
}

// The error decode() reports for one whole packet; the frame_decoder, fed at once and byte
// by byte, must report the same one. nullopt if all accept it.
inline std::optional<mqtt_errc> decode_error(const bytes& wire, const decoder_options& options) {
  const auto single = decode(wire, options);
  const auto whole = feed(wire, options);
  const auto bytewise = feed(wire, options, 1);
  std::optional<mqtt_errc> single_error;
  if (!single) {
    EXPECT_EQ(single.error().category().name(), std::string("aegis.mqtt"));
    single_error = static_cast<mqtt_errc>(single.error().value());
  }
  EXPECT_EQ(single_error, whole.error) << "decode() and frame_decoder disagree";
  EXPECT_EQ(whole.error, bytewise.error) << "whole and byte-wise feeding disagree";
  if (!single_error) {
    EXPECT_EQ(whole.packets.size(), 1U);
  }
  return single_error;
}

inline std::optional<mqtt_errc> decode_error(std::string_view hex_wire, protocol_version version,
                                             sender from = sender::either) {
  return decode_error(hex(hex_wire), options_for(version, from));
}

} // namespace aegis::mqtt::test
