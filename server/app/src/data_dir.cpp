#include "aegis/app/data_dir.hpp"

#include "aegis/base/log.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace aegis::app {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view ca_key_purpose = "aegis/ca-key";
constexpr std::string_view ca_key_aad = "aegis ca private key v1";
constexpr auto ca_validity = std::chrono::hours(24 * 365 * 10);

[[noreturn]] void fail(const fs::path& path, std::string_view what) {
  throw data_dir_error(fmt::format("{}: {}", path.string(), what));
}

[[noreturn]] void fail_errno(const fs::path& path, std::string_view action) {
  fail(path, fmt::format("{}: {}", action, std::strerror(errno)));
}

template <class T>
T value_or_fail(result<T> r, const fs::path& path, std::string_view what) {
  if (!r) {
    fail(path, fmt::format("{}: {}", what, r.error().message()));
  }
  return std::move(r).value();
}

void ensure_private_dir(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) {
      fail(dir, fmt::format("cannot create directory: {}", ec.message()));
    }
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
    if (ec) {
      fail(dir, fmt::format("cannot restrict permissions: {}", ec.message()));
    }
    return;
  }
  if (!fs::is_directory(dir, ec)) {
    fail(dir, "exists and is not a directory");
  }
  const auto perms = fs::status(dir, ec).permissions();
  if ((perms & (fs::perms::group_write | fs::perms::others_write)) != fs::perms::none) {
    fail(dir, "is writable by group or others; run: chmod 700 on it");
  }
}

// Secrets must not be readable by anyone but the owner; a file that is, may already have
// leaked, so aegisd refuses to start rather than quietly tightening it.
void check_secret_file(const fs::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    fail_errno(path, "cannot stat");
  }
  if (!S_ISREG(st.st_mode)) {
    fail(path, "is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    fail(path, fmt::format("has mode {:o}; a secret must be readable by its owner only (chmod 600)",
                           st.st_mode & 0777));
  }
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    fail(path, "cannot open");
  }
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Writes via a temporary file and rename, so a crash never leaves a half-written key behind.
void write_file_atomically(const fs::path& path, bytes_view data, mode_t mode) {
  const fs::path tmp = path.string() + ".tmp";
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) {
    fail_errno(tmp, "cannot create");
  }
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      ::close(fd);
      fail_errno(tmp, "cannot write");
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fchmod(fd, mode) != 0 || ::fsync(fd) != 0) {
    ::close(fd);
    fail_errno(tmp, "cannot sync");
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    fail_errno(path, "cannot rename into place");
  }
  const int dir_fd = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

crypto::master_key open_or_create_master_key(const fs::path& path, bool& created) {
  if (fs::exists(path)) {
    check_secret_file(path);
    const std::string raw = read_file(path);
    return value_or_fail(crypto::master_key::from_bytes(as_bytes(raw)), path,
                         "not a valid master key (expected 32 bytes)");
  }
  auto key = value_or_fail(crypto::master_key::generate(), path, "cannot generate master key");
  write_file_atomically(path, key.raw(), 0600);
  created = true;
  return key;
}

crypto::certificate_authority
open_or_create_ca(const data_dir_paths& paths, const crypto::master_key& master, const clock& clk) {
  const auto sealing_key =
      value_or_fail(master.derive(ca_key_purpose), paths.master_key, "cannot derive CA key");
  const bool have_cert = fs::exists(paths.ca_cert);
  const bool have_key = fs::exists(paths.ca_key_sealed);
  if (have_cert != have_key) {
    fail(have_cert ? paths.ca_key_sealed : paths.ca_cert,
         "is missing while its counterpart exists; restore it from backup or move the ca/ "
         "directory away to create a new CA (devices will need the new root)");
  }
  if (have_cert) {
    check_secret_file(paths.ca_key_sealed);
    auto cert = value_or_fail(crypto::certificate::from_pem(read_file(paths.ca_cert)),
                              paths.ca_cert, "not a valid certificate");
    const std::string sealed = read_file(paths.ca_key_sealed);
    auto der =
        value_or_fail(sealing_key.open(as_bytes(sealed), as_bytes(ca_key_aad)), paths.ca_key_sealed,
                      "cannot unseal (wrong master key or tampered file)");
    auto key = value_or_fail(crypto::private_key::from_der(der.view()), paths.ca_key_sealed,
                             "not a valid private key");
    return value_or_fail(crypto::certificate_authority::load(std::move(cert), std::move(key)),
                         paths.ca_cert, "CA certificate and key do not belong together");
  }
  auto suffix = value_or_fail(crypto::random_bytes(4), paths.ca_cert, "random");
  auto ca =
      value_or_fail(crypto::certificate_authority::create(
                        fmt::format("Aegis CA {}", to_hex(suffix)), ca_validity, clk.wall_now()),
                    paths.ca_cert, "cannot create CA");
  auto key_der = value_or_fail(ca.key().to_der(), paths.ca_key_sealed, "cannot encode CA key");
  auto sealed = value_or_fail(sealing_key.seal(key_der, as_bytes(ca_key_aad)), paths.ca_key_sealed,
                              "cannot seal CA key");
  std::fill(key_der.begin(), key_der.end(), std::uint8_t{0});
  write_file_atomically(paths.ca_key_sealed, sealed, 0600);
  const std::string pem =
      value_or_fail(ca.cert().to_pem(), paths.ca_cert, "cannot encode CA certificate");
  write_file_atomically(paths.ca_cert, as_bytes(pem), 0644);
  return ca;
}

// True when the existing server certificate is ours, valid for long enough and covers every
// configured name; otherwise it is reissued.
bool server_cert_usable(const data_dir_paths& paths, const crypto::certificate_authority& ca,
                        const tls_config& tls, const clock& clk) {
  if (!fs::exists(paths.server_cert) || !fs::exists(paths.server_key)) {
    return false;
  }
  check_secret_file(paths.server_key);
  auto chain = crypto::certificate::chain_from_pem(read_file(paths.server_cert));
  if (!chain || chain->empty()) {
    return false;
  }
  const auto& leaf = chain->front();
  crypto::trust_store store;
  if (!store.add_anchor(ca.cert())) {
    return false;
  }
  const auto now = clk.wall_now();
  if (!store.verify(leaf, {}, crypto::cert_purpose::tls_server, now)) {
    return false;
  }
  if (leaf.not_after() - now < tls.renew_before) {
    return false;
  }
  const auto dns = leaf.dns_names();
  const auto ips = leaf.ip_addresses();
  for (const auto& name : tls.server_dns_names) {
    if (std::find(dns.begin(), dns.end(), name) == dns.end()) {
      return false;
    }
  }
  for (const auto& ip : tls.server_ip_addresses) {
    if (std::find(ips.begin(), ips.end(), ip) == ips.end()) {
      return false;
    }
  }
  auto key = crypto::private_key::from_pem(read_file(paths.server_key));
  return key && key->public_part() == leaf.subject_public_key();
}

void issue_server_cert(const data_dir_paths& paths, const crypto::certificate_authority& ca,
                       const tls_config& tls, const clock& clk) {
  auto key = value_or_fail(crypto::private_key::generate(crypto::key_type::ec_p256),
                           paths.server_key, "cannot generate server key");
  crypto::server_cert_request req;
  req.dns_names = tls.server_dns_names;
  req.ip_addresses = tls.server_ip_addresses;
  auto cert = value_or_fail(ca.issue_server_certificate(key.public_part(), req, clk.wall_now()),
                            paths.server_cert, "cannot issue server certificate");
  const std::string key_pem =
      value_or_fail(key.to_pem(), paths.server_key, "cannot encode server key");
  write_file_atomically(paths.server_key, as_bytes(key_pem), 0600);
  const std::string chain =
      value_or_fail(cert.to_pem(), paths.server_cert, "cannot encode certificate") +
      value_or_fail(ca.cert().to_pem(), paths.ca_cert, "cannot encode CA certificate");
  write_file_atomically(paths.server_cert, as_bytes(chain), 0644);
}

} // namespace

data_dir_paths::data_dir_paths(const fs::path& dir)
    : root(dir), master_key(dir / "master.key"), ca_cert(dir / "ca" / "ca.crt"),
      ca_key_sealed(dir / "ca" / "ca.key.sealed"), server_cert(dir / "tls" / "server.crt"),
      server_key(dir / "tls" / "server.key") {}

data_dir open_data_dir(const config& cfg, const clock& clk) {
  const ::mode_t old_mask = ::umask(077);
  struct umask_restore {
    ::mode_t mask;
    ~umask_restore() { ::umask(mask); }
  } restore{old_mask};

  data_dir_paths paths(cfg.data_dir);
  ensure_private_dir(paths.root);
  ensure_private_dir(paths.ca_cert.parent_path());
  ensure_private_dir(paths.server_cert.parent_path());

  bool created = false;
  auto master = open_or_create_master_key(paths.master_key, created);
  auto ca = open_or_create_ca(paths, master, clk);

  fs::path cert_file = paths.server_cert;
  fs::path key_file = paths.server_key;
  bool renewed = false;
  if (!cfg.tls.cert_file.empty()) {
    cert_file = cfg.tls.cert_file;
    key_file = cfg.tls.key_file;
    check_secret_file(key_file);
    auto chain = value_or_fail(crypto::certificate::chain_from_pem(read_file(cert_file)), cert_file,
                               "not a PEM certificate chain");
    auto key = value_or_fail(crypto::private_key::from_pem(read_file(key_file)), key_file,
                             "not a usable private key");
    if (chain.empty() || !(key.public_part() == chain.front().subject_public_key())) {
      fail(key_file, "does not belong to the first certificate of tls.cert_file");
    }
  } else if (!server_cert_usable(paths, ca, cfg.tls, clk)) {
    issue_server_cert(paths, ca, cfg.tls, clk);
    renewed = !created;
  }
  return data_dir{std::move(paths),    std::move(master), std::move(ca), std::move(cert_file),
                  std::move(key_file), created,           renewed};
}

} // namespace aegis::app
