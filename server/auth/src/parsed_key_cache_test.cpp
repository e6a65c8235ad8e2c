#include "parsed_key_cache.hpp"

#include "test_fixtures.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace aegis::auth::detail {
namespace {

using namespace std::chrono_literals;
using testing::must;

std::string public_pem(const crypto::private_key& k) {
  return must(k.public_part().to_pem());
}

TEST(ParsedKeyCache, ReturnsTheKeyOfThePemAndRemembersIt) {
  parsed_key_cache cache(8);
  const auto pem = public_pem(testing::es256_key(0));
  auto first = cache.get(pem, false);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->key, testing::es256_key(0).public_part());
  EXPECT_FALSE(first->certificate_not_after);
  EXPECT_EQ(cache.size(), 1U);
  auto again = cache.get(pem, false);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->key, first->key);
  EXPECT_EQ(cache.size(), 1U);
  // Another key is another entry, never the first one's key.
  auto other = cache.get(public_pem(testing::es256_key(1)), false);
  ASSERT_TRUE(other);
  EXPECT_EQ(other->key, testing::es256_key(1).public_part());
  EXPECT_FALSE(other->key == first->key);
}

TEST(ParsedKeyCache, UnparsableTextIsRefusedAndNotKept) {
  parsed_key_cache cache(8);
  EXPECT_FALSE(
      cache.get("-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n", false));
  EXPECT_FALSE(cache.get(public_pem(testing::es256_key(0)), true)); // a key is not a certificate
  EXPECT_EQ(cache.size(), 0U);
}

TEST(ParsedKeyCache, CertificateGivesItsSubjectKeyAndNotAfter) {
  const wall_time now{std::chrono::seconds{1'700'000'000}};
  auto ca = must(crypto::certificate_authority::create("cache CA", 24h, now));
  const auto pem = must(ca.cert().to_pem());
  parsed_key_cache cache(8);
  auto got = cache.get(pem, true);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->key, ca.key().public_part());
  ASSERT_TRUE(got->certificate_not_after);
  EXPECT_EQ(*got->certificate_not_after, ca.cert().not_after());
  // The same text asked for as a bare key is parsed as such (and refused), not served from
  // the certificate's entry.
  EXPECT_FALSE(cache.get(pem, false));
}

TEST(ParsedKeyCache, LeastRecentlyUsedLeavesFirstAtCapacity) {
  std::vector<crypto::private_key> keys;
  for (int i = 0; i < 3; ++i) {
    keys.push_back(must(crypto::private_key::generate(crypto::key_type::ec_p256)));
  }
  parsed_key_cache cache(2);
  ASSERT_TRUE(cache.get(public_pem(keys[0]), false));
  ASSERT_TRUE(cache.get(public_pem(keys[1]), false));
  ASSERT_TRUE(cache.get(public_pem(keys[0]), false)); // 0 is now the most recent
  ASSERT_TRUE(cache.get(public_pem(keys[2]), false)); // evicts 1
  EXPECT_EQ(cache.size(), 2U);
  // Every answer is still right whatever was evicted.
  for (const auto& k : keys) {
    auto got = cache.get(public_pem(k), false);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->key, k.public_part());
  }
  EXPECT_EQ(cache.size(), 2U);
}

TEST(ParsedKeyCache, ZeroCapacityParsesEveryTime) {
  parsed_key_cache cache(0);
  auto got = cache.get(public_pem(testing::es256_key(0)), false);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->key, testing::es256_key(0).public_part());
  EXPECT_EQ(cache.size(), 0U);
}

TEST(ParsedKeyCache, ConcurrentReadersAlwaysGetTheirOwnKey) {
  std::vector<std::string> pems;
  std::vector<crypto::public_key> expected;
  for (int i = 0; i < 6; ++i) {
    auto k = must(crypto::private_key::generate(crypto::key_type::ec_p256));
    pems.push_back(public_pem(k));
    expected.push_back(k.public_part());
  }
  parsed_key_cache cache(4); // smaller than the set: evictions race with hits
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 300; ++i) {
        const auto which = static_cast<std::size_t>((i * 7 + t) % 6);
        auto got = cache.get(pems[which], false);
        if (!got || !(got->key == expected[which])) {
          ++wrong;
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_LE(cache.size(), 4U);
}

} // namespace
} // namespace aegis::auth::detail
