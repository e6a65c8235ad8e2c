#include "aegis/ctl/keyfiles.hpp"

#include "aegis/crypto/signature.hpp"
#include "aegis/ctl/transport.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

namespace aegis::ctl {
namespace {

using testing::mode_of;
using testing::temp_dir;

class KeyFiles : public ::testing::TestWithParam<const char*> {};

TEST_P(KeyFiles, WritesA0600PrivateKeyWhosePublicPartMatches) {
  temp_dir dir;
  const auto type = parse_key_type(GetParam());
  ASSERT_TRUE(type);
  const auto k = write_device_key(dir.path(), "dev-1", *type);
  EXPECT_EQ(k.private_path, dir.path() / "dev-1.key");
  EXPECT_EQ(k.public_path, dir.path() / "dev-1.pub");
  EXPECT_EQ(mode_of(k.private_path), 0600u);
  EXPECT_EQ(mode_of(k.public_path), 0644u);
  EXPECT_EQ(k.format, credential_format(*type));

  auto priv = crypto::private_key::from_pem(read_file(k.private_path));
  ASSERT_TRUE(priv) << priv.error().message();
  EXPECT_EQ(priv->type(), *type);
  auto pub = crypto::public_key::from_pem(read_file(k.public_path));
  ASSERT_TRUE(pub);
  EXPECT_TRUE(priv->public_part() == *pub);
  auto registered = crypto::public_key::from_pem(k.public_pem);
  ASSERT_TRUE(registered);
  EXPECT_TRUE(*registered == *pub);
  EXPECT_EQ(k.public_pem.find("PRIVATE"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, KeyFiles, ::testing::Values("es256", "rs256", "ed25519"));

TEST(KeyFilesRules, FormatsAndTypes) {
  EXPECT_EQ(credential_format(crypto::key_type::ec_p256), "ES256_PEM");
  EXPECT_EQ(credential_format(crypto::key_type::rsa), "RSA_PEM");
  EXPECT_EQ(credential_format(crypto::key_type::ed25519), "ED25519_PEM");
  EXPECT_FALSE(parse_key_type("ES256"));
  EXPECT_FALSE(parse_key_type("rsa"));
}

TEST(KeyFilesRules, CreatesAMissingKeyDirectoryPrivate) {
  temp_dir dir;
  const auto keys = dir.path() / "keys" / "fleet";
  const auto k = write_device_key(keys, "d", crypto::key_type::ec_p256);
  EXPECT_TRUE(std::filesystem::exists(k.private_path));
  EXPECT_EQ(mode_of(keys), 0700U);
  EXPECT_EQ(mode_of(k.private_path), 0600U);
  // A file in the way is still refused.
  write_new_file(dir.path() / "plain", "x", 0600);
  EXPECT_THROW(write_device_key(dir.path() / "plain", "d", crypto::key_type::ec_p256), ctl_error);
}

TEST(KeyFilesRules, RefusesToOverwrite) {
  temp_dir dir;
  write_new_file(dir.path() / "d.key", "old", 0600);
  EXPECT_THROW(write_device_key(dir.path(), "d", crypto::key_type::ec_p256), ctl_error);
  EXPECT_EQ(read_file(dir.path() / "d.key"), "old");
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "d.pub"));

  // An existing .pub blocks too, and no .key is left behind.
  write_new_file(dir.path() / "e.pub", "old", 0644);
  EXPECT_THROW(write_device_key(dir.path(), "e", crypto::key_type::ec_p256), ctl_error);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "e.key"));
}

TEST(KeyFilesRules, RefusesADanglingSymlink) {
  temp_dir dir;
  std::filesystem::create_symlink(dir.path() / "elsewhere", dir.path() / "s.key");
  EXPECT_THROW(write_device_key(dir.path(), "s", crypto::key_type::ec_p256), ctl_error);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "elsewhere"));
}

TEST(KeyFilesRules, RefusesIdsThatAreNotFileNames) {
  temp_dir dir;
  for (const char* id : {"", "../x", "a/b", ".hidden", "a b"}) {
    EXPECT_THROW(write_device_key(dir.path(), id, crypto::key_type::ec_p256), ctl_error) << id;
  }
}

TEST(KeyFilesRules, RemoveDeletesBoth) {
  temp_dir dir;
  const auto k = write_device_key(dir.path(), "d", crypto::key_type::ed25519);
  remove_device_key(k);
  EXPECT_FALSE(std::filesystem::exists(k.private_path));
  EXPECT_FALSE(std::filesystem::exists(k.public_path));
}

TEST(KeyFilesRules, WriteNewFileSetsTheModeDespiteUmask) {
  temp_dir dir;
  write_new_file(dir.path() / "f", "x", 0600);
  EXPECT_EQ(mode_of(dir.path() / "f"), 0600u);
}

} // namespace
} // namespace aegis::ctl
