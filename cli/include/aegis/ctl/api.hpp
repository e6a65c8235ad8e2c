#pragma once

// The admin API's requests (docs/admin-api.md) as pure functions: arguments in, method + path +
// JSON body out. No I/O, so the mapping is tested without a network.

#include "aegis/base/bytes.hpp"
#include "aegis/ctl/transport.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aegis::ctl::api {

// Percent-encodes everything but RFC 3986 unreserved characters, so an id can never add a
// path segment or a query.
std::string encode(std::string_view s);

struct location_ref {
  std::string project;
  std::string location;
};

struct page {
  std::optional<int> size;
  std::string token;
};

request create_project(const std::string& id);
request list_projects(const page& p = {});
request get_project(const std::string& id);

struct registry_options {
  std::optional<bool> mqtt_enabled;
  std::optional<bool> http_enabled;
  std::string log_level; // "" = not sent
};
request create_registry(const location_ref& at, const std::string& id, const registry_options& o);
request list_registries(const location_ref& at, const page& p = {});
request get_registry(const location_ref& at, const std::string& r);
request delete_registry(const location_ref& at, const std::string& r);

// One element of a device's "credentials" array.
nlohmann::json public_key_credential(const std::string& format, const std::string& pem,
                                     const std::string& expiration_time = {});

struct device_options {
  nlohmann::json credentials = nlohmann::json::array();
  bool blocked = false;
  bool gateway = false;
  std::map<std::string, std::string> metadata;
};
request create_device(const location_ref& at, const std::string& r, const std::string& id,
                      const device_options& o);
request list_devices(const location_ref& at, const std::string& r, const page& p = {},
                     const std::string& associated_gateway = {});
request get_device(const location_ref& at, const std::string& r, const std::string& d);
request delete_device(const location_ref& at, const std::string& r, const std::string& d);
request set_blocked(const location_ref& at, const std::string& r, const std::string& d,
                    bool blocked);
request set_credentials(const location_ref& at, const std::string& r, const std::string& d,
                        const nlohmann::json& credentials);
request modify_config(const location_ref& at, const std::string& r, const std::string& d,
                      bytes_view data, std::optional<std::int64_t> version_to_update);
request config_versions(const location_ref& at, const std::string& r, const std::string& d,
                        std::optional<int> count);
request device_states(const location_ref& at, const std::string& r, const std::string& d,
                      std::optional<int> count);
request send_command(const location_ref& at, const std::string& r, const std::string& d,
                     bytes_view data, const std::string& subfolder);
request bind_to_gateway(const location_ref& at, const std::string& r, const std::string& gateway,
                        const std::string& d);
request unbind_from_gateway(const location_ref& at, const std::string& r,
                            const std::string& gateway, const std::string& d);
request sign_certificate(const location_ref& at, const std::string& r, const std::string& d,
                         const std::string& csr_pem, std::optional<int> validity_days);

request create_group(const location_ref& at, const std::string& r, const std::string& g,
                     const std::map<std::string, std::string>& labels);
request list_groups(const location_ref& at, const std::string& r, const page& p = {});
request get_group(const location_ref& at, const std::string& r, const std::string& g);
request delete_group(const location_ref& at, const std::string& r, const std::string& g);
request add_to_group(const location_ref& at, const std::string& r, const std::string& g,
                     const std::vector<std::string>& device_ids);
request remove_from_group(const location_ref& at, const std::string& r, const std::string& g,
                          const std::vector<std::string>& device_ids);
request group_devices(const location_ref& at, const std::string& r, const std::string& g,
                      const page& p = {});

request get_ca();
request ca_registration_code();
request register_ca(const location_ref& at, const std::string& r, const std::string& cert_pem,
                    const std::string& verification_cert_pem);
request revoke_certificate(const std::string& serial_hex, const std::string& reason);
request revoked_certificates();

request create_token(const std::string& scope, const std::string& description,
                     std::optional<std::int64_t> ttl_seconds);
request list_tokens();
request revoke_token(const std::string& id);

struct audit_query {
  std::optional<std::int64_t> after_sequence;
  std::optional<int> page_size;
  std::string target, actor, action;
};
request audit(const audit_query& q);

} // namespace aegis::ctl::api
