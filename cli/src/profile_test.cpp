#include "aegis/ctl/profile.hpp"

#include "aegis/ctl/transport.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

namespace aegis::ctl {
namespace {

using testing::mode_of;
using testing::temp_dir;

profile sample() {
  profile p;
  p.server = "https://127.0.0.1:8443";
  p.token = "aeg_abcdefghijkl_secret";
  p.ca_file = "/etc/aegis/ca.crt";
  p.project = "p1";
  p.location = "global";
  return p;
}

TEST(Profile, RoundTripsWithMode0600AndCreates0700Directories) {
  temp_dir dir;
  const auto path = dir.path() / "a" / "b" / "aegisctl.json";
  save_profile(path, sample());
  EXPECT_EQ(mode_of(path), 0600u);
  EXPECT_EQ(mode_of(dir.path() / "a"), 0700u);
  EXPECT_EQ(mode_of(dir.path() / "a" / "b"), 0700u);
  EXPECT_EQ(load_profile(path), sample());
}

TEST(Profile, OverwritesKeepingTheMode) {
  temp_dir dir;
  const auto path = dir.path() / "p.json";
  save_profile(path, sample());
  auto p = sample();
  p.project = "other";
  save_profile(path, p);
  EXPECT_EQ(mode_of(path), 0600u);
  EXPECT_EQ(load_profile(path).project, "other");
}

TEST(Profile, RefusesAProfileGroupOrOtherCanAccess) {
  temp_dir dir;
  const auto path = dir.path() / "p.json";
  save_profile(path, sample());
  for (const auto mode : {0640, 0604, 0660, 0644, 0620}) {
    std::filesystem::permissions(path, static_cast<std::filesystem::perms>(mode));
    try {
      (void)load_profile(path);
      ADD_FAILURE() << "mode " << std::oct << mode << " accepted";
    } catch (const ctl_error& e) {
      EXPECT_EQ(e.exit_code(), exit_usage);
      EXPECT_NE(std::string(e.what()).find("chmod 600"), std::string::npos);
      // The refusal never shows the token.
      EXPECT_EQ(std::string(e.what()).find("secret"), std::string::npos);
    }
  }
  std::filesystem::permissions(path, static_cast<std::filesystem::perms>(0400));
  EXPECT_EQ(load_profile(path), sample());
}

TEST(Profile, MissingProfileIsAUsageError) {
  temp_dir dir;
  try {
    (void)load_profile(dir.path() / "none.json");
    ADD_FAILURE();
  } catch (const ctl_error& e) {
    EXPECT_EQ(e.exit_code(), exit_usage);
    EXPECT_NE(std::string(e.what()).find("aegisctl login"), std::string::npos);
  }
}

TEST(Profile, MalformedProfileIsAnError) {
  temp_dir dir;
  const auto path = dir.path() / "p.json";
  { std::ofstream(path) << "not json"; }
  std::filesystem::permissions(path, static_cast<std::filesystem::perms>(0600));
  EXPECT_THROW((void)load_profile(path), ctl_error);
  { std::ofstream(path) << R"({"server": 3})"; }
  EXPECT_THROW((void)load_profile(path), ctl_error);
}

TEST(Profile, RefusesASymlink) {
  temp_dir dir;
  save_profile(dir.path() / "real.json", sample());
  std::filesystem::create_symlink(dir.path() / "real.json", dir.path() / "link.json");
  EXPECT_THROW((void)load_profile(dir.path() / "link.json"), ctl_error);
}

TEST(Profile, DefaultPathFollowsTheEnvironment) {
  ::setenv("AEGISCTL_CONFIG", "/x/y.json", 1);
  EXPECT_EQ(default_profile_path(), "/x/y.json");
  ::unsetenv("AEGISCTL_CONFIG");
  ::setenv("HOME", "/home/op", 1);
  EXPECT_EQ(default_profile_path(), "/home/op/.config/aegis/aegisctl.json");
}

} // namespace
} // namespace aegis::ctl
