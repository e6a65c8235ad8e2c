#include "aegis/admin/admin_api.hpp"
#include "aegis/admin/metrics_text.hpp"

#include "aegis/crypto/keys.hpp"
#include "aegis/crypto/x509.hpp"
#include "aegis/registry/memory_repository.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace aegis::admin {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

const std::string R = "/api/v1/projects/acme-iot/locations/us-central1/registries";

struct recording_channel final : device_channel {
  bool deliver = false;
  std::vector<std::pair<registry::device_key, std::string>> commands;
  std::vector<std::int64_t> configs;
  std::vector<registry::device_key> changed;
  std::vector<registry::registry_key> registries_changed;
  std::vector<std::string> revoked;

  void send_command(const registry::device_key& device, std::string subfolder, bytes /*payload*/,
                    std::function<void(std::error_code)> done) override {
    commands.emplace_back(device, std::move(subfolder));
    done(deliver ? std::error_code{} : std::make_error_code(std::errc::not_connected));
  }
  void config_changed(const registry::device_key& /*device*/,
                      const registry::config_version& latest) override {
    configs.push_back(latest.version);
  }
  void device_changed(const registry::device_key& device) override { changed.push_back(device); }
  void registry_changed(const registry::registry_key& registry) override {
    registries_changed.push_back(registry);
  }
  void certificate_revoked(const std::string& serial_hex) override {
    revoked.push_back(serial_hex);
  }
};

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size()) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

http::request make_request(std::string method, std::string target, std::string body,
                           const std::optional<std::string>& token) {
  http::request r;
  r.method = std::move(method);
  r.target = target;
  const auto q = target.find('?');
  r.path = target.substr(0, q);
  if (q != std::string::npos) {
    std::string_view rest = std::string_view(target).substr(q + 1);
    while (!rest.empty()) {
      const auto amp = rest.find('&');
      const auto item = rest.substr(0, amp);
      const auto eq = item.find('=');
      r.query.emplace_back(percent_decode(item.substr(0, eq)),
                           eq == std::string_view::npos ? "" : percent_decode(item.substr(eq + 1)));
      if (amp == std::string_view::npos) {
        break;
      }
      rest.remove_prefix(amp + 1);
    }
  }
  r.body = std::move(body);
  if (token) {
    r.headers.emplace_back("Authorization", "Bearer " + *token);
  }
  r.remote_address = "192.0.2.7";
  return r;
}

struct answer {
  unsigned status = 0;
  std::string content_type;
  std::string body;
  json j() const { return json::parse(body); }
  std::string error_status() const { return j()["error"]["status"].get<std::string>(); }
};

crypto::certificate_authority make_ca(std::string_view name, wall_time now) {
  auto ca = crypto::certificate_authority::create(name, std::chrono::hours(24 * 3650), now);
  EXPECT_TRUE(ca.has_value());
  return std::move(ca).value();
}

std::string public_key_pem() {
  auto key = crypto::private_key::generate(crypto::key_type::ec_p256);
  return key->public_part().to_pem().value();
}

class admin_api_test : public ::testing::Test {
protected:
  admin_api_test() {
    api_.add_routes(router_);
    auto token = api_.bootstrap_admin_token();
    EXPECT_TRUE(token.has_value());
    EXPECT_TRUE(token->has_value());
    admin_ = **token;
  }

  answer call(std::string method, const std::string& target, std::string body = {},
              std::optional<std::string> token = std::nullopt, bool anonymous = false) {
    if (!token && !anonymous) {
      token = admin_;
    }
    answer a;
    router_.dispatch(make_request(std::move(method), target, std::move(body), token),
                     http::responder::to_function([&a](http::response r) {
                       a.status = r.status;
                       a.content_type = r.content_type;
                       a.body = std::move(r.body);
                     }));
    return a;
  }

  std::string make_token(const std::string& scope, std::string extra = {}) {
    auto a = call("POST", "/api/v1/tokens",
                  R"({"scope":")" + scope + R"(","description":"t")" + extra + "}");
    EXPECT_EQ(a.status, 200u) << a.body;
    return a.j()["token"].get<std::string>();
  }

  void provision_registry() {
    ASSERT_EQ(call("POST", "/api/v1/projects", R"({"id":"acme-iot"})").status, 200u);
    auto a =
        call("POST", R, R"({"id":"fleet-a","mqttConfig":{"mqttEnabledState":"MQTT_ENABLED"}})");
    ASSERT_EQ(a.status, 200u) << a.body;
  }

  answer create_device(const std::string& id, const std::string& extra = {}) {
    return call("POST", R + "/fleet-a/devices", R"({"id":")" + id + "\"" + extra + "}");
  }

  std::vector<registry::audit_record> audit_log() {
    registry::audit_query q;
    q.limit = 0;
    return ops_.list_audit(q).value();
  }

  manual_clock clk_{wall_time{std::chrono::seconds{1'800'000'000}}};
  registry::memory_repository repo_;
  registry::memory_operator_repository ops_;
  registry::registry_service svc_{repo_, clk_};
  crypto::certificate_authority ca_ = make_ca("Aegis test CA", clk_.wall_now());
  recording_channel channel_;
  bool executor_open_ = true;
  admin_api api_{{svc_, ops_, ca_, clk_,
                  [this](std::function<void()> f) {
                    if (!executor_open_) {
                      return false;
                    }
                    f();
                    return true;
                  },
                  channel_}};
  http::router router_;
  std::string admin_;
};

TEST_F(admin_api_test, bootstrap_creates_one_admin_token_once) {
  EXPECT_TRUE(parse_token(admin_).has_value());
  auto again = api_.bootstrap_admin_token();
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(again->has_value());
  auto tokens = ops_.list_tokens().value();
  ASSERT_EQ(tokens.size(), 1u);
  EXPECT_EQ(tokens[0].scope, registry::operator_scope::admin);
  EXPECT_EQ(tokens[0].created_by, "bootstrap");
  EXPECT_EQ(tokens[0].secret_digest.size(), 32u);
  EXPECT_EQ(admin_.find(to_hex(tokens[0].secret_digest)), std::string::npos);
}

TEST_F(admin_api_test, provisioning_flow) {
  provision_registry();
  const std::string pem = public_key_pem();
  auto created = create_device(
      "sensor-001", R"(,"credentials":[{"publicKey":{"format":"ES256_PEM","key":)" +
                        json(pem).dump() +
                        R"(}}],"metadata":{"site":"plant-4"},"config":{"binaryData":"aGVsbG8="})");
  ASSERT_EQ(created.status, 200u) << created.body;
  const auto d = created.j();
  EXPECT_EQ(d["id"], "sensor-001");
  const std::string num = d["numId"].get<std::string>();
  EXPECT_EQ(d["name"], "projects/acme-iot/locations/us-central1/registries/fleet-a/devices/" + num);
  EXPECT_EQ(d["credentials"][0]["publicKey"]["format"], "ES256_PEM");
  EXPECT_FALSE(d["credentials"][0].contains("expirationTime"));
  EXPECT_EQ(d["config"]["version"], "1");
  EXPECT_EQ(d["config"]["binaryData"], "aGVsbG8=");
  EXPECT_EQ(d["gatewayConfig"]["gatewayType"], "GATEWAY_TYPE_UNSPECIFIED");
  EXPECT_EQ(d["createTime"], "2027-01-15T08:00:00.000Z");

  // By numeric id as well.
  auto got = call("GET", R + "/fleet-a/devices/" + num);
  ASSERT_EQ(got.status, 200u) << got.body;
  EXPECT_EQ(got.j()["id"], "sensor-001");
  EXPECT_EQ(got.j()["metadata"]["site"], "plant-4");

  auto cfg = call("POST", R + "/fleet-a/devices/sensor-001:modifyCloudToDeviceConfig",
                  R"({"versionToUpdate":"1","binaryData":"djI="})");
  ASSERT_EQ(cfg.status, 200u) << cfg.body;
  EXPECT_EQ(cfg.j()["version"], "2");
  EXPECT_EQ(channel_.configs, std::vector<std::int64_t>{2});
  auto versions = call("GET", R + "/fleet-a/devices/sensor-001/configVersions?numVersions=5");
  ASSERT_EQ(versions.status, 200u);
  ASSERT_EQ(versions.j()["deviceConfigs"].size(), 2u);
  EXPECT_EQ(versions.j()["deviceConfigs"][0]["version"], "2");

  ASSERT_TRUE(
      svc_.report_state({{registry::project_id("acme-iot"), registry::location_id("us-central1"),
                          registry::registry_id("fleet-a")},
                         registry::device_id("sensor-001")},
                        to_bytes("st"))
          .has_value());
  auto states = call("GET", R + "/fleet-a/devices/sensor-001/states");
  ASSERT_EQ(states.status, 200u);
  EXPECT_EQ(states.j()["deviceStates"][0]["binaryData"], "c3Q=");
  EXPECT_EQ(call("GET", R + "/fleet-a/devices/sensor-001").j()["state"]["binaryData"], "c3Q=");

  auto blocked =
      call("PATCH", R + "/fleet-a/devices/sensor-001?updateMask=blocked", R"({"blocked":true})");
  ASSERT_EQ(blocked.status, 200u) << blocked.body;
  EXPECT_TRUE(blocked.j()["blocked"].get<bool>());
  EXPECT_EQ(blocked.j()["metadata"]["site"], "plant-4"); // untouched outside the mask
  ASSERT_EQ(channel_.changed.size(), 1u);
  EXPECT_EQ(channel_.changed[0].device.value(), "sensor-001");

  // Gateway binding.
  ASSERT_EQ(
      create_device(
          "gw-7",
          R"(,"gatewayConfig":{"gatewayType":"GATEWAY","gatewayAuthMethod":"ASSOCIATION_ONLY"})")
          .status,
      200u);
  EXPECT_EQ(call("POST", R + "/fleet-a:bindDeviceToGateway",
                 R"({"gatewayId":"gw-7","deviceId":"sensor-001"})")
                .status,
            200u);
  auto bound = call("GET", R + "/fleet-a/devices?associationsGatewayId=gw-7");
  ASSERT_EQ(bound.status, 200u);
  ASSERT_EQ(bound.j()["devices"].size(), 1u);
  EXPECT_EQ(bound.j()["devices"][0]["id"], "sensor-001");
  auto gateways = call("GET", R + "/fleet-a/devices?gatewayType=GATEWAY");
  ASSERT_EQ(gateways.j()["devices"].size(), 1u);
  EXPECT_EQ(gateways.j()["devices"][0]["id"], "gw-7");
  EXPECT_EQ(call("DELETE", R + "/fleet-a/devices/gw-7").error_status(), "FAILED_PRECONDITION");
  EXPECT_EQ(call("POST", R + "/fleet-a:unbindDeviceFromGateway",
                 R"({"gatewayId":"gw-7","deviceId":"sensor-001"})")
                .status,
            200u);

  // Groups.
  ASSERT_EQ(call("POST", R + "/fleet-a/groups", R"({"id":"north","labels":{"tier":"a"}})").status,
            200u);
  EXPECT_EQ(call("POST", R + "/fleet-a/groups/north:addDevices",
                 R"({"deviceIds":["sensor-001",")" + num + "\"]}")
                .status,
            200u);
  auto members = call("GET", R + "/fleet-a/groups/north/devices");
  ASSERT_EQ(members.status, 200u);
  EXPECT_EQ(members.j()["deviceIds"], json::array({"sensor-001"}));
  EXPECT_EQ(call("PATCH", R + "/fleet-a/groups/north", R"({"labels":{"tier":"b"}})")
                .j()["labels"]["tier"],
            "b");
  EXPECT_EQ(call("GET", R + "/fleet-a/groups").j()["groups"].size(), 1u);

  EXPECT_EQ(call("DELETE", R + "/fleet-a").error_status(), "FAILED_PRECONDITION");
  EXPECT_EQ(call("DELETE", R + "/fleet-a/devices/sensor-001").status, 200u);
  EXPECT_EQ(call("GET", R + "/fleet-a/devices/sensor-001").status, 404u);
}

TEST_F(admin_api_test, authentication_failures_are_401_without_detail_and_audited) {
  provision_registry();
  const auto check_401 = [&](std::optional<std::string> token, bool anonymous) {
    auto a = call("GET", R, {}, std::move(token), anonymous);
    EXPECT_EQ(a.status, 401u);
    EXPECT_EQ(a.error_status(), "UNAUTHENTICATED");
    EXPECT_EQ(a.j()["error"]["message"], "unauthenticated");
  };
  check_401(std::nullopt, true);
  check_401(std::string("not-a-token"), false);
  check_401(std::string("aeg_aaaaaaaaaaaa_") + std::string(43, 'A'), false); // unknown id
  // Right id, wrong secret.
  std::string forged = admin_;
  forged.back() = forged.back() == 'A' ? 'Q' : 'A';
  check_401(forged, false);

  std::size_t failures = 0;
  for (const auto& r : audit_log()) {
    if (r.action == "auth.failure") {
      ++failures;
      EXPECT_EQ(r.actor, "anonymous");
      EXPECT_EQ(r.outcome, "UNAUTHENTICATED");
      EXPECT_EQ(r.source_address, "192.0.2.7");
      EXPECT_EQ(r.detail.find(admin_.substr(17)), std::string::npos); // never the secret
    }
  }
  EXPECT_EQ(failures, 4u);
}

TEST_F(admin_api_test, expired_and_revoked_tokens_are_refused_at_once) {
  const std::string short_lived = make_token("viewer", R"(,"ttlSeconds":"60")");
  EXPECT_EQ(call("GET", "/api/v1/projects", {}, short_lived).status, 200u);
  clk_.advance(61s);
  EXPECT_EQ(call("GET", "/api/v1/projects", {}, short_lived).status, 401u);

  const std::string viewer = make_token("viewer");
  EXPECT_EQ(call("GET", "/api/v1/projects", {}, viewer).status, 200u);
  const std::string id = parse_token(viewer)->id;
  EXPECT_EQ(call("DELETE", "/api/v1/tokens/" + id).status, 200u);
  EXPECT_EQ(call("GET", "/api/v1/projects", {}, viewer).status, 401u);
  EXPECT_EQ(call("DELETE", "/api/v1/tokens/zzzzzzzzzzzz").status, 404u);

  auto list = call("GET", "/api/v1/tokens").j()["tokens"];
  ASSERT_EQ(list.size(), 3u);
  for (const auto& t : list) {
    EXPECT_FALSE(t.contains("token"));
    EXPECT_FALSE(t.contains("secretDigest"));
    if (t["id"] == id) {
      EXPECT_TRUE(t.contains("revokeTime"));
    }
  }
}

TEST_F(admin_api_test, scopes_are_enforced) {
  provision_registry();
  const std::string viewer = make_token("viewer");
  const std::string provisioner = make_token("provisioner");
  EXPECT_EQ(call("GET", R, {}, viewer).status, 200u);
  auto denied = call("POST", R, R"({"id":"fleet-b"})", viewer);
  EXPECT_EQ(denied.status, 403u);
  EXPECT_EQ(denied.error_status(), "PERMISSION_DENIED");
  EXPECT_EQ(call("GET", R + "/fleet-b").status, 404u); // nothing was created
  EXPECT_EQ(call("POST", R, R"({"id":"fleet-b"})", provisioner).status, 200u);
  EXPECT_EQ(call("POST", "/api/v1/tokens", R"({"scope":"admin"})", provisioner).status, 403u);
  EXPECT_EQ(call("GET", "/api/v1/audit", {}, provisioner).status, 403u);
  EXPECT_EQ(call("DELETE", "/api/v1/projects/acme-iot", {}, provisioner).status, 403u);
  EXPECT_EQ(call("POST", "/api/v1/ca:registrationCode", {}, provisioner).status, 403u);

  bool audited = false;
  for (const auto& r : audit_log()) {
    if (r.action == "auth.permission_denied" && r.actor == parse_token(viewer)->id) {
      audited = true;
      EXPECT_EQ(r.outcome, "PERMISSION_DENIED");
    }
  }
  EXPECT_TRUE(audited);
}

TEST_F(admin_api_test, malformed_input_is_400_invalid_argument) {
  provision_registry();
  const auto expect_400 = [&](const answer& a) {
    EXPECT_EQ(a.status, 400u) << a.body;
    EXPECT_EQ(a.error_status(), "INVALID_ARGUMENT") << a.body;
  };
  expect_400(call("POST", R + "/fleet-a/devices", R"({"id":"dv1",)")); // malformed JSON
  expect_400(call("POST", R + "/fleet-a/devices", R"(["dv1"])"));      // not an object
  expect_400(call("POST", R + "/fleet-a/devices", R"({"id":"dv1","colour":"red"})"));  // unknown
  expect_400(call("POST", R + "/fleet-a/devices", R"({"id":"dv1","blocked":"yes"})")); // type
  expect_400(call("POST", R + "/fleet-a/devices", R"({"id":1234})"));
  expect_400(call("POST", R + "/fleet-a/devices", R"({"id":"dv1","config":{"binaryData":"@@@"}})"));
  expect_400(call("POST", R + "/fleet-a/devices",
                  R"({"id":"dv1","credentials":[{"publicKey":{"format":"ES512","key":"x"}}]})"));
  expect_400(
      call("POST", R + "/fleet-a/devices",
           R"({"id":"dv1","credentials":[{"publicKey":{"format":"ES256_PEM","key":"x"}}]})"));
  expect_400(call("POST", R + "/fleet-a/devices", R"({"id":"dv1","logLevel":"LOUD"})"));
  expect_400(call("POST", R + "/fleet-a/devices", R"({"id":"dv1","numId":"77"})"));
  ASSERT_EQ(create_device("dv1").status, 200u);
  expect_400(call("POST", R + "/fleet-a/devices/dv1:modifyCloudToDeviceConfig",
                  R"({"binaryData":"aGVsbG8"})")); // bad padding
  expect_400(call("POST", R + "/fleet-a/devices/dv1:modifyCloudToDeviceConfig",
                  R"({"binaryData":"aGk=","versionToUpdate":1.5})"));
  expect_400(call("GET", R + "/fleet-a/devices/dv1/states?numStates=11"));
  // Nothing of that was created.
  EXPECT_EQ(call("GET", R + "/fleet-a/devices").j()["devices"].size(), 1u);
}

TEST_F(admin_api_test, hostile_ids_are_refused_and_metacharacters_stored_verbatim) {
  provision_registry();
  const std::vector<std::string> hostile{"..",  "../etc",   "a/b",   "x'; DROP TABLE devices;--",
                                         "a b", "goog-dev", "ab\"c", std::string("ab\0c", 4)};
  for (const auto& bad : hostile) {
    auto created = call("POST", R + "/fleet-a/devices", json{{"id", bad}}.dump());
    EXPECT_EQ(created.status, 400u) << bad << " " << created.body;
    EXPECT_EQ(created.error_status(), "INVALID_ARGUMENT");
  }
  // Path segments: ".." is an id like any other and fails the id rules; nothing escapes.
  EXPECT_EQ(call("GET", R + "/fleet-a/devices/..").status, 400u);
  EXPECT_EQ(call("GET", R + "/../devices/x").status, 400u);
  EXPECT_EQ(call("GET", "/api/v1/projects/acme-iot/locations/us-central1/registries/fleet-a/"
                        "devices/ab..%2F..%2Ffoo")
                .status,
            404u); // '%' is in the id alphabet: a literal id that does not exist
  // '%' is part of the id alphabet (IoT Core): such an id is one literal segment.
  ASSERT_EQ(create_device("ab%2Fc").status, 200u);
  EXPECT_EQ(call("GET", R + "/fleet-a/devices/ab%2Fc").j()["id"], "ab%2Fc");

  // SQL metacharacters in metadata values are opaque text, stored byte for byte.
  const std::string value = "'; DROP TABLE devices; -- \" \\ %";
  ASSERT_EQ(create_device("meta-dev", R"(,"metadata":{"k":)" + json(value).dump() + "}").status,
            200u);
  EXPECT_EQ(call("GET", R + "/fleet-a/devices/meta-dev").j()["metadata"]["k"], value);
  // Group labels follow GCP label rules: quotes refused.
  EXPECT_EQ(call("POST", R + "/fleet-a/groups", R"({"id":"grp1","labels":{"k":"a'b"}})").status,
            400u);
}

TEST_F(admin_api_test, pagination_with_opaque_tokens) {
  provision_registry();
  for (const auto* id : {"dev-1", "dev-2", "dev-3", "dev-4", "dev-5"}) {
    ASSERT_EQ(create_device(id).status, 200u);
  }
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    auto a = call("GET",
                  R + "/fleet-a/devices?pageSize=2" + (token.empty() ? "" : "&pageToken=" + token));
    ASSERT_EQ(a.status, 200u) << a.body;
    const json page = a.j();
    for (const auto& d : page["devices"]) {
      seen.push_back(d["id"]);
    }
    token = page.value("nextPageToken", "");
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, (std::vector<std::string>{"dev-1", "dev-2", "dev-3", "dev-4", "dev-5"}));

  // A last page that is exactly full carries no token.
  auto first = call("GET", R + "/fleet-a/devices?pageSize=4");
  auto last = call("GET", R + "/fleet-a/devices?pageSize=1&pageToken=" +
                              first.j()["nextPageToken"].get<std::string>());
  EXPECT_EQ(last.j()["devices"].size(), 1u);
  EXPECT_FALSE(last.j().contains("nextPageToken"));
  EXPECT_FALSE(call("GET", R + "/fleet-a/devices?pageSize=5").j().contains("nextPageToken"));

  EXPECT_EQ(call("GET", R + "/fleet-a/devices?pageToken=!!").status, 400u);
  EXPECT_EQ(call("GET", R + "/fleet-a/devices?pageSize=5000").status, 400u);
  EXPECT_EQ(call("GET", R + "/fleet-a/devices?pageSize=-1").status, 400u);
  auto filtered =
      call("GET", R + "/fleet-a/devices?deviceIds=dev-2&deviceIds=dev-9&deviceIds=dev-4");
  ASSERT_EQ(filtered.j()["devices"].size(), 2u);
}

TEST_F(admin_api_test, field_masks) {
  provision_registry();
  ASSERT_EQ(create_device("dv1", R"(,"metadata":{"a":"1"},"logLevel":"INFO")").status, 200u);
  auto masked = call("GET", R + "/fleet-a/devices/dv1?fieldMask=blocked,log_level");
  ASSERT_EQ(masked.status, 200u) << masked.body;
  std::set<std::string> keys;
  const json masked_json = masked.j();
  for (const auto& [k, v] : masked_json.items()) {
    keys.insert(k);
  }
  EXPECT_EQ(keys, (std::set<std::string>{"id", "name", "numId", "blocked", "logLevel"}));
  EXPECT_EQ(call("GET", R + "/fleet-a/devices/dv1?fieldMask=secret").status, 400u);

  const std::string dev = R + "/fleet-a/devices/dv1";
  EXPECT_EQ(call("PATCH", dev, R"({"blocked":true})").status, 400u);                  // no mask
  EXPECT_EQ(call("PATCH", dev + "?updateMask=", R"({"blocked":true})").status, 400u); // empty
  EXPECT_EQ(call("PATCH", dev + "?updateMask=numId", R"({})").status, 400u);          // immutable
  EXPECT_EQ(call("PATCH", dev + "?updateMask=blocked", R"({"colour":1})").status, 400u);
  EXPECT_EQ(call("PATCH", dev + "?updateMask=blocked", R"({"id":"dv2"})").status, 400u);
  // A masked field absent from the body is cleared; unmasked fields are left alone.
  auto cleared = call("PATCH", dev + "?updateMask=metadata", R"({"logLevel":"DEBUG"})");
  ASSERT_EQ(cleared.status, 200u) << cleared.body;
  EXPECT_TRUE(cleared.j()["metadata"].empty());
  EXPECT_EQ(cleared.j()["logLevel"], "INFO");
  auto gw =
      call("PATCH", dev + "?updateMask=gateway_config.gateway_auth_method,logLevel",
           R"({"gatewayConfig":{"gatewayAuthMethod":"ASSOCIATION_ONLY"},"logLevel":"ERROR"})");
  ASSERT_EQ(gw.status, 200u) << gw.body;
  EXPECT_EQ(gw.j()["gatewayConfig"]["gatewayAuthMethod"], "ASSOCIATION_ONLY");
  EXPECT_EQ(gw.j()["logLevel"], "ERROR");

  // Registry PATCH.
  const std::string reg = R + "/fleet-a";
  EXPECT_EQ(call("PATCH", reg, R"({"logLevel":"INFO"})").status, 400u);
  EXPECT_EQ(call("PATCH", reg + "?updateMask=eventNotificationConfigs", R"({})").status, 400u);
  auto r = call("PATCH", reg + "?updateMask=httpConfig,logLevel",
                R"({"httpConfig":{"httpEnabledState":"HTTP_DISABLED"},"logLevel":"INFO"})");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.j()["httpConfig"]["httpEnabledState"], "HTTP_DISABLED");
  EXPECT_EQ(r.j()["mqttConfig"]["mqttEnabledState"], "MQTT_ENABLED");
  EXPECT_EQ(r.j()["logLevel"], "INFO");
  // Live sessions of the registry's devices are re-checked (HTTP is off now).
  ASSERT_EQ(channel_.registries_changed.size(), 1u);
  EXPECT_EQ(registry::to_name(channel_.registries_changed[0]),
            reg.substr(std::string("/api/v1/").size()));
}

TEST_F(admin_api_test, config_compare_and_set_conflict_is_409_aborted) {
  provision_registry();
  ASSERT_EQ(create_device("dv1").status, 200u);
  const std::string url = R + "/fleet-a/devices/dv1:modifyCloudToDeviceConfig";
  auto conflict = call("POST", url, R"({"versionToUpdate":"5","binaryData":"aGk="})");
  EXPECT_EQ(conflict.status, 409u);
  EXPECT_EQ(conflict.error_status(), "ABORTED");
  EXPECT_TRUE(channel_.configs.empty());
  EXPECT_EQ(call("POST", url, R"({"versionToUpdate":"1","binaryData":"aGk="})").status, 200u);
  EXPECT_EQ(call("POST", url, R"({"versionToUpdate":"1","binaryData":"aGk="})").status, 409u);
  EXPECT_EQ(call("POST", url, R"({"binaryData":""})").j()["version"], "3"); // 0: unconditional
}

TEST_F(admin_api_test, commands_need_a_subscribed_device) {
  provision_registry();
  ASSERT_EQ(create_device("dv1").status, 200u);
  const std::string url = R + "/fleet-a/devices/dv1:sendCommandToDevice";
  auto refused = call("POST", url, R"({"binaryData":"aGk=","subfolder":"reboot"})");
  EXPECT_EQ(refused.status, 400u);
  EXPECT_EQ(refused.error_status(), "FAILED_PRECONDITION");
  EXPECT_EQ(refused.j()["error"]["message"], "device is not connected/subscribed");
  channel_.deliver = true;
  EXPECT_EQ(call("POST", url, R"({"binaryData":"aGk=","subfolder":"reboot"})").status, 200u);
  ASSERT_EQ(channel_.commands.size(), 2u);
  EXPECT_EQ(channel_.commands[1].second, "reboot");
  EXPECT_EQ(call("POST", url, R"({"binaryData":"aGk=","subfolder":"a/#"})").status, 400u);
  EXPECT_EQ(
      call("POST", R + "/fleet-a/devices/nobody:sendCommandToDevice", R"({"binaryData":"aGk="})")
          .status,
      404u);
  EXPECT_EQ(channel_.commands.size(), 2u);

  std::vector<std::string> outcomes;
  for (const auto& r : audit_log()) {
    if (r.action == "device.send_command") {
      outcomes.push_back(r.outcome);
    }
  }
  EXPECT_EQ(outcomes, (std::vector<std::string>{"FAILED_PRECONDITION", "ok", "INVALID_ARGUMENT",
                                                "NOT_FOUND"}));

  // The null channel refuses every command.
  null_device_channel none;
  std::error_code got;
  none.send_command({}, "", {}, [&got](std::error_code ec) { got = ec; });
  EXPECT_TRUE(got);
}

TEST_F(admin_api_test, writes_are_audited_with_actor_target_and_outcome) {
  provision_registry();
  ASSERT_EQ(create_device("dv1").status, 200u);
  EXPECT_EQ(create_device("dv1").status, 409u);
  const std::string admin_id = parse_token(admin_)->id;
  auto records = call("GET", "/api/v1/audit?action=device.create").j()["records"];
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0]["actor"], admin_id);
  EXPECT_EQ(records[0]["target"],
            "projects/acme-iot/locations/us-central1/registries/fleet-a/devices/dv1");
  EXPECT_EQ(records[0]["outcome"], "ok");
  EXPECT_EQ(records[0]["sourceAddress"], "192.0.2.7");
  EXPECT_EQ(records[1]["outcome"], "ALREADY_EXISTS");
  const auto seq = records[0]["sequence"].get<std::string>();
  auto after =
      call("GET", "/api/v1/audit?action=device.create&afterSequence=" + seq).j()["records"];
  EXPECT_EQ(after.size(), 1u);
  auto by_target =
      call("GET", "/api/v1/audit?target=projects/acme-iot/locations/us-central1/registries/fleet-a")
          .j()["records"];
  EXPECT_EQ(by_target.size(), 3u); // registry.create and two device.create
  EXPECT_EQ(call("GET", "/api/v1/audit?pageSize=2").j()["records"].size(), 2u);
  // Reads are not audited.
  (void)call("GET", R);
  EXPECT_EQ(call("GET", "/api/v1/audit?action=registry.list").j()["records"].size(), 0u);
}

TEST_F(admin_api_test, busy_executor_answers_503) {
  executor_open_ = false;
  auto a = call("GET", "/api/v1/projects");
  EXPECT_EQ(a.status, 503u);
  EXPECT_EQ(a.error_status(), "UNAVAILABLE");
  // The document needs no store.
  EXPECT_EQ(call("GET", "/api/v1/openapi.json", {}, std::nullopt, true).status, 200u);
}

TEST_F(admin_api_test, openapi_document_matches_the_routes) {
  const auto doc = json::parse(admin_api::openapi_document());
  EXPECT_EQ(doc["openapi"].get<std::string>().substr(0, 2), "3.");
  std::set<std::pair<std::string, std::string>> documented;
  for (const auto& [path, item] : doc["paths"].items()) {
    for (const auto& [method, op] : item.items()) {
      std::string m = method;
      for (auto& ch : m) {
        ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      }
      documented.emplace(m, path);
    }
  }
  std::set<std::pair<std::string, std::string>> registered;
  for (const auto& r : admin_api::routes()) {
    EXPECT_TRUE(registered.emplace(r.method, r.pattern).second) << r.pattern;
  }
  EXPECT_EQ(documented, registered);
  auto served = call("GET", "/api/v1/openapi.json", {}, std::nullopt, true);
  EXPECT_EQ(served.status, 200u);
  EXPECT_EQ(served.body, admin_api::openapi_document());
}

TEST_F(admin_api_test, sign_certificate_issues_a_device_certificate) {
  provision_registry();
  ASSERT_EQ(create_device("cam-1").status, 200u);
  auto key = crypto::private_key::generate(crypto::key_type::ec_p256).value();
  auto csr = crypto::certificate_request::create(key, "whatever-the-device-says").value();
  const std::string url = R + "/fleet-a/devices/cam-1:signCertificate";
  auto a = call("POST", url, json{{"csr", csr.to_pem().value()}, {"validityDays", 30}}.dump());
  ASSERT_EQ(a.status, 200u) << a.body;
  auto cert = crypto::certificate::from_pem(a.j()["certificate"].get<std::string>()).value();
  EXPECT_EQ(cert.serial_hex(), a.j()["serial"]);
  EXPECT_EQ(cert.subject_public_key(), key.public_part());
  crypto::trust_store store;
  ASSERT_TRUE(store.add_anchor(ca_.cert()).has_value());
  auto id = store.verify_device(cert, {}, clk_.wall_now());
  ASSERT_TRUE(id.has_value()) << id.error().message();
  EXPECT_EQ(id->device_id, "cam-1");
  EXPECT_EQ(id->uri,
            "aegis:projects/acme-iot/locations/us-central1/registries/fleet-a/devices/cam-1");

  EXPECT_EQ(
      call(
          "POST", url,
          R"({"csr":"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"})")
          .status,
      400u);
  EXPECT_EQ(
      call("POST", url, json{{"csr", csr.to_pem().value()}, {"validityDays", 0}}.dump()).status,
      400u);
  EXPECT_EQ(call("POST", R + "/fleet-a/devices/ghost:signCertificate",
                 json{{"csr", csr.to_pem().value()}}.dump())
                .status,
            404u);

  auto ca_info = call("GET", "/api/v1/ca");
  ASSERT_EQ(ca_info.status, 200u);
  EXPECT_EQ(ca_info.j()["fingerprintSha256"], ca_.cert().fingerprint_sha256());
}

class ca_registration_test : public admin_api_test {
protected:
  // A certificate with CN = `cn` signed by `issuer`.
  std::string signed_by(const crypto::certificate_authority& issuer, const std::string& cn) {
    auto key = crypto::private_key::generate(crypto::key_type::ec_p256).value();
    auto csr = crypto::certificate_request::create(key, cn).value();
    crypto::device_cert_request req;
    req.device_id = cn;
    req.validity = std::chrono::hours(24);
    return issuer.sign_device_csr(csr, req, clk_.wall_now()).value().to_pem().value();
  }
  std::string code() {
    auto a = call("POST", "/api/v1/ca:registrationCode");
    EXPECT_EQ(a.status, 200u) << a.body;
    return a.j()["registrationCode"].get<std::string>();
  }
};

TEST_F(ca_registration_test, proof_of_possession_is_required) {
  provision_registry();
  auto operator_ca = make_ca("operator CA", clk_.wall_now());
  auto other_ca = make_ca("someone else", clk_.wall_now());
  const std::string ca_pem = operator_ca.cert().to_pem().value();
  const std::string url = R + "/fleet-a:registerCaCertificate";
  const auto body = [&](const std::string& verification) {
    return json{{"certificate", ca_pem}, {"verificationCertificate", verification}}.dump();
  };

  const std::string c1 = code();
  // Signed by another key: refused.
  auto wrong_key = call("POST", url, body(signed_by(other_ca, c1)));
  EXPECT_EQ(wrong_key.status, 400u) << wrong_key.body;
  // CN not a live code: refused.
  EXPECT_EQ(call("POST", url, body(signed_by(operator_ca, "0123456789abcdef"))).status, 400u);
  // A provisioner cannot register CAs.
  EXPECT_EQ(call("POST", url, body(signed_by(operator_ca, c1)), make_token("provisioner")).status,
            403u);
  auto ok = call("POST", url, body(signed_by(operator_ca, c1)));
  ASSERT_EQ(ok.status, 200u) << ok.body;
  ASSERT_EQ(ok.j()["credentials"].size(), 1u);
  EXPECT_EQ(ok.j()["credentials"][0]["publicKeyCertificate"]["certificate"], ca_pem);
  // Codes are single use.
  EXPECT_EQ(call("POST", url, body(signed_by(operator_ca, c1))).status, 400u);
  // ... and live one hour.
  const std::string c2 = code();
  clk_.advance(std::chrono::minutes(61));
  EXPECT_EQ(call("POST", url, body(signed_by(operator_ca, c2))).status, 400u);

  // PATCH may remove the CA but never add one.
  auto add = call("PATCH", R + "/fleet-a?updateMask=credentials",
                  json{{"credentials",
                        json::array({json{{"publicKeyCertificate",
                                           {{"certificate", other_ca.cert().to_pem().value()}}}}})}}
                      .dump());
  EXPECT_EQ(add.status, 400u);
  EXPECT_EQ(add.error_status(), "FAILED_PRECONDITION");
  auto removed = call("PATCH", R + "/fleet-a?updateMask=credentials", R"({"credentials":[]})");
  ASSERT_EQ(removed.status, 200u) << removed.body;
  EXPECT_TRUE(removed.j()["credentials"].empty());
}

TEST_F(admin_api_test, revocation_and_crl) {
  auto revoke = call("POST", "/api/v1/certificates:revoke",
                     R"({"serial":"00A1B2","reason":"keyCompromise"})");
  ASSERT_EQ(revoke.status, 200u) << revoke.body;
  EXPECT_EQ(channel_.revoked, std::vector<std::string>{"a1b2"});
  EXPECT_EQ(call("POST", "/api/v1/certificates:revoke", R"({"serial":"xyz"})").status, 400u);
  EXPECT_EQ(
      call("POST", "/api/v1/certificates:revoke", R"({"serial":"01","reason":"bored"})").status,
      400u);
  EXPECT_EQ(
      call("POST", "/api/v1/certificates:revoke", R"({"serial":"01"})", make_token("provisioner"))
          .status,
      403u);
  auto listed = call("GET", "/api/v1/certificates/revoked").j()["revokedCertificates"];
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["serial"], "a1b2");
  EXPECT_EQ(listed[0]["reason"], "keyCompromise");

  auto crl = call("GET", "/api/v1/crl", {}, std::nullopt, true); // no token needed
  ASSERT_EQ(crl.status, 200u) << crl.body;
  EXPECT_EQ(crl.content_type, "application/pkix-crl");
  std::string pem = "-----BEGIN X509 CRL-----\n";
  const std::string b64 = base64_encode(as_bytes(crl.body));
  for (std::size_t i = 0; i < b64.size(); i += 64) {
    pem += b64.substr(i, 64) + "\n";
  }
  pem += "-----END X509 CRL-----\n";
  auto parsed = crypto::crl::from_pem(pem);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message();
  EXPECT_TRUE(parsed->lists("a1b2"));
  EXPECT_FALSE(parsed->lists("a1b3"));
  EXPECT_EQ(parsed->issuer_cn(), "Aegis test CA");

  // The same list gives the same signed CRL (kept, not re-signed per request); a new revocation
  // is in the next one.
  EXPECT_EQ(call("GET", "/api/v1/crl", {}, std::nullopt, true).body, crl.body);
  ASSERT_EQ(call("POST", "/api/v1/certificates:revoke", R"({"serial":"a1b3"})").status, 200u);
  auto again = call("GET", "/api/v1/crl", {}, std::nullopt, true);
  EXPECT_NE(again.body, crl.body);
  std::string pem2 = "-----BEGIN X509 CRL-----\n";
  const std::string b64_2 = base64_encode(as_bytes(again.body));
  for (std::size_t i = 0; i < b64_2.size(); i += 64) {
    pem2 += b64_2.substr(i, 64) + "\n";
  }
  pem2 += "-----END X509 CRL-----\n";
  auto parsed2 = crypto::crl::from_pem(pem2);
  ASSERT_TRUE(parsed2.has_value());
  EXPECT_TRUE(parsed2->lists("a1b3"));
}

TEST(admin_tokens, format_and_parsing) {
  auto t = generate_token();
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->text.size(), 4u + 12u + 1u + 43u);
  EXPECT_TRUE(t->text.starts_with("aeg_" + t->id + "_"));
  auto parts = parse_token(t->text);
  ASSERT_TRUE(parts.has_value());
  EXPECT_EQ(parts->id, t->id);
  EXPECT_EQ(parts->secret.size(), 32u);
  EXPECT_FALSE(parse_token("aeg_" + t->id + "_short"));
  EXPECT_FALSE(parse_token("AEG_" + t->text.substr(4)));
  EXPECT_FALSE(parse_token("aeg_AAAAAAAAAAAA_" + t->text.substr(17)));
  EXPECT_FALSE(parse_token(t->text + "x"));
}

TEST_F(admin_api_test, metrics_need_a_token_and_are_off_without_a_source) {
  EXPECT_EQ(call("GET", "/metrics", {}, std::nullopt, true).status, 401u);
  auto a = call("GET", "/metrics", {}, make_token("viewer"));
  EXPECT_EQ(a.status, 404u) << a.body;
}

TEST_F(admin_api_test, metrics_are_served_in_prometheus_text_to_a_viewer) {
  int calls = 0;
  admin_api with_metrics{{svc_, ops_, ca_, clk_,
                          [](std::function<void()> f) {
                            f();
                            return true;
                          },
                          channel_,
                          [&calls] {
                            ++calls;
                            metrics_text m;
                            m.counter("aegis_test_total", "A test counter.", 7);
                            return m.text();
                          }}};
  http::router r;
  with_metrics.add_routes(r);
  const auto viewer = make_token("viewer");
  const auto get = [&r](std::optional<std::string> token) {
    answer a;
    r.dispatch(make_request("GET", "/metrics", {}, std::move(token)),
               http::responder::to_function([&a](http::response res) {
                 a.status = res.status;
                 a.content_type = res.content_type;
                 a.body = std::move(res.body);
               }));
    return a;
  };
  EXPECT_EQ(get(std::nullopt).status, 401u);
  EXPECT_EQ(calls, 0); // nothing is computed for an unauthenticated caller
  const auto a = get(viewer);
  ASSERT_EQ(a.status, 200u) << a.body;
  EXPECT_EQ(a.content_type, metrics_text::content_type);
  EXPECT_EQ(a.body, "# HELP aegis_test_total A test counter.\n"
                    "# TYPE aegis_test_total counter\n"
                    "aegis_test_total 7\n");
  EXPECT_EQ(calls, 1);
}

} // namespace
} // namespace aegis::admin
