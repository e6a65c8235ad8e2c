#include "aegis/ctl/profile.hpp"

#include "aegis/ctl/keyfiles.hpp"
#include "aegis/ctl/transport.hpp"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace aegis::ctl {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path default_profile_path() {
  if (const char* p = std::getenv("AEGISCTL_CONFIG"); p != nullptr && *p != '\0') {
    return p;
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    return fs::path(home) / ".config" / "aegis" / "aegisctl.json";
  }
  throw usage_error("neither AEGISCTL_CONFIG nor HOME is set; pass --config");
}

profile load_profile(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    const int e = errno;
    if (e == ENOENT) {
      throw usage_error("no profile at " + path.string() + "; run `aegisctl login` first");
    }
    throw ctl_error("file", "cannot open profile " + path.string() + ": " + std::strerror(e));
  }
  struct fd_guard {
    int fd;
    ~fd_guard() { ::close(fd); }
  } guard{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    throw usage_error("profile " + path.string() + " is not a regular file");
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    throw usage_error("profile " + path.string() +
                      " is accessible by group or others; run chmod 600 on it");
  }
  if (st.st_uid != ::geteuid()) {
    throw usage_error("profile " + path.string() + " is owned by another user");
  }
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      throw ctl_error("file", "cannot read profile " + path.string());
    }
    if (n == 0) {
      break;
    }
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > 1 << 20) {
      throw ctl_error("file", "profile " + path.string() + " is too large");
    }
  }
  const json j = json::parse(text, nullptr, false);
  if (!j.is_object()) {
    throw ctl_error("file", "profile " + path.string() + " is not a JSON object");
  }
  profile p;
  try {
    p.server = j.value("server", "");
    p.token = j.value("token", "");
    p.ca_file = j.value("caFile", "");
    p.system_roots = j.value("systemRoots", false);
    p.project = j.value("project", "");
    p.location = j.value("location", "");
  } catch (const json::exception&) {
    throw ctl_error("file", "profile " + path.string() + " has a field of the wrong type");
  }
  return p;
}

void save_profile(const fs::path& path, const profile& p) {
  json j = {{"server", p.server}, {"token", p.token}, {"caFile", p.ca_file}};
  if (p.system_roots) {
    j["systemRoots"] = true;
  }
  if (!p.project.empty()) {
    j["project"] = p.project;
  }
  if (!p.location.empty()) {
    j["location"] = p.location;
  }
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    // Each directory created here is 0700 (the config directory holds a secret).
    fs::path partial;
    for (const auto& part : dir) {
      partial /= part;
      if (!fs::exists(partial, ec)) {
        if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) {
          throw ctl_error("file",
                          "cannot create " + partial.string() + ": " + std::strerror(errno));
        }
      }
    }
  }
  fs::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid());
  fs::remove(tmp, ec);
  write_new_file(tmp, j.dump(2) + "\n", 0600);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    fs::remove(tmp, ec);
    throw ctl_error("file", "cannot write profile " + path.string() + ": " + std::strerror(e));
  }
}

} // namespace aegis::ctl
