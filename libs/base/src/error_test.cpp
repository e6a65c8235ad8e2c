#include "aegis/base/error.hpp"

#include <gtest/gtest.h>

namespace sample {
enum class sample_errc { first = 1, second = 2 };
inline std::string_view describe(sample_errc e) {
  return e == sample_errc::first ? "first thing went wrong" : "second thing went wrong";
}
} // namespace sample
AEGIS_ERROR_ENUM(sample, sample_errc, "aegis.sample", describe)

namespace {

aegis::result<int> parse_positive(int v) {
  if (v <= 0) {
    return sample::sample_errc::first;
  }
  return v;
}

TEST(Result, CarriesValueOrError) {
  auto good = parse_positive(5);
  ASSERT_TRUE(good);
  EXPECT_EQ(*good, 5);
  EXPECT_FALSE(good.error());

  auto bad = parse_positive(-1);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), sample::sample_errc::first);
  EXPECT_NE(bad.error(), sample::sample_errc::second);
}

TEST(Result, CategoryNamesAreStable) {
  const std::error_code ec = sample::sample_errc::second;
  EXPECT_STREQ(ec.category().name(), "aegis.sample");
  EXPECT_EQ(ec.message(), "second thing went wrong");
  EXPECT_EQ(ec.value(), 2);
}

TEST(Result, VoidResult) {
  aegis::result<void> fine = aegis::ok();
  EXPECT_TRUE(fine);
  aegis::result<void> failed = sample::sample_errc::first;
  EXPECT_FALSE(failed);
  EXPECT_EQ(failed.error(), sample::sample_errc::first);
}

TEST(Result, MovesOutOwnedValues) {
  aegis::result<std::string> r = std::string(100, 'x');
  std::string taken = std::move(r).value();
  EXPECT_EQ(taken.size(), 100U);
}

} // namespace
