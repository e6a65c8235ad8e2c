#include "aegis/app/config.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <fstream>
#include <set>
#include <sstream>

namespace aegis::app {
namespace {

constexpr std::string_view default_toml =
#include "default_config.inc"
    ;

[[noreturn]] void fail(std::string_view source, std::string_view key, std::string_view what) {
  throw config_error(fmt::format("{}: {}: {}", source, key, what));
}

void reject_unknown_keys(const toml::table& table, std::string_view prefix,
                         const std::set<std::string_view>& known, std::string_view source) {
  for (const auto& [key, value] : table) {
    (void)value;
    if (known.count(key.str()) == 0) {
      fail(source, fmt::format("{}{}", prefix, key.str()), "unknown key");
    }
  }
}

const toml::table* section(const toml::table& root, std::string_view name,
                           std::string_view source) {
  const toml::node* node = root.get(name);
  if (node == nullptr) {
    return nullptr;
  }
  if (!node->is_table()) {
    fail(source, name, "must be a table");
  }
  return node->as_table();
}

std::string get_string(const toml::table& t, std::string_view key, std::string_view full_key,
                       std::string fallback, std::string_view source) {
  const toml::node* node = t.get(key);
  if (node == nullptr) {
    return fallback;
  }
  if (!node->is_string()) {
    fail(source, full_key, "must be a string");
  }
  return std::string(node->as_string()->get());
}

std::vector<std::string> get_string_list(const toml::table& t, std::string_view key,
                                         std::string_view full_key,
                                         std::vector<std::string> fallback,
                                         std::string_view source) {
  const toml::node* node = t.get(key);
  if (node == nullptr) {
    return fallback;
  }
  const toml::array* arr = node->as_array();
  if (arr == nullptr) {
    fail(source, full_key, "must be an array of strings");
  }
  std::vector<std::string> out;
  for (const auto& item : *arr) {
    if (!item.is_string()) {
      fail(source, full_key, "must be an array of strings");
    }
    out.emplace_back(item.as_string()->get());
  }
  return out;
}

std::int64_t get_int(const toml::table& t, std::string_view key, std::string_view full_key,
                     std::int64_t fallback, std::int64_t min, std::int64_t max,
                     std::string_view source) {
  const toml::node* node = t.get(key);
  if (node == nullptr) {
    return fallback;
  }
  if (!node->is_integer()) {
    fail(source, full_key, "must be an integer");
  }
  const std::int64_t v = node->as_integer()->get();
  if (v < min || v > max) {
    fail(source, full_key, fmt::format("must be between {} and {}", min, max));
  }
  return v;
}

bool get_bool(const toml::table& t, std::string_view key, std::string_view full_key, bool fallback,
              std::string_view source) {
  const toml::node* node = t.get(key);
  if (node == nullptr) {
    return fallback;
  }
  if (!node->is_boolean()) {
    fail(source, full_key, "must be true or false");
  }
  return node->as_boolean()->get();
}

log::level parse_level_or_fail(std::string_view text, std::string_view source,
                               std::string_view key) {
  log::level lvl{};
  if (!log::parse_level(text, lvl)) {
    fail(source, key,
         fmt::format("'{}' is not one of trace, debug, info, warn, error, critical, off", text));
  }
  return lvl;
}

log::output_format parse_format_or_fail(std::string_view text, std::string_view source,
                                        std::string_view key) {
  if (text == "human") {
    return log::output_format::human;
  }
  if (text == "json") {
    return log::output_format::json;
  }
  fail(source, key, fmt::format("'{}' is not one of human, json", text));
}

// "127.0.0.1:8883", "[::1]:8883" or "localhost:0".
void parse_listen_or_fail(std::string_view text, std::string_view source, std::string_view key,
                          std::string& out_address, std::uint16_t& out_port) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    fail(source, key, fmt::format("'{}' is not address:port", text));
  }
  std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty() || port_text.size() > 5) {
    fail(source, key, fmt::format("'{}' is not address:port", text));
  }
  unsigned port = 0;
  for (const char c : port_text) {
    if (c < '0' || c > '9') {
      fail(source, key, fmt::format("'{}' is not address:port", text));
    }
    port = port * 10U + static_cast<unsigned>(c - '0');
  }
  if (port > 65535U) {
    fail(source, key, fmt::format("port {} is over 65535", port));
  }
  out_address = std::string(host);
  out_port = static_cast<std::uint16_t>(port);
}

std::vector<acl_rule_config> parse_acl(const toml::table& mqtt, std::string_view source) {
  std::vector<acl_rule_config> rules;
  const toml::node* node = mqtt.get("acl");
  if (node == nullptr) {
    return rules;
  }
  const toml::array* arr = node->as_array();
  if (arr == nullptr) {
    fail(source, "mqtt.acl", "must be an array of tables ([[mqtt.acl]])");
  }
  std::size_t index = 0;
  for (const auto& item : *arr) {
    const std::string key = fmt::format("mqtt.acl[{}]", index++);
    const toml::table* t = item.as_table();
    if (t == nullptr) {
      fail(source, key, "must be a table with user, access and pattern");
    }
    reject_unknown_keys(*t, key + ".", {"user", "access", "pattern"}, source);
    acl_rule_config rule;
    rule.user = get_string(*t, "user", key + ".user", "", source);
    rule.access = get_string(*t, "access", key + ".access", "both", source);
    if (rule.access != "publish" && rule.access != "subscribe" && rule.access != "both") {
      fail(source, key + ".access",
           fmt::format("'{}' is not one of publish, subscribe, both", rule.access));
    }
    rule.pattern = get_string(*t, "pattern", key + ".pattern", "", source);
    if (rule.pattern.empty()) {
      fail(source, key + ".pattern", "must not be empty");
    }
    rules.push_back(std::move(rule));
  }
  return rules;
}

std::string_view format_name(log::output_format f) {
  return f == log::output_format::json ? "json" : "human";
}

} // namespace

config parse_config(std::string_view toml_text, std::string_view source_name) {
  toml::table root;
  try {
    root = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    throw config_error(
        fmt::format("{}:{}:{}: {}", source_name, where.line, where.column, e.description()));
  }
  reject_unknown_keys(root, "", {"server", "tls", "mqtt", "https", "auth"}, source_name);

  config cfg;
  if (const toml::table* server = section(root, "server", source_name)) {
    reject_unknown_keys(*server, "server.", {"data_dir", "log_level", "log_format"}, source_name);
    cfg.data_dir =
        get_string(*server, "data_dir", "server.data_dir", cfg.data_dir.string(), source_name);
    if (cfg.data_dir.empty()) {
      fail(source_name, "server.data_dir", "must not be empty");
    }
    cfg.log_level =
        parse_level_or_fail(get_string(*server, "log_level", "server.log_level",
                                       std::string(log::to_string(cfg.log_level)), source_name),
                            source_name, "server.log_level");
    cfg.log_format =
        parse_format_or_fail(get_string(*server, "log_format", "server.log_format",
                                        std::string(format_name(cfg.log_format)), source_name),
                             source_name, "server.log_format");
  }
  if (const toml::table* tls = section(root, "tls", source_name)) {
    reject_unknown_keys(
        *tls, "tls.",
        {"server_dns_names", "server_ip_addresses", "cert_file", "key_file", "renew_before_days"},
        source_name);
    cfg.tls.server_dns_names = get_string_list(*tls, "server_dns_names", "tls.server_dns_names",
                                               cfg.tls.server_dns_names, source_name);
    cfg.tls.server_ip_addresses =
        get_string_list(*tls, "server_ip_addresses", "tls.server_ip_addresses",
                        cfg.tls.server_ip_addresses, source_name);
    cfg.tls.cert_file = get_string(*tls, "cert_file", "tls.cert_file", "", source_name);
    cfg.tls.key_file = get_string(*tls, "key_file", "tls.key_file", "", source_name);
    if (cfg.tls.cert_file.empty() != cfg.tls.key_file.empty()) {
      fail(source_name, "tls.cert_file", "cert_file and key_file must be set together");
    }
    cfg.tls.renew_before = std::chrono::hours(
        24 * get_int(*tls, "renew_before_days", "tls.renew_before_days", 30, 1, 365, source_name));
  }
  if (const toml::table* mqtt = section(root, "mqtt", source_name)) {
    reject_unknown_keys(*mqtt, "mqtt.",
                        {"listen", "max_packet_size", "accounts_file", "acl", "persistence",
                         "max_queued_messages", "max_queued_bytes", "queue_overflow",
                         "max_retained_messages", "max_retained_bytes",
                         "max_session_expiry_seconds"},
                        source_name);
    if (mqtt->get("listen") != nullptr) {
      parse_listen_or_fail(get_string(*mqtt, "listen", "mqtt.listen", "", source_name), source_name,
                           "mqtt.listen", cfg.mqtt.listen_address, cfg.mqtt.listen_port);
    }
    cfg.mqtt.acl = parse_acl(*mqtt, source_name);
    cfg.mqtt.max_packet_size =
        static_cast<std::uint32_t>(get_int(*mqtt, "max_packet_size", "mqtt.max_packet_size",
                                           cfg.mqtt.max_packet_size, 64, 268'435'455, source_name));
    cfg.mqtt.accounts_file =
        get_string(*mqtt, "accounts_file", "mqtt.accounts_file", "", source_name);
    cfg.mqtt.persistence =
        get_bool(*mqtt, "persistence", "mqtt.persistence", cfg.mqtt.persistence, source_name);
    const auto size_key = [&](std::string_view key, std::size_t fallback, std::int64_t min,
                              std::int64_t max) {
      return static_cast<std::size_t>(get_int(*mqtt, key, fmt::format("mqtt.{}", key),
                                              static_cast<std::int64_t>(fallback), min, max,
                                              source_name));
    };
    cfg.mqtt.max_queued_messages =
        size_key("max_queued_messages", cfg.mqtt.max_queued_messages, 1, 10'000'000);
    cfg.mqtt.max_queued_bytes =
        size_key("max_queued_bytes", cfg.mqtt.max_queued_bytes, 1024, std::int64_t{1} << 34);
    cfg.mqtt.max_retained_messages =
        size_key("max_retained_messages", cfg.mqtt.max_retained_messages, 0, 100'000'000);
    cfg.mqtt.max_retained_bytes =
        size_key("max_retained_bytes", cfg.mqtt.max_retained_bytes, 0, std::int64_t{1} << 36);
    cfg.mqtt.max_session_expiry_seconds = static_cast<std::uint32_t>(
        get_int(*mqtt, "max_session_expiry_seconds", "mqtt.max_session_expiry_seconds",
                cfg.mqtt.max_session_expiry_seconds, 0, 4'294'967'295, source_name));
    cfg.mqtt.queue_overflow = get_string(*mqtt, "queue_overflow", "mqtt.queue_overflow",
                                         cfg.mqtt.queue_overflow, source_name);
    if (cfg.mqtt.queue_overflow != "drop_oldest" && cfg.mqtt.queue_overflow != "drop_newest") {
      fail(source_name, "mqtt.queue_overflow",
           fmt::format("'{}' is not one of drop_oldest, drop_newest", cfg.mqtt.queue_overflow));
    }
  }
  if (const toml::table* https = section(root, "https", source_name)) {
    reject_unknown_keys(*https, "https.", {"listen", "max_body_bytes"}, source_name);
    if (https->get("listen") != nullptr) {
      parse_listen_or_fail(get_string(*https, "listen", "https.listen", "", source_name),
                           source_name, "https.listen", cfg.https.listen_address,
                           cfg.https.listen_port);
    }
    cfg.https.max_body_bytes = static_cast<std::size_t>(get_int(
        *https, "max_body_bytes", "https.max_body_bytes",
        static_cast<std::int64_t>(cfg.https.max_body_bytes), 1024, 64 * 1024 * 1024, source_name));
  }
  if (const toml::table* auth = section(root, "auth", source_name)) {
    reject_unknown_keys(*auth, "auth.", {"jwt_skew_seconds"}, source_name);
    cfg.auth.jwt_skew =
        std::chrono::seconds(get_int(*auth, "jwt_skew_seconds", "auth.jwt_skew_seconds",
                                     cfg.auth.jwt_skew.count(), 0, 3600, source_name));
  }
  if (cfg.tls.server_dns_names.empty() && cfg.tls.server_ip_addresses.empty()) {
    fail(source_name, "tls", "server_dns_names and server_ip_addresses are both empty");
  }
  return cfg;
}

config load_config(const std::optional<std::filesystem::path>& file,
                   const config_overrides& overrides) {
  config cfg;
  if (file) {
    std::ifstream in(*file, std::ios::binary);
    if (!in) {
      throw config_error(fmt::format("{}: cannot open configuration file", file->string()));
    }
    std::ostringstream text;
    text << in.rdbuf();
    cfg = parse_config(text.str(), file->string());
  }
  if (overrides.data_dir) {
    if (overrides.data_dir->empty()) {
      throw config_error("--data-dir: must not be empty");
    }
    cfg.data_dir = *overrides.data_dir;
  }
  if (overrides.log_level) {
    cfg.log_level = parse_level_or_fail(*overrides.log_level, "command line", "--log-level");
  }
  if (overrides.log_format) {
    cfg.log_format = parse_format_or_fail(*overrides.log_format, "command line", "--log-format");
  }
  if (overrides.mqtt_listen) {
    parse_listen_or_fail(*overrides.mqtt_listen, "command line", "--mqtt-listen",
                         cfg.mqtt.listen_address, cfg.mqtt.listen_port);
  }
  if (overrides.https_listen) {
    parse_listen_or_fail(*overrides.https_listen, "command line", "--https-listen",
                         cfg.https.listen_address, cfg.https.listen_port);
  }
  return cfg;
}

std::string_view default_config_toml() noexcept {
  return default_toml;
}

} // namespace aegis::app
