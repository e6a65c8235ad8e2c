// Every vector of test_vectors.hpp: decodes to its packet, encodes back to its bytes, and
// streams to the same packet whatever the chunking.

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <array>

namespace aegis::mqtt::test {
namespace {

class SpecVectors : public ::testing::TestWithParam<vector_case> {};

TEST_P(SpecVectors, DecodesToThePacket) {
  const auto& c = GetParam();
  ASSERT_FALSE(c.wire.empty());
  auto decoded = decode(c.wire, options_for(c.version));
  ASSERT_TRUE(decoded) << decoded.error().message();
  EXPECT_TRUE(*decoded == c.value);
}

TEST_P(SpecVectors, EncodesToTheBytes) {
  const auto& c = GetParam();
  auto encoded = encode(c.value, c.version);
  ASSERT_TRUE(encoded) << encoded.error().message();
  EXPECT_EQ(to_hex(*encoded), to_hex(c.wire));
  auto size = encoded_size(c.value, c.version);
  ASSERT_TRUE(size);
  EXPECT_EQ(*size, c.wire.size());
}

TEST_P(SpecVectors, StructOverloadsEncodeTheSame) {
  const auto& c = GetParam();
  std::visit(
      [&](const auto& body) {
        using P = std::decay_t<decltype(body)>;
        EXPECT_EQ(packet_type_of<P>, type_of(c.value));
        auto encoded = encode(body, c.version);
        ASSERT_TRUE(encoded);
        EXPECT_EQ(*encoded, c.wire);
        EXPECT_EQ(*encoded_size(body, c.version), c.wire.size());
      },
      c.value);
}

TEST_P(SpecVectors, EncodeToAppendsAfterExistingBytes) {
  const auto& c = GetParam();
  bytes out{0xAA, 0xBB};
  ASSERT_TRUE(encode_to(c.value, c.version, out));
  bytes expected{0xAA, 0xBB};
  expected.insert(expected.end(), c.wire.begin(), c.wire.end());
  EXPECT_EQ(out, expected);
}

TEST_P(SpecVectors, SplitAtEveryByte) {
  const auto& c = GetParam();
  const auto options = options_for(c.version);
  for (std::size_t split = 0; split <= c.wire.size(); ++split) {
    frame_decoder decoder(options);
    bytes_view first = bytes_view(c.wire).first(split);
    bytes_view second = bytes_view(c.wire).subspan(split);
    std::vector<packet> got;
    for (bytes_view* part : {&first, &second}) {
      while (!part->empty()) {
        auto r = decoder.next(*part);
        ASSERT_TRUE(r) << "split " << split << ": " << r.error().message();
        if (!r->has_value()) {
          EXPECT_TRUE(part->empty());
          break;
        }
        got.push_back(std::move(**r));
      }
    }
    ASSERT_EQ(got.size(), 1U) << "split " << split;
    EXPECT_TRUE(got[0] == c.value) << "split " << split;
    EXPECT_EQ(decoder.buffered(), 0U);
  }
}

TEST_P(SpecVectors, ByteByByte) {
  const auto& c = GetParam();
  const auto result = feed(c.wire, options_for(c.version), 1);
  ASSERT_FALSE(result.error);
  ASSERT_EQ(result.packets.size(), 1U);
  EXPECT_TRUE(result.packets[0] == c.value);
}

TEST_P(SpecVectors, EveryStrictPrefixIsIncomplete) {
  const auto& c = GetParam();
  for (std::size_t n = 0; n < c.wire.size(); ++n) {
    auto single = decode(bytes_view(c.wire).first(n), options_for(c.version));
    ASSERT_FALSE(single) << "prefix " << n;
    EXPECT_EQ(single.error(), mqtt_errc::truncated) << "prefix " << n;
    const auto streamed = feed(bytes_view(c.wire).first(n), options_for(c.version));
    EXPECT_FALSE(streamed.error) << "prefix " << n;
    EXPECT_TRUE(streamed.packets.empty()) << "prefix " << n;
  }
}

std::string vector_name(const ::testing::TestParamInfo<vector_case>& info) {
  return info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Mqtt, SpecVectors, ::testing::ValuesIn(vectors()), vector_name);

TEST(SpecVectors, AllVectorsBackToBackInOneStream) {
  for (const auto version : {protocol_version::v3_1_1, protocol_version::v5}) {
    bytes stream;
    std::vector<const packet*> expected;
    for (const auto& c : vectors()) {
      if (c.version == version && !std::holds_alternative<connect>(c.value)) {
        stream.insert(stream.end(), c.wire.begin(), c.wire.end());
        expected.push_back(&c.value);
      }
    }
    for (const std::size_t chunk :
         {std::size_t{0}, std::size_t{1}, std::size_t{3}, std::size_t{7}, std::size_t{64}}) {
      const auto result = feed(stream, options_for(version), chunk);
      ASSERT_FALSE(result.error) << "chunk " << chunk;
      ASSERT_EQ(result.packets.size(), expected.size()) << "chunk " << chunk;
      for (std::size_t i = 0; i < expected.size(); ++i) {
        EXPECT_TRUE(result.packets[i] == *expected[i]) << "chunk " << chunk << " packet " << i;
      }
    }
  }
}

TEST(SpecVectors, CoverEveryPacketTypeInBothVersions) {
  for (const auto version : {protocol_version::v3_1_1, protocol_version::v5}) {
    std::array<bool, 16> seen{};
    for (const auto& c : vectors()) {
      if (c.version == version) {
        seen.at(static_cast<std::size_t>(type_of(c.value))) = true;
      }
    }
    for (unsigned t = 1; t <= 15; ++t) {
      if (t == 15 && version == protocol_version::v3_1_1) {
        continue; // no AUTH in 3.1.1
      }
      EXPECT_TRUE(seen.at(t)) << to_string(static_cast<packet_type>(t));
    }
  }
}

} // namespace
} // namespace aegis::mqtt::test
