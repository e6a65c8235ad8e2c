// libFuzzer target: jwt_verify on arbitrary bytes, against fixed keys and a fixed clock, so that
// a crash or an invariant break reproduces from the input alone.
//
// Two input modes:
//  - anything not starting with '{' is a compact token, verified as is;
//  - "{header JSON}\n{payload JSON}" is encoded and signed here with the Ed25519 key, so that
//    mutations of the JSON itself reach the header checks and, past the signature, the payload
//    parser and claim checks (a mutated raw token almost never keeps a valid signature).
// The keys are the public halves of pem_der_fuzz_seeds/{ec_p256,rsa2048,ed25519}_private.pem.
// jwt_fuzz_seeds/ holds tokens signed with them (PyJWT and python3-cryptography) for iat
// 1699999940, exp 1700003540, aud "fuzz-project": valid ones for each alg, hostile ones (none,
// HS256, DER signature, duplicates, crit, floats), and *.json inputs for the second mode.

#include "aegis/crypto/jwt.hpp"

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace aegis::crypto;

constexpr std::string_view ec_p256_public_pem = R"(-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEbciWYblx19JsTCXNiNfRK9O82EYN
p2gbzC55x4BIlPuLkMnurL1jqhvKlKLFJscywC+ID7q4iPY/k/H22ncmag==
-----END PUBLIC KEY-----
)";
constexpr std::string_view rsa2048_public_pem = R"(-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAlkReE0MR/9YlPVIGD6Lm
rJGbP2PA0lj7Z6kGyu5y1/emGHSv+sEh6h3ZAwyDCQm76fkzRtZrpkIdnonigWLj
DGggMsqEL7/DlWc3w6XyTdtcZ4K0n7VtMGN5Dz1sNnn2r8/BVpzCotU7XfzB5kRQ
BYo6rp/5KZrIlSS/fZkdxfHmanlJchlFtu+C2w5vxjHAOub7XZLlKNmtc5uiGFoG
ElkqyEeZ5+jdew5N15/MlcNu7bkDWmIdY7AyIECA9jJYiO5ED8fYwvlqgBkoU1aM
BYgprJmlziUhKJFO7yT2RUADpwjkRVhDqcxfoCxT802LJwDq/3I8sIZu+j4uUvcr
cwIDAQAB
-----END PUBLIC KEY-----
)";
constexpr std::string_view ed25519_public_pem = R"(-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEA7Xwjb6gcuQJMQTKx2A4T2RG3iyuYV46CdDo2dEmcQY4=
-----END PUBLIC KEY-----
)";

// Signs the second input mode; its public half is ed25519_public_pem.
constexpr std::string_view ed25519_private_pem = R"(-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEILZCtvRMX60G7JxFcnJWg8sE24IFa+vHB+zJX290qTIX
-----END PRIVATE KEY-----
)";

const std::vector<public_key>& candidates() {
  static const std::vector<public_key> keys = [] {
    std::vector<public_key> out;
    for (auto pem : {ec_p256_public_pem, rsa2048_public_pem, ed25519_public_pem}) {
      auto key = public_key::from_pem(pem);
      if (!key) {
        std::abort(); // the harness itself is broken
      }
      out.push_back(std::move(*key));
    }
    return out;
  }();
  return keys;
}

const jwt_policy& policy() {
  static const jwt_policy p = [] {
    jwt_policy out;
    out.audience = "fuzz-project";
    return out;
  }();
  return p;
}

std::string signed_token(std::string_view input) {
  static const private_key signer = [] {
    auto key = private_key::from_pem(ed25519_private_pem);
    if (!key) {
      std::abort();
    }
    return std::move(*key);
  }();
  const std::size_t newline = input.find('\n');
  const std::string_view header = input.substr(0, newline);
  const std::string_view payload =
      newline == std::string_view::npos ? std::string_view{} : input.substr(newline + 1);
  std::string token = aegis::base64url_encode(aegis::as_bytes(header)) + "." +
                      aegis::base64url_encode(aegis::as_bytes(payload));
  auto signature = sign(signer, sig_alg::eddsa, aegis::as_bytes(token));
  if (!signature) {
    std::abort();
  }
  return token + "." + aegis::base64url_encode(*signature);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const aegis::wall_time now{std::chrono::seconds{1'700'000'000}};
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::string built = !input.empty() && input[0] == '{' ? signed_token(input) : std::string();
  const std::string_view token = built.empty() ? input : std::string_view(built);
  auto verified = jwt_verify(token, candidates(), policy(), now);
  if (!verified) {
    return 0;
  }
  // What acceptance promises, checked on every accepted input.
  const auto& keys = candidates();
  const auto& claims = verified->claims;
  if (verified->key_index >= keys.size() ||
      alg_for(keys[verified->key_index].type()) != verified->alg ||
      claims.audience != policy().audience || claims.expires_at <= claims.issued_at ||
      claims.expires_at - claims.issued_at > policy().max_lifetime ||
      claims.issued_at - policy().skew > now || claims.expires_at + policy().skew <= now ||
      token.size() > policy().max_token_size) {
    std::abort();
  }
  return 0;
}
