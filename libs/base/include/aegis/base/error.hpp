#pragma once

// Error conventions (STYLE.md habits 4 and 5): untrusted input yields an error value, never an
// exception or an assert. Each area owns one `enum class`, registered with AEGIS_ERROR_ENUM so
// that it converts to std::error_code with a category named "aegis.<area>".

#include <cassert>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace aegis {

// Specialised per error enum (through AEGIS_ERROR_ENUM) to name the category and its messages.
template <class Enum>
struct error_enum_traits;

template <class Enum>
class enum_error_category final : public std::error_category {
public:
  const char* name() const noexcept override { return error_enum_traits<Enum>::category_name; }
  std::string message(int value) const override {
    return std::string(error_enum_traits<Enum>::message(static_cast<Enum>(value)));
  }
};

template <class Enum>
const std::error_category& category_of() noexcept {
  static const enum_error_category<Enum> category;
  return category;
}

// Debug-only invariant check; never for untrusted input.
#define AEGIS_ASSERT(cond) assert(cond)

// The value of an operation that can fail with an error_code. A small stand-in for
// std::expected (C++23), which g++ 12 lacks.
template <class T>
class [[nodiscard]] result {
public:
  using value_type = T;

  result(T value)
      : state_(std::in_place_index<0>, std::move(value)) {} // NOLINT: implicit by design
  result(std::error_code error) : state_(std::in_place_index<1>, error) { // NOLINT
    AEGIS_ASSERT(error);
  }
  template <class Enum, std::enable_if_t<std::is_error_code_enum_v<Enum>, int> = 0>
  result(Enum error) : result(make_error_code(error)) {} // NOLINT

  bool has_value() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & {
    AEGIS_ASSERT(has_value());
    return std::get<0>(state_);
  }
  const T& value() const& {
    AEGIS_ASSERT(has_value());
    return std::get<0>(state_);
  }
  T&& value() && {
    AEGIS_ASSERT(has_value());
    return std::get<0>(std::move(state_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  std::error_code error() const noexcept {
    return has_value() ? std::error_code{} : std::get<1>(state_);
  }

private:
  std::variant<T, std::error_code> state_;
};

template <>
class [[nodiscard]] result<void> {
public:
  result() = default;
  result(std::error_code error) : error_(error) {} // NOLINT
  template <class Enum, std::enable_if_t<std::is_error_code_enum_v<Enum>, int> = 0>
  result(Enum error) : error_(make_error_code(error)) {} // NOLINT

  bool has_value() const noexcept { return !error_; }
  explicit operator bool() const noexcept { return has_value(); }
  std::error_code error() const noexcept { return error_; }

private:
  std::error_code error_;
};

inline result<void> ok() {
  return {};
}

} // namespace aegis

// Registers `Enum` (declared in namespace `Ns`) as an error_code enum with category
// "aegis.<area>". `MessageFn` is a function `std::string_view (Enum)` in `Ns`.
// Use at global namespace scope.
#define AEGIS_ERROR_ENUM(Ns, Enum, CategoryName, MessageFn)                                        \
  template <>                                                                                      \
  struct std::is_error_code_enum<Ns::Enum> : std::true_type {};                                    \
  template <>                                                                                      \
  struct aegis::error_enum_traits<Ns::Enum> {                                                      \
    static constexpr const char* category_name = CategoryName;                                     \
    static std::string_view message(Ns::Enum e) { return Ns::MessageFn(e); }                       \
  };                                                                                               \
  namespace Ns {                                                                                   \
  inline std::error_code make_error_code(Enum e) noexcept {                                        \
    return {static_cast<int>(e), ::aegis::category_of<Enum>()};                                    \
  }                                                                                                \
  }
