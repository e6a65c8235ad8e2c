#include "aegis/registry/errors.hpp"

#include <gtest/gtest.h>

namespace {

using aegis::registry::registry_errc;
using aegis::registry::rpc_code;
using aegis::registry::to_wire;

TEST(RegistryErrors, CategoryAndMessages) {
  std::error_code ec = registry_errc::device_exists;
  EXPECT_STREQ(ec.category().name(), "aegis.registry");
  EXPECT_EQ(ec.message(), "a device with that id already exists in the registry");
  // Every value has its own message, so a log line says exactly why.
  for (int v = 1; v <= static_cast<int>(registry_errc::token_exists); ++v) {
    const std::error_code e = static_cast<registry_errc>(v);
    EXPECT_NE(e.message(), "unknown registry error") << v;
  }
}

TEST(RegistryErrors, WireMapping) {
  struct row {
    registry_errc e;
    int http;
    rpc_code code;
  };
  for (const auto& r : {
           row{registry_errc::id_bad_character, 400, rpc_code::invalid_argument},
           row{registry_errc::too_many_credentials, 400, rpc_code::invalid_argument},
           row{registry_errc::rsa_key_too_small, 400, rpc_code::invalid_argument},
           row{registry_errc::metadata_too_large, 400, rpc_code::invalid_argument},
           row{registry_errc::device_not_found, 404, rpc_code::not_found},
           row{registry_errc::binding_not_found, 404, rpc_code::not_found},
           row{registry_errc::registry_exists, 409, rpc_code::already_exists},
           row{registry_errc::config_version_mismatch, 409, rpc_code::aborted},
           row{registry_errc::registry_not_empty, 400, rpc_code::failed_precondition},
           row{registry_errc::not_a_gateway, 400, rpc_code::failed_precondition},
           row{registry_errc::storage_busy, 503, rpc_code::unavailable},
           row{registry_errc::storage_failed, 500, rpc_code::internal},
           row{registry_errc::sealed_value_unreadable, 500, rpc_code::data_loss},
           row{registry_errc::token_not_found, 404, rpc_code::not_found},
           row{registry_errc::token_exists, 409, rpc_code::already_exists},
       }) {
    EXPECT_EQ(to_wire(r.e).http_status, r.http) << static_cast<int>(r.e);
    EXPECT_EQ(to_wire(r.e).code, r.code) << static_cast<int>(r.e);
  }
  // Appended values keep the earlier numbers stable.
  EXPECT_EQ(static_cast<int>(registry_errc::token_not_found),
            static_cast<int>(registry_errc::sealed_value_unreadable) + 1);
  EXPECT_EQ(to_string(rpc_code::failed_precondition), "FAILED_PRECONDITION");
  EXPECT_EQ(to_string(rpc_code::already_exists), "ALREADY_EXISTS");
}

} // namespace
