#pragma once

// Value types of the device registry: projects -> registries -> devices, and device groups.
// Field meanings follow IoT Core's Device Manager model (reference §3); enum numeric values are
// IoT Core's wherever it defines them, so the admin API can map them one to one.

#include "aegis/base/bytes.hpp"
#include "aegis/base/clock.hpp"
#include "aegis/registry/ids.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aegis::registry {

// IoT Core's LogLevel; unspecified means logging is off (a device's value overrides its
// registry's).
enum class device_log_level { unspecified = 0, none = 10, error = 20, info = 30, debug = 40 };

struct project {
  project_id id{};
  wall_time create_time{};
  friend bool operator==(const project&, const project&) = default;
};

// A CA certificate registered on a registry: new device certificates must be signed directly
// by one of them. Only the PEM is stored; details are derived from it when needed.
struct ca_certificate {
  std::string pem{};
  friend bool operator==(const ca_certificate&, const ca_certificate&) = default;
};

struct device_registry {
  registry_key key{};
  bool mqtt_enabled = true;
  bool http_enabled = true;
  device_log_level log_level = device_log_level::unspecified;
  std::vector<ca_certificate> ca_certificates{}; // at most 10
  wall_time create_time{};
  friend bool operator==(const device_registry&, const device_registry&) = default;
};

// IoT Core's PublicKeyFormat values, plus ED25519_PEM (Aegis accepts EdDSA JWTs).
enum class credential_format {
  unspecified = 0,
  rsa_x509_pem = 1,
  es256_pem = 2,
  rsa_pem = 3,
  es256_x509_pem = 4,
  ed25519_pem = 5,
};
// "RSA_X509_PEM", "ES256_PEM", ...; parse_credential_format refuses anything else.
std::string_view to_string(credential_format f) noexcept;
std::optional<credential_format> parse_credential_format(std::string_view text) noexcept;
bool is_x509(credential_format f) noexcept;

struct credential {
  credential_format format = credential_format::unspecified;
  std::string pem{}; // a PUBLIC KEY for *_PEM, a CERTIFICATE for *_X509_PEM
  std::optional<wall_time> expiration_time{}; // none: never expires
  friend bool operator==(const credential&, const credential&) = default;
};

enum class gateway_type { unspecified = 0, gateway = 1, non_gateway = 2 };
enum class gateway_auth_method {
  unspecified = 0, // no device may use the gateway
  association_only = 1,
  device_auth_token_only = 2,
  association_and_device_auth_token = 3,
};

struct gateway_config {
  gateway_type type = gateway_type::unspecified; // unspecified behaves as non_gateway
  gateway_auth_method auth_method = gateway_auth_method::unspecified;
  friend bool operator==(const gateway_config&, const gateway_config&) = default;
};

// google.rpc.Status: code 0 and an empty message when there was no error.
struct error_status {
  int code = 0;
  std::string message{};
  friend bool operator==(const error_status&, const error_status&) = default;
};

// What the data plane records about a device; output-only for operators.
struct device_activity {
  std::optional<wall_time> last_heartbeat_time{};
  std::optional<wall_time> last_event_time{};
  std::optional<wall_time> last_state_time{};
  std::optional<wall_time> last_config_ack_time{};
  std::optional<wall_time> last_config_send_time{};
  std::optional<wall_time> last_error_time{};
  error_status last_error_status{};
  std::string last_accessed_gateway_id{}; // IoT Core reports these two in gateway_config
  std::optional<wall_time> last_accessed_gateway_time{};
  friend bool operator==(const device_activity&, const device_activity&) = default;
};

using string_map = std::map<std::string, std::string>;

struct device {
  device_key key{};
  device_num_id num_id{};
  std::vector<credential> credentials{}; // at most 3
  bool blocked = false;
  string_map metadata{};
  gateway_config gateway{};
  device_log_level log_level = device_log_level::unspecified;
  device_activity activity{};
  wall_time create_time{};
  friend bool operator==(const device&, const device&) = default;
};

struct config_version {
  std::int64_t version = 0; // 1 for a new device, +1 per update
  wall_time cloud_update_time{};
  std::optional<wall_time> device_ack_time{}; // none: never acknowledged
  bytes data{};
  friend bool operator==(const config_version&, const config_version&) = default;
};

struct device_state {
  wall_time update_time{};
  bytes data{};
  friend bool operator==(const device_state&, const device_state&) = default;
};

// A named set of devices of one registry, with labels, for rollouts to target.
struct device_group {
  group_key key{};
  string_map labels{};
  wall_time create_time{};
  friend bool operator==(const device_group&, const device_group&) = default;
};

// Keyset pagination: the next page starts after the last id of the previous one.
struct page_request {
  std::size_t page_size = 0; // 0: the default (100); at most 500
  std::string after{};       // empty: from the first id
};

} // namespace aegis::registry
