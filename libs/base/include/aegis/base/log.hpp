#pragma once

// Logging facade. Call sites name a component and pass structured fields; the backend (spdlog)
// stays behind this header. Output is human-readable lines or JSON lines, one event per line.

#include <fmt/format.h>

#include <initializer_list>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

namespace aegis::log {

enum class level { trace, debug, info, warn, error, critical, off };
enum class output_format { human, json };

struct field {
  std::string_view key;
  std::string value;
};

struct options {
  level min_level = level::info;
  output_format format = output_format::human;
};

// Sends log lines to stderr. Safe to call again to change level or format.
void init(const options& opts);
// Sends log lines to `out` instead (tests read them back).
void init_for_test(const options& opts, std::ostream& out);

bool enabled(level lvl) noexcept;
void write(level lvl, std::string_view component, std::string_view message,
           std::initializer_list<field> fields = {});
void flush();

std::string_view to_string(level lvl) noexcept;
bool parse_level(std::string_view text, level& out) noexcept;

template <class... Args>
void logf(level lvl, std::string_view component, fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(lvl)) {
    write(lvl, component, fmt::format(f, std::forward<Args>(args)...));
  }
}

template <class... Args>
void debug(std::string_view c, fmt::format_string<Args...> f, Args&&... a) {
  logf(level::debug, c, f, std::forward<Args>(a)...);
}
template <class... Args>
void info(std::string_view c, fmt::format_string<Args...> f, Args&&... a) {
  logf(level::info, c, f, std::forward<Args>(a)...);
}
template <class... Args>
void warn(std::string_view c, fmt::format_string<Args...> f, Args&&... a) {
  logf(level::warn, c, f, std::forward<Args>(a)...);
}
template <class... Args>
void error(std::string_view c, fmt::format_string<Args...> f, Args&&... a) {
  logf(level::error, c, f, std::forward<Args>(a)...);
}

} // namespace aegis::log
