#include "request_reader.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>

namespace aegis::http::detail {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

struct request_reader::parser_box {
  bhttp::request_parser<bhttp::string_body> parser;
};

namespace {

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  return beast::iequals(a, b);
}

// Maps a Beast parse error to the status that refuses it.
read_error status_of(const beast::error_code& ec) {
  if (ec == bhttp::error::header_limit) {
    return {431, "request header fields too large"};
  }
  if (ec == bhttp::error::body_limit) {
    return {413, "request body too large"};
  }
  if (ec == bhttp::error::bad_version) {
    return {505, "HTTP version not supported"};
  }
  return {400, "malformed request: " + ec.message()};
}

} // namespace

bool percent_decode(std::string_view in, bool plus_is_space, bool refuse_slash, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) {
        return false;
      }
      const int hi = hex_value(in[i + 1]);
      const int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) {
        return false;
      }
      const char decoded = static_cast<char>((hi << 4) | lo);
      if (decoded == '\0' || (refuse_slash && decoded == '/')) {
        return false;
      }
      out.push_back(decoded);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else if (c == '\0') {
      return false;
    } else {
      out.push_back(c);
    }
  }
  return true;
}

request_reader::request_reader(reader_limits limits) : limits_(limits) {}
request_reader::~request_reader() = default;

void request_reader::feed(std::string_view data) {
  buffer_.append(data);
}

bool request_reader::in_progress() const noexcept {
  return started_ || !buffer_.empty();
}

request_reader::event request_reader::fail(unsigned status, std::string message) {
  failed_ = true;
  error_ = {status, std::move(message)};
  return event::error;
}

request_reader::event request_reader::next() {
  if (failed_) {
    return event::error;
  }
  if (!parser_) {
    // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before a request line.
    // At most 4 bytes in all, counted across calls so that the outcome does not depend on
    // how the bytes were split.
    std::size_t skip = 0;
    while (skip < buffer_.size() && leading_skipped_ < 4 &&
           (buffer_[skip] == '\r' || buffer_[skip] == '\n')) {
      ++skip;
      ++leading_skipped_;
    }
    buffer_.erase(0, skip);
    if (buffer_.empty()) {
      return event::need_more;
    }
    parser_ = std::make_unique<parser_box>();
    auto& p = parser_->parser;
    // Not eager until the head was checked: otherwise one put() could parse (and fail on) body
    // bytes of a head this reader refuses, and the answer would depend on read splits.
    p.eager(false);
    p.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(
        limits_.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
    p.body_limit(static_cast<std::uint64_t>(limits_.max_body_bytes));
    head_checked_ = false;
    continue_sent_ = false;
    head_bytes_ = 0;
    started_ = true;
  }
  auto& p = parser_->parser;
  while (!buffer_.empty() && !p.is_done()) {
    // Boost 1.81's parse_chunk_header asserts (debug builds abort) that it is re-entered with
    // at least 5 bytes once it has seen the last chunk. A chunked body never completes from
    // fewer than 5 unconsumed bytes ("0\r\n\r\n"), so waiting for 5 costs nothing.
    // Found by http_request_fuzz.
    if (p.is_header_done() && p.chunked() && buffer_.size() < 5) {
      break;
    }
    beast::error_code ec;
    const bool in_head = !p.is_header_done();
    const std::size_t used = p.put(boost::asio::buffer(buffer_.data(), buffer_.size()), ec);
    buffer_.erase(0, used);
    if (in_head) {
      head_bytes_ += used; // not eager in the head: a put stops at its end
    }
    if (ec == bhttp::error::need_more) {
      break;
    }
    if (ec) {
      auto e = status_of(ec);
      return fail(e.status, std::move(e.message));
    }
    if (used == 0) {
      break; // no progress without an error: wait for more bytes
    }
    if (p.is_header_done() && !head_checked_) {
      if (const auto e = check_head(); e != event::need_more) {
        return e;
      }
    }
  }
  if (p.is_header_done() && !head_checked_) {
    if (const auto e = check_head(); e != event::need_more) {
      return e;
    }
  }
  if (p.is_done()) {
    return finish();
  }
  if (p.is_header_done() && !continue_sent_) {
    const auto& h = p.get();
    const auto expect = h.find(bhttp::field::expect);
    if (expect != h.end()) {
      continue_sent_ = true;
      return event::continue_expected;
    }
  }
  return event::need_more;
}

request_reader::event request_reader::check_head() {
  head_checked_ = true;
  parser_->parser.eager(true);
  // Beast applies header_limit to what it buffers while waiting, and to each of the start line
  // and the fields when the whole head comes in one buffer: bound the head as a whole here.
  if (head_bytes_ > limits_.max_header_bytes) {
    return fail(431, "request header fields too large");
  }
  const auto& h = parser_->parser.get();
  if (h.version() != 10 && h.version() != 11) {
    return fail(505, "HTTP version not supported");
  }
  // Beast accepts any Transfer-Encoding and treats a request without a final "chunked" as
  // bodyless, which would turn the body into a smuggled next request: refuse all but "chunked".
  bool seen_te = false;
  for (const auto& f : h) {
    if (f.name() == bhttp::field::transfer_encoding) {
      if (seen_te) {
        return fail(400, "repeated Transfer-Encoding");
      }
      seen_te = true;
      if (!iequals(trim(f.value()), "chunked")) {
        return fail(501, "unsupported Transfer-Encoding");
      }
    }
  }
  std::size_t expects = 0;
  for (const auto& f : h) {
    if (f.name() == bhttp::field::expect) {
      ++expects;
      if (!iequals(trim(f.value()), "100-continue")) {
        return fail(417, "unsupported Expect");
      }
    }
  }
  if (expects > 1) {
    return fail(417, "unsupported Expect");
  }
  const std::string_view target = h.target();
  if (target.empty() || target.front() != '/') {
    return fail(400, "request target must be an absolute path");
  }
  if (target.find('#') != std::string_view::npos) {
    return fail(400, "request target must not hold a fragment");
  }
  return event::need_more;
}

request_reader::event request_reader::finish() {
  auto msg = parser_->parser.release();
  parser_.reset();
  started_ = false;
  leading_skipped_ = 0;

  parsed_request r;
  r.method = std::string(msg.method_string());
  r.target = std::string(msg.target());
  r.keep_alive = msg.keep_alive();
  r.version = msg.version();
  const std::string_view target = r.target;
  const auto q = target.find('?');
  if (!percent_decode(target.substr(0, q), false, true, r.path)) {
    return fail(400, "bad percent-encoding in path (%00 and %2F are refused)");
  }
  if (q != std::string_view::npos) {
    std::string_view rest = target.substr(q + 1);
    while (!rest.empty()) {
      const auto amp = rest.find('&');
      const std::string_view item = rest.substr(0, amp);
      rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
      if (item.empty()) {
        continue;
      }
      const auto eq = item.find('=');
      std::string name;
      std::string value;
      if (!percent_decode(item.substr(0, eq), true, false, name) ||
          (eq != std::string_view::npos &&
           !percent_decode(item.substr(eq + 1), true, false, value))) {
        return fail(400, "bad percent-encoding in query");
      }
      r.query.emplace_back(std::move(name), std::move(value));
    }
  }
  r.headers.reserve(static_cast<std::size_t>(std::distance(msg.begin(), msg.end())));
  for (const auto& f : msg) {
    r.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  }
  r.body = std::move(msg.body());
  ready_ = std::move(r);
  return event::request;
}

parsed_request request_reader::take_request() {
  return std::move(ready_);
}

} // namespace aegis::http::detail
