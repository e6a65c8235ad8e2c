// The SDK's HTTPS bridge transport: blocking calls driven by asynchronous Beast operations on a
// private io_context, so that every step (resolve, connect, handshake, write, read) has a
// deadline.

#include "aegis/device/http_bridge_client.hpp"

#include "aegis/base/log.hpp"
#include "aegis/device/errors.hpp"

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
#include <nlohmann/json.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <charconv>
#include <optional>

namespace aegis::device {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr std::string_view log_component = "device.http";
constexpr std::size_t max_header_bytes = 16 * 1024;

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > 256) {
    return false;
  }
  for (const char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == '~' || c == '+';
    if (!ok) {
      return false;
    }
  }
  return true;
}

// proto3 JSON bytes: the standard alphabet (what Aegis sends), the URL-safe one, padded or not.
std::optional<bytes> decode_bytes(std::string_view text) {
  if (auto b = base64_decode(text)) {
    return b;
  }
  while (!text.empty() && text.back() == '=') {
    text.remove_suffix(1);
  }
  return base64url_decode(text);
}

std::error_code to_std(const beast::error_code& ec) {
  if (ec == beast::error::timeout) {
    return std::make_error_code(std::errc::timed_out);
  }
  return ec;
}

// The refusal reasons a device must be able to tell apart, from a failed handshake.
std::error_code classify_handshake_error(const beast::error_code& ec, SSL* ssl) {
  const long verify = SSL_get_verify_result(ssl);
  if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH) {
    return make_error_code(device_errc::host_name_mismatch);
  }
  if (verify != X509_V_OK) {
    log::warn(log_component, "server certificate refused: {}",
              X509_verify_cert_error_string(verify));
    return make_error_code(device_errc::untrusted_server);
  }
  if (ec.category() == asio::error::get_ssl_category()) {
    switch (ERR_GET_REASON(static_cast<unsigned long>(ec.value()))) {
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
    case SSL_R_WRONG_SSL_VERSION:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_VERSION_TOO_LOW:
      return make_error_code(device_errc::tls_version_refused);
    default:
      break;
    }
  }
  return to_std(ec);
}

class bridge_client final : public http_bridge_client {
public:
  explicit bridge_client(http_bridge_options options)
      : o_(std::move(options)), ctx_(asio::ssl::context::tls_client) {
    base_path_ = "/v1/projects/" + o_.project_id + "/locations/" + o_.location + "/registries/" +
                 o_.registry_id + "/devices/" + o_.device_id;
    boost::system::error_code ec;
    asio::ip::make_address(o_.host, ec);
    host_is_ip_ = !ec;
    host_header_ =
        (host_is_ip_ && o_.host.find(':') != std::string::npos ? "[" + o_.host + "]" : o_.host) +
        ":" + std::to_string(o_.port);
  }

  result<void> configure_tls() {
    SSL_CTX* native = ctx_.native_handle();
    if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(native, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1) {
      return device_errc::bad_config;
    }
    ctx_.set_verify_mode(asio::ssl::verify_peer);
    // Only these roots: no set_default_verify_paths(), so never the system store.
    for (const auto& file : o_.root_ca_files) {
      boost::system::error_code ec;
      ctx_.load_verify_file(file.string(), ec);
      if (ec) {
        log::warn(log_component, "cannot load root certificates from {}: {}", file.string(),
                  ec.message());
        return device_errc::bad_config;
      }
    }
    return ok();
  }

  result<void> publish_event(std::string_view subfolder, bytes_view payload) override {
    nlohmann::json body{{"binary_data", base64_encode(payload)}};
    if (!subfolder.empty()) {
      body["sub_folder"] = std::string(subfolder);
    }
    return expect_empty_ok(http::verb::post, base_path_ + ":publishEvent", body);
  }

  result<void> set_state(bytes_view state) override {
    const nlohmann::json body{{"state", {{"binary_data", base64_encode(state)}}}};
    return expect_empty_ok(http::verb::post, base_path_ + ":setState", body);
  }

  result<bridge_config> get_config(std::uint64_t local_version,
                                   std::chrono::seconds wait) override {
    std::string target = base_path_ + "/config?local_version=" + std::to_string(local_version);
    if (wait.count() > 0) {
      target += "&wait=" + std::to_string(wait.count());
    }
    auto res = exchange(http::verb::get, target, {}, wait);
    if (!res) {
      return res.error();
    }
    if (res->result() != http::status::ok) {
      return refused(*res);
    }
    const auto json = nlohmann::json::parse(res->body(), nullptr, false);
    bridge_config config;
    if (!json.is_object() || !json.contains("version")) {
      return malformed("config");
    }
    const auto& version = json["version"];
    if (version.is_string()) {
      const std::string& text = version.get_ref<const std::string&>();
      const char* end = text.data() + text.size();
      const auto [ptr, ec] = std::from_chars(text.data(), end, config.version);
      if (text.empty() || ec != std::errc{} || ptr != end) {
        return malformed("config version");
      }
    } else if (version.is_number_unsigned()) {
      config.version = version.get<std::uint64_t>();
    } else {
      return malformed("config version");
    }
    if (json.contains("cloudUpdateTime") && json["cloudUpdateTime"].is_string()) {
      config.cloud_update_time = json["cloudUpdateTime"].get<std::string>();
    }
    if (json.contains("binaryData") && !json["binaryData"].is_null()) {
      if (!json["binaryData"].is_string()) {
        return malformed("config binaryData");
      }
      auto data = decode_bytes(json["binaryData"].get_ref<const std::string&>());
      if (!data) {
        return malformed("config binaryData");
      }
      config.data = std::move(*data);
    }
    return config;
  }

  result<std::vector<bridge_command>> poll_commands(std::chrono::seconds wait) override {
    std::string target = base_path_ + "/commands";
    if (wait.count() > 0) {
      target += "?wait=" + std::to_string(wait.count());
    }
    auto res = exchange(http::verb::get, target, {}, wait);
    if (!res) {
      return res.error();
    }
    std::vector<bridge_command> out;
    if (res->result() == http::status::no_content) {
      return out;
    }
    if (res->result() != http::status::ok) {
      return refused(*res);
    }
    const auto json = nlohmann::json::parse(res->body(), nullptr, false);
    if (!json.is_object() || !json.contains("commands") || !json["commands"].is_array()) {
      return malformed("commands");
    }
    for (const auto& c : json["commands"]) {
      if (!c.is_object()) {
        return malformed("command");
      }
      bridge_command cmd;
      if (c.contains("subFolder") && c["subFolder"].is_string()) {
        cmd.subfolder = c["subFolder"].get<std::string>();
      }
      if (c.contains("binaryData") && c["binaryData"].is_string()) {
        auto data = decode_bytes(c["binaryData"].get_ref<const std::string&>());
        if (!data) {
          return malformed("command binaryData");
        }
        cmd.data = std::move(*data);
      }
      out.push_back(std::move(cmd));
    }
    return out;
  }

  int last_status() const noexcept override { return last_status_; }
  void close() noexcept override { stream_.reset(); }
  std::size_t connections_opened() const noexcept override { return connections_; }

private:
  using stream_type = beast::ssl_stream<beast::tcp_stream>;
  using response = http::response<http::string_body>;

  static std::error_code malformed(const char* what) {
    log::warn(log_component, "malformed {} answer from the bridge", what);
    return std::make_error_code(std::errc::bad_message);
  }

  std::error_code refused(const response& res) {
    std::string message = res.body().substr(0, 300);
    const auto json = nlohmann::json::parse(res.body(), nullptr, false);
    if (json.is_object() && json.contains("error") && json["error"].is_object() &&
        json["error"].contains("message") && json["error"]["message"].is_string()) {
      message = json["error"]["message"].get<std::string>();
    }
    log::warn(log_component, "the bridge refused the request: HTTP {} {}", res.result_int(),
              message);
    return make_error_code(device_errc::server_refused);
  }

  result<void> expect_empty_ok(http::verb verb, const std::string& target,
                               const nlohmann::json& body) {
    auto res = exchange(verb, target, body.dump(), std::chrono::seconds{0});
    if (!res) {
      return res.error();
    }
    if (res->result() != http::status::ok && res->result() != http::status::no_content) {
      return refused(*res);
    }
    return ok();
  }

  // Starts one asynchronous operation and runs it to completion or to `limit`. On a timeout,
  // `cancel` makes the operation complete (aborted) before this returns, so that no handler
  // outlives the variables it refers to.
  template <class Start, class Cancel>
  beast::error_code run(std::chrono::milliseconds limit, Start start, Cancel cancel) {
    std::optional<beast::error_code> outcome;
    start([&outcome](beast::error_code ec) { outcome = ec; });
    ioc_.restart();
    ioc_.run_for(limit + std::chrono::seconds(1));
    if (!outcome) {
      cancel();
      ioc_.restart();
      ioc_.run();
      return beast::error::timeout;
    }
    return *outcome;
  }

  template <class Start>
  beast::error_code run_on_stream(std::chrono::milliseconds limit, Start start) {
    return run(limit, start, [this] { beast::get_lowest_layer(*stream_).close(); });
  }

  result<void> connect() {
    stream_.reset();
    auto stream = std::make_unique<stream_type>(ioc_, ctx_);
    SSL* ssl = stream->native_handle();
    if (host_is_ip_) {
      // No SNI for an address (RFC 6066 §3); the certificate must name the IP.
      if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), o_.host.c_str()) != 1) {
        return device_errc::bad_config;
      }
    } else if (SSL_set_tlsext_host_name(ssl, o_.host.c_str()) != 1 ||
               SSL_set1_host(ssl, o_.host.c_str()) != 1) {
      return device_errc::bad_config;
    }

    tcp::resolver resolver(ioc_);
    tcp::resolver::results_type endpoints;
    auto ec = run(
        o_.connect_timeout,
        [&](auto done) {
          resolver.async_resolve(o_.host, std::to_string(o_.port),
                                 [&endpoints, done](beast::error_code e, auto results) {
                                   endpoints = std::move(results);
                                   done(e);
                                 });
        },
        [&resolver] { resolver.cancel(); });
    if (ec) {
      log::warn(log_component, "cannot resolve {}: {}", o_.host, ec.message());
      return to_std(ec);
    }
    stream_ = std::move(stream);
    ec = run_on_stream(o_.connect_timeout, [&](auto done) {
      beast::get_lowest_layer(*stream_).expires_after(o_.connect_timeout);
      beast::get_lowest_layer(*stream_).async_connect(
          endpoints, [done](beast::error_code e, const auto&) { done(e); });
    });
    if (ec) {
      stream_.reset();
      log::warn(log_component, "cannot connect to {}: {}", host_header_, ec.message());
      return to_std(ec);
    }
    ec = run_on_stream(o_.connect_timeout, [&](auto done) {
      beast::get_lowest_layer(*stream_).expires_after(o_.connect_timeout);
      stream_->async_handshake(asio::ssl::stream_base::client,
                               [done](beast::error_code e) { done(e); });
    });
    if (ec) {
      const auto reason = classify_handshake_error(ec, ssl);
      log::warn(log_component, "TLS handshake with {} failed: {}", host_header_, reason.message());
      stream_.reset();
      return reason;
    }
    ++connections_;
    return ok();
  }

  // One request and its response, on the kept-alive connection when there is one. A kept
  // connection the server closed meanwhile fails before any answer byte: then once more on a
  // new connection (at-least-once, as every QoS 1 path of the SDK).
  result<response> exchange(http::verb verb, const std::string& target, std::string body,
                            std::chrono::seconds wait) {
    auto token = o_.token_source();
    if (!token) {
      return token.error();
    }
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, host_header_);
    req.set(http::field::authorization, "Bearer " + *token);
    req.set(http::field::user_agent, "aegis-device");
    if (verb == http::verb::post) {
      req.set(http::field::content_type, "application/json");
      req.body() = std::move(body);
    }
    req.keep_alive(true);
    req.prepare_payload();

    for (int attempt = 0; attempt < 2; ++attempt) {
      const bool reused = stream_ != nullptr;
      if (!stream_) {
        auto connected = connect();
        if (!connected) {
          return connected.error();
        }
      }
      bool answer_started = false;
      auto res = round_trip(req, wait, answer_started);
      if (res) {
        last_status_ = static_cast<int>(res->result_int());
        if (!res->keep_alive()) {
          stream_.reset();
        }
        return res;
      }
      stream_.reset();
      if (!reused || answer_started) {
        return res.error();
      }
      log::debug(log_component, "kept-alive connection to {} was closed ({}); reconnecting",
                 host_header_, res.error().message());
    }
    return std::make_error_code(std::errc::connection_aborted);
  }

  result<response> round_trip(const http::request<http::string_body>& req,
                              std::chrono::seconds wait, bool& answer_started) {
    auto ec = run_on_stream(o_.io_timeout, [&](auto done) {
      beast::get_lowest_layer(*stream_).expires_after(o_.io_timeout);
      http::async_write(*stream_, req, [done](beast::error_code e, std::size_t) { done(e); });
    });
    if (ec) {
      return to_std(ec);
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(o_.max_response_bytes);
    parser.header_limit(max_header_bytes);
    const auto limit = o_.io_timeout + std::chrono::duration_cast<std::chrono::milliseconds>(wait);
    buffer_.clear();
    ec = run_on_stream(limit, [&](auto done) {
      beast::get_lowest_layer(*stream_).expires_after(limit);
      http::async_read(*stream_, buffer_, parser,
                       [done](beast::error_code e, std::size_t) { done(e); });
    });
    answer_started = parser.got_some();
    if (ec) {
      return to_std(ec);
    }
    return parser.release();
  }

  http_bridge_options o_;
  std::string base_path_;
  std::string host_header_;
  bool host_is_ip_ = false;
  asio::io_context ioc_;
  asio::ssl::context ctx_;
  std::unique_ptr<stream_type> stream_;
  beast::flat_buffer buffer_;
  int last_status_ = 0;
  std::size_t connections_ = 0;
};

} // namespace

result<std::unique_ptr<http_bridge_client>>
http_bridge_client::create(http_bridge_options options) {
  if (options.host.empty() || options.port == 0 || options.root_ca_files.empty() ||
      !options.token_source || !valid_id(options.project_id) || !valid_id(options.location) ||
      !valid_id(options.registry_id) || !valid_id(options.device_id) ||
      options.connect_timeout.count() <= 0 || options.io_timeout.count() <= 0 ||
      options.max_response_bytes == 0) {
    return device_errc::bad_config;
  }
  auto client = std::make_unique<bridge_client>(std::move(options));
  auto configured = client->configure_tls();
  if (!configured) {
    return configured.error();
  }
  return std::unique_ptr<http_bridge_client>(std::move(client));
}

} // namespace aegis::device
