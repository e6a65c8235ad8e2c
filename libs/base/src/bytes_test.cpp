#include "aegis/base/bytes.hpp"

#include <gtest/gtest.h>

namespace {

using aegis::as_bytes;
using aegis::bytes;

TEST(Hex, RoundTrip) {
  const bytes data{0x00, 0x01, 0xab, 0xff};
  EXPECT_EQ(aegis::to_hex(data), "0001abff");
  EXPECT_EQ(aegis::from_hex("0001ABff"), data);
  EXPECT_FALSE(aegis::from_hex("abc"));
  EXPECT_FALSE(aegis::from_hex("zz"));
}

// RFC 4648 §10 test vectors.
TEST(Base64, Rfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(aegis::base64_encode(as_bytes(plain)), encoded);
    auto decoded = aegis::base64_decode(encoded);
    ASSERT_TRUE(decoded) << encoded;
    EXPECT_EQ(aegis::as_string_view(*decoded), plain);
  }
}

TEST(Base64, RefusesNonCanonical) {
  EXPECT_FALSE(aegis::base64_decode("Zg="));    // short padding
  EXPECT_FALSE(aegis::base64_decode("Zh=="));   // non-zero trailing bits
  EXPECT_FALSE(aegis::base64_decode("Zm9v\n")); // whitespace
  EXPECT_FALSE(aegis::base64_decode("Z==="));
  EXPECT_FALSE(aegis::base64_decode("Zm-v")); // url alphabet
}

TEST(Base64Url, UnpaddedAndStrict) {
  const bytes data{0xfb, 0xff, 0xfe};
  EXPECT_EQ(aegis::base64url_encode(data), "-__-");
  EXPECT_EQ(aegis::base64url_decode("-__-"), data);
  EXPECT_EQ(aegis::base64url_encode(as_bytes("f")), "Zg");
  EXPECT_FALSE(aegis::base64url_decode("Zg==")); // padding refused
  EXPECT_FALSE(aegis::base64url_decode("Zh"));   // non-zero trailing bits
  EXPECT_FALSE(aegis::base64url_decode("Z"));    // impossible length
  EXPECT_FALSE(aegis::base64url_decode("+/"));   // standard alphabet
}

TEST(Base64Url, RoundTripsAllLengths) {
  bytes data;
  for (int i = 0; i < 300; ++i) {
    auto encoded = aegis::base64url_encode(data);
    auto decoded = aegis::base64url_decode(encoded);
    ASSERT_TRUE(decoded);
    EXPECT_EQ(*decoded, data);
    data.push_back(static_cast<std::uint8_t>(i * 37));
  }
}

} // namespace
