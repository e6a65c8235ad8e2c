// The RFC 6455 opening handshake (websocket.hpp). SHA-1 for Sec-WebSocket-Accept comes from
// OpenSSL's EVP interface (libs/crypto offers no SHA-1: nothing else in Aegis may use it; here it
// is not a security primitive, only the RFC's fixed key transformation).

#include "aegis/http/websocket.hpp"

#include <boost/beast/core/string.hpp>

#include <openssl/evp.h>

#include <memory>
#include <stdexcept>

namespace aegis::http::websocket {

namespace {

// RFC 6455 §1.3.
constexpr std::string_view accept_guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// Calls `f` for each element of every comma-separated header named `name`; stops when it
// returns true, and returns whether it did.
template <class F>
bool any_token(const header_fields& headers, std::string_view name, F&& f) {
  for (const auto& [n, v] : headers) {
    if (!boost::beast::iequals(n, name)) {
      continue;
    }
    std::string_view rest = v;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      const std::string_view token = trim(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
      if (f(token)) {
        return true;
      }
    }
  }
  return false;
}

handshake_result refuse(unsigned status, std::string message) {
  handshake_result r;
  r.status = status;
  r.message = std::move(message);
  return r;
}

} // namespace

bool wants_upgrade(const header_fields& headers) {
  return any_token(headers, "Upgrade",
                   [](std::string_view t) { return boost::beast::iequals(t, "websocket"); });
}

handshake_result check_handshake(std::string_view method, unsigned http_version,
                                 const header_fields& headers, std::string_view subprotocol) {
  if (method != "GET") {
    return refuse(400, "a WebSocket handshake must be a GET");
  }
  if (http_version < 11) {
    return refuse(400, "a WebSocket handshake needs HTTP/1.1");
  }
  if (!wants_upgrade(headers)) {
    return refuse(400, "Upgrade: websocket missing");
  }
  if (!any_token(headers, "Connection",
                 [](std::string_view t) { return boost::beast::iequals(t, "upgrade"); })) {
    return refuse(400, "Connection: upgrade missing");
  }
  std::size_t versions = 0;
  bool version_13 = false;
  std::size_t keys = 0;
  std::string_view key;
  for (const auto& [n, v] : headers) {
    if (boost::beast::iequals(n, "Sec-WebSocket-Version")) {
      ++versions;
      version_13 = trim(v) == "13";
    } else if (boost::beast::iequals(n, "Sec-WebSocket-Key")) {
      ++keys;
      key = trim(v);
    }
  }
  // RFC 6455 §4.4: an unsupported version is answered 426 with the versions we speak.
  if (versions != 1 || !version_13) {
    return refuse(426, "Sec-WebSocket-Version must be 13");
  }
  if (keys != 1) {
    return refuse(400, "exactly one Sec-WebSocket-Key is required");
  }
  const auto nonce = base64_decode(key);
  if (!nonce || nonce->size() != 16) {
    return refuse(400, "Sec-WebSocket-Key must be base64 of 16 bytes");
  }
  if (!any_token(headers, "Sec-WebSocket-Protocol",
                 [&](std::string_view t) { return t == subprotocol; })) {
    return refuse(400, "Sec-WebSocket-Protocol must offer \"" + std::string(subprotocol) + "\"");
  }
  handshake_result r;
  r.accepted = true;
  r.status = 101;
  r.accept = accept_value(key);
  return r;
}

std::string accept_value(std::string_view key) {
  const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                    &EVP_MD_CTX_free);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha1(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), key.data(), key.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), accept_guid.data(), accept_guid.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), digest, &size) != 1) {
    throw std::runtime_error("SHA-1 unavailable for Sec-WebSocket-Accept");
  }
  return base64_encode(bytes_view(digest, size));
}

std::string switching_protocols(std::string_view accept, std::string_view subprotocol) {
  std::string out = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\nSec-WebSocket-Accept: ";
  out += accept;
  out += "\r\nSec-WebSocket-Protocol: ";
  out += subprotocol;
  out += "\r\n\r\n";
  return out;
}

} // namespace aegis::http::websocket
