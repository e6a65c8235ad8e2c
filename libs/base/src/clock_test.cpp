#include "aegis/base/clock.hpp"
#include "aegis/base/strong_id.hpp"

#include <gtest/gtest.h>

#include <unordered_set>

namespace {

TEST(ManualClock, MovesOnlyWhenTold) {
  aegis::manual_clock c;
  const auto w0 = c.wall_now();
  const auto s0 = c.steady_now();
  EXPECT_EQ(c.wall_now(), w0);
  c.advance(std::chrono::seconds(90));
  EXPECT_EQ(c.wall_now() - w0, std::chrono::seconds(90));
  EXPECT_EQ(c.steady_now() - s0, std::chrono::seconds(90));
}

struct device_tag {};
struct registry_tag {};
using device_id = aegis::strong_id<device_tag>;
using registry_id = aegis::strong_id<registry_tag>;

TEST(StrongId, ComparesAndHashes) {
  static_assert(!std::is_convertible_v<device_id, registry_id>);
  static_assert(!std::is_convertible_v<std::string, device_id>);
  device_id a{"d1"};
  device_id b{"d1"};
  EXPECT_EQ(a, b);
  EXPECT_LT(device_id{"a"}, device_id{"b"});
  std::unordered_set<device_id> set{a, b, device_id{"d2"}};
  EXPECT_EQ(set.size(), 2U);
}

} // namespace
