#include "aegis/registry/ids.hpp"

#include "aegis/registry/errors.hpp"

#include <gtest/gtest.h>

namespace {

using namespace aegis::registry;

TEST(RegistryIds, ResourceIdRules) {
  EXPECT_TRUE(check_resource_id("sensor-001"));
  EXPECT_TRUE(check_resource_id("a.b_c+d~e%f-g"));
  EXPECT_TRUE(check_resource_id("Googly")); // only the lower-case prefix is reserved
  EXPECT_EQ(check_resource_id("ab").error(), registry_errc::id_too_short);
  EXPECT_EQ(check_resource_id(std::string(256, 'x')).error(), registry_errc::id_too_long);
  EXPECT_TRUE(check_resource_id(std::string(255, 'x')));
  EXPECT_EQ(check_resource_id("..%2fetc").error(), registry_errc::id_bad_first_character);
  EXPECT_EQ(check_resource_id("a/b").error(), registry_errc::id_bad_character);
  EXPECT_EQ(check_resource_id("a'b").error(), registry_errc::id_bad_character);
  EXPECT_EQ(check_resource_id("googthing").error(), registry_errc::id_reserved_prefix);
}

TEST(RegistryIds, ProjectAndLocationRules) {
  EXPECT_TRUE(check_project_id("acme-iot"));
  EXPECT_EQ(check_project_id("acme").error(), registry_errc::id_too_short);
  EXPECT_EQ(check_project_id("acme-iot-").error(), registry_errc::id_bad_last_character);
  EXPECT_EQ(check_project_id("Acme-iot").error(), registry_errc::id_bad_first_character);
  EXPECT_EQ(check_project_id("acme.iot").error(), registry_errc::id_bad_character);
  EXPECT_TRUE(check_location("us-central1"));
  EXPECT_TRUE(check_location("x"));
  EXPECT_EQ(check_location("").error(), registry_errc::id_too_short);
  EXPECT_EQ(check_location("US").error(), registry_errc::id_bad_first_character);
  EXPECT_EQ(check_location("us-").error(), registry_errc::id_bad_last_character);
}

TEST(RegistryIds, NamesRoundTrip) {
  const device_key key{{project_id{"acme-iot"}, location_id{"us-central1"}, registry_id{"fleet-a"}},
                       device_id{"sensor-001"}};
  const auto name = to_name(key);
  EXPECT_EQ(name, "projects/acme-iot/locations/us-central1/registries/fleet-a/devices/sensor-001");
  auto parsed = parse_device_name(name);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(*parsed, key);
  EXPECT_EQ(to_name(group_key{key.registry, group_id{"canary"}}),
            "projects/acme-iot/locations/us-central1/registries/fleet-a/groups/canary");
}

TEST(RegistryIds, MalformedNamesAreRefused) {
  EXPECT_EQ(parse_registry_name("projects/acme-iot/locations/us-central1").error(),
            registry_errc::id_bad_character);
  EXPECT_EQ(parse_registry_name("projects/acme-iot/locations/us-central1/registries/../x").error(),
            registry_errc::id_bad_character);
  EXPECT_EQ(parse_registry_name("projects/acme-iot/locations/us-central1/registries/..").error(),
            registry_errc::id_too_short);
  EXPECT_EQ(parse_device_name(
                "projects/acme-iot/locations/us-central1/registries/fleet-a/devices/../../x")
                .error(),
            registry_errc::id_bad_character);
  EXPECT_EQ(parse_device_name("projects/acme-iot/locations/us-central1/registries/fleet-a/devices/")
                .error(),
            registry_errc::id_too_short);
  EXPECT_EQ(parse_device_name("devices/sensor-001").error(), registry_errc::id_bad_character);
}

} // namespace
