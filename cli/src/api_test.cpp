#include "aegis/ctl/api.hpp"

#include <gtest/gtest.h>

namespace aegis::ctl::api {
namespace {

using nlohmann::json;

const location_ref at{"p1", "global"};
const std::string R = "/api/v1/projects/p1/locations/global/registries";

TEST(Api, EncodeKeepsUnreservedOnly) {
  EXPECT_EQ(encode("abc-._~XYZ09"), "abc-._~XYZ09");
  EXPECT_EQ(encode("a/b?c&d e"), "a%2Fb%3Fc%26d%20e");
  EXPECT_EQ(encode(".."), "..");
  EXPECT_EQ(encode("%"), "%25");
}

TEST(Api, Projects) {
  EXPECT_EQ(create_project("p1"), (request{"POST", "/api/v1/projects", {{"id", "p1"}}}));
  EXPECT_EQ(list_projects(), (request{"GET", "/api/v1/projects", nullptr}));
  EXPECT_EQ(list_projects(page{10, "abc=="}).target,
            "/api/v1/projects?pageSize=10&pageToken=abc%3D%3D");
  EXPECT_EQ(get_project("p/1").target, "/api/v1/projects/p%2F1");
}

TEST(Api, Registries) {
  EXPECT_EQ(create_registry(at, "r1", {}), (request{"POST", R, {{"id", "r1"}}}));
  registry_options o;
  o.mqtt_enabled = false;
  o.http_enabled = false;
  o.log_level = "DEBUG";
  const auto req = create_registry(at, "r1", o);
  EXPECT_EQ(req.body, json::parse(R"({"id":"r1","mqttConfig":{"mqttEnabledState":"MQTT_DISABLED"},
      "httpConfig":{"httpEnabledState":"HTTP_DISABLED"},"logLevel":"DEBUG"})"));
  EXPECT_EQ(list_registries(at), (request{"GET", R, nullptr}));
  EXPECT_EQ(get_registry(at, "r1"), (request{"GET", R + "/r1", nullptr}));
  EXPECT_EQ(delete_registry(at, "r1"), (request{"DELETE", R + "/r1", nullptr}));
}

TEST(Api, Devices) {
  device_options o;
  o.credentials.push_back(public_key_credential("ES256_PEM", "PEM"));
  o.gateway = true;
  o.metadata["site"] = "lab";
  const auto req = create_device(at, "r1", "d1", o);
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.target, R + "/r1/devices");
  EXPECT_EQ(req.body, json::parse(R"({"id":"d1",
      "credentials":[{"publicKey":{"format":"ES256_PEM","key":"PEM"}}],
      "gatewayConfig":{"gatewayType":"GATEWAY","gatewayAuthMethod":"ASSOCIATION_ONLY"},
      "metadata":{"site":"lab"}})"));
  EXPECT_EQ(create_device(at, "r1", "d1", {}).body, json::parse(R"({"id":"d1"})"));
  EXPECT_EQ(list_devices(at, "r1", {}, "gw").target, R + "/r1/devices?associationsGatewayId=gw");
  EXPECT_EQ(get_device(at, "r1", "d1"), (request{"GET", R + "/r1/devices/d1", nullptr}));
  EXPECT_EQ(delete_device(at, "r1", "d1"), (request{"DELETE", R + "/r1/devices/d1", nullptr}));
  EXPECT_EQ(set_blocked(at, "r1", "d1", true),
            (request{"PATCH", R + "/r1/devices/d1?updateMask=blocked", {{"blocked", true}}}));
  EXPECT_EQ(set_credentials(at, "r1", "d1", json::array()),
            (request{"PATCH",
                     R + "/r1/devices/d1?updateMask=credentials",
                     {{"credentials", json::array()}}}));
  EXPECT_EQ(public_key_credential("RSA_PEM", "K", "2030-01-01T00:00:00Z"),
            json::parse(R"({"publicKey":{"format":"RSA_PEM","key":"K"},
                            "expirationTime":"2030-01-01T00:00:00Z"})"));
}

TEST(Api, ConfigStateCommandBinding) {
  const std::string data = "hi";
  EXPECT_EQ(
      modify_config(at, "r1", "d1", as_bytes(data), std::nullopt),
      (request{"POST", R + "/r1/devices/d1:modifyCloudToDeviceConfig", {{"binaryData", "aGk="}}}));
  EXPECT_EQ(modify_config(at, "r1", "d1", as_bytes(data), 3).body,
            json::parse(R"({"binaryData":"aGk=","versionToUpdate":"3"})"));
  EXPECT_EQ(config_versions(at, "r1", "d1", 5).target,
            R + "/r1/devices/d1/configVersions?numVersions=5");
  EXPECT_EQ(config_versions(at, "r1", "d1", std::nullopt).target,
            R + "/r1/devices/d1/configVersions");
  EXPECT_EQ(device_states(at, "r1", "d1", 2).target, R + "/r1/devices/d1/states?numStates=2");
  EXPECT_EQ(send_command(at, "r1", "d1", as_bytes(data), "reboot"),
            (request{"POST",
                     R + "/r1/devices/d1:sendCommandToDevice",
                     {{"binaryData", "aGk="}, {"subfolder", "reboot"}}}));
  EXPECT_EQ(
      bind_to_gateway(at, "r1", "gw", "d1"),
      (request{"POST", R + "/r1:bindDeviceToGateway", {{"gatewayId", "gw"}, {"deviceId", "d1"}}}));
  EXPECT_EQ(unbind_from_gateway(at, "r1", "gw", "d1").target, R + "/r1:unbindDeviceFromGateway");
  EXPECT_EQ(sign_certificate(at, "r1", "d1", "CSR", 30),
            (request{"POST",
                     R + "/r1/devices/d1:signCertificate",
                     {{"csr", "CSR"}, {"validityDays", 30}}}));
}

TEST(Api, Groups) {
  EXPECT_EQ(create_group(at, "r1", "g1", {{"k", "v"}}),
            (request{"POST", R + "/r1/groups", {{"id", "g1"}, {"labels", {{"k", "v"}}}}}));
  EXPECT_EQ(list_groups(at, "r1").target, R + "/r1/groups");
  EXPECT_EQ(get_group(at, "r1", "g1").target, R + "/r1/groups/g1");
  EXPECT_EQ(delete_group(at, "r1", "g1").method, "DELETE");
  EXPECT_EQ(add_to_group(at, "r1", "g1", {"a", "b"}),
            (request{"POST", R + "/r1/groups/g1:addDevices", {{"deviceIds", {"a", "b"}}}}));
  EXPECT_EQ(remove_from_group(at, "r1", "g1", {"a"}).target, R + "/r1/groups/g1:removeDevices");
  EXPECT_EQ(group_devices(at, "r1", "g1").target, R + "/r1/groups/g1/devices");
}

TEST(Api, CaCertificatesTokensAudit) {
  EXPECT_EQ(get_ca(), (request{"GET", "/api/v1/ca", nullptr}));
  EXPECT_EQ(ca_registration_code(),
            (request{"POST", "/api/v1/ca:registrationCode", json::object()}));
  EXPECT_EQ(register_ca(at, "r1", "C", "V"),
            (request{"POST",
                     R + "/r1:registerCaCertificate",
                     {{"certificate", "C"}, {"verificationCertificate", "V"}}}));
  EXPECT_EQ(revoke_certificate("0a1b", "keyCompromise"),
            (request{"POST",
                     "/api/v1/certificates:revoke",
                     {{"serial", "0a1b"}, {"reason", "keyCompromise"}}}));
  EXPECT_EQ(revoked_certificates().target, "/api/v1/certificates/revoked");
  EXPECT_EQ(create_token("viewer", "ci", 3600),
            (request{"POST",
                     "/api/v1/tokens",
                     {{"scope", "viewer"}, {"description", "ci"}, {"ttlSeconds", "3600"}}}));
  EXPECT_EQ(create_token("admin", "", std::nullopt).body, json::parse(R"({"scope":"admin"})"));
  EXPECT_EQ(list_tokens(), (request{"GET", "/api/v1/tokens", nullptr}));
  EXPECT_EQ(revoke_token("abc"), (request{"DELETE", "/api/v1/tokens/abc", nullptr}));
  audit_query q;
  q.after_sequence = 7;
  q.page_size = 20;
  q.actor = "x y";
  EXPECT_EQ(audit(q).target, "/api/v1/audit?afterSequence=7&pageSize=20&actor=x%20y");
  EXPECT_EQ(audit({}).target, "/api/v1/audit");
}

} // namespace
} // namespace aegis::ctl::api
