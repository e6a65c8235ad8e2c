#pragma once

// The server side of TLS: a configuration and the OpenSSL context made from it.
//
// Policy (DESIGN §5): TLS 1.2 minimum, 1.3 preferred; TLS 1.2 suites ECDHE + AEAD only
// (AES-GCM, ChaCha20-Poly1305); no compression, no renegotiation; stateless session tickets;
// SSL_MODE_RELEASE_BUFFERS (per idle connection 13.9 KB instead of 47 KB, see
// reference/performance-baseline.md §5c). Each certificate is presented with its full chain;
// SNI picks among several. Client certificates are requested, never required, and never judged
// here: the handshake accepts any, and the auth layer verifies the chain it is handed.

#include "aegis/base/error.hpp"
#include "aegis/net/errors.hpp"

#include <cstddef>
#include <filesystem>
#include <memory>
#include <utility>
#include <vector>

struct ssl_ctx_st; // OpenSSL's SSL_CTX

namespace aegis::net {

struct tls_certificate {
  std::filesystem::path chain_file; // PEM: leaf first, then the intermediates to present
  std::filesystem::path key_file;   // PEM, unencrypted: the leaf's private key
};

enum class client_certificate_mode {
  none,    // no CertificateRequest
  request, // ask for one; the handshake succeeds with or without it, and with any chain
};

enum class tls_min_version { tls1_2, tls1_3 };

struct tls_server_config {
  // The first is the default; another is chosen when the client's SNI name matches its leaf
  // (subjectAltName DNS names, wildcards as X509_check_host understands them).
  std::vector<tls_certificate> certificates;
  client_certificate_mode client_certificates = client_certificate_mode::none;
  tls_min_version min_version = tls_min_version::tls1_2;
  bool session_tickets = true;
  // Upper bound on the peer's certificate list (bytes), so a client cannot make us buffer a huge
  // chain before anyone looks at it.
  std::size_t max_peer_certificate_list = 32 * 1024;
};

// An immutable SSL_CTX built from a tls_server_config. Cheap to copy (shares the context);
// usable from every thread.
class tls_context {
public:
  static result<tls_context> create(const tls_server_config& config);

  std::size_t certificate_count() const noexcept;
  // For libs/net and tests that inspect the policy; the context stays owned by this object.
  ssl_ctx_st* native_handle() const noexcept;

  struct impl;

private:
  explicit tls_context(std::shared_ptr<const impl> i) : impl_(std::move(i)) {}
  std::shared_ptr<const impl> impl_;
};

} // namespace aegis::net
