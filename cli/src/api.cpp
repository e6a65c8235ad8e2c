#include "aegis/ctl/api.hpp"

#include <utility>

namespace aegis::ctl::api {

using nlohmann::json;

std::string encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 0x0f]);
    }
  }
  return out;
}

namespace {

constexpr std::string_view base = "/api/v1";

// Appends "?k=v" / "&k=v" (value encoded).
void add_query(std::string& target, std::string_view key, std::string_view value) {
  target += target.find('?') == std::string::npos ? '?' : '&';
  target += key;
  target += '=';
  target += encode(value);
}

void add_page(std::string& target, const page& p) {
  if (p.size) {
    add_query(target, "pageSize", std::to_string(*p.size));
  }
  if (!p.token.empty()) {
    add_query(target, "pageToken", p.token);
  }
}

std::string registries(const location_ref& at) {
  return std::string(base) + "/projects/" + encode(at.project) + "/locations/" +
         encode(at.location) + "/registries";
}
std::string registry(const location_ref& at, const std::string& r) {
  return registries(at) + "/" + encode(r);
}
std::string device(const location_ref& at, const std::string& r, const std::string& d) {
  return registry(at, r) + "/devices/" + encode(d);
}
std::string group(const location_ref& at, const std::string& r, const std::string& g) {
  return registry(at, r) + "/groups/" + encode(g);
}

request get(std::string target) {
  return {"GET", std::move(target), nullptr};
}
request del(std::string target) {
  return {"DELETE", std::move(target), nullptr};
}
request post(std::string target, json body) {
  return {"POST", std::move(target), std::move(body)};
}

} // namespace

request create_project(const std::string& id) {
  return post(std::string(base) + "/projects", {{"id", id}});
}
request list_projects(const page& p) {
  std::string t = std::string(base) + "/projects";
  add_page(t, p);
  return get(std::move(t));
}
request get_project(const std::string& id) {
  return get(std::string(base) + "/projects/" + encode(id));
}

request create_registry(const location_ref& at, const std::string& id, const registry_options& o) {
  json body = {{"id", id}};
  if (o.mqtt_enabled) {
    body["mqttConfig"] = {{"mqttEnabledState", *o.mqtt_enabled ? "MQTT_ENABLED" : "MQTT_DISABLED"}};
  }
  if (o.http_enabled) {
    body["httpConfig"] = {{"httpEnabledState", *o.http_enabled ? "HTTP_ENABLED" : "HTTP_DISABLED"}};
  }
  if (!o.log_level.empty()) {
    body["logLevel"] = o.log_level;
  }
  return post(registries(at), std::move(body));
}
request list_registries(const location_ref& at, const page& p) {
  std::string t = registries(at);
  add_page(t, p);
  return get(std::move(t));
}
request get_registry(const location_ref& at, const std::string& r) {
  return get(registry(at, r));
}
request delete_registry(const location_ref& at, const std::string& r) {
  return del(registry(at, r));
}

json public_key_credential(const std::string& format, const std::string& pem,
                           const std::string& expiration_time) {
  json c = {{"publicKey", {{"format", format}, {"key", pem}}}};
  if (!expiration_time.empty()) {
    c["expirationTime"] = expiration_time;
  }
  return c;
}

request create_device(const location_ref& at, const std::string& r, const std::string& id,
                      const device_options& o) {
  json body = {{"id", id}};
  if (!o.credentials.empty()) {
    body["credentials"] = o.credentials;
  }
  if (o.blocked) {
    body["blocked"] = true;
  }
  if (o.gateway) {
    body["gatewayConfig"] = {{"gatewayType", "GATEWAY"}, {"gatewayAuthMethod", "ASSOCIATION_ONLY"}};
  }
  if (!o.metadata.empty()) {
    body["metadata"] = o.metadata;
  }
  return post(registry(at, r) + "/devices", std::move(body));
}
request list_devices(const location_ref& at, const std::string& r, const page& p,
                     const std::string& associated_gateway) {
  std::string t = registry(at, r) + "/devices";
  add_page(t, p);
  if (!associated_gateway.empty()) {
    add_query(t, "associationsGatewayId", associated_gateway);
  }
  return get(std::move(t));
}
request get_device(const location_ref& at, const std::string& r, const std::string& d) {
  return get(device(at, r, d));
}
request delete_device(const location_ref& at, const std::string& r, const std::string& d) {
  return del(device(at, r, d));
}
request set_blocked(const location_ref& at, const std::string& r, const std::string& d,
                    bool blocked) {
  return {"PATCH", device(at, r, d) + "?updateMask=blocked", {{"blocked", blocked}}};
}
request set_credentials(const location_ref& at, const std::string& r, const std::string& d,
                        const json& credentials) {
  return {"PATCH", device(at, r, d) + "?updateMask=credentials", {{"credentials", credentials}}};
}
request modify_config(const location_ref& at, const std::string& r, const std::string& d,
                      bytes_view data, std::optional<std::int64_t> version_to_update) {
  json body = {{"binaryData", base64_encode(data)}};
  if (version_to_update) {
    body["versionToUpdate"] = std::to_string(*version_to_update);
  }
  return post(device(at, r, d) + ":modifyCloudToDeviceConfig", std::move(body));
}
request config_versions(const location_ref& at, const std::string& r, const std::string& d,
                        std::optional<int> count) {
  std::string t = device(at, r, d) + "/configVersions";
  if (count) {
    add_query(t, "numVersions", std::to_string(*count));
  }
  return get(std::move(t));
}
request device_states(const location_ref& at, const std::string& r, const std::string& d,
                      std::optional<int> count) {
  std::string t = device(at, r, d) + "/states";
  if (count) {
    add_query(t, "numStates", std::to_string(*count));
  }
  return get(std::move(t));
}
request send_command(const location_ref& at, const std::string& r, const std::string& d,
                     bytes_view data, const std::string& subfolder) {
  json body = {{"binaryData", base64_encode(data)}};
  if (!subfolder.empty()) {
    body["subfolder"] = subfolder;
  }
  return post(device(at, r, d) + ":sendCommandToDevice", std::move(body));
}
request bind_to_gateway(const location_ref& at, const std::string& r, const std::string& gateway,
                        const std::string& d) {
  return post(registry(at, r) + ":bindDeviceToGateway", {{"gatewayId", gateway}, {"deviceId", d}});
}
request unbind_from_gateway(const location_ref& at, const std::string& r,
                            const std::string& gateway, const std::string& d) {
  return post(registry(at, r) + ":unbindDeviceFromGateway",
              {{"gatewayId", gateway}, {"deviceId", d}});
}
request sign_certificate(const location_ref& at, const std::string& r, const std::string& d,
                         const std::string& csr_pem, std::optional<int> validity_days) {
  json body = {{"csr", csr_pem}};
  if (validity_days) {
    body["validityDays"] = *validity_days;
  }
  return post(device(at, r, d) + ":signCertificate", std::move(body));
}

request create_group(const location_ref& at, const std::string& r, const std::string& g,
                     const std::map<std::string, std::string>& labels) {
  json body = {{"id", g}};
  if (!labels.empty()) {
    body["labels"] = labels;
  }
  return post(registry(at, r) + "/groups", std::move(body));
}
request list_groups(const location_ref& at, const std::string& r, const page& p) {
  std::string t = registry(at, r) + "/groups";
  add_page(t, p);
  return get(std::move(t));
}
request get_group(const location_ref& at, const std::string& r, const std::string& g) {
  return get(group(at, r, g));
}
request delete_group(const location_ref& at, const std::string& r, const std::string& g) {
  return del(group(at, r, g));
}
request add_to_group(const location_ref& at, const std::string& r, const std::string& g,
                     const std::vector<std::string>& device_ids) {
  return post(group(at, r, g) + ":addDevices", {{"deviceIds", device_ids}});
}
request remove_from_group(const location_ref& at, const std::string& r, const std::string& g,
                          const std::vector<std::string>& device_ids) {
  return post(group(at, r, g) + ":removeDevices", {{"deviceIds", device_ids}});
}
request group_devices(const location_ref& at, const std::string& r, const std::string& g,
                      const page& p) {
  std::string t = group(at, r, g) + "/devices";
  add_page(t, p);
  return get(std::move(t));
}

request get_ca() {
  return get(std::string(base) + "/ca");
}
request ca_registration_code() {
  return post(std::string(base) + "/ca:registrationCode", json::object());
}
request register_ca(const location_ref& at, const std::string& r, const std::string& cert_pem,
                    const std::string& verification_cert_pem) {
  return post(registry(at, r) + ":registerCaCertificate",
              {{"certificate", cert_pem}, {"verificationCertificate", verification_cert_pem}});
}
request revoke_certificate(const std::string& serial_hex, const std::string& reason) {
  json body = {{"serial", serial_hex}};
  if (!reason.empty()) {
    body["reason"] = reason;
  }
  return post(std::string(base) + "/certificates:revoke", std::move(body));
}
request revoked_certificates() {
  return get(std::string(base) + "/certificates/revoked");
}

request create_token(const std::string& scope, const std::string& description,
                     std::optional<std::int64_t> ttl_seconds) {
  json body = {{"scope", scope}};
  if (!description.empty()) {
    body["description"] = description;
  }
  if (ttl_seconds) {
    body["ttlSeconds"] = std::to_string(*ttl_seconds); // int64: a JSON string (conventions)
  }
  return post(std::string(base) + "/tokens", std::move(body));
}
request list_tokens() {
  return get(std::string(base) + "/tokens");
}
request revoke_token(const std::string& id) {
  return del(std::string(base) + "/tokens/" + encode(id));
}

request audit(const audit_query& q) {
  std::string t = std::string(base) + "/audit";
  if (q.after_sequence) {
    add_query(t, "afterSequence", std::to_string(*q.after_sequence));
  }
  if (q.page_size) {
    add_query(t, "pageSize", std::to_string(*q.page_size));
  }
  if (!q.target.empty()) {
    add_query(t, "target", q.target);
  }
  if (!q.actor.empty()) {
    add_query(t, "actor", q.actor);
  }
  if (!q.action.empty()) {
    add_query(t, "action", q.action);
  }
  return get(std::move(t));
}

} // namespace aegis::ctl::api
