#include "aegis/net/tls.hpp"

#include "aegis/base/log.hpp"
#include "aegis/crypto/keys.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

namespace aegis::net {

namespace {

// DESIGN §5: ECDHE key exchange and AEAD ciphers only. TLS 1.3 suites are all AEAD with
// (EC)DHE; they are listed to pin the order.
constexpr const char* tls12_ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                      "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                      "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* tls13_suites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr const char* key_exchange_groups = "X25519:P-256:P-384";
// Certificate and key files are small; anything bigger is a wrong path, not a certificate.
constexpr std::size_t max_pem_file = 1024 * 1024;

template <auto Fn>
struct deleter {
  template <class T>
  void operator()(T* p) const noexcept {
    Fn(p);
  }
};
using ssl_ctx_ptr = std::unique_ptr<SSL_CTX, deleter<SSL_CTX_free>>;
using x509_ptr = std::unique_ptr<X509, deleter<X509_free>>;
using bio_ptr = std::unique_ptr<BIO, deleter<BIO_free>>;

struct x509_stack_deleter {
  void operator()(STACK_OF(X509) * s) const noexcept { sk_X509_pop_free(s, X509_free); }
};
using x509_stack_ptr = std::unique_ptr<STACK_OF(X509), x509_stack_deleter>;

// Drains OpenSSL's per-thread error queue, so the next caller on this thread starts clean.
std::string take_openssl_errors() {
  std::string text;
  while (const unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!text.empty()) {
      text += "; ";
    }
    text += buf;
  }
  return text;
}

result<std::string> read_pem_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return tls_errc::cannot_read_file;
  }
  std::string text;
  char buf[4096];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<std::size_t>(in.gcount()));
    if (text.size() > max_pem_file) {
      return tls_errc::cannot_read_file;
    }
  }
  if (in.bad()) {
    return tls_errc::cannot_read_file;
  }
  return text;
}

struct loaded_certificate {
  x509_ptr leaf;
  x509_stack_ptr chain; // intermediates, in the order presented
  crypto::private_key key;
};

result<loaded_certificate> load_certificate(const tls_certificate& files) {
  auto chain_pem = read_pem_file(files.chain_file);
  if (!chain_pem) {
    log::error("net", "cannot read certificate chain {}", files.chain_file.string());
    return chain_pem.error();
  }
  auto key_pem = read_pem_file(files.key_file);
  if (!key_pem) {
    log::error("net", "cannot read private key {}", files.key_file.string());
    return key_pem.error();
  }

  loaded_certificate out;
  out.chain.reset(sk_X509_new_null());
  if (!out.chain) {
    return tls_errc::setup_failed;
  }
  ERR_clear_error();
  bio_ptr bio(BIO_new_mem_buf(chain_pem->data(), static_cast<int>(chain_pem->size())));
  if (!bio) {
    return tls_errc::setup_failed;
  }
  for (;;) {
    x509_ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) {
      break;
    }
    if (!out.leaf) {
      out.leaf = std::move(cert);
    } else if (sk_X509_push(out.chain.get(), cert.get()) > 0) {
      cert.release(); // now owned by the stack
    } else {
      return tls_errc::setup_failed;
    }
  }
  // The loop ends on "no start line" after the last certificate; anything else is garbage.
  const unsigned long last = ERR_peek_last_error();
  const bool clean_end =
      ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE;
  if (!out.leaf || !clean_end) {
    log::error("net", "bad certificate chain {}: {}", files.chain_file.string(),
               take_openssl_errors());
    return tls_errc::bad_certificate;
  }
  ERR_clear_error();

  // Through libs/crypto so that the server key obeys the same key-type policy as every other key
  // (EC P-256, RSA 2048..4096, Ed25519), and an encrypted key fails instead of prompting.
  auto key = crypto::private_key::from_pem(*key_pem);
  if (!key) {
    log::error("net", "bad private key {}: {}", files.key_file.string(), key.error().message());
    return tls_errc::bad_private_key;
  }
  out.key = std::move(*key);
  if (X509_check_private_key(out.leaf.get(), out.key.native_handle()) != 1) {
    take_openssl_errors();
    log::error("net", "private key {} does not match certificate {}", files.key_file.string(),
               files.chain_file.string());
    return tls_errc::key_mismatch;
  }
  if (X509_cmp_current_time(X509_get0_notAfter(out.leaf.get())) < 0) {
    log::warn("net", "certificate {} has expired", files.chain_file.string());
  }
  return out;
}

// Client certificates are collected, not judged: the auth layer verifies the chain against the
// registry's CAs with its own policy (DESIGN §5, server/auth).
int accept_any_peer_certificate(int /*preverify_ok*/, X509_STORE_CTX* /*ctx*/) {
  return 1;
}

} // namespace

struct tls_context::impl {
  ssl_ctx_ptr ctx;
  std::vector<loaded_certificate> certificates;
};

namespace {

// SSL_CTX cert_cb: runs before the TLS 1.2 cipher choice, so certificates of different key types
// can be mixed. The default (first) certificate is already in the SSL from its SSL_CTX.
int select_certificate(SSL* ssl, void* arg) {
  const auto* self = static_cast<const tls_context::impl*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) {
    return 1;
  }
  const std::size_t len = std::strlen(name);
  constexpr unsigned int flags = X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS;
  if (X509_check_host(self->certificates.front().leaf.get(), name, len, flags, nullptr) == 1) {
    return 1;
  }
  for (std::size_t i = 1; i < self->certificates.size(); ++i) {
    const auto& c = self->certificates[i];
    if (X509_check_host(c.leaf.get(), name, len, flags, nullptr) == 1) {
      // Clear first: otherwise a default of another key type would stay selectable.
      SSL_certs_clear(ssl);
      return SSL_use_cert_and_key(ssl, c.leaf.get(), c.key.native_handle(), c.chain.get(), 1) == 1
                 ? 1
                 : 0;
    }
  }
  return 1; // unknown name: the default certificate
}

} // namespace

result<tls_context> tls_context::create(const tls_server_config& config) {
  if (config.certificates.empty()) {
    return tls_errc::no_certificates;
  }
  auto self = std::make_shared<impl>();
  for (const auto& files : config.certificates) {
    auto loaded = load_certificate(files);
    if (!loaded) {
      return loaded.error();
    }
    self->certificates.push_back(std::move(*loaded));
  }

  ERR_clear_error();
  self->ctx.reset(SSL_CTX_new(TLS_server_method()));
  SSL_CTX* ctx = self->ctx.get();
  if (ctx == nullptr) {
    return tls_errc::setup_failed;
  }
  const int min_version =
      config.min_version == tls_min_version::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION;
  bool ok = SSL_CTX_set_min_proto_version(ctx, min_version) == 1 &&
            SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) == 1 &&
            SSL_CTX_set_cipher_list(ctx, tls12_ciphers) == 1 &&
            SSL_CTX_set_ciphersuites(ctx, tls13_suites) == 1 &&
            SSL_CTX_set1_groups_list(ctx, key_exchange_groups) == 1;
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (config.session_tickets) {
    SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
  } else {
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  }
  // Resumption by stateless tickets only: a server-side cache would hold a session (with the
  // client's certificate) per device for the cache's lifetime.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  static constexpr unsigned char sid_context[] = "aegis.net";
  ok = ok && SSL_CTX_set_session_id_context(ctx, sid_context, sizeof sid_context - 1) == 1;
  // RELEASE_BUFFERS: per-connection memory (performance-baseline §5c). The write modes match
  // how the connection retries non-blocking writes from its coalescing buffer.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_max_cert_list(ctx, static_cast<long>(config.max_peer_certificate_list));
  if (config.client_certificates == client_certificate_mode::request) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any_peer_certificate);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }

  const auto& first = self->certificates.front();
  ok = ok && SSL_CTX_use_cert_and_key(ctx, first.leaf.get(), first.key.native_handle(),
                                      first.chain.get(), 1) == 1;
  if (!ok) {
    log::error("net", "TLS context set-up failed: {}", take_openssl_errors());
    return tls_errc::setup_failed;
  }
  if (self->certificates.size() > 1) {
    SSL_CTX_set_cert_cb(ctx, select_certificate, self.get());
  }
  return tls_context(std::move(self));
}

std::size_t tls_context::certificate_count() const noexcept {
  return impl_ ? impl_->certificates.size() : 0;
}

ssl_ctx_st* tls_context::native_handle() const noexcept {
  return impl_ ? impl_->ctx.get() : nullptr;
}

} // namespace aegis::net
