#pragma once

// aegisd's configuration: built-in defaults, then a TOML file, then command-line flags, each
// overriding the one before. Every key and its default is in aegisd.example.toml, which
// default_config_toml() returns and a test keeps in step with the parser.
//
// Configuration is read once at start-up, so errors are exceptions (config_error) carrying a
// message that names the file, the key and what is wrong.

#include "aegis/base/log.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace aegis::app {

class config_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

struct tls_config {
  // Names and addresses the generated server certificate is valid for.
  std::vector<std::string> server_dns_names{"localhost"};
  std::vector<std::string> server_ip_addresses{"127.0.0.1", "::1"};
  // Operator-supplied certificate chain and key; when both are set Aegis uses them instead of
  // generating its own server certificate.
  std::filesystem::path cert_file;
  std::filesystem::path key_file;
  // A generated server certificate is replaced when it has less than this much time left.
  std::chrono::hours renew_before{24 * 30};
};

// One [[mqtt.acl]] rule: `user` (empty: every account) may `access` ("publish", "subscribe" or
// "both") topics matching `pattern` (an MQTT filter; "%u" is the user name, "%c" the client id).
struct acl_rule_config {
  std::string user;
  std::string access{"both"};
  std::string pattern;
};

struct mqtt_config {
  // The MQTT over TLS listener ("address:port"; port 0 picks a free one, logged at start).
  std::string listen_address{"127.0.0.1"};
  std::uint16_t listen_port = 8883;
  // Largest packet accepted (fixed header included), also advertised in CONNACK.
  std::uint32_t max_packet_size = 1024U * 1024U;
  // Application accounts: lines "username:$pbkdf2-sha256$..." (aegisd --hash-password). Empty
  // or missing: no account can log in.
  std::filesystem::path accounts_file;
  // What application accounts may do in the device namespace ("projects/..."). Outside it they
  // may publish and subscribe freely; inside it only what a rule allows.
  std::vector<acl_rule_config> acl;
  // Persistent sessions (clean session 0 / a session expiry), their subscriptions and queued
  // QoS 1/2 messages, and retained messages survive a restart (stored, sealed, in the store).
  bool persistence = true;
  // Per session, messages waiting for an offline or slow client: a cap in count and in bytes
  // (topic + payload); over it `queue_overflow` ("drop_oldest" or "drop_newest") decides.
  std::size_t max_queued_messages = 1000;
  std::size_t max_queued_bytes = 1024U * 1024U;
  std::string queue_overflow{"drop_oldest"};
  // The retained-message quota, in count and bytes; over it a retained PUBLISH is refused
  // (PUBACK/PUBREC 0x97 in v5).
  std::size_t max_retained_messages = 100'000;
  std::size_t max_retained_bytes = 64U * 1024U * 1024U;
  // Longest session expiry granted (v5 asks are lowered to it; 3.1.1 persistent sessions get it).
  std::uint32_t max_session_expiry_seconds = 7U * 24U * 3600U;
};

struct https_config {
  // The HTTPS listener: admin API under /api/v1/ ("address:port"; port 0 picks a free one).
  std::string listen_address{"127.0.0.1"};
  std::uint16_t listen_port = 8443;
  // Largest request body accepted (413 above it).
  std::size_t max_body_bytes = 1024U * 1024U;
};

struct auth_config {
  // Allowed clock difference for device JWTs (iat, exp); a session also lasts until exp + skew,
  // as IoT Core did.
  std::chrono::seconds jwt_skew{600};
};

struct config {
  std::filesystem::path data_dir{"./var/aegis"};
  log::level log_level = log::level::info;
  log::output_format log_format = log::output_format::human;
  tls_config tls;
  mqtt_config mqtt;
  https_config https;
  auth_config auth;
};

// Values given on the command line; each one set overrides the file.
struct config_overrides {
  std::optional<std::filesystem::path> data_dir;
  std::optional<std::string> log_level;
  std::optional<std::string> log_format;
  std::optional<std::string> mqtt_listen;  // "address:port"
  std::optional<std::string> https_listen; // "address:port"
};

// Parses TOML text (`source_name` only names it in error messages). Unknown keys are errors:
// a misspelt key silently ignored is a security setting silently not applied.
config parse_config(std::string_view toml_text, std::string_view source_name = "config");
config load_config(const std::optional<std::filesystem::path>& file,
                   const config_overrides& overrides);

// The documented default configuration file.
std::string_view default_config_toml() noexcept;

} // namespace aegis::app
