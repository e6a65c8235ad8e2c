#include "aegis/mqtt/topic.hpp"

#include <gtest/gtest.h>

#include <string_view>

namespace aegis::mqtt {
namespace {

struct match_case {
  std::string_view filter;
  std::string_view topic;
  bool matches;
};

void expect_table(std::initializer_list<match_case> table) {
  for (const auto& c : table) {
    ASSERT_TRUE(validate_topic_filter(c.filter)) << c.filter;
    ASSERT_TRUE(validate_topic_name(c.topic)) << c.topic;
    EXPECT_EQ(topic_matches(c.filter, c.topic), c.matches)
        << "filter '" << c.filter << "' topic '" << c.topic << "'";
  }
}

// §4.7.1.2 Multi-level wildcard, the spec's non-normative examples.
TEST(Section_4_7_1_2_MultiLevelWildcard, SpecExamples) {
  expect_table({
      {"sport/tennis/player1/#", "sport/tennis/player1", true},
      {"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
      {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
      {"sport/#", "sport", true},
      {"#", "sport", true},
      {"#", "sport/tennis/player1", true},
      {"#", "/", true},
      {"sport/tennis/player1/#", "sport/tennis/player2", false},
      {"sport/tennis/player1/#", "sport/tennis", false},
  });
}

TEST(Section_4_7_1_2_MultiLevelWildcard, InvalidPlacements) {
  for (const std::string_view f : {"sport/tennis#", "sport/tennis/#/ranking", "#/", "##", "a#"}) {
    auto r = validate_topic_filter(f);
    ASSERT_FALSE(r) << f;
    EXPECT_EQ(r.error(), mqtt_errc::topic_filter_invalid) << f;
  }
}

// §4.7.1.3 Single-level wildcard, the spec's examples.
TEST(Section_4_7_1_3_SingleLevelWildcard, SpecExamples) {
  expect_table({
      {"sport/tennis/+", "sport/tennis/player1", true},
      {"sport/tennis/+", "sport/tennis/player2", true},
      {"sport/tennis/+", "sport/tennis/player1/ranking", false},
      {"sport/+", "sport", false},
      {"sport/+", "sport/", true},
      {"+/+", "/finance", true},
      {"/+", "/finance", true},
      {"+", "/finance", false},
      {"+", "sport", true},
      {"+/tennis/#", "sport/tennis/player1", true},
      {"+/tennis/#", "sport/tennis", true},
      {"sport/+/player1", "sport/tennis/player1", true},
      {"sport/+/player1", "sport/tennis/player2", false},
      {"+/+/+", "a//c", true},
      {"a/+/c", "a//c", true},
  });
}

TEST(Section_4_7_1_3_SingleLevelWildcard, ValidAndInvalidFilters) {
  for (const std::string_view f : {"+", "+/tennis/#", "sport/+/player1", "+/+", "/+", "+/", "//"}) {
    EXPECT_TRUE(validate_topic_filter(f)) << f;
  }
  for (const std::string_view f : {"sport+", "+sport", "sport/+tennis", "a/++", "a/b+/c"}) {
    auto r = validate_topic_filter(f);
    ASSERT_FALSE(r) << f;
    EXPECT_EQ(r.error(), mqtt_errc::topic_filter_invalid) << f;
  }
}

// §4.7.2 Topics beginning with $ [MQTT-4.7.2-1].
TEST(MQTT_4_7_2_1_DollarTopics, NotMatchedByLeadingWildcards) {
  expect_table({
      {"#", "$SYS/monitor/Clients", false},
      {"+/monitor/Clients", "$SYS/monitor/Clients", false},
      {"$SYS/#", "$SYS/monitor/Clients", true},
      {"$SYS/monitor/+", "$SYS/monitor/Clients", true},
      {"+", "$SYS", false},
      {"$SYS/#", "$SYS", true},
      {"a/#", "a/$b", true}, // only the first character counts
      {"+/$b", "a/$b", true},
  });
}

// §4.7.3 Topic semantic and usage.
TEST(Section_4_7_3_TopicSemantics, CaseSpacesAndEmptyLevels) {
  expect_table({
      {"ACCOUNTS", "Accounts", false},
      {"Accounts payable", "Accounts payable", true},
      {"/finance", "finance", false},
      {"/", "/", true},
      {"a//b", "a//b", true},
      {"a/b", "a/b/", false},
      {"a/b/", "a/b", false},
  });
}

TEST(MQTT_4_7_3_1_TopicNamesAndFilters, AtLeastOneCharacter) {
  EXPECT_EQ(validate_topic_name("").error(), mqtt_errc::topic_name_invalid);
  EXPECT_EQ(validate_topic_filter("").error(), mqtt_errc::topic_filter_invalid);
  EXPECT_FALSE(topic_matches("", "a"));
  EXPECT_FALSE(topic_matches("a", ""));
}

TEST(MQTT_4_7_0_1_TopicName, NoWildcards) {
  for (const std::string_view t : {"a/+", "#", "a/#", "+", "a+b"}) {
    EXPECT_EQ(validate_topic_name(t).error(), mqtt_errc::topic_name_invalid) << t;
  }
}

TEST(MQTT_4_7_3_2_TopicUtf8, StringRulesApply) {
  EXPECT_EQ(validate_topic_name(std::string_view("a\0b", 3)).error(),
            mqtt_errc::utf8_null_character);
  EXPECT_EQ(validate_topic_filter("a/\xc0\x80").error(), mqtt_errc::invalid_utf8);
  EXPECT_EQ(validate_topic_name("\xed\xa0\x80").error(), mqtt_errc::utf8_surrogate);
}

TEST(TopicMatching, ExactLevelsOnly) {
  EXPECT_FALSE(topic_matches("a/b", "a/bc"));
  EXPECT_FALSE(topic_matches("a/bc", "a/b"));
  EXPECT_FALSE(topic_matches("a/+", "a/b/c"));
  EXPECT_TRUE(topic_matches("a/+/#", "a/b"));
  EXPECT_TRUE(topic_matches("a/+/#", "a/b/c/d"));
  EXPECT_FALSE(topic_matches("a/+/#", "a"));
}

// §4.8.2 Shared subscriptions.
TEST(Section_4_8_2_SharedSubscription, Parses) {
  auto s = parse_shared_subscription("$share/consumer1/sport/tennis/+");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->share_name, "consumer1");
  EXPECT_EQ(s->filter, "sport/tennis/+");
  auto root = parse_shared_subscription("$share/g//");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->filter, "/");
  auto all = parse_shared_subscription("$share/g/#");
  ASSERT_TRUE(all);
  EXPECT_EQ(all->filter, "#");
}

TEST(MQTT_4_8_2_1_SharedSubscription, ShareNameRules) {
  for (const std::string_view f :
       {"$share//x", "$share/g", "$share/", "$share/g+/x", "$share/#/x", "$share/+/x",
        "$share/a#/x", "$shared/g/x", "$SHARE/g/x", "share/g/x"}) {
    auto r = parse_shared_subscription(f);
    ASSERT_FALSE(r) << f;
    EXPECT_EQ(r.error(), mqtt_errc::shared_subscription_invalid) << f;
  }
}

TEST(MQTT_4_8_2_2_SharedSubscription, InnerFilterMustBeValid) {
  for (const std::string_view f : {"$share/g/", "$share/g/a+", "$share/g/#/a"}) {
    auto r = parse_shared_subscription(f);
    ASSERT_FALSE(r) << f;
    EXPECT_EQ(r.error(), mqtt_errc::topic_filter_invalid) << f;
  }
  EXPECT_EQ(parse_shared_subscription("$share/g/\xff").error(), mqtt_errc::invalid_utf8);
}

TEST(Section_4_8_2_SharedSubscription, Recognition) {
  EXPECT_TRUE(is_shared_subscription("$share/g/x"));
  EXPECT_TRUE(is_shared_subscription("$share/"));
  EXPECT_FALSE(is_shared_subscription("$share"));
  EXPECT_FALSE(is_shared_subscription("$sharex/g/x"));
  EXPECT_FALSE(is_shared_subscription("a/$share/g"));
}

TEST(Section_4_8_2_SharedSubscription, InnerFilterMatchesLikeAnyFilter) {
  auto s = parse_shared_subscription("$share/g/+/monitor");
  ASSERT_TRUE(s);
  EXPECT_TRUE(topic_matches(s->filter, "x/monitor"));
  EXPECT_FALSE(topic_matches(s->filter, "$SYS/monitor"));
}

} // namespace
} // namespace aegis::mqtt
