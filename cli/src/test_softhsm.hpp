#pragma once

// Test support for cli: a private SoftHSM2 token. Each instance writes its own softhsm2.conf
// (token directory in a temporary directory), points SOFTHSM2_CONF of this process (and so of
// its children) at it and initialises one token with softhsm2-util.

#include "test_child_process.hpp"
#include "test_support.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace aegis::ctl::testing {

inline constexpr const char* softhsm_module = "/usr/lib/softhsm/libsofthsm2.so";
inline constexpr const char* softhsm_pin = "1234";
inline constexpr const char* softhsm_pin_env = "AEGIS_TEST_PKCS11_PIN";

// SoftHSM2 (Debian package softhsm2) is installed: its module and softhsm2-util.
inline bool softhsm_available() {
  std::error_code ec;
  return std::filesystem::exists(softhsm_module, ec) &&
         (std::filesystem::exists("/usr/bin/softhsm2-util", ec) ||
          std::filesystem::exists("/usr/local/bin/softhsm2-util", ec));
}

class softhsm_token {
public:
  explicit softhsm_token(std::string label = "T") : label_(std::move(label)) {
    const auto tokens = dir_.path() / "tokens";
    std::filesystem::create_directories(tokens);
    conf_ = dir_.path() / "softhsm2.conf";
    {
      std::ofstream f(conf_);
      f << "directories.tokendir = " << tokens.string() << "\n"
        << "objectstore.backend = file\n"
        << "log.level = ERROR\n"
        << "slots.removable = false\n";
    }
    ::setenv("SOFTHSM2_CONF", conf_.c_str(), 1);
    ::setenv(softhsm_pin_env, softhsm_pin, 1);
    child init({"softhsm2-util", "--init-token", "--free", "--label", label_, "--so-pin",
                "12345678", "--pin", softhsm_pin});
    init_code_ = init.wait_exit(60s);
    init_output_ = init.output();
  }
  ~softhsm_token() { ::unsetenv("SOFTHSM2_CONF"); }
  softhsm_token(const softhsm_token&) = delete;
  softhsm_token& operator=(const softhsm_token&) = delete;

  bool ready() const { return init_code_ == 0; }
  const std::string& init_output() const { return init_output_; }
  const std::string& label() const { return label_; }
  const std::filesystem::path& dir() const { return dir_.path(); }

private:
  temp_dir dir_;
  std::string label_;
  std::filesystem::path conf_;
  int init_code_ = -1;
  std::string init_output_;
};

} // namespace aegis::ctl::testing
