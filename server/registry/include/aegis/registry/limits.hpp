#pragma once

// The registry's fixed limits (IoT Core §1.12 and §1.13). registry_service enforces them; a
// repository may rely on them (e.g. to size a query) but never checks them itself.

#include <cstddef>

namespace aegis::registry::limits {

inline constexpr std::size_t credentials_per_device = 3;
inline constexpr std::size_t credential_pem_bytes = 16 * 1024;
inline constexpr std::size_t ca_certificates_per_registry = 10;

inline constexpr std::size_t metadata_entries = 500;
inline constexpr std::size_t metadata_key_chars = 128;
inline constexpr std::size_t metadata_value_bytes = 32 * 1024;
inline constexpr std::size_t metadata_total_bytes = 256 * 1024;

inline constexpr std::size_t labels_per_group = 64;
inline constexpr std::size_t label_chars = 63;

inline constexpr std::size_t config_bytes = 64 * 1024;
inline constexpr std::size_t state_bytes = 64 * 1024;
inline constexpr std::size_t config_versions_kept = 10;
inline constexpr std::size_t states_kept = 10;

inline constexpr std::size_t gateways_per_device = 10;
inline constexpr std::size_t devices_per_gateway = 10'000;

inline constexpr std::size_t error_message_bytes = 1024;

inline constexpr std::size_t default_page_size = 100;
inline constexpr std::size_t max_page_size = 500;

} // namespace aegis::registry::limits
