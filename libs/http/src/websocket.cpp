// The RFC 6455 frame codec (websocket.hpp): a byte-at-a-time header state machine, payload
// unmasked in small chunks. Needs nothing but the standard library, so the fuzz target builds it
// alone; the handshake is in websocket_handshake.cpp.

#include "aegis/http/websocket.hpp"

#include <algorithm>

namespace aegis::http::websocket {

namespace {

constexpr std::size_t max_control_payload = 125;
// Unmasked payload is handed on in pieces of this size: a bounded stack buffer, no allocation.
constexpr std::size_t unmask_chunk = 4096;

bool is_control(opcode op) noexcept {
  return (static_cast<std::uint8_t>(op) & 0x8U) != 0;
}

void append_header(bytes& out, opcode op, bool fin, std::size_t size, bool masked) {
  out.push_back(static_cast<std::uint8_t>((fin ? 0x80U : 0x00U) | static_cast<std::uint8_t>(op)));
  const std::uint8_t mask_bit = masked ? 0x80U : 0x00U;
  if (size < 126) {
    out.push_back(static_cast<std::uint8_t>(mask_bit | size));
  } else if (size <= 0xFFFF) {
    out.push_back(static_cast<std::uint8_t>(mask_bit | 126U));
    out.push_back(static_cast<std::uint8_t>(size >> 8));
    out.push_back(static_cast<std::uint8_t>(size & 0xFFU));
  } else {
    out.push_back(static_cast<std::uint8_t>(mask_bit | 127U));
    const auto n = static_cast<std::uint64_t>(size);
    for (int shift = 56; shift >= 0; shift -= 8) {
      out.push_back(static_cast<std::uint8_t>((n >> shift) & 0xFFU));
    }
  }
}

} // namespace

bytes encode_frame(opcode op, bytes_view payload) {
  bytes out;
  out.reserve(payload.size() + 10);
  append_header(out, op, true, payload.size(), false);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

bytes encode_close(std::uint16_t code, std::string_view reason) {
  // A control payload holds at most 125 bytes: the code and 123 of the reason, cut at a
  // character boundary so that the peer does not fail us with 1007.
  std::string_view text = reason.substr(0, std::min<std::size_t>(reason.size(), 123));
  while (!text.empty() && !valid_utf8(text)) {
    text.remove_suffix(1);
  }
  bytes payload;
  payload.reserve(2 + text.size());
  payload.push_back(static_cast<std::uint8_t>(code >> 8));
  payload.push_back(static_cast<std::uint8_t>(code & 0xFFU));
  payload.insert(payload.end(), text.begin(), text.end());
  return encode_frame(opcode::close, payload);
}

bytes encode_client_frame(opcode op, bytes_view payload, std::array<std::uint8_t, 4> mask,
                          bool fin) {
  bytes out;
  out.reserve(payload.size() + 14);
  append_header(out, op, fin, payload.size(), true);
  out.insert(out.end(), mask.begin(), mask.end());
  for (std::size_t i = 0; i < payload.size(); ++i) {
    out.push_back(static_cast<std::uint8_t>(payload[i] ^ mask[i % 4]));
  }
  return out;
}

bool valid_received_close_code(std::uint16_t code) noexcept {
  // 1004, 1005, 1006 and 1015 are reserved: never sent in a frame.
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

bool valid_utf8(std::string_view text) noexcept {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<std::uint8_t>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t extra = 0;
    std::uint32_t cp = 0;
    std::uint32_t min = 0;
    if ((c & 0xE0U) == 0xC0U) {
      extra = 1;
      cp = c & 0x1FU;
      min = 0x80;
    } else if ((c & 0xF0U) == 0xE0U) {
      extra = 2;
      cp = c & 0x0FU;
      min = 0x800;
    } else if ((c & 0xF8U) == 0xF0U) {
      extra = 3;
      cp = c & 0x07U;
      min = 0x10000;
    } else {
      return false;
    }
    if (text.size() - i <= extra) {
      return false;
    }
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto cc = static_cast<std::uint8_t>(text[i + k]);
      if ((cc & 0xC0U) != 0x80U) {
        return false;
      }
      cp = (cp << 6) | (cc & 0x3FU);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

frame_decoder::status frame_decoder::fail(std::uint16_t code, std::string_view message) noexcept {
  status_ = status::failed;
  failure_code_ = code;
  failure_message_ = message;
  return status_;
}

std::size_t frame_decoder::header_size() const noexcept {
  if (header_have_ < 2) {
    return 2;
  }
  const std::uint8_t len7 = header_[1] & 0x7FU;
  const std::size_t extended = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
  return 2 + extended + 4; // client frames are always masked
}

bool frame_decoder::header_complete() {
  if (header_have_ == 2) {
    // What the first two bytes decide, checked before waiting for the rest.
    const std::uint8_t b0 = header_[0];
    const std::uint8_t b1 = header_[1];
    if ((b0 & 0x70U) != 0) {
      fail(close_code::protocol_error, "reserved bits set (no extension was negotiated)");
      return false;
    }
    fin_ = (b0 & 0x80U) != 0;
    const std::uint8_t raw_op = b0 & 0x0FU;
    switch (raw_op) {
    case 0x0:
    case 0x2:
    case 0x8:
    case 0x9:
    case 0xA:
      op_ = static_cast<opcode>(raw_op);
      break;
    case 0x1:
      fail(close_code::unsupported_data, "text messages are not accepted");
      return false;
    default:
      fail(close_code::protocol_error, "reserved opcode");
      return false;
    }
    if ((b1 & 0x80U) == 0) {
      fail(close_code::protocol_error, "client frame not masked");
      return false;
    }
    const std::uint8_t len7 = b1 & 0x7FU;
    if (is_control(op_)) {
      if (!fin_) {
        fail(close_code::protocol_error, "fragmented control frame");
        return false;
      }
      if (len7 > max_control_payload) {
        fail(close_code::protocol_error, "control frame longer than 125 bytes");
        return false;
      }
    } else if (op_ == opcode::continuation && !in_message_) {
      fail(close_code::protocol_error, "continuation frame without a message");
      return false;
    } else if (op_ == opcode::binary && in_message_) {
      fail(close_code::protocol_error, "new message before the last one ended");
      return false;
    }
    return true;
  }
  // The whole header is here.
  const std::uint8_t len7 = header_[1] & 0x7FU;
  std::size_t at = 2;
  std::uint64_t size = len7;
  if (len7 == 126) {
    size = (std::uint64_t{header_[2]} << 8) | header_[3];
    at = 4;
    if (size < 126) {
      fail(close_code::protocol_error, "length not in its shortest form");
      return false;
    }
  } else if (len7 == 127) {
    size = 0;
    for (std::size_t i = 2; i < 10; ++i) {
      size = (size << 8) | header_[i];
    }
    at = 10;
    if ((size >> 63) != 0) {
      fail(close_code::protocol_error, "64-bit length with the top bit set");
      return false;
    }
    if (size <= 0xFFFF) {
      fail(close_code::protocol_error, "length not in its shortest form");
      return false;
    }
  }
  std::copy_n(header_.begin() + static_cast<std::ptrdiff_t>(at), 4, mask_.begin());
  if (!is_control(op_)) {
    const std::uint64_t before = op_ == opcode::binary ? 0 : message_size_;
    if (size > limits_.max_message_size || before > limits_.max_message_size - size) {
      fail(close_code::message_too_big, "message larger than the maximum");
      return false;
    }
    message_size_ = before + size;
    in_message_ = !fin_;
  }
  payload_size_ = size;
  payload_done_ = 0;
  return true;
}

bool frame_decoder::finish_control(sink& s) {
  const bytes_view payload(control_.data(), static_cast<std::size_t>(payload_size_));
  switch (op_) {
  case opcode::ping:
    if (!s.on_ping(payload)) {
      status_ = status::stopped;
      return false;
    }
    return true;
  case opcode::pong:
    if (!s.on_pong(payload)) {
      status_ = status::stopped;
      return false;
    }
    return true;
  case opcode::close: {
    std::uint16_t code = close_code::no_status;
    std::string_view reason;
    if (payload.size() == 1) {
      fail(close_code::protocol_error, "close frame with a one-byte payload");
      return false;
    }
    if (payload.size() >= 2) {
      code = static_cast<std::uint16_t>((payload[0] << 8) | payload[1]);
      if (!valid_received_close_code(code)) {
        fail(close_code::protocol_error, "invalid close code");
        return false;
      }
      reason = as_string_view(payload.subspan(2));
      if (!valid_utf8(reason)) {
        fail(close_code::invalid_payload, "close reason is not UTF-8");
        return false;
      }
    }
    status_ = status::closed;
    s.on_close(code, reason);
    return false;
  }
  default:
    fail(close_code::internal_error, "unexpected control opcode");
    return false;
  }
}

frame_decoder::status frame_decoder::feed(bytes_view data, sink& s) {
  std::size_t pos = 0;
  while (status_ == status::open) {
    if (!in_payload_) {
      while (pos < data.size() && header_have_ < header_size()) {
        header_[header_have_++] = data[pos++];
        if (header_have_ == 2 && !header_complete()) {
          return status_;
        }
      }
      if (header_have_ < header_size()) {
        return status_; // everything consumed; the header continues in the next feed
      }
      if (!header_complete()) {
        return status_;
      }
      header_have_ = 0;
      in_payload_ = true;
    }
    const std::size_t available = data.size() - pos;
    const auto remaining = payload_size_ - payload_done_;
    if (is_control(op_)) {
      const auto take =
          static_cast<std::size_t>(std::min<std::uint64_t>(remaining, std::uint64_t{available}));
      for (std::size_t i = 0; i < take; ++i) {
        const auto at = static_cast<std::size_t>(payload_done_) + i;
        control_[at] = static_cast<std::uint8_t>(data[pos + i] ^ mask_[at % 4]);
      }
      pos += take;
      payload_done_ += take;
      if (payload_done_ < payload_size_) {
        return status_;
      }
      in_payload_ = false;
      if (!finish_control(s)) {
        return status_;
      }
      continue;
    }
    std::array<std::uint8_t, unmask_chunk> plain; // NOLINT(cppcoreguidelines-pro-type-member-init)
    while (payload_done_ < payload_size_ && pos < data.size()) {
      const auto take = static_cast<std::size_t>(
          std::min<std::uint64_t>({payload_size_ - payload_done_, std::uint64_t{data.size() - pos},
                                   std::uint64_t{unmask_chunk}}));
      const auto offset = static_cast<std::size_t>(payload_done_ % 4);
      for (std::size_t i = 0; i < take; ++i) {
        plain[i] = static_cast<std::uint8_t>(data[pos + i] ^ mask_[(offset + i) % 4]);
      }
      pos += take;
      payload_done_ += take;
      if (!s.on_data(bytes_view(plain.data(), take))) {
        status_ = status::stopped;
        return status_;
      }
    }
    if (payload_done_ < payload_size_) {
      return status_;
    }
    in_payload_ = false;
  }
  return status_;
}

} // namespace aegis::http::websocket
