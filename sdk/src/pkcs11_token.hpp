#pragma once

// The SDK's only PKCS#11 unit (the secure element; SoftHSM2 in tests): raw PKCS#11 through the
// module's C_GetFunctionList, dlopen()ed. <p11-kit/pkcs11.h> is included by pkcs11_token.cpp
// only, because its compatibility macros (`value`, `count`, ...) would leak everywhere else.
//
// PKCS#11 keeps login state per application and token, and C_Logout or C_Finalize end it for
// every session of the process. So each (module, token label) is opened once per process and
// shared: a second opener must present the same PIN (compared in constant time), and the last
// owner logs out, closes and finalises.

#include "aegis/base/bytes.hpp"
#include "aegis/base/error.hpp"
#include "aegis/device/keystore.hpp"

#include <memory>
#include <string>
#include <string_view>

namespace aegis::device::detail {

struct attribute_probe {
  unsigned long rv = 0; // C_GetAttributeValue's return value
  bytes value;          // when rv is CKR_OK
};

class pkcs11_token {
public:
  // Errors: keystore_errc::pkcs11_module (cannot load or initialise), pkcs11_login (no token of
  // that label, PIN refused or different from the PIN the shared session was opened with).
  static result<std::shared_ptr<pkcs11_token>> open(const pkcs11_slot& slot);

  ~pkcs11_token();
  pkcs11_token(const pkcs11_token&) = delete;
  pkcs11_token& operator=(const pkcs11_token&) = delete;

  const std::string& label() const noexcept;
  const std::string& module_path() const noexcept;

  // A P-256 pair (private: token, private, sensitive, not extractable, sign only) with CKA_ID
  // and CKA_LABEL = key_label; returns the public key as SubjectPublicKeyInfo PEM.
  // keystore_errc::key_exists when any object already has that label or id.
  result<std::string> generate_ec_p256(std::string_view key_label);
  // The public key PEM of the EC pair labelled key_label; not_found when the token lacks the
  // private key or its public half, unsupported_key when it is not an EC P-256 key.
  result<std::string> ec_p256_public_pem(std::string_view key_label);
  // CKM_ECDSA over a 32-byte digest: raw r||s (64 bytes).
  result<bytes> sign_ecdsa_digest(std::string_view key_label, bytes_view digest);

  // The CKA_ID of the AES-256 secret key labelled key_label, created (token, private,
  // sensitive, not extractable, encrypt/decrypt only, random 16-byte id) when missing and
  // `create` is set; not_found otherwise.
  result<bytes> aes_key_id(std::string_view key_label, bool create);
  // CKM_AES_GCM inside the token: output ciphertext || tag[16].
  result<bytes> aes_gcm_encrypt(std::string_view key_label, bytes_view iv, bytes_view plaintext,
                                bytes_view aad);
  // Any failure, including a tag that does not verify, is keystore_errc::pkcs11_failure.
  result<crypto::secure_buffer> aes_gcm_decrypt(std::string_view key_label, bytes_view iv,
                                                bytes_view ciphertext_and_tag, bytes_view aad);

  // One attribute of the private (or secret) key labelled key_label, exactly as the token
  // answers: for tests that prove the key cannot be read.
  attribute_probe private_key_attribute(std::string_view key_label, unsigned long type);
  // Removes every object labelled key_label (tests).
  result<void> destroy_objects(std::string_view key_label);

  struct impl;

private:
  explicit pkcs11_token(std::unique_ptr<impl> p);
  std::unique_ptr<impl> p_;
};

// RFC 7512: "pkcs11:token=L;object=K;type=private", values percent-encoded.
std::string pkcs11_key_uri(std::string_view token_label, std::string_view key_label);

} // namespace aegis::device::detail
