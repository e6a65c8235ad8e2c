#pragma once

// boot_storage over files, for Linux-class devices: one file per slot, and a state file holding
// the two NV state records followed by the swap scratch sector:
//
//   state file: [0, nv_state_size) NV records | [nv_state_size, +sector) scratch
//
// Every write and erase is followed by fdatasync, so that when it returns it has reached the
// disk: the boot engine's journal relies on each step being durable before the next.

#include "aegis/base/error.hpp"
#include "aegis/firmware/boot.hpp"

#include <cstddef>
#include <optional>
#include <string>

namespace aegis::tools {

class file_storage final : public firmware::boot_storage {
public:
  static result<file_storage> open(const std::string& primary, const std::string& secondary,
                                   const std::string& state);
  file_storage(file_storage&& other) noexcept;
  file_storage& operator=(file_storage&&) = delete;
  file_storage(const file_storage&) = delete;
  file_storage& operator=(const file_storage&) = delete;
  ~file_storage() override;

  // Test hook for the end-to-end power-cut run: after the nth write or erase has reached the
  // disk, the process exits at once with power_cut_exit_status, as if power had failed.
  void cut_power_after_for_test(std::size_t n) { cut_after_ = n; }
  static constexpr int power_cut_exit_status = 99;
  std::size_t writes() const noexcept { return writes_; }

  // firmware::boot_storage
  std::size_t size(firmware::boot_area area) const override;
  result<void> read(firmware::boot_area area, std::size_t offset,
                    std::span<std::uint8_t> out) override;
  result<void> write(firmware::boot_area area, std::size_t offset, bytes_view data) override;
  result<void> erase(firmware::boot_area area, std::size_t offset, std::size_t length) override;

private:
  file_storage() = default;
  struct target {
    int fd;
    std::size_t base;
    std::size_t size;
  };
  result<target> locate(firmware::boot_area area, std::size_t offset, std::size_t length) const;
  result<void> pwrite_all(int fd, std::size_t offset, const std::uint8_t* data, std::size_t n);
  void count_write();

  int fds_[3] = {-1, -1, -1}; // primary, secondary, state
  std::size_t sizes_[3] = {0, 0, 0};
  std::size_t writes_ = 0;
  std::optional<std::size_t> cut_after_;
};

} // namespace aegis::tools
