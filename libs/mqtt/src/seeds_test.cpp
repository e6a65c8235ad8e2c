// fuzz/mqtt_decode_fuzz_seeds/ holds every test vector, byte for byte, so the fuzzer starts
// from every packet shape the tests know.

#include "test_vectors.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

namespace aegis::mqtt::test {
namespace {

TEST(FuzzSeeds, MatchTheTestVectors) {
  const std::filesystem::path dir =
      std::filesystem::path(AEGIS_SOURCE_DIR) / "libs/mqtt/fuzz/mqtt_decode_fuzz_seeds";
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir;
  for (const auto& c : vectors()) {
    std::ifstream in(dir / c.name, std::ios::binary);
    ASSERT_TRUE(in) << "missing seed " << c.name;
    const bytes seed{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    EXPECT_EQ(to_hex(seed), to_hex(c.wire)) << c.name;
  }
}

} // namespace
} // namespace aegis::mqtt::test
