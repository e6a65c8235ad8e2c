#pragma once

// Test helpers shared by this module's tests (header only: not part of the library).

#include "aegis/crypto/aead.hpp"
#include "aegis/storage_sqlite/store.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <string_view>

namespace aegis::storage_sqlite::testing {

// A fresh directory under ::testing::TempDir(), removed with everything in it on destruction.
class temp_dir {
public:
  temp_dir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::path(::testing::TempDir()) /
            ("aegis-sqlite-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path db() const { return path_ / default_file_name; }

private:
  std::filesystem::path path_;
};

inline crypto::master_key test_master_key(std::uint8_t fill = 0x42) {
  auto k = crypto::master_key::from_bytes(bytes(crypto::aead_key_size, fill));
  if (!k) {
    throw std::runtime_error("master key: " + k.error().message());
  }
  return std::move(*k);
}

inline std::unique_ptr<sqlite_store> open_store(const std::filesystem::path& file,
                                                const crypto::master_key& key,
                                                durability sync = durability::process_crash) {
  auto s = sqlite_store::open({file, sync}, key);
  if (!s) {
    throw std::runtime_error("open " + file.string() + ": " + s.error().message());
  }
  return std::move(*s);
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The raw bytes of the database and its -wal and -shm files (those that exist).
inline std::string raw_database_bytes(const std::filesystem::path& db) {
  std::string all;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const std::filesystem::path p = db.string() + suffix;
    if (std::filesystem::exists(p)) {
      all += read_file(p);
    }
  }
  return all;
}

} // namespace aegis::storage_sqlite::testing
