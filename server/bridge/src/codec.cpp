#include "codec.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>
#include <initializer_list>
#include <utility>

namespace aegis::bridge::detail {

namespace {

using json = nlohmann::json;

input_error bad(std::string message) {
  return {400, std::move(message)};
}

// One proto3 field and its two JSON spellings.
struct field_name {
  std::string_view camel;
  std::string_view snake;
};

constexpr field_name binary_data_field{"binaryData", "binary_data"};
constexpr field_name sub_folder_field{"subFolder", "sub_folder"};
constexpr field_name gateway_info_field{"gatewayInfo", "gateway_info"};
constexpr field_name state_field{"state", "state"};
constexpr field_name gateway_id_field{"gatewayId", "gateway_id"};
constexpr field_name delegated_field{"delegatedDeviceId", "delegated_device_id"};

// Every key of `object` must be one of `allowed` (in either spelling), each field at most once.
bool only_known_fields(const json& object, std::initializer_list<field_name> allowed,
                       input_error& error) {
  for (const auto& [key, value] : object.items()) {
    (void)value;
    const bool known = std::any_of(allowed.begin(), allowed.end(), [&](const field_name& f) {
      return key == f.camel || key == f.snake;
    });
    if (!known) {
      error = bad("Invalid JSON payload received. Unknown field in the request body.");
      return false;
    }
  }
  for (const auto& f : allowed) {
    if (f.camel != f.snake && object.contains(f.camel) && object.contains(f.snake)) {
      error =
          bad("Invalid JSON payload received. Field '" + std::string(f.snake) + "' given twice.");
      return false;
    }
  }
  return true;
}

// The field's value in whichever spelling was used; null counts as absent (proto3 JSON).
const json* find_field(const json& object, field_name f) {
  for (auto name : {f.camel, f.snake}) {
    const auto it = object.find(name);
    if (it != object.end() && !it->is_null()) {
      return &*it;
    }
  }
  return nullptr;
}

bool string_field(const json& object, field_name f, std::string& out, input_error& error) {
  const json* v = find_field(object, f);
  if (v == nullptr) {
    return true;
  }
  if (!v->is_string()) {
    error = bad("Invalid value at '" + std::string(f.snake) + "' (TYPE_STRING).");
    return false;
  }
  out = v->get<std::string>();
  return true;
}

bool bytes_field(const json& object, field_name f, std::size_t max_payload, bytes& out,
                 input_error& error) {
  const json* v = find_field(object, f);
  if (v == nullptr) {
    return true;
  }
  if (!v->is_string()) {
    error = bad("Invalid value at '" + std::string(f.snake) + "' (TYPE_BYTES).");
    return false;
  }
  const auto& text = v->get_ref<const std::string&>();
  if (text.size() / 4 * 3 > max_payload + 3) {
    error = {413, "The payload is larger than " + std::to_string(max_payload) + " bytes."};
    return false;
  }
  auto decoded = decode_bytes_field(text);
  if (!decoded) {
    error = bad("Invalid value at '" + std::string(f.snake) +
                "' (TYPE_BYTES), Base64 decoding failed.");
    return false;
  }
  if (decoded->size() > max_payload) {
    error = {413, "The payload is larger than " + std::to_string(max_payload) + " bytes."};
    return false;
  }
  out = std::move(*decoded);
  return true;
}

bool gateway_field(const json& object, gateway_info& out, input_error& error) {
  const json* v = find_field(object, gateway_info_field);
  if (v == nullptr) {
    return true;
  }
  if (!v->is_object()) {
    error = bad("Invalid value at 'gateway_info'.");
    return false;
  }
  if (!only_known_fields(*v, {gateway_id_field, delegated_field}, error) ||
      !string_field(*v, gateway_id_field, out.gateway_id, error) ||
      !string_field(*v, delegated_field, out.delegated_device_id, error)) {
    return false;
  }
  if (!out.gateway_id.empty() && !out.delegated_device_id.empty()) {
    error = bad("gateway_info takes gateway_id or delegated_device_id, not both.");
    return false;
  }
  return true;
}

bool parse_object(std::string_view body, json& out, input_error& error) {
  out = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (out.is_discarded()) {
    error = bad("Invalid JSON payload received.");
    return false;
  }
  if (!out.is_object()) {
    error = bad("Invalid JSON payload received. The body must be a JSON object.");
    return false;
  }
  return true;
}

bool parse_non_negative(std::string_view text, std::int64_t& out) {
  if (text.empty() || text.size() > 19) {
    return false;
  }
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc{} && ptr == end && out >= 0;
}

bool gateway_query(const http::request& req, gateway_info& out, input_error& error) {
  for (auto name : {"gatewayInfo.gatewayId", "gateway_info.gateway_id"}) {
    if (auto v = req.query_param(name)) {
      out.gateway_id = std::string(*v);
    }
  }
  for (auto name : {"gatewayInfo.delegatedDeviceId", "gateway_info.delegated_device_id"}) {
    if (auto v = req.query_param(name)) {
      out.delegated_device_id = std::string(*v);
    }
  }
  if (!out.gateway_id.empty() && !out.delegated_device_id.empty()) {
    error = bad("gateway_info takes gateway_id or delegated_device_id, not both.");
    return false;
  }
  return true;
}

bool wait_query(const http::request& req, std::chrono::seconds max_wait, std::chrono::seconds& out,
                input_error& error) {
  const auto v = req.query_param("wait");
  if (!v) {
    return true;
  }
  std::int64_t seconds = 0;
  if (!parse_non_negative(*v, seconds)) {
    error = bad("Invalid value at 'wait': a number of seconds is expected.");
    return false;
  }
  out = std::min(std::chrono::seconds(seconds), max_wait);
  return true;
}

} // namespace

std::size_t max_body_for(std::size_t payload) noexcept {
  return (payload + 2) / 3 * 4 + 4096;
}

std::optional<bytes> decode_bytes_field(std::string_view text) {
  std::string s(text);
  for (char& c : s) {
    if (c == '-') {
      c = '+';
    } else if (c == '_') {
      c = '/';
    }
  }
  std::size_t padding = 0;
  while (!s.empty() && s.back() == '=') {
    s.pop_back();
    ++padding;
  }
  // Padding is optional, but when given it must be exactly what the length calls for.
  if (s.size() % 4 == 1 || padding > 2 || (padding > 0 && (s.size() + padding) % 4 != 0)) {
    return std::nullopt;
  }
  s.append((4 - s.size() % 4) % 4, '=');
  return base64_decode(s);
}

bool valid_subfolder(std::string_view subfolder) noexcept {
  if (subfolder.empty()) {
    return true;
  }
  if (subfolder.size() > 1024) {
    return false;
  }
  std::size_t start = 0;
  for (;;) {
    const auto slash = subfolder.find('/', start);
    const auto level = subfolder.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (level.empty() || level == "." || level == "..") {
      return false;
    }
    if (level.find_first_of(std::string_view("+#\0", 3)) != std::string_view::npos) {
      return false;
    }
    if (slash == std::string_view::npos) {
      return true;
    }
    start = slash + 1;
  }
}

parsed<publish_event_body> parse_publish_event(std::string_view body, std::size_t max_payload) {
  parsed<publish_event_body> out;
  if (body.size() > max_body_for(max_payload)) {
    out.error = {413, "The payload is larger than " + std::to_string(max_payload) + " bytes."};
    return out;
  }
  json doc;
  publish_event_body v;
  if (!parse_object(body, doc, out.error) ||
      !only_known_fields(doc, {binary_data_field, sub_folder_field, gateway_info_field},
                         out.error) ||
      !bytes_field(doc, binary_data_field, max_payload, v.data, out.error) ||
      !string_field(doc, sub_folder_field, v.subfolder, out.error) ||
      !gateway_field(doc, v.gateway, out.error)) {
    return out;
  }
  if (!valid_subfolder(v.subfolder)) {
    out.error = bad("Invalid value at 'sub_folder': levels must not be empty, '.' or '..', nor "
                    "hold '+', '#' or NUL.");
    return out;
  }
  out.value = std::move(v);
  return out;
}

parsed<set_state_body> parse_set_state(std::string_view body, std::size_t max_payload) {
  parsed<set_state_body> out;
  if (body.size() > max_body_for(max_payload)) {
    out.error = {413, "The payload is larger than " + std::to_string(max_payload) + " bytes."};
    return out;
  }
  json doc;
  set_state_body v;
  if (!parse_object(body, doc, out.error) ||
      !only_known_fields(doc, {state_field, gateway_info_field}, out.error) ||
      !gateway_field(doc, v.gateway, out.error)) {
    return out;
  }
  const json* state = find_field(doc, state_field);
  if (state == nullptr || !state->is_object()) {
    out.error = bad("Invalid value at 'state': an object with binary_data is required.");
    return out;
  }
  if (!only_known_fields(*state, {binary_data_field}, out.error) ||
      !bytes_field(*state, binary_data_field, max_payload, v.data, out.error)) {
    return out;
  }
  out.value = std::move(v);
  return out;
}

parsed<config_query> parse_config_query(const http::request& req, std::chrono::seconds max_wait) {
  parsed<config_query> out;
  config_query q;
  const auto camel = req.query_param("localVersion");
  const auto snake = req.query_param("local_version");
  if (camel && snake) {
    out.error = bad("Field 'local_version' given twice.");
    return out;
  }
  if (const auto v = camel ? camel : snake) {
    if (!parse_non_negative(*v, q.local_version)) {
      out.error = bad("Invalid value at 'local_version' (TYPE_INT64).");
      return out;
    }
  }
  if (!wait_query(req, max_wait, q.wait, out.error) || !gateway_query(req, q.gateway, out.error)) {
    return out;
  }
  out.value = q;
  return out;
}

parsed<commands_query> parse_commands_query(const http::request& req,
                                            std::chrono::seconds max_wait) {
  parsed<commands_query> out;
  commands_query q;
  if (!wait_query(req, max_wait, q.wait, out.error) || !gateway_query(req, q.gateway, out.error)) {
    return out;
  }
  out.value = q;
  return out;
}

std::string rfc3339(wall_time t) {
  const auto since = t.time_since_epoch();
  auto secs = std::chrono::floor<std::chrono::seconds>(since);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(since - secs).count();
  const std::time_t tt = static_cast<std::time_t>(secs.count());
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buf[40];
  const auto n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char frac[16];
  std::snprintf(frac, sizeof frac, ".%06dZ", static_cast<int>(micros)); // micros in [0, 1e6)
  return std::string(buf, n) + frac;
}

std::string config_json(const registry::config_version& config) {
  json doc = json::object();
  doc["version"] = std::to_string(config.version);
  doc["cloudUpdateTime"] = rfc3339(config.cloud_update_time);
  if (config.device_ack_time) {
    doc["deviceAckTime"] = rfc3339(*config.device_ack_time);
  }
  doc["binaryData"] = base64_encode(config.data);
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string commands_json(const std::vector<command>& commands) {
  json list = json::array();
  for (const auto& c : commands) {
    json item = json::object();
    if (!c.subfolder.empty()) {
      item["subFolder"] = c.subfolder;
    }
    item["binaryData"] = base64_encode(c.data);
    list.push_back(std::move(item));
  }
  json doc = json::object();
  doc["commands"] = std::move(list);
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<std::string> bearer_token(const http::request& req) {
  const auto h = req.header("Authorization");
  if (!h) {
    return std::nullopt;
  }
  std::string_view v = *h;
  constexpr std::string_view scheme = "bearer";
  if (v.size() <= scheme.size() || v[scheme.size()] != ' ') {
    return std::nullopt;
  }
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(v[i])) != scheme[i]) {
      return std::nullopt;
    }
  }
  v.remove_prefix(scheme.size());
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
    v.remove_prefix(1);
  }
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) {
    v.remove_suffix(1);
  }
  if (v.empty()) {
    return std::nullopt;
  }
  return std::string(v);
}

} // namespace aegis::bridge::detail
