// libFuzzer target for the HTTP/1.1 request reader (STYLE.md habit 13): the sans-I/O class that
// turns connection bytes into requests (src/request_reader.hpp, Boost.Beast's parser underneath).
// It feeds the input twice, whole and in chunks of a size taken from the first byte, and aborts
// when:
//  - the two feedings produce different requests: the reader depends on read splits (the
//    refusal status may differ, see below);
//  - a request breaks the reader's promises: path absolute and NUL-free, no decoded '/' beyond
//    the raw ones, body within max_body_bytes, version 1.0 or 1.1;
//  - an error status is not one of 400, 413, 417, 431, 501, 505.
// Built in the fuzz preset without libs/net (which clang 14 cannot build there): this file and
// src/request_reader.cpp only. Seeds: fuzz/http_request_fuzz_seeds/.

#include "request_reader.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using aegis::http::detail::parsed_request;
using aegis::http::detail::reader_limits;
using aegis::http::detail::request_reader;

struct outcome {
  std::vector<parsed_request> requests;
  std::optional<unsigned> error;
};

constexpr reader_limits limits{2048, 4096};

outcome run(std::string_view data, std::size_t chunk) {
  request_reader reader(limits);
  outcome out;
  std::size_t pos = 0;
  while (pos < data.size() && !out.error) {
    const std::size_t n = std::min(chunk, data.size() - pos);
    reader.feed(data.substr(pos, n));
    pos += n;
    for (;;) {
      const auto e = reader.next();
      if (e == request_reader::event::need_more) {
        break;
      }
      if (e == request_reader::event::continue_expected) {
        continue;
      }
      if (e == request_reader::event::error) {
        out.error = reader.error().status;
        break;
      }
      out.requests.push_back(reader.take_request());
    }
  }
  return out;
}

bool same(const parsed_request& a, const parsed_request& b) {
  return a.method == b.method && a.target == b.target && a.path == b.path && a.query == b.query &&
         a.headers == b.headers && a.body == b.body && a.keep_alive == b.keep_alive &&
         a.version == b.version;
}

[[noreturn]] void fail(const char* why) {
  std::fprintf(stderr, "http_request_fuzz: %s\n", why);
  std::abort();
}

void check(const outcome& o) {
  for (const auto& r : o.requests) {
    if (r.path.empty() || r.path.front() != '/') {
      fail("path not absolute");
    }
    if (r.path.find('\0') != std::string::npos) {
      fail("NUL in path");
    }
    const auto raw_path = std::string_view(r.target).substr(0, r.target.find('?'));
    if (std::count(r.path.begin(), r.path.end(), '/') !=
        std::count(raw_path.begin(), raw_path.end(), '/')) {
      fail("a decoded '/' in the path");
    }
    if (r.body.size() > limits.max_body_bytes) {
      fail("body over the limit");
    }
    if (r.version != 10 && r.version != 11) {
      fail("version");
    }
  }
  if (o.error) {
    const unsigned s = *o.error;
    if (s != 400 && s != 413 && s != 417 && s != 431 && s != 501 && s != 505) {
      fail("unexpected error status");
    }
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::size_t chunk = 1 + data[0] % 17;
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  const outcome whole = run(input, input.size() + 1);
  const outcome split = run(input, chunk);
  check(whole);
  check(split);
  // Beast parses a head line by line while it can, but after a need_more it waits for the
  // whole head (within header_limit) before parsing again. So the same bad head may be refused
  // for its first bad line (400, 505) when whole and for its size (431) when split, or refused
  // whole while the split feeding still waits for bytes that never came. Allowed: the refusal
  // status may differ, but both must produce the same requests before it.
  if (whole.requests.size() != split.requests.size()) {
    fail("whole and split feedings disagree");
  }
  for (std::size_t i = 0; i < whole.requests.size(); ++i) {
    if (!same(whole.requests[i], split.requests[i])) {
      fail("whole and split feedings disagree on a request");
    }
  }
  return 0;
}
