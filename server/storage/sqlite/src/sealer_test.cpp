#include "aegis/storage_sqlite/sealer.hpp"

#include "aegis/registry/errors.hpp"

#include "store_fixture.hpp"

#include <gtest/gtest.h>

namespace {

using namespace aegis;
using aegis::registry::registry_errc;
using aegis::storage_sqlite::column_sealer;
using aegis::storage_sqlite::seal_context;
namespace fx = aegis::storage_sqlite::testing;

column_sealer make(std::uint8_t fill = 0x42) {
  auto s = column_sealer::create(fx::test_master_key(fill));
  if (!s) {
    throw std::runtime_error("sealer");
  }
  return std::move(*s);
}

TEST(StoreSealer, RoundTripsAndHidesThePlaintext) {
  const auto sealer = make();
  const seal_context where{"config_versions", "data_sealed", {"acme-iot", "dev-1", "3"}};
  const auto plain = to_bytes("a config payload");
  auto sealed = sealer.seal(plain, where);
  ASSERT_TRUE(sealed);
  EXPECT_EQ(as_string_view(*sealed).find("a config payload"), std::string_view::npos);
  auto opened = sealer.open(*sealed, where);
  ASSERT_TRUE(opened);
  EXPECT_EQ(as_string_view(opened->view()), "a config payload");
  // Two seals of one value differ (fresh data key and nonce each time).
  EXPECT_NE(*sealer.seal(plain, where), *sealed);
}

TEST(StoreSealer, OpensOnlyWhereItWasSealed) {
  const auto sealer = make();
  const seal_context where{"config_versions", "data_sealed", {"dev-1", "3"}};
  auto sealed = sealer.seal(to_bytes("x"), where);
  ASSERT_TRUE(sealed);
  for (const auto& elsewhere : {
           seal_context{"config_versions", "data_sealed", {"dev-1", "4"}},
           seal_context{"config_versions", "data_sealed", {"dev-2", "3"}},
           seal_context{"device_states", "data_sealed", {"dev-1", "3"}},
           seal_context{"config_versions", "other", {"dev-1", "3"}},
           seal_context{"config_versions", "data_sealed", {"dev-1", "3", ""}},
       }) {
    EXPECT_EQ(sealer.open(*sealed, elsewhere).error(), registry_errc::sealed_value_unreadable);
  }
  EXPECT_EQ(make(0x43).open(*sealed, where).error(), registry_errc::sealed_value_unreadable);
}

TEST(StoreSealer, AssociatedDataIsUnambiguous) {
  // Without length prefixes these pairs would encode alike.
  EXPECT_NE(column_sealer::associated_data({"t", "c", {"ab", "c"}}),
            column_sealer::associated_data({"t", "c", {"a", "bc"}}));
  EXPECT_NE(column_sealer::associated_data({"tc", "", {}}),
            column_sealer::associated_data({"t", "c", {}}));
  EXPECT_NE(column_sealer::associated_data({"t", "c", {"x/y"}}),
            column_sealer::associated_data({"t", "c", {"x", "y"}}));
}

TEST(StoreSealer, UsesAKeyDerivedForThisStore) {
  // A value sealed directly under the master key (as the data directory seals its files) does
  // not open here, and the reverse.
  auto master = fx::test_master_key();
  const seal_context where{"secrets", "value_sealed", {"ca/private_key"}};
  auto direct = master.seal(to_bytes("k"), column_sealer::associated_data(where));
  ASSERT_TRUE(direct);
  EXPECT_EQ(make().open(*direct, where).error(), registry_errc::sealed_value_unreadable);
}

} // namespace
