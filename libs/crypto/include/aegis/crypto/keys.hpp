#pragma once

// Asymmetric keys on OpenSSL 3 EVP. Only the key types a device credential may use exist here:
// EC P-256, RSA 2048..4096 and Ed25519; anything else is refused at load time with a clear error.

#include "aegis/base/bytes.hpp"
#include "aegis/base/error.hpp"
#include "aegis/crypto/errors.hpp"

#include <string>
#include <string_view>

struct evp_pkey_st; // OpenSSL's EVP_PKEY

namespace aegis::crypto {

enum class key_type { ec_p256, rsa, ed25519 };
std::string_view to_string(key_type t) noexcept;

// A public key. Cheap to copy (shares the immutable OpenSSL object).
class public_key {
public:
  public_key() = default;
  public_key(const public_key& other) noexcept;
  public_key& operator=(const public_key& other) noexcept;
  public_key(public_key&& other) noexcept;
  public_key& operator=(public_key&& other) noexcept;
  ~public_key();

  // SubjectPublicKeyInfo, PEM ("PUBLIC KEY") or DER. A private key PEM is refused.
  static result<public_key> from_pem(std::string_view pem);
  static result<public_key> from_der(bytes_view der);

  bool empty() const noexcept { return pkey_ == nullptr; }
  key_type type() const noexcept { return type_; }
  int bits() const noexcept;

  result<std::string> to_pem() const;
  result<bytes> to_der() const;
  // SHA-256 of the DER SubjectPublicKeyInfo, lowercase hex.
  result<std::string> fingerprint_sha256() const;

  friend bool operator==(const public_key& a, const public_key& b) noexcept;

  // For libs/crypto and TLS set-up only: the key stays owned by this object.
  evp_pkey_st* native_handle() const noexcept { return pkey_; }
  // Takes one reference of `pkey`; refuses unsupported types.
  static result<public_key> adopt(evp_pkey_st* pkey);

private:
  evp_pkey_st* pkey_ = nullptr;
  key_type type_ = key_type::ec_p256;
};

// A private key. Move-only: copies of secrets are made on purpose, never by accident.
class private_key {
public:
  private_key() = default;
  private_key(private_key&& other) noexcept;
  private_key& operator=(private_key&& other) noexcept;
  private_key(const private_key&) = delete;
  private_key& operator=(const private_key&) = delete;
  ~private_key();

  // rsa_bits is used only for key_type::rsa and must be 2048..4096.
  static result<private_key> generate(key_type type, int rsa_bits = 2048);
  // PKCS#8 or traditional PEM; encrypted PEM needs the passphrase.
  static result<private_key> from_pem(std::string_view pem, std::string_view passphrase = {});
  // PKCS#8 DER (unencrypted).
  static result<private_key> from_der(bytes_view der);

  bool empty() const noexcept { return pkey_ == nullptr; }
  key_type type() const noexcept { return type_; }
  int bits() const noexcept;

  // PKCS#8 PEM; with a non-empty passphrase, encrypted with AES-256-CBC under scrypt/PBKDF2.
  result<std::string> to_pem(std::string_view passphrase = {}) const;
  // PKCS#8 DER, unencrypted.
  result<bytes> to_der() const;
  public_key public_part() const;

  // For libs/crypto and TLS set-up only: the key stays owned by this object.
  evp_pkey_st* native_handle() const noexcept { return pkey_; }
  // Takes one reference of `pkey`; refuses unsupported types and keys without a private part.
  static result<private_key> adopt(evp_pkey_st* pkey);

private:
  evp_pkey_st* pkey_ = nullptr;
  key_type type_ = key_type::ec_p256;
};

// Classifies an OpenSSL key, refusing what Aegis does not accept.
result<key_type> classify(const evp_pkey_st* pkey);

} // namespace aegis::crypto
