#include "aegis/crypto/jwt.hpp"

#include "ossl.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

namespace aegis::crypto {
namespace {

using json = nlohmann::json;

// Deeper nesting has no use in a token and only feeds the parser's stacks.
constexpr std::size_t max_json_depth = 32;
// Time claims must be representable in wall_time (int64 nanoseconds, good until 2262).
constexpr std::int64_t max_claim_seconds = (std::int64_t{1} << 33) - 1; // year 2242
static_assert(std::chrono::duration_cast<std::chrono::seconds>(wall_time::duration::max()).count() >
              max_claim_seconds + 2 * 24 * 3600);

// What the top level of a JSON object held under one member name.
struct member {
  enum class kind {
    absent,
    null,
    boolean,
    negative,
    unsigned_int,
    floating,
    string,
    object,
    array
  };

  explicit member(std::string_view member_name) : name(member_name) {}

  std::string_view name;
  kind type = kind::absent;
  std::uint64_t number = 0;
  std::string text;
};

enum class json_outcome { ok, syntax, not_object, duplicate, too_deep };

// The member names seen in one JSON object. Tokens have a handful of members, so a linear scan
// wins; a hostile object with many members switches to a hash set so that finding duplicates
// stays linear in the input size.
class key_set {
public:
  void clear() {
    few_.clear();
    many_.clear();
  }
  // False when `key` was already present.
  bool insert(const std::string& key) {
    if (many_.empty()) {
      if (std::find(few_.begin(), few_.end(), key) != few_.end()) {
        return false;
      }
      if (few_.size() < linear_limit) {
        few_.push_back(key);
        return true;
      }
      many_.insert(std::make_move_iterator(few_.begin()), std::make_move_iterator(few_.end()));
      few_.clear();
    }
    return many_.insert(key).second;
  }

private:
  static constexpr std::size_t linear_limit = 16;
  std::vector<std::string> few_;
  std::unordered_set<std::string> many_;
};

// SAX consumer that checks the text is one JSON object without repeated member names at any
// depth, and captures the top-level members named in `members`. No DOM is built: the verify path
// only needs a few scalars.
class object_reader {
public:
  using string_t = json::string_t;
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using binary_t = json::binary_t;

  // `levels` is scratch space; passing it in lets the verify path keep its capacity.
  object_reader(std::span<member> members, std::vector<key_set>& levels)
      : members_(members), levels_(levels) {}

  json_outcome outcome() const noexcept { return outcome_; }

  bool null() { return scalar(member::kind::null); }
  bool boolean(bool /*value*/) { return scalar(member::kind::boolean); }
  // nlohmann reports non-negative integers through number_unsigned, so this one is negative.
  bool number_integer(number_integer_t /*value*/) { return scalar(member::kind::negative); }
  bool number_unsigned(number_unsigned_t value) {
    if (nest_ == 1 && current_ != nullptr) {
      current_->number = value;
    }
    return scalar(member::kind::unsigned_int);
  }
  bool number_float(number_float_t /*value*/, const string_t& /*text*/) {
    return scalar(member::kind::floating);
  }
  bool string(string_t& value) {
    if (nest_ == 1 && current_ != nullptr) {
      current_->text = value;
    }
    return scalar(member::kind::string);
  }
  bool binary(binary_t& /*value*/) { return fail(json_outcome::syntax); } // JSON has none

  bool start_object(std::size_t /*elements*/) {
    if (nest_ == 1) {
      record(member::kind::object);
    }
    if (!enter()) {
      return false;
    }
    if (levels_.size() == objects_) {
      levels_.emplace_back();
    }
    levels_[objects_].clear();
    ++objects_;
    return true;
  }
  bool key(string_t& name) {
    if (!levels_[objects_ - 1].insert(name)) {
      return fail(json_outcome::duplicate);
    }
    if (nest_ == 1) {
      current_ = nullptr;
      for (auto& m : members_) {
        if (m.name == name) {
          current_ = &m;
          break;
        }
      }
    }
    return true;
  }
  bool end_object() {
    --objects_;
    --nest_;
    return true;
  }
  bool start_array(std::size_t /*elements*/) {
    if (nest_ == 0) {
      return fail(json_outcome::not_object);
    }
    if (nest_ == 1) {
      record(member::kind::array);
    }
    return enter();
  }
  bool end_array() {
    --nest_;
    return true;
  }
  bool parse_error(std::size_t /*position*/, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& /*ex*/) {
    return fail(json_outcome::syntax);
  }

private:
  bool fail(json_outcome why) {
    if (outcome_ == json_outcome::ok) {
      outcome_ = why;
    }
    return false;
  }
  bool enter() {
    if (++nest_ > max_json_depth) {
      return fail(json_outcome::too_deep);
    }
    return true;
  }
  bool scalar(member::kind type) {
    if (nest_ == 0) {
      return fail(json_outcome::not_object);
    }
    if (nest_ == 1) {
      record(type);
    }
    return true;
  }
  void record(member::kind type) {
    if (current_ != nullptr) {
      current_->type = type;
      current_ = nullptr;
    }
  }

  std::span<member> members_;
  member* current_ = nullptr;
  std::vector<key_set>& levels_;
  std::size_t objects_ = 0;
  std::size_t nest_ = 0;
  json_outcome outcome_ = json_outcome::ok;
};

json_outcome read_object(bytes_view text, std::span<member> members, std::vector<key_set>& levels) {
  // nlohmann skips a UTF-8 byte order mark; RFC 8259 §8.1 forbids sending one, and a token
  // has exactly one accepted spelling.
  if (!text.empty() && text[0] == 0xEF) {
    return json_outcome::syntax;
  }
  object_reader reader(members, levels);
  bool parsed = false;
  try {
    parsed = json::sax_parse(text.data(), text.data() + text.size(), &reader);
  } catch (const std::exception&) {
    return json_outcome::syntax; // only allocation failure; still a refusal, never a throw
  }
  if (!parsed && reader.outcome() == json_outcome::ok) {
    return json_outcome::syntax;
  }
  return reader.outcome();
}

json_outcome read_object(bytes_view text, std::span<member> members) {
  std::vector<key_set> levels;
  return read_object(text, members, levels);
}

// Buffers the verify path reuses on each thread, so that a typical token costs no allocation for
// decoding and parsing. Capacity above the default token size is given back after use.
struct verify_scratch {
  bytes header;
  bytes payload;
  bytes signature;
  std::vector<key_set> levels;

  void trim() {
    constexpr std::size_t keep = 8192;
    for (bytes* b : {&header, &payload, &signature}) {
      if (b->capacity() > keep) {
        bytes().swap(*b);
      }
    }
    if (levels.size() > max_json_depth / 4) {
      levels.clear();
      levels.shrink_to_fit();
    }
  }
};

// The contract of aegis::base64url_decode (unpadded, URL alphabet, zero spare bits, so each
// byte string has one spelling), decoding a whole quantum per step into a reused buffer. The
// signature segment alone is 342 characters for RS256; this is on every verification.
bool decode_segment(std::string_view text, bytes& out) {
  static constexpr auto table = [] {
    std::array<std::int8_t, 256> t{};
    t.fill(-1);
    constexpr std::string_view alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (std::size_t i = 0; i < alphabet.size(); ++i) {
      t[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int8_t>(i);
    }
    return t;
  }();
  const std::size_t rest = text.size() % 4;
  if (rest == 1) {
    return false;
  }
  const std::size_t quanta = text.size() / 4;
  out.resize(quanta * 3 + (rest == 0 ? 0 : rest - 1));
  const auto sym = [&](std::size_t i) { return table[static_cast<unsigned char>(text[i])]; };
  std::uint8_t* o = out.data();
  for (std::size_t q = 0; q < quanta; ++q, o += 3) {
    const int a = sym(4 * q);
    const int b = sym(4 * q + 1);
    const int c = sym(4 * q + 2);
    const int d = sym(4 * q + 3);
    if ((a | b | c | d) < 0) {
      return false;
    }
    const auto v = static_cast<std::uint32_t>((a << 18) | (b << 12) | (c << 6) | d);
    o[0] = static_cast<std::uint8_t>(v >> 16);
    o[1] = static_cast<std::uint8_t>(v >> 8);
    o[2] = static_cast<std::uint8_t>(v);
  }
  if (rest == 0) {
    return true;
  }
  const std::size_t i = 4 * quanta;
  const int a = sym(i);
  const int b = sym(i + 1);
  const int c = rest == 3 ? sym(i + 2) : 0;
  if ((a | b | c) < 0) {
    return false;
  }
  o[0] = static_cast<std::uint8_t>((a << 2) | (b >> 4));
  if (rest == 2) {
    return (b & 0x0F) == 0;
  }
  o[1] = static_cast<std::uint8_t>(((b & 0x0F) << 4) | (c >> 2));
  return (c & 0x03) == 0;
}

// The headers that mainstream libraries (Aegis, PyJWT, jose, IoT Core device SDKs) emit, byte
// for byte. Such a header is one object with a known alg and nothing else to check, so the JSON
// parser is skipped for it; any other spelling takes the full path.
std::optional<sig_alg> common_header(bytes_view header) {
  struct known {
    std::string_view text;
    sig_alg alg;
  };
  static constexpr std::array<known, 9> headers{{
      {R"({"alg":"ES256","typ":"JWT"})", sig_alg::es256},
      {R"({"alg":"RS256","typ":"JWT"})", sig_alg::rs256},
      {R"({"alg":"EdDSA","typ":"JWT"})", sig_alg::eddsa},
      {R"({"typ":"JWT","alg":"ES256"})", sig_alg::es256},
      {R"({"typ":"JWT","alg":"RS256"})", sig_alg::rs256},
      {R"({"typ":"JWT","alg":"EdDSA"})", sig_alg::eddsa},
      {R"({"alg":"ES256"})", sig_alg::es256},
      {R"({"alg":"RS256"})", sig_alg::rs256},
      {R"({"alg":"EdDSA"})", sig_alg::eddsa},
  }};
  const std::string_view text = as_string_view(header);
  for (const auto& h : headers) {
    if (text == h.text) {
      return h.alg;
    }
  }
  return std::nullopt;
}

result<sig_alg> header_alg(const member& alg) {
  if (alg.type != member::kind::string) {
    return jwt_errc::bad_header;
  }
  if (auto known = from_jose_name(alg.text)) {
    return *known;
  }
  const std::string_view name = alg.text;
  // RFC 7518 names are case-sensitive, but any spelling of "none" is reported as what it is.
  if (name.size() == 4 && std::equal(name.begin(), name.end(), "none",
                                     [](char a, char b) { return (a | 0x20) == b; })) {
    return jwt_errc::alg_none;
  }
  if (name == "HS256" || name == "HS384" || name == "HS512") {
    return jwt_errc::hmac_refused;
  }
  return jwt_errc::unsupported_alg;
}

// True for a DER ECDSA-Sig-Value (SEQUENCE of two INTEGERs) spanning all of `sig`: the encoding
// some libraries emit by mistake instead of JWS's raw R||S.
bool is_der_ecdsa(bytes_view sig) {
  if (sig.empty() || sig[0] != 0x30) {
    return false;
  }
  const unsigned char* p = sig.data();
  ossl::ecdsa_sig_ptr parsed(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size())));
  ossl::clear_errors();
  return parsed != nullptr && p == sig.data() + sig.size();
}

result<std::int64_t> time_claim(const member& m) {
  if (m.type == member::kind::absent) {
    return jwt_errc::missing_claim;
  }
  // Only JSON integers: a fraction, an exponent, a negative value or one past 2^33 is refused
  // rather than rounded.
  if (m.type != member::kind::unsigned_int ||
      m.number > static_cast<std::uint64_t>(max_claim_seconds)) {
    return jwt_errc::bad_claim_type;
  }
  return static_cast<std::int64_t>(m.number);
}

std::string b64url(std::string_view text) {
  return base64url_encode(as_bytes(text));
}

} // namespace

result<verified_jwt> jwt_verify(std::string_view token, std::span<const public_key> candidates,
                                const jwt_policy& policy, wall_time now) {
  // Size first: nothing of an oversized token is looked at.
  if (token.size() > policy.max_token_size) {
    return jwt_errc::too_large;
  }
  if (candidates.empty()) {
    return jwt_errc::no_candidate_keys;
  }

  const std::size_t dot1 = token.find('.');
  const std::size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return jwt_errc::malformed;
  }
  const std::string_view header_b64 = token.substr(0, dot1);
  const std::string_view payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view signature_b64 = token.substr(dot2 + 1);
  // An empty signature is left to the alg checks: "none" tokens carry one, and saying alg_none
  // tells the audit log more than "malformed".
  if (header_b64.empty() || payload_b64.empty()) {
    return jwt_errc::malformed;
  }
  thread_local verify_scratch scratch;
  struct trim_on_exit {
    verify_scratch& s;
    ~trim_on_exit() { s.trim(); }
  } trim{scratch};
  bytes* const header = &scratch.header;
  bytes* const payload = &scratch.payload;
  bytes* const signature = &scratch.signature;
  if (!decode_segment(header_b64, *header) || !decode_segment(payload_b64, *payload) ||
      !decode_segment(signature_b64, *signature)) {
    return jwt_errc::bad_base64;
  }

  result<sig_alg> alg = sig_alg::es256;
  if (auto common = common_header(*header)) {
    alg = *common;
  } else {
    std::array<member, 2> header_members{member{"alg"}, member{"crit"}};
    switch (read_object(*header, header_members, scratch.levels)) {
    case json_outcome::ok:
      break;
    case json_outcome::duplicate:
      return jwt_errc::duplicate_key;
    default:
      return jwt_errc::bad_header;
    }
    alg = header_alg(header_members[0]);
    if (!alg) {
      return alg.error();
    }
    if (header_members[1].type != member::kind::absent) {
      return jwt_errc::crit_present;
    }
  }

  // The algorithm is the keys' choice: the header only has to agree with at least one of them.
  const bool any_key_admits = std::any_of(candidates.begin(), candidates.end(), [&](const auto& k) {
    return !k.empty() && alg_for(k.type()) == *alg;
  });
  if (!any_key_admits) {
    return jwt_errc::key_mismatch;
  }
  if (*alg == sig_alg::es256 && signature->size() != 64) {
    return is_der_ecdsa(*signature) ? jwt_errc::der_signature : jwt_errc::bad_signature_length;
  }
  if (*alg == sig_alg::eddsa && signature->size() != 64) {
    return jwt_errc::bad_signature_length;
  }

  const bytes_view signing_input = as_bytes(token.substr(0, dot2));
  std::optional<std::size_t> key_index;
  bool any_length_fits = false; // RSA keys of different sizes expect different lengths
  for (std::size_t i = 0; i < candidates.size() && !key_index; ++i) {
    const public_key& key = candidates[i];
    if (key.empty() || alg_for(key.type()) != *alg) {
      continue;
    }
    const auto checked = verify(key, *alg, signing_input, *signature);
    if (checked) {
      key_index = i;
    } else if (checked.error() != sig_errc::bad_signature_length) {
      any_length_fits = true;
    }
  }
  if (!key_index) {
    return any_length_fits ? jwt_errc::bad_signature : jwt_errc::bad_signature_length;
  }

  // From here on the payload is authentic; its claims are judged, not trusted blindly.
  std::array<member, 5> claims{member{"iat"}, member{"exp"}, member{"nbf"}, member{"aud"},
                               member{"sub"}};
  auto& [iat_m, exp_m, nbf_m, aud_m, sub_m] = claims;
  switch (read_object(*payload, claims, scratch.levels)) {
  case json_outcome::ok:
    break;
  case json_outcome::duplicate:
    return jwt_errc::duplicate_key;
  default:
    return jwt_errc::bad_payload;
  }
  const auto iat = time_claim(iat_m);
  if (!iat) {
    return iat.error();
  }
  const auto exp = time_claim(exp_m);
  if (!exp) {
    return exp.error();
  }
  std::optional<std::int64_t> nbf;
  if (nbf_m.type != member::kind::absent) {
    auto value = time_claim(nbf_m);
    if (!value) {
      return value.error();
    }
    nbf = *value;
  }
  if (aud_m.type == member::kind::absent) {
    return jwt_errc::missing_claim;
  }
  // RFC 7519 allows an array of audiences; the IoT Core profile sends one string, and a token
  // meant for several projects is not one Aegis wants to accept.
  if (aud_m.type != member::kind::string) {
    return jwt_errc::bad_claim_type;
  }

  if (*exp <= *iat) {
    return jwt_errc::bad_lifetime;
  }
  if (*exp - *iat > policy.max_lifetime.count()) {
    return jwt_errc::lifetime_too_long;
  }
  const std::int64_t now_s =
      std::chrono::floor<std::chrono::seconds>(now).time_since_epoch().count();
  const std::int64_t skew = policy.skew.count();
  if (*iat - skew > now_s || (nbf && *nbf - skew > now_s)) {
    return jwt_errc::not_yet_valid;
  }
  if (*exp + skew <= now_s) {
    return jwt_errc::expired;
  }
  if (policy.audience.empty() || aud_m.text != policy.audience) {
    return jwt_errc::bad_audience;
  }

  verified_jwt out;
  out.claims.audience = std::move(aud_m.text);
  out.claims.issued_at = wall_time{std::chrono::seconds{*iat}};
  out.claims.expires_at = wall_time{std::chrono::seconds{*exp}};
  if (sub_m.type == member::kind::string) {
    out.claims.subject = std::move(sub_m.text);
  }
  out.claims.payload_json.assign(as_string_view(*payload));
  out.alg = *alg;
  out.key_index = *key_index;
  return out;
}

result<std::string> jwt_mint(const private_key& key, const jwt_mint_options& options) {
  if (key.empty()) {
    return key_errc::no_private_key;
  }
  const sig_alg alg = alg_for(key.type());

  json payload = json::object();
  if (!options.extra_claims_json.empty()) {
    // The same strictness as verification, so Aegis never mints what it would refuse.
    if (read_object(as_bytes(options.extra_claims_json), {}) != json_outcome::ok) {
      return jwt_errc::bad_mint_input;
    }
    payload = json::parse(options.extra_claims_json, nullptr, false);
    for (const char* reserved : {"iat", "exp", "nbf", "aud", "sub"}) {
      if (payload.contains(reserved)) {
        return jwt_errc::bad_mint_input;
      }
    }
  }
  const std::int64_t iat =
      std::chrono::floor<std::chrono::seconds>(options.issued_at).time_since_epoch().count();
  payload["iat"] = iat;
  payload["exp"] = iat + options.lifetime.count();
  payload["aud"] = options.audience;
  if (!options.subject.empty()) {
    payload["sub"] = options.subject;
  }
  std::string payload_text;
  try {
    payload_text = payload.dump();
  } catch (const json::exception&) {
    return jwt_errc::bad_mint_input; // a string that is not UTF-8
  }

  std::string token = b64url(R"({"alg":")" + std::string(jose_name(alg)) + R"(","typ":"JWT"})");
  token += '.';
  token += b64url(payload_text);
  auto signature = sign(key, alg, as_bytes(token));
  if (!signature) {
    return signature.error();
  }
  token += '.';
  token += base64url_encode(*signature);
  return token;
}

} // namespace aegis::crypto
