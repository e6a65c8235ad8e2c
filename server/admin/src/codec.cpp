#include "codec.hpp"

#include "aegis/crypto/x509.hpp"
#include "aegis/registry/errors.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <limits>
#include <set>

namespace aegis::admin::detail {

namespace {

bool is_registry_error(std::error_code ec) {
  return ec.category() == aegis::category_of<registry::registry_errc>();
}

// Howard Hinnant's days_from_civil / civil_from_days.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct civil {
  std::int64_t y;
  unsigned m;
  unsigned d;
};
civil civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2 ? 1 : 0), m, d};
}

bool read_digits(std::string_view s, std::size_t pos, std::size_t n, unsigned& out) {
  if (pos + n > s.size()) {
    return false;
  }
  unsigned v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') {
      return false;
    }
    v = v * 10 + static_cast<unsigned>(s[i] - '0');
  }
  out = v;
  return true;
}

std::string field_type_error(std::string_view field, std::string_view type) {
  return "field \"" + std::string(field) + "\" must be " + std::string(type);
}

} // namespace

void invalid(const std::string& message) {
  throw api_error(400, "INVALID_ARGUMENT", message);
}
void failed_precondition(const std::string& message) {
  throw api_error(400, "FAILED_PRECONDITION", message);
}
void not_found(const std::string& message) {
  throw api_error(404, "NOT_FOUND", message);
}

api_error to_api_error(std::error_code ec, std::string_view context) {
  std::string message = ec.message();
  if (!context.empty()) {
    message = std::string(context) + ": " + message;
  }
  if (is_registry_error(ec)) {
    const auto wire = registry::to_wire(static_cast<registry::registry_errc>(ec.value()));
    if (wire.http_status >= 500) {
      // Store failures: no internals to the client.
      return {static_cast<unsigned>(wire.http_status), std::string(registry::to_string(wire.code)),
              wire.code == registry::rpc_code::unavailable ? "storage busy, retry later"
                                                           : "internal error"};
    }
    return {static_cast<unsigned>(wire.http_status), std::string(registry::to_string(wire.code)),
            message};
  }
  const std::string_view cat = ec.category().name();
  if (cat.starts_with("aegis.crypto") || cat.starts_with("aegis.x509") ||
      cat.starts_with("aegis.key") || cat.starts_with("aegis.sig")) {
    return {400, "INVALID_ARGUMENT", message};
  }
  return {500, "INTERNAL", "internal error"};
}

void raise(std::error_code ec, std::string_view context) {
  throw to_api_error(ec, context);
}

std::string error_body(unsigned http_status, std::string_view status, std::string_view message) {
  ojson j;
  j["error"]["code"] = http_status;
  j["error"]["message"] = message;
  j["error"]["status"] = status;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string format_time(wall_time t) {
  using namespace std::chrono;
  const auto ms = floor<milliseconds>(t).time_since_epoch().count();
  const std::int64_t day_ms = 86'400'000;
  std::int64_t days = ms / day_ms;
  std::int64_t rem = ms % day_ms;
  if (rem < 0) {
    rem += day_ms;
    --days;
  }
  const civil c = civil_from_days(days);
  std::array<char, 40> buf{};
  std::snprintf(buf.data(), buf.size(), "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ",
                static_cast<long long>(c.y), c.m, c.d, static_cast<long long>(rem / 3'600'000),
                static_cast<long long>(rem / 60'000 % 60), static_cast<long long>(rem / 1000 % 60),
                static_cast<long long>(rem % 1000));
  return buf.data();
}

std::optional<wall_time> parse_time(std::string_view s) {
  unsigned y = 0;
  unsigned mo = 0;
  unsigned d = 0;
  unsigned h = 0;
  unsigned mi = 0;
  unsigned sec = 0;
  if (!read_digits(s, 0, 4, y) || s.size() < 20 || s[4] != '-' || !read_digits(s, 5, 2, mo) ||
      s[7] != '-' || !read_digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't') ||
      !read_digits(s, 11, 2, h) || s[13] != ':' || !read_digits(s, 14, 2, mi) || s[16] != ':' ||
      !read_digits(s, 17, 2, sec)) {
    return std::nullopt;
  }
  static constexpr std::array<unsigned, 12> month_days{31, 29, 31, 30, 31, 30,
                                                       31, 31, 30, 31, 30, 31};
  if (mo < 1 || mo > 12 || d < 1 || d > month_days[mo - 1] || h > 23 || mi > 59 || sec > 60) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  std::int64_t nanos = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t digits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 9) {
        nanos = nanos * 10 + (s[pos] - '0');
      }
      ++digits;
      ++pos;
    }
    if (digits == 0) {
      return std::nullopt;
    }
    for (std::size_t i = digits; i < 9; ++i) {
      nanos *= 10;
    }
  }
  std::int64_t offset_s = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    unsigned oh = 0;
    unsigned om = 0;
    if (!read_digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !read_digits(s, pos + 4, 2, om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_s = (s[pos] == '+' ? 1 : -1) * static_cast<std::int64_t>(oh * 3600 + om * 60);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) {
    return std::nullopt;
  }
  const std::int64_t days = days_from_civil(y, mo, d);
  if (civil_from_days(days).d != d) {
    return std::nullopt; // 30 February and friends
  }
  const std::int64_t secs = days * 86'400 + h * 3600 + mi * 60 + sec - offset_s;
  // system_clock (nanoseconds on libstdc++) covers years 1678..2262.
  if (secs < -9'000'000'000LL || secs > 9'000'000'000LL) {
    return std::nullopt;
  }
  return wall_time{std::chrono::duration_cast<wall_time::duration>(
      std::chrono::seconds{secs} + std::chrono::nanoseconds{nanos})};
}

json parse_body(const std::string& body) {
  if (body.empty()) {
    return json::object();
  }
  // A repeated member name is refused: which of the two values counts would be a guess.
  std::vector<std::set<std::string>> open_objects;
  bool duplicate = false;
  const json::parser_callback_t check_keys = [&](int /*depth*/, json::parse_event_t event,
                                                 json& parsed) {
    switch (event) {
    case json::parse_event_t::object_start:
      open_objects.emplace_back();
      break;
    case json::parse_event_t::object_end:
      if (!open_objects.empty()) {
        open_objects.pop_back();
      }
      break;
    case json::parse_event_t::key:
      if (!open_objects.empty() && !open_objects.back().insert(parsed.get<std::string>()).second) {
        duplicate = true;
      }
      break;
    default:
      break;
    }
    return true;
  };
  json j = json::parse(body, check_keys, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    invalid("malformed JSON body");
  }
  if (duplicate) {
    invalid("a JSON object repeats a member name");
  }
  if (!j.is_object()) {
    invalid("the body must be a JSON object");
  }
  return j;
}

void only_fields(const json& obj, std::initializer_list<std::string_view> allowed,
                 std::string_view what) {
  if (!obj.is_object()) {
    invalid(std::string(what) + " must be a JSON object");
  }
  for (const auto& [key, value] : obj.items()) {
    if (std::find(allowed.begin(), allowed.end(), std::string_view(key)) == allowed.end()) {
      invalid("unknown field \"" + key + "\" in " + std::string(what));
    }
  }
}

const json* member(const json& obj, std::string_view name) {
  const auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) {
    return nullptr;
  }
  return &*it;
}

std::string get_string(const json& v, std::string_view field) {
  if (!v.is_string()) {
    invalid(field_type_error(field, "a string"));
  }
  return v.get<std::string>();
}

bool get_bool(const json& v, std::string_view field) {
  if (!v.is_boolean()) {
    invalid(field_type_error(field, "a boolean"));
  }
  return v.get<bool>();
}

std::int64_t get_int64(const json& v, std::string_view field) {
  if (v.is_number_integer()) {
    if (v.is_number_unsigned() &&
        v.get<std::uint64_t>() >
            static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      invalid(field_type_error(field, "an int64"));
    }
    return v.get<std::int64_t>();
  }
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    std::int64_t out = 0;
    const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (ec == std::errc{} && ptr == s.data() + s.size() && !s.empty()) {
      return out;
    }
  }
  invalid(field_type_error(field, "an integer (a number or a decimal string)"));
}

bytes get_base64(const json& v, std::string_view field) {
  if (!v.is_string()) {
    invalid(field_type_error(field, "a base64 string"));
  }
  auto decoded = base64_decode(v.get_ref<const std::string&>());
  if (!decoded) {
    invalid("field \"" + std::string(field) + "\" is not valid base64");
  }
  return std::move(*decoded);
}

registry::string_map get_string_map(const json& v, std::string_view field) {
  if (!v.is_object()) {
    invalid(field_type_error(field, "an object of strings"));
  }
  registry::string_map out;
  for (const auto& [key, value] : v.items()) {
    if (!value.is_string()) {
      invalid(field_type_error(std::string(field) + "." + key, "a string"));
    }
    out.emplace(key, value.get<std::string>());
  }
  return out;
}

std::vector<std::string> get_string_list(const json& v, std::string_view field) {
  if (!v.is_array()) {
    invalid(field_type_error(field, "an array of strings"));
  }
  std::vector<std::string> out;
  out.reserve(v.size());
  for (const auto& e : v) {
    out.push_back(get_string(e, field));
  }
  return out;
}

wall_time get_time(const json& v, std::string_view field) {
  const auto t = parse_time(get_string(v, field));
  if (!t) {
    invalid(field_type_error(field, "an RFC 3339 time"));
  }
  return *t;
}

std::size_t parse_count(std::string_view text, std::string_view name, std::size_t max) {
  std::size_t out = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size() || out > max) {
    invalid("query parameter " + std::string(name) + " must be an integer from 0 to " +
            std::to_string(max));
  }
  return out;
}

// --- enums ---

std::string_view log_level_name(registry::device_log_level v) {
  using registry::device_log_level;
  switch (v) {
  case device_log_level::none:
    return "NONE";
  case device_log_level::error:
    return "ERROR";
  case device_log_level::info:
    return "INFO";
  case device_log_level::debug:
    return "DEBUG";
  case device_log_level::unspecified:
    break;
  }
  return "LOG_LEVEL_UNSPECIFIED";
}

registry::device_log_level parse_log_level(const json& v) {
  using registry::device_log_level;
  const std::string s = get_string(v, "logLevel");
  for (auto l : {device_log_level::unspecified, device_log_level::none, device_log_level::error,
                 device_log_level::info, device_log_level::debug}) {
    if (s == log_level_name(l)) {
      return l;
    }
  }
  invalid("unknown logLevel \"" + s + "\"");
}

std::string_view gateway_type_name(registry::gateway_type v) {
  switch (v) {
  case registry::gateway_type::gateway:
    return "GATEWAY";
  case registry::gateway_type::non_gateway:
    return "NON_GATEWAY";
  case registry::gateway_type::unspecified:
    break;
  }
  return "GATEWAY_TYPE_UNSPECIFIED";
}

registry::gateway_type parse_gateway_type(std::string_view s) {
  using registry::gateway_type;
  for (auto t : {gateway_type::unspecified, gateway_type::gateway, gateway_type::non_gateway}) {
    if (s == gateway_type_name(t)) {
      return t;
    }
  }
  invalid("unknown gatewayType \"" + std::string(s) + "\"");
}

std::string_view auth_method_name(registry::gateway_auth_method v) {
  using registry::gateway_auth_method;
  switch (v) {
  case gateway_auth_method::association_only:
    return "ASSOCIATION_ONLY";
  case gateway_auth_method::device_auth_token_only:
    return "DEVICE_AUTH_TOKEN_ONLY";
  case gateway_auth_method::association_and_device_auth_token:
    return "ASSOCIATION_AND_DEVICE_AUTH_TOKEN";
  case gateway_auth_method::unspecified:
    break;
  }
  return "GATEWAY_AUTH_METHOD_UNSPECIFIED";
}

registry::gateway_auth_method parse_auth_method(const json& v) {
  using registry::gateway_auth_method;
  const std::string s = get_string(v, "gatewayAuthMethod");
  for (auto m : {gateway_auth_method::unspecified, gateway_auth_method::association_only,
                 gateway_auth_method::device_auth_token_only,
                 gateway_auth_method::association_and_device_auth_token}) {
    if (s == auth_method_name(m)) {
      return m;
    }
  }
  invalid("unknown gatewayAuthMethod \"" + s + "\"");
}

// --- model -> JSON ---

namespace {
void put_time(ojson& j, const char* name, const std::optional<wall_time>& t) {
  if (t) {
    j[name] = format_time(*t);
  }
}
} // namespace

ojson to_json(const registry::project& p) {
  ojson j;
  j["id"] = p.id.value();
  j["name"] = "projects/" + p.id.value();
  j["createTime"] = format_time(p.create_time);
  return j;
}

ojson to_json(const registry::device_registry& r) {
  ojson j;
  j["id"] = r.key.registry.value();
  j["name"] = registry::to_name(r.key);
  j["mqttConfig"]["mqttEnabledState"] = r.mqtt_enabled ? "MQTT_ENABLED" : "MQTT_DISABLED";
  j["httpConfig"]["httpEnabledState"] = r.http_enabled ? "HTTP_ENABLED" : "HTTP_DISABLED";
  j["logLevel"] = log_level_name(r.log_level);
  ojson creds = ojson::array();
  for (const auto& ca : r.ca_certificates) {
    ojson c;
    c["publicKeyCertificate"]["format"] = "X509_CERTIFICATE_PEM";
    c["publicKeyCertificate"]["certificate"] = ca.pem;
    if (auto cert = crypto::certificate::from_pem(ca.pem)) {
      ojson details;
      details["issuer"] = cert->issuer_cn();
      details["subject"] = cert->subject_cn();
      details["startTime"] = format_time(cert->not_before());
      details["expiryTime"] = format_time(cert->not_after());
      details["publicKeyType"] = crypto::to_string(cert->subject_public_key().type());
      details["fingerprintSha256"] = cert->fingerprint_sha256();
      c["publicKeyCertificate"]["x509Details"] = std::move(details);
    }
    creds.push_back(std::move(c));
  }
  j["credentials"] = std::move(creds);
  j["createTime"] = format_time(r.create_time);
  return j;
}

ojson to_json(const registry::config_version& c) {
  ojson j;
  j["version"] = std::to_string(c.version);
  j["cloudUpdateTime"] = format_time(c.cloud_update_time);
  put_time(j, "deviceAckTime", c.device_ack_time);
  j["binaryData"] = base64_encode(c.data);
  return j;
}

ojson to_json(const registry::device_state& s) {
  ojson j;
  j["updateTime"] = format_time(s.update_time);
  j["binaryData"] = base64_encode(s.data);
  return j;
}

ojson to_json(const registry::device& d) {
  ojson j;
  j["id"] = d.key.device.value();
  j["name"] = registry::to_name(d.key.registry) + "/devices/" + std::to_string(d.num_id.value());
  j["numId"] = std::to_string(d.num_id.value());
  ojson creds = ojson::array();
  for (const auto& c : d.credentials) {
    ojson e;
    e["publicKey"]["format"] = registry::to_string(c.format);
    e["publicKey"]["key"] = c.pem;
    put_time(e, "expirationTime", c.expiration_time);
    creds.push_back(std::move(e));
  }
  j["credentials"] = std::move(creds);
  const auto& a = d.activity;
  put_time(j, "lastHeartbeatTime", a.last_heartbeat_time);
  put_time(j, "lastEventTime", a.last_event_time);
  put_time(j, "lastStateTime", a.last_state_time);
  put_time(j, "lastConfigAckTime", a.last_config_ack_time);
  put_time(j, "lastConfigSendTime", a.last_config_send_time);
  j["blocked"] = d.blocked;
  put_time(j, "lastErrorTime", a.last_error_time);
  if (a.last_error_status.code != 0 || !a.last_error_status.message.empty()) {
    j["lastErrorStatus"]["code"] = a.last_error_status.code;
    j["lastErrorStatus"]["message"] = a.last_error_status.message;
  }
  j["metadata"] = ojson::object();
  for (const auto& [k, v] : d.metadata) {
    j["metadata"][k] = v;
  }
  ojson gw;
  gw["gatewayType"] = gateway_type_name(d.gateway.type);
  gw["gatewayAuthMethod"] = auth_method_name(d.gateway.auth_method);
  if (!a.last_accessed_gateway_id.empty()) {
    gw["lastAccessedGatewayId"] = a.last_accessed_gateway_id;
  }
  put_time(gw, "lastAccessedGatewayTime", a.last_accessed_gateway_time);
  j["gatewayConfig"] = std::move(gw);
  j["logLevel"] = log_level_name(d.log_level);
  j["createTime"] = format_time(d.create_time);
  return j;
}

ojson to_json(const registry::device_group& g) {
  ojson j;
  j["id"] = g.key.group.value();
  j["name"] = registry::to_name(g.key);
  j["labels"] = ojson::object();
  for (const auto& [k, v] : g.labels) {
    j["labels"][k] = v;
  }
  j["createTime"] = format_time(g.create_time);
  return j;
}

ojson to_json(const registry::operator_token& t) {
  ojson j;
  j["id"] = t.id;
  j["description"] = t.description;
  j["scope"] = registry::to_string(t.scope);
  j["createTime"] = format_time(t.create_time);
  put_time(j, "expireTime", t.expire_time);
  put_time(j, "revokeTime", t.revoke_time);
  j["createdBy"] = t.created_by;
  return j;
}

ojson to_json(const registry::audit_record& a) {
  ojson j;
  j["sequence"] = std::to_string(a.sequence);
  j["time"] = format_time(a.at);
  j["actor"] = a.actor;
  j["action"] = a.action;
  j["target"] = a.target;
  j["outcome"] = a.outcome;
  j["detail"] = a.detail;
  j["sourceAddress"] = a.source_address;
  return j;
}

ojson to_json(const registry::revoked_certificate& r) {
  ojson j;
  j["serial"] = r.serial_hex;
  j["revokeTime"] = format_time(r.revoke_time);
  j["reason"] = r.reason;
  j["subject"] = r.subject;
  return j;
}

// --- JSON -> model ---

std::vector<registry::credential> parse_device_credentials(const json& v) {
  if (!v.is_array()) {
    invalid(field_type_error("credentials", "an array"));
  }
  std::vector<registry::credential> out;
  for (const auto& e : v) {
    only_fields(e, {"publicKey", "expirationTime"}, "credentials[]");
    const json* pk = member(e, "publicKey");
    if (pk == nullptr) {
      invalid("credentials[].publicKey is required");
    }
    only_fields(*pk, {"format", "key"}, "credentials[].publicKey");
    registry::credential c;
    const json* format = member(*pk, "format");
    const json* key = member(*pk, "key");
    if (format == nullptr || key == nullptr) {
      invalid("credentials[].publicKey needs format and key");
    }
    const std::string format_name = get_string(*format, "format");
    const auto f = registry::parse_credential_format(format_name);
    if (!f) {
      invalid("unknown credential format \"" + format_name + "\"");
    }
    c.format = *f;
    c.pem = get_string(*key, "key");
    if (const json* exp = member(e, "expirationTime")) {
      const wall_time t = get_time(*exp, "expirationTime");
      // gcloud prints an unset expiry as the epoch; read it back as "never".
      if (t != wall_time{}) {
        c.expiration_time = t;
      }
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<registry::ca_certificate> parse_registry_credentials(const json& v) {
  if (!v.is_array()) {
    invalid(field_type_error("credentials", "an array"));
  }
  std::vector<registry::ca_certificate> out;
  for (const auto& e : v) {
    only_fields(e, {"publicKeyCertificate"}, "credentials[]");
    const json* pkc = member(e, "publicKeyCertificate");
    if (pkc == nullptr) {
      invalid("credentials[].publicKeyCertificate is required");
    }
    // x509Details is output only, but accepted (and ignored) so that a GET can be sent back.
    only_fields(*pkc, {"format", "certificate", "x509Details"},
                "credentials[].publicKeyCertificate");
    if (const json* f = member(*pkc, "format");
        f != nullptr && get_string(*f, "format") != "X509_CERTIFICATE_PEM") {
      invalid("registry credential format must be X509_CERTIFICATE_PEM");
    }
    const json* cert = member(*pkc, "certificate");
    if (cert == nullptr) {
      invalid("credentials[].publicKeyCertificate.certificate is required");
    }
    out.push_back({get_string(*cert, "certificate")});
  }
  return out;
}

registry::gateway_config parse_gateway_config(const json& v) {
  only_fields(
      v, {"gatewayType", "gatewayAuthMethod", "lastAccessedGatewayId", "lastAccessedGatewayTime"},
      "gatewayConfig");
  registry::gateway_config g;
  if (const json* t = member(v, "gatewayType")) {
    g.type = parse_gateway_type(get_string(*t, "gatewayType"));
  }
  if (const json* m = member(v, "gatewayAuthMethod")) {
    g.auth_method = parse_auth_method(*m);
  }
  return g;
}

bool parse_mqtt_config(const json& v) {
  only_fields(v, {"mqttEnabledState"}, "mqttConfig");
  const json* s = member(v, "mqttEnabledState");
  if (s == nullptr) {
    return true;
  }
  const std::string text = get_string(*s, "mqttEnabledState");
  if (text == "MQTT_ENABLED" || text == "MQTT_STATE_UNSPECIFIED") {
    return true;
  }
  if (text == "MQTT_DISABLED") {
    return false;
  }
  invalid("unknown mqttEnabledState \"" + text + "\"");
}

bool parse_http_config(const json& v) {
  only_fields(v, {"httpEnabledState"}, "httpConfig");
  const json* s = member(v, "httpEnabledState");
  if (s == nullptr) {
    return true;
  }
  const std::string text = get_string(*s, "httpEnabledState");
  if (text == "HTTP_ENABLED" || text == "HTTP_STATE_UNSPECIFIED") {
    return true;
  }
  if (text == "HTTP_DISABLED") {
    return false;
  }
  invalid("unknown httpEnabledState \"" + text + "\"");
}

std::string normalize_path(std::string_view path) {
  std::string out;
  out.reserve(path.size());
  bool upper = false;
  for (const char ch : path) {
    if (ch == '_') {
      upper = true;
      continue;
    }
    out.push_back(upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(ch))) : ch);
    upper = false;
  }
  return out;
}

std::vector<std::string> split_mask(std::string_view mask) {
  std::vector<std::string> out;
  while (!mask.empty()) {
    const auto comma = mask.find(',');
    std::string_view part = mask.substr(0, comma);
    while (!part.empty() && part.front() == ' ') {
      part.remove_prefix(1);
    }
    while (!part.empty() && part.back() == ' ') {
      part.remove_suffix(1);
    }
    if (part.empty()) {
      invalid("empty path in field mask");
    }
    out.push_back(normalize_path(part));
    if (comma == std::string_view::npos) {
      break;
    }
    mask.remove_prefix(comma + 1);
  }
  return out;
}

std::string encode_page_token(std::string_view last_id) {
  return base64url_encode(as_bytes(last_id));
}

std::string decode_page_token(std::string_view token) {
  auto decoded = base64url_decode(token);
  if (!decoded || decoded->empty()) {
    invalid("invalid pageToken");
  }
  return std::string(as_string_view(*decoded));
}

} // namespace aegis::admin::detail
