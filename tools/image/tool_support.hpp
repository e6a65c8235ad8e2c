#pragma once

// Helpers shared by the device-side tools (aegis-image, aegis-boot): whole-file I/O, numbers
// written as imgtool takes them, and trusted-key loading.

#include "aegis/base/bytes.hpp"
#include "aegis/base/error.hpp"
#include "aegis/crypto/keys.hpp"
#include "aegis/firmware/verify.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace aegis::tools {

result<bytes> read_file(const std::string& path);

enum class file_mode { public_file, secret };
// Secrets are created 0600. Without `overwrite`, an existing file is an error (EEXIST).
result<void> write_file(const std::string& path, bytes_view data, file_mode mode,
                        bool overwrite = true);

// Decimal or 0x-prefixed hexadecimal, like imgtool's int(text, 0); refuses anything else.
std::optional<std::uint64_t> parse_uint(std::string_view text);

result<crypto::private_key> load_private_key(const std::string& path);
// Each file may hold a public key or a private key (its public part is used), as imgtool's
// verify -k accepts either. The order is the key ids' order.
result<firmware::key_ring> load_key_ring(const std::vector<std::string>& paths);

// "hash_mismatch: image SHA-256 does not match (...)" for firmware errors, else the message.
std::string error_text(const std::error_code& ec);

} // namespace aegis::tools
