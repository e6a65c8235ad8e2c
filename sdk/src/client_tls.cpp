#include "client_tls.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

namespace aegis::device::detail {

namespace asio = boost::asio;

result<std::unique_ptr<asio::ssl::context>> make_client_tls_context(const client_options& options) {
  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
  boost::system::error_code ec;
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1 | asio::ssl::context::no_compression,
                   ec);
  if (ec || SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION) != 1) {
    return device_errc::bad_config;
  }
  // TLS 1.3 suites are all AEAD; for 1.2 only ECDHE with an AEAD.
  if (SSL_CTX_set_cipher_list(ctx->native_handle(),
                              "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                              "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                              "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305") != 1) {
    return device_errc::bad_config;
  }
  for (const auto& file : options.root_ca_files) {
    ctx->load_verify_file(file.string(), ec);
    if (ec) {
      return device_errc::bad_config;
    }
  }
  if (options.use_system_roots) {
    ctx->set_default_verify_paths(ec);
    if (ec) {
      return device_errc::bad_config;
    }
  }
  ctx->set_verify_mode(asio::ssl::verify_peer, ec);
  if (ec) {
    return device_errc::bad_config;
  }
  if (!options.client_certificate_file.empty()) {
    ctx->use_certificate_chain_file(options.client_certificate_file.string(), ec);
    if (!ec) {
      ctx->use_private_key_file(options.client_key_file.string(), asio::ssl::context::pem, ec);
    }
    if (ec || SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
      return device_errc::bad_config;
    }
  }
  return ctx;
}

bool expect_server_name(SSL* ssl, const std::string& host) {
  boost::system::error_code ec;
  (void)asio::ip::make_address(host, ec);
  if (!ec) {
    // No SNI for an address (RFC 6066 §3); the certificate must name the IP.
    return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) == 1;
  }
  return SSL_set_tlsext_host_name(ssl, host.c_str()) == 1 && SSL_set1_host(ssl, host.c_str()) == 1;
}

std::error_code classify_handshake_error(const boost::system::error_code& ec, SSL* ssl) {
  const long verify = SSL_get_verify_result(ssl);
  if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH) {
    return device_errc::host_name_mismatch;
  }
  if (verify != X509_V_OK) {
    // Unknown issuer, expired, not yet valid, bad signature: all mean "not the server we trust".
    return device_errc::untrusted_server;
  }
  if (ec.category() == asio::error::get_ssl_category()) {
    const int reason = ERR_GET_REASON(static_cast<unsigned long>(ec.value()));
    if (reason == SSL_R_UNSUPPORTED_PROTOCOL || reason == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION ||
        reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_NO_PROTOCOLS_AVAILABLE ||
        reason == SSL_R_VERSION_TOO_LOW) {
      return device_errc::tls_version_refused;
    }
  }
  return ec;
}

} // namespace aegis::device::detail
