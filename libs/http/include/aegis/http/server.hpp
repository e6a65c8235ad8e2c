#pragma once

// HTTP/1.1 over libs/net: a connection_handler that parses requests with Boost.Beast's parser
// (fed bytes, sans-I/O), hands each complete request to a request_handler, and writes the
// response it is given, possibly later and from another thread (storage executor, long poll).
//
// One request at a time per connection: bytes of a pipelined next request are kept (bounded)
// and parsed only after the current response was queued, so responses keep request order.
// Keep-alive by default (HTTP/1.1), closed after a response when the request or the response
// says "Connection: close", when HTTP/1.0 without keep-alive, or after a protocol error.
//
// Bad input: a malformed request head answers 400, a head over max_header_bytes 431, a body
// over max_body_bytes 413, an unsupported Transfer-Encoding 501, each with the JSON error shape
// of json.hpp, then closes that one connection. Deadlines: the first byte of a request to its
// complete body within request_timeout (408 then close); an idle keep-alive connection is closed
// after idle_timeout. A request whose response is pending is never timed out by this layer.
//
// Also refused, then closed: a target that is not origin-form ("/path?query"), a bad or %00
// percent-escape anywhere in it and %2F in the path (400); HTTP versions other than 1.0/1.1
// (505); an Expect other than 100-continue (417). "Expect: 100-continue" is answered with
// "HTTP/1.1 100 Continue" once the head passed the limits. See libs/http/README.md.

#include "aegis/base/bytes.hpp"
#include "aegis/net/connection.hpp"
#include "aegis/net/server.hpp"

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aegis::http {

using header_list = std::vector<std::pair<std::string, std::string>>;

struct request {
  std::string method; // as sent, e.g. "GET"
  std::string target; // as sent: path and query
  std::string path;   // target up to '?', percent-decoded once; never contains NUL
  // Query parameters in order, names and values percent-decoded ('+' is a space).
  std::vector<std::pair<std::string, std::string>> query;
  header_list headers; // names as sent
  std::string body;
  bool keep_alive = true;

  // Connection facts, copied when the request completed.
  std::uint64_t connection_id = 0;
  std::string remote_address;
  std::vector<bytes> peer_certificates; // DER, leaf first, NOT verified (see net::connection)

  // Case-insensitive; the first occurrence.
  std::optional<std::string_view> header(std::string_view name) const;
  // The first value of a query parameter.
  std::optional<std::string_view> query_param(std::string_view name) const;
  // Every value of a repeated query parameter (deviceIds=a&deviceIds=b).
  std::vector<std::string_view> query_params(std::string_view name) const;
};

struct response {
  unsigned status = 200;
  header_list headers;                           // Content-Length and Date are added
  std::string content_type = "application/json"; // omitted when empty
  std::string body;
  bool close = false; // close the connection after this response

  static response json(unsigned status, std::string body);
  static response text(unsigned status, std::string body);
  static response no_content(); // 204
};

// Answers one request exactly once, from any thread. Copies share one answer: the second
// send() is ignored. If the connection closed meanwhile the response is dropped. A responder
// destroyed without an answer sends 500 (a handler bug must not leave a client hanging).
class responder {
public:
  responder() = default;
  // In-process callers and tests: `on_answer` receives the response (once), on the thread that
  // calls send().
  static responder to_function(std::function<void(response)> on_answer);

  void send(response r) const;
  // The connection that asked is still open (a long poll may stop waiting when false).
  bool connection_open() const noexcept;

  struct state;
  explicit responder(std::shared_ptr<state> s) : state_(std::move(s)) {}

private:
  std::shared_ptr<state> state_;
};

// Called on the connection's I/O thread. Must not block: hand slow work to an executor and
// answer through the responder later.
using request_handler = std::function<void(request&&, responder)>;

// A path where a WebSocket upgrade hands the connection to another protocol (MQTT over
// WebSocket on "/mqtt"). A GET on `path` asking "Upgrade: websocket" is checked (RFC 6455
// §4.2; 400, or 426 for a version other than 13, refused like any bad request) and answered 101;
// from then on the connection's bytes are WebSocket frames whose binary payload is the `inner`
// handler's byte stream, and what `inner` sends (through the connection or its handles, from any
// thread) goes out as binary frames. Requests without the upgrade go to the request handler.
struct websocket_route {
  std::string path;        // the decoded path, matched exactly
  std::string subprotocol; // the client's Sec-WebSocket-Protocol list must hold it
  net::handler_factory inner;
  // The largest message, counted over its fragments; larger closes with 1009. Set it to the
  // inner protocol's largest packet plus some slack.
  std::size_t max_message_size = 1024 * 1024;
  // Armed at the upgrade for the inner protocol's first message (libs/net arms
  // limits::first_message when a plain listener starts a handler); zero arms nothing.
  std::chrono::milliseconds first_message{10'000};
};

struct server_options {
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 1024 * 1024;
  std::chrono::milliseconds request_timeout{30'000};
  std::chrono::milliseconds idle_timeout{60'000};
  // Bytes of following requests kept while one is being answered; more closes the connection.
  std::size_t max_pipelined_bytes = 64 * 1024;
  // Sent as "Server:"; empty sends none.
  std::string server_name = "aegis";
  std::vector<websocket_route> websocket_routes;
};

// For net::listener_options::make_handler. Throws std::invalid_argument for a websocket_route
// without a path starting with '/', a subprotocol or an inner factory.
net::handler_factory make_handler_factory(server_options options, request_handler handler);

} // namespace aegis::http
