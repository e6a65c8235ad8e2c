// The only translation unit that includes Asio/Beast (DESIGN.md §8): a synchronous HTTPS client
// driven by async operations on a private io_context so that every step has a deadline.

#include "aegis/ctl/transport.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <optional>

namespace aegis::ctl {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

server_url parse_server_url(const std::string& url) {
  constexpr std::string_view scheme = "https://";
  if (url.rfind(scheme, 0) != 0) {
    throw usage_error("server URL must start with https:// (got \"" + url + "\")");
  }
  std::string rest = url.substr(scheme.size());
  while (!rest.empty() && rest.back() == '/') {
    rest.pop_back();
  }
  if (rest.find_first_of("/?#@") != std::string::npos) {
    throw usage_error("server URL must be https://host[:port] without a path");
  }
  server_url out;
  std::string port;
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    if (close == std::string::npos) {
      throw usage_error("server URL has an unterminated IPv6 address");
    }
    out.host = rest.substr(1, close - 1);
    const std::string after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        throw usage_error("bad server URL \"" + url + "\"");
      }
      port = after.substr(1);
    }
  } else {
    const auto colon = rest.find(':');
    out.host = rest.substr(0, colon);
    if (colon != std::string::npos) {
      port = rest.substr(colon + 1);
    }
  }
  if (out.host.empty()) {
    throw usage_error("server URL has no host");
  }
  if (port.empty()) {
    port = "443";
  }
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port) == 0 || std::stoul(port) > 65535) {
    throw usage_error("server URL has a bad port \"" + port + "\"");
  }
  out.port = port;
  boost::system::error_code ec;
  (void)asio::ip::make_address(out.host, ec);
  out.host_is_ip = !ec;
  return out;
}

namespace {

class https_transport final : public transport {
public:
  explicit https_transport(endpoint ep) : ep_(std::move(ep)), url_(parse_server_url(ep_.server)) {
    if (ep_.ca_file.empty() && !ep_.system_roots) {
      throw usage_error("no CA file: pass --ca-file (or --system-roots to trust the system store)");
    }
  }

  response send(const request& req) override {
    asio::io_context ioc;
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    configure(ctx);
    beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
    SSL* ssl = stream.native_handle();
    if (url_.host_is_ip) {
      // No SNI for an address (RFC 6066 §3); the certificate must name the IP.
      if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), url_.host.c_str()) != 1) {
        throw ctl_error("tls", "cannot set the expected server address");
      }
    } else {
      if (SSL_set_tlsext_host_name(ssl, url_.host.c_str()) != 1 ||
          SSL_set1_host(ssl, url_.host.c_str()) != 1) {
        throw ctl_error("tls", "cannot set the expected server name");
      }
    }
    stream.set_verify_mode(asio::ssl::verify_peer);

    const std::string where = url_.host + ":" + url_.port;

    // Resolve.
    tcp::resolver resolver(ioc);
    tcp::resolver::results_type endpoints;
    run_step(ioc, stream, "resolving " + url_.host, [&](auto done) {
      resolver.async_resolve(url_.host, url_.port,
                             [&endpoints, done](beast::error_code ec, auto results) {
                               endpoints = std::move(results);
                               done(ec);
                             });
    });
    // Connect.
    run_step(ioc, stream, "connecting to " + where, [&](auto done) {
      beast::get_lowest_layer(stream).expires_after(ep_.timeout);
      beast::get_lowest_layer(stream).async_connect(
          endpoints, [done](beast::error_code ec, const auto&) { done(ec); });
    });
    // Handshake.
    run_step(ioc, stream, "TLS handshake with " + where, [&](auto done) {
      beast::get_lowest_layer(stream).expires_after(ep_.timeout);
      stream.async_handshake(asio::ssl::stream_base::client,
                             [done](beast::error_code ec) { done(ec); });
    });

    http::request<http::string_body> msg{verb_of(req.method), req.target, 11};
    msg.set(http::field::host, url_.host_is_ip && url_.host.find(':') != std::string::npos
                                   ? "[" + url_.host + "]:" + url_.port
                                   : url_.host + ":" + url_.port);
    msg.set(http::field::user_agent, "aegisctl/0.1");
    msg.set(http::field::accept, "application/json");
    if (!ep_.token.empty()) {
      msg.set(http::field::authorization, "Bearer " + ep_.token);
    }
    if (!req.body.is_null()) {
      msg.set(http::field::content_type, "application/json");
      msg.body() = req.body.dump();
    }
    msg.keep_alive(false);
    msg.prepare_payload();

    run_step(ioc, stream, "sending to " + where, [&](auto done) {
      beast::get_lowest_layer(stream).expires_after(ep_.timeout);
      http::async_write(stream, msg, [done](beast::error_code ec, std::size_t) { done(ec); });
    });

    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(std::uint64_t{64} << 20);
    run_step(ioc, stream, "reading the answer from " + where, [&](auto done) {
      beast::get_lowest_layer(stream).expires_after(ep_.timeout);
      http::async_read(stream, buffer, parser,
                       [done](beast::error_code ec, std::size_t) { done(ec); });
    });
    auto res = parser.release();

    // Best effort close_notify; a peer that does not answer in 2 s is simply dropped.
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
    stream.async_shutdown([](beast::error_code) {});
    ioc.restart();
    ioc.run_for(std::chrono::seconds(3));

    response out;
    out.status = res.result_int();
    out.content_type = std::string(res[http::field::content_type]);
    out.body = std::move(res.body());
    return out;
  }

private:
  void configure(asio::ssl::context& ctx) const {
    ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                    asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                    asio::ssl::context::no_tlsv1_1 | asio::ssl::context::no_compression);
    if (SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION) != 1) {
      throw ctl_error("tls", "cannot require TLS 1.2");
    }
    // ECDHE + AEAD only for TLS 1.2 (DESIGN.md §5); TLS 1.3 suites are all AEAD.
    if (SSL_CTX_set_cipher_list(ctx.native_handle(),
                                "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305") != 1) {
      throw ctl_error("tls", "cannot set the cipher list");
    }
    if (!ep_.ca_file.empty()) {
      boost::system::error_code ec;
      ctx.load_verify_file(ep_.ca_file, ec);
      if (ec) {
        throw ctl_error("tls", "cannot load CA file " + ep_.ca_file + ": " + ec.message());
      }
    }
    if (ep_.system_roots) {
      boost::system::error_code ec;
      ctx.set_default_verify_paths(ec);
      if (ec) {
        throw ctl_error("tls", "cannot load the system trust store: " + ec.message());
      }
    }
    ctx.set_verify_mode(asio::ssl::verify_peer);
  }

  static http::verb verb_of(const std::string& method) {
    const http::verb v = http::string_to_verb(method);
    if (v == http::verb::unknown) {
      throw ctl_error("usage", "unknown HTTP method " + method, exit_usage);
    }
    return v;
  }

  // Starts one asynchronous operation and runs it to completion within the deadline.
  template <class Start>
  void run_step(asio::io_context& ioc, beast::ssl_stream<beast::tcp_stream>& stream,
                const std::string& what, Start start) {
    std::optional<beast::error_code> result;
    start([&result](beast::error_code ec) { result = ec; });
    ioc.restart();
    ioc.run_for(ep_.timeout + std::chrono::seconds(1));
    if (!result) {
      beast::get_lowest_layer(stream).close();
      ioc.restart();
      ioc.run_for(std::chrono::seconds(1));
      throw ctl_error("network",
                      what + ": timed out after " + std::to_string(ep_.timeout.count()) + " s");
    }
    if (*result) {
      throw ctl_error(result->category() == asio::error::get_ssl_category() ? "tls" : "network",
                      what + ": " + describe(*result, stream));
    }
  }

  static std::string describe(const beast::error_code& ec,
                              beast::ssl_stream<beast::tcp_stream>& stream) {
    if (ec == beast::error::timeout) {
      return "timed out";
    }
    std::string text = ec.message();
    const long verify = SSL_get_verify_result(stream.native_handle());
    if (ec.category() == asio::error::get_ssl_category() && verify != X509_V_OK) {
      text += " (" + std::string(X509_verify_cert_error_string(verify)) + ")";
    }
    return text;
  }

  endpoint ep_;
  server_url url_;
};

} // namespace

std::unique_ptr<transport> make_https_transport(const endpoint& ep) {
  return std::make_unique<https_transport>(ep);
}

} // namespace aegis::ctl
