#pragma once

// Identifiers of the registry's resources and the rules they obey (IoT Core §1.13).
//
// A strong id only wraps its text; the check_* functions decide whether the text is acceptable.
// registry_service runs them on every id it is given, before any lookup, so nothing that reaches
// a repository holds a '/', a quote, a NUL or a "..": the stores still bind every value as a
// parameter and never rely on this.

#include "aegis/base/error.hpp"
#include "aegis/base/strong_id.hpp"

#include <compare>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace aegis::registry {

using project_id = strong_id<struct project_id_tag>;
using location_id = strong_id<struct location_id_tag>;
using registry_id = strong_id<struct registry_id_tag>;
using device_id = strong_id<struct device_id_tag>;
using group_id = strong_id<struct group_id_tag>;
// Server-assigned, globally unique, never 0; below 2^63 so it fits a signed 64-bit column.
using device_num_id = strong_id<struct device_num_id_tag, std::uint64_t>;

// Length limits per kind, in bytes (all alphabets are ASCII).
inline constexpr std::size_t project_id_min = 6;
inline constexpr std::size_t project_id_max = 30;
inline constexpr std::size_t location_max = 63;
inline constexpr std::size_t resource_id_min = 3;
inline constexpr std::size_t resource_id_max = 255;

// GCP project id: [a-z][a-z0-9-]{4,28}[a-z0-9]. IoT Core devices send it as the JWT audience.
result<void> check_project_id(std::string_view id);
// A region name such as "us-central1": [a-z]([a-z0-9-]{0,61}[a-z0-9])?. Any region is accepted,
// not only IoT Core's three, because Aegis is self-hosted.
result<void> check_location(std::string_view id);
// Registry, device and group ids: [a-zA-Z][-a-zA-Z0-9._+~%]{2,254}, not starting with "goog".
result<void> check_resource_id(std::string_view id);

struct registry_key {
  project_id project;
  location_id location;
  registry_id registry;
  friend bool operator==(const registry_key&, const registry_key&) = default;
  friend auto operator<=>(const registry_key&, const registry_key&) = default;
};

struct device_key {
  registry_key registry;
  device_id device;
  friend bool operator==(const device_key&, const device_key&) = default;
  friend auto operator<=>(const device_key&, const device_key&) = default;
};

struct group_key {
  registry_key registry;
  group_id group;
  friend bool operator==(const group_key&, const group_key&) = default;
  friend auto operator<=>(const group_key&, const group_key&) = default;
};

// Every segment checked, parent first.
result<void> check(const registry_key& key);
result<void> check(const device_key& key);
result<void> check(const group_key& key);

// Resource names: "projects/{p}/locations/{l}/registries/{r}[/devices/{d}|/groups/{g}]".
std::string to_name(const registry_key& key);
std::string to_name(const device_key& key);
std::string to_name(const group_key& key);
// Parses and checks every segment; a malformed path is id_bad_character.
result<registry_key> parse_registry_name(std::string_view name);
result<device_key> parse_device_name(std::string_view name);

} // namespace aegis::registry
