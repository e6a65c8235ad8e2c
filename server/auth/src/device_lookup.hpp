#pragma once

// What the device authenticators share: parsing the client id as a device path, looking the
// device up, and the checks that follow a verified credential.

#include "aegis/auth/authenticator.hpp"
#include "aegis/registry/model.hpp"
#include "aegis/registry/service.hpp"

#include <optional>
#include <string_view>
#include <variant>

namespace aegis::auth::detail {

inline constexpr std::string_view device_path_prefix = "projects/";
// The longest well-formed device path is about 680 bytes (ids.hpp limits); anything much
// longer is refused before parsing.
inline constexpr std::size_t max_client_id = 1024;

bool looks_like_device_path(std::string_view client_id) noexcept;

// client_id_malformed (detail: the registry's id error) when the path does not parse.
std::variant<registry::device_key, auth_decision> parse_client_id(std::string_view client_id);

// device_unknown, or server_unavailable for a storage failure.
auth_decision lookup_failure(std::error_code e);

struct device_record {
  registry::device_registry registry;
  registry::device device;
};

// device_unknown for any missing parent; server_unavailable when storage fails.
std::variant<device_record, auth_decision> find_device(registry::registry_service& service,
                                                       const registry::device_key& key);

// After a credential verified: blocked device, transport disabled on the registry.
std::optional<auth_decision> check_admission(const device_record& rec, transport via);

identity_kind kind_of(const registry::device& d) noexcept;

} // namespace aegis::auth::detail
