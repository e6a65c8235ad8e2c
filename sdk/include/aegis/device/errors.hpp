#pragma once

// Error values of libaegis-device. One enum per area, each value its own reason, so that a device
// can report exactly why it refused something.

#include "aegis/base/error.hpp"

#include <string_view>

namespace aegis::device {

enum class keystore_errc {
  insecure_permissions = 1, // key or secret file: not a regular file, a symlink, or not 0600
  not_found,                // no such file / no such key label in the token
  key_exists,               // generate: a key with that label is already in the token
  pkcs11_module,            // the PKCS#11 module cannot be loaded or initialised
  pkcs11_login,             // no token with that label, or the PIN is refused
  pkcs11_failure,           // any other PKCS#11 error (the CKR_ value is logged)
  unsupported_key,          // a key type the SDK cannot use
};
std::string_view describe(keystore_errc e) noexcept;

enum class store_errc {
  tampered = 1, // the file or a record does not authenticate: never silently accepted
  wrong_key,    // the key source does not open this store
  io_error,     // read, write, fsync or rename failed
  bad_name,     // empty, over 256 bytes, or contains NUL
};
std::string_view describe(store_errc e) noexcept;

enum class device_errc {
  queue_full = 1,      // the offline queue is at its message or byte cap
  untrusted_server,    // the server's certificate does not chain to the given roots
  host_name_mismatch,  // the certificate is not for the host name dialled
  tls_version_refused, // the server offered less than TLS 1.2
  server_refused,      // CONNACK / HTTP refusal (the code is in the message and the log)
  not_connected,       // an operation that needs a live session
  bad_config,          // a configuration value out of range or missing
  payload_too_large,
};
std::string_view describe(device_errc e) noexcept;

} // namespace aegis::device

AEGIS_ERROR_ENUM(aegis::device, keystore_errc, "aegis.device.keystore", describe)
AEGIS_ERROR_ENUM(aegis::device, store_errc, "aegis.device.store", describe)
AEGIS_ERROR_ENUM(aegis::device, device_errc, "aegis.device", describe)
