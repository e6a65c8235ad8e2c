#pragma once

// Parsed credential keys, by their exact PEM text. OpenSSL 3's decoder set-up makes parsing a
// PEM public key several times dearer than verifying an ES256 signature with it
// (performance-baseline §6.3), and every device JWT check needs its device's keys. The cache
// only saves the parse: which credentials are candidates is still decided from the registry
// record read for each authentication, so removing, expiring or replacing a credential takes
// effect at once. Parsing is deterministic, so a PEM seen before yields the same key.

#include "aegis/base/clock.hpp"
#include "aegis/crypto/keys.hpp"

#include <cstddef>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace aegis::auth::detail {

struct parsed_credential {
  crypto::public_key key;
  std::optional<wall_time> certificate_not_after; // X.509 credentials only
};

// Thread-safe (authentications run on the storage executor and the MQTT auth thread at once);
// least recently used entries go first once `capacity` is reached.
class parsed_key_cache {
public:
  explicit parsed_key_cache(std::size_t capacity = 16384) : capacity_(capacity) {}

  // The parsed key of `pem` (a SubjectPublicKeyInfo, or a certificate when `x509`); nullopt
  // when it does not parse (not cached: a credential that fails is rare and cheap to redo).
  std::optional<parsed_credential> get(std::string_view pem, bool x509);

  std::size_t size() const;

private:
  struct entry {
    parsed_credential value;
    std::list<std::string>::iterator order;
  };
  using map_type = std::unordered_map<std::string, entry>;

  std::size_t capacity_;
  mutable std::mutex mutex_;
  map_type entries_;
  std::list<std::string> recency_; // front = most recently used
};

} // namespace aegis::auth::detail
