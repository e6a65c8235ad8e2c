#include "aegis/registry/operators.hpp"

#include "aegis/registry/testing/operator_suite.hpp"

#include <gtest/gtest.h>

namespace {

using namespace aegis::registry;
using aegis::registry::testing::operator_repository_factory;
using aegis::registry::testing::OperatorBehaviour;

INSTANTIATE_TEST_SUITE_P(Memory, OperatorBehaviour,
                         ::testing::Values(operator_repository_factory{
                             "memory",
                             [] { return std::make_unique<memory_operator_repository>(); }}),
                         aegis::registry::testing::operator_repository_factory_name);

} // namespace
