#include "aegis/registry/testing/behaviour_suite.hpp"

#include "aegis/registry/errors.hpp"
#include "aegis/registry/limits.hpp"
#include "aegis/registry/testing/credentials.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace aegis::registry::testing {

void PrintTo(const repository_factory& f, std::ostream* os) {
  *os << f.name;
}

std::string repository_factory_name(const ::testing::TestParamInfo<repository_factory>& info) {
  return info.param.name;
}

void RegistryBehaviour::SetUp() {
  repo_ = GetParam().make();
  ASSERT_NE(repo_, nullptr);
  service_ = std::make_unique<registry_service>(*repo_, clock_, [this] {
    if (!forced_num_ids_.empty()) {
      const auto v = forced_num_ids_.front();
      forced_num_ids_.pop_front();
      return v;
    }
    return next_num_id_++;
  });
  ASSERT_TRUE(svc().create_project(project_id{"acme-iot"}));
  ASSERT_TRUE(svc().create_registry(registry_spec{reg_key()}));
}

void RegistryBehaviour::TearDown() {
  service_.reset();
  repo_.reset();
}

registry_key RegistryBehaviour::reg_key() const {
  return {project_id{"acme-iot"}, location_id{"us-central1"}, registry_id{"fleet-a"}};
}

device_key RegistryBehaviour::dev_key(const std::string& id) const {
  return {reg_key(), device_id{id}};
}

group_key RegistryBehaviour::grp_key(const std::string& id) const {
  return {reg_key(), group_id{id}};
}

device RegistryBehaviour::make_device(const std::string& id, device_spec spec) {
  spec.key = dev_key(id);
  auto d = svc().create_device(spec);
  EXPECT_TRUE(d) << id << ": " << d.error().message();
  return d ? *d : device{};
}

namespace {

using namespace std::chrono_literals;

bytes b(std::string_view s) {
  return to_bytes(s);
}

} // namespace

// --- projects and registries ---

TEST_P(RegistryBehaviour, ProjectLifecycle) {
  auto p = svc().create_project(project_id{"other-project"});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->create_time, clock_.wall_now());
  EXPECT_EQ(svc().create_project(project_id{"other-project"}).error(),
            registry_errc::project_exists);
  EXPECT_EQ(http_status(registry_errc::project_exists), 409);

  auto all = svc().list_projects();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2U);
  EXPECT_EQ((*all)[0].id.value(), "acme-iot");
  EXPECT_EQ((*all)[1].id.value(), "other-project");

  EXPECT_EQ(svc().delete_project(project_id{"acme-iot"}).error(), registry_errc::project_not_empty);
  EXPECT_TRUE(svc().delete_project(project_id{"other-project"}));
  EXPECT_EQ(svc().get_project(project_id{"other-project"}).error(),
            registry_errc::project_not_found);
  EXPECT_EQ(svc().delete_project(project_id{"other-project"}).error(),
            registry_errc::project_not_found);
}

TEST_P(RegistryBehaviour, ProjectAndLocationIdRules) {
  EXPECT_EQ(svc().create_project(project_id{"short"}).error(), registry_errc::id_too_short);
  EXPECT_EQ(svc().create_project(project_id{std::string(31, 'a')}).error(),
            registry_errc::id_too_long);
  EXPECT_EQ(svc().create_project(project_id{"Upper-case"}).error(),
            registry_errc::id_bad_first_character);
  EXPECT_EQ(svc().create_project(project_id{"acme_iot"}).error(), registry_errc::id_bad_character);
  EXPECT_EQ(svc().create_project(project_id{"acme-iot-"}).error(),
            registry_errc::id_bad_last_character);

  registry_spec spec{{project_id{"acme-iot"}, location_id{"../us"}, registry_id{"fleet-b"}}};
  EXPECT_EQ(svc().create_registry(spec).error(), registry_errc::id_bad_first_character);
  spec.key.location = location_id{"us/central1"};
  EXPECT_EQ(svc().create_registry(spec).error(), registry_errc::id_bad_character);
  spec.key.location = location_id{"europe-west1"};
  EXPECT_TRUE(svc().create_registry(spec));
}

TEST_P(RegistryBehaviour, RegistryLifecycle) {
  registry_spec spec{{project_id{"acme-iot"}, location_id{"us-central1"}, registry_id{"fleet-b"}}};
  spec.http_enabled = false;
  spec.log_level = device_log_level::error;
  auto created = svc().create_registry(spec);
  ASSERT_TRUE(created);
  EXPECT_TRUE(created->mqtt_enabled);
  EXPECT_FALSE(created->http_enabled);

  auto got = svc().get_registry(spec.key);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, *created);

  EXPECT_EQ(svc().create_registry(spec).error(), registry_errc::registry_exists);
  registry_spec orphan{
      {project_id{"no-such-project"}, location_id{"us-central1"}, registry_id{"fleet-a"}}};
  EXPECT_EQ(svc().create_registry(orphan).error(), registry_errc::project_not_found);

  registry_update update;
  update.mqtt_enabled = false;
  update.log_level = device_log_level::debug;
  auto updated = svc().update_registry(spec.key, update);
  ASSERT_TRUE(updated);
  EXPECT_FALSE(updated->mqtt_enabled);
  EXPECT_FALSE(updated->http_enabled); // not in the update: unchanged
  EXPECT_EQ(updated->log_level, device_log_level::debug);
  EXPECT_EQ(svc().get_registry(spec.key)->log_level, device_log_level::debug);

  auto listed = svc().list_registries(project_id{"acme-iot"}, location_id{"us-central1"});
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 2U);
  EXPECT_EQ((*listed)[0].key.registry.value(), "fleet-a");
  EXPECT_EQ((*listed)[1].key.registry.value(), "fleet-b");
  EXPECT_TRUE(svc().list_registries(project_id{"acme-iot"}, location_id{"asia-east1"})->empty());

  make_device("sensor-001");
  EXPECT_EQ(svc().delete_registry(reg_key()).error(), registry_errc::registry_not_empty);
  EXPECT_TRUE(svc().delete_registry(spec.key));
  EXPECT_EQ(svc().get_registry(spec.key).error(), registry_errc::registry_not_found);
}

TEST_P(RegistryBehaviour, BadEnumValuesAreRefused) {
  registry_spec spec{{project_id{"acme-iot"}, location_id{"us-central1"}, registry_id{"fleet-b"}}};
  spec.log_level = static_cast<device_log_level>(15);
  EXPECT_EQ(svc().create_registry(spec).error(), registry_errc::bad_enum_value);
  device_spec d;
  d.key = dev_key("sensor-001");
  d.gateway.type = static_cast<gateway_type>(7);
  EXPECT_EQ(svc().create_device(d).error(), registry_errc::bad_enum_value);
}

// --- devices and ids ---

TEST_P(RegistryBehaviour, CreateDeviceAssignsNumIdAndFirstConfig) {
  device_spec spec;
  spec.metadata = {{"site", "plant-4"}};
  spec.initial_config = b("initial");
  auto d = make_device("sensor-001", spec);
  EXPECT_EQ(d.num_id.value(), 2'820'826'361'193'805U);
  EXPECT_EQ(d.create_time, clock_.wall_now());

  auto got = svc().get_device(dev_key("sensor-001"));
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, d);
  auto by_num = svc().get_device_by_num_id(reg_key(), d.num_id);
  ASSERT_TRUE(by_num);
  EXPECT_EQ(by_num->key, d.key);

  auto config = svc().get_config(d.key);
  ASSERT_TRUE(config);
  EXPECT_EQ(config->version, 1);
  EXPECT_EQ(config->data, b("initial"));
  EXPECT_FALSE(config->device_ack_time);

  auto plain = make_device("sensor-002");
  auto empty = svc().get_config(plain.key);
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->version, 1);
  EXPECT_TRUE(empty->data.empty());
}

TEST_P(RegistryBehaviour, DuplicateDeviceIdIsConflict) {
  make_device("sensor-001");
  device_spec spec;
  spec.key = dev_key("sensor-001");
  auto again = svc().create_device(spec);
  EXPECT_EQ(again.error(), registry_errc::device_exists);
  EXPECT_EQ(http_status(registry_errc::device_exists), 409);
  EXPECT_EQ(rpc_code_of(registry_errc::device_exists), rpc_code::already_exists);

  spec.key.registry.registry = registry_id{"no-such-registry"};
  EXPECT_EQ(svc().create_device(spec).error(), registry_errc::registry_not_found);
}

TEST_P(RegistryBehaviour, InvalidDeviceIdsAreRefusedPrecisely) {
  struct bad {
    std::string id;
    registry_errc why;
  };
  const std::vector<bad> cases{
      {"", registry_errc::id_too_short},
      {"ab", registry_errc::id_too_short},
      {std::string(256, 'a'), registry_errc::id_too_long},
      {"1sensor", registry_errc::id_bad_first_character},
      {"-sensor", registry_errc::id_bad_first_character},
      {"../../etc/passwd", registry_errc::id_bad_first_character},
      {"sensor/../../x", registry_errc::id_bad_character},
      {"sensor\\..\\x", registry_errc::id_bad_character},
      {"sensor'; DROP TABLE devices;--", registry_errc::id_bad_character},
      {"sensor\"or\"1\"=\"1", registry_errc::id_bad_character},
      {"sensor;DELETE", registry_errc::id_bad_character},
      {"sensor 1", registry_errc::id_bad_character},
      {std::string("sensor\0x", 8), registry_errc::id_bad_character},
      {"sens\xc3\xb6r", registry_errc::id_bad_character},
      {"goog-sensor", registry_errc::id_reserved_prefix},
  };
  for (const auto& c : cases) {
    device_spec spec;
    spec.key = dev_key(c.id);
    EXPECT_EQ(svc().create_device(spec).error(), c.why) << "id: " << c.id;
    EXPECT_EQ(svc().get_device(spec.key).error(), c.why) << "id: " << c.id;
    EXPECT_EQ(http_status(c.why), 400);
  }
  EXPECT_TRUE(svc().list_devices(reg_key())->empty());
  // The longest and the shortest valid ids, every allowed character, and a "Goog" prefix (only
  // the lower-case prefix is reserved).
  make_device(std::string(255, 'a'));
  make_device("abc");
  make_device("Sensor-9._+~%Z");
  make_device("Google-sensor");
  EXPECT_EQ(svc().list_devices(reg_key())->size(), 4U);
}

TEST_P(RegistryBehaviour, SqlMetacharactersAreStoredVerbatim) {
  // '%' and '_' are LIKE wildcards: a store that matched with LIKE would confuse these two.
  make_device("dev%_1");
  make_device("devAB1");
  device_spec spec;
  const std::string evil = "x'); DROP TABLE devices; -- \" ` \\ %_ \n\t";
  spec.metadata = {{"note", evil}, {"a%b_c", "100%"}};
  make_device("dev%_2", spec);

  auto got = svc().get_device(dev_key("dev%_1"));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->key.device.value(), "dev%_1");
  auto with_meta = svc().get_device(dev_key("dev%_2"));
  ASSERT_TRUE(with_meta);
  EXPECT_EQ(with_meta->metadata.at("note"), evil);
  EXPECT_EQ(with_meta->metadata.at("a%b_c"), "100%");
  EXPECT_EQ(svc().get_device(dev_key("dev__1")).error(), registry_errc::device_not_found);
  EXPECT_EQ(svc().list_devices(reg_key())->size(), 3U);
}

TEST_P(RegistryBehaviour, ListDevicesPagesById) {
  for (const auto* id : {"dev-c", "dev-a", "dev-e", "dev-b", "dev-d"}) {
    make_device(id);
  }
  auto first = svc().list_devices(reg_key(), {2, ""});
  ASSERT_TRUE(first);
  ASSERT_EQ(first->size(), 2U);
  EXPECT_EQ((*first)[0].key.device.value(), "dev-a");
  EXPECT_EQ((*first)[1].key.device.value(), "dev-b");
  auto second = svc().list_devices(reg_key(), {2, "dev-b"});
  ASSERT_TRUE(second);
  ASSERT_EQ(second->size(), 2U);
  EXPECT_EQ((*second)[0].key.device.value(), "dev-c");
  auto last = svc().list_devices(reg_key(), {2, "dev-d"});
  ASSERT_EQ(last->size(), 1U);
  EXPECT_EQ((*last)[0].key.device.value(), "dev-e");
  EXPECT_EQ(svc().list_devices(reg_key(), {501, ""}).error(), registry_errc::bad_page_size);
}

TEST_P(RegistryBehaviour, NumIdCollisionDrawsAgain) {
  forced_num_ids_ = {77, 77, 78};
  auto a = make_device("sensor-001");
  auto c = make_device("sensor-002");
  EXPECT_EQ(a.num_id.value(), 77U);
  EXPECT_EQ(c.num_id.value(), 78U);
  EXPECT_EQ(svc().get_device_by_num_id(reg_key(), device_num_id{78})->key.device.value(),
            "sensor-002");
  EXPECT_EQ(svc().get_device_by_num_id(reg_key(), device_num_id{79}).error(),
            registry_errc::device_not_found);
}

TEST_P(RegistryBehaviour, UpdateDeviceChangesOnlyGivenFields) {
  device_spec spec;
  spec.metadata = {{"site", "plant-4"}};
  spec.credentials = {es256_credential()};
  auto d = make_device("sensor-001", spec);
  device_update update;
  update.blocked = true;
  update.log_level = device_log_level::info;
  auto updated = svc().update_device(d.key, update);
  ASSERT_TRUE(updated);
  EXPECT_TRUE(updated->blocked);
  EXPECT_EQ(updated->metadata, spec.metadata);
  EXPECT_EQ(updated->credentials, spec.credentials);
  auto got = svc().get_device(d.key);
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->blocked);
  EXPECT_EQ(got->log_level, device_log_level::info);
  EXPECT_EQ(got->num_id, d.num_id);
  EXPECT_EQ(svc().update_device(dev_key("missing"), update).error(),
            registry_errc::device_not_found);
}

// --- credentials ---

TEST_P(RegistryBehaviour, ThreeCredentialsAcceptedFourthRefused) {
  device_spec spec;
  spec.credentials = {es256_credential(0), rsa_credential(), ed25519_credential()};
  auto d = make_device("sensor-001", spec);
  EXPECT_EQ(d.credentials.size(), 3U);

  EXPECT_EQ(svc().add_credential(d.key, es256_credential(1)).error(),
            registry_errc::too_many_credentials);
  device_update update;
  update.credentials = {es256_credential(0), es256_credential(1), es256_credential(2),
                        es256_credential(3)};
  EXPECT_EQ(svc().update_device(d.key, update).error(), registry_errc::too_many_credentials);
  device_spec four;
  four.key = dev_key("sensor-002");
  four.credentials = *update.credentials;
  EXPECT_EQ(svc().create_device(four).error(), registry_errc::too_many_credentials);
  EXPECT_EQ(svc().get_device(four.key).error(), registry_errc::device_not_found);
  EXPECT_EQ(svc().get_device(d.key)->credentials.size(), 3U);

  auto two = make_device("sensor-003");
  ASSERT_TRUE(svc().add_credential(two.key, es256_credential(1)));
  auto after = svc().add_credential(two.key, es256_credential(2));
  ASSERT_TRUE(after);
  EXPECT_EQ(after->credentials.size(), 2U);
}

TEST_P(RegistryBehaviour, CredentialKeyTypeMustMatchFormat) {
  struct mismatch {
    credential_format format;
    std::string pem;
  };
  const std::vector<mismatch> cases{
      {credential_format::es256_pem, public_pem(rsa_key())},
      {credential_format::es256_pem, public_pem(ed25519_key())},
      {credential_format::rsa_pem, public_pem(es256_key())},
      {credential_format::ed25519_pem, public_pem(es256_key())},
  };
  for (const auto& c : cases) {
    device_spec spec;
    spec.key = dev_key("sensor-001");
    spec.credentials = {{c.format, c.pem, std::nullopt}};
    EXPECT_EQ(svc().create_device(spec).error(), registry_errc::key_format_mismatch)
        << to_string(c.format);
  }
  auto ca = make_ca("Test CA", clock_.wall_now());
  device_spec spec;
  spec.key = dev_key("sensor-001");
  spec.credentials = {{credential_format::rsa_x509_pem,
                       issue_certificate(ca, es256_key(), "sensor-001", clock_.wall_now()),
                       std::nullopt}};
  EXPECT_EQ(svc().create_device(spec).error(), registry_errc::key_format_mismatch);
  EXPECT_EQ(svc().get_device(spec.key).error(), registry_errc::device_not_found);
}

TEST_P(RegistryBehaviour, WeakUnsupportedAndMalformedKeysAreRefused) {
  auto ca = make_ca("Test CA", clock_.wall_now());
  const auto cert = issue_certificate(ca, es256_key(), "sensor-001", clock_.wall_now());
  struct bad {
    credential c;
    registry_errc why;
  };
  const std::vector<bad> cases{
      {{credential_format::rsa_pem, std::string(rsa1024_public_pem), {}},
       registry_errc::rsa_key_too_small},
      {{credential_format::es256_pem, std::string(p384_public_pem), {}},
       registry_errc::unsupported_key_type},
      {{credential_format::es256_pem, "-----BEGIN PUBLIC KEY-----\nnot base64\n", {}},
       registry_errc::bad_public_key},
      {{credential_format::es256_pem, cert, {}}, registry_errc::bad_public_key},
      {{credential_format::es256_x509_pem, public_pem(es256_key()), {}},
       registry_errc::bad_certificate},
      {{credential_format::unspecified, public_pem(es256_key()), {}},
       registry_errc::credential_format_unspecified},
      {{static_cast<credential_format>(42), public_pem(es256_key()), {}},
       registry_errc::credential_format_unspecified},
      {{credential_format::es256_pem, std::string(limits::credential_pem_bytes + 1, 'A'), {}},
       registry_errc::credential_too_large},
  };
  for (const auto& c : cases) {
    device_spec spec;
    spec.key = dev_key("sensor-001");
    spec.credentials = {c.c};
    auto r = svc().create_device(spec);
    EXPECT_EQ(r.error(), c.why) << to_string(c.c.format) << ": " << r.error().message();
    EXPECT_EQ(http_status(c.why), 400);
  }
  // An X.509 certificate with an RSA-1024 key is refused for its key, like the bare key.
  device_spec weak;
  weak.key = dev_key("sensor-001");
  weak.credentials = {
      {credential_format::rsa_x509_pem, std::string(rsa1024_certificate_pem), std::nullopt}};
  EXPECT_EQ(svc().create_device(weak).error(), registry_errc::rsa_key_too_small);
  EXPECT_TRUE(svc().list_devices(reg_key())->empty());
}

TEST_P(RegistryBehaviour, X509CredentialsAreAccepted) {
  auto ca = make_ca("Test CA", clock_.wall_now());
  device_spec spec;
  spec.credentials = {
      {credential_format::es256_x509_pem,
       issue_certificate(ca, es256_key(), "sensor-001", clock_.wall_now()), std::nullopt},
      {credential_format::rsa_x509_pem,
       issue_certificate(ca, rsa_key(), "sensor-001", clock_.wall_now()), std::nullopt},
  };
  auto d = make_device("sensor-001", spec);
  EXPECT_EQ(d.credentials, spec.credentials);
}

TEST_P(RegistryBehaviour, ExpiredCredentialsAreRefused) {
  const auto now = clock_.wall_now();
  device_spec spec;
  spec.key = dev_key("sensor-001");
  spec.credentials = {{credential_format::es256_pem, public_pem(es256_key()), now}};
  EXPECT_EQ(svc().create_device(spec).error(), registry_errc::credential_expired);
  spec.credentials[0].expiration_time = now - 1s;
  EXPECT_EQ(svc().create_device(spec).error(), registry_errc::credential_expired);

  auto ca = make_ca("Test CA", now - 48h, 24h * 30);
  const auto short_lived = issue_certificate(ca, es256_key(), "sensor-001", now - 2h, 1h);
  spec.credentials = {{credential_format::es256_x509_pem, short_lived, std::nullopt}};
  EXPECT_EQ(svc().create_device(spec).error(), registry_errc::certificate_expired);
  EXPECT_EQ(svc().get_device(spec.key).error(), registry_errc::device_not_found);

  spec.credentials = {{credential_format::es256_pem, public_pem(es256_key()), now + 1h}};
  auto d = svc().create_device(spec);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->credentials[0].expiration_time, now + 1h);
  EXPECT_EQ(svc().get_device(spec.key)->credentials[0].expiration_time, now + 1h);
}

TEST_P(RegistryBehaviour, UnchangedCredentialIsNotRecheckedOnUpdate) {
  const auto now = clock_.wall_now();
  device_spec spec;
  spec.credentials = {{credential_format::es256_pem, public_pem(es256_key()), now + 1h}};
  auto d = make_device("sensor-001", spec);
  clock_.advance(2h); // the credential has now expired
  device_update update;
  update.credentials = {d.credentials[0], es256_credential(1)};
  auto updated = svc().update_device(d.key, update);
  ASSERT_TRUE(updated) << updated.error().message();
  EXPECT_EQ(updated->credentials.size(), 2U);
  // ...but the same key with a new (past) expiry is a new credential, and is checked.
  update.credentials = {{credential_format::es256_pem, public_pem(es256_key()), now + 30min}};
  EXPECT_EQ(svc().update_device(d.key, update).error(), registry_errc::credential_expired);
}

TEST_P(RegistryBehaviour, DuplicateCredentialIsRefused) {
  device_spec spec;
  spec.key = dev_key("sensor-001");
  auto c = es256_credential();
  auto later = c;
  later.expiration_time = clock_.wall_now() + 24h;
  spec.credentials = {c, later};
  EXPECT_EQ(svc().create_device(spec).error(), registry_errc::duplicate_credential);
  // The same key as a bare key and inside a certificate is still the same key.
  auto ca = make_ca("Test CA", clock_.wall_now());
  spec.credentials = {c,
                      {credential_format::es256_x509_pem,
                       issue_certificate(ca, es256_key(), "sensor-001", clock_.wall_now()),
                       std::nullopt}};
  EXPECT_EQ(svc().create_device(spec).error(), registry_errc::duplicate_credential);
}

TEST_P(RegistryBehaviour, RegistryCaCertificatesGateDeviceCredentials) {
  const auto now = clock_.wall_now();
  auto ca = make_ca("Fleet CA", now);
  auto other = make_ca("Other CA", now);
  registry_spec spec{{project_id{"acme-iot"}, location_id{"us-central1"}, registry_id{"fleet-ca"}}};
  spec.ca_certificates = {{ca_pem(ca)}};
  auto reg = svc().create_registry(spec);
  ASSERT_TRUE(reg) << reg.error().message();
  EXPECT_EQ(svc().get_registry(spec.key)->ca_certificates, spec.ca_certificates);

  device_spec d;
  d.key = {spec.key, device_id{"sensor-001"}};
  d.credentials = {es256_credential()};
  EXPECT_EQ(svc().create_device(d).error(), registry_errc::certificate_required);
  d.credentials = {{credential_format::es256_x509_pem,
                    issue_certificate(other, es256_key(), "sensor-001", now), std::nullopt}};
  EXPECT_EQ(svc().create_device(d).error(), registry_errc::certificate_not_signed_by_registry_ca);
  d.credentials = {{credential_format::es256_x509_pem, ca_pem(ca), std::nullopt}};
  EXPECT_EQ(svc().create_device(d).error(), registry_errc::credential_is_registry_ca);

  d.credentials = {{credential_format::es256_x509_pem,
                    issue_certificate(ca, es256_key(), "sensor-001", now), std::nullopt}};
  auto ok_device = svc().create_device(d);
  ASSERT_TRUE(ok_device) << ok_device.error().message();

  // Removing the CA later does not affect the device; only new credentials are verified.
  registry_update update;
  update.ca_certificates = std::vector<ca_certificate>{{ca_pem(other)}};
  ASSERT_TRUE(svc().update_registry(spec.key, update));
  device_update du;
  du.blocked = true;
  EXPECT_TRUE(svc().update_device(d.key, du));
  du.credentials = {d.credentials[0],
                    {credential_format::es256_x509_pem,
                     issue_certificate(ca, es256_key(1), "sensor-001", now), std::nullopt}};
  EXPECT_EQ(svc().update_device(d.key, du).error(),
            registry_errc::certificate_not_signed_by_registry_ca);
}

TEST_P(RegistryBehaviour, RegistryCaCertificateChecks) {
  const auto now = clock_.wall_now();
  registry_spec spec{{project_id{"acme-iot"}, location_id{"us-central1"}, registry_id{"fleet-ca"}}};
  std::vector<crypto::certificate_authority> cas;
  for (int i = 0; i < 11; ++i) {
    cas.push_back(make_ca("CA " + std::to_string(i), now));
    spec.ca_certificates.push_back({ca_pem(cas.back())});
  }
  EXPECT_EQ(svc().create_registry(spec).error(), registry_errc::too_many_ca_certificates);
  spec.ca_certificates.pop_back();
  ASSERT_TRUE(svc().create_registry(spec));

  registry_update update;
  update.ca_certificates = std::vector<ca_certificate>{{ca_pem(cas[0])}, {ca_pem(cas[0])}};
  EXPECT_EQ(svc().update_registry(spec.key, update).error(),
            registry_errc::duplicate_ca_certificate);
  update.ca_certificates =
      std::vector<ca_certificate>{{issue_certificate(cas[0], es256_key(), "leaf", now)}};
  EXPECT_EQ(svc().update_registry(spec.key, update).error(), registry_errc::ca_certificate_not_ca);
  update.ca_certificates = std::vector<ca_certificate>{{"-----BEGIN CERTIFICATE-----\nxx\n"}};
  EXPECT_EQ(svc().update_registry(spec.key, update).error(), registry_errc::bad_certificate);
  update.ca_certificates = std::vector<ca_certificate>{{ca_pem(make_ca("Short CA", now - 2h, 1h))}};
  EXPECT_EQ(svc().update_registry(spec.key, update).error(), registry_errc::ca_certificate_expired);
  // None of the refused updates changed the registry.
  EXPECT_EQ(svc().get_registry(spec.key)->ca_certificates.size(), 10U);
}

// --- metadata ---

TEST_P(RegistryBehaviour, MetadataLimitsAreEnforced) {
  auto attempt = [&](string_map m) {
    device_spec spec;
    spec.key = dev_key("sensor-001");
    spec.metadata = std::move(m);
    return svc().create_device(spec);
  };
  string_map many;
  for (int i = 0; i < 501; ++i) {
    many["k" + std::to_string(i)] = "v";
  }
  EXPECT_EQ(attempt(many).error(), registry_errc::too_many_metadata_entries);
  EXPECT_EQ(attempt({{std::string(129, 'k'), "v"}}).error(), registry_errc::bad_metadata_key);
  EXPECT_EQ(attempt({{"", "v"}}).error(), registry_errc::bad_metadata_key);
  EXPECT_EQ(attempt({{"1key", "v"}}).error(), registry_errc::bad_metadata_key);
  EXPECT_EQ(attempt({{"key'; DROP TABLE devices;--", "v"}}).error(),
            registry_errc::bad_metadata_key);
  EXPECT_EQ(attempt({{"big", std::string(32 * 1024 + 1, 'x')}}).error(),
            registry_errc::metadata_value_too_large);
  string_map total;
  for (int i = 0; i < 8; ++i) {
    total["k" + std::to_string(i)] = std::string(32 * 1024, 'x'); // 8 x 32 KiB + keys > 256 KiB
  }
  EXPECT_EQ(attempt(total).error(), registry_errc::metadata_too_large);
  EXPECT_EQ(svc().get_device(dev_key("sensor-001")).error(), registry_errc::device_not_found);

  string_map max;
  for (int i = 0; i < 7; ++i) {
    max["k" + std::to_string(i)] = std::string(32 * 1024, 'x');
  }
  max[std::string(128, 'k')] = "";
  auto d = attempt(max);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(svc().get_device(d->key)->metadata, max);

  device_update update;
  update.metadata = many;
  EXPECT_EQ(svc().update_device(d->key, update).error(), registry_errc::too_many_metadata_entries);
  EXPECT_EQ(svc().get_device(d->key)->metadata, max);
}

// --- configuration ---

TEST_P(RegistryBehaviour, ConfigCompareAndSet) {
  auto d = make_device("sensor-001");
  clock_.advance(1s);
  auto v2 = svc().modify_config(d.key, b("two"));
  ASSERT_TRUE(v2);
  EXPECT_EQ(v2->version, 2);
  EXPECT_EQ(v2->cloud_update_time, clock_.wall_now());

  auto v3 = svc().modify_config(d.key, b("three"), 2);
  ASSERT_TRUE(v3);
  EXPECT_EQ(v3->version, 3);

  auto stale = svc().modify_config(d.key, b("lost update"), 2);
  EXPECT_EQ(stale.error(), registry_errc::config_version_mismatch);
  EXPECT_EQ(http_status(registry_errc::config_version_mismatch), 409);
  EXPECT_EQ(rpc_code_of(registry_errc::config_version_mismatch), rpc_code::aborted);
  EXPECT_EQ(svc().modify_config(d.key, b("future"), 9).error(),
            registry_errc::config_version_mismatch);

  auto latest = svc().get_config(d.key);
  ASSERT_TRUE(latest);
  EXPECT_EQ(latest->version, 3);
  EXPECT_EQ(latest->data, b("three"));
  EXPECT_EQ(svc().modify_config(d.key, b("x"), -1).error(), registry_errc::bad_config_version);
  EXPECT_EQ(svc().modify_config(dev_key("missing"), b("x")).error(),
            registry_errc::device_not_found);
}

TEST_P(RegistryBehaviour, ConfigKeepsTheLastTenVersions) {
  auto d = make_device("sensor-001");
  for (int i = 2; i <= 13; ++i) {
    ASSERT_TRUE(svc().modify_config(d.key, b("config " + std::to_string(i))));
  }
  auto all = svc().list_config_versions(d.key);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 10U);
  EXPECT_EQ(all->front().version, 13);
  EXPECT_EQ(all->front().data, b("config 13"));
  EXPECT_EQ(all->back().version, 4);
  EXPECT_EQ(all->back().data, b("config 4"));
  auto three = svc().list_config_versions(d.key, 3);
  ASSERT_EQ(three->size(), 3U);
  EXPECT_EQ((*three)[2].version, 11);
  EXPECT_EQ(svc().acknowledge_config(d.key, 3).error(), registry_errc::config_version_not_found);
}

TEST_P(RegistryBehaviour, ConfigAcknowledgementSetsTimes) {
  auto d = make_device("sensor-001");
  ASSERT_TRUE(svc().modify_config(d.key, b("two")));
  clock_.advance(5s);
  ASSERT_TRUE(svc().acknowledge_config(d.key, 2));
  auto versions = svc().list_config_versions(d.key);
  ASSERT_TRUE(versions);
  EXPECT_EQ((*versions)[0].device_ack_time, clock_.wall_now());
  EXPECT_FALSE((*versions)[1].device_ack_time);
  EXPECT_EQ(svc().get_device(d.key)->activity.last_config_ack_time, clock_.wall_now());
}

TEST_P(RegistryBehaviour, PayloadSizeLimits) {
  auto d = make_device("sensor-001");
  EXPECT_EQ(svc().modify_config(d.key, bytes(64 * 1024 + 1, 'c')).error(),
            registry_errc::config_too_large);
  EXPECT_TRUE(svc().modify_config(d.key, bytes(64 * 1024, 'c')));
  EXPECT_EQ(svc().report_state(d.key, bytes(64 * 1024 + 1, 's')).error(),
            registry_errc::state_too_large);
  EXPECT_TRUE(svc().report_state(d.key, bytes(64 * 1024, 's')));
  device_spec spec;
  spec.key = dev_key("sensor-002");
  spec.initial_config = bytes(64 * 1024 + 1, 'c');
  EXPECT_EQ(svc().create_device(spec).error(), registry_errc::config_too_large);
}

// --- state and activity ---

TEST_P(RegistryBehaviour, StateHistoryKeepsTheLastTen) {
  auto d = make_device("sensor-001");
  EXPECT_TRUE(svc().list_states(d.key)->empty());
  for (int i = 1; i <= 12; ++i) {
    clock_.advance(1s);
    auto s = svc().report_state(d.key, b("state " + std::to_string(i)));
    ASSERT_TRUE(s);
    EXPECT_EQ(s->update_time, clock_.wall_now());
  }
  auto states = svc().list_states(d.key);
  ASSERT_TRUE(states);
  ASSERT_EQ(states->size(), 10U);
  EXPECT_EQ(states->front().data, b("state 12"));
  EXPECT_EQ(states->back().data, b("state 3"));
  EXPECT_EQ(svc().list_states(d.key, 2)->size(), 2U);
  EXPECT_EQ(svc().get_device(d.key)->activity.last_state_time, clock_.wall_now());
}

TEST_P(RegistryBehaviour, ActivityTimesAreRecorded) {
  auto d = make_device("sensor-001");
  EXPECT_EQ(d.activity, device_activity{});
  clock_.advance(1s);
  ASSERT_TRUE(svc().record_heartbeat(d.key));
  const auto t1 = clock_.wall_now();
  clock_.advance(1s);
  ASSERT_TRUE(svc().record_event(d.key));
  clock_.advance(1s);
  ASSERT_TRUE(svc().record_config_sent(d.key));
  clock_.advance(1s);
  ASSERT_TRUE(svc().record_error(d.key, {9, "mqtt: The connection broke"}));
  clock_.advance(1s);
  ASSERT_TRUE(svc().record_gateway_access(d.key, device_id{"gw-7x"}));
  auto a = svc().get_device(d.key)->activity;
  EXPECT_EQ(a.last_heartbeat_time, t1);
  EXPECT_EQ(a.last_event_time, t1 + 1s);
  EXPECT_EQ(a.last_config_send_time, t1 + 2s);
  EXPECT_EQ(a.last_error_time, t1 + 3s);
  EXPECT_EQ(a.last_error_status, (error_status{9, "mqtt: The connection broke"}));
  EXPECT_EQ(a.last_accessed_gateway_id, "gw-7x");
  EXPECT_EQ(a.last_accessed_gateway_time, t1 + 4s);
  EXPECT_FALSE(a.last_state_time);
  EXPECT_EQ(svc().record_error(d.key, {1, std::string(1025, 'e')}).error(),
            registry_errc::bad_error_status);
  EXPECT_EQ(svc().record_heartbeat(dev_key("missing")).error(), registry_errc::device_not_found);
}

// --- gateways ---

TEST_P(RegistryBehaviour, GatewayBindings) {
  device_spec gw_spec;
  gw_spec.gateway = {gateway_type::gateway, gateway_auth_method::association_only};
  auto gw = make_device("gw-7x", gw_spec);
  auto leaf = make_device("leaf-3");
  auto plain = make_device("leaf-4");

  ASSERT_TRUE(svc().bind_device_to_gateway(reg_key(), device_id{"gw-7x"}, device_id{"leaf-3"}));
  ASSERT_TRUE(svc().bind_device_to_gateway(reg_key(), device_id{"gw-7x"}, device_id{"leaf-3"}));
  EXPECT_EQ(*svc().list_bound_devices(gw.key), std::vector<device_id>{device_id{"leaf-3"}});
  EXPECT_EQ(*svc().list_gateways_of(leaf.key), std::vector<device_id>{device_id{"gw-7x"}});

  EXPECT_EQ(
      svc().bind_device_to_gateway(reg_key(), device_id{"leaf-4"}, device_id{"leaf-3"}).error(),
      registry_errc::not_a_gateway);
  EXPECT_EQ(svc().bind_device_to_gateway(reg_key(), device_id{"gw-7x"}, device_id{"gw-7x"}).error(),
            registry_errc::gateway_cannot_be_bound);
  EXPECT_EQ(
      svc().bind_device_to_gateway(reg_key(), device_id{"gw-7x"}, device_id{"missing"}).error(),
      registry_errc::device_not_found);

  EXPECT_EQ(svc().delete_device(gw.key).error(), registry_errc::gateway_has_bound_devices);
  EXPECT_EQ(http_status(registry_errc::gateway_has_bound_devices), 400);
  EXPECT_EQ(
      svc().unbind_device_from_gateway(reg_key(), device_id{"gw-7x"}, device_id{"leaf-4"}).error(),
      registry_errc::binding_not_found);
  ASSERT_TRUE(svc().unbind_device_from_gateway(reg_key(), device_id{"gw-7x"}, device_id{"leaf-3"}));
  EXPECT_TRUE(svc().list_gateways_of(leaf.key)->empty());
  EXPECT_TRUE(svc().delete_device(gw.key));
  (void)plain;
}

TEST_P(RegistryBehaviour, DeletingABoundDeviceRemovesItsBindings) {
  device_spec gw_spec;
  gw_spec.gateway.type = gateway_type::gateway;
  auto gw = make_device("gw-7x", gw_spec);
  auto leaf = make_device("leaf-3");
  ASSERT_TRUE(svc().bind_device_to_gateway(reg_key(), device_id{"gw-7x"}, device_id{"leaf-3"}));
  ASSERT_TRUE(svc().delete_device(leaf.key));
  EXPECT_TRUE(svc().list_bound_devices(gw.key)->empty());
  EXPECT_TRUE(svc().delete_device(gw.key));
}

TEST_P(RegistryBehaviour, GatewayTypeIsImmutableAndAuthMethodIsNot) {
  device_spec gw_spec;
  gw_spec.gateway.type = gateway_type::gateway;
  auto gw = make_device("gw-7x", gw_spec);
  device_update update;
  update.type = gateway_type::non_gateway;
  EXPECT_EQ(svc().update_device(gw.key, update).error(), registry_errc::gateway_type_immutable);
  update.type = gateway_type::gateway;
  update.auth_method = gateway_auth_method::association_and_device_auth_token;
  auto updated = svc().update_device(gw.key, update);
  ASSERT_TRUE(updated);
  EXPECT_EQ(svc().get_device(gw.key)->gateway,
            (gateway_config{gateway_type::gateway,
                            gateway_auth_method::association_and_device_auth_token}));
}

TEST_P(RegistryBehaviour, ADeviceHasAtMostTenGateways) {
  auto leaf = make_device("leaf-3");
  device_spec gw_spec;
  gw_spec.gateway.type = gateway_type::gateway;
  for (int i = 0; i < 11; ++i) {
    const std::string id = "gw-" + std::to_string(i) + "x";
    make_device(id, gw_spec);
    auto r = svc().bind_device_to_gateway(reg_key(), device_id{id}, device_id{"leaf-3"});
    if (i < 10) {
      EXPECT_TRUE(r) << i;
    } else {
      EXPECT_EQ(r.error(), registry_errc::too_many_gateways);
    }
  }
  EXPECT_EQ(svc().list_gateways_of(leaf.key)->size(), 10U);
}

// --- groups ---

TEST_P(RegistryBehaviour, GroupsWithLabels) {
  auto g = svc().create_group(grp_key("canary"), {{"stage", "canary"}, {"ring", "0"}});
  ASSERT_TRUE(g);
  EXPECT_EQ(svc().create_group(grp_key("canary")).error(), registry_errc::group_exists);
  auto got = svc().get_group(grp_key("canary"));
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, *g);

  EXPECT_EQ(svc().create_group(grp_key("bad"), {{"Stage", "x"}}).error(),
            registry_errc::bad_label_key);
  EXPECT_EQ(svc().create_group(grp_key("bad"), {{"k'; DROP TABLE groups;--", "x"}}).error(),
            registry_errc::bad_label_key);
  EXPECT_EQ(svc().create_group(grp_key("bad"), {{"stage", "x'); DELETE FROM devices;--"}}).error(),
            registry_errc::bad_label_value);
  EXPECT_EQ(svc().create_group(grp_key("bad"), {{"stage", std::string(64, 'a')}}).error(),
            registry_errc::bad_label_value);
  string_map many;
  for (int i = 0; i < 65; ++i) {
    many["k" + std::to_string(i)] = "v";
  }
  EXPECT_EQ(svc().create_group(grp_key("bad"), many).error(), registry_errc::too_many_labels);
  EXPECT_EQ(svc().create_group(grp_key("../etc")).error(), registry_errc::id_bad_first_character);
  EXPECT_EQ(svc().get_group(grp_key("bad")).error(), registry_errc::group_not_found);

  auto relabelled = svc().set_group_labels(grp_key("canary"), {{"stage", "ga"}});
  ASSERT_TRUE(relabelled);
  EXPECT_EQ(svc().get_group(grp_key("canary"))->labels, (string_map{{"stage", "ga"}}));
  ASSERT_TRUE(svc().create_group(grp_key("beta")));
  auto groups = svc().list_groups(reg_key());
  ASSERT_EQ(groups->size(), 2U);
  EXPECT_EQ((*groups)[0].key.group.value(), "beta");
  ASSERT_TRUE(svc().delete_group(grp_key("beta")));
  EXPECT_EQ(svc().delete_group(grp_key("beta")).error(), registry_errc::group_not_found);
}

TEST_P(RegistryBehaviour, GroupMembershipIsAllOrNothing) {
  ASSERT_TRUE(svc().create_group(grp_key("canary")));
  make_device("sensor-001");
  make_device("sensor-002");
  EXPECT_EQ(
      svc()
          .add_group_members(grp_key("canary"), {device_id{"sensor-001"}, device_id{"missing"}})
          .error(),
      registry_errc::device_not_found);
  EXPECT_TRUE(svc().list_group_members(grp_key("canary"))->empty());

  ASSERT_TRUE(svc().add_group_members(grp_key("canary"),
                                      {device_id{"sensor-002"}, device_id{"sensor-001"}}));
  ASSERT_TRUE(svc().add_group_members(grp_key("canary"), {device_id{"sensor-001"}}));
  EXPECT_EQ(*svc().list_group_members(grp_key("canary")),
            (std::vector<device_id>{device_id{"sensor-001"}, device_id{"sensor-002"}}));
  EXPECT_EQ(*svc().list_group_members(grp_key("canary"), {1, "sensor-001"}),
            std::vector<device_id>{device_id{"sensor-002"}});

  ASSERT_TRUE(svc().delete_device(dev_key("sensor-002")));
  EXPECT_EQ(*svc().list_group_members(grp_key("canary")),
            std::vector<device_id>{device_id{"sensor-001"}});
  ASSERT_TRUE(svc().remove_group_members(grp_key("canary"), {device_id{"sensor-001"}}));
  EXPECT_TRUE(svc().list_group_members(grp_key("canary"))->empty());
  EXPECT_EQ(svc().add_group_members(grp_key("nope"), {device_id{"sensor-001"}}).error(),
            registry_errc::group_not_found);
}

TEST_P(RegistryBehaviour, DeletingARegistryDeletesItsGroups) {
  registry_key other{project_id{"acme-iot"}, location_id{"us-central1"}, registry_id{"fleet-b"}};
  ASSERT_TRUE(svc().create_registry(registry_spec{other}));
  ASSERT_TRUE(svc().create_group({other, group_id{"canary"}}));
  ASSERT_TRUE(svc().delete_registry(other));
  ASSERT_TRUE(svc().create_registry(registry_spec{other}));
  EXPECT_EQ(svc().get_group({other, group_id{"canary"}}).error(), registry_errc::group_not_found);
}

// --- deletion and atomicity ---

TEST_P(RegistryBehaviour, DeleteDeviceRemovesItsHistory) {
  auto d = make_device("sensor-001");
  ASSERT_TRUE(svc().modify_config(d.key, b("two")));
  ASSERT_TRUE(svc().report_state(d.key, b("state")));
  ASSERT_TRUE(svc().delete_device(d.key));
  EXPECT_EQ(svc().get_device(d.key).error(), registry_errc::device_not_found);
  EXPECT_EQ(svc().get_device_by_num_id(reg_key(), d.num_id).error(),
            registry_errc::device_not_found);
  EXPECT_EQ(svc().delete_device(d.key).error(), registry_errc::device_not_found);
  EXPECT_EQ(svc().list_states(d.key).error(), registry_errc::device_not_found);

  auto again = make_device("sensor-001");
  EXPECT_NE(again.num_id, d.num_id);
  EXPECT_EQ(svc().list_config_versions(again.key)->size(), 1U);
  EXPECT_TRUE(svc().list_states(again.key)->empty());
}

TEST_P(RegistryBehaviour, AFailedTransactionLeavesNoChange) {
  auto r = repo().write([&](registry_transaction& tx) -> result<void> {
    if (auto p = tx.insert_project(project{project_id{"half-done"}, clock_.wall_now()}); !p) {
      return p;
    }
    if (auto d = tx.insert_registry(device_registry{
            {project_id{"half-done"}, location_id{"us-central1"}, registry_id{"fleet-x"}}});
        !d) {
      return d;
    }
    return registry_errc::storage_failed; // fails after two writes
  });
  EXPECT_EQ(r.error(), registry_errc::storage_failed);
  EXPECT_EQ(svc().get_project(project_id{"half-done"}).error(), registry_errc::project_not_found);
  EXPECT_EQ(svc()
                .get_registry(
                    {project_id{"half-done"}, location_id{"us-central1"}, registry_id{"fleet-x"}})
                .error(),
            registry_errc::registry_not_found);
}

TEST_P(RegistryBehaviour, ConcurrentCompareAndSetHasOneWinner) {
  auto d = make_device("sensor-001");
  constexpr int threads = 8;
  std::atomic<int> won{0};
  std::atomic<int> lost{0};
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&, i] {
      auto r = svc().modify_config(d.key, b("writer " + std::to_string(i)), 1);
      if (r) {
        ++won;
      } else if (r.error() == registry_errc::config_version_mismatch) {
        ++lost;
      }
    });
  }
  for (auto& t : pool) {
    t.join();
  }
  EXPECT_EQ(won.load(), 1);
  EXPECT_EQ(lost.load(), threads - 1);
  EXPECT_EQ(svc().get_config(d.key)->version, 2);
}

} // namespace aegis::registry::testing
