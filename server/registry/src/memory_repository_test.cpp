#include "aegis/registry/memory_repository.hpp"

#include "aegis/registry/errors.hpp"
#include "aegis/registry/service.hpp"
#include "aegis/registry/testing/behaviour_suite.hpp"
#include "aegis/registry/testing/credentials.hpp"

#include <gtest/gtest.h>

namespace {

using namespace aegis;
using namespace aegis::registry;
using aegis::registry::testing::RegistryBehaviour;
using aegis::registry::testing::repository_factory;

INSTANTIATE_TEST_SUITE_P(Memory, RegistryBehaviour,
                         ::testing::Values(repository_factory{
                             "memory", [] { return std::make_unique<memory_repository>(); }}),
                         aegis::registry::testing::repository_factory_name);

class RegistryMemoryRepository : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_TRUE(svc_.create_project(project_id{"acme-iot"}));
    ASSERT_TRUE(svc_.create_registry(registry_spec{reg_}));
  }
  const registry_key reg_{project_id{"acme-iot"}, location_id{"us-central1"},
                          registry_id{"fleet-a"}};
  manual_clock clock_;
  memory_repository repo_;
  registry_service svc_{repo_, clock_};
};

// The device row is written, then its first config fails: neither may remain.
TEST_F(RegistryMemoryRepository, CreateDeviceFailingHalfWayLeavesNothing) {
  device_spec spec;
  spec.key = {reg_, device_id{"sensor-001"}};
  spec.credentials = {aegis::registry::testing::es256_credential()};
  repo_.fail_write_after_for_test(1);
  EXPECT_EQ(svc_.create_device(spec).error(), registry_errc::storage_failed);
  EXPECT_EQ(svc_.get_device(spec.key).error(), registry_errc::device_not_found);
  EXPECT_TRUE(svc_.list_devices(reg_)->empty());
  // The fault fired once; the same call now succeeds.
  auto d = svc_.create_device(spec);
  ASSERT_TRUE(d);
  EXPECT_EQ(svc_.get_config(spec.key)->version, 1);
}

TEST_F(RegistryMemoryRepository, ReportStateFailingHalfWayKeepsHistoryAndTimes) {
  device_spec spec;
  spec.key = {reg_, device_id{"sensor-001"}};
  ASSERT_TRUE(svc_.create_device(spec));
  ASSERT_TRUE(svc_.report_state(spec.key, to_bytes("first")));
  const auto first_time = clock_.wall_now();
  clock_.advance(std::chrono::seconds(5));
  repo_.fail_write_after_for_test(2); // insert_state, trim_states succeed; update_activity fails
  EXPECT_EQ(svc_.report_state(spec.key, to_bytes("second")).error(), registry_errc::storage_failed);
  auto states = svc_.list_states(spec.key);
  ASSERT_EQ(states->size(), 1U);
  EXPECT_EQ(states->front().data, to_bytes("first"));
  EXPECT_EQ(svc_.get_device(spec.key)->activity.last_state_time, first_time);
}

TEST_F(RegistryMemoryRepository, RandomNumIdsAreNonZeroAndBelow2To63) {
  auto source = random_num_ids();
  for (int i = 0; i < 1000; ++i) {
    const auto v = source();
    EXPECT_NE(v, 0U);
    EXPECT_LT(v, 0x8000'0000'0000'0000ULL);
  }
  EXPECT_NE(source(), source());
}

} // namespace
