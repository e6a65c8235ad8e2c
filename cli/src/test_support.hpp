#pragma once

// Test support for cli: temporary directories and a scripted transport.

#include "aegis/ctl/transport.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <deque>
#include <filesystem>
#include <memory>
#include <string>
#include <sys/stat.h>
#include <vector>

namespace aegis::ctl::testing {

class temp_dir {
public:
  temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "aegisctl-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      throw std::runtime_error("mkdtemp");
    }
    path_ = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const { return path_; }

private:
  std::filesystem::path path_;
};

// The run of `allowed` characters that follows the first `marker` in `text` (empty when the
// marker is absent). Used instead of <regex>, which g++ 12 cannot compile cleanly at -O1 with
// -Werror (maybe-uninitialized inside std::function).
inline std::string token_after(const std::string& text, const std::string& marker,
                               const std::string& allowed) {
  const auto at = text.find(marker);
  if (at == std::string::npos) {
    return {};
  }
  const auto start = at + marker.size();
  const auto end = text.find_first_not_of(allowed, start);
  return text.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

inline unsigned mode_of(const std::filesystem::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) {
    return 0xFFFF;
  }
  return static_cast<unsigned>(st.st_mode & 07777);
}

// Records every request and answers from a script (200 {} when the script is empty).
struct fake_server {
  std::vector<request> requests;
  std::vector<endpoint> endpoints;
  std::deque<response> answers;

  void answer(unsigned status, std::string body) {
    answers.push_back(response{status, "application/json", std::move(body)});
  }
};

class fake_transport final : public transport {
public:
  explicit fake_transport(fake_server& s) : s_(s) {}
  response send(const request& req) override {
    s_.requests.push_back(req);
    if (s_.answers.empty()) {
      return response{200, "application/json", "{}"};
    }
    response r = s_.answers.front();
    s_.answers.pop_front();
    return r;
  }

private:
  fake_server& s_;
};

} // namespace aegis::ctl::testing
