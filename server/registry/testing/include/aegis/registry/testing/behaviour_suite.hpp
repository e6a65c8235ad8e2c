#pragma once

// The registry behaviour suite: every registry rule, driven through registry_service over a
// repository. Each repository implementation instantiates it with a factory, so the in-memory
// reference and the real stores are held to the same behaviour:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, RegistryBehaviour,
//                            ::testing::Values(repository_factory{"sqlite", make_store}),
//                            repository_factory_name);

#include "aegis/base/clock.hpp"
#include "aegis/registry/repository.hpp"
#include "aegis/registry/service.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <ostream>
#include <string>

namespace aegis::registry::testing {

struct repository_factory {
  std::string name;
  // A fresh, empty repository per test.
  std::function<std::unique_ptr<registry_repository>()> make;
};

void PrintTo(const repository_factory& f, std::ostream* os);
std::string repository_factory_name(const ::testing::TestParamInfo<repository_factory>& info);

class RegistryBehaviour : public ::testing::TestWithParam<repository_factory> {
protected:
  void SetUp() override;
  void TearDown() override;

  registry_service& svc() { return *service_; }
  registry_repository& repo() { return *repo_; }

  // project "acme-iot", location "us-central1", registry "fleet-a" exist in every test.
  registry_key reg_key() const;
  device_key dev_key(const std::string& id) const;
  group_key grp_key(const std::string& id) const;
  // Creates a device with `spec.key` set to dev_key(id); fails the test on error.
  device make_device(const std::string& id, device_spec spec = {});

  manual_clock clock_;
  std::deque<std::uint64_t> forced_num_ids_; // consumed before the counter
  std::uint64_t next_num_id_ = 2'820'826'361'193'805;
  std::unique_ptr<registry_repository> repo_;
  std::unique_ptr<registry_service> service_;
};

} // namespace aegis::registry::testing
