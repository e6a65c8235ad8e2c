#include "aegis/crypto/random.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

namespace {

using namespace aegis;
using namespace aegis::crypto;

TEST(Random, FillsAndDiffers) {
  auto a = random_bytes(32);
  auto b = random_bytes(32);
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->size(), 32u);
  // 2^-256 chance of a false failure.
  EXPECT_NE(*a, *b);
  EXPECT_FALSE(std::all_of(a->begin(), a->end(), [](std::uint8_t v) { return v == 0; }));

  std::vector<std::uint8_t> big(100'000, 0);
  ASSERT_TRUE(random_fill(big));
  // Every byte value turns up in 100k random bytes unless the tail was never written.
  std::vector<bool> seen(256, false);
  for (std::size_t i = big.size() - 4096; i < big.size(); ++i) {
    seen[big[i]] = true;
  }
  EXPECT_GT(std::count(seen.begin(), seen.end(), true), 200);
  auto none = random_bytes(0);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST(Random, ConstantTimeEqual) {
  const bytes a{1, 2, 3, 4};
  EXPECT_TRUE(constant_time_equal(a, bytes{1, 2, 3, 4}));
  EXPECT_FALSE(constant_time_equal(a, bytes{1, 2, 3, 5}));
  EXPECT_FALSE(constant_time_equal(a, bytes{0, 2, 3, 4}));
  EXPECT_FALSE(constant_time_equal(a, bytes{1, 2, 3}));       // a prefix is not equal
  EXPECT_FALSE(constant_time_equal(a, bytes{1, 2, 3, 4, 0})); // nor an extension
  EXPECT_TRUE(constant_time_equal(bytes{}, bytes{}));
  EXPECT_FALSE(constant_time_equal(bytes{}, a));
}

// Records the blocks the secure allocator frees, as they are at that moment.
struct freed_block {
  std::size_t size;
  bool all_zero;
};
std::vector<freed_block>* g_freed = nullptr;

void record(const std::uint8_t* data, std::size_t size) {
  if (g_freed != nullptr) {
    g_freed->push_back(
        {size, std::all_of(data, data + size, [](std::uint8_t v) { return v == 0; })});
  }
}

class SecureBuffer : public ::testing::Test {
protected:
  void SetUp() override {
    g_freed = &freed_;
    set_wipe_observer_for_test(&record);
  }
  void TearDown() override {
    set_wipe_observer_for_test(nullptr);
    g_freed = nullptr;
  }
  // True when a block of exactly `size` bytes was freed, and every such block was wiped.
  bool wiped(std::size_t size) const {
    bool found = false;
    for (const auto& b : freed_) {
      if (b.size == size) {
        found = true;
        if (!b.all_zero) {
          return false;
        }
      }
    }
    return found;
  }
  static secure_buffer filled(std::size_t size) {
    secure_buffer buf(size);
    std::fill(buf.data(), buf.data() + buf.size(), std::uint8_t{0xA5});
    return buf;
  }
  std::vector<freed_block> freed_;
};

TEST_F(SecureBuffer, WipesOnDestruction) {
  { auto buf = filled(37); }
  EXPECT_TRUE(wiped(37));
}

TEST_F(SecureBuffer, WipesOnClear) {
  auto buf = filled(41);
  buf.clear();
  EXPECT_TRUE(buf.empty());
  EXPECT_TRUE(wiped(41));
}

TEST_F(SecureBuffer, WipesOnReassignmentAndMoves) {
  auto a = filled(43);
  auto b = filled(47);
  a = std::move(b);
  EXPECT_TRUE(wiped(43));  // a's old secret
  EXPECT_FALSE(wiped(47)); // b's block moved, not freed
  EXPECT_EQ(a.size(), 47u);
  EXPECT_EQ(a.data()[46], 0xA5);
  EXPECT_TRUE(b.empty()); // NOLINT(bugprone-use-after-move): the contract says empty

  secure_buffer c(std::move(a));
  EXPECT_EQ(c.size(), 47u);
  EXPECT_TRUE(a.empty()); // NOLINT(bugprone-use-after-move)
}

TEST_F(SecureBuffer, AllocatorWipesBlocksLeftBehindByGrowth) {
  std::vector<std::uint8_t, secure_allocator<std::uint8_t>> v;
  v.reserve(53);
  v.assign(53, 0x5A);
  v.push_back(1); // reallocates: the 53-byte block holding the secret is freed
  EXPECT_TRUE(wiped(53));
}

TEST_F(SecureBuffer, ConstructsFromBytes) {
  const bytes secret{9, 8, 7};
  secure_buffer buf(secret);
  EXPECT_EQ(bytes(buf.view().begin(), buf.view().end()), secret);
  EXPECT_EQ(buf.span().size(), 3u);
  EXPECT_TRUE(secure_buffer().empty());
}

} // namespace
