#include "tool_support.hpp"

#include "aegis/firmware/errors.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <iterator>

namespace aegis::tools {

result<bytes> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return std::error_code(errno != 0 ? errno : ENOENT, std::generic_category());
  }
  bytes data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) {
    return std::make_error_code(std::errc::io_error);
  }
  return data;
}

result<void> write_file(const std::string& path, bytes_view data, file_mode mode, bool overwrite) {
  const mode_t perms = mode == file_mode::secret ? 0600 : 0644;
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (overwrite ? O_TRUNC : O_EXCL);
  const int fd = ::open(path.c_str(), flags, perms);
  if (fd < 0) {
    return std::error_code(errno, std::generic_category());
  }
  // An existing file keeps its mode through O_TRUNC; a secret must not stay readable.
  if (mode == file_mode::secret && ::fchmod(fd, 0600) != 0) {
    const int err = errno;
    ::close(fd);
    return std::error_code(err, std::generic_category());
  }
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      const int err = errno;
      ::close(fd);
      return std::error_code(err, std::generic_category());
    }
    done += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0) {
    return std::error_code(errno, std::generic_category());
  }
  return ok();
}

std::optional<std::uint64_t> parse_uint(std::string_view text) {
  if (text.empty() || text.size() > 20) {
    return std::nullopt;
  }
  const std::string s(text);
  int base = 10;
  std::size_t start = 0;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    start = 2;
  }
  for (std::size_t i = start; i < s.size(); ++i) {
    const char c = s[i];
    const bool digit = c >= '0' && c <= '9';
    const bool hex = (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!digit && !(base == 16 && hex)) {
      return std::nullopt;
    }
  }
  errno = 0;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s.c_str() + start, &end, base);
  if (errno != 0 || end != s.c_str() + s.size()) {
    return std::nullopt;
  }
  return static_cast<std::uint64_t>(v);
}

result<crypto::private_key> load_private_key(const std::string& path) {
  auto text = read_file(path);
  if (!text) {
    return text.error();
  }
  return crypto::private_key::from_pem(as_string_view(*text));
}

result<firmware::key_ring> load_key_ring(const std::vector<std::string>& paths) {
  std::vector<crypto::public_key> keys;
  for (const auto& path : paths) {
    auto text = read_file(path);
    if (!text) {
      return text.error();
    }
    const std::string_view pem = as_string_view(*text);
    if (pem.find("PRIVATE KEY") != std::string_view::npos) {
      auto priv = crypto::private_key::from_pem(pem);
      if (!priv) {
        return priv.error();
      }
      keys.push_back(priv->public_part());
    } else {
      auto pub = crypto::public_key::from_pem(pem);
      if (!pub) {
        return pub.error();
      }
      keys.push_back(*pub);
    }
  }
  return firmware::key_ring::make(std::move(keys));
}

std::string error_text(const std::error_code& ec) {
  const std::string name = firmware::code_name(ec);
  if (name == ec.message()) {
    return name;
  }
  return name + ": " + ec.message();
}

} // namespace aegis::tools
