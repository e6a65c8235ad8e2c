#include "aegis/net/errors.hpp"

namespace aegis::net {

std::string_view describe(net_errc e) noexcept {
  switch (e) {
  case net_errc::peer_closed:
    return "peer closed the connection";
  case net_errc::peer_truncated:
    return "peer closed the connection without TLS close_notify";
  case net_errc::handshake_failed:
    return "TLS handshake failed";
  case net_errc::handshake_timeout:
    return "TLS handshake deadline expired";
  case net_errc::tls_failed:
    return "TLS protocol error";
  case net_errc::deadline_expired:
    return "protocol deadline expired";
  case net_errc::idle_timeout:
    return "idle timeout";
  case net_errc::server_shutdown:
    return "server shutting down";
  case net_errc::shutdown_forced:
    return "closed at the end of the shutdown drain timeout";
  case net_errc::handler_failed:
    return "connection handler failed";
  case net_errc::plaintext_not_allowed:
    return "plain-text listener not explicitly allowed";
  case net_errc::bad_listener_options:
    return "bad listener options";
  case net_errc::server_stopped:
    return "server stopped";
  }
  return "unknown net error";
}

std::string_view describe(tls_errc e) noexcept {
  switch (e) {
  case tls_errc::no_certificates:
    return "no server certificate configured";
  case tls_errc::cannot_read_file:
    return "cannot read certificate or key file";
  case tls_errc::bad_certificate:
    return "no valid PEM certificate in chain file";
  case tls_errc::bad_private_key:
    return "no valid unencrypted PEM private key in key file";
  case tls_errc::key_mismatch:
    return "private key does not match certificate";
  case tls_errc::setup_failed:
    return "OpenSSL refused a TLS setting";
  }
  return "unknown TLS configuration error";
}

} // namespace aegis::net
