#pragma once

// Error values of libs/net. `net_errc` doubles as the reason a connection closed (what
// connection_handler::on_closed receives unless the handler closed with its own code or the
// socket failed with a system error); `tls_errc` says why a TLS configuration was refused.

#include "aegis/base/error.hpp"

#include <string_view>

namespace aegis::net {

enum class net_errc {
  peer_closed = 1,       // orderly end: TCP FIN, or TLS close_notify
  peer_truncated,        // TLS: the peer closed TCP without close_notify
  handshake_failed,      // TLS handshake refused (version, cipher, malformed, ...)
  handshake_timeout,     // limits::tls_handshake elapsed
  tls_failed,            // TLS protocol error after the handshake (bad record, alert)
  deadline_expired,      // the handler's deadline (limits::first_message, or re-armed) elapsed
  idle_timeout,          // no bytes read or written for the idle timeout
  server_shutdown,       // graceful shutdown asked the handler to close
  shutdown_forced,       // still open when the drain timeout of a shutdown ran out
  handler_failed,        // the handler factory returned nothing, or a callback threw
  plaintext_not_allowed, // a listener without TLS that was not marked insecure_plaintext
  bad_listener_options,  // inconsistent limits, no handler factory, bad address
  server_stopped,        // listen() after stop()
};
std::string_view describe(net_errc e) noexcept;

enum class tls_errc {
  no_certificates = 1, // tls_server_config::certificates is empty
  cannot_read_file,    // a certificate or key file is missing or unreadable
  bad_certificate,     // the chain file holds no parseable PEM certificate
  bad_private_key,     // the key file holds no parseable unencrypted PEM private key
  key_mismatch,        // the private key does not belong to the leaf certificate
  setup_failed,        // OpenSSL refused a setting (ciphers, groups, versions)
};
std::string_view describe(tls_errc e) noexcept;

} // namespace aegis::net

AEGIS_ERROR_ENUM(aegis::net, net_errc, "aegis.net", describe)
AEGIS_ERROR_ENUM(aegis::net, tls_errc, "aegis.net.tls", describe)
