// The sans-I/O WebSocket codec: handshake vectors and refusals, every frame refusal with its
// close code, fragmentation with interleaved control frames, splits at every byte, limits.

#include "aegis/http/websocket.hpp"
#include "aegis/net/errors.hpp"

#include "websocket_session.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace aegis::http::websocket {
namespace {

constexpr std::array<std::uint8_t, 4> mask{0x37, 0xfa, 0x21, 0x3d};

bytes frame(opcode op, std::string_view payload, bool fin = true) {
  return encode_client_frame(op, as_bytes(payload), mask, fin);
}

bytes cat(std::initializer_list<bytes> parts) {
  bytes out;
  for (const auto& p : parts) {
    out.insert(out.end(), p.begin(), p.end());
  }
  return out;
}

struct recorder final : frame_decoder::sink {
  std::string data;
  std::vector<std::string> events;
  bool stop_on_data = false;
  bool on_data(bytes_view d) override {
    data.append(as_string_view(d));
    events.push_back("data:" + std::string(as_string_view(d)));
    return !stop_on_data;
  }
  bool on_ping(bytes_view p) override {
    events.push_back("ping:" + std::string(as_string_view(p)));
    return true;
  }
  bool on_pong(bytes_view p) override {
    events.push_back("pong:" + std::string(as_string_view(p)));
    return true;
  }
  void on_close(std::uint16_t code, std::string_view reason) override {
    events.push_back("close:" + std::to_string(code) + ":" + std::string(reason));
  }
};

struct result {
  frame_decoder::status status;
  std::uint16_t code;
  std::string data;
  std::vector<std::string> controls; // events other than data
};

result decode(const bytes& in, std::size_t chunk, std::size_t limit = 1024 * 1024) {
  frame_decoder d(decoder_limits{limit});
  recorder r;
  for (std::size_t pos = 0; pos < in.size(); pos += chunk) {
    d.feed(bytes_view(in).subspan(pos, std::min(chunk, in.size() - pos)), r);
  }
  result out{d.state(), d.failure_code(), r.data, {}};
  for (const auto& e : r.events) {
    if (e.rfind("data:", 0) != 0) {
      out.controls.push_back(e);
    }
  }
  return out;
}

header_fields good_headers() {
  return {{"Host", "127.0.0.1"},
          {"Upgrade", "websocket"},
          {"Connection", "keep-alive, Upgrade"},
          {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
          {"Sec-WebSocket-Version", "13"},
          {"Sec-WebSocket-Protocol", "mqttv3.1, mqtt"}};
}

TEST(WebSocketHandshake, AcceptValueIsTheRfc6455Section13Example) {
  EXPECT_EQ(accept_value("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WebSocketHandshake, AValidRequestIsAcceptedWithItsAcceptValue) {
  const auto r = check_handshake("GET", 11, good_headers(), "mqtt");
  ASSERT_TRUE(r.accepted) << r.message;
  EXPECT_EQ(r.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  const auto text = switching_protocols(r.accept, "mqtt");
  EXPECT_EQ(text.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0), 0U);
  EXPECT_NE(text.find("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
            std::string::npos);
  EXPECT_NE(text.find("\r\nSec-WebSocket-Protocol: mqtt\r\n"), std::string::npos);
  EXPECT_NE(text.find("\r\nUpgrade: websocket\r\n"), std::string::npos);
  EXPECT_EQ(text.substr(text.size() - 4), "\r\n\r\n");
  EXPECT_TRUE(check_handshake("GET", 11,
                              {{"upgrade", "WebSocket"},
                               {"connection", "upgrade"},
                               {"sec-websocket-key", " dGhlIHNhbXBsZSBub25jZQ== "},
                               {"sec-websocket-version", "13"},
                               {"sec-websocket-protocol", "other"},
                               {"sec-websocket-protocol", "mqtt"}},
                              "mqtt")
                  .accepted)
      << "names and tokens are case-insensitive; lists may span header lines";
}

TEST(WebSocketHandshake, EveryRefusalHasItsStatus) {
  const auto with = [](std::string_view name, std::string_view value) {
    auto h = good_headers();
    for (auto& [n, v] : h) {
      if (n == name) {
        v = std::string(value);
      }
    }
    return h;
  };
  const auto without = [](std::string_view name) {
    auto h = good_headers();
    std::erase_if(h, [&](const auto& f) { return f.first == name; });
    return h;
  };
  EXPECT_EQ(check_handshake("POST", 11, good_headers(), "mqtt").status, 400U);
  EXPECT_EQ(check_handshake("GET", 10, good_headers(), "mqtt").status, 400U);
  EXPECT_EQ(check_handshake("GET", 11, without("Upgrade"), "mqtt").status, 400U);
  EXPECT_EQ(check_handshake("GET", 11, with("Upgrade", "h2c"), "mqtt").status, 400U);
  EXPECT_EQ(check_handshake("GET", 11, without("Connection"), "mqtt").status, 400U);
  EXPECT_EQ(check_handshake("GET", 11, with("Connection", "keep-alive"), "mqtt").status, 400U);
  EXPECT_EQ(check_handshake("GET", 11, with("Sec-WebSocket-Version", "8"), "mqtt").status, 426U);
  EXPECT_EQ(check_handshake("GET", 11, without("Sec-WebSocket-Version"), "mqtt").status, 426U);
  EXPECT_EQ(check_handshake("GET", 11, without("Sec-WebSocket-Key"), "mqtt").status, 400U);
  EXPECT_EQ(check_handshake("GET", 11, with("Sec-WebSocket-Key", "not base64!"), "mqtt").status,
            400U);
  // base64 of 15 bytes
  EXPECT_EQ(
      check_handshake("GET", 11, with("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAA"), "mqtt").status,
      400U);
  auto two_keys = good_headers();
  two_keys.emplace_back("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
  EXPECT_EQ(check_handshake("GET", 11, two_keys, "mqtt").status, 400U);
  EXPECT_EQ(check_handshake("GET", 11, without("Sec-WebSocket-Protocol"), "mqtt").status, 400U);
  EXPECT_EQ(check_handshake("GET", 11, with("Sec-WebSocket-Protocol", "mqttv3.1"), "mqtt").status,
            400U);
  EXPECT_EQ(check_handshake("GET", 11, with("Sec-WebSocket-Protocol", "MQTT"), "mqtt").status, 400U)
      << "sub-protocol names are compared exactly";
  EXPECT_FALSE(wants_upgrade(without("Upgrade")));
  EXPECT_TRUE(wants_upgrade(with("Upgrade", "foo, WebSocket")));
}

TEST(WebSocketFrames, TheServerEncodesUnmaskedFramesWithShortestLengths) {
  EXPECT_EQ(encode_frame(opcode::binary, {}), (bytes{0x82, 0x00}));
  const bytes b125(125, 1);
  const bytes b126(126, 1);
  const bytes b65536(65536, 1);
  EXPECT_EQ(encode_frame(opcode::binary, b125).size(), 127U);
  const auto f126 = encode_frame(opcode::binary, b126);
  EXPECT_EQ((bytes{f126.begin(), f126.begin() + 4}), (bytes{0x82, 126, 0x00, 126}));
  const auto f64k = encode_frame(opcode::binary, b65536);
  EXPECT_EQ((bytes{f64k.begin(), f64k.begin() + 10}), (bytes{0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0}));
  EXPECT_EQ(encode_close(1000), (bytes{0x88, 0x02, 0x03, 0xe8}));
  // A long reason is cut to fit 125 bytes, at a character boundary.
  const std::string long_reason = std::string(122, 'x') + "\xc3\xa9\xc3\xa9";
  const auto close = encode_close(1008, long_reason);
  ASSERT_LE(close.size(), 127U);
  EXPECT_EQ(close.size(), 2U + 2U + 122U);
}

TEST(WebSocketFrames, MaskedBinaryFramesAreUnmaskedAndStreamed) {
  const auto r =
      decode(cat({frame(opcode::binary, "hello"), frame(opcode::binary, " world")}), 1000);
  EXPECT_EQ(r.status, frame_decoder::status::open);
  EXPECT_EQ(r.data, "hello world");
  const std::string big(70'000, 'z');
  const auto rb = decode(frame(opcode::binary, big), 3000);
  EXPECT_EQ(rb.status, frame_decoder::status::open);
  EXPECT_EQ(rb.data, big) << "a 64-bit length";
}

TEST(WebSocketFrames, EveryRefusalClosesWithItsCode) {
  struct refusal {
    const char* what;
    bytes input;
    std::uint16_t code;
  };
  const auto raw = [](std::initializer_list<std::uint8_t> b) { return bytes(b); };
  const std::vector<refusal> cases{
      {"unmasked", raw({0x82, 0x01, 'a'}), 1002},
      {"rsv1", raw({0xC2, 0x80, 0, 0, 0, 0}), 1002},
      {"rsv3", raw({0x92, 0x80, 0, 0, 0, 0}), 1002},
      {"text", frame(opcode::text, "hi"), 1003},
      {"reserved data opcode", raw({0x83, 0x80, 0, 0, 0, 0}), 1002},
      {"reserved control opcode", raw({0x8B, 0x80, 0, 0, 0, 0}), 1002},
      {"fragmented ping", frame(opcode::ping, "x", false), 1002},
      {"ping over 125", raw({0x89, 0xFE, 0x00, 0x7E}), 1002},
      {"continuation first", frame(opcode::continuation, "x"), 1002},
      {"binary inside a message",
       cat({frame(opcode::binary, "a", false), frame(opcode::binary, "b")}), 1002},
      {"16-bit length below 126", raw({0x82, 0xFE, 0x00, 0x05, 0, 0, 0, 0}), 1002},
      {"64-bit length below 65536", raw({0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 0, 0, 0, 0}),
       1002},
      {"64-bit length top bit", raw({0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}), 1002},
      {"huge 64-bit length",
       raw({0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0}), 1009},
      {"close with one byte", frame(opcode::close, "\x03"), 1002},
      {"close 1005", frame(opcode::close, "\x03\xed"), 1002},
      {"close 999", frame(opcode::close, "\x03\xe7"), 1002},
      {"close 1004", frame(opcode::close, "\x03\xec"), 1002},
      {"close 5000", frame(opcode::close, "\x13\x88"), 1002},
      {"close reason not UTF-8", frame(opcode::close, "\x03\xe8\xc3\x28"), 1007},
  };
  for (const auto& c : cases) {
    for (const std::size_t chunk : {std::size_t{1}, std::size_t{1000}}) {
      const auto r = decode(c.input, chunk);
      EXPECT_EQ(r.status, frame_decoder::status::failed) << c.what;
      EXPECT_EQ(r.code, c.code) << c.what;
      EXPECT_LE(r.data.size(), 1U) << c.what;
    }
  }
}

TEST(WebSocketFrames, FragmentsWithInterleavedControlFramesSurviveEverySplit) {
  const bytes stream = cat({
      frame(opcode::binary, "MQ", false),
      frame(opcode::ping, "p1"),
      frame(opcode::continuation, "", false),
      frame(opcode::pong, "unsolicited"),
      frame(opcode::continuation, "TT"),
      frame(opcode::binary, std::string(300, 'x')),
      frame(opcode::binary, ""),
      frame(opcode::close, "\x03\xe8"
                           "bye"),
      frame(opcode::binary, "after close: ignored"),
  });
  const std::string data = "MQTT" + std::string(300, 'x');
  const std::vector<std::string> controls{"ping:p1", "pong:unsolicited", "close:1000:bye"};
  for (std::size_t split = 0; split <= stream.size(); ++split) {
    frame_decoder d;
    recorder r;
    d.feed(bytes_view(stream).first(split), r);
    d.feed(bytes_view(stream).subspan(split), r);
    ASSERT_EQ(d.state(), frame_decoder::status::closed) << "split at " << split;
    ASSERT_EQ(r.data, data) << "split at " << split;
    std::vector<std::string> got;
    for (const auto& e : r.events) {
      if (e.rfind("data:", 0) != 0) {
        got.push_back(e);
      }
    }
    ASSERT_EQ(got, controls) << "split at " << split;
  }
  const auto bytewise = decode(stream, 1);
  EXPECT_EQ(bytewise.data, data);
  EXPECT_EQ(bytewise.controls, controls);
}

TEST(WebSocketFrames, TheMessageLimitCountsEveryFragment) {
  EXPECT_EQ(decode(frame(opcode::binary, std::string(100, 'a')), 7, 100).status,
            frame_decoder::status::open);
  const auto one = decode(frame(opcode::binary, std::string(101, 'a')), 7, 100);
  EXPECT_EQ(one.status, frame_decoder::status::failed);
  EXPECT_EQ(one.code, 1009);
  EXPECT_TRUE(one.data.empty()) << "refused at the header, before any payload";
  const auto frags = decode(cat({frame(opcode::binary, std::string(60, 'a'), false),
                                 frame(opcode::continuation, std::string(41, 'b'))}),
                            7, 100);
  EXPECT_EQ(frags.status, frame_decoder::status::failed);
  EXPECT_EQ(frags.code, 1009);
  EXPECT_EQ(frags.data.size(), 60U);
  // A new message starts counting again.
  EXPECT_EQ(decode(cat({frame(opcode::binary, std::string(60, 'a'), false),
                        frame(opcode::continuation, std::string(40, 'b')),
                        frame(opcode::binary, std::string(100, 'c'))}),
                   7, 100)
                .status,
            frame_decoder::status::open);
}

TEST(WebSocketFrames, ACloseWithoutCodeIsNoStatusAndTheSinkMayStop) {
  const auto r = decode(frame(opcode::close, ""), 1);
  EXPECT_EQ(r.status, frame_decoder::status::closed);
  EXPECT_EQ(r.controls, (std::vector<std::string>{"close:1005:"}));
  frame_decoder d;
  recorder rec;
  rec.stop_on_data = true;
  const auto in = cat({frame(opcode::binary, "a"), frame(opcode::binary, "b")});
  EXPECT_EQ(d.feed(in, rec), frame_decoder::status::stopped);
  EXPECT_EQ(rec.data, "a");
  EXPECT_EQ(d.feed(in, rec), frame_decoder::status::stopped) << "stays stopped";
  EXPECT_EQ(rec.data, "a");
}

TEST(WebSocketFrames, Utf8ValidationIsStrict) {
  EXPECT_TRUE(valid_utf8("plain"));
  EXPECT_TRUE(valid_utf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
  EXPECT_FALSE(valid_utf8("\xc0\xaf"));         // overlong '/'
  EXPECT_FALSE(valid_utf8("\xed\xa0\x80"));     // surrogate
  EXPECT_FALSE(valid_utf8("\xf4\x90\x80\x80")); // above U+10FFFF
  EXPECT_FALSE(valid_utf8("\xe2\x82"));         // truncated
  EXPECT_FALSE(valid_utf8("\xff"));
}

TEST(WebSocketFrames, CloseCodesFollowTheCloseReason) {
  using detail::close_code_for;
  EXPECT_EQ(close_code_for({}), 1000);
  EXPECT_EQ(close_code_for(net::net_errc::peer_closed), 1000);
  EXPECT_EQ(close_code_for(net::net_errc::server_shutdown), 1001);
  EXPECT_EQ(close_code_for(net::net_errc::handler_failed), 1011);
  EXPECT_EQ(close_code_for(detail::websocket_errc::message_too_big), 1009);
  EXPECT_EQ(close_code_for(std::make_error_code(std::errc::protocol_error)), 1008);
  detail::websocket_framer framer;
  EXPECT_EQ(framer.frame(as_bytes("ab")), (bytes{0x82, 0x02, 'a', 'b'}));
  EXPECT_EQ(framer.closing(net::net_errc::server_shutdown), (bytes{0x88, 0x02, 0x03, 0xe9}));
  EXPECT_EQ(framer.closing(net::net_errc::peer_closed), (bytes{0x88, 0x02, 0x03, 0xe8}));
  framer.peer_closed_with(close_code::no_status);
  EXPECT_EQ(framer.closing(net::net_errc::peer_closed), (bytes{0x88, 0x02, 0x03, 0xe8}))
      << "a close without a code is answered with 1000";
  framer.peer_closed_with(4000);
  EXPECT_EQ(framer.closing(net::net_errc::peer_closed), (bytes{0x88, 0x02, 0x0f, 0xa0}))
      << "the peer's code is echoed";
  EXPECT_EQ(framer.closing(net::net_errc::server_shutdown), (bytes{0x88, 0x02, 0x03, 0xe9}))
      << "only in the answer to the peer's close";
}

} // namespace
} // namespace aegis::http::websocket
