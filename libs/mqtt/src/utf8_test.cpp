#include "aegis/mqtt/utf8.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace aegis::mqtt {
namespace {

std::optional<mqtt_errc> error_of(std::string_view s) {
  auto r = validate_utf8(s);
  if (r) {
    return std::nullopt;
  }
  return static_cast<mqtt_errc>(r.error().value());
}

// §1.5.4 example: "A" U+2A6D4 encodes as 41 F0 AA 9B 94.
TEST(Section_1_5_4_Utf8, SpecExample) {
  EXPECT_FALSE(error_of("\x41\xF0\xAA\x9B\x94"));
}

TEST(Section_1_5_4_Utf8, WellFormedSequencesAtEveryLength) {
  for (const std::string_view s :
       {"", "plain ascii", "\xC2\x80", "\xDF\xBF", "\xE0\xA0\x80", "\xEF\xBF\xBF",
        "\xED\x9F\xBF" /* U+D7FF */, "\xEE\x80\x80" /* U+E000 */, "\xF0\x90\x80\x80",
        "\xF4\x8F\xBF\xBF" /* U+10FFFF */, "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"}) {
    EXPECT_FALSE(error_of(s)) << s;
  }
}

TEST(MQTT_1_5_4_1_Utf8, IllFormedSequences) {
  for (const std::string_view s : {
           "\x80",             // lone continuation
           "\xBF",             //
           "\xC0\x80",         // overlong U+0000
           "\xC1\xBF",         // overlong U+007F
           "\xE0\x80\x80",     // overlong 3-byte
           "\xE0\x9F\xBF",     // overlong U+07FF
           "\xF0\x80\x80\x80", // overlong 4-byte
           "\xF0\x8F\xBF\xBF", // overlong U+FFFF
           "\xF4\x90\x80\x80", // U+110000
           "\xF5\x80\x80\x80", // past Unicode
           "\xFF",             //
           "\xFE",             //
           "\xC2",             // truncated
           "\xE2\x82",         // truncated
           "\xF0\x9F\x98",     // truncated
           "\xC2\x41",         // bad continuation
           "\xE2\x28\xA1",     //
           "\xF0\x9F\x28\x80", //
           "abcdefgh\x80",     // after an ASCII run of eight
       }) {
    EXPECT_EQ(error_of(s), mqtt_errc::invalid_utf8) << testing::PrintToString(s);
  }
}

TEST(MQTT_1_5_4_1_Utf8, SurrogatesAreRefused) {
  EXPECT_EQ(error_of("\xED\xA0\x80"), mqtt_errc::utf8_surrogate);   // U+D800
  EXPECT_EQ(error_of("\xED\xAF\xBF"), mqtt_errc::utf8_surrogate);   // U+DBFF
  EXPECT_EQ(error_of("\xED\xB0\x80"), mqtt_errc::utf8_surrogate);   // U+DC00
  EXPECT_EQ(error_of("ok\xED\xBF\xBF"), mqtt_errc::utf8_surrogate); // U+DFFF
}

TEST(MQTT_1_5_4_2_Utf8, NullCharacterIsRefused) {
  EXPECT_EQ(error_of(std::string_view("\0", 1)), mqtt_errc::utf8_null_character);
  EXPECT_EQ(error_of(std::string_view("abcdefghijk\0lm", 14)), mqtt_errc::utf8_null_character);
  EXPECT_EQ(error_of(std::string_view("abcdefg\0", 8)), mqtt_errc::utf8_null_character);
}

TEST(Section_1_5_4_Utf8, ControlCharactersAndNonCharactersAreAccepted) {
  // U+0001..U+001F, U+007F..U+009F and non-characters are "SHOULD NOT": a receiver accepts them.
  EXPECT_FALSE(error_of("\x01\x1F\x7F"));
  EXPECT_FALSE(error_of("\xC2\x80\xC2\x9F"));
  EXPECT_FALSE(error_of("\xEF\xBF\xBE\xEF\xBF\xBF")); // U+FFFE, U+FFFF
  EXPECT_FALSE(error_of("\xEF\xB7\x90"));             // U+FDD0
}

TEST(MQTT_1_5_4_3_Utf8, ByteOrderMarkIsAnOrdinaryCharacter) {
  EXPECT_FALSE(error_of("\xEF\xBB\xBF"));
}

TEST(Section_1_5_4_Utf8, LongAsciiRunsWithMultiByteTail) {
  std::string s(1000, 'x');
  EXPECT_FALSE(error_of(s));
  s += "\xE2\x82\xAC";
  EXPECT_FALSE(error_of(s));
  s += "\xED\xA0\x80";
  EXPECT_EQ(error_of(s), mqtt_errc::utf8_surrogate);
}

} // namespace
} // namespace aegis::mqtt
