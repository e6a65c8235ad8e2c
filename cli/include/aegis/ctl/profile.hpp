#pragma once

// The login profile: server URL, CA file, token and default project/location, kept in a JSON
// file only its owner can read ($AEGISCTL_CONFIG or ~/.config/aegis/aegisctl.json).

#include <filesystem>
#include <string>

namespace aegis::ctl {

struct profile {
  std::string server;
  std::string token;
  std::string ca_file;
  bool system_roots = false;
  std::string project;
  std::string location;
  friend bool operator==(const profile&, const profile&) = default;
};

// $AEGISCTL_CONFIG, else $HOME/.config/aegis/aegisctl.json. usage error without either.
std::filesystem::path default_profile_path();

// Throws ctl_error: "file" when unreadable or malformed, "usage" (exit 2) when group or other
// may read or write it, or when it is not a regular file owned by the current user.
profile load_profile(const std::filesystem::path& path);

// Writes atomically (temporary file + rename) with mode 0600, creating missing directories
// with 0700.
void save_profile(const std::filesystem::path& path, const profile& p);

} // namespace aegis::ctl
