#include "aegis/mqtt/codec.hpp"
#include "checks.hpp"
#include "decode.hpp"

#include <algorithm>

namespace aegis::mqtt {
namespace {

// A buffer grown for one large packet is given back rather than held for the connection's life.
constexpr std::size_t retained_buffer_capacity = 16 * 1024;

// Reserved up front for a split packet: enough for one allocation (and one copy) of typical
// packets, while a peer that sends only a fixed header claiming a large packet pins no more
// than this. Larger packets grow as their bytes actually arrive.
constexpr std::size_t max_upfront_reservation = 64 * 1024;

void reserve_for(bytes& buffer, std::size_t expected) {
  buffer.reserve(std::min(expected, max_upfront_reservation));
}

void append(bytes& to, bytes_view& input, std::size_t n) {
  to.insert(to.end(), input.begin(), input.begin() + static_cast<std::ptrdiff_t>(n));
  input = input.subspan(n);
}

} // namespace

frame_decoder::frame_decoder(decoder_options options) : options_(options) {}

std::size_t frame_decoder::buffered() const noexcept {
  return (first_byte_ != 0 ? 1U : 0U) + length_bytes_ + body_.size() + payload_.size();
}

void frame_decoder::reset_packet() noexcept {
  stage_ = stage::fixed_header;
  first_byte_ = 0;
  length_bytes_ = 0;
  remaining_ = 0;
  header_length_ = 0;
  body_.clear();
  if (body_.capacity() > retained_buffer_capacity) {
    bytes().swap(body_);
  }
  bytes().swap(payload_);
}

result<std::optional<packet>> frame_decoder::fail(mqtt_errc code,
                                                  std::optional<protocol_version> version) {
  if (!failure_) {
    std::optional<packet_type> during;
    if (const unsigned type = first_byte_ >> 4U; type != 0) {
      during = static_cast<packet_type>(type);
    }
    failure_ =
        decode_failure{code, during, version, response_to(code, during, version, options_.from)};
  }
  stage_ = stage::failed;
  return failure_->code;
}

result<std::optional<packet>> frame_decoder::finish(bytes_view body, bytes* payload) {
  detail::decode_context ctx{options_.version, options_.from, options_.validate_payload_format};
  // Decoded where it is returned from, to save a move of the whole variant.
  std::optional<packet> out(std::in_place);
  if (auto e = detail::decode_body(first_byte_, body, payload, ctx, *out); e != detail::no_error) {
    // ctx.version: an error in a CONNECT is answered in the version that CONNECT asked for.
    return fail(e, ctx.version);
  }
  if (!options_.version) {
    options_.version = ctx.version;
  }
  reset_packet();
  return out;
}

result<std::optional<packet>> frame_decoder::start_body(bytes_view& input) {
  if (input.size() >= remaining_) {
    // Whole body at hand: parse it where it lies.
    const bytes_view body = input.first(remaining_);
    input = input.subspan(remaining_);
    return finish(body, nullptr);
  }
  if (static_cast<packet_type>(first_byte_ >> 4U) == packet_type::publish) {
    stage_ = stage::publish_header;
  } else {
    stage_ = stage::body;
    reserve_for(body_, remaining_);
  }
  return std::optional<packet>();
}

result<std::optional<packet>> frame_decoder::next(bytes_view& input) {
  while (true) {
    switch (stage_) {
    case stage::failed:
      return failure_->code;

    case stage::fixed_header: {
      if (input.empty()) {
        return std::optional<packet>();
      }
      const std::uint8_t b = input.front();
      input = input.subspan(1);
      if (first_byte_ == 0 && length_bytes_ == 0) {
        first_byte_ = b;
        detail::decode_context ctx{options_.version, options_.from,
                                   options_.validate_payload_format};
        if (auto e = detail::check_first_byte(b, ctx); e != detail::no_error) {
          return fail(e, options_.version);
        }
        continue;
      }
      // Remaining Length, §2.2.3 / §1.5.5.
      remaining_ |= std::uint32_t{b & 0x7FU} << (7U * length_bytes_);
      ++length_bytes_;
      if ((b & 0x80U) != 0) {
        if (length_bytes_ == 4) {
          return fail(mqtt_errc::variable_byte_integer_too_long, options_.version);
        }
        continue;
      }
      if (length_bytes_ > 1 && b == 0) {
        return fail(mqtt_errc::variable_byte_integer_not_minimal, options_.version);
      }
      if (std::size_t{1} + length_bytes_ + remaining_ > options_.maximum_packet_size) {
        return fail(mqtt_errc::packet_too_large, options_.version);
      }
      auto r = start_body(input);
      if (!r || r->has_value()) {
        return r;
      }
      continue;
    }

    case stage::body: {
      const std::size_t n = std::min<std::size_t>(remaining_ - body_.size(), input.size());
      append(body_, input, n);
      if (body_.size() < remaining_) {
        return std::optional<packet>();
      }
      return finish(body_, nullptr);
    }

    case stage::publish_header: {
      const auto version = options_.version.value_or(protocol_version::v5);
      const std::size_t need = detail::publish_header_need(first_byte_, body_, version, remaining_);
      if (body_.size() < need) {
        append(body_, input, std::min(need - body_.size(), input.size()));
        if (body_.size() < need) {
          return std::optional<packet>();
        }
        continue; // the header may turn out longer now that more of it is known
      }
      header_length_ = need;
      if (header_length_ == remaining_) {
        return finish(body_, &payload_);
      }
      reserve_for(payload_, remaining_ - header_length_);
      stage_ = stage::publish_payload;
      continue;
    }

    case stage::publish_payload: {
      const std::size_t want = remaining_ - header_length_;
      append(payload_, input, std::min(want - payload_.size(), input.size()));
      if (payload_.size() < want) {
        return std::optional<packet>();
      }
      return finish(body_, &payload_);
    }
    }
  }
}

} // namespace aegis::mqtt
