#include "aegis/ctl/keyfiles.hpp"

#include "aegis/ctl/transport.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace aegis::ctl {

namespace fs = std::filesystem;

std::optional<crypto::key_type> parse_key_type(std::string_view name) {
  if (name == "es256") {
    return crypto::key_type::ec_p256;
  }
  if (name == "rs256") {
    return crypto::key_type::rsa;
  }
  if (name == "ed25519") {
    return crypto::key_type::ed25519;
  }
  return std::nullopt;
}

std::string credential_format(crypto::key_type t) {
  switch (t) {
  case crypto::key_type::ec_p256:
    return "ES256_PEM";
  case crypto::key_type::rsa:
    return "RSA_PEM";
  case crypto::key_type::ed25519:
    return "ED25519_PEM";
  }
  return "ES256_PEM";
}

void check_file_safe_id(const std::string& id) {
  if (id.empty() || id.front() == '.' || id.size() > 255) {
    throw usage_error("device id \"" + id + "\" cannot name a key file");
  }
  for (const char ch : id) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '/' || c < 0x21 || c >= 0x7f) {
      throw usage_error("device id cannot name a key file (it holds '/', a space or a control "
                        "character)");
    }
  }
}

void write_new_file(const fs::path& path, std::string_view content, unsigned mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                        static_cast<mode_t>(mode));
  if (fd < 0) {
    const int e = errno;
    if (e == EEXIST) {
      throw ctl_error("file", path.string() + " already exists; refusing to overwrite it");
    }
    throw ctl_error("file", "cannot create " + path.string() + ": " + std::strerror(e));
  }
  // The umask may only have narrowed the mode; set it exactly.
  bool ok = ::fchmod(fd, static_cast<mode_t>(mode)) == 0;
  std::size_t done = 0;
  while (ok && done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    ok = n > 0;
    if (ok) {
      done += static_cast<std::size_t>(n);
    }
  }
  ok = ok && ::fsync(fd) == 0;
  const int e = errno;
  ok = (::close(fd) == 0) && ok;
  if (!ok) {
    std::error_code ignored;
    fs::remove(path, ignored);
    throw ctl_error("file", "cannot write " + path.string() + ": " + std::strerror(e));
  }
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ctl_error("file", "cannot read " + path.string());
  }
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) {
    throw ctl_error("file", "cannot read " + path.string());
  }
  return std::move(s).str();
}

written_key write_device_key(const fs::path& dir, const std::string& device_id,
                             crypto::key_type type, int rsa_bits) {
  check_file_safe_id(device_id);
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(dir, ec))) {
    // A new key directory is private to its owner, like the key files in it.
    if (!fs::create_directories(dir, ec) || ec) {
      throw ctl_error("file", "cannot create " + dir.string() + ": " + ec.message());
    }
    fs::permissions(dir, fs::perms::owner_all, ec);
  }
  if (!fs::is_directory(dir, ec)) {
    throw ctl_error("file", dir.string() + " is not a directory");
  }
  written_key k;
  k.private_path = dir / (device_id + ".key");
  k.public_path = dir / (device_id + ".pub");
  // Fail before generating anything when either file is in the way.
  for (const auto& p : {k.private_path, k.public_path}) {
    if (fs::exists(fs::symlink_status(p, ec))) {
      throw ctl_error("file", p.string() + " already exists; refusing to overwrite it");
    }
  }
  auto key = crypto::private_key::generate(type, rsa_bits);
  if (!key) {
    throw ctl_error("crypto", "key generation failed: " + key.error().message());
  }
  auto priv_pem = key->to_pem();
  auto pub_pem = key->public_part().to_pem();
  if (!priv_pem || !pub_pem) {
    throw ctl_error("crypto", "cannot encode the generated key");
  }
  write_new_file(k.private_path, *priv_pem, 0600);
  try {
    write_new_file(k.public_path, *pub_pem, 0644);
  } catch (...) {
    fs::remove(k.private_path, ec);
    throw;
  }
  k.public_pem = *pub_pem;
  k.format = credential_format(type);
  return k;
}

void remove_device_key(const written_key& k) noexcept {
  std::error_code ec;
  fs::remove(k.private_path, ec);
  fs::remove(k.public_path, ec);
}

} // namespace aegis::ctl
