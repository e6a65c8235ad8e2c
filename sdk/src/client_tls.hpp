#pragma once

// The device side of TLS: a client context that trusts only the given roots, and the mapping
// of a failed handshake to the SDK's refusal reasons. Private to the SDK.

#include "aegis/base/error.hpp"
#include "aegis/device/client.hpp"

#include <boost/asio/ssl/context.hpp>
#include <boost/system/error_code.hpp>

#include <memory>
#include <openssl/ssl.h>
#include <string>

namespace aegis::device::detail {

// TLS 1.2+, ECDHE + AEAD suites for 1.2, peer verification on, trust = root_ca_files (plus the
// system store only with use_system_roots), the client certificate when one is configured.
result<std::unique_ptr<boost::asio::ssl::context>>
make_client_tls_context(const client_options& options);

// Sets SNI and the expected host name (or IP address) on a fresh SSL object.
bool expect_server_name(SSL* ssl, const std::string& host);

// Why a handshake failed, in the SDK's terms when it is a refusal (untrusted_server,
// host_name_mismatch, tls_version_refused); otherwise the transport's own error.
std::error_code classify_handshake_error(const boost::system::error_code& ec, SSL* ssl);

} // namespace aegis::device::detail
