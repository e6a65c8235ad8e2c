#include "aegis/crypto/digest_signature.hpp"

#include "ossl.hpp"

#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <system_error>

namespace aegis::crypto {
namespace {

std::error_code invalid_argument() {
  return std::make_error_code(std::errc::invalid_argument);
}

// Sets the digest (and for RSA the PSS parameters) on a sign or verify context. The salt length
// is fixed rather than "auto" so that verification refuses any other salt length, as MCUboot's
// bootloader does.
bool configure(EVP_PKEY_CTX* ctx, digest_sig_scheme scheme) {
  if (EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) <= 0) {
    return false;
  }
  if (scheme == digest_sig_scheme::rsa_pss_sha256) {
    return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) > 0 &&
           EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) > 0 &&
           EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, rsa_pss_salt_length) > 0;
  }
  return true;
}

} // namespace

result<sha256_digest> sha256(bytes_view data) {
  sha256_digest out{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr) != 1 ||
      len != out.size()) {
    ossl::clear_errors();
    return std::make_error_code(std::errc::not_enough_memory);
  }
  return out;
}

std::string_view to_string(digest_sig_scheme s) noexcept {
  switch (s) {
  case digest_sig_scheme::ecdsa_p256_sha256:
    return "ECDSA P-256 (SHA-256)";
  case digest_sig_scheme::ed25519_digest:
    return "Ed25519 (over the SHA-256 digest)";
  case digest_sig_scheme::rsa_pss_sha256:
    return "RSA-PSS (SHA-256, salt 32)";
  }
  return "unknown";
}

digest_sig_scheme scheme_for(key_type type) noexcept {
  switch (type) {
  case key_type::ec_p256:
    return digest_sig_scheme::ecdsa_p256_sha256;
  case key_type::ed25519:
    return digest_sig_scheme::ed25519_digest;
  case key_type::rsa:
    return digest_sig_scheme::rsa_pss_sha256;
  }
  return digest_sig_scheme::ecdsa_p256_sha256;
}

result<bytes> sign_digest(const private_key& key, digest_sig_scheme scheme, bytes_view digest) {
  if (key.empty()) {
    return key_errc::no_private_key;
  }
  if (digest.size() != sha256_size) {
    return invalid_argument();
  }
  if (scheme_for(key.type()) != scheme) {
    return sig_errc::alg_key_mismatch;
  }
  EVP_PKEY* pkey = key.native_handle();

  if (scheme == digest_sig_scheme::ed25519_digest) {
    // Ed25519 has no pre-hashed input in OpenSSL's EVP_PKEY_sign; the digest is the message.
    ossl::md_ctx_ptr ctx(EVP_MD_CTX_new());
    bytes sig(ed25519_signature_size);
    std::size_t len = sig.size();
    if (!ctx ||
        EVP_DigestSignInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, pkey, nullptr) != 1 ||
        EVP_DigestSign(ctx.get(), sig.data(), &len, digest.data(), digest.size()) != 1 ||
        len != sig.size()) {
      ossl::clear_errors();
      return sig_errc::signing_failed;
    }
    return sig;
  }

  ossl::pkey_ctx_ptr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  std::size_t len = 0;
  if (!ctx || EVP_PKEY_sign_init(ctx.get()) != 1 || !configure(ctx.get(), scheme) ||
      EVP_PKEY_sign(ctx.get(), nullptr, &len, digest.data(), digest.size()) != 1) {
    ossl::clear_errors();
    return sig_errc::signing_failed;
  }
  bytes sig(len);
  if (EVP_PKEY_sign(ctx.get(), sig.data(), &len, digest.data(), digest.size()) != 1) {
    ossl::clear_errors();
    return sig_errc::signing_failed;
  }
  sig.resize(len);
  return sig;
}

result<void> verify_digest(const public_key& key, digest_sig_scheme scheme, bytes_view digest,
                           bytes_view signature) {
  if (key.empty() || digest.size() != sha256_size) {
    return invalid_argument();
  }
  if (scheme_for(key.type()) != scheme) {
    return sig_errc::alg_key_mismatch;
  }
  EVP_PKEY* pkey = key.native_handle();

  switch (scheme) {
  case digest_sig_scheme::ed25519_digest: {
    if (signature.size() != ed25519_signature_size) {
      return sig_errc::bad_signature_length;
    }
    ossl::md_ctx_ptr ctx(EVP_MD_CTX_new());
    const bool verified = ctx &&
                          EVP_DigestVerifyInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr,
                                                  pkey, nullptr) == 1 &&
                          EVP_DigestVerify(ctx.get(), signature.data(), signature.size(),
                                           digest.data(), digest.size()) == 1;
    ossl::clear_errors();
    if (!verified) {
      return sig_errc::bad_signature;
    }
    return aegis::ok();
  }
  case digest_sig_scheme::ecdsa_p256_sha256:
    if (signature.empty() || signature.size() > max_ecdsa_p256_der_size) {
      return sig_errc::bad_signature_length;
    }
    break;
  case digest_sig_scheme::rsa_pss_sha256:
    if (signature.size() != static_cast<std::size_t>(EVP_PKEY_get_size(pkey))) {
      return sig_errc::bad_signature_length;
    }
    break;
  }

  // OpenSSL's ECDSA verify re-encodes the parsed signature and refuses it unless the bytes are
  // identical, so non-canonical DER and trailing bytes fail here too.
  ossl::pkey_ctx_ptr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  const bool verified = ctx && EVP_PKEY_verify_init(ctx.get()) == 1 &&
                        configure(ctx.get(), scheme) &&
                        EVP_PKEY_verify(ctx.get(), signature.data(), signature.size(),
                                        digest.data(), digest.size()) == 1;
  ossl::clear_errors();
  if (!verified) {
    return sig_errc::bad_signature;
  }
  return aegis::ok();
}

result<bytes> key_structure_der(const public_key& key) {
  if (key.empty()) {
    return key_errc::encoding_failed;
  }
  if (key.type() != key_type::rsa) {
    return key.to_der();
  }
  // For RSA, i2d_PublicKey writes the PKCS#1 RSAPublicKey (no algorithm identifier).
  EVP_PKEY* pkey = key.native_handle();
  const int len = i2d_PublicKey(pkey, nullptr);
  if (len <= 0) {
    ossl::clear_errors();
    return key_errc::encoding_failed;
  }
  bytes out(static_cast<std::size_t>(len));
  unsigned char* p = out.data();
  if (i2d_PublicKey(pkey, &p) != len) {
    ossl::clear_errors();
    return key_errc::encoding_failed;
  }
  return out;
}

} // namespace aegis::crypto
