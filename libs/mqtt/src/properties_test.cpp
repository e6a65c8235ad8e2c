// The property structs against the §2.2.2.2 table: every identifier in every packet, accepted
// exactly where the table allows it, refused as property_not_allowed elsewhere, written back
// byte for byte, and refused as duplicate_property when repeated where it may not repeat.

#include "aegis/mqtt/properties.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <string>

namespace aegis::mqtt::test {
namespace {

using enum protocol_version;

constexpr std::uint8_t all_ids[] = {0x01, 0x02, 0x03, 0x08, 0x09, 0x0B, 0x11, 0x12, 0x13,
                                    0x15, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x1C, 0x1F, 0x21,
                                    0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2A};

// A valid value of each property, as hex.
std::string value_hex(std::uint8_t id) {
  switch (id) {
  case 0x01:
  case 0x17:
  case 0x19:
  case 0x24:
  case 0x25:
  case 0x28:
  case 0x29:
  case 0x2A:
    return "01";
  case 0x13:
  case 0x21:
  case 0x22:
  case 0x23:
    return "0001";
  case 0x02:
  case 0x11:
  case 0x18:
  case 0x27:
    return "00000001";
  case 0x0B:
    return "01";
  case 0x09:
  case 0x16:
    return "0001 01";
  case 0x26:
    return "0001 61 0001 62";
  default:
    return "0001 61"; // UTF-8 string "a"
  }
}

std::string byte_hex(std::size_t v) {
  static constexpr char digits[] = "0123456789abcdef";
  return {digits[(v >> 4) & 0xF], digits[v & 0xF]};
}

// Property Length + properties; all test blocks are < 128 bytes.
std::string block(const std::string& props) {
  return byte_hex(hex(props).size()) + props;
}

struct target {
  packet_type type;
  bool will;
};

bytes packet_with(target t, const std::string& props) {
  switch (t.type) {
  case packet_type::connect:
    if (t.will) {
      return frame(0x10, "0004 4d515454 05 06 003c 00 0001 61" + block(props) + "0001 74 0000");
    }
    return frame(0x10, "0004 4d515454 05 02 003c" + block(props) + "0001 61");
  case packet_type::connack:
    return frame(0x20, "00 00" + block(props));
  case packet_type::publish:
    return frame(0x30, "0001 74" + block(props));
  case packet_type::puback:
    return frame(0x40, "000a 00" + block(props));
  case packet_type::pubrec:
    return frame(0x50, "000a 00" + block(props));
  case packet_type::pubrel:
    return frame(0x62, "000a 00" + block(props));
  case packet_type::pubcomp:
    return frame(0x70, "000a 00" + block(props));
  case packet_type::subscribe:
    return frame(0x82, "000a" + block(props) + "0001 61 00");
  case packet_type::suback:
    return frame(0x90, "000a" + block(props) + "00");
  case packet_type::unsubscribe:
    return frame(0xa2, "000a" + block(props) + "0001 61");
  case packet_type::unsuback:
    return frame(0xb0, "000a" + block(props) + "00");
  case packet_type::disconnect:
    return frame(0xe0, "00" + block(props));
  case packet_type::auth:
    return frame(0xf0, "18" + block(props));
  default:
    return {};
  }
}

std::vector<target> targets() {
  std::vector<target> out{{packet_type::connect, true}};
  for (unsigned t = 1; t <= 15; ++t) {
    const auto type = static_cast<packet_type>(t);
    if (type != packet_type::pingreq && type != packet_type::pingresp) {
      out.push_back({type, false});
    }
  }
  return out;
}

// Properties some packets need alongside the one under test.
std::string companions(target t, std::uint8_t id) {
  const bool needs_method = (t.type == packet_type::auth && id != 0x15) ||
                            (t.type == packet_type::connect && !t.will && id == 0x16);
  return needs_method ? "15 0001 61" : "";
}

std::string property(std::uint8_t id) {
  return byte_hex(id) + value_hex(id);
}

TEST(Section_2_2_2_2_PropertyTable, EveryIdentifierInEveryPacket) {
  int allowed_count = 0;
  for (const auto t : targets()) {
    for (const auto id : all_ids) {
      const bool allowed = property_allowed(static_cast<property_id>(id), t.type, t.will);
      const bytes wire = packet_with(t, companions(t, id) + property(id));
      const auto error = decode_error(wire, options_for(v5));
      const std::string where = std::string(to_string(t.type)) + (t.will ? " will " : " ") +
                                std::string(to_string(static_cast<property_id>(id)));
      if (allowed) {
        ++allowed_count;
        EXPECT_FALSE(error) << where << ": " << describe(*error);
        if (!error) {
          // Written back in the same bytes.
          const auto decoded = decode(wire, options_for(v5));
          const auto encoded = encode(*decoded, v5);
          ASSERT_TRUE(encoded) << where;
          EXPECT_EQ(to_hex(*encoded), to_hex(wire)) << where;
        }
      } else {
        EXPECT_EQ(error, mqtt_errc::property_not_allowed) << where;
      }
    }
  }
  // §2.2.2.2: 57 packet placements plus the 7 Will Properties.
  EXPECT_EQ(allowed_count, 64);
}

TEST(Section_2_2_2_2_PropertyTable, OnlyUserPropertyAndPublishSubscriptionIdRepeat) {
  for (const auto t : targets()) {
    for (const auto id : all_ids) {
      if (!property_allowed(static_cast<property_id>(id), t.type, t.will)) {
        continue;
      }
      const bool repeatable = id == 0x26 || (id == 0x0B && t.type == packet_type::publish);
      const std::string twice = property(id) + property(id);
      const bytes wire = packet_with(
          t, (t.type == packet_type::auth && id != 0x15 ? "15 0001 61" : "") + twice +
                 (t.type == packet_type::connect && !t.will && id == 0x16 ? "15 0001 61" : ""));
      const auto error = decode_error(wire, options_for(v5));
      const std::string where = std::string(to_string(t.type)) + (t.will ? " will " : " ") +
                                std::string(to_string(static_cast<property_id>(id)));
      if (repeatable) {
        EXPECT_FALSE(error) << where;
      } else {
        EXPECT_EQ(error, mqtt_errc::duplicate_property) << where;
      }
    }
  }
}

TEST(Section_2_2_2_2_PropertyTable, IsKnownProperty) {
  int known = 0;
  for (std::uint32_t id = 0; id < 256; ++id) {
    known += is_known_property(id) ? 1 : 0;
  }
  EXPECT_EQ(known, 27);
  for (const auto id : all_ids) {
    EXPECT_TRUE(is_known_property(id));
    EXPECT_NE(to_string(static_cast<property_id>(id)), "unknown property");
  }
}

TEST(Section_1_5_5_SubscriptionIdentifier, FullVariableByteIntegerRange) {
  for (const auto& [wire_value, value] :
       std::initializer_list<std::pair<const char*, std::uint32_t>>{{"7f", 127},
                                                                    {"8001", 128},
                                                                    {"ff7f", 16383},
                                                                    {"808001", 16384},
                                                                    {"ffff7f", 2097151},
                                                                    {"80808001", 2097152},
                                                                    {"ffffff7f", 268435455}}) {
    const bytes wire = packet_with({packet_type::subscribe, false}, std::string("0b") + wire_value);
    auto decoded = decode(wire, options_for(v5));
    ASSERT_TRUE(decoded) << wire_value;
    EXPECT_EQ(std::get<subscribe>(*decoded).properties.subscription_identifier, value);
    auto encoded = encode(*decoded, v5);
    ASSERT_TRUE(encoded);
    EXPECT_EQ(*encoded, wire) << wire_value;
  }
}

TEST(Section_1_5_7_StringPair, KeepsOrderAndDuplicates) {
  publish p{.topic = "t"};
  p.properties.user_properties = {{"k", "1"}, {"a", "2"}, {"k", "3"}};
  auto wire = encode(p, v5);
  ASSERT_TRUE(wire);
  auto back = decode(*wire, options_for(v5));
  ASSERT_TRUE(back);
  EXPECT_EQ(std::get<publish>(*back).properties.user_properties, p.properties.user_properties);
}

} // namespace
} // namespace aegis::mqtt::test
