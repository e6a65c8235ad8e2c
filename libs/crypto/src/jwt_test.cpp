#include "aegis/crypto/jwt.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <atomic>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace aegis::crypto;
using namespace std::chrono_literals;
using aegis::wall_time;

const wall_time t0{std::chrono::seconds{1'700'000'000}};

const private_key& key_of(key_type type) {
  static const std::array<private_key, 3> keys = [] {
    return std::array{*private_key::generate(key_type::ec_p256),
                      *private_key::generate(key_type::rsa),
                      *private_key::generate(key_type::ed25519)};
  }();
  return keys[static_cast<std::size_t>(type)];
}

jwt_policy policy() {
  jwt_policy p;
  p.audience = "my-project";
  return p;
}

jwt_mint_options mint_options(wall_time iat = t0, std::chrono::seconds lifetime = 3600s) {
  jwt_mint_options o;
  o.audience = "my-project";
  o.issued_at = iat;
  o.lifetime = lifetime;
  return o;
}

std::string mint(const private_key& key, const jwt_mint_options& o = mint_options()) {
  auto token = jwt_mint(key, o);
  EXPECT_TRUE(token) << token.error().message();
  return token ? *token : std::string{};
}

nlohmann::json segment_json(const std::string& token, int index) {
  std::size_t start = 0;
  for (int i = 0; i < index; ++i) {
    start = token.find('.', start) + 1;
  }
  const auto end = token.find('.', start);
  auto decoded = aegis::base64url_decode(std::string_view(token).substr(start, end - start));
  EXPECT_TRUE(decoded);
  return nlohmann::json::parse(decoded->begin(), decoded->end());
}

TEST(Jwt, MintVerifyRoundTripEachKeyType) {
  for (auto type : {key_type::ec_p256, key_type::rsa, key_type::ed25519}) {
    auto o = mint_options();
    o.subject = "device-42";
    o.extra_claims_json = R"({"scope":["telemetry"],"n":7})";
    const std::string token = mint(key_of(type), o);

    const std::vector<public_key> keys{key_of(type).public_part()};
    auto v = jwt_verify(token, keys, policy(), t0 + 10s);
    ASSERT_TRUE(v) << to_string(type) << ": " << v.error().message();
    EXPECT_EQ(v->alg, alg_for(type));
    EXPECT_EQ(v->key_index, 0U);
    EXPECT_EQ(v->claims.audience, "my-project");
    EXPECT_EQ(v->claims.subject, "device-42");
    EXPECT_EQ(v->claims.issued_at, t0);
    EXPECT_EQ(v->claims.expires_at, t0 + 3600s);
    const auto payload = nlohmann::json::parse(v->claims.payload_json);
    EXPECT_EQ(payload["n"], 7);
    EXPECT_EQ(payload["scope"][0], "telemetry");
  }
}

TEST(Jwt, MintedHeaderAndPayloadShape) {
  const std::string token = mint(key_of(key_type::ec_p256));
  EXPECT_EQ(segment_json(token, 0), nlohmann::json::parse(R"({"alg":"ES256","typ":"JWT"})"));
  const auto payload = segment_json(token, 1);
  EXPECT_EQ(payload,
            nlohmann::json::parse(R"({"aud":"my-project","iat":1700000000,"exp":1700003600})"));
  EXPECT_FALSE(payload.contains("sub")); // omitted when empty
}

TEST(Jwt, ReportsWhichCandidateVerified) {
  auto other_ec = private_key::generate(key_type::ec_p256);
  auto other_rsa = private_key::generate(key_type::rsa, 3072);
  ASSERT_TRUE(other_ec && other_rsa);
  const std::vector<public_key> keys{key_of(key_type::rsa).public_part(), other_ec->public_part(),
                                     key_of(key_type::ed25519).public_part(),
                                     key_of(key_type::ec_p256).public_part(),
                                     other_rsa->public_part()};

  auto es = jwt_verify(mint(key_of(key_type::ec_p256)), keys, policy(), t0);
  ASSERT_TRUE(es) << es.error().message();
  EXPECT_EQ(es->key_index, 3U);
  auto es_other = jwt_verify(mint(*other_ec), keys, policy(), t0);
  ASSERT_TRUE(es_other);
  EXPECT_EQ(es_other->key_index, 1U);
  auto ed = jwt_verify(mint(key_of(key_type::ed25519)), keys, policy(), t0);
  ASSERT_TRUE(ed);
  EXPECT_EQ(ed->key_index, 2U);
  // RSA keys of different sizes sit side by side; each accepts only its own signature length.
  auto rs2048 = jwt_verify(mint(key_of(key_type::rsa)), keys, policy(), t0);
  ASSERT_TRUE(rs2048);
  EXPECT_EQ(rs2048->key_index, 0U);
  auto rs3072 = jwt_verify(mint(*other_rsa), keys, policy(), t0);
  ASSERT_TRUE(rs3072) << rs3072.error().message();
  EXPECT_EQ(rs3072->key_index, 4U);
}

TEST(Jwt, EmptyCandidateSlotsAreIgnored) {
  const std::vector<public_key> keys{public_key{}, key_of(key_type::ec_p256).public_part()};
  auto v = jwt_verify(mint(key_of(key_type::ec_p256)), keys, policy(), t0);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->key_index, 1U);
  const std::vector<public_key> only_empty{public_key{}};
  EXPECT_EQ(jwt_verify(mint(key_of(key_type::ec_p256)), only_empty, policy(), t0).error(),
            jwt_errc::key_mismatch);
}

TEST(Jwt, SkewBoundaries) {
  const std::vector<public_key> keys{key_of(key_type::ec_p256).public_part()};
  const std::string token = mint(key_of(key_type::ec_p256)); // iat t0, exp t0 + 1 h
  // iat may be up to the skew ahead of our clock.
  EXPECT_TRUE(jwt_verify(token, keys, policy(), t0 - 600s));
  EXPECT_EQ(jwt_verify(token, keys, policy(), t0 - 601s).error(), jwt_errc::not_yet_valid);
  // exp + skew must still be ahead of now.
  EXPECT_TRUE(jwt_verify(token, keys, policy(), t0 + 3600s + 599s));
  EXPECT_EQ(jwt_verify(token, keys, policy(), t0 + 3600s + 600s).error(), jwt_errc::expired);

  auto strict = policy();
  strict.skew = 0s;
  EXPECT_EQ(jwt_verify(token, keys, strict, t0 - 1s).error(), jwt_errc::not_yet_valid);
  EXPECT_EQ(jwt_verify(token, keys, strict, t0 + 3600s).error(), jwt_errc::expired);
  EXPECT_TRUE(jwt_verify(token, keys, strict, t0 + 3599s));
}

TEST(Jwt, LifetimeBoundaries) {
  const std::vector<public_key> keys{key_of(key_type::ed25519).public_part()};
  const auto day = std::chrono::seconds{24 * 3600};
  EXPECT_TRUE(
      jwt_verify(mint(key_of(key_type::ed25519), mint_options(t0, day)), keys, policy(), t0));
  EXPECT_EQ(
      jwt_verify(mint(key_of(key_type::ed25519), mint_options(t0, day + 1s)), keys, policy(), t0)
          .error(),
      jwt_errc::lifetime_too_long);
  auto shorter = policy();
  shorter.max_lifetime = 3600s;
  EXPECT_TRUE(jwt_verify(mint(key_of(key_type::ed25519)), keys, shorter, t0));
  EXPECT_EQ(jwt_verify(mint(key_of(key_type::ed25519), mint_options(t0, 3601s)), keys, shorter, t0)
                .error(),
            jwt_errc::lifetime_too_long);
}

TEST(Jwt, SizeLimitIsThePolicys) {
  const std::vector<public_key> keys{key_of(key_type::ec_p256).public_part()};
  const std::string token = mint(key_of(key_type::ec_p256));
  auto p = policy();
  p.max_token_size = token.size();
  EXPECT_TRUE(jwt_verify(token, keys, p, t0));
  p.max_token_size = token.size() - 1;
  EXPECT_EQ(jwt_verify(token, keys, p, t0).error(), jwt_errc::too_large);
}

TEST(Jwt, EmptyPolicyAudienceMatchesNothing) {
  const std::vector<public_key> keys{key_of(key_type::ec_p256).public_part()};
  auto o = mint_options();
  o.audience = "";
  auto p = policy();
  p.audience = "";
  EXPECT_EQ(jwt_verify(mint(key_of(key_type::ec_p256), o), keys, p, t0).error(),
            jwt_errc::bad_audience);
}

TEST(Jwt, ManyDistinctMembersAreNotDuplicates) {
  nlohmann::json extra = nlohmann::json::object();
  for (int i = 0; i < 100; ++i) {
    extra["m" + std::to_string(i)] = {{"a", i}, {"b", i}};
  }
  auto o = mint_options();
  o.extra_claims_json = extra.dump();
  const std::vector<public_key> keys{key_of(key_type::ed25519).public_part()};
  auto v = jwt_verify(mint(key_of(key_type::ed25519), o), keys, policy(), t0);
  ASSERT_TRUE(v) << v.error().message();
  EXPECT_EQ(nlohmann::json::parse(v->claims.payload_json)["m99"]["b"], 99);
}

TEST(Jwt, MintRefusesBadInput) {
  const auto& key = key_of(key_type::ec_p256);
  for (std::string_view extra :
       {R"([1,2])", R"("text")", R"({"a":1,"a":2})", R"({"a":)", R"({"iat":1})", R"({"exp":1})",
        R"({"aud":"x"})", R"({"sub":"x"})", R"({"nbf":1})"}) {
    auto o = mint_options();
    o.extra_claims_json = extra;
    EXPECT_EQ(jwt_mint(key, o).error(), jwt_errc::bad_mint_input) << extra;
  }
  auto o = mint_options();
  o.subject = "\xff\xfe not utf-8";
  EXPECT_EQ(jwt_mint(key, o).error(), jwt_errc::bad_mint_input);
  EXPECT_EQ(jwt_mint(private_key{}, mint_options()).error(), key_errc::no_private_key);
}

TEST(Jwt, NonAsciiClaimsRoundTrip) {
  auto o = mint_options();
  o.subject = "capteur-\xc3\xa9t\xc3\xa9"; // "capteur-été"
  const std::vector<public_key> keys{key_of(key_type::ec_p256).public_part()};
  auto v = jwt_verify(mint(key_of(key_type::ec_p256), o), keys, policy(), t0);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->claims.subject, o.subject);
}

// Common header spellings skip the JSON parser; any other spelling of the same header must be
// judged the same way by the full path.
TEST(Jwt, HeaderSpellingDoesNotMatter) {
  const auto& key = key_of(key_type::ec_p256);
  const std::vector<public_key> keys{key.public_part()};
  const std::string payload = aegis::base64url_encode(
      aegis::as_bytes(R"({"iat":1700000000,"exp":1700003600,"aud":"my-project"})"));
  for (std::string_view header :
       {R"({"alg":"ES256","typ":"JWT"})", R"({"typ":"JWT","alg":"ES256"})", R"({"alg":"ES256"})",
        R"({ "alg" : "ES256" })", R"({"alg":"ES256","typ":"JWT","kid":"k1"})", R"({"alg":"ES256"})",
        "{\n\"alg\":\"ES256\"\n}"}) {
    const std::string input = aegis::base64url_encode(aegis::as_bytes(header)) + "." + payload;
    auto sig = sign(key, sig_alg::es256, aegis::as_bytes(input));
    ASSERT_TRUE(sig);
    const std::string token = input + "." + aegis::base64url_encode(*sig);
    auto v = jwt_verify(token, keys, policy(), t0);
    EXPECT_TRUE(v) << header << ": " << v.error().message();
  }
}

// jwt_verify decodes segments with its own allocation-free decoder; it must accept and refuse
// exactly what aegis::base64url_decode does.
TEST(Jwt, SegmentDecodingMatchesBaseDecoder) {
  const std::vector<public_key> keys{key_of(key_type::ec_p256).public_part()};
  const std::string token = mint(key_of(key_type::ec_p256));
  const std::string tail = token.substr(token.find('.')); // ".payload.signature"
  constexpr std::string_view symbols =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/= \x80";
  std::mt19937 rng(20240611);
  int refused = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string segment(1 + rng() % 12, 'A');
    for (char& c : segment) {
      // Mostly the URL alphabet, sometimes a character from outside it.
      c = symbols[rng() % (rng() % 8 == 0 ? symbols.size() : 64)];
    }
    const bool decodable = aegis::base64url_decode(segment).has_value();
    auto v = jwt_verify(segment + tail, keys, policy(), t0);
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error() == jwt_errc::bad_base64, !decodable)
        << "segment '" << segment << "': " << v.error().message();
    refused += decodable ? 0 : 1;
  }
  EXPECT_GT(refused, 1000); // the generator does produce both kinds
  EXPECT_LT(refused, 19000);
}

// I/O threads verify at the same time; each keeps its own scratch buffers.
TEST(Jwt, ConcurrentVerification) {
  std::vector<public_key> keys;
  std::vector<std::string> tokens;
  for (auto type : {key_type::ec_p256, key_type::rsa, key_type::ed25519}) {
    keys.push_back(key_of(type).public_part());
    auto o = mint_options();
    o.subject = "device-" + std::string(to_string(type));
    tokens.push_back(mint(key_of(type), o));
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (std::size_t i = 0; i < 60; ++i) {
        const std::size_t k = (t + i) % tokens.size();
        auto v = jwt_verify(tokens[k], keys, policy(), t0);
        if (!v || v->key_index != k ||
            v->claims.subject != "device-" + std::string(to_string(keys[k].type()))) {
          ++failures;
        }
        // A refused token in between must not disturb the next verification's buffers.
        if (jwt_verify(tokens[k].substr(0, tokens[k].size() - 4), keys, policy(), t0)) {
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  EXPECT_EQ(failures.load(), 0);
}

TEST(Jwt, EveryErrorHasItsOwnDescription) {
  std::set<std::string> seen;
  for (int v = static_cast<int>(jwt_errc::too_large);
       v <= static_cast<int>(jwt_errc::bad_mint_input); ++v) {
    const std::error_code ec = static_cast<jwt_errc>(v);
    EXPECT_STREQ(ec.category().name(), "aegis.crypto.jwt");
    EXPECT_NE(ec.message(), "unknown token error") << v;
    EXPECT_TRUE(seen.insert(ec.message()).second) << "duplicate text for " << v;
  }
}

} // namespace
