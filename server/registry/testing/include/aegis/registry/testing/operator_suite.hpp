#pragma once

// The operator_repository behaviour suite: tokens, the audit log and revocations, held to the
// same behaviour in every implementation. Each one instantiates it with a factory:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, OperatorBehaviour,
//                            ::testing::Values(operator_repository_factory{"sqlite", make}),
//                            operator_repository_factory_name);

#include "aegis/registry/operators.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>

namespace aegis::registry::testing {

struct operator_repository_factory {
  std::string name;
  // A fresh, empty repository per test.
  std::function<std::unique_ptr<operator_repository>()> make;
};

void PrintTo(const operator_repository_factory& f, std::ostream* os);
std::string
operator_repository_factory_name(const ::testing::TestParamInfo<operator_repository_factory>& info);

class OperatorBehaviour : public ::testing::TestWithParam<operator_repository_factory> {
protected:
  void SetUp() override;
  void TearDown() override;

  operator_repository& repo() { return *repo_; }

  // A viewer token named `id` created at start_, with a 32-byte digest derived from the id.
  operator_token make_token(const std::string& id) const;
  // An audit record at start_ + `offset_s` seconds.
  audit_record make_audit(std::string actor, std::string action, std::string target,
                          int offset_s = 0) const;

  wall_time start_{std::chrono::seconds{1'700'000'000}};
  std::unique_ptr<operator_repository> repo_;
};

} // namespace aegis::registry::testing
