#pragma once

// Where a device's private key lives, and the only thing the rest of the SDK may do with it:
// sign. A key file (PEM, refused unless its mode is 0600 and it is a regular file owned by the
// user) or a PKCS#11 token (the secure element; SoftHSM2 in tests) in which the key was generated
// and from which it can never be read.

#include "aegis/base/bytes.hpp"
#include "aegis/base/clock.hpp"
#include "aegis/base/error.hpp"
#include "aegis/crypto/random.hpp"
#include "aegis/crypto/signature.hpp"

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace aegis::device {

class signer {
public:
  virtual ~signer() = default;
  // The JOSE algorithm this key signs with (pinned to the key type: ES256, RS256 or EdDSA).
  virtual crypto::sig_alg algorithm() const noexcept = 0;
  // A JWS signature over `message` in JOSE encoding (ES256: raw R||S, 64 bytes).
  virtual result<bytes> sign(bytes_view message) const = 0;
  // SubjectPublicKeyInfo PEM of the public half (what the server registers).
  virtual result<std::string> public_key_pem() const = 0;
  // "file:<path>" or an RFC 7512 "pkcs11:token=…;object=…" URI: for logs, never a secret.
  virtual std::string describe() const = 0;
};

// Opens a PEM private key file. Refused (keystore_errc::insecure_permissions) when the file is
// not a regular file, is a symlink, or group/others have any access.
result<std::unique_ptr<signer>> open_key_file(const std::filesystem::path& path);

struct pkcs11_slot {
  std::filesystem::path module;   // e.g. /usr/lib/softhsm/libsofthsm2.so
  std::string token_label;        // CKA token label
  crypto::secure_buffer user_pin; // never logged
};

// A P-256 key pair generated inside the token (CKA_SENSITIVE, not CKA_EXTRACTABLE) under
// `key_label` (CKA_LABEL and CKA_ID); fails with keystore_errc::key_exists if one is there.
result<std::unique_ptr<signer>> generate_pkcs11_key(const pkcs11_slot& slot,
                                                    std::string_view key_label);
// An existing private key of the token, found by label; signing happens inside the token.
result<std::unique_ptr<signer>> open_pkcs11_key(const pkcs11_slot& slot,
                                                std::string_view key_label);

struct device_jwt_options {
  std::string project_id;              // the "aud" claim
  std::chrono::seconds lifetime{3600}; // exp - iat; the server caps it at 24 h
};
// An IoT Core device JWT ({"alg":…,"typ":"JWT"}, iat/exp/aud) signed by `key`.
result<std::string> mint_device_jwt(const signer& key, const device_jwt_options& options,
                                    wall_time now);

} // namespace aegis::device
