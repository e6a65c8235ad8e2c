// The registry behaviour suite (server/registry/testing) against the SQLite store: the same
// rules, the same results as the in-memory reference.

#include "aegis/registry/testing/behaviour_suite.hpp"
#include "aegis/registry/testing/operator_suite.hpp"
#include "aegis/storage_sqlite/store.hpp"

#include "store_fixture.hpp"

#include <gtest/gtest.h>

namespace {

using namespace aegis;
using aegis::registry::testing::operator_repository_factory;
using aegis::registry::testing::OperatorBehaviour;
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

// The operator side of a store in its own temporary directory.
class temp_operator_store final : public registry::operator_repository {
public:
  result<void> insert_token(const registry::operator_token& t) override {
    return store_->insert_token(t);
  }
  result<registry::operator_token> find_token(std::string_view id) override {
    return store_->find_token(id);
  }
  result<std::vector<registry::operator_token>> list_tokens() override {
    return store_->list_tokens();
  }
  result<void> revoke_token(std::string_view id, wall_time at) override {
    return store_->revoke_token(id, at);
  }
  result<std::size_t> count_tokens() override { return store_->count_tokens(); }
  result<std::int64_t> append_audit(const registry::audit_record& r) override {
    return store_->append_audit(r);
  }
  result<std::vector<registry::audit_record>> list_audit(const registry::audit_query& q) override {
    return store_->list_audit(q);
  }
  result<void> insert_revocation(const registry::revoked_certificate& r) override {
    return store_->insert_revocation(r);
  }
  result<std::vector<registry::revoked_certificate>> list_revocations() override {
    return store_->list_revocations();
  }
  result<bool> is_revoked(std::string_view serial_hex) override {
    return store_->is_revoked(serial_hex);
  }

private:
  fx::temp_dir dir_;
  crypto::master_key key_ = fx::test_master_key();
  std::unique_ptr<storage_sqlite::sqlite_store> store_ = fx::open_store(dir_.db(), key_);
};

INSTANTIATE_TEST_SUITE_P(Sqlite, OperatorBehaviour,
                         ::testing::Values(operator_repository_factory{
                             "sqlite", [] { return std::make_unique<temp_operator_store>(); }}),
                         aegis::registry::testing::operator_repository_factory_name);

} // namespace
