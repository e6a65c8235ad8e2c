// The registry behaviour suite (server/registry/testing) against the SQLite store: the same
// rules, the same results as the in-memory reference.

#include "aegis/registry/testing/behaviour_suite.hpp"
#include "aegis/storage_sqlite/store.hpp"

#include "store_fixture.hpp"

#include <gtest/gtest.h>

namespace {

using namespace aegis;
using aegis::registry::testing::RegistryBehaviour;
using aegis::registry::testing::repository_factory;
namespace fx = aegis::storage_sqlite::testing;

// A store in its own temporary directory, removed with it.
class temp_store final : public registry::registry_repository {
public:
  result<void> write(const work& fn) override { return store_->write(fn); }
  result<void> read(const work& fn) override { return store_->read(fn); }

private:
  fx::temp_dir dir_;
  crypto::master_key key_ = fx::test_master_key();
  std::unique_ptr<storage_sqlite::sqlite_store> store_ = fx::open_store(dir_.db(), key_);
};

INSTANTIATE_TEST_SUITE_P(Sqlite, RegistryBehaviour,
                         ::testing::Values(repository_factory{
                             "sqlite", [] { return std::make_unique<temp_store>(); }}),
                         aegis::registry::testing::repository_factory_name);

} // namespace
