#pragma once

// Google's JSON error shape (google.rpc.Status over HTTP), used by every Aegis HTTP API:
//   {"error": {"code": 404, "message": "device not found", "status": "NOT_FOUND"}}
// and the canonical mapping between HTTP status and google.rpc.Code names.

#include "aegis/http/server.hpp"

#include <string>
#include <string_view>

namespace aegis::http {

enum class rpc_status {
  ok,                  // 200
  cancelled,           // 499
  unknown,             // 500
  invalid_argument,    // 400
  deadline_exceeded,   // 504
  not_found,           // 404
  already_exists,      // 409
  permission_denied,   // 403
  resource_exhausted,  // 429
  failed_precondition, // 400
  aborted,             // 409
  out_of_range,        // 400
  unimplemented,       // 501
  internal,            // 500
  unavailable,         // 503
  data_loss,           // 500
  unauthenticated,     // 401
};

unsigned http_status_of(rpc_status s) noexcept;
std::string_view name_of(rpc_status s) noexcept; // "NOT_FOUND"
// The conventional rpc_status for an HTTP status (413 and 431 map to resource_exhausted... as
// Google does: out-of-range statuses become unknown).
rpc_status rpc_status_for_http(unsigned http_status) noexcept;

// {"error":{"code":<http>,"message":...,"status":...}}; `message` is JSON-escaped.
std::string error_body(rpc_status s, std::string_view message);
response error_response(rpc_status s, std::string_view message);
// With an explicit HTTP status (413, 431, 405...) and the status name that fits it.
response error_response(unsigned http_status, std::string_view message);

} // namespace aegis::http
