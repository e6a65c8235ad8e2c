#include "aegis/base/log.hpp"

#include <gtest/gtest.h>

#include <sstream>

namespace {

namespace log = aegis::log;

TEST(Log, JsonLinesAreOneObjectPerLine) {
  std::ostringstream out;
  log::init_for_test({log::level::info, log::output_format::json}, out);
  log::write(log::level::warn, "auth", "device \"d1\" refused\n", {{"reason", "bad_signature"}});
  log::flush();
  const std::string line = out.str();
  EXPECT_NE(line.find("\"level\":\"warn\""), std::string::npos) << line;
  EXPECT_NE(line.find("\"component\":\"auth\""), std::string::npos);
  EXPECT_NE(line.find("\"msg\":\"device \\\"d1\\\" refused\\n\""), std::string::npos) << line;
  EXPECT_NE(line.find("\"reason\":\"bad_signature\"}"), std::string::npos);
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "exactly one line";
  log::init({});
}

TEST(Log, HumanLinesEscapeControlCharacters) {
  std::ostringstream out;
  log::init_for_test({log::level::debug, log::output_format::human}, out);
  log::info("mqtt", "client {} said {}", "c1", "evil\nline");
  log::flush();
  const std::string line = out.str();
  EXPECT_NE(line.find("[mqtt] client c1 said evil\\x0aline"), std::string::npos) << line;
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  log::init({});
}

TEST(Log, LevelsFilter) {
  std::ostringstream out;
  log::init_for_test({log::level::warn, log::output_format::human}, out);
  log::info("x", "hidden");
  log::error("x", "shown");
  log::flush();
  EXPECT_EQ(out.str().find("hidden"), std::string::npos);
  EXPECT_NE(out.str().find("shown"), std::string::npos);
  log::level parsed{};
  EXPECT_TRUE(log::parse_level("debug", parsed));
  EXPECT_EQ(parsed, log::level::debug);
  EXPECT_FALSE(log::parse_level("loud", parsed));
  log::init({});
}

} // namespace
