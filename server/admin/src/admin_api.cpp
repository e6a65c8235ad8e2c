#include "aegis/admin/admin_api.hpp"

#include "aegis/admin/metrics_text.hpp"

#include "codec.hpp"

#include "aegis/base/log.hpp"
#include "aegis/crypto/digest_signature.hpp"
#include "aegis/crypto/random.hpp"
#include "aegis/registry/errors.hpp"
#include "aegis/registry/limits.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>

namespace aegis::admin {

using namespace detail;
namespace reg = aegis::registry;

namespace {

constexpr std::string_view component = "admin";
constexpr std::size_t max_list_page = 1000;           // accepted pageSize
constexpr std::size_t max_command_bytes = 256 * 1024; // IoT Core's command payload limit
constexpr std::size_t max_subfolder_chars = 256;
constexpr std::size_t max_registration_codes = 100;
constexpr auto registration_code_lifetime = std::chrono::hours(1);
constexpr auto crl_next_update = std::chrono::hours(24);
constexpr std::int64_t max_token_ttl_seconds = 10LL * 366 * 24 * 3600;
constexpr std::int64_t max_validity_days = 3650;

constexpr unsigned char openapi_bytes[] = {
#include "openapi.inc"
};
const std::string_view embedded_openapi{reinterpret_cast<const char*>(openapi_bytes),
                                        sizeof(openapi_bytes)};

// Token alphabet of the id part (RFC 4648 base32, lower case).
constexpr std::string_view base32_alphabet = "abcdefghijklmnopqrstuvwxyz234567";
constexpr std::size_t token_id_chars = 12;
constexpr std::size_t token_secret_bytes = 32;
constexpr std::size_t token_secret_chars = 43;
constexpr std::string_view token_prefix = "aeg_";

} // namespace

// --- tokens ---

std::optional<token_parts> parse_token(std::string_view text) {
  if (text.size() != token_prefix.size() + token_id_chars + 1 + token_secret_chars ||
      !text.starts_with(token_prefix)) {
    return std::nullopt;
  }
  const std::string_view id = text.substr(token_prefix.size(), token_id_chars);
  if (id.find_first_not_of(base32_alphabet) != std::string_view::npos ||
      text[token_prefix.size() + token_id_chars] != '_') {
    return std::nullopt;
  }
  auto secret = base64url_decode(text.substr(token_prefix.size() + token_id_chars + 1));
  if (!secret || secret->size() != token_secret_bytes) {
    return std::nullopt;
  }
  return token_parts{std::string(id), std::move(*secret)};
}

result<new_token> generate_token() {
  auto id_bytes = crypto::random_bytes(token_id_chars);
  if (!id_bytes) {
    return id_bytes.error();
  }
  auto secret = crypto::random_bytes(token_secret_bytes);
  if (!secret) {
    return secret.error();
  }
  new_token t;
  for (const auto b : *id_bytes) {
    t.id.push_back(base32_alphabet[b % 32]); // 256 is a multiple of 32: unbiased
  }
  t.text = std::string(token_prefix) + t.id + "_" + base64url_encode(*secret);
  auto digest = crypto::sha256(*secret);
  crypto::secure_wipe(secret->data(), secret->size());
  if (!digest) {
    return digest.error();
  }
  t.secret_digest.assign(digest->begin(), digest->end());
  return t;
}

// --- null_device_channel ---

void null_device_channel::send_command(const reg::device_key& /*device*/, std::string /*subfolder*/,
                                       bytes /*payload*/,
                                       std::function<void(std::error_code)> done) {
  done(std::make_error_code(std::errc::not_connected));
}
void null_device_channel::config_changed(const reg::device_key& /*device*/,
                                         const reg::config_version& /*latest*/) {}
void null_device_channel::device_changed(const reg::device_key& /*device*/) {}
void null_device_channel::registry_changed(const reg::registry_key& /*registry*/) {}
void null_device_channel::certificate_revoked(const std::string& /*serial_hex*/) {}

// --- the API ---

namespace {

// One request on its way through the executor.
struct call {
  http::request req;
  http::path_params params;
  http::responder res;
  std::string actor = "anonymous";
  bool authenticated = false;
  std::string target;
  std::string detail;

  const std::string& param(std::string_view name) const {
    const auto it = params.find(name);
    if (it == params.end()) {
      invalid("missing path parameter " + std::string(name));
    }
    return it->second;
  }
};

struct reply {
  unsigned status = 200;
  std::string body = "{}";
  std::string content_type = "application/json";
  bool deferred = false; // the handler answers later through call::res
};

reply json_reply(const ojson& j) {
  return {200, j.dump(-1, ' ', false, json::error_handler_t::replace)};
}

http::response make_response(unsigned status, std::string body, std::string content_type) {
  http::response r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

http::response error_response(const api_error& e) {
  return make_response(e.http_status(), error_body(e.http_status(), e.status(), e.what()),
                       "application/json");
}

bool all_digits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

// "R/{r}" segments of the path.
reg::registry_key registry_key_of(const call& c) {
  return {reg::project_id(c.param("p")), reg::location_id(c.param("l")),
          reg::registry_id(c.param("r"))};
}

std::string normalize_serial(std::string_view text) {
  std::string s;
  for (const char ch : text) {
    if (std::isxdigit(static_cast<unsigned char>(ch)) == 0) {
      invalid("serial must be hexadecimal");
    }
    s.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
  }
  const auto first = s.find_first_not_of('0');
  s = first == std::string::npos ? std::string("0") : s.substr(first);
  if (s.empty() || s.size() > 40) {
    invalid("serial must be 1 to 40 hexadecimal digits");
  }
  return s;
}

// DER of a PEM block (the CRL: crypto::crl offers PEM only).
std::optional<bytes> pem_to_der(std::string_view pem) {
  const auto begin = pem.find("-----\n");
  const auto end = pem.find("-----END");
  if (begin == std::string_view::npos || end == std::string_view::npos || end < begin) {
    return std::nullopt;
  }
  std::string b64;
  for (const char ch : pem.substr(begin + 6, end - begin - 6)) {
    if (ch != '\n' && ch != '\r') {
      b64.push_back(ch);
    }
  }
  return base64_decode(b64);
}

constexpr std::array<std::string_view, 10> revocation_reasons{
    "unspecified",        "keyCompromise",        "cACompromise",    "affiliationChanged",
    "superseded",         "cessationOfOperation", "certificateHold", "removeFromCRL",
    "privilegeWithdrawn", "aACompromise"};

const std::set<std::string, std::less<>> device_fields{"id",
                                                       "name",
                                                       "numId",
                                                       "credentials",
                                                       "lastHeartbeatTime",
                                                       "lastEventTime",
                                                       "lastStateTime",
                                                       "lastConfigAckTime",
                                                       "lastConfigSendTime",
                                                       "blocked",
                                                       "lastErrorTime",
                                                       "lastErrorStatus",
                                                       "config",
                                                       "state",
                                                       "metadata",
                                                       "gatewayConfig",
                                                       "logLevel",
                                                       "createTime"};

} // namespace

struct admin_api::impl {
  explicit impl(api_dependencies d) : deps(std::move(d)) {}

  using handler_fn = reply (impl::*)(call&);
  struct route_def {
    const char* method;
    const char* pattern;
    std::optional<reg::operator_scope> scope; // nullopt: no authentication
    const char* action;                       // audited write; nullptr for reads
    handler_fn fn;
    bool inline_io = false; // answered on the I/O thread (no store access)
  };
  static const std::vector<route_def>& table();

  api_dependencies deps;
  std::mutex codes_mutex;
  std::map<std::string, wall_time, std::less<>> registration_codes; // code -> expiry

  // --- plumbing ---

  void start(const route_def& def, http::request&& req, const http::path_params& params,
             http::responder res) {
    auto c = std::make_shared<call>();
    c->req = std::move(req);
    c->params = params;
    c->res = res;
    if (def.inline_io) {
      execute(def, *c);
      return;
    }
    const bool accepted = deps.run([this, &def, c] { execute(def, *c); });
    if (!accepted) {
      res.send(error_response(api_error(503, "UNAVAILABLE", "server busy, retry later")));
    }
  }

  void execute(const route_def& def, call& c) {
    try {
      if (def.scope) {
        authenticate(c, *def.scope);
      }
      c.target = default_target(c);
      reply r = (this->*def.fn)(c);
      if (r.deferred) {
        return;
      }
      if (def.action != nullptr) {
        audit(c, def.action, c.target, "ok", c.detail);
      }
      c.res.send(make_response(r.status, std::move(r.body), std::move(r.content_type)));
    } catch (const api_error& e) {
      if (def.action != nullptr && c.authenticated) {
        audit(c, def.action, c.target, e.status(), e.what());
      }
      c.res.send(error_response(e));
    } catch (const std::exception& e) {
      log::error(component, "{} {}: {}", c.req.method, c.req.path, e.what());
      if (def.action != nullptr && c.authenticated) {
        audit(c, def.action, c.target, "INTERNAL", "internal error");
      }
      c.res.send(error_response(api_error(500, "INTERNAL", "internal error")));
    }
  }

  static std::string default_target(const call& c) {
    std::string_view p = c.req.path;
    if (p.starts_with("/api/v1/")) {
      p.remove_prefix(8);
    }
    return std::string(p);
  }

  void audit(const call& c, std::string_view action, std::string_view target,
             std::string_view outcome, std::string_view detail) {
    reg::audit_record r;
    r.at = deps.clk.wall_now();
    r.actor = c.actor;
    r.action = action;
    r.target = target.substr(0, 512); // a path is client-chosen: bounded like the detail
    r.outcome = outcome;
    r.detail = detail.substr(0, 512);
    r.source_address = c.req.remote_address;
    if (auto s = deps.operators.append_audit(r); !s) {
      log::error(component, "audit append failed ({}): {} {} {}", s.error().message(), r.actor,
                 r.action, r.target);
    }
  }

  [[noreturn]] void unauthenticated(const call& c, std::string_view why) {
    audit(c, "auth.failure", default_target(c), "UNAUTHENTICATED", why);
    throw api_error(401, "UNAUTHENTICATED", "unauthenticated");
  }

  void authenticate(call& c, reg::operator_scope need) {
    const auto header = c.req.header("Authorization");
    if (!header) {
      unauthenticated(c, "no bearer token");
    }
    std::string_view h = *header;
    constexpr std::string_view bearer = "bearer ";
    if (h.size() <= bearer.size() ||
        !std::equal(bearer.begin(), bearer.end(), h.begin(), [](char a, char b) {
          return a == std::tolower(static_cast<unsigned char>(b));
        })) {
      unauthenticated(c, "no bearer token");
    }
    h.remove_prefix(bearer.size());
    while (!h.empty() && h.front() == ' ') {
      h.remove_prefix(1);
    }
    auto parts = parse_token(h);
    if (!parts) {
      unauthenticated(c, "malformed token");
    }
    auto token = deps.operators.find_token(parts->id);
    if (!token) {
      if (token.error() == reg::registry_errc::token_not_found) {
        unauthenticated(c, "unknown token " + parts->id);
      }
      raise(token.error());
    }
    const auto digest = crypto::sha256(parts->secret);
    crypto::secure_wipe(parts->secret.data(), parts->secret.size());
    if (!digest || !crypto::constant_time_equal(*digest, token->secret_digest)) {
      unauthenticated(c, "wrong secret for token " + parts->id);
    }
    if (token->revoke_time) {
      unauthenticated(c, "revoked token " + parts->id);
    }
    if (token->expire_time && *token->expire_time <= deps.clk.wall_now()) {
      unauthenticated(c, "expired token " + parts->id);
    }
    c.actor = token->id;
    c.authenticated = true;
    if (static_cast<int>(token->scope) < static_cast<int>(need)) {
      const std::string why = "needs scope " + std::string(reg::to_string(need)) + ", token has " +
                              std::string(reg::to_string(token->scope));
      audit(c, "auth.permission_denied", default_target(c), "PERMISSION_DENIED",
            c.req.method + " " + c.req.path + ": " + why);
      throw api_error(403, "PERMISSION_DENIED", "permission denied: " + why);
    }
  }

  // --- shared helpers ---

  reg::device_key device_key_of(const call& c) {
    const auto rk = registry_key_of(c);
    return resolve_device(rk, c.param("d"));
  }

  // A device id, or its numeric id on input.
  reg::device_key resolve_device(const reg::registry_key& rk, const std::string& id) {
    if (all_digits(id)) {
      std::uint64_t num = 0;
      const auto [ptr, ec] = std::from_chars(id.data(), id.data() + id.size(), num);
      if (ec != std::errc{} || ptr != id.data() + id.size()) {
        invalid("numeric device id out of range");
      }
      auto d = take(deps.registry.get_device_by_num_id(rk, reg::device_num_id(num)));
      return d.key;
    }
    return {rk, reg::device_id(id)};
  }

  reg::group_key group_key_of(const call& c) {
    return {registry_key_of(c), reg::group_id(c.param("g"))};
  }

  // pageSize / pageToken -> page_request (the registry serves at most 500 per page).
  static reg::page_request page_of(const call& c, std::size_t& requested) {
    reg::page_request page;
    requested = reg::limits::default_page_size;
    if (const auto ps = c.req.query_param("pageSize")) {
      requested = parse_count(*ps, "pageSize", max_list_page);
      if (requested == 0) {
        requested = reg::limits::default_page_size;
      }
    }
    page.page_size = std::min(requested, reg::limits::max_page_size);
    if (const auto pt = c.req.query_param("pageToken"); pt && !pt->empty()) {
      page.after = decode_page_token(*pt);
    }
    return page;
  }

  // Lists one page through `fetch`, and sets nextPageToken only when more items exist.
  template <class T, class Fetch, class IdOf>
  ojson paged(const call& c, const char* items_name, Fetch fetch, IdOf id_of) {
    std::size_t requested = 0;
    auto page = page_of(c, requested);
    std::vector<T> items = take(fetch(page));
    ojson j;
    j[items_name] = ojson::array();
    for (const auto& item : items) {
      if constexpr (std::is_same_v<T, reg::device_id>) {
        j[items_name].push_back(item.value());
      } else {
        j[items_name].push_back(to_json(item));
      }
    }
    if (!items.empty() && items.size() == page.page_size) {
      reg::page_request probe;
      probe.page_size = 1;
      probe.after = id_of(items.back());
      if (!take(fetch(probe)).empty()) {
        j["nextPageToken"] = encode_page_token(id_of(items.back()));
      }
    }
    return j;
  }

  // --- projects ---

  reply create_project(call& c) {
    const json body = parse_body(c.req.body);
    only_fields(body, {"id"}, "project");
    const json* id = member(body, "id");
    if (id == nullptr) {
      invalid("field \"id\" is required");
    }
    const reg::project_id pid(get_string(*id, "id"));
    c.target = "projects/" + pid.value();
    return json_reply(to_json(take(deps.registry.create_project(pid))));
  }

  reply list_projects(call& c) {
    return json_reply(paged<reg::project>(
        c, "projects", [&](const reg::page_request& p) { return deps.registry.list_projects(p); },
        [](const reg::project& p) { return p.id.value(); }));
  }

  reply get_project(call& c) {
    return json_reply(to_json(take(deps.registry.get_project(reg::project_id(c.param("p"))))));
  }

  reply delete_project(call& c) {
    c.target = "projects/" + c.param("p");
    take(deps.registry.delete_project(reg::project_id(c.param("p"))));
    return {};
  }

  // --- registries ---

  reply create_registry(call& c) {
    const json body = parse_body(c.req.body);
    only_fields(body, {"id", "name", "mqttConfig", "httpConfig", "logLevel", "credentials"},
                "registry");
    const json* id = member(body, "id");
    if (id == nullptr) {
      invalid("field \"id\" is required");
    }
    if (const json* name = member(body, "name");
        name != nullptr && !get_string(*name, "name").empty()) {
      invalid("field \"name\" is output only");
    }
    reg::registry_spec spec;
    spec.key = {reg::project_id(c.param("p")), reg::location_id(c.param("l")),
                reg::registry_id(get_string(*id, "id"))};
    c.target = reg::to_name(spec.key);
    if (const json* m = member(body, "mqttConfig")) {
      spec.mqtt_enabled = parse_mqtt_config(*m);
    }
    if (const json* h = member(body, "httpConfig")) {
      spec.http_enabled = parse_http_config(*h);
    }
    if (const json* l = member(body, "logLevel")) {
      spec.log_level = parse_log_level(*l);
    }
    if (const json* cr = member(body, "credentials")) {
      spec.ca_certificates = parse_registry_credentials(*cr);
    }
    return json_reply(to_json(take(deps.registry.create_registry(spec))));
  }

  reply list_registries(call& c) {
    const reg::project_id p(c.param("p"));
    const reg::location_id l(c.param("l"));
    return json_reply(paged<reg::device_registry>(
        c, "deviceRegistries",
        [&](const reg::page_request& page) { return deps.registry.list_registries(p, l, page); },
        [](const reg::device_registry& r) { return r.key.registry.value(); }));
  }

  reply get_registry(call& c) {
    return json_reply(to_json(take(deps.registry.get_registry(registry_key_of(c)))));
  }

  reply update_registry(call& c) {
    const auto key = registry_key_of(c);
    c.target = reg::to_name(key);
    const auto mask_text = c.req.query_param("updateMask");
    if (!mask_text || mask_text->empty()) {
      invalid("updateMask is required and must not be empty");
    }
    const auto mask = split_mask(*mask_text);
    const json body = parse_body(c.req.body);
    only_fields(body,
                {"id", "name", "mqttConfig", "httpConfig", "logLevel", "credentials", "createTime"},
                "registry");
    if (const json* id = member(body, "id");
        id != nullptr && get_string(*id, "id") != key.registry.value()) {
      invalid("field \"id\" cannot change");
    }
    reg::registry_update u;
    for (const auto& path : mask) {
      if (path == "mqttConfig" || path == "mqttConfig.mqttEnabledState") {
        const json* m = member(body, "mqttConfig");
        u.mqtt_enabled = m == nullptr ? true : parse_mqtt_config(*m);
      } else if (path == "httpConfig" || path == "httpConfig.httpEnabledState") {
        const json* h = member(body, "httpConfig");
        u.http_enabled = h == nullptr ? true : parse_http_config(*h);
      } else if (path == "logLevel") {
        const json* l = member(body, "logLevel");
        u.log_level = l == nullptr ? reg::device_log_level::unspecified : parse_log_level(*l);
      } else if (path == "credentials") {
        const json* cr = member(body, "credentials");
        auto cas =
            cr == nullptr ? std::vector<reg::ca_certificate>{} : parse_registry_credentials(*cr);
        // Adding a CA needs proof of possession (:registerCaCertificate); PATCH only removes.
        const auto current = take(deps.registry.get_registry(key));
        for (const auto& ca : cas) {
          if (std::find(current.ca_certificates.begin(), current.ca_certificates.end(), ca) ==
              current.ca_certificates.end()) {
            failed_precondition("PATCH can only remove CA certificates; add one with "
                                ":registerCaCertificate");
          }
        }
        u.ca_certificates = std::move(cas);
      } else {
        invalid("updateMask path \"" + path + "\" is not an updatable registry field");
      }
    }
    c.detail = "updateMask=" + std::string(*mask_text);
    auto updated = take(deps.registry.update_registry(key, u));
    deps.devices.registry_changed(key);
    return json_reply(to_json(updated));
  }

  reply delete_registry(call& c) {
    const auto key = registry_key_of(c);
    c.target = reg::to_name(key);
    take(deps.registry.delete_registry(key));
    return {};
  }

  // --- devices ---

  reply create_device(call& c) {
    const json body = parse_body(c.req.body);
    only_fields(body,
                {"id", "name", "numId", "credentials", "blocked", "metadata", "gatewayConfig",
                 "logLevel", "config"},
                "device");
    const json* id = member(body, "id");
    if (id == nullptr) {
      invalid("field \"id\" is required");
    }
    if (const json* name = member(body, "name");
        name != nullptr && !get_string(*name, "name").empty()) {
      invalid("field \"name\" is output only");
    }
    if (const json* num = member(body, "numId"); num != nullptr && get_int64(*num, "numId") != 0) {
      invalid("field \"numId\" is output only");
    }
    reg::device_spec spec;
    spec.key = {registry_key_of(c), reg::device_id(get_string(*id, "id"))};
    c.target = reg::to_name(spec.key);
    if (const json* cr = member(body, "credentials")) {
      spec.credentials = parse_device_credentials(*cr);
    }
    if (const json* b = member(body, "blocked")) {
      spec.blocked = get_bool(*b, "blocked");
    }
    if (const json* m = member(body, "metadata")) {
      spec.metadata = get_string_map(*m, "metadata");
    }
    if (const json* g = member(body, "gatewayConfig")) {
      spec.gateway = parse_gateway_config(*g);
    }
    if (const json* l = member(body, "logLevel")) {
      spec.log_level = parse_log_level(*l);
    }
    if (const json* cfg = member(body, "config")) {
      only_fields(*cfg, {"version", "binaryData"}, "config");
      if (const json* v = member(*cfg, "version"); v != nullptr && get_int64(*v, "version") != 0) {
        invalid("config.version must be 0 on create");
      }
      if (const json* data = member(*cfg, "binaryData")) {
        spec.initial_config = get_base64(*data, "config.binaryData");
      }
    }
    auto d = take(deps.registry.create_device(spec));
    c.detail = "numId=" + std::to_string(d.num_id.value());
    auto j = to_json(d);
    if (auto cfg = deps.registry.get_config(d.key)) {
      j["config"] = to_json(*cfg);
    }
    return json_reply(j);
  }

  ojson device_json(const reg::device& d, const std::optional<std::vector<std::string>>& mask) {
    auto wanted = [&](std::string_view f) {
      return !mask || std::find(mask->begin(), mask->end(), f) != mask->end();
    };
    ojson full = to_json(d);
    if (wanted("config")) {
      if (auto cfg = deps.registry.get_config(d.key)) {
        full["config"] = to_json(*cfg);
      }
    }
    if (wanted("state")) {
      auto states = take(deps.registry.list_states(d.key, 1));
      if (!states.empty()) {
        full["state"] = to_json(states.front());
      }
    }
    if (!mask) {
      return full;
    }
    ojson out;
    for (const auto& [k, v] : full.items()) {
      if (k == "id" || k == "name" || k == "numId" || wanted(k)) {
        out[k] = v;
      }
    }
    return out;
  }

  reply list_devices(call& c) {
    const auto rk = registry_key_of(c);
    const auto ids = c.req.query_params("deviceIds");
    const auto type = c.req.query_param("gatewayType");
    const auto assoc_gw = c.req.query_param("associationsGatewayId");
    const auto assoc_dev = c.req.query_param("associationsDeviceId");
    std::optional<reg::gateway_type> type_filter;
    if (type) {
      type_filter = parse_gateway_type(*type);
    }
    auto keep = [&](const reg::device& d) {
      if (!type_filter) {
        return true;
      }
      const auto t = d.gateway.type == reg::gateway_type::unspecified
                         ? reg::gateway_type::non_gateway
                         : d.gateway.type;
      return t == (*type_filter == reg::gateway_type::unspecified ? reg::gateway_type::non_gateway
                                                                  : *type_filter);
    };
    if (!ids.empty() || assoc_dev) {
      std::vector<std::string> wanted;
      if (!ids.empty()) {
        if (ids.size() > max_list_page) {
          invalid("at most 1000 deviceIds");
        }
        for (const auto id : ids) {
          wanted.emplace_back(id);
        }
      } else {
        const auto dk = resolve_device(rk, std::string(*assoc_dev));
        for (const auto& g : take(deps.registry.list_gateways_of(dk))) {
          wanted.push_back(g.value());
        }
      }
      ojson j;
      j["devices"] = ojson::array();
      for (const auto& id : wanted) {
        auto d = deps.registry.get_device({rk, reg::device_id(id)});
        if (!d) {
          if (d.error() == reg::registry_errc::device_not_found) {
            continue;
          }
          raise(d.error());
        }
        if (keep(*d)) {
          j["devices"].push_back(to_json(*d));
        }
      }
      return json_reply(j);
    }
    if (assoc_gw) {
      const auto gk = resolve_device(rk, std::string(*assoc_gw));
      std::size_t requested = 0;
      auto page = page_of(c, requested);
      auto bound = take(deps.registry.list_bound_devices(gk, page));
      ojson j;
      j["devices"] = ojson::array();
      for (const auto& id : bound) {
        auto d = deps.registry.get_device({rk, id});
        if (d && keep(*d)) {
          j["devices"].push_back(to_json(*d));
        }
      }
      if (!bound.empty() && bound.size() == page.page_size) {
        reg::page_request probe{1, bound.back().value()};
        if (!take(deps.registry.list_bound_devices(gk, probe)).empty()) {
          j["nextPageToken"] = encode_page_token(bound.back().value());
        }
      }
      return json_reply(j);
    }
    std::size_t requested = 0;
    auto page = page_of(c, requested);
    auto devices = take(deps.registry.list_devices(rk, page));
    ojson j;
    j["devices"] = ojson::array();
    for (const auto& d : devices) {
      if (keep(d)) {
        j["devices"].push_back(to_json(d));
      }
    }
    if (!devices.empty() && devices.size() == page.page_size) {
      reg::page_request probe{1, devices.back().key.device.value()};
      if (!take(deps.registry.list_devices(rk, probe)).empty()) {
        j["nextPageToken"] = encode_page_token(devices.back().key.device.value());
      }
    }
    return json_reply(j);
  }

  reply get_device(call& c) {
    std::optional<std::vector<std::string>> mask;
    if (const auto fm = c.req.query_param("fieldMask"); fm && !fm->empty()) {
      mask = split_mask(*fm);
      for (const auto& path : *mask) {
        if (!device_fields.contains(path)) {
          invalid("fieldMask path \"" + path + "\" is not a device field");
        }
      }
    }
    const auto key = device_key_of(c);
    return json_reply(device_json(take(deps.registry.get_device(key)), mask));
  }

  reply update_device(call& c) {
    const auto key = device_key_of(c);
    c.target = reg::to_name(key);
    const auto mask_text = c.req.query_param("updateMask");
    if (!mask_text || mask_text->empty()) {
      invalid("updateMask is required and must not be empty");
    }
    const auto mask = split_mask(*mask_text);
    const json body = parse_body(c.req.body);
    for (const auto& [k, v] : body.items()) {
      if (!device_fields.contains(k)) {
        invalid("unknown field \"" + k + "\" in device");
      }
    }
    if (const json* id = member(body, "id");
        id != nullptr && get_string(*id, "id") != key.device.value()) {
      invalid("field \"id\" cannot change");
    }
    reg::device_update u;
    for (const auto& path : mask) {
      if (path == "credentials") {
        const json* cr = member(body, "credentials");
        u.credentials =
            cr == nullptr ? std::vector<reg::credential>{} : parse_device_credentials(*cr);
      } else if (path == "blocked") {
        const json* b = member(body, "blocked");
        u.blocked = b != nullptr && get_bool(*b, "blocked");
        c.detail += std::string(c.detail.empty() ? "" : " ") +
                    (*u.blocked ? "blocked=true" : "blocked=false");
      } else if (path == "metadata") {
        const json* m = member(body, "metadata");
        u.metadata = m == nullptr ? reg::string_map{} : get_string_map(*m, "metadata");
      } else if (path == "logLevel") {
        const json* l = member(body, "logLevel");
        u.log_level = l == nullptr ? reg::device_log_level::unspecified : parse_log_level(*l);
      } else if (path == "gatewayConfig.gatewayAuthMethod") {
        const json* g = member(body, "gatewayConfig");
        u.auth_method = g == nullptr ? reg::gateway_auth_method::unspecified
                                     : parse_gateway_config(*g).auth_method;
      } else {
        invalid("updateMask path \"" + path + "\" is not an updatable device field");
      }
    }
    c.detail = "updateMask=" + std::string(*mask_text) + (c.detail.empty() ? "" : " " + c.detail);
    auto d = take(deps.registry.update_device(key, u));
    deps.devices.device_changed(d.key);
    return json_reply(device_json(d, std::nullopt));
  }

  reply delete_device(call& c) {
    const auto key = device_key_of(c);
    c.target = reg::to_name(key);
    take(deps.registry.delete_device(key));
    deps.devices.device_changed(key);
    return {};
  }

  // --- config, state, commands ---

  reply modify_config(call& c) {
    const auto key = device_key_of(c);
    c.target = reg::to_name(key);
    const json body = parse_body(c.req.body);
    only_fields(body, {"versionToUpdate", "binaryData"}, "modifyCloudToDeviceConfig request");
    std::int64_t version = 0;
    if (const json* v = member(body, "versionToUpdate")) {
      version = get_int64(*v, "versionToUpdate");
    }
    const json* data = member(body, "binaryData");
    if (data == nullptr) {
      invalid("field \"binaryData\" is required");
    }
    auto cfg = take(deps.registry.modify_config(key, get_base64(*data, "binaryData"), version));
    c.detail = "version=" + std::to_string(cfg.version);
    deps.devices.config_changed(key, cfg);
    return json_reply(to_json(cfg));
  }

  reply list_config_versions(call& c) {
    const auto key = device_key_of(c);
    std::size_t n = 0;
    if (const auto q = c.req.query_param("numVersions")) {
      n = parse_count(*q, "numVersions", reg::limits::config_versions_kept);
    }
    ojson j;
    j["deviceConfigs"] = ojson::array();
    for (const auto& v : take(deps.registry.list_config_versions(key, n))) {
      j["deviceConfigs"].push_back(to_json(v));
    }
    return json_reply(j);
  }

  reply list_states(call& c) {
    const auto key = device_key_of(c);
    std::size_t n = 0;
    if (const auto q = c.req.query_param("numStates")) {
      n = parse_count(*q, "numStates", reg::limits::states_kept);
    }
    ojson j;
    j["deviceStates"] = ojson::array();
    for (const auto& s : take(deps.registry.list_states(key, n))) {
      j["deviceStates"].push_back(to_json(s));
    }
    return json_reply(j);
  }

  reply send_command(call& c) {
    const auto key = device_key_of(c);
    c.target = reg::to_name(key);
    const json body = parse_body(c.req.body);
    only_fields(body, {"binaryData", "subfolder"}, "sendCommandToDevice request");
    const json* data = member(body, "binaryData");
    if (data == nullptr) {
      invalid("field \"binaryData\" is required");
    }
    bytes payload = get_base64(*data, "binaryData");
    if (payload.size() > max_command_bytes) {
      invalid("command payload over 256 KiB");
    }
    std::string subfolder;
    if (const json* s = member(body, "subfolder")) {
      subfolder = get_string(*s, "subfolder");
    }
    if (subfolder.size() > max_subfolder_chars ||
        subfolder.find_first_of(std::string_view("#+\0", 3)) != std::string::npos ||
        subfolder.starts_with('/') || subfolder.ends_with('/') ||
        subfolder.find("//") != std::string::npos) {
      invalid("subfolder must be a topic suffix without wildcards, empty levels or NUL");
    }
    (void)take(deps.registry.get_device(key)); // 404 before anything is sent
    c.detail = "subfolder=" + subfolder + " bytes=" + std::to_string(payload.size());
    // The answer waits for the data plane; the call is copied into the completion.
    auto done = [this, actor = c.actor, target = c.target, detail = c.detail,
                 source = c.req.remote_address, res = c.res](std::error_code ec) {
      auto finish = [this, actor, target, detail, source, res, ec] {
        call a;
        a.actor = actor;
        a.req.remote_address = source;
        if (ec) {
          audit(a, "device.send_command", target, "FAILED_PRECONDITION",
                detail + " error=" + ec.message());
          res.send(error_response(
              api_error(400, "FAILED_PRECONDITION", "device is not connected/subscribed")));
        } else {
          audit(a, "device.send_command", target, "ok", detail);
          res.send(make_response(200, "{}", "application/json"));
        }
      };
      if (!deps.run(finish)) {
        log::warn(component, "audit of a command to {} dropped: executor busy", target);
        res.send(ec ? error_response(api_error(400, "FAILED_PRECONDITION",
                                               "device is not connected/subscribed"))
                    : make_response(200, "{}", "application/json"));
      }
    };
    deps.devices.send_command(key, std::move(subfolder), std::move(payload), std::move(done));
    reply r;
    r.deferred = true;
    return r;
  }

  // --- gateways ---

  std::pair<reg::device_key, reg::device_key> binding_of(call& c) {
    const auto rk = registry_key_of(c);
    c.target = reg::to_name(rk);
    const json body = parse_body(c.req.body);
    only_fields(body, {"gatewayId", "deviceId"}, "binding request");
    const json* g = member(body, "gatewayId");
    const json* d = member(body, "deviceId");
    if (g == nullptr || d == nullptr) {
      invalid("fields \"gatewayId\" and \"deviceId\" are required");
    }
    auto gk = resolve_device(rk, get_string(*g, "gatewayId"));
    auto dk = resolve_device(rk, get_string(*d, "deviceId"));
    c.detail = "gateway=" + gk.device.value() + " device=" + dk.device.value();
    return {gk, dk};
  }

  reply bind(call& c) {
    const auto [gk, dk] = binding_of(c);
    take(deps.registry.bind_device_to_gateway(gk.registry, gk.device, dk.device));
    return {};
  }

  reply unbind(call& c) {
    const auto [gk, dk] = binding_of(c);
    take(deps.registry.unbind_device_from_gateway(gk.registry, gk.device, dk.device));
    deps.devices.device_changed(dk);
    return {};
  }

  // --- groups ---

  reply create_group(call& c) {
    const json body = parse_body(c.req.body);
    only_fields(body, {"id", "labels"}, "group");
    const json* id = member(body, "id");
    if (id == nullptr) {
      invalid("field \"id\" is required");
    }
    const reg::group_key key{registry_key_of(c), reg::group_id(get_string(*id, "id"))};
    c.target = reg::to_name(key);
    reg::string_map labels;
    if (const json* l = member(body, "labels")) {
      labels = get_string_map(*l, "labels");
    }
    return json_reply(to_json(take(deps.registry.create_group(key, labels))));
  }

  reply list_groups(call& c) {
    const auto rk = registry_key_of(c);
    return json_reply(paged<reg::device_group>(
        c, "groups", [&](const reg::page_request& p) { return deps.registry.list_groups(rk, p); },
        [](const reg::device_group& g) { return g.key.group.value(); }));
  }

  reply get_group(call& c) {
    return json_reply(to_json(take(deps.registry.get_group(group_key_of(c)))));
  }

  reply update_group(call& c) {
    const auto key = group_key_of(c);
    c.target = reg::to_name(key);
    const json body = parse_body(c.req.body);
    only_fields(body, {"id", "name", "labels", "createTime"}, "group");
    if (const json* id = member(body, "id");
        id != nullptr && get_string(*id, "id") != key.group.value()) {
      invalid("field \"id\" cannot change");
    }
    reg::string_map labels;
    if (const json* l = member(body, "labels")) {
      labels = get_string_map(*l, "labels");
    }
    return json_reply(to_json(take(deps.registry.set_group_labels(key, labels))));
  }

  reply delete_group(call& c) {
    const auto key = group_key_of(c);
    c.target = reg::to_name(key);
    take(deps.registry.delete_group(key));
    return {};
  }

  std::vector<reg::device_id> member_ids(call& c) {
    const json body = parse_body(c.req.body);
    only_fields(body, {"deviceIds"}, "group members request");
    const json* ids = member(body, "deviceIds");
    if (ids == nullptr) {
      invalid("field \"deviceIds\" is required");
    }
    const auto rk = registry_key_of(c);
    std::vector<reg::device_id> out;
    for (const auto& id : get_string_list(*ids, "deviceIds")) {
      out.push_back(resolve_device(rk, id).device);
    }
    if (out.size() > max_list_page) {
      invalid("at most 1000 deviceIds per request");
    }
    c.detail = "devices=" + std::to_string(out.size());
    return out;
  }

  reply add_group_devices(call& c) {
    const auto key = group_key_of(c);
    c.target = reg::to_name(key);
    take(deps.registry.add_group_members(key, member_ids(c)));
    return {};
  }

  reply remove_group_devices(call& c) {
    const auto key = group_key_of(c);
    c.target = reg::to_name(key);
    take(deps.registry.remove_group_members(key, member_ids(c)));
    return {};
  }

  reply list_group_devices(call& c) {
    const auto key = group_key_of(c);
    return json_reply(paged<reg::device_id>(
        c, "deviceIds",
        [&](const reg::page_request& p) { return deps.registry.list_group_members(key, p); },
        [](const reg::device_id& d) { return d.value(); }));
  }

  // --- CA ---

  reply get_ca(call& /*c*/) {
    ojson j;
    j["certificate"] = take(deps.ca.cert().to_pem());
    j["fingerprintSha256"] = deps.ca.cert().fingerprint_sha256();
    return json_reply(j);
  }

  reply sign_certificate(call& c) {
    const auto key = device_key_of(c);
    c.target = reg::to_name(key);
    const json body = parse_body(c.req.body);
    only_fields(body, {"csr", "validityDays"}, "signCertificate request");
    const json* csr_text = member(body, "csr");
    if (csr_text == nullptr) {
      invalid("field \"csr\" is required");
    }
    std::int64_t days = 365;
    if (const json* v = member(body, "validityDays")) {
      days = get_int64(*v, "validityDays");
      if (days < 1 || days > max_validity_days) {
        invalid("validityDays must be 1 to 3650");
      }
    }
    auto csr = take(crypto::certificate_request::from_pem(get_string(*csr_text, "csr")), "csr");
    (void)take(deps.registry.get_device(key)); // only for a device that exists
    crypto::device_cert_request dreq;
    dreq.device_id = key.device.value();
    dreq.device_uri = "aegis:" + reg::to_name(key);
    dreq.validity = std::chrono::hours(24 * days);
    auto cert = take(deps.ca.sign_device_csr(csr, dreq, deps.clk.wall_now()), "certificate");
    c.detail = "serial=" + cert.serial_hex();
    ojson j;
    j["certificate"] = take(cert.to_pem());
    j["serial"] = cert.serial_hex();
    j["expireTime"] = format_time(cert.not_after());
    return json_reply(j);
  }

  reply registration_code(call& c) {
    const auto now = deps.clk.wall_now();
    auto raw = take(crypto::random_bytes(16));
    const std::string code = to_hex(raw);
    const wall_time expiry = now + registration_code_lifetime;
    {
      const std::lock_guard lock(codes_mutex);
      std::erase_if(registration_codes, [now](const auto& e) { return e.second <= now; });
      if (registration_codes.size() >= max_registration_codes) {
        throw api_error(429, "RESOURCE_EXHAUSTED", "too many live registration codes");
      }
      registration_codes.emplace(code, expiry);
    }
    c.target = "ca";
    ojson j;
    j["registrationCode"] = code;
    j["expireTime"] = format_time(expiry);
    return json_reply(j);
  }

  reply register_ca(call& c) {
    const auto rk = registry_key_of(c);
    c.target = reg::to_name(rk);
    const json body = parse_body(c.req.body);
    only_fields(body, {"certificate", "verificationCertificate"}, "registerCaCertificate request");
    const json* ca_text = member(body, "certificate");
    const json* verification_text = member(body, "verificationCertificate");
    if (ca_text == nullptr || verification_text == nullptr) {
      invalid("fields \"certificate\" and \"verificationCertificate\" are required");
    }
    const std::string ca_pem = get_string(*ca_text, "certificate");
    auto ca = take(crypto::certificate::from_pem(ca_pem), "certificate");
    auto verification = take(
        crypto::certificate::from_pem(get_string(*verification_text, "verificationCertificate")),
        "verificationCertificate");
    const auto now = deps.clk.wall_now();
    const std::string code = verification.subject_cn();
    {
      const std::lock_guard lock(codes_mutex);
      std::erase_if(registration_codes, [now](const auto& e) { return e.second <= now; });
      if (code.empty() || !registration_codes.contains(code)) {
        invalid("the verification certificate's CN is not a live registration code");
      }
    }
    crypto::trust_store store;
    take(store.add_anchor(ca), "certificate");
    if (auto v = store.verify(verification, {}, crypto::cert_purpose::any, now); !v) {
      invalid("the verification certificate is not signed by the CA certificate's key (" +
              v.error().message() + ")");
    }
    auto current = take(deps.registry.get_registry(rk));
    reg::registry_update u;
    u.ca_certificates = current.ca_certificates;
    u.ca_certificates->push_back({ca_pem});
    auto updated = take(deps.registry.update_registry(rk, u));
    {
      const std::lock_guard lock(codes_mutex);
      registration_codes.erase(code); // single use
    }
    c.detail = "fingerprint=" + ca.fingerprint_sha256();
    return json_reply(to_json(updated));
  }

  reply revoke_certificate(call& c) {
    const json body = parse_body(c.req.body);
    only_fields(body, {"serial", "reason"}, "revoke request");
    const json* serial = member(body, "serial");
    if (serial == nullptr) {
      invalid("field \"serial\" is required");
    }
    reg::revoked_certificate r;
    r.serial_hex = normalize_serial(get_string(*serial, "serial"));
    r.reason = "unspecified";
    if (const json* reason = member(body, "reason")) {
      r.reason = get_string(*reason, "reason");
      if (std::find(revocation_reasons.begin(), revocation_reasons.end(), r.reason) ==
          revocation_reasons.end()) {
        invalid("unknown revocation reason \"" + r.reason +
                "\" (RFC 5280 names, e.g. "
                "keyCompromise)");
      }
    }
    r.revoke_time = deps.clk.wall_now();
    c.target = "certificates/" + r.serial_hex;
    c.detail = "reason=" + r.reason;
    take(deps.operators.insert_revocation(r));
    deps.devices.certificate_revoked(r.serial_hex);
    return {};
  }

  reply list_revoked(call& /*c*/) {
    ojson j;
    j["revokedCertificates"] = ojson::array();
    for (const auto& r : take(deps.operators.list_revocations())) {
      j["revokedCertificates"].push_back(to_json(r));
    }
    return json_reply(j);
  }

  reply get_crl(call& /*c*/) {
    // Unauthenticated by design (relying parties fetch it), so it must stay cheap: the signed
    // CRL is kept and made again only when the list grew (revocations are never undone) or it
    // is an hour old.
    auto revoked = take(deps.operators.list_revocations());
    const wall_time now = deps.clk.wall_now();
    {
      const std::lock_guard lock(crl_mutex);
      if (crl_cache && crl_cache->entries == revoked.size() &&
          now - crl_cache->made < std::chrono::hours{1}) {
        return crl_reply(crl_cache->der);
      }
    }
    std::vector<crypto::revoked_entry> entries;
    for (const auto& r : revoked) {
      entries.push_back({r.serial_hex, r.revoke_time});
    }
    auto list = take(deps.ca.issue_crl(entries, now, crl_next_update));
    const auto der = pem_to_der(take(list.to_pem()));
    if (!der) {
      throw api_error(500, "INTERNAL", "internal error");
    }
    std::string body(der->begin(), der->end());
    {
      const std::lock_guard lock(crl_mutex);
      crl_cache = cached_crl{revoked.size(), now, body};
    }
    return crl_reply(std::move(body));
  }

  static reply crl_reply(std::string der) {
    reply r;
    r.body = std::move(der);
    r.content_type = "application/pkix-crl";
    return r;
  }

  struct cached_crl {
    std::size_t entries = 0;
    wall_time made{};
    std::string der;
  };
  std::mutex crl_mutex;
  std::optional<cached_crl> crl_cache;

  // --- tokens, audit ---

  reply create_token(call& c) {
    const json body = parse_body(c.req.body);
    only_fields(body, {"description", "scope", "ttlSeconds"}, "token");
    const json* scope = member(body, "scope");
    if (scope == nullptr) {
      invalid("field \"scope\" is required (viewer, provisioner or admin)");
    }
    const auto s = reg::parse_operator_scope(get_string(*scope, "scope"));
    if (!s) {
      invalid("scope must be viewer, provisioner or admin");
    }
    reg::operator_token t;
    t.scope = *s;
    if (const json* d = member(body, "description")) {
      t.description = get_string(*d, "description");
      if (t.description.size() > 256) {
        invalid("description over 256 characters");
      }
    }
    t.create_time = deps.clk.wall_now();
    if (const json* ttl = member(body, "ttlSeconds")) {
      const auto secs = get_int64(*ttl, "ttlSeconds");
      if (secs < 1 || secs > max_token_ttl_seconds) {
        invalid("ttlSeconds must be 1 to 10 years");
      }
      t.expire_time = t.create_time + std::chrono::seconds(secs);
    }
    t.created_by = c.actor;
    auto generated = take(generate_token());
    t.id = generated.id;
    t.secret_digest = generated.secret_digest;
    take(deps.operators.insert_token(t));
    c.target = "tokens/" + t.id;
    c.detail = "scope=" + std::string(reg::to_string(t.scope));
    ojson j = to_json(t);
    j["token"] = generated.text;
    return json_reply(j);
  }

  reply list_tokens(call& /*c*/) {
    ojson j;
    j["tokens"] = ojson::array();
    for (const auto& t : take(deps.operators.list_tokens())) {
      j["tokens"].push_back(to_json(t));
    }
    return json_reply(j);
  }

  reply revoke_token(call& c) {
    const std::string& id = c.param("id");
    c.target = "tokens/" + id;
    take(deps.operators.revoke_token(id, deps.clk.wall_now()));
    return {};
  }

  reply list_audit(call& c) {
    reg::audit_query q;
    if (const auto a = c.req.query_param("afterSequence")) {
      q.after_sequence = get_int64(json(std::string(*a)), "afterSequence");
      if (q.after_sequence < 0) {
        invalid("afterSequence must not be negative");
      }
    }
    q.limit = reg::limits::default_page_size;
    if (const auto ps = c.req.query_param("pageSize")) {
      q.limit = parse_count(*ps, "pageSize", max_list_page);
      if (q.limit == 0) {
        q.limit = reg::limits::default_page_size;
      }
    }
    q.target_prefix = std::string(c.req.query_param("target").value_or(""));
    q.actor = std::string(c.req.query_param("actor").value_or(""));
    q.action = std::string(c.req.query_param("action").value_or(""));
    ojson j;
    j["records"] = ojson::array();
    for (const auto& r : take(deps.operators.list_audit(q))) {
      j["records"].push_back(to_json(r));
    }
    return json_reply(j);
  }

  reply openapi(call& /*c*/) { return {200, std::string(embedded_openapi), "application/json"}; }

  reply metrics(call& /*c*/) {
    if (!deps.metrics) {
      throw api_error(404, "NOT_FOUND", "metrics are not enabled");
    }
    return {200, deps.metrics(), std::string(metrics_text::content_type)};
  }
};

const std::vector<admin_api::impl::route_def>& admin_api::impl::table() {
  using s = reg::operator_scope;
  constexpr auto viewer = s::viewer;
  constexpr auto prov = s::provisioner;
  constexpr auto admin = s::admin;
#define AEGIS_R "/api/v1/projects/{p}/locations/{l}/registries"
  static const std::vector<route_def> routes{
      {"POST", "/api/v1/projects", prov, "project.create", &impl::create_project},
      {"GET", "/api/v1/projects", viewer, nullptr, &impl::list_projects},
      {"GET", "/api/v1/projects/{p}", viewer, nullptr, &impl::get_project},
      {"DELETE", "/api/v1/projects/{p}", admin, "project.delete", &impl::delete_project},
      {"POST", AEGIS_R, prov, "registry.create", &impl::create_registry},
      {"GET", AEGIS_R, viewer, nullptr, &impl::list_registries},
      {"GET", AEGIS_R "/{r}", viewer, nullptr, &impl::get_registry},
      {"PATCH", AEGIS_R "/{r}", prov, "registry.update", &impl::update_registry},
      {"DELETE", AEGIS_R "/{r}", prov, "registry.delete", &impl::delete_registry},
      {"POST", AEGIS_R "/{r}/devices", prov, "device.create", &impl::create_device},
      {"GET", AEGIS_R "/{r}/devices", viewer, nullptr, &impl::list_devices},
      {"GET", AEGIS_R "/{r}/devices/{d}", viewer, nullptr, &impl::get_device},
      {"PATCH", AEGIS_R "/{r}/devices/{d}", prov, "device.update", &impl::update_device},
      {"DELETE", AEGIS_R "/{r}/devices/{d}", prov, "device.delete", &impl::delete_device},
      {"POST", AEGIS_R "/{r}/devices/{d}:modifyCloudToDeviceConfig", prov, "device.modify_config",
       &impl::modify_config},
      {"GET", AEGIS_R "/{r}/devices/{d}/configVersions", viewer, nullptr,
       &impl::list_config_versions},
      {"GET", AEGIS_R "/{r}/devices/{d}/states", viewer, nullptr, &impl::list_states},
      // Refused requests are audited like any write; delivered or undelivered commands by the
      // completion (the answer waits for the data plane).
      {"POST", AEGIS_R "/{r}/devices/{d}:sendCommandToDevice", prov, "device.send_command",
       &impl::send_command},
      {"POST", AEGIS_R "/{r}/devices/{d}:signCertificate", prov, "certificate.sign",
       &impl::sign_certificate},
      {"POST", AEGIS_R "/{r}:bindDeviceToGateway", prov, "gateway.bind", &impl::bind},
      {"POST", AEGIS_R "/{r}:unbindDeviceFromGateway", prov, "gateway.unbind", &impl::unbind},
      {"POST", AEGIS_R "/{r}:registerCaCertificate", admin, "registry.register_ca",
       &impl::register_ca},
      {"POST", AEGIS_R "/{r}/groups", prov, "group.create", &impl::create_group},
      {"GET", AEGIS_R "/{r}/groups", viewer, nullptr, &impl::list_groups},
      {"GET", AEGIS_R "/{r}/groups/{g}", viewer, nullptr, &impl::get_group},
      {"PATCH", AEGIS_R "/{r}/groups/{g}", prov, "group.update", &impl::update_group},
      {"DELETE", AEGIS_R "/{r}/groups/{g}", prov, "group.delete", &impl::delete_group},
      {"POST", AEGIS_R "/{r}/groups/{g}:addDevices", prov, "group.add_devices",
       &impl::add_group_devices},
      {"POST", AEGIS_R "/{r}/groups/{g}:removeDevices", prov, "group.remove_devices",
       &impl::remove_group_devices},
      {"GET", AEGIS_R "/{r}/groups/{g}/devices", viewer, nullptr, &impl::list_group_devices},
      {"GET", "/api/v1/ca", viewer, nullptr, &impl::get_ca},
      {"POST", "/api/v1/ca:registrationCode", admin, "ca.registration_code",
       &impl::registration_code},
      {"POST", "/api/v1/certificates:revoke", admin, "certificate.revoke",
       &impl::revoke_certificate},
      {"GET", "/api/v1/certificates/revoked", viewer, nullptr, &impl::list_revoked},
      {"GET", "/api/v1/crl", std::nullopt, nullptr, &impl::get_crl},
      {"POST", "/api/v1/tokens", admin, "token.create", &impl::create_token},
      {"GET", "/api/v1/tokens", admin, nullptr, &impl::list_tokens},
      {"DELETE", "/api/v1/tokens/{id}", admin, "token.revoke", &impl::revoke_token},
      {"GET", "/api/v1/audit", admin, nullptr, &impl::list_audit},
      {"GET", "/api/v1/openapi.json", std::nullopt, nullptr, &impl::openapi, true},
      {"GET", "/metrics", viewer, nullptr, &impl::metrics},
  };
#undef AEGIS_R
  return routes;
}

admin_api::admin_api(api_dependencies deps) : impl_(std::make_unique<impl>(std::move(deps))) {}
admin_api::~admin_api() = default;

void admin_api::add_routes(http::router& r) {
  for (const auto& def : impl::table()) {
    r.add(def.method, def.pattern,
          [self = impl_.get(), &def](http::request&& req, const http::path_params& params,
                                     http::responder res) {
            self->start(def, std::move(req), params, std::move(res));
          });
  }
}

std::vector<route_info> admin_api::routes() {
  std::vector<route_info> out;
  for (const auto& def : impl::table()) {
    out.push_back({def.method, def.pattern});
  }
  return out;
}

std::string_view admin_api::openapi_document() noexcept {
  return embedded_openapi;
}

result<std::optional<std::string>> admin_api::bootstrap_admin_token() {
  auto count = impl_->deps.operators.count_tokens();
  if (!count) {
    return count.error();
  }
  if (*count != 0) {
    return std::optional<std::string>{};
  }
  auto generated = generate_token();
  if (!generated) {
    return generated.error();
  }
  reg::operator_token t;
  t.id = generated->id;
  t.description = "bootstrap admin token";
  t.scope = reg::operator_scope::admin;
  t.secret_digest = generated->secret_digest;
  t.create_time = impl_->deps.clk.wall_now();
  t.created_by = "bootstrap";
  if (auto s = impl_->deps.operators.insert_token(t); !s) {
    return s.error();
  }
  call c;
  c.actor = "system";
  impl_->audit(c, "token.create", "tokens/" + t.id, "ok", "bootstrap admin token");
  return std::optional<std::string>{generated->text};
}

} // namespace aegis::admin
