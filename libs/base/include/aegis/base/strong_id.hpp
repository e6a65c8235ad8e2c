#pragma once

// A value wrapped in a distinct type per meaning, so a device id cannot be passed where a
// registry id is expected.

#include <compare>
#include <cstddef>
#include <functional>
#include <string>
#include <utility>

namespace aegis {

template <class Tag, class Rep = std::string>
class strong_id {
public:
  using rep_type = Rep;

  strong_id() = default;
  explicit strong_id(Rep value) : value_(std::move(value)) {}

  const Rep& value() const noexcept { return value_; }

  friend bool operator==(const strong_id&, const strong_id&) = default;
  friend auto operator<=>(const strong_id&, const strong_id&) = default;

private:
  Rep value_{};
};

} // namespace aegis

template <class Tag, class Rep>
struct std::hash<aegis::strong_id<Tag, Rep>> {
  std::size_t operator()(const aegis::strong_id<Tag, Rep>& id) const noexcept {
    return std::hash<Rep>{}(id.value());
  }
};
