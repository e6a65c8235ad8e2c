#include "aegis/app/config.hpp"

#include <gtest/gtest.h>

#include <fstream>

namespace {

using namespace aegis::app;

TEST(Config, DefaultsWithoutFile) {
  const config cfg = load_config(std::nullopt, {});
  EXPECT_EQ(cfg.data_dir, "./var/aegis");
  EXPECT_EQ(cfg.log_level, aegis::log::level::info);
  EXPECT_EQ(cfg.log_format, aegis::log::output_format::human);
  EXPECT_EQ(cfg.tls.server_dns_names, std::vector<std::string>{"localhost"});
  EXPECT_EQ(cfg.tls.server_ip_addresses, (std::vector<std::string>{"127.0.0.1", "::1"}));
  EXPECT_TRUE(cfg.tls.cert_file.empty());
  EXPECT_EQ(cfg.tls.renew_before, std::chrono::hours(24 * 30));
}

// The example file documents every default: parsing it must give exactly the built-in defaults.
TEST(Config, ExampleFileIsTheDefaults) {
  const config from_example = parse_config(default_config_toml(), "aegisd.example.toml");
  const config builtin;
  EXPECT_EQ(from_example.data_dir, builtin.data_dir);
  EXPECT_EQ(from_example.log_level, builtin.log_level);
  EXPECT_EQ(from_example.log_format, builtin.log_format);
  EXPECT_EQ(from_example.tls.server_dns_names, builtin.tls.server_dns_names);
  EXPECT_EQ(from_example.tls.server_ip_addresses, builtin.tls.server_ip_addresses);
  EXPECT_EQ(from_example.tls.cert_file, builtin.tls.cert_file);
  EXPECT_EQ(from_example.tls.key_file, builtin.tls.key_file);
  EXPECT_EQ(from_example.tls.renew_before, builtin.tls.renew_before);
  EXPECT_EQ(from_example.mqtt.listen_address, builtin.mqtt.listen_address);
  EXPECT_EQ(from_example.mqtt.listen_port, builtin.mqtt.listen_port);
  EXPECT_EQ(from_example.mqtt.max_packet_size, builtin.mqtt.max_packet_size);
  EXPECT_EQ(from_example.mqtt.accounts_file, builtin.mqtt.accounts_file);
  EXPECT_TRUE(from_example.mqtt.acl.empty());
  EXPECT_EQ(from_example.mqtt.persistence, builtin.mqtt.persistence);
  EXPECT_EQ(from_example.mqtt.max_queued_messages, builtin.mqtt.max_queued_messages);
  EXPECT_EQ(from_example.mqtt.max_queued_bytes, builtin.mqtt.max_queued_bytes);
  EXPECT_EQ(from_example.mqtt.queue_overflow, builtin.mqtt.queue_overflow);
  EXPECT_EQ(from_example.mqtt.max_retained_messages, builtin.mqtt.max_retained_messages);
  EXPECT_EQ(from_example.mqtt.max_retained_bytes, builtin.mqtt.max_retained_bytes);
  EXPECT_EQ(from_example.mqtt.max_session_expiry_seconds, builtin.mqtt.max_session_expiry_seconds);
  EXPECT_EQ(from_example.https.listen_address, builtin.https.listen_address);
  EXPECT_EQ(from_example.https.listen_port, builtin.https.listen_port);
  EXPECT_EQ(from_example.https.max_body_bytes, builtin.https.max_body_bytes);
  EXPECT_EQ(from_example.auth.jwt_skew, builtin.auth.jwt_skew);
}

TEST(Config, AuthSection) {
  EXPECT_EQ(config{}.auth.jwt_skew, std::chrono::seconds(600));
  EXPECT_EQ(parse_config("[auth]\njwt_skew_seconds = 2\n").auth.jwt_skew, std::chrono::seconds(2));
  EXPECT_THROW(parse_config("[auth]\njwt_skew_seconds = 7200\n"), config_error);
  EXPECT_THROW(parse_config("[auth]\nskew = 1\n"), config_error);
}

TEST(Config, HttpsSection) {
  const config defaults;
  EXPECT_EQ(defaults.https.listen_port, 8443);
  const config cfg = parse_config(R"(
[https]
listen = "127.0.0.2:0"
max_body_bytes = 2048
)");
  EXPECT_EQ(cfg.https.listen_address, "127.0.0.2");
  EXPECT_EQ(cfg.https.listen_port, 0);
  EXPECT_EQ(cfg.https.max_body_bytes, 2048U);
  EXPECT_THROW(parse_config("[https]\nmax_body_bytes = 10\n"), config_error);
  EXPECT_THROW(parse_config("[https]\nlisten = \"nope\"\n"), config_error);
  EXPECT_THROW(parse_config("[https]\nport = 1\n"), config_error);

  config_overrides o;
  o.https_listen = "127.0.0.1:9443";
  const config flagged = load_config(std::nullopt, o);
  EXPECT_EQ(flagged.https.listen_port, 9443);
}

TEST(Config, MqttAclRules) {
  const config cfg = parse_config(R"(
[[mqtt.acl]]
user = "backend"
access = "subscribe"
pattern = "projects/p/locations/l/registries/r/devices/+/events/#"

[[mqtt.acl]]
pattern = "projects/p/locations/l/registries/r/devices/+/state"
)");
  ASSERT_EQ(cfg.mqtt.acl.size(), 2U);
  EXPECT_EQ(cfg.mqtt.acl[0].user, "backend");
  EXPECT_EQ(cfg.mqtt.acl[0].access, "subscribe");
  EXPECT_EQ(cfg.mqtt.acl[1].user, "");
  EXPECT_EQ(cfg.mqtt.acl[1].access, "both");
  EXPECT_THROW(parse_config("[[mqtt.acl]]\naccess = \"read\"\npattern = \"a\"\n"), config_error);
  EXPECT_THROW(parse_config("[[mqtt.acl]]\nuser = \"x\"\n"), config_error);
  EXPECT_THROW(parse_config("[[mqtt.acl]]\npattern = \"a\"\ncolour = 1\n"), config_error);
  EXPECT_THROW(parse_config("[mqtt]\nacl = 3\n"), config_error);
}

TEST(Config, MqttSection) {
  const config defaults;
  EXPECT_EQ(defaults.mqtt.listen_address, "127.0.0.1");
  EXPECT_EQ(defaults.mqtt.listen_port, 8883);
  const config cfg = parse_config(R"(
[mqtt]
listen = "[::1]:0"
max_packet_size = 4096
accounts_file = "/etc/aegis/accounts"
)");
  EXPECT_EQ(cfg.mqtt.listen_address, "::1");
  EXPECT_EQ(cfg.mqtt.listen_port, 0);
  EXPECT_EQ(cfg.mqtt.max_packet_size, 4096U);
  EXPECT_EQ(cfg.mqtt.accounts_file, "/etc/aegis/accounts");

  config_overrides o;
  o.mqtt_listen = "0.0.0.0:1883";
  const config flagged = load_config(std::nullopt, o);
  EXPECT_EQ(flagged.mqtt.listen_address, "0.0.0.0");
  EXPECT_EQ(flagged.mqtt.listen_port, 1883);
}

TEST(Config, MqttPersistenceAndCaps) {
  const config defaults;
  EXPECT_TRUE(defaults.mqtt.persistence);
  EXPECT_EQ(defaults.mqtt.queue_overflow, "drop_oldest");
  const config cfg = parse_config(R"(
[mqtt]
persistence = false
max_queued_messages = 5
max_queued_bytes = 2048
queue_overflow = "drop_newest"
max_retained_messages = 0
max_retained_bytes = 10
max_session_expiry_seconds = 60
)");
  EXPECT_FALSE(cfg.mqtt.persistence);
  EXPECT_EQ(cfg.mqtt.max_queued_messages, 5U);
  EXPECT_EQ(cfg.mqtt.max_queued_bytes, 2048U);
  EXPECT_EQ(cfg.mqtt.queue_overflow, "drop_newest");
  EXPECT_EQ(cfg.mqtt.max_retained_messages, 0U);
  EXPECT_EQ(cfg.mqtt.max_retained_bytes, 10U);
  EXPECT_EQ(cfg.mqtt.max_session_expiry_seconds, 60U);
  EXPECT_THROW(parse_config("[mqtt]\npersistence = 1\n"), config_error);
  EXPECT_THROW(parse_config("[mqtt]\nqueue_overflow = \"drop_all\"\n"), config_error);
  EXPECT_THROW(parse_config("[mqtt]\nmax_queued_messages = 0\n"), config_error);
  EXPECT_THROW(parse_config("[mqtt]\nmax_session_expiry_seconds = -1\n"), config_error);
}

TEST(Config, FileValuesApply) {
  const config cfg = parse_config(R"(
[server]
data_dir = "/srv/aegis"
log_level = "debug"
log_format = "json"
[tls]
server_dns_names = ["hub.example.com"]
server_ip_addresses = []
renew_before_days = 7
)");
  EXPECT_EQ(cfg.data_dir, "/srv/aegis");
  EXPECT_EQ(cfg.log_level, aegis::log::level::debug);
  EXPECT_EQ(cfg.log_format, aegis::log::output_format::json);
  EXPECT_EQ(cfg.tls.server_dns_names, std::vector<std::string>{"hub.example.com"});
  EXPECT_TRUE(cfg.tls.server_ip_addresses.empty());
  EXPECT_EQ(cfg.tls.renew_before, std::chrono::hours(24 * 7));
}

void expect_error(std::string_view text, std::string_view fragment) {
  try {
    (void)parse_config(text, "test.toml");
    ADD_FAILURE() << "accepted: " << text;
  } catch (const config_error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos)
        << "message '" << e.what() << "' lacks '" << fragment << "'";
  }
}

TEST(Config, ErrorsNameTheKey) {
  expect_error("[server]\nlog_levl = \"info\"\n", "server.log_levl: unknown key");
  expect_error("[serve]\n", "serve: unknown key");
  expect_error("[server]\nlog_level = \"loud\"\n", "server.log_level");
  expect_error("[server]\nlog_format = \"xml\"\n", "server.log_format");
  expect_error("[server]\ndata_dir = 5\n", "server.data_dir: must be a string");
  expect_error("[server]\ndata_dir = \"\"\n", "server.data_dir: must not be empty");
  expect_error("[tls]\ncert_file = \"a.pem\"\n", "set together");
  expect_error("[tls]\nrenew_before_days = 0\n", "tls.renew_before_days: must be between");
  expect_error("[tls]\nserver_dns_names = [1]\n", "array of strings");
  expect_error("[tls]\nserver_dns_names = []\nserver_ip_addresses = []\n", "both empty");
  expect_error("server = 1\n", "server: must be a table");
  expect_error("[server\n", "test.toml:1:");
  expect_error("[mqtt]\nlisten = \"localhost\"\n", "mqtt.listen");
  expect_error("[mqtt]\nlisten = \"localhost:70000\"\n", "mqtt.listen");
  expect_error("[mqtt]\nlisten = \":8883\"\n", "mqtt.listen");
  expect_error("[mqtt]\nmax_packet_size = 1\n", "mqtt.max_packet_size");
  expect_error("[mqtt]\nport = 1\n", "mqtt.port: unknown key");
}

TEST(Config, FlagsOverrideFile) {
  const std::string path = ::testing::TempDir() + "/aegis_config_test.toml";
  std::ofstream(path) << "[server]\ndata_dir = \"/from/file\"\nlog_level = \"warn\"\n";
  config_overrides o;
  o.data_dir = "/from/flag";
  o.log_format = "json";
  const config cfg = load_config(path, o);
  EXPECT_EQ(cfg.data_dir, "/from/flag");
  EXPECT_EQ(cfg.log_level, aegis::log::level::warn);
  EXPECT_EQ(cfg.log_format, aegis::log::output_format::json);
  std::remove(path.c_str());

  EXPECT_THROW(load_config(std::filesystem::path("/nonexistent/aegis.toml"), {}), config_error);
  config_overrides bad;
  bad.log_level = "chatty";
  EXPECT_THROW(load_config(std::nullopt, bad), config_error);
}

} // namespace
