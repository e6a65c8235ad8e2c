#include "aegis/ctl/format.hpp"

#include <gtest/gtest.h>

namespace aegis::ctl {
namespace {

TEST(Format, TableAlignsColumnsWithoutTrailingBlanks) {
  const std::string t =
      format_table({"ID", "SCOPE", "NOTE"}, {{"abc", "viewer", ""}, {"a", "admin", "x"}});
  EXPECT_EQ(t, "ID   SCOPE   NOTE\n"
               "abc  viewer\n"
               "a    admin   x\n");
}

TEST(Format, TableWithNoRowsPrintsHeader) {
  EXPECT_EQ(format_table({"A", "B"}, {}), "A  B\n");
}

TEST(Format, TableReplacesControlCharacters) {
  EXPECT_EQ(format_table({"X"}, {{"a\x1b[31mb\n"}}), "X\na?[31mb?\n");
}

TEST(Format, TableCountsUtf8AsOneColumn) {
  EXPECT_EQ(format_table({"N", "V"}, {{"\xc3\xa9t\xc3\xa9", "1"}, {"abcd", "2"}}),
            "N     V\n\xc3\xa9t\xc3\xa9   1\nabcd  2\n");
}

TEST(Format, Fields) {
  EXPECT_EQ(format_fields({{"id", "d1"}, {"blocked", "false"}, {"name", ""}}),
            "id:       d1\nblocked:  false\nname:\n");
}

TEST(Format, ErrorLineIsOneLineAndRedactsTheSecret) {
  EXPECT_EQ(error_line("NOT_FOUND", "device \"d1\" not found"),
            "aegisctl: NOT_FOUND: device \"d1\" not found");
  EXPECT_EQ(error_line("HTTP 502", "bad\ngateway"), "aegisctl: HTTP 502: bad?gateway");
  EXPECT_EQ(
      error_line("UNAUTHENTICATED", "token aeg_x_S3CR3T refused, aeg_x_S3CR3T", "aeg_x_S3CR3T"),
      "aegisctl: UNAUTHENTICATED: token <redacted> refused, <redacted>");
  EXPECT_EQ(redact("abcabc", "b"), "a<redacted>ca<redacted>c");
  EXPECT_EQ(redact("abc", ""), "abc");
}

TEST(Format, Cell) {
  const auto j = nlohmann::json::parse(R"({"s":"x","n":3,"b":true,"z":null})");
  EXPECT_EQ(cell(j, "s"), "x");
  EXPECT_EQ(cell(j, "n"), "3");
  EXPECT_EQ(cell(j, "b"), "true");
  EXPECT_EQ(cell(j, "z"), "");
  EXPECT_EQ(cell(j, "missing"), "");
  EXPECT_EQ(cell(nlohmann::json(), "s"), "");
}

} // namespace
} // namespace aegis::ctl
