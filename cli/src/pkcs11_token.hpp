#pragma once

// aegisctl's only PKCS#11 unit: device key pairs generated INSIDE a token (a secure element,
// SoftHSM2 in tests) through raw PKCS#11 (<p11-kit/pkcs11.h>, the module dlopen()ed, no OpenSSL
// ENGINE). The private key is created sensitive and non-extractable and never leaves the token;
// only its public half is read back (CKA_EC_POINT + CKA_EC_PARAMS) and registered.
//
// <p11-kit/pkcs11.h> is included by pkcs11_token.cpp only: its compatibility macros (`value`,
// `count`, ...) must not leak into other translation units.

#include "aegis/base/bytes.hpp"
#include "aegis/crypto/random.hpp"

#include <memory>
#include <string>
#include <string_view>

namespace aegis::ctl::pkcs11 {

// The user PIN never comes from the command line. From the environment variable `var` (usage
// error when unset or empty) ...
crypto::secure_buffer pin_from_env(const std::string& var);
// ... or from a file that is not a symlink, is owned by the current user and that neither group
// nor others may access (usage error otherwise). Trailing CR/LF are dropped.
crypto::secure_buffer pin_from_file(const std::string& path);

// RFC 7512: "pkcs11:token=L;object=K;type=private", values percent-encoded.
std::string key_uri(std::string_view token_label, std::string_view key_label);

// A SubjectPublicKeyInfo PEM from a token's CKA_EC_PARAMS (must be the P-256 OID) and
// CKA_EC_POINT (a DER OCTET STRING holding the uncompressed point; a bare 65-byte point is
// accepted too). Built with EVP_PKEY_fromdata; the point must be on the curve.
// Throws ctl_error("pkcs11") otherwise.
std::string ec_p256_public_pem(bytes_view ec_params, bytes_view ec_point);

struct generated_key {
  unsigned long public_handle = 0;
  unsigned long private_handle = 0;
  std::string label; // CKA_LABEL and CKA_ID
  std::string public_pem;
  std::string uri;
};

struct attribute_read {
  unsigned long rv = 0; // C_GetAttributeValue's return value
  bytes value;          // when rv is CKR_OK
};

// A logged-in read/write session with one token. The destructor logs out, closes the session,
// calls C_Finalize and unloads the module. Every failure is a ctl_error with status "pkcs11"
// (exit 1); a token label that cannot exist (over 32 bytes) is a usage error. The PIN is never
// part of a message.
class token {
public:
  // Loads `module_path`, finds the one token labelled `token_label`, opens a R/W session and
  // logs in as the user with `pin`.
  token(const std::string& module_path, const std::string& token_label, bytes_view pin);
  ~token();
  token(const token&) = delete;
  token& operator=(const token&) = delete;

  const std::string& label() const noexcept;

  // True when any object visible to the user has CKA_LABEL == key_label or CKA_ID == key_label.
  bool has_object(std::string_view key_label);

  // C_GenerateKeyPair (CKM_EC_KEY_PAIR_GEN, P-256): a token private key (CKA_PRIVATE,
  // CKA_SENSITIVE, not CKA_EXTRACTABLE, CKA_SIGN only) and its public key, both with CKA_ID and
  // CKA_LABEL = key_label. Refuses when has_object(key_label). The private key's attributes are
  // read back and the pair is destroyed again if the token did not honour them.
  generated_key generate_ec_p256(const std::string& key_label);

  // C_DestroyObject on both halves; false when either could not be destroyed.
  bool destroy(const generated_key& k) noexcept;

  // The public key object labelled `key_label`, as SubjectPublicKeyInfo PEM.
  std::string public_key_pem(std::string_view key_label);
  // CKM_ECDSA with the private key labelled `key_label` over `digest`: raw r||s.
  bytes sign_digest(std::string_view key_label, bytes_view digest);
  // One attribute of the private key labelled `key_label`, as the token answers it.
  attribute_read private_key_attribute(std::string_view key_label, unsigned long type);

private:
  struct impl;
  std::unique_ptr<impl> p_;
};

} // namespace aegis::ctl::pkcs11
