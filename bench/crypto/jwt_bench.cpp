// JWT verification throughput next to the bare signature check it is built on.
//
// For each algorithm, "jwt_verify" runs the whole of aegis::crypto::jwt_verify on a typical
// device token (split, base64url, header and payload JSON, alg pinning, signature, claims), and
// "bare_verify" runs only what any verifier must do for the same signature over the same bytes:
// EVP_MD_CTX_new, EVP_DigestVerifyInit_ex, EVP_DigestVerify (DER signature for ES256, as OpenSSL
// takes it). The difference is what the JWT layer costs; bench/crypto/run reports the ratio.

#include "aegis/crypto/jwt.hpp"

#include <benchmark/benchmark.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

namespace {

using namespace aegis::crypto;

const aegis::wall_time now{std::chrono::seconds{1'700'000'000}};

struct fixture {
  private_key key;
  std::vector<public_key> candidates;
  jwt_policy policy;
  std::string token;
  std::string signing_input;
  aegis::bytes openssl_signature; // what EVP_DigestVerify takes: DER for ECDSA
  const char* digest = nullptr;
};

[[noreturn]] void die(const std::string& why) {
  std::cerr << "jwt_bench: " << why << "\n";
  std::abort();
}

aegis::bytes raw_to_der(aegis::bytes_view raw) {
  ECDSA_SIG* sig = ECDSA_SIG_new();
  ECDSA_SIG_set0(sig, BN_bin2bn(raw.data(), 32, nullptr), BN_bin2bn(raw.data() + 32, 32, nullptr));
  aegis::bytes der(static_cast<std::size_t>(i2d_ECDSA_SIG(sig, nullptr)));
  unsigned char* p = der.data();
  i2d_ECDSA_SIG(sig, &p);
  ECDSA_SIG_free(sig);
  return der;
}

const fixture& fixture_for(key_type type) {
  static std::vector<std::unique_ptr<fixture>> cache(3);
  auto& slot = cache[static_cast<std::size_t>(type)];
  if (slot) {
    return *slot;
  }
  auto f = std::make_unique<fixture>();
  auto key = private_key::generate(type);
  if (!key) {
    die("key generation failed");
  }
  f->key = std::move(*key);
  f->candidates.push_back(f->key.public_part());
  f->policy.audience = "my-project";
  jwt_mint_options o;
  o.audience = "my-project";
  o.subject = "projects/my-project/locations/europe-west1/registries/fleet/devices/sensor-0042";
  o.issued_at = now;
  o.lifetime = std::chrono::hours{1};
  auto token = jwt_mint(f->key, o);
  if (!token) {
    die("mint failed: " + token.error().message());
  }
  f->token = *token;
  const auto dot = f->token.rfind('.');
  f->signing_input = f->token.substr(0, dot);
  auto raw = aegis::base64url_decode(std::string_view(f->token).substr(dot + 1));
  if (!raw) {
    die("bad signature encoding");
  }
  f->openssl_signature = type == key_type::ec_p256 ? raw_to_der(*raw) : *raw;
  f->digest = type == key_type::ed25519 ? nullptr : "SHA256";
  if (!jwt_verify(f->token, f->candidates, f->policy, now)) {
    die("fixture token does not verify");
  }
  slot = std::move(f);
  return *slot;
}

void jwt_verify_bench(benchmark::State& state, key_type type) {
  const fixture& f = fixture_for(type);
  for (auto _ : state) {
    auto verified = jwt_verify(f.token, f.candidates, f.policy, now);
    if (!verified) {
      state.SkipWithError("token refused");
      break;
    }
    benchmark::DoNotOptimize(verified);
  }
  state.SetItemsProcessed(state.iterations());
}

void bare_verify_bench(benchmark::State& state, key_type type) {
  const fixture& f = fixture_for(type);
  EVP_PKEY* pkey = f.candidates[0].native_handle();
  const auto* msg = reinterpret_cast<const unsigned char*>(f.signing_input.data());
  for (auto _ : state) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    const bool ok =
        EVP_DigestVerifyInit_ex(ctx, nullptr, f.digest, nullptr, nullptr, pkey, nullptr) == 1 &&
        EVP_DigestVerify(ctx, f.openssl_signature.data(), f.openssl_signature.size(), msg,
                         f.signing_input.size()) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
      state.SkipWithError("signature refused");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK_CAPTURE(jwt_verify_bench, ES256, key_type::ec_p256);
BENCHMARK_CAPTURE(bare_verify_bench, ES256, key_type::ec_p256);
BENCHMARK_CAPTURE(jwt_verify_bench, RS256, key_type::rsa);
BENCHMARK_CAPTURE(bare_verify_bench, RS256, key_type::rsa);
BENCHMARK_CAPTURE(jwt_verify_bench, EdDSA, key_type::ed25519);
BENCHMARK_CAPTURE(bare_verify_bench, EdDSA, key_type::ed25519);

} // namespace

int main(int argc, char** argv) {
  benchmark::AddCustomContext("openssl", OpenSSL_version(OPENSSL_VERSION));
  benchmark::AddCustomContext("token_bytes_es256",
                              std::to_string(fixture_for(key_type::ec_p256).token.size()));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 1;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
