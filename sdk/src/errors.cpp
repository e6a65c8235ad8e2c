#include "aegis/device/errors.hpp"

namespace aegis::device {

std::string_view describe(keystore_errc e) noexcept {
  switch (e) {
  case keystore_errc::insecure_permissions:
    return "key or secret file refused: it must be a regular file (not a symlink) with mode 0600";
  case keystore_errc::not_found:
    return "no such key file or no key with that label in the token";
  case keystore_errc::key_exists:
    return "a key with that label already exists in the token";
  case keystore_errc::pkcs11_module:
    return "the PKCS#11 module cannot be loaded or initialised";
  case keystore_errc::pkcs11_login:
    return "no PKCS#11 token with that label, or its PIN was refused";
  case keystore_errc::pkcs11_failure:
    return "a PKCS#11 operation failed";
  case keystore_errc::unsupported_key:
    return "a key type the device SDK cannot use";
  }
  return "unknown keystore error";
}

std::string_view describe(store_errc e) noexcept {
  switch (e) {
  case store_errc::tampered:
    return "the secure store does not authenticate: it was modified, truncated or mixed up";
  case store_errc::wrong_key:
    return "the key source does not open this secure store";
  case store_errc::io_error:
    return "reading or durably writing the secure store failed";
  case store_errc::bad_name:
    return "secure store record names are 1 to 256 bytes without NUL";
  }
  return "unknown secure store error";
}

std::string_view describe(device_errc e) noexcept {
  switch (e) {
  case device_errc::queue_full:
    return "the offline queue is full (message or byte cap)";
  case device_errc::untrusted_server:
    return "the server certificate does not chain to the configured root certificates";
  case device_errc::host_name_mismatch:
    return "the server certificate is not valid for the host name dialled";
  case device_errc::tls_version_refused:
    return "the server offered a TLS version below 1.2";
  case device_errc::server_refused:
    return "the server refused the request";
  case device_errc::not_connected:
    return "the operation needs a live connection";
  case device_errc::bad_config:
    return "a configuration value is missing or out of range";
  case device_errc::payload_too_large:
    return "the payload is larger than allowed";
  }
  return "unknown device error";
}

} // namespace aegis::device
