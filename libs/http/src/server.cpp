// The connection handler: bytes from libs/net into request_reader, requests to the
// request_handler, responses (from any thread, through a responder) back to the connection in
// request order. Everything in http_handler runs on the connection's I/O thread; responders and
// the request timer reach it only through connection_handle::post.

#include "aegis/http/server.hpp"

#include "aegis/http/json.hpp"

#include "http_errors.hpp"
#include "request_reader.hpp"
#include "websocket_session.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/status.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <ctime>
#include <exception>
#include <stdexcept>
#include <thread>

namespace aegis::http {

namespace asio = boost::asio;
using detail::http_errc;
using namespace std::chrono_literals;

// ---------------------------------------------------------------------------------------------
// request / response

std::optional<std::string_view> request::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (boost::beast::iequals(n, name)) {
      return std::string_view(v);
    }
  }
  return std::nullopt;
}

std::optional<std::string_view> request::query_param(std::string_view name) const {
  for (const auto& [n, v] : query) {
    if (n == name) {
      return std::string_view(v);
    }
  }
  return std::nullopt;
}

std::vector<std::string_view> request::query_params(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const auto& [n, v] : query) {
    if (n == name) {
      out.emplace_back(v);
    }
  }
  return out;
}

response response::json(unsigned status, std::string body) {
  response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(body);
  return r;
}

response response::text(unsigned status, std::string body) {
  response r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::move(body);
  return r;
}

response response::no_content() {
  response r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

// ---------------------------------------------------------------------------------------------
// responder

struct responder::state {
  explicit state(std::function<void(response)> d) : deliver(std::move(d)) {}
  state(const state&) = delete;
  state& operator=(const state&) = delete;
  ~state() {
    if (!answered.exchange(true)) {
      try {
        deliver(error_response(500u, "the request handler did not answer"));
      } catch (...) { // NOLINT(bugprone-empty-catch): nothing to tell from a destructor
      }
    }
  }

  std::function<void(response)> deliver;
  std::function<bool()> open; // empty: always open (to_function)
  std::atomic<bool> answered{false};
};

responder responder::to_function(std::function<void(response)> on_answer) {
  return responder(std::make_shared<state>(std::move(on_answer)));
}

void responder::send(response r) const {
  if (!state_ || state_->answered.exchange(true)) {
    return;
  }
  state_->deliver(std::move(r));
}

bool responder::connection_open() const noexcept {
  if (!state_) {
    return false;
  }
  if (!state_->open) {
    return true;
  }
  try {
    return state_->open();
  } catch (...) {
    return false;
  }
}

namespace {

// ---------------------------------------------------------------------------------------------
// serialization

// IMF-fixdate (RFC 9110 §5.6.7), without strftime so that no locale can change it.
std::string http_date() {
  static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char buf[40];
  const int n = std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT",
                              days[static_cast<std::size_t>(tm.tm_wday) % 7], tm.tm_mday,
                              months[static_cast<std::size_t>(tm.tm_mon) % 12], tm.tm_year + 1900,
                              tm.tm_hour, tm.tm_min, tm.tm_sec);
  return std::string(buf, n > 0 ? std::min(static_cast<std::size_t>(n), sizeof buf - 1) : 0);
}

bool is_token_char(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
    return true;
  }
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool valid_header_name(std::string_view n) noexcept {
  if (n.empty()) {
    return false;
  }
  for (const char c : n) {
    if (!is_token_char(c)) {
      return false;
    }
  }
  return true;
}

bool valid_header_value(std::string_view v) noexcept {
  for (const char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) {
      return false; // CR, LF, NUL: no response splitting
    }
  }
  return true;
}

bool body_forbidden(unsigned status) noexcept {
  return status == 204 || status == 304 || (status >= 100 && status < 200);
}

struct serialize_options {
  bool head = false;          // answer to HEAD: no body, but the Content-Length of one
  bool close = false;         // add "Connection: close"
  bool keep_alive_10 = false; // HTTP/1.0 keep-alive: say "Connection: keep-alive"
  std::string_view server_name;
};

std::string serialize(response& r, const serialize_options& o) {
  if (r.status < 200 || r.status > 999) {
    r = error_response(500u, "the request handler answered an invalid status");
  }
  std::string out;
  out.reserve(256 + r.body.size());
  out += "HTTP/1.1 ";
  out += std::to_string(r.status);
  out += ' ';
  const auto reason =
      boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(r.status));
  out.append(reason.data(), reason.size());
  out += "\r\nDate: ";
  out += http_date();
  out += "\r\n";
  if (!o.server_name.empty() && valid_header_value(o.server_name)) {
    out += "Server: ";
    out += o.server_name;
    out += "\r\n";
  }
  const bool no_body = body_forbidden(r.status);
  if (!no_body && !r.content_type.empty() && valid_header_value(r.content_type)) {
    out += "Content-Type: ";
    out += r.content_type;
    out += "\r\n";
  }
  if (!no_body) {
    out += "Content-Length: ";
    out += std::to_string(r.body.size());
    out += "\r\n";
  }
  for (const auto& [name, value] : r.headers) {
    // This layer owns framing and connection management.
    if (!valid_header_name(name) || !valid_header_value(value) ||
        boost::beast::iequals(name, "Content-Length") ||
        boost::beast::iequals(name, "Transfer-Encoding") ||
        boost::beast::iequals(name, "Connection") || boost::beast::iequals(name, "Date") ||
        (boost::beast::iequals(name, "Content-Type") && !r.content_type.empty()) ||
        (boost::beast::iequals(name, "Server") && !o.server_name.empty())) {
      continue;
    }
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  if (o.close) {
    out += "Connection: close\r\n";
  } else if (o.keep_alive_10) {
    out += "Connection: keep-alive\r\n";
  }
  out += "\r\n";
  if (!no_body && !o.head) {
    out += r.body;
  }
  return out;
}

bool says_close(const header_list& headers) {
  for (const auto& [n, v] : headers) {
    if (boost::beast::iequals(n, "Connection")) {
      std::string_view rest = v;
      while (!rest.empty()) {
        const auto comma = rest.find(',');
        std::string_view tok = rest.substr(0, comma);
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        while (!tok.empty() && (tok.front() == ' ' || tok.front() == '\t')) {
          tok.remove_prefix(1);
        }
        while (!tok.empty() && (tok.back() == ' ' || tok.back() == '\t')) {
          tok.remove_suffix(1);
        }
        if (boost::beast::iequals(tok, "close")) {
          return true;
        }
      }
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// the request timer: one thread per handler factory with its own io_context, because libs/net
// offers handlers only deadlines that close, and a 408 must be written before closing.

class timer_service {
public:
  timer_service() : thread_([this] { ioc_.run(); }) {}
  ~timer_service() {
    guard_.reset();
    ioc_.stop();
    if (thread_.joinable()) {
      thread_.join();
    }
  }
  timer_service(const timer_service&) = delete;
  timer_service& operator=(const timer_service&) = delete;
  asio::io_context& context() noexcept { return ioc_; }

private:
  asio::io_context ioc_; // timers are armed and cancelled from the I/O threads
  asio::executor_work_guard<asio::io_context::executor_type> guard_{ioc_.get_executor()};
  std::thread thread_;
};

struct shared_config {
  server_options options;
  request_handler handler;
  std::shared_ptr<timer_service> timers;
};

class http_handler;

// What outlives the handler: responders and timer completions hold it, and reach the handler
// only on the connection's thread (`handler` is written and read there only).
struct connection_slot {
  net::connection_handle handle;
  http_handler* handler = nullptr;
  std::atomic<bool> open{true};
};

class http_handler final : public net::connection_handler {
public:
  explicit http_handler(std::shared_ptr<const shared_config> cfg)
      : cfg_(std::move(cfg)), timers_(cfg_->timers), timer_(timers_->context()),
        reader_({cfg_->options.max_header_bytes, cfg_->options.max_body_bytes}),
        slot_(std::make_shared<connection_slot>()) {}
  ~http_handler() override {
    slot_->handler = nullptr;
    slot_->open = false;
  }
  http_handler(const http_handler&) = delete;
  http_handler& operator=(const http_handler&) = delete;

  // net::connection_handler
  void on_start(net::connection& conn) override {
    conn_ = &conn;
    slot_->handle = conn.handle();
    slot_->handler = this;
    remote_address_ = conn.remote_address();
    peer_certificates_ = conn.peer_certificate_chain();
    // The listener's first_message deadline covers a silent new connection; idle_timeout
    // covers a quiet keep-alive connection between requests.
    set_idle(true);
  }

  void on_bytes(net::connection& /*conn*/, bytes_view data) override {
    if (websocket_) {
      websocket_->on_bytes(data);
      return;
    }
    if (closing_) {
      return;
    }
    reader_.feed(as_string_view(data));
    if (!awaiting_) {
      pump();
    }
    // While a response is pending, what follows is only buffered: bound it.
    if (awaiting_ && !closing_ && reader_.buffered() > cfg_->options.max_pipelined_bytes) {
      close(http_errc::pipeline_overflow, net::close_mode::drop);
    }
  }

  void on_writable(net::connection& /*conn*/) override {
    if (websocket_) {
      websocket_->on_writable();
    }
  }

  void on_shutdown(net::connection& /*conn*/) override {
    if (websocket_) {
      websocket_->on_shutdown();
      return;
    }
    shutting_down_ = true;
    if (!awaiting_) {
      close(net::net_errc::server_shutdown, net::close_mode::flush);
    }
    // else: closed after the pending response (Connection: close), or forced at drain end.
  }

  void on_closed(net::connection& /*conn*/, std::error_code reason) override {
    closing_ = true;
    slot_->open = false;
    stop_request_timer();
    if (websocket_) {
      websocket_->on_closed(reason);
    }
  }

  void on_response(std::uint64_t seq, response r) {
    if (closing_ || !awaiting_ || seq != seq_) {
      return;
    }
    awaiting_ = false;
    const bool close_after =
        r.close || says_close(r.headers) || !pending_keep_alive_ || shutting_down_;
    serialize_options so;
    so.head = pending_head_;
    so.close = close_after;
    so.keep_alive_10 = pending_version_ == 10 && !close_after;
    so.server_name = cfg_->options.server_name;
    if (!send(serialize(r, so))) {
      return;
    }
    if (close_after) {
      close(http_errc::response_close, net::close_mode::flush);
      return;
    }
    set_idle(true);
    pump();
  }

  void on_request_timeout(std::uint64_t generation) {
    if (closing_ || !timer_armed_ || generation != timer_generation_) {
      return;
    }
    refuse(408, "request not complete within the request timeout", http_errc::request_timeout);
  }

private:
  void pump() {
    while (!closing_ && !awaiting_) {
      switch (reader_.next()) {
      case detail::request_reader::event::need_more:
        if (reader_.in_progress()) {
          start_request_timer();
        }
        return;
      case detail::request_reader::event::continue_expected:
        // RFC 9110 §10.1.1: the head is acceptable (limits were checked), ask for the body.
        if (!send("HTTP/1.1 100 Continue\r\n\r\n")) {
          return;
        }
        break;
      case detail::request_reader::event::error:
        refuse(reader_.error().status, reader_.error().message, http_errc::bad_request);
        return;
      case detail::request_reader::event::request: {
        auto p = reader_.take_request();
        if (const websocket_route* route = websocket_route_for(p)) {
          upgrade(*route, std::move(p));
          return; // no request follows an upgrade
        }
        dispatch(std::move(p));
        break;
      }
      }
    }
  }

  const websocket_route* websocket_route_for(const detail::parsed_request& p) const {
    for (const auto& route : cfg_->options.websocket_routes) {
      if (p.path == route.path && websocket::wants_upgrade(p.headers)) {
        return &route;
      }
    }
    return nullptr;
  }

  void upgrade(const websocket_route& route, detail::parsed_request&& p) {
    stop_request_timer();
    const auto hs = websocket::check_handshake(p.method, p.version, p.headers, route.subprotocol);
    if (!hs.accepted) {
      response r = error_response(hs.status, hs.message);
      if (hs.status == 426) {
        r.headers.emplace_back("Sec-WebSocket-Version", "13");
      }
      serialize_options so;
      so.close = true;
      so.server_name = cfg_->options.server_name;
      if (send(serialize(r, so))) {
        close(http_errc::bad_request, net::close_mode::flush);
      }
      return;
    }
    conn_->disarm_deadline();
    set_idle(false); // the inner protocol keeps its own (MQTT: keep-alive x 1.5)
    if (!send(websocket::switching_protocols(hs.accept, route.subprotocol))) {
      return;
    }
    // From here every send is a binary frame; the 101 above went out as it was.
    auto framer = std::make_shared<detail::websocket_framer>();
    if (!conn_->set_send_framer(framer)) {
      close(net::net_errc::handler_failed, net::close_mode::drop);
      return;
    }
    closing_ = true; // the HTTP side is done: no request, response or timer any more
    if (route.first_message.count() > 0) {
      conn_->arm_deadline(route.first_message);
    }
    auto inner = route.inner(*conn_);
    if (!inner) {
      conn_->close(detail::websocket_errc::internal_error, net::close_mode::flush);
      return;
    }
    websocket_ = std::make_unique<detail::websocket_session>(
        *conn_, std::move(inner), std::move(framer), route.max_message_size);
    // Bytes that came after the upgrade request are the first WebSocket frames.
    websocket_->start(reader_.take_buffered());
  }

  void dispatch(detail::parsed_request&& p) {
    stop_request_timer();
    // Also the listener's first_message deadline, when the whole request came in one read.
    conn_->disarm_deadline();
    set_idle(false); // a pending response is never timed out here (long polls)
    awaiting_ = true;
    ++seq_;
    pending_head_ = p.method == "HEAD";
    pending_keep_alive_ = p.keep_alive;
    pending_version_ = p.version;

    request req;
    req.method = std::move(p.method);
    req.target = std::move(p.target);
    req.path = std::move(p.path);
    req.query = std::move(p.query);
    req.headers = std::move(p.headers);
    req.body = std::move(p.body);
    req.keep_alive = p.keep_alive;
    req.connection_id = conn_->id();
    req.remote_address = remote_address_;
    req.peer_certificates = peer_certificates_;

    responder res = make_responder(seq_);
    try {
      cfg_->handler(std::move(req), res);
    } catch (const std::exception&) {
      res.send(error_response(500u, "internal error"));
    } catch (...) {
      res.send(error_response(500u, "internal error"));
    }
  }

  responder make_responder(std::uint64_t seq) {
    std::weak_ptr<connection_slot> weak = slot_;
    auto st = std::make_shared<responder::state>([weak, seq](response r) {
      const auto slot = weak.lock();
      if (!slot) {
        return;
      }
      (void)slot->handle.post([slot, seq, r = std::move(r)](net::connection&) mutable {
        if (slot->handler != nullptr) {
          slot->handler->on_response(seq, std::move(r));
        }
      });
    });
    st->open = [weak] {
      const auto slot = weak.lock();
      return slot && slot->open.load();
    };
    return responder(std::move(st));
  }

  void refuse(unsigned status, std::string_view message, http_errc why) {
    stop_request_timer();
    response r = error_response(status, message);
    serialize_options so;
    so.close = true;
    so.server_name = cfg_->options.server_name;
    if (send(serialize(r, so))) {
      close(why, net::close_mode::flush);
    }
  }

  bool send(std::string bytes_out) {
    const auto st = conn_->send(bytes(bytes_out.begin(), bytes_out.end()));
    if (!net::accepted(st)) {
      close(http_errc::send_refused, net::close_mode::drop);
      return false;
    }
    return true;
  }

  void close(std::error_code why, net::close_mode mode) {
    closing_ = true;
    stop_request_timer();
    conn_->close(why, mode);
  }

  void set_idle(bool on) {
    conn_->set_idle_timeout(on ? cfg_->options.idle_timeout : 0ms,
                            net::idle_activity::reads_and_writes);
  }

  void start_request_timer() {
    if (timer_armed_) {
      return;
    }
    timer_armed_ = true;
    const auto generation = ++timer_generation_;
    set_idle(false);
    // Backstop in libs/net in case the 408 cannot be delivered.
    conn_->arm_deadline(cfg_->options.request_timeout + 2s);
    timer_.expires_after(cfg_->options.request_timeout);
    std::weak_ptr<connection_slot> weak = slot_;
    timer_.async_wait([weak, generation](const boost::system::error_code& ec) {
      if (ec) {
        return;
      }
      const auto slot = weak.lock();
      if (!slot) {
        return;
      }
      (void)slot->handle.post([slot, generation](net::connection&) {
        if (slot->handler != nullptr) {
          slot->handler->on_request_timeout(generation);
        }
      });
    });
  }

  void stop_request_timer() {
    if (!timer_armed_) {
      return;
    }
    timer_armed_ = false;
    ++timer_generation_;
    timer_.cancel();
    if (conn_ != nullptr && !conn_->closing()) {
      conn_->disarm_deadline();
    }
  }

  std::shared_ptr<const shared_config> cfg_;
  std::shared_ptr<timer_service> timers_; // outlives timer_
  asio::steady_timer timer_;
  detail::request_reader reader_;
  std::shared_ptr<connection_slot> slot_;
  net::connection* conn_ = nullptr;
  std::string remote_address_;
  std::vector<bytes> peer_certificates_;

  bool awaiting_ = false; // a request was handed out; its response has not been queued
  bool closing_ = false;
  bool shutting_down_ = false;
  bool timer_armed_ = false;
  std::uint64_t timer_generation_ = 0;
  std::uint64_t seq_ = 0;
  bool pending_head_ = false;
  bool pending_keep_alive_ = true;
  unsigned pending_version_ = 11;
  // After an upgrade: the WebSocket layer and its inner handler own the connection.
  std::unique_ptr<detail::websocket_session> websocket_;
};

} // namespace

net::handler_factory make_handler_factory(server_options options, request_handler handler) {
  for (const auto& route : options.websocket_routes) {
    if (route.path.empty() || route.path.front() != '/' || route.subprotocol.empty() ||
        !route.inner) {
      throw std::invalid_argument("websocket_route needs a path, a subprotocol and a handler");
    }
  }
  auto cfg = std::make_shared<shared_config>();
  cfg->options = std::move(options);
  cfg->handler = std::move(handler);
  cfg->timers = std::make_shared<timer_service>();
  std::shared_ptr<const shared_config> shared = std::move(cfg);
  return [shared](net::connection&) -> std::unique_ptr<net::connection_handler> {
    return std::make_unique<http_handler>(shared);
  };
}

} // namespace aegis::http
