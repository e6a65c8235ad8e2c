#pragma once

// Primitive reads and writes of MQTT data representations (§1.5). The reader never reads past
// its view and reports a short field as `truncated`. Writers come in two kinds with one
// interface, so each packet's layout is written once and used both to size and to write it.

#include "aegis/base/bytes.hpp"
#include "aegis/mqtt/protocol.hpp"
#include "checks.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace aegis::mqtt::detail {

constexpr std::size_t varint_size(std::uint32_t v) noexcept {
  return v < 128U ? 1 : v < 16'384U ? 2 : v < 2'097'152U ? 3 : 4;
}

class reader {
public:
  explicit reader(bytes_view data) noexcept : data_(data) {}

  std::size_t left() const noexcept { return data_.size() - pos_; }
  bool at_end() const noexcept { return pos_ == data_.size(); }
  bytes_view rest() const noexcept { return data_.subspan(pos_); }

  mqtt_errc u8(std::uint8_t& v) noexcept {
    if (left() < 1) {
      return mqtt_errc::truncated;
    }
    v = data_[pos_++];
    return no_error;
  }
  mqtt_errc u16(std::uint16_t& v) noexcept {
    if (left() < 2) {
      return mqtt_errc::truncated;
    }
    v = static_cast<std::uint16_t>((data_[pos_] << 8) | data_[pos_ + 1]);
    pos_ += 2;
    return no_error;
  }
  mqtt_errc u32(std::uint32_t& v) noexcept {
    if (left() < 4) {
      return mqtt_errc::truncated;
    }
    v = (std::uint32_t{data_[pos_]} << 24) | (std::uint32_t{data_[pos_ + 1]} << 16) |
        (std::uint32_t{data_[pos_ + 2]} << 8) | std::uint32_t{data_[pos_ + 3]};
    pos_ += 4;
    return no_error;
  }
  // §1.5.5: at most four bytes, shortest form [MQTT-1.5.5-1].
  mqtt_errc varint(std::uint32_t& v) noexcept {
    std::uint32_t value = 0;
    for (unsigned i = 0; i < 4; ++i) {
      std::uint8_t b = 0;
      if (auto e = u8(b); e != no_error) {
        return e;
      }
      value |= std::uint32_t{b & 0x7FU} << (7 * i);
      if ((b & 0x80U) == 0) {
        if (i > 0 && b == 0) {
          return mqtt_errc::variable_byte_integer_not_minimal;
        }
        v = value;
        return no_error;
      }
    }
    return mqtt_errc::variable_byte_integer_too_long;
  }
  mqtt_errc take(std::size_t n, bytes_view& v) noexcept {
    if (left() < n) {
      return mqtt_errc::truncated;
    }
    v = data_.subspan(pos_, n);
    pos_ += n;
    return no_error;
  }
  // §1.5.6 Binary Data.
  mqtt_errc binary(bytes_view& v) noexcept {
    std::uint16_t n = 0;
    if (auto e = u16(n); e != no_error) {
      return e;
    }
    return take(n, v);
  }
  // §1.5.4 UTF-8 Encoded String, checked against MQTT's UTF-8 rules.
  mqtt_errc utf8(std::string_view& v) noexcept {
    bytes_view raw;
    if (auto e = binary(raw); e != no_error) {
      return e;
    }
    v = as_string_view(raw);
    return check_utf8(v);
  }

private:
  bytes_view data_;
  std::size_t pos_ = 0;
};

// Sizing pass: counts bytes and records the first field that cannot be encoded.
class size_counter {
public:
  void u8(std::uint8_t) noexcept { size_ += 1; }
  void u16(std::uint16_t) noexcept { size_ += 2; }
  void u32(std::uint32_t) noexcept { size_ += 4; }
  void varint(std::uint32_t v) noexcept {
    if (v > max_variable_byte_integer) {
      fail(mqtt_errc::packet_too_large);
    }
    size_ += varint_size(v);
  }
  void raw(bytes_view b) noexcept { size_ += b.size(); }
  void binary(bytes_view b) noexcept {
    if (b.size() > max_string_length) {
      fail(mqtt_errc::field_too_long);
    }
    size_ += 2 + b.size();
  }
  void string(std::string_view s) noexcept { binary(as_bytes(s)); }

  void fail(mqtt_errc e) noexcept {
    if (error_ == no_error) {
      error_ = e;
    }
  }
  std::size_t size() const noexcept { return size_; }
  mqtt_errc error() const noexcept { return error_; }

private:
  std::size_t size_ = 0;
  mqtt_errc error_ = no_error;
};

// Writing pass into memory the sizing pass measured; every limit was checked there.
class span_writer {
public:
  explicit span_writer(std::uint8_t* out) noexcept : out_(out) {}

  void u8(std::uint8_t v) noexcept { *out_++ = v; }
  void u16(std::uint16_t v) noexcept {
    out_[0] = static_cast<std::uint8_t>(v >> 8);
    out_[1] = static_cast<std::uint8_t>(v);
    out_ += 2;
  }
  void u32(std::uint32_t v) noexcept {
    out_[0] = static_cast<std::uint8_t>(v >> 24);
    out_[1] = static_cast<std::uint8_t>(v >> 16);
    out_[2] = static_cast<std::uint8_t>(v >> 8);
    out_[3] = static_cast<std::uint8_t>(v);
    out_ += 4;
  }
  void varint(std::uint32_t v) noexcept {
    do {
      auto b = static_cast<std::uint8_t>(v & 0x7FU);
      v >>= 7;
      if (v != 0) {
        b = static_cast<std::uint8_t>(b | 0x80U);
      }
      *out_++ = b;
    } while (v != 0);
  }
  void raw(bytes_view b) noexcept {
    if (!b.empty()) {
      std::memcpy(out_, b.data(), b.size());
      out_ += b.size();
    }
  }
  void binary(bytes_view b) noexcept {
    u16(static_cast<std::uint16_t>(b.size()));
    raw(b);
  }
  void string(std::string_view s) noexcept { binary(as_bytes(s)); }
  void fail(mqtt_errc) noexcept {}

  std::uint8_t* position() const noexcept { return out_; }

private:
  std::uint8_t* out_;
};

} // namespace aegis::mqtt::detail
