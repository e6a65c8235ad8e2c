#pragma once

// How aegisctl reaches the admin API: one request, one response. The HTTPS implementation
// (Boost.Beast over TLS 1.2+) lives in one translation unit; tests substitute a fake.

#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

namespace aegis::ctl {

// Exit codes of aegisctl.
inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1; // API, network or local I/O error
inline constexpr int exit_usage = 2;   // bad arguments, missing profile, unsupported option

// Every failure aegisctl reports: `status` is the API status ("NOT_FOUND"), "HTTP <code>" when
// the server sent no error document, or a local category ("network", "tls", "usage", "file").
class ctl_error : public std::runtime_error {
public:
  ctl_error(std::string status, const std::string& message, int exit_code = exit_failure)
      : std::runtime_error(message), status_(std::move(status)), exit_code_(exit_code) {}
  const std::string& status() const noexcept { return status_; }
  int exit_code() const noexcept { return exit_code_; }

private:
  std::string status_;
  int exit_code_;
};

inline ctl_error usage_error(const std::string& message) {
  return {"usage", message, exit_usage};
}

struct request {
  std::string method;  // "GET", "POST", "PATCH", "DELETE"
  std::string target;  // path and query, e.g. "/api/v1/projects?pageSize=10"
  nlohmann::json body; // null: no body
  friend bool operator==(const request&, const request&) = default;
};

struct response {
  unsigned status = 0;
  std::string content_type;
  std::string body;
};

class transport {
public:
  virtual ~transport() = default;
  // Throws ctl_error on network/TLS failure; any HTTP status is a response.
  virtual response send(const request& req) = 0;
};

struct server_url {
  std::string host; // without brackets for IPv6
  std::string port;
  bool host_is_ip = false;
  friend bool operator==(const server_url&, const server_url&) = default;
};
// "https://host[:port]" (default port 443, IPv6 as [::1]); anything else is a usage error.
server_url parse_server_url(const std::string& url);

struct endpoint {
  std::string server;        // https://host:port
  std::string ca_file;       // the only trust anchors unless system_roots
  bool system_roots = false; // also trust the system store
  std::string token;         // sent as Authorization: Bearer; never printed
  std::chrono::seconds timeout{30};
};

std::unique_ptr<transport> make_https_transport(const endpoint& ep);

} // namespace aegis::ctl
