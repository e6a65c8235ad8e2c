// libFuzzer target for the WebSocket frame decoder (include/aegis/http/websocket.hpp): client
// bytes in any split. The first input byte picks a chunk size and the message limit; the rest is
// fed twice, whole and in chunks, and the target aborts when:
//  - the two feedings disagree (status, failure code, data stream, control events): the decoder
//    depends on read splits;
//  - more data comes out than went in;
//  - a failure carries a code other than 1002, 1003, 1007, 1009;
//  - a close event carries an invalid code or a non-UTF-8 reason.
// The decoder buffers nothing that grows with the input, so ASan also proves it never
// over-allocates; every feed consumes its input in one pass, so it cannot loop.
// Seeds: fuzz/websocket_frame_fuzz_seeds/.

#include "aegis/http/websocket.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

namespace ws = aegis::http::websocket;

struct recording_sink final : ws::frame_decoder::sink {
  std::string data;
  std::vector<std::string> events; // control frames, in order
  bool on_data(aegis::bytes_view d) override {
    data.append(aegis::as_string_view(d));
    return true;
  }
  bool on_ping(aegis::bytes_view p) override {
    events.push_back("ping:" + std::string(aegis::as_string_view(p)));
    return true;
  }
  bool on_pong(aegis::bytes_view p) override {
    events.push_back("pong:" + std::string(aegis::as_string_view(p)));
    return true;
  }
  void on_close(std::uint16_t code, std::string_view reason) override {
    if (code != ws::close_code::no_status && !ws::valid_received_close_code(code)) {
      std::fprintf(stderr, "websocket_frame_fuzz: close code %u passed\n", code);
      std::abort();
    }
    if (!ws::valid_utf8(reason)) {
      std::fprintf(stderr, "websocket_frame_fuzz: non-UTF-8 close reason passed\n");
      std::abort();
    }
    events.push_back("close:" + std::to_string(code) + ":" + std::string(reason));
  }
};

struct outcome {
  ws::frame_decoder::status status;
  std::uint16_t code;
  recording_sink sink;
};

outcome run(aegis::bytes_view input, std::size_t chunk, std::size_t limit) {
  ws::frame_decoder decoder(ws::decoder_limits{limit});
  outcome o{};
  std::size_t pos = 0;
  while (pos < input.size()) {
    const std::size_t n = std::min(chunk, input.size() - pos);
    decoder.feed(input.subspan(pos, n), o.sink);
    pos += n;
  }
  o.status = decoder.state();
  o.code = decoder.failure_code();
  return o;
}

[[noreturn]] void fail(const char* why) {
  std::fprintf(stderr, "websocket_frame_fuzz: %s\n", why);
  std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::size_t chunk = 1 + data[0] % 13;
  const std::size_t limit = std::size_t{16} << (data[0] >> 5); // 16 B .. 2 KiB
  const aegis::bytes_view input(data + 1, size - 1);
  const outcome whole = run(input, input.size() + 1, limit);
  const outcome split = run(input, chunk, limit);
  if (whole.status != split.status || whole.code != split.code) {
    fail("whole and split feedings end differently");
  }
  if (whole.sink.data != split.sink.data || whole.sink.events != split.sink.events) {
    fail("whole and split feedings disagree on the stream");
  }
  if (whole.sink.data.size() > input.size()) {
    fail("more data out than in");
  }
  if (whole.status == ws::frame_decoder::status::failed) {
    const auto c = whole.code;
    if (c != 1002 && c != 1003 && c != 1007 && c != 1009) {
      fail("unexpected failure code");
    }
  }
  return 0;
}
