#include "aegis/crypto/aead.hpp"

#include "aegis/crypto/errors.hpp"

#include "ossl.hpp"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <initializer_list>

namespace aegis::crypto {
namespace {

using kdf_ptr = std::unique_ptr<EVP_KDF, ossl::deleter<EVP_KDF_free>>;
using kdf_ctx_ptr = std::unique_ptr<EVP_KDF_CTX, ossl::deleter<EVP_KDF_CTX_free>>;

constexpr std::string_view wrap_label = "aegis.envelope.v1.key";
constexpr std::string_view data_label = "aegis.envelope.v1.data";
constexpr std::string_view derive_salt = "aegis.master-key.derive.v1";

// Envelope offsets.
constexpr std::size_t wrap_nonce_at = 1;
constexpr std::size_t wrapped_key_at = wrap_nonce_at + aead_nonce_size;
constexpr std::size_t wrap_tag_at = wrapped_key_at + aead_key_size;
constexpr std::size_t nonce_at = wrap_tag_at + aead_tag_size;
constexpr std::size_t ciphertext_at = nonce_at + aead_nonce_size;
static_assert(ciphertext_at + aead_tag_size == envelope_overhead);

// EVP update calls take int lengths; feeds larger inputs in pieces.
template <class Fn>
bool for_each_chunk(bytes_view in, Fn&& fn) {
  constexpr std::size_t max_chunk = static_cast<std::size_t>(INT_MAX) / 2;
  for (std::size_t at = 0; at < in.size();) {
    const std::size_t n = std::min(max_chunk, in.size() - at);
    if (!fn(in.subspan(at, n), at)) {
      return false;
    }
    at += n;
  }
  return true;
}

bool feed_aad(EVP_CIPHER_CTX* ctx, bytes_view aad, bool encrypt) {
  return for_each_chunk(aad, [&](bytes_view part, std::size_t) {
    int len = 0;
    const int n = static_cast<int>(part.size());
    return (encrypt ? EVP_EncryptUpdate(ctx, nullptr, &len, part.data(), n)
                    : EVP_DecryptUpdate(ctx, nullptr, &len, part.data(), n)) == 1;
  });
}

// Encrypts `in` into out[0, in.size()) and writes the tag. `aad` parts are fed in order.
bool gcm_seal(bytes_view key, bytes_view nonce, std::initializer_list<bytes_view> aad,
              bytes_view in, std::uint8_t* out, std::uint8_t* tag) {
  ossl::cipher_ctx_ptr ctx(EVP_CIPHER_CTX_new());
  if (!ctx ||
      EVP_EncryptInit_ex2(ctx.get(), EVP_aes_256_gcm(), key.data(), nonce.data(), nullptr) != 1) {
    return false;
  }
  for (bytes_view part : aad) {
    if (!feed_aad(ctx.get(), part, true)) {
      return false;
    }
  }
  const bool ok = for_each_chunk(in, [&](bytes_view part, std::size_t at) {
    int len = 0;
    return EVP_EncryptUpdate(ctx.get(), out + at, &len, part.data(),
                             static_cast<int>(part.size())) == 1 &&
           static_cast<std::size_t>(len) == part.size();
  });
  int final_len = 0;
  std::uint8_t scratch[16];
  if (!ok || EVP_EncryptFinal_ex(ctx.get(), scratch, &final_len) != 1 || final_len != 0) {
    return false;
  }
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, aead_tag_size),
      OSSL_PARAM_construct_end()};
  return EVP_CIPHER_CTX_get_params(ctx.get(), params) == 1;
}

// Decrypts into out[0, in.size()); false when the tag does not verify. On false the caller must
// discard (and wipe) `out`: GCM releases plaintext before the tag is checked.
bool gcm_open(bytes_view key, bytes_view nonce, std::initializer_list<bytes_view> aad,
              bytes_view in, bytes_view tag, std::uint8_t* out) {
  ossl::cipher_ctx_ptr ctx(EVP_CIPHER_CTX_new());
  if (!ctx ||
      EVP_DecryptInit_ex2(ctx.get(), EVP_aes_256_gcm(), key.data(), nonce.data(), nullptr) != 1) {
    return false;
  }
  for (bytes_view part : aad) {
    if (!feed_aad(ctx.get(), part, false)) {
      return false;
    }
  }
  const bool ok = for_each_chunk(in, [&](bytes_view part, std::size_t at) {
    int len = 0;
    return EVP_DecryptUpdate(ctx.get(), out + at, &len, part.data(),
                             static_cast<int>(part.size())) == 1 &&
           static_cast<std::size_t>(len) == part.size();
  });
  std::uint8_t tag_copy[aead_tag_size];
  std::memcpy(tag_copy, tag.data(), aead_tag_size);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag_copy, aead_tag_size),
      OSSL_PARAM_construct_end()};
  int final_len = 0;
  std::uint8_t scratch[16];
  return ok && EVP_CIPHER_CTX_set_params(ctx.get(), params) == 1 &&
         EVP_DecryptFinal_ex(ctx.get(), scratch, &final_len) == 1 && final_len == 0;
}

result<void> check_key_and_nonce(bytes_view key, bytes_view nonce) {
  if (key.size() != aead_key_size) {
    return aead_errc::bad_key_size;
  }
  if (nonce.size() != aead_nonce_size) {
    return aead_errc::bad_nonce_size;
  }
  return ok();
}

// Unwraps the data key of a well-formed envelope.
result<secure_buffer> unwrap_data_key(bytes_view master, bytes_view envelope) {
  secure_buffer data_key(aead_key_size);
  if (!gcm_open(master, envelope.subspan(wrap_nonce_at, aead_nonce_size), {as_bytes(wrap_label)},
                envelope.subspan(wrapped_key_at, aead_key_size),
                envelope.subspan(wrap_tag_at, aead_tag_size), data_key.data())) {
    ossl::clear_errors();
    return aead_errc::decryption_failed;
  }
  return data_key;
}

// Wraps `data_key` into envelope[wrap_nonce_at, nonce_at) with a fresh nonce.
result<void> wrap_data_key(bytes_view master, bytes_view data_key, std::uint8_t* envelope) {
  std::span<std::uint8_t> wrap_nonce(envelope + wrap_nonce_at, aead_nonce_size);
  if (auto r = random_fill(wrap_nonce); !r) {
    return r.error();
  }
  if (!gcm_seal(master, wrap_nonce, {as_bytes(wrap_label)}, data_key, envelope + wrapped_key_at,
                envelope + wrap_tag_at)) {
    ossl::clear_errors();
    return aead_errc::encryption_failed;
  }
  return ok();
}

result<void> check_envelope(bytes_view envelope) {
  // Version first: a future format may be shorter than this one's minimum.
  if (envelope.empty() || envelope[0] != envelope_version || envelope.size() < envelope_overhead) {
    return aead_errc::bad_envelope;
  }
  return ok();
}

} // namespace

result<bytes> aes256gcm_encrypt(bytes_view key, bytes_view nonce, bytes_view plaintext,
                                bytes_view associated_data) {
  if (auto r = check_key_and_nonce(key, nonce); !r) {
    return r.error();
  }
  bytes out(plaintext.size() + aead_tag_size);
  if (!gcm_seal(key, nonce, {associated_data}, plaintext, out.data(),
                out.data() + plaintext.size())) {
    ossl::clear_errors();
    return aead_errc::encryption_failed;
  }
  return out;
}

result<bytes> aes256gcm_decrypt(bytes_view key, bytes_view nonce, bytes_view ciphertext_and_tag,
                                bytes_view associated_data) {
  if (auto r = check_key_and_nonce(key, nonce); !r) {
    return r.error();
  }
  if (ciphertext_and_tag.size() < aead_tag_size) {
    return aead_errc::bad_envelope;
  }
  const std::size_t n = ciphertext_and_tag.size() - aead_tag_size;
  secure_buffer plain(n);
  if (!gcm_open(key, nonce, {associated_data}, ciphertext_and_tag.first(n),
                ciphertext_and_tag.subspan(n), plain.data())) {
    ossl::clear_errors();
    return aead_errc::decryption_failed;
  }
  return bytes(plain.view().begin(), plain.view().end());
}

result<secure_buffer> hkdf_sha256(bytes_view ikm, bytes_view salt, bytes_view info,
                                  std::size_t length) {
  constexpr std::size_t max_length = 255 * 32; // RFC 5869 §2.3
  if (length == 0 || length > max_length) {
    return aead_errc::kdf_failed;
  }
  kdf_ptr kdf(EVP_KDF_fetch(nullptr, OSSL_KDF_NAME_HKDF, nullptr));
  kdf_ctx_ptr ctx(kdf ? EVP_KDF_CTX_new(kdf.get()) : nullptr);
  if (!ctx) {
    ossl::clear_errors();
    return aead_errc::kdf_failed;
  }
  // OSSL_PARAM wants non-const pointers and a non-null key even when the IKM is empty.
  std::uint8_t empty = 0;
  auto octets = [&](const char* name, bytes_view v) {
    void* p = v.empty() ? static_cast<void*>(&empty)
                        : const_cast<void*>(static_cast<const void*>(v.data()));
    return OSSL_PARAM_construct_octet_string(name, p, v.size());
  };
  char digest[] = "SHA256";
  OSSL_PARAM params[5];
  std::size_t n = 0;
  params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
  params[n++] = octets(OSSL_KDF_PARAM_KEY, ikm);
  // RFC 5869 §2.2: an absent salt is HashLen zeros, which OpenSSL applies when none is set.
  if (!salt.empty()) {
    params[n++] = octets(OSSL_KDF_PARAM_SALT, salt);
  }
  if (!info.empty()) {
    params[n++] = octets(OSSL_KDF_PARAM_INFO, info);
  }
  params[n] = OSSL_PARAM_construct_end();
  secure_buffer out(length);
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) {
    ossl::clear_errors();
    return aead_errc::kdf_failed;
  }
  return out;
}

result<master_key> master_key::generate() {
  secure_buffer key(aead_key_size);
  if (auto r = random_fill(key.span()); !r) {
    return r.error();
  }
  return master_key(std::move(key));
}

result<master_key> master_key::from_bytes(bytes_view raw) {
  if (raw.size() != aead_key_size) {
    return aead_errc::bad_key_size;
  }
  return master_key(secure_buffer(raw));
}

result<master_key> master_key::derive(std::string_view purpose) const {
  auto sub = hkdf_sha256(key_.view(), as_bytes(derive_salt), as_bytes(purpose), aead_key_size);
  if (!sub) {
    return sub.error();
  }
  return master_key(std::move(*sub));
}

result<bytes> master_key::seal(bytes_view plaintext, bytes_view associated_data) const {
  bytes envelope(envelope_overhead + plaintext.size());
  envelope[0] = envelope_version;
  secure_buffer data_key(aead_key_size);
  if (auto r = random_fill(data_key.span()); !r) {
    return r.error();
  }
  if (auto r = wrap_data_key(key_.view(), data_key.view(), envelope.data()); !r) {
    return r.error();
  }
  std::span<std::uint8_t> nonce(envelope.data() + nonce_at, aead_nonce_size);
  if (auto r = random_fill(nonce); !r) {
    return r.error();
  }
  if (!gcm_seal(data_key.view(), nonce, {as_bytes(data_label), associated_data}, plaintext,
                envelope.data() + ciphertext_at,
                envelope.data() + ciphertext_at + plaintext.size())) {
    ossl::clear_errors();
    return aead_errc::encryption_failed;
  }
  return envelope;
}

result<secure_buffer> master_key::open(bytes_view envelope, bytes_view associated_data) const {
  if (auto r = check_envelope(envelope); !r) {
    return r.error();
  }
  auto data_key = unwrap_data_key(key_.view(), envelope);
  if (!data_key) {
    return data_key.error();
  }
  const std::size_t n = envelope.size() - envelope_overhead;
  secure_buffer plain(n);
  if (!gcm_open(data_key->view(), envelope.subspan(nonce_at, aead_nonce_size),
                {as_bytes(data_label), associated_data}, envelope.subspan(ciphertext_at, n),
                envelope.subspan(ciphertext_at + n, aead_tag_size), plain.data())) {
    ossl::clear_errors();
    return aead_errc::decryption_failed;
  }
  return plain;
}

result<bytes> master_key::rewrap(bytes_view envelope, const master_key& next) const {
  if (auto r = check_envelope(envelope); !r) {
    return r.error();
  }
  auto data_key = unwrap_data_key(key_.view(), envelope);
  if (!data_key) {
    return data_key.error();
  }
  bytes out(envelope.begin(), envelope.end());
  if (auto r = wrap_data_key(next.key_.view(), data_key->view(), out.data()); !r) {
    return r.error();
  }
  return out;
}

} // namespace aegis::crypto
