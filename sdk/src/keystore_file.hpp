#pragma once

// Reading a file that holds a secret (a private key PEM, the secure store's device secret).

#include "aegis/base/error.hpp"
#include "aegis/crypto/random.hpp"

#include <cstddef>
#include <filesystem>

namespace aegis::device::detail {

// Refuses (keystore_errc::insecure_permissions) a symlink, anything but a regular file, a file
// of another user, or one that group or others may access in any way; not_found when missing;
// unsupported_key when larger than max_size.
result<crypto::secure_buffer> read_private_file(const std::filesystem::path& path,
                                                std::size_t max_size);

} // namespace aegis::device::detail
