#pragma once

// The device's encrypted key-value file: credentials, queued messages, settings. Every value is
// sealed with AES-256-GCM (OpenSSL, via libs/crypto) under a data key; the data key is wrapped by
// a key in the PKCS#11 token or derived with HKDF-SHA-256 from a device secret file (0600). The
// record's name is bound as additional data, so a value moved to another name, a bit flip, a
// truncated file or a record from another store is detected (store_errc::tampered) and never
// returned. Writes are atomic (temporary file, fsync, rename, fsync of the directory): after a
// power cut the file holds either the old or the new content.
//
// Limits: a whole older copy of the file put back in place (rollback) authenticates, as nothing
// outside the file counts versions. One process opens a store at a time (open() removes the
// temporary files of writes a crash interrupted). Every write rewrites the file with two fsyncs:
// about 50 writes per second on the test machine's disk, whatever the file size.

#include "aegis/base/bytes.hpp"
#include "aegis/base/error.hpp"
#include "aegis/device/keystore.hpp"

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aegis::device {

// What protects the store's data key.
struct store_key_source {
  // HKDF-SHA-256 from the bytes of this file (0600 enforced; at least 32 bytes) ...
  std::filesystem::path secret_file;
  // ... or, when set, an AES key inside the token wraps the data key (CKM_AES_KEY_WRAP_PAD or
  // CKM_AES_GCM), created on first use under `wrapping_key_label`.
  std::optional<pkcs11_slot> token;
  std::string wrapping_key_label = "aegis-store-wrap";
};

class secure_store {
public:
  // Creates the file when missing. Fails with store_errc::tampered when the file exists but does
  // not authenticate, store_errc::wrong_key when the key source does not open it.
  static result<std::unique_ptr<secure_store>> open(const std::filesystem::path& path,
                                                    const store_key_source& key);
  virtual ~secure_store() = default;

  virtual result<std::optional<bytes>> get(std::string_view name) const = 0;
  // Durable when it returns (see above). Names: 1–256 bytes, no NUL.
  virtual result<void> put(std::string_view name, bytes_view value) = 0;
  virtual result<void> erase(std::string_view name) = 0;
  // Several changes in one atomic write.
  struct change {
    std::string name;
    std::optional<bytes> value; // nullopt: erase
  };
  virtual result<void> apply(const std::vector<change>& changes) = 0;
  // Names starting with `prefix`, sorted.
  virtual std::vector<std::string> names(std::string_view prefix = {}) const = 0;
};

} // namespace aegis::device
