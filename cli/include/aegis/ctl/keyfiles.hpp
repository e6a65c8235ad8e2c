#pragma once

// Device key pairs generated on the operator's machine: the private key goes to DIR/ID.key
// (0600, never overwritten), the public key to DIR/ID.pub; only the public key is registered.

#include "aegis/crypto/keys.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace aegis::ctl {

// "es256" | "rs256" | "ed25519" -> key type; nullopt otherwise.
std::optional<crypto::key_type> parse_key_type(std::string_view name);
// The admin API's credential format for a bare public key of that type ("ES256_PEM", ...).
std::string credential_format(crypto::key_type t);

// Refuses ids that cannot safely name a file (empty, '/', leading '.', control characters).
void check_file_safe_id(const std::string& id);

struct written_key {
  std::filesystem::path private_path;
  std::filesystem::path public_path;
  std::string public_pem;
  std::string format;
};

// Generates the key pair and writes both files; refuses (ctl_error "file") when either exists.
written_key write_device_key(const std::filesystem::path& dir, const std::string& device_id,
                             crypto::key_type type, int rsa_bits = 2048);
// Removes files written by write_device_key (when registration failed).
void remove_device_key(const written_key& k) noexcept;

// Creates `path` with `mode` (O_EXCL, no symlink following) and writes `content`.
void write_new_file(const std::filesystem::path& path, std::string_view content, unsigned mode);
std::string read_file(const std::filesystem::path& path);

} // namespace aegis::ctl
