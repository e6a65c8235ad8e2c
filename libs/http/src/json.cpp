#include "aegis/http/json.hpp"

namespace aegis::http {

unsigned http_status_of(rpc_status s) noexcept {
  switch (s) {
  case rpc_status::ok:
    return 200;
  case rpc_status::cancelled:
    return 499;
  case rpc_status::unknown:
    return 500;
  case rpc_status::invalid_argument:
    return 400;
  case rpc_status::deadline_exceeded:
    return 504;
  case rpc_status::not_found:
    return 404;
  case rpc_status::already_exists:
    return 409;
  case rpc_status::permission_denied:
    return 403;
  case rpc_status::resource_exhausted:
    return 429;
  case rpc_status::failed_precondition:
    return 400;
  case rpc_status::aborted:
    return 409;
  case rpc_status::out_of_range:
    return 400;
  case rpc_status::unimplemented:
    return 501;
  case rpc_status::internal:
    return 500;
  case rpc_status::unavailable:
    return 503;
  case rpc_status::data_loss:
    return 500;
  case rpc_status::unauthenticated:
    return 401;
  }
  return 500;
}

std::string_view name_of(rpc_status s) noexcept {
  switch (s) {
  case rpc_status::ok:
    return "OK";
  case rpc_status::cancelled:
    return "CANCELLED";
  case rpc_status::unknown:
    return "UNKNOWN";
  case rpc_status::invalid_argument:
    return "INVALID_ARGUMENT";
  case rpc_status::deadline_exceeded:
    return "DEADLINE_EXCEEDED";
  case rpc_status::not_found:
    return "NOT_FOUND";
  case rpc_status::already_exists:
    return "ALREADY_EXISTS";
  case rpc_status::permission_denied:
    return "PERMISSION_DENIED";
  case rpc_status::resource_exhausted:
    return "RESOURCE_EXHAUSTED";
  case rpc_status::failed_precondition:
    return "FAILED_PRECONDITION";
  case rpc_status::aborted:
    return "ABORTED";
  case rpc_status::out_of_range:
    return "OUT_OF_RANGE";
  case rpc_status::unimplemented:
    return "UNIMPLEMENTED";
  case rpc_status::internal:
    return "INTERNAL";
  case rpc_status::unavailable:
    return "UNAVAILABLE";
  case rpc_status::data_loss:
    return "DATA_LOSS";
  case rpc_status::unauthenticated:
    return "UNAUTHENTICATED";
  }
  return "UNKNOWN";
}

rpc_status rpc_status_for_http(unsigned http_status) noexcept {
  if (http_status >= 200 && http_status < 300) {
    return rpc_status::ok;
  }
  switch (http_status) {
  case 400:
    return rpc_status::invalid_argument;
  case 401:
    return rpc_status::unauthenticated;
  case 403:
    return rpc_status::permission_denied;
  case 404:
    return rpc_status::not_found;
  case 405: // the resource exists; this method is not implemented for it
  case 501:
    return rpc_status::unimplemented;
  case 408:
  case 504:
    return rpc_status::deadline_exceeded;
  case 409:
    return rpc_status::aborted;
  case 411: // Length Required
  case 414: // URI Too Long
  case 415: // Unsupported Media Type
  case 417: // Expectation Failed
    return rpc_status::invalid_argument;
  case 412:
    return rpc_status::failed_precondition;
  case 413:
  case 429:
  case 431:
    return rpc_status::resource_exhausted;
  case 416:
    return rpc_status::out_of_range;
  case 499:
    return rpc_status::cancelled;
  case 500:
    return rpc_status::internal;
  case 503:
    return rpc_status::unavailable;
  default:
    return rpc_status::unknown;
  }
}

namespace {

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\b':
      out += "\\b";
      break;
    case '\f':
      out += "\\f";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      if (u < 0x20 || u == 0x7f) {
        out += "\\u00";
        out += hex[u >> 4];
        out += hex[u & 0x0f];
      } else {
        out += c; // UTF-8 passes through; see error_body about invalid sequences
      }
    }
  }
  out += '"';
}

// Replaces bytes that are not well-formed UTF-8 with U+FFFD so the body is valid JSON text.
std::string sanitize_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    std::uint32_t min = 0;
    if (c < 0x80) {
      out += s[i++];
      continue;
    }
    if ((c & 0xe0) == 0xc0) {
      len = 2;
      min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      min = 0x10000;
    }
    bool ok = len != 0 && i + len <= s.size();
    std::uint32_t cp = 0;
    if (ok) {
      cp = c & (0xffu >> (len + 1));
      for (std::size_t k = 1; k < len; ++k) {
        const auto cc = static_cast<unsigned char>(s[i + k]);
        if ((cc & 0xc0) != 0x80) {
          ok = false;
          break;
        }
        cp = (cp << 6) | (cc & 0x3fu);
      }
      ok = ok && cp >= min && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
    }
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xef\xbf\xbd";
      ++i;
    }
  }
  return out;
}

std::string make_body(unsigned code, std::string_view status, std::string_view message) {
  std::string out;
  out.reserve(64 + message.size());
  out += R"({"error":{"code":)";
  out += std::to_string(code);
  out += R"(,"message":)";
  append_json_string(out, sanitize_utf8(message));
  out += R"(,"status":)";
  append_json_string(out, status);
  out += "}}";
  return out;
}

} // namespace

std::string error_body(rpc_status s, std::string_view message) {
  return make_body(http_status_of(s), name_of(s), message);
}

response error_response(rpc_status s, std::string_view message) {
  return response::json(http_status_of(s), error_body(s, message));
}

response error_response(unsigned http_status, std::string_view message) {
  return response::json(http_status,
                        make_body(http_status, name_of(rpc_status_for_http(http_status)), message));
}

} // namespace aegis::http
