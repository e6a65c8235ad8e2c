// The streaming decoder: version learnt from CONNECT, pipelining, limits, errors that stick,
// and large payloads split into many chunks.

#include "test_support.hpp"

#include <gtest/gtest.h>

namespace aegis::mqtt::test {
namespace {

using enum protocol_version;

bytes concat(std::initializer_list<bytes> parts) {
  bytes out;
  for (const auto& p : parts) {
    out.insert(out.end(), p.begin(), p.end());
  }
  return out;
}

const bytes connect_v311 = hex("10 0d 00 04 4d 51 54 54 04 02 00 3c 00 01 61");
const bytes connect_v5 = hex("10 0e 00 04 4d 51 54 54 05 02 00 3c 00 00 01 61");

TEST(FrameDecoder, LearnsTheVersionFromConnect) {
  // The same PUBLISH bytes mean different things in the two versions: in v5 the byte after the
  // topic is the Property Length, in 3.1.1 it is payload.
  const bytes publish_bytes = hex("30 05 00 01 74 00 41");
  for (const auto& [connect_bytes, version, payload] :
       {std::tuple{connect_v311, v3_1_1, bytes{0x00, 0x41}},
        std::tuple{connect_v5, v5, bytes{0x41}}}) {
    frame_decoder decoder(options_for(std::nullopt, sender::client));
    EXPECT_FALSE(decoder.version());
    // CONNECT and PUBLISH in one chunk: the version must switch between the two.
    const bytes stream = concat({connect_bytes, publish_bytes});
    bytes_view input = stream;
    auto first = decoder.next(input);
    ASSERT_TRUE(first && first->has_value());
    EXPECT_EQ(decoder.version(), version);
    auto second = decoder.next(input);
    ASSERT_TRUE(second && second->has_value());
    EXPECT_EQ(std::get<publish>(**second).payload, payload);
    EXPECT_TRUE(input.empty());
  }
}

TEST(FrameDecoder, KeepsAVersionItWasGiven) {
  frame_decoder decoder(options_for(v3_1_1));
  bytes_view input = connect_v5;
  auto r = decoder.next(input);
  ASSERT_TRUE(r && r->has_value());
  EXPECT_EQ(std::get<connect>(**r).version, v5);
  EXPECT_EQ(decoder.version(), v3_1_1);
  decoder.set_version(v5);
  EXPECT_EQ(decoder.version(), v5);
}

TEST(FrameDecoder, EmptyInputAsksForMore) {
  frame_decoder decoder(options_for(v5));
  bytes_view input;
  auto r = decoder.next(input);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->has_value());
  EXPECT_EQ(decoder.buffered(), 0U);
}

TEST(FrameDecoder, ErrorsAreSticky) {
  frame_decoder decoder(options_for(v5));
  bytes bad = hex("00 00 c0 00");
  bytes_view input = bad;
  auto r = decoder.next(input);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), mqtt_errc::reserved_packet_type);
  bytes good = hex("c0 00");
  bytes_view again = good;
  auto r2 = decoder.next(again);
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error(), mqtt_errc::reserved_packet_type);
  ASSERT_TRUE(decoder.failure());
  EXPECT_FALSE(decoder.failure()->during);
}

TEST(FrameDecoder, ErrorIsReportedAsSoonAsTheBadByteArrives) {
  // An invalid first byte is refused without waiting for the rest of the packet.
  frame_decoder decoder(options_for(v5));
  bytes one = hex("41");
  bytes_view input = one;
  auto r = decoder.next(input);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), mqtt_errc::invalid_flags);
  EXPECT_EQ(decoder.failure()->during, packet_type::puback);
}

TEST(FrameDecoder, LargePublishSplitIntoManyChunks) {
  publish p{.topic = "sensors/room-1/temperature",
            .payload = bytes(200'000, 0),
            .qos = qos::at_least_once,
            .packet_id = 7,
            .properties = {.message_expiry_interval = 30, .content_type = "application/x"}};
  for (std::size_t i = 0; i < p.payload.size(); ++i) {
    p.payload[i] = static_cast<std::uint8_t>(i * 31);
  }
  const bytes wire = *encode(p, v5);
  for (const std::size_t chunk : {std::size_t{1}, std::size_t{2}, std::size_t{5}, std::size_t{1000},
                                  std::size_t{4096}, std::size_t{65536}}) {
    frame_decoder decoder(options_for(v5));
    std::optional<packet> got;
    std::size_t pos = 0;
    std::size_t max_buffered = 0;
    while (pos < wire.size()) {
      bytes_view input = bytes_view(wire).subspan(pos, std::min(chunk, wire.size() - pos));
      pos += input.size();
      while (!input.empty()) {
        auto r = decoder.next(input);
        ASSERT_TRUE(r) << r.error().message();
        if (r->has_value()) {
          got = std::move(**r);
        }
      }
      max_buffered = std::max(max_buffered, decoder.buffered());
    }
    ASSERT_TRUE(got) << "chunk " << chunk;
    EXPECT_TRUE(std::get<publish>(*got) == p) << "chunk " << chunk;
    EXPECT_LT(max_buffered, wire.size());
    EXPECT_EQ(decoder.buffered(), 0U);
  }
}

TEST(FrameDecoder, SplitPublishWithMalformedHeaderFailsLikeAWholeOne) {
  // Topic length claims more than the packet holds; varint property length too long;
  // both must give the same error whole or split.
  for (const bytes& wire : {hex("30 04 00 09 61 62"), hex("30 08 00 01 74 80 80 80 80 01"),
                            hex("32 03 00 01 74"), hex("30 06 00 01 74 05 02 00")}) {
    for (const auto version : {v3_1_1, v5}) {
      const auto whole = feed(wire, options_for(version));
      for (std::size_t chunk = 1; chunk < wire.size(); ++chunk) {
        const auto split = feed(wire, options_for(version), chunk);
        EXPECT_EQ(split.error, whole.error) << to_hex(wire) << " chunk " << chunk;
        EXPECT_EQ(split.packets.size(), whole.packets.size());
      }
    }
  }
}

TEST(FrameDecoder, ManySmallPacketsInOneChunk) {
  bytes stream;
  for (std::uint16_t id = 1; id <= 1000; ++id) {
    const bytes one = *encode(puback{.packet_id = id}, v3_1_1);
    stream.insert(stream.end(), one.begin(), one.end());
  }
  const auto r = feed(stream, options_for(v3_1_1));
  ASSERT_FALSE(r.error);
  ASSERT_EQ(r.packets.size(), 1000U);
  EXPECT_EQ(std::get<puback>(r.packets.back()).packet_id, 1000);
}

TEST(FrameDecoder, StopsAfterEachPacketLeavingTheRestOfTheInput) {
  const bytes stream = hex("c0 00 d0 00 c0");
  frame_decoder decoder(options_for(v5));
  bytes_view input = stream;
  auto r = decoder.next(input);
  ASSERT_TRUE(r && r->has_value());
  EXPECT_EQ(input.size(), 3U);
  r = decoder.next(input);
  ASSERT_TRUE(r && r->has_value());
  EXPECT_TRUE(std::holds_alternative<pingresp>(**r));
  r = decoder.next(input);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->has_value());
  EXPECT_TRUE(input.empty());
  EXPECT_EQ(decoder.buffered(), 1U);
}

TEST(FrameDecoder, MaximumPacketSizeAppliesToSplitPackets) {
  decoder_options options = options_for(v5);
  options.maximum_packet_size = 64;
  const bytes big = *encode(publish{.topic = "t", .payload = bytes(100, 1)}, v5);
  const auto r = feed(big, options, 1);
  EXPECT_EQ(r.error, mqtt_errc::packet_too_large);
  const bytes fits = *encode(publish{.topic = "t", .payload = bytes(58, 1)}, v5);
  ASSERT_EQ(fits.size(), 64U);
  EXPECT_FALSE(feed(fits, options, 1).error);
}

TEST(FrameDecoder, DecodedPacketsOwnTheirBytes) {
  bytes wire = hex("30 0a 00 03 61 2f 62 68 65 6c 6c 6f");
  frame_decoder decoder(options_for(v3_1_1));
  bytes_view input = wire;
  auto r = decoder.next(input);
  ASSERT_TRUE(r && r->has_value());
  std::fill(wire.begin(), wire.end(), std::uint8_t{0});
  const auto& p = std::get<publish>(**r);
  EXPECT_EQ(p.topic, "a/b");
  EXPECT_EQ(p.payload, to_bytes("hello"));
}

} // namespace
} // namespace aegis::mqtt::test
