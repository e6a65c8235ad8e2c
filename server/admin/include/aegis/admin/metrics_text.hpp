#pragma once

// The Prometheus text exposition format (version 0.0.4) for GET /metrics: metric families with
// their HELP and TYPE lines, samples with escaped label values. Only what the hub needs: counters
// and gauges of unsigned or floating values; no histograms, no timestamps.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace aegis::admin {

enum class metric_type { counter, gauge };

class metrics_text {
public:
  using label = std::pair<std::string_view, std::string_view>;

  // Starts a family. `name` must match [a-zA-Z_:][a-zA-Z0-9_:]* (a programming error
  // otherwise: such names are compile-time constants in the callers); a counter's name ends in
  // "_total" by convention. Each family once, its samples right after it.
  void family(std::string_view name, metric_type type, std::string_view help);
  // A sample of the current family, e.g. sample(3, {{"reason", "token_expired"}}).
  void sample(std::uint64_t value, std::initializer_list<label> labels = {});
  void sample(double value, std::initializer_list<label> labels = {});

  // family() + sample() for a family with one unlabelled sample.
  void counter(std::string_view name, std::string_view help, std::uint64_t value);
  void gauge(std::string_view name, std::string_view help, std::uint64_t value);

  const std::string& text() const noexcept { return out_; }

  static constexpr std::string_view content_type = "text/plain; version=0.0.4; charset=utf-8";

private:
  void begin_sample(std::initializer_list<label> labels);

  std::string out_;
  std::string current_;
};

} // namespace aegis::admin
