// Hostile tokens: each one must be refused, and for its own reason. The set is meant to cover
// every way a forged or sloppy token has fooled a JWT library (alg confusion, "none", HMAC with
// a public key, DER signatures, duplicate members, number tricks, oversized input).

#include "aegis/crypto/jwt.hpp"

#include <gtest/gtest.h>

#include <openssl/ec.h>
#include <openssl/evp.h>

#include <array>
#include <functional>
#include <set>
#include <string>
#include <vector>

namespace {

using namespace aegis::crypto;
using namespace std::chrono_literals;
using aegis::bytes;
using aegis::bytes_view;

constexpr std::int64_t t0 = 1'700'000'000;
const aegis::wall_time now{std::chrono::seconds{t0 + 10}};

struct keyring {
  private_key ec = *private_key::generate(key_type::ec_p256);
  private_key ec_other = *private_key::generate(key_type::ec_p256);
  private_key rsa = *private_key::generate(key_type::rsa, 2048);
  private_key rsa_other = *private_key::generate(key_type::rsa, 2048);
  private_key rsa3072 = *private_key::generate(key_type::rsa, 3072);
  private_key ed = *private_key::generate(key_type::ed25519);
};

const keyring& keys() {
  static const keyring ring;
  return ring;
}

enum class candidates { all, ec_only, rsa_only, ed_only, none };

std::vector<public_key> candidate_keys(candidates which) {
  const auto& k = keys();
  switch (which) {
  case candidates::all:
    return {k.rsa.public_part(), k.ec.public_part(), k.ed.public_part()};
  case candidates::ec_only:
    return {k.ec.public_part()};
  case candidates::rsa_only:
    return {k.rsa.public_part()};
  case candidates::ed_only:
    return {k.ed.public_part()};
  case candidates::none:
    return {};
  }
  return {};
}

std::string b64(std::string_view text) {
  return aegis::base64url_encode(aegis::as_bytes(text));
}
std::string b64(bytes_view data) {
  return aegis::base64url_encode(data);
}

const std::string es_header = R"({"alg":"ES256","typ":"JWT"})";
const std::string rs_header = R"({"alg":"RS256","typ":"JWT"})";
const std::string ed_header = R"({"alg":"EdDSA","typ":"JWT"})";

std::string claims(std::int64_t iat, std::int64_t exp, std::string_view aud = R"("my-project")") {
  return R"({"iat":)" + std::to_string(iat) + R"(,"exp":)" + std::to_string(exp) + R"(,"aud":)" +
         std::string(aud) + R"(,"sub":"dev-1"})";
}
const std::string good_claims = claims(t0, t0 + 3600);

bytes raw_signature(const private_key& key, std::string_view signing_input) {
  auto sig = sign(key, alg_for(key.type()), aegis::as_bytes(signing_input));
  EXPECT_TRUE(sig);
  return sig ? *sig : bytes{};
}

// A token whose signature is genuine: only the content under test is hostile.
std::string forge(const private_key& key, std::string_view header, std::string_view payload) {
  const std::string input = b64(header) + "." + b64(payload);
  return input + "." + b64(raw_signature(key, input));
}

std::string hmac_sha(const char* digest, std::string_view secret, std::string_view header,
                     std::string_view payload) {
  const std::string input = b64(header) + "." + b64(payload);
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  std::size_t len = 0;
  EXPECT_NE(EVP_Q_mac(nullptr, "HMAC", nullptr, digest, nullptr, secret.data(), secret.size(),
                      reinterpret_cast<const unsigned char*>(input.data()), input.size(),
                      mac.data(), mac.size(), &len),
            nullptr);
  return input + "." + b64(bytes_view(mac.data(), len));
}

bytes to_der(bytes_view raw) {
  ECDSA_SIG* sig = ECDSA_SIG_new();
  ECDSA_SIG_set0(sig, BN_bin2bn(raw.data(), 32, nullptr), BN_bin2bn(raw.data() + 32, 32, nullptr));
  bytes der(static_cast<std::size_t>(i2d_ECDSA_SIG(sig, nullptr)));
  unsigned char* p = der.data();
  i2d_ECDSA_SIG(sig, &p);
  ECDSA_SIG_free(sig);
  return der;
}

std::string with_signature(const std::string& input, bytes_view sig) {
  return input + "." + b64(sig);
}

std::string es_input(std::string_view payload = good_claims) {
  return b64(es_header) + "." + b64(payload);
}

// Sets the lowest spare bit of the header segment's last symbol: the symbol after a canonical
// last symbol (its spare bits zero) is always in the alphabet and has that bit set.
std::string with_spare_bit_set(std::string token) {
  const auto last = token.find('.') - 1;
  token[last] = static_cast<char>(token[last] + 1);
  return token;
}

struct hostile_case {
  std::string name;
  jwt_errc expected;
  std::function<std::string()> token;
  candidates keys = candidates::all;
};

std::vector<hostile_case> hostile_cases() {
  const auto& k = keys;
  return {
      // --- algorithm confusion ---
      {"alg_none", jwt_errc::alg_none,
       [] { return b64(R"({"alg":"none","typ":"JWT"})") + "." + b64(good_claims) + "."; }},
      {"alg_none_mixed_case", jwt_errc::alg_none,
       [k] { return forge(k().ec, R"({"alg":"NoNe"})", good_claims); }},
      {"alg_none_json_escaped", jwt_errc::alg_none,
       [] { return b64(R"({"alg":"n\u006fne"})") + "." + b64(good_claims) + "."; }},
      {"hs256_keyed_with_rsa_public_pem", jwt_errc::hmac_refused,
       [k] {
         const std::string pem = *k().rsa.public_part().to_pem();
         return hmac_sha("SHA256", pem, R"({"alg":"HS256","typ":"JWT"})", good_claims);
       },
       candidates::rsa_only},
      {"hs256_keyed_with_ec_public_pem", jwt_errc::hmac_refused,
       [k] {
         const std::string pem = *k().ec.public_part().to_pem();
         return hmac_sha("SHA256", pem, R"({"alg":"HS256"})", good_claims);
       },
       candidates::ec_only},
      {"hs512", jwt_errc::hmac_refused,
       [] { return hmac_sha("SHA512", "secret", R"({"alg":"HS512"})", good_claims); }},
      {"es256_token_rsa_key", jwt_errc::key_mismatch,
       [k] { return forge(k().ec, es_header, good_claims); }, candidates::rsa_only},
      {"rs256_token_ec_key", jwt_errc::key_mismatch,
       [k] { return forge(k().rsa, rs_header, good_claims); }, candidates::ec_only},
      {"eddsa_token_ec_key", jwt_errc::key_mismatch,
       [k] { return forge(k().ed, ed_header, good_claims); }, candidates::ec_only},
      {"es256_token_ed25519_key", jwt_errc::key_mismatch,
       [k] { return forge(k().ec, es_header, good_claims); }, candidates::ed_only},
      // An Ed25519 signature is 64 bytes like ES256: the header must not steer it to the EC key.
      {"header_says_es256_signed_eddsa", jwt_errc::bad_signature,
       [k] { return forge(k().ed, es_header, good_claims); }},
      {"unknown_alg_es384", jwt_errc::unsupported_alg,
       [k] { return forge(k().ec, R"({"alg":"ES384"})", good_claims); }},
      {"unknown_alg_ps256", jwt_errc::unsupported_alg,
       [k] { return forge(k().rsa, R"({"alg":"PS256"})", good_claims); }},
      {"unknown_alg_lowercase_es256", jwt_errc::unsupported_alg,
       [k] { return forge(k().ec, R"({"alg":"es256"})", good_claims); }},
      {"alg_not_a_string", jwt_errc::bad_header,
       [k] { return forge(k().ec, R"({"alg":256})", good_claims); }},
      {"alg_missing", jwt_errc::bad_header,
       [k] { return forge(k().ec, R"({"typ":"JWT"})", good_claims); }},
      {"crit_header", jwt_errc::crit_present,
       [k] { return forge(k().ec, R"({"alg":"ES256","crit":["exp"],"exp":1})", good_claims); }},
      {"crit_empty", jwt_errc::crit_present,
       [k] { return forge(k().ec, R"({"alg":"ES256","crit":[]})", good_claims); }},

      // --- time and audience claims ---
      {"expired", jwt_errc::expired,
       [k] { return forge(k().ec, es_header, claims(t0 - 7200, t0 - 600)); }},
      {"iat_beyond_skew_in_future", jwt_errc::not_yet_valid,
       [k] { return forge(k().ec, es_header, claims(t0 + 10 + 601, t0 + 3600)); }},
      {"nbf_beyond_skew_in_future", jwt_errc::not_yet_valid,
       [k] {
         return forge(k().ec, es_header,
                      R"({"iat":1700000000,"nbf":1700003000,"exp":1700003600,"aud":"my-project"})");
       }},
      {"lifetime_over_24h", jwt_errc::lifetime_too_long,
       [k] { return forge(k().ec, es_header, claims(t0, t0 + 24 * 3600 + 1)); }},
      {"exp_equals_iat", jwt_errc::bad_lifetime,
       [k] { return forge(k().ec, es_header, claims(t0, t0)); }},
      {"exp_before_iat", jwt_errc::bad_lifetime,
       [k] { return forge(k().ec, es_header, claims(t0, t0 - 1)); }},
      {"wrong_aud", jwt_errc::bad_audience,
       [k] { return forge(k().ec, es_header, claims(t0, t0 + 60, R"("other-project")")); }},
      {"aud_prefix_of_project", jwt_errc::bad_audience,
       [k] { return forge(k().ec, es_header, claims(t0, t0 + 60, R"("my-proj")")); }},
      {"aud_array", jwt_errc::bad_claim_type,
       [k] { return forge(k().ec, es_header, claims(t0, t0 + 60, R"(["my-project"])")); }},
      {"aud_number", jwt_errc::bad_claim_type,
       [k] { return forge(k().ec, es_header, claims(t0, t0 + 60, "42")); }},
      {"missing_iat", jwt_errc::missing_claim,
       [k] { return forge(k().ec, es_header, R"({"exp":1700003600,"aud":"my-project"})"); }},
      {"missing_exp", jwt_errc::missing_claim,
       [k] { return forge(k().ec, es_header, R"({"iat":1700000000,"aud":"my-project"})"); }},
      {"missing_aud", jwt_errc::missing_claim,
       [k] { return forge(k().ec, es_header, R"({"iat":1700000000,"exp":1700003600})"); }},
      {"iat_string", jwt_errc::bad_claim_type,
       [k] {
         return forge(k().ec, es_header,
                      R"({"iat":"1700000000","exp":1700003600,"aud":"my-project"})");
       }},
      {"exp_null", jwt_errc::bad_claim_type,
       [k] {
         return forge(k().ec, es_header, R"({"iat":1700000000,"exp":null,"aud":"my-project"})");
       }},
      {"iat_float", jwt_errc::bad_claim_type,
       [k] {
         return forge(k().ec, es_header,
                      R"({"iat":1700000000.0,"exp":1700003600,"aud":"my-project"})");
       }},
      {"exp_exponent", jwt_errc::bad_claim_type,
       [k] {
         return forge(k().ec, es_header, R"({"iat":1700000000,"exp":1.7e9,"aud":"my-project"})");
       }},
      {"iat_negative", jwt_errc::bad_claim_type,
       [k] { return forge(k().ec, es_header, claims(-1, t0 + 60)); }},
      {"exp_beyond_uint64", jwt_errc::bad_claim_type,
       [k] {
         return forge(k().ec, es_header,
                      R"({"iat":1700000000,"exp":99999999999999999999999,"aud":"my-project"})");
       }},
      {"exp_beyond_2242", jwt_errc::bad_claim_type,
       [k] { return forge(k().ec, es_header, claims(t0, std::int64_t{1} << 34)); }},
      {"exp_uint64_max", jwt_errc::bad_claim_type,
       [k] {
         return forge(k().ec, es_header,
                      R"({"iat":1700000000,"exp":18446744073709551615,"aud":"my-project"})");
       }},

      // --- structure and encoding ---
      {"four_segments", jwt_errc::malformed,
       [k] { return forge(k().ec, es_header, good_claims) + ".e30"; }},
      {"two_segments", jwt_errc::malformed, [] { return es_input(); }},
      {"one_segment", jwt_errc::malformed, [] { return b64(es_header); }},
      {"empty_token", jwt_errc::malformed, [] { return std::string(); }},
      {"empty_header_segment", jwt_errc::malformed,
       [k] {
         const std::string t = forge(k().ec, es_header, good_claims);
         return t.substr(t.find('.'));
       }},
      {"padded_base64", jwt_errc::bad_base64,
       [k] { return forge(k().ec, es_header, good_claims) + "="; }},
      {"standard_base64_alphabet", jwt_errc::bad_base64,
       [] { return b64(es_header) + "+/." + b64(good_claims) + ".AAAA"; }},
      {"non_canonical_trailing_bits", jwt_errc::bad_base64,
       [k] {
         std::string t = forge(k().ec, es_header, good_claims);
         // 64 bytes leave 4 spare bits in the last symbol, so it is one of A, Q, g, w; the next
         // symbol sets a spare bit.
         t.back() = static_cast<char>(t.back() + 1);
         return t;
       }},
      {"non_canonical_header_4_spare_bits", jwt_errc::bad_base64,
       [k] { return with_spare_bit_set(forge(k().ec, R"({"alg":"ES256","x":12})", good_claims)); }},
      {"non_canonical_header_2_spare_bits", jwt_errc::bad_base64,
       [k] {
         return with_spare_bit_set(forge(k().ec, R"({"alg":"ES256","x":123})", good_claims));
       }},
      {"trailing_newline", jwt_errc::bad_base64,
       [k] { return forge(k().ec, es_header, good_claims) + "\n"; }},
      {"header_not_json", jwt_errc::bad_header,
       [k] { return forge(k().ec, "alg=ES256", good_claims); }},
      {"header_json_array", jwt_errc::bad_header,
       [k] { return forge(k().ec, R"([{"alg":"ES256"}])", good_claims); }},
      {"header_with_bom", jwt_errc::bad_header,
       [k] { return forge(k().ec, "\xEF\xBB\xBF" + es_header, good_claims); }},
      {"header_invalid_utf8", jwt_errc::bad_header,
       [k] { return forge(k().ec, "{\"alg\":\"ES256\",\"x\":\"\xC3\x28\"}", good_claims); }},
      {"payload_array", jwt_errc::bad_payload, [k] { return forge(k().ec, es_header, "[1]"); }},
      {"payload_trailing_garbage", jwt_errc::bad_payload,
       [k] { return forge(k().ec, es_header, good_claims + "x"); }},
      {"payload_nested_too_deep", jwt_errc::bad_payload,
       [k] {
         return forge(k().ec, es_header,
                      R"({"iat":1700000000,"exp":1700003600,"aud":"my-project","x":)" +
                          std::string(40, '[') + std::string(40, ']') + "}");
       }},
      {"duplicate_header_member", jwt_errc::duplicate_key,
       [k] { return forge(k().ec, R"({"alg":"ES256","alg":"ES256"})", good_claims); }},
      {"duplicate_header_alg_smuggles_none", jwt_errc::duplicate_key,
       [] { return b64(R"({"alg":"ES256","alg":"none"})") + "." + b64(good_claims) + "."; }},
      {"duplicate_payload_member", jwt_errc::duplicate_key,
       [k] {
         return forge(k().ec, es_header,
                      R"({"iat":1700000000,"exp":1700003600,"aud":"x","aud":"my-project"})");
       }},
      {"duplicate_escaped_member_name", jwt_errc::duplicate_key,
       [k] {
         return forge(k().ec, es_header,
                      R"({"iat":1700000000,"exp":1700003600,"aud":"my-project","a\u0075d":"x"})");
       }},
      {"duplicate_nested_member", jwt_errc::duplicate_key,
       [k] {
         return forge(k().ec, es_header,
                      R"({"iat":1700000000,"exp":1700003600,"aud":"my-project",)"
                      R"("cnf":{"k":1,"k":2}})");
       }},
      {"duplicate_among_many_members", jwt_errc::duplicate_key,
       [k] {
         std::string payload = R"({"iat":1700000000,"exp":1700003600,"aud":"my-project")";
         for (int i = 0; i < 40; ++i) {
           payload += ",\"m" + std::to_string(i) + "\":" + std::to_string(i);
         }
         return forge(k().ec, es_header, payload + R"(,"m7":0})");
       }},
      {"token_1_mib", jwt_errc::too_large,
       [k] {
         const std::string pad(1 << 20, 'a');
         return forge(k().ec, es_header,
                      R"({"iat":1700000000,"exp":1700003600,"aud":"my-project","p":")" + pad +
                          "\"}");
       }},
      {"token_8_kib_plus_1", jwt_errc::too_large,
       [k] {
         std::string t = forge(k().ec, es_header, good_claims);
         t.insert(t.find('.') + 1, 8193 - t.size(), 'A');
         return t;
       }},
      {"no_dots_1_mib_garbage", jwt_errc::too_large, [] { return std::string(1 << 20, '\0'); }},

      // --- signatures ---
      {"der_es256_signature", jwt_errc::der_signature,
       [k] {
         const std::string input = es_input();
         return with_signature(input, to_der(raw_signature(k().ec, input)));
       }},
      {"es256_signature_63_bytes", jwt_errc::bad_signature_length,
       [k] {
         const std::string input = es_input();
         bytes sig = raw_signature(k().ec, input);
         sig.pop_back();
         return with_signature(input, sig);
       }},
      {"es256_signature_empty", jwt_errc::bad_signature_length, [] { return es_input() + "."; }},
      {"eddsa_signature_65_bytes", jwt_errc::bad_signature_length,
       [k] {
         const std::string input = b64(ed_header) + "." + b64(good_claims);
         bytes sig = raw_signature(k().ed, input);
         sig.push_back(0);
         return with_signature(input, sig);
       }},
      {"rs256_signature_of_3072_bit_key", jwt_errc::bad_signature_length,
       [k] { return forge(k().rsa3072, rs_header, good_claims); }, candidates::rsa_only},
      {"es256_r_and_s_zero", jwt_errc::bad_signature,
       [] { return with_signature(es_input(), bytes(64, 0)); }},
      {"tampered_payload", jwt_errc::bad_signature,
       [k] {
         const std::string t = forge(k().ec, es_header, good_claims);
         const auto d1 = t.find('.');
         const auto d2 = t.find('.', d1 + 1);
         return t.substr(0, d1 + 1) + b64(claims(t0, t0 + 3600, R"("admin-project")")) +
                t.substr(d2);
       }},
      {"signed_by_unregistered_key", jwt_errc::bad_signature,
       [k] { return forge(k().ec_other, es_header, good_claims); }},
      {"expired_and_badly_signed_reports_signature", jwt_errc::bad_signature,
       [k] { return forge(k().ec_other, es_header, claims(t0 - 7200, t0 - 3600)); }},
      {"rs256_signed_by_other_key", jwt_errc::bad_signature,
       [k] { return forge(k().rsa_other, rs_header, good_claims); }},
      {"no_candidate_keys", jwt_errc::no_candidate_keys,
       [k] { return forge(k().ec, es_header, good_claims); }, candidates::none},
  };
}

void PrintTo(const hostile_case& c, std::ostream* os) {
  *os << c.name;
}

class JwtHostile : public ::testing::TestWithParam<hostile_case> {};

TEST_P(JwtHostile, IsRefusedWithItsOwnError) {
  const hostile_case& c = GetParam();
  jwt_policy policy;
  policy.audience = "my-project";
  const std::string token = c.token();
  const auto keys_for_case = candidate_keys(c.keys);
  auto result = jwt_verify(token, keys_for_case, policy, now);
  ASSERT_FALSE(result) << c.name << " was accepted";
  EXPECT_EQ(result.error(), make_error_code(c.expected))
      << c.name << ": got \"" << result.error().message() << "\", want \""
      << make_error_code(c.expected).message() << "\"";
}

INSTANTIATE_TEST_SUITE_P(Tokens, JwtHostile, ::testing::ValuesIn(hostile_cases()),
                         [](const auto& test_info) { return test_info.param.name; });

// Guards the hostile set itself: the control token passes, so the failures above are caused by
// what each case changed, and every verification error is reached by at least one case.
TEST(JwtHostileSet, ControlTokenVerifies) {
  jwt_policy policy;
  policy.audience = "my-project";
  for (const auto& [key, header] :
       {std::pair{&keys().ec, es_header}, std::pair{&keys().rsa, rs_header},
        std::pair{&keys().ed, ed_header}}) {
    const std::string token = forge(*key, header, good_claims);
    auto v = jwt_verify(token, candidate_keys(candidates::all), policy, now);
    ASSERT_TRUE(v) << header << ": " << v.error().message();
    EXPECT_EQ(v->claims.subject, "dev-1");
  }
}

TEST(JwtHostileSet, CoversEveryVerificationError) {
  std::set<jwt_errc> covered;
  std::set<std::string> names;
  for (const auto& c : hostile_cases()) {
    covered.insert(c.expected);
    EXPECT_TRUE(names.insert(c.name).second) << "duplicate case name " << c.name;
  }
  EXPECT_GE(names.size(), 25U);
  for (int v = static_cast<int>(jwt_errc::too_large);
       v <= static_cast<int>(jwt_errc::no_candidate_keys); ++v) {
    EXPECT_TRUE(covered.count(static_cast<jwt_errc>(v)))
        << "no hostile token for: " << make_error_code(static_cast<jwt_errc>(v)).message();
  }
}

} // namespace
