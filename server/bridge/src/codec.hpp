#pragma once

// The bridge's wire formats, apart from any I/O (STYLE.md habit 1): request bodies and query
// parameters in, JSON bodies out. Field names follow reference §2.2: proto3 JSON, so both the
// camelCase names of Google's reference (binaryData, subFolder) and the snake_case ones of its
// curl examples (binary_data, sub_folder) are accepted; giving both spellings of one field is
// refused, as are unknown fields. `bytes` fields accept standard and URL-safe base64, with or
// without padding (proto3 JSON input rules).

#include "aegis/base/bytes.hpp"
#include "aegis/base/clock.hpp"
#include "aegis/http/server.hpp"
#include "aegis/registry/model.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aegis::bridge::detail {

// GatewayInfo (reference §2.3): at most one of the two.
struct gateway_info {
  std::string gateway_id{};          // device path and token, relayed through this gateway
  std::string delegated_device_id{}; // gateway path and token, acting for this bound device
};

struct publish_event_body {
  bytes data{};
  std::string subfolder{};
  gateway_info gateway{};
};

struct set_state_body {
  bytes data{};
  gateway_info gateway{};
};

// Why a body or query was refused: always 400 INVALID_ARGUMENT, or 413 when a decoded payload
// is over its limit. `message` never quotes the client's input.
struct input_error {
  unsigned http_status = 400;
  std::string message{};
};

template <class T>
struct parsed {
  std::optional<T> value{};
  input_error error{};
};

parsed<publish_event_body> parse_publish_event(std::string_view body, std::size_t max_payload);
parsed<set_state_body> parse_set_state(std::string_view body, std::size_t max_payload);

// How long a base64 text of `payload` bytes may be, plus room for the JSON around it: a body
// longer than this is refused (413) before it is parsed.
std::size_t max_body_for(std::size_t payload) noexcept;

// proto3 JSON `bytes`: standard or URL-safe alphabet, padding optional.
std::optional<bytes> decode_bytes_field(std::string_view text);

// A subfolder as MQTT would carry it after /devices/{d}/events/: empty, or levels that are not
// empty, "." or "..", without '+', '#' or NUL, and at most 1,024 bytes in all.
bool valid_subfolder(std::string_view subfolder) noexcept;

struct config_query {
  std::int64_t local_version = 0;
  std::chrono::seconds wait{0};
  gateway_info gateway{};
};
// local_version / localVersion (a non-negative integer), wait (seconds, a non-negative integer,
// clamped to max_wait), gatewayInfo.* / gateway_info.*; other parameters are ignored.
parsed<config_query> parse_config_query(const http::request& req, std::chrono::seconds max_wait);

struct commands_query {
  std::chrono::seconds wait{0};
  gateway_info gateway{};
};
parsed<commands_query> parse_commands_query(const http::request& req,
                                            std::chrono::seconds max_wait);

// {"version":"13","cloudUpdateTime":"2026-11-25T15:45:00.000000Z","binaryData":"..."}
std::string config_json(const registry::config_version& config);

struct command {
  std::string subfolder{};
  bytes data{};
};
// {"commands":[{"subFolder":"a/b","binaryData":"..."}]}; "subFolder" is omitted when empty.
std::string commands_json(const std::vector<command>& commands);

// RFC 3339 in UTC with microseconds, as Google's JSON Timestamp.
std::string rfc3339(wall_time t);

// The token of "Authorization: Bearer <token>" (scheme case-insensitive); nullopt when the
// header is absent, names another scheme, or carries an empty token.
std::optional<std::string> bearer_token(const http::request& req);

} // namespace aegis::bridge::detail
