#pragma once

// Why this layer closed a connection (what net::connection_handler::on_closed reports when the
// HTTP layer, not the peer or the runtime, ended it). Private to libs/http.

#include "aegis/base/error.hpp"

#include <string_view>

namespace aegis::http::detail {

enum class http_errc {
  response_close = 1, // the response or the request said "Connection: close" (or HTTP/1.0)
  bad_request,        // a request refused with 4xx/5xx by the parser; the connection is closed
  request_timeout,    // request_timeout elapsed before the request was complete (408)
  pipeline_overflow,  // more than max_pipelined_bytes arrived while a response was pending
  send_refused,       // the outbox refused a response (over limits::outbox_max)
};

inline std::string_view describe(http_errc e) noexcept {
  switch (e) {
  case http_errc::response_close:
    return "connection closed after the response";
  case http_errc::bad_request:
    return "malformed or refused request";
  case http_errc::request_timeout:
    return "request not complete within the request timeout";
  case http_errc::pipeline_overflow:
    return "too many pipelined bytes";
  case http_errc::send_refused:
    return "response refused by the outbox";
  }
  return "unknown http error";
}

} // namespace aegis::http::detail

AEGIS_ERROR_ENUM(aegis::http::detail, http_errc, "aegis.http", describe)
