#pragma once

// JSON <-> registry model for the admin API (docs/admin-api.md, IoT Core's proto3 JSON mapping):
// int64 as strings, RFC 3339 UTC times with milliseconds, enums by name, bytes as base64.
//
// Input is read strictly: an unknown member, a wrong type, bad base64 or an unknown enum name
// throws api_error (400 INVALID_ARGUMENT). api_error is private to this module: the request
// wrapper in admin_api.cpp catches it and turns it into the JSON error answer; it never leaves
// a handler.

#include "aegis/base/bytes.hpp"
#include "aegis/base/clock.hpp"
#include "aegis/registry/model.hpp"
#include "aegis/registry/operators.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace aegis::admin::detail {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

class api_error : public std::runtime_error {
public:
  api_error(unsigned http_status, std::string status, const std::string& message)
      : std::runtime_error(message), http_status_(http_status), status_(std::move(status)) {}
  unsigned http_status() const noexcept { return http_status_; }
  const std::string& status() const noexcept { return status_; }

private:
  unsigned http_status_;
  std::string status_;
};

[[noreturn]] void invalid(const std::string& message);             // 400 INVALID_ARGUMENT
[[noreturn]] void failed_precondition(const std::string& message); // 400 FAILED_PRECONDITION
[[noreturn]] void not_found(const std::string& message);           // 404 NOT_FOUND
// Any error_code: registry_errc through registry::to_wire, crypto errors as 400, the rest 500.
[[noreturn]] void raise(std::error_code ec, std::string_view context = {});
api_error to_api_error(std::error_code ec, std::string_view context = {});

template <class T>
T take(result<T> r, std::string_view context = {}) {
  if (!r) {
    raise(r.error(), context);
  }
  return std::move(r).value();
}
inline void take(result<void> r, std::string_view context = {}) {
  if (!r) {
    raise(r.error(), context);
  }
}

// {"error":{"code":..,"message":..,"status":..}}
std::string error_body(unsigned http_status, std::string_view status, std::string_view message);

// --- times ---
std::string format_time(wall_time t); // 2026-11-25T15:01:23.045Z
// RFC 3339 with 'Z' or a numeric offset, fraction of any length (truncated to nanoseconds).
std::optional<wall_time> parse_time(std::string_view text);

// --- strict input ---
json parse_body(const std::string& body); // must be a JSON object (empty body: {})
// Throws unless every member of `obj` is in `allowed`.
void only_fields(const json& obj, std::initializer_list<std::string_view> allowed,
                 std::string_view what);
const json* member(const json& obj, std::string_view name); // nullptr when absent or null
std::string get_string(const json& v, std::string_view field);
bool get_bool(const json& v, std::string_view field);
// A JSON integer or a decimal string (proto3 JSON accepts both for int64).
std::int64_t get_int64(const json& v, std::string_view field);
bytes get_base64(const json& v, std::string_view field);
registry::string_map get_string_map(const json& v, std::string_view field);
std::vector<std::string> get_string_list(const json& v, std::string_view field);
wall_time get_time(const json& v, std::string_view field);
// A query parameter holding a non-negative decimal integer no larger than `max`.
std::size_t parse_count(std::string_view text, std::string_view name, std::size_t max);

// --- enums by name ---
std::string_view log_level_name(registry::device_log_level v);
registry::device_log_level parse_log_level(const json& v);
std::string_view gateway_type_name(registry::gateway_type v);
registry::gateway_type parse_gateway_type(std::string_view v);
std::string_view auth_method_name(registry::gateway_auth_method v);
registry::gateway_auth_method parse_auth_method(const json& v);

// --- model -> JSON ---
ojson to_json(const registry::project& p);
ojson to_json(const registry::device_registry& r);
ojson to_json(const registry::device& d);
ojson to_json(const registry::config_version& c);
ojson to_json(const registry::device_state& s);
ojson to_json(const registry::device_group& g);
ojson to_json(const registry::operator_token& t);
ojson to_json(const registry::audit_record& a);
ojson to_json(const registry::revoked_certificate& r);

// --- JSON -> model (the parts of a body; ids come from the path or an "id" member) ---
std::vector<registry::credential> parse_device_credentials(const json& v);
std::vector<registry::ca_certificate> parse_registry_credentials(const json& v);
registry::gateway_config parse_gateway_config(const json& v);
bool parse_mqtt_config(const json& v);
bool parse_http_config(const json& v);

// Device field paths of a fieldMask / updateMask: camelCase, snake_case accepted.
std::string normalize_path(std::string_view path);
std::vector<std::string> split_mask(std::string_view mask);

// Opaque page tokens: base64url of the last id of the previous page.
std::string encode_page_token(std::string_view last_id);
std::string decode_page_token(std::string_view token);

} // namespace aegis::admin::detail
