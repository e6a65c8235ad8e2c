#include "aegis/crypto/signature.hpp"

#include "ossl.hpp"

#include <array>
#include <cstdint>

namespace aegis::crypto {
namespace {

// P-256 scalars are 32 bytes; JWS (RFC 7518 §3.4) and COSE carry R and S padded to that size.
constexpr std::size_t p256_scalar_size = 32;
constexpr std::size_t es256_signature_size = 2 * p256_scalar_size;
constexpr std::size_t ed25519_signature_size = 64;

// nullptr selects the one-shot "no digest" mode that Ed25519 (PureEdDSA) requires.
const char* digest_name(sig_alg alg) noexcept {
  return alg == sig_alg::eddsa ? nullptr : "SHA256";
}

std::size_t expected_signature_size(const public_key& key, sig_alg alg) noexcept {
  switch (alg) {
  case sig_alg::es256:
    return es256_signature_size;
  case sig_alg::eddsa:
    return ed25519_signature_size;
  case sig_alg::rs256:
    // PKCS#1 v1.5 signatures are exactly as long as the modulus.
    return static_cast<std::size_t>(EVP_PKEY_get_size(key.native_handle()));
  }
  return 0;
}

result<bytes> der_to_raw_es256(bytes_view der) {
  const unsigned char* p = der.data();
  ossl::ecdsa_sig_ptr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (!sig) {
    ossl::clear_errors();
    return sig_errc::signing_failed;
  }
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  bytes raw(es256_signature_size);
  constexpr int half = static_cast<int>(p256_scalar_size);
  if (BN_bn2binpad(r, raw.data(), half) != half ||
      BN_bn2binpad(s, raw.data() + p256_scalar_size, half) != half) {
    ossl::clear_errors();
    return sig_errc::signing_failed;
  }
  return raw;
}

// Writes the DER ECDSA-Sig-Value for a raw R||S into `out`; returns its length or 0.
std::size_t raw_to_der_es256(bytes_view raw, std::array<std::uint8_t, 80>& out) {
  ossl::ecdsa_sig_ptr sig(ECDSA_SIG_new());
  ossl::bn_ptr r(BN_bin2bn(raw.data(), static_cast<int>(p256_scalar_size), nullptr));
  ossl::bn_ptr s(
      BN_bin2bn(raw.data() + p256_scalar_size, static_cast<int>(p256_scalar_size), nullptr));
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) {
    ossl::clear_errors();
    return 0;
  }
  // ECDSA_SIG_set0 took ownership of r and s.
  (void)r.release();
  (void)s.release();
  if (i2d_ECDSA_SIG(sig.get(), nullptr) > static_cast<int>(out.size())) {
    return 0;
  }
  unsigned char* p = out.data();
  const int len = i2d_ECDSA_SIG(sig.get(), &p);
  if (len <= 0) {
    ossl::clear_errors();
    return 0;
  }
  return static_cast<std::size_t>(len);
}

} // namespace

std::string_view jose_name(sig_alg alg) noexcept {
  switch (alg) {
  case sig_alg::es256:
    return "ES256";
  case sig_alg::rs256:
    return "RS256";
  case sig_alg::eddsa:
    return "EdDSA";
  }
  return "";
}

std::optional<sig_alg> from_jose_name(std::string_view name) noexcept {
  if (name == "ES256") {
    return sig_alg::es256;
  }
  if (name == "RS256") {
    return sig_alg::rs256;
  }
  if (name == "EdDSA") {
    return sig_alg::eddsa;
  }
  return std::nullopt;
}

sig_alg alg_for(key_type type) noexcept {
  switch (type) {
  case key_type::ec_p256:
    return sig_alg::es256;
  case key_type::rsa:
    return sig_alg::rs256;
  case key_type::ed25519:
    return sig_alg::eddsa;
  }
  return sig_alg::es256;
}

result<bytes> sign(const private_key& key, sig_alg alg, bytes_view message) {
  if (key.empty()) {
    return key_errc::no_private_key;
  }
  if (alg_for(key.type()) != alg) {
    return sig_errc::alg_key_mismatch;
  }
  ossl::md_ctx_ptr ctx(EVP_MD_CTX_new());
  std::size_t len = 0;
  if (!ctx ||
      EVP_DigestSignInit_ex(ctx.get(), nullptr, digest_name(alg), nullptr, nullptr,
                            key.native_handle(), nullptr) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, message.data(), message.size()) != 1) {
    ossl::clear_errors();
    return sig_errc::signing_failed;
  }
  bytes out(len);
  if (EVP_DigestSign(ctx.get(), out.data(), &len, message.data(), message.size()) != 1) {
    ossl::clear_errors();
    return sig_errc::signing_failed;
  }
  out.resize(len);
  if (alg == sig_alg::es256) {
    return der_to_raw_es256(out);
  }
  return out;
}

result<void> verify(const public_key& key, sig_alg alg, bytes_view message, bytes_view signature) {
  if (key.empty()) {
    return sig_errc::bad_signature;
  }
  if (alg_for(key.type()) != alg) {
    return sig_errc::alg_key_mismatch;
  }
  if (signature.size() != expected_signature_size(key, alg)) {
    return sig_errc::bad_signature_length;
  }
  std::array<std::uint8_t, 80> der{};
  if (alg == sig_alg::es256) {
    const std::size_t der_len = raw_to_der_es256(signature, der);
    if (der_len == 0) {
      return sig_errc::bad_signature;
    }
    signature = bytes_view(der.data(), der_len);
  }
  ossl::md_ctx_ptr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit_ex(ctx.get(), nullptr, digest_name(alg), nullptr, nullptr,
                                      key.native_handle(), nullptr) != 1) {
    ossl::clear_errors();
    return sig_errc::bad_signature;
  }
  const int rc = EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message.data(),
                                  message.size());
  if (rc != 1) {
    // 0 is "does not verify", negative is a malformed signature; both are a refusal.
    ossl::clear_errors();
    return sig_errc::bad_signature;
  }
  return ok();
}

} // namespace aegis::crypto
