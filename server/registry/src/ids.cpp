#include "aegis/registry/ids.hpp"

#include "aegis/registry/errors.hpp"

#include <vector>

namespace aegis::registry {
namespace {

bool is_lower(char c) noexcept {
  return c >= 'a' && c <= 'z';
}
bool is_alpha(char c) noexcept {
  return is_lower(c) || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}
bool is_resource_char(char c) noexcept {
  switch (c) {
  case '-':
  case '.':
  case '_':
  case '+':
  case '~':
  case '%':
    return true;
  default:
    return is_alpha(c) || is_digit(c);
  }
}
bool is_dns_char(char c) noexcept {
  return is_lower(c) || is_digit(c) || c == '-';
}

template <class Pred>
result<void> check_shape(std::string_view id, std::size_t min, std::size_t max, Pred allowed) {
  if (id.size() < min) {
    return registry_errc::id_too_short;
  }
  if (id.size() > max) {
    return registry_errc::id_too_long;
  }
  if (!is_alpha(id.front())) {
    return registry_errc::id_bad_first_character;
  }
  for (char c : id) {
    if (!allowed(c)) {
      return registry_errc::id_bad_character;
    }
  }
  return ok();
}

// Splits "a/b/c" on '/'; empty segments are kept so that "a//b" fails the shape check.
std::vector<std::string_view> split(std::string_view path) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const auto slash = path.find('/', start);
    parts.push_back(path.substr(start, slash == std::string_view::npos ? slash : slash - start));
    if (slash == std::string_view::npos) {
      return parts;
    }
    start = slash + 1;
  }
}

// The registry part of a name split into `expected` segments.
result<registry_key> parse_registry_parts(const std::vector<std::string_view>& parts,
                                          std::size_t expected) {
  if (parts.size() != expected || parts[0] != "projects" || parts[2] != "locations" ||
      parts[4] != "registries") {
    return registry_errc::id_bad_character;
  }
  registry_key key{project_id{std::string(parts[1])}, location_id{std::string(parts[3])},
                   registry_id{std::string(parts[5])}};
  if (auto r = check(key); !r) {
    return r.error();
  }
  return key;
}

} // namespace

result<void> check_project_id(std::string_view id) {
  if (!id.empty() && !is_lower(id.front()) && is_alpha(id.front())) {
    return registry_errc::id_bad_first_character; // upper case: GCP project ids are lower case
  }
  if (auto r = check_shape(id, project_id_min, project_id_max, is_dns_char); !r) {
    return r;
  }
  if (id.back() == '-') {
    return registry_errc::id_bad_last_character;
  }
  return ok();
}

result<void> check_location(std::string_view id) {
  if (!id.empty() && !is_lower(id.front()) && is_alpha(id.front())) {
    return registry_errc::id_bad_first_character;
  }
  if (auto r = check_shape(id, 1, location_max, is_dns_char); !r) {
    return r;
  }
  if (id.back() == '-') {
    return registry_errc::id_bad_last_character;
  }
  return ok();
}

result<void> check_resource_id(std::string_view id) {
  if (auto r = check_shape(id, resource_id_min, resource_id_max, is_resource_char); !r) {
    return r;
  }
  // IoT Core reserves the lower-case prefix only; refusing "Goog..." would refuse ids that
  // fleets migrating from it already use.
  if (id.substr(0, 4) == "goog") {
    return registry_errc::id_reserved_prefix;
  }
  return ok();
}

result<void> check(const registry_key& key) {
  if (auto r = check_project_id(key.project.value()); !r) {
    return r;
  }
  if (auto r = check_location(key.location.value()); !r) {
    return r;
  }
  return check_resource_id(key.registry.value());
}

result<void> check(const device_key& key) {
  if (auto r = check(key.registry); !r) {
    return r;
  }
  return check_resource_id(key.device.value());
}

result<void> check(const group_key& key) {
  if (auto r = check(key.registry); !r) {
    return r;
  }
  return check_resource_id(key.group.value());
}

std::string to_name(const registry_key& key) {
  return "projects/" + key.project.value() + "/locations/" + key.location.value() + "/registries/" +
         key.registry.value();
}

std::string to_name(const device_key& key) {
  return to_name(key.registry) + "/devices/" + key.device.value();
}

std::string to_name(const group_key& key) {
  return to_name(key.registry) + "/groups/" + key.group.value();
}

result<registry_key> parse_registry_name(std::string_view name) {
  return parse_registry_parts(split(name), 6);
}

result<device_key> parse_device_name(std::string_view name) {
  const auto parts = split(name);
  if (parts.size() != 8 || parts[6] != "devices") {
    return registry_errc::id_bad_character;
  }
  auto reg = parse_registry_parts(parts, 8);
  if (!reg) {
    return reg.error();
  }
  device_key key{std::move(*reg), device_id{std::string(parts[7])}};
  if (auto r = check_resource_id(key.device.value()); !r) {
    return r.error();
  }
  return key;
}

} // namespace aegis::registry
