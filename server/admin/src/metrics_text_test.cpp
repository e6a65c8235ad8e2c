#include "aegis/admin/metrics_text.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <stdexcept>

namespace aegis::admin {
namespace {

TEST(MetricsText, FamiliesWithLabelledSamples) {
  metrics_text m;
  m.family("aegis_auth_results_total", metric_type::counter, "Authentication decisions.");
  m.sample(std::uint64_t{3}, {{"result", "allowed"}});
  m.sample(std::uint64_t{1}, {{"result", "denied"}, {"reason", "token_expired"}});
  m.gauge("aegis_connections", "Open connections.", 12);
  EXPECT_EQ(m.text(), "# HELP aegis_auth_results_total Authentication decisions.\n"
                      "# TYPE aegis_auth_results_total counter\n"
                      "aegis_auth_results_total{result=\"allowed\"} 3\n"
                      "aegis_auth_results_total{result=\"denied\",reason=\"token_expired\"} 1\n"
                      "# HELP aegis_connections Open connections.\n"
                      "# TYPE aegis_connections gauge\n"
                      "aegis_connections 12\n");
}

TEST(MetricsText, LabelValuesAndHelpAreEscaped) {
  metrics_text m;
  m.family("x", metric_type::gauge, "line one\nback\\slash \"quoted\"");
  m.sample(std::uint64_t{0}, {{"v", "a\"b\\c\nd"}});
  EXPECT_EQ(m.text(), "# HELP x line one\\nback\\\\slash \"quoted\"\n"
                      "# TYPE x gauge\n"
                      "x{v=\"a\\\"b\\\\c\\nd\"} 0\n");
}

TEST(MetricsText, FloatingValuesIncludingSpecials) {
  metrics_text m;
  m.family("seconds", metric_type::gauge, "h");
  m.sample(0.25);
  m.sample(std::numeric_limits<double>::infinity());
  m.sample(std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(m.text(), "# HELP seconds h\n# TYPE seconds gauge\nseconds 0.25\nseconds +Inf\n"
                      "seconds NaN\n");
}

TEST(MetricsText, InvalidNamesAreProgrammingErrors) {
  metrics_text m;
  EXPECT_THROW(m.family("1abc", metric_type::counter, "h"), std::invalid_argument);
  EXPECT_THROW(m.family("a-b", metric_type::counter, "h"), std::invalid_argument);
  EXPECT_THROW(m.sample(std::uint64_t{1}), std::logic_error); // no family yet
  m.family("ok_total", metric_type::counter, "h");
  EXPECT_THROW(m.sample(std::uint64_t{1}, {{"bad-label", "v"}}), std::invalid_argument);
}

} // namespace
} // namespace aegis::admin
