#include "file_storage.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <utility>
#include <vector>

namespace aegis::tools {
namespace {

std::error_code last_error() {
  return {errno, std::generic_category()};
}

} // namespace

result<file_storage> file_storage::open(const std::string& primary, const std::string& secondary,
                                        const std::string& state) {
  file_storage s;
  const std::string* paths[3] = {&primary, &secondary, &state};
  for (int i = 0; i < 3; ++i) {
    s.fds_[i] = ::open(paths[i]->c_str(), O_RDWR | O_CLOEXEC);
    if (s.fds_[i] < 0) {
      return last_error();
    }
    struct stat st {};
    if (::fstat(s.fds_[i], &st) != 0) {
      return last_error();
    }
    s.sizes_[i] = static_cast<std::size_t>(st.st_size);
  }
  if (s.sizes_[2] < firmware::nv_state_size) {
    return firmware::boot_errc::bad_geometry;
  }
  return s;
}

file_storage::file_storage(file_storage&& other) noexcept
    : writes_(other.writes_), cut_after_(other.cut_after_) {
  for (int i = 0; i < 3; ++i) {
    fds_[i] = std::exchange(other.fds_[i], -1);
    sizes_[i] = other.sizes_[i];
  }
}

file_storage::~file_storage() {
  for (int fd : fds_) {
    if (fd >= 0) {
      ::close(fd);
    }
  }
}

std::size_t file_storage::size(firmware::boot_area area) const {
  switch (area) {
  case firmware::boot_area::primary:
    return sizes_[0];
  case firmware::boot_area::secondary:
    return sizes_[1];
  case firmware::boot_area::state:
    return firmware::nv_state_size;
  case firmware::boot_area::scratch:
    return sizes_[2] - firmware::nv_state_size;
  }
  return 0;
}

result<file_storage::target> file_storage::locate(firmware::boot_area area, std::size_t offset,
                                                  std::size_t length) const {
  const std::size_t area_size = size(area);
  if (offset > area_size || length > area_size - offset) {
    return firmware::boot_errc::storage_failed;
  }
  switch (area) {
  case firmware::boot_area::primary:
    return target{fds_[0], 0, area_size};
  case firmware::boot_area::secondary:
    return target{fds_[1], 0, area_size};
  case firmware::boot_area::state:
    return target{fds_[2], 0, area_size};
  case firmware::boot_area::scratch:
    return target{fds_[2], firmware::nv_state_size, area_size};
  }
  return firmware::boot_errc::storage_failed;
}

result<void> file_storage::read(firmware::boot_area area, std::size_t offset,
                                std::span<std::uint8_t> out) {
  auto t = locate(area, offset, out.size());
  if (!t) {
    return t.error();
  }
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::pread(t->fd, out.data() + done, out.size() - done,
                              static_cast<off_t>(t->base + offset + done));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return n == 0 ? std::error_code(firmware::boot_errc::storage_failed) : last_error();
    }
    done += static_cast<std::size_t>(n);
  }
  return ok();
}

result<void> file_storage::pwrite_all(int fd, std::size_t offset, const std::uint8_t* data,
                                      std::size_t n) {
  std::size_t done = 0;
  while (done < n) {
    const ssize_t w = ::pwrite(fd, data + done, n - done, static_cast<off_t>(offset + done));
    if (w < 0 && errno == EINTR) {
      continue;
    }
    if (w < 0) {
      return last_error();
    }
    done += static_cast<std::size_t>(w);
  }
  if (::fdatasync(fd) != 0) {
    return last_error();
  }
  return ok();
}

void file_storage::count_write() {
  ++writes_;
  if (cut_after_ && writes_ == *cut_after_) {
    std::_Exit(power_cut_exit_status);
  }
}

result<void> file_storage::write(firmware::boot_area area, std::size_t offset, bytes_view data) {
  auto t = locate(area, offset, data.size());
  if (!t) {
    return t.error();
  }
  if (auto r = pwrite_all(t->fd, t->base + offset, data.data(), data.size()); !r) {
    return r;
  }
  count_write();
  return ok();
}

result<void> file_storage::erase(firmware::boot_area area, std::size_t offset, std::size_t length) {
  auto t = locate(area, offset, length);
  if (!t) {
    return t.error();
  }
  const std::vector<std::uint8_t> erased(std::min<std::size_t>(length, 1u << 20), 0xff);
  for (std::size_t done = 0; done < length;) {
    const std::size_t n = std::min(erased.size(), length - done);
    const std::size_t at = t->base + offset + done;
    std::size_t written = 0;
    while (written < n) {
      const ssize_t w =
          ::pwrite(t->fd, erased.data() + written, n - written, static_cast<off_t>(at + written));
      if (w < 0 && errno == EINTR) {
        continue;
      }
      if (w < 0) {
        return last_error();
      }
      written += static_cast<std::size_t>(w);
    }
    done += n;
  }
  if (::fdatasync(t->fd) != 0) {
    return last_error();
  }
  count_write();
  return ok();
}

} // namespace aegis::tools
