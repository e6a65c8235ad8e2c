#pragma once

// Envelope encryption for secrets at rest: each sealed value gets a fresh random 256-bit data
// key; the data key is wrapped (AES-256-GCM) by the master key and stored beside the
// ciphertext (AES-256-GCM under the data key, random 96-bit nonce, caller's associated data).
// Rotating the master key only rewraps data keys.
//
// Envelope layout (all lengths fixed, version byte first):
//   0x01 | wrap_nonce[12] | wrapped_key[32] | wrap_tag[16] | nonce[12] | ciphertext | tag[16]
// Associated data, so that neither half can be replayed as the other nor under another version:
//   key wrap:  "aegis.envelope.v1.key"
//   payload:   "aegis.envelope.v1.data" || caller's associated data
// The payload's associated data leaves out the wrapped key so that rewrap() need not touch it.
// Random nonces under the master key bound one master key to about 2^32 seals (NIST SP 800-38D
// §8.3); derive() per purpose, and rotate, well before that.

#include "aegis/base/bytes.hpp"
#include "aegis/base/error.hpp"
#include "aegis/crypto/random.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace aegis::crypto {

inline constexpr std::size_t aead_key_size = 32;
inline constexpr std::size_t aead_nonce_size = 12;
inline constexpr std::size_t aead_tag_size = 16;
inline constexpr std::uint8_t envelope_version = 0x01;
// Size of an envelope around an empty plaintext.
inline constexpr std::size_t envelope_overhead =
    1 + aead_nonce_size + aead_key_size + aead_tag_size + aead_nonce_size + aead_tag_size;

// One AES-256-GCM operation, for callers that manage nonces themselves (the secure store).
// Output and input are ciphertext || tag[16]. Never reuse a nonce under one key.
result<bytes> aes256gcm_encrypt(bytes_view key, bytes_view nonce, bytes_view plaintext,
                                bytes_view associated_data);
result<bytes> aes256gcm_decrypt(bytes_view key, bytes_view nonce, bytes_view ciphertext_and_tag,
                                bytes_view associated_data);

// HKDF-SHA256 (RFC 5869): extract with `salt`, expand with `info` to `length` bytes.
result<secure_buffer> hkdf_sha256(bytes_view ikm, bytes_view salt, bytes_view info,
                                  std::size_t length);

class master_key {
public:
  static result<master_key> generate();
  // Exactly aead_key_size bytes.
  static result<master_key> from_bytes(bytes_view raw);

  // A sub-key for a named purpose (HKDF info = purpose), so one master key can serve several
  // uses without their ciphertexts being interchangeable.
  result<master_key> derive(std::string_view purpose) const;

  result<bytes> seal(bytes_view plaintext, bytes_view associated_data) const;
  result<secure_buffer> open(bytes_view envelope, bytes_view associated_data) const;
  // The same envelope with its data key rewrapped under `next` (master key rotation); the
  // payload is not decrypted.
  result<bytes> rewrap(bytes_view envelope, const master_key& next) const;

  bytes_view raw() const noexcept { return key_.view(); }

private:
  explicit master_key(secure_buffer key) : key_(std::move(key)) {}
  secure_buffer key_;
};

} // namespace aegis::crypto
