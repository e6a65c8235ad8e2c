// device_client on Asio: one I/O thread, one coroutine per connection attempt, and inside a
// connection four branches (reader, the single writer, keep-alive, token renewal) of which the
// first to end closes the connection. The MQTT bytes are libs/mqtt's codec.

#include "aegis/device/client.hpp"

#include "aegis/base/log.hpp"
#include "aegis/mqtt/codec.hpp"
#include "client_tls.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <atomic>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

namespace aegis::device {

std::string_view to_string(connection_state s) noexcept {
  switch (s) {
  case connection_state::connecting:
    return "connecting";
  case connection_state::connected:
    return "connected";
  case connection_state::disconnected:
    return "disconnected";
  case connection_state::stopped:
    return "stopped";
  }
  return "unknown";
}

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
using std::chrono::steady_clock;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t max_payload = 256U * 1024U;
constexpr std::string_view log_component = "device";

bool valid_id(std::string_view id) {
  return !id.empty() && id.size() <= 256 && id.find_first_of("/+#") == std::string_view::npos &&
         id.find('\0') == std::string_view::npos;
}

bool valid_subfolder(std::string_view s) {
  return s.size() <= 256 && s.find_first_of("+#") == std::string_view::npos &&
         s.find('\0') == std::string_view::npos && (s.empty() || (s.front() != '/'));
}

std::string json_escape(std::string_view s) {
  std::string out;
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
    } else {
      out += c;
    }
  }
  return out;
}

// What the writer sends besides the offline queue: state, gateway control and leaf events.
struct control_message {
  enum class kind : std::uint8_t { state, attach, detach, leaf_event };
  std::uint64_t id = 0;
  kind what = kind::state;
  std::string device_id; // the leaf for attach/detach/leaf_event
  std::string topic;
  bytes payload;
  std::uint64_t sent_in_epoch = 0; // the connection it is in flight on (0: not sent)
};

struct inflight_entry {
  bool from_queue = false;
  std::uint64_t id = 0; // queue sequence or control_message::id
};

// One connection: everything here dies with it.
struct connection {
  explicit connection(asio::io_context& ioc, asio::ssl::context& ctx)
      : stream(ioc, ctx), wake(ioc), deadline(ioc) {}
  asio::ssl::stream<tcp::socket> stream;
  asio::steady_timer wake; // cancelled to wake the writer
  asio::steady_timer deadline;
  mqtt::protocol_version version = mqtt::protocol_version::v3_1_1;
  std::deque<bytes> priority; // SUBSCRIBE, PUBACK, PINGREQ: before any PUBLISH
  std::map<std::uint16_t, inflight_entry> inflight;
  std::set<std::uint64_t> retry; // queue sequences to send again (v5 quota refusal)
  std::uint64_t last_sent_sequence = 0;
  std::uint16_t next_packet_id = 1;
  bool closing = false; // renewal or stop: no new publishes, drain, DISCONNECT
  bool renewing = false;
  steady_clock::time_point drain_until{};
  bool ping_outstanding = false;
  bool timed_out = false; // the connect deadline fired
  std::error_code end_reason;
  double tokens = 0;
  steady_clock::time_point tokens_at = steady_clock::now();

  std::uint16_t take_packet_id() {
    for (;;) {
      const std::uint16_t id = next_packet_id;
      next_packet_id = static_cast<std::uint16_t>(next_packet_id == 65535 ? 1 : next_packet_id + 1);
      if (!inflight.contains(id)) {
        return id;
      }
    }
  }
  void close() {
    boost::system::error_code ignored;
    stream.lowest_layer().close(ignored);
    wake.cancel();
    deadline.cancel();
  }
};

class client_impl final : public device_client {
public:
  client_impl(client_options options, std::unique_ptr<asio::ssl::context> ctx)
      : options_(std::move(options)), tls_(std::move(ctx)), backoff_timer_(ioc_),
        random_(std::random_device{}()) {
    own_prefix_ = "/devices/" + options_.device_id + "/";
  }

  ~client_impl() override { stop(); }

  void on_config(config_handler cb) override { config_cb_ = std::move(cb); }
  void on_command(command_handler cb) override { command_cb_ = std::move(cb); }
  void on_connection_state(state_handler cb) override { state_cb_ = std::move(cb); }
  void on_event_acked(ack_handler cb) override { ack_cb_ = std::move(cb); }
  void on_leaf_config(leaf_config_handler cb) override { leaf_config_cb_ = std::move(cb); }
  void on_leaf_command(leaf_command_handler cb) override { leaf_command_cb_ = std::move(cb); }
  void on_gateway_error(config_handler cb) override { gateway_error_cb_ = std::move(cb); }
  void on_attach_result(attach_handler cb) override { attach_cb_ = std::move(cb); }

  void start() override {
    std::lock_guard lock(lifecycle_mutex_);
    if (started_) {
      return; // one run per client: a stopped client is not restarted
    }
    started_ = true;
    asio::co_spawn(ioc_, run(), asio::detached);
    thread_ = std::thread([this] {
      io_thread_id_ = std::this_thread::get_id();
      ioc_.run();
      finished_.set_value();
    });
  }

  void stop() override {
    if (std::this_thread::get_id() == io_thread_id_.load()) {
      // From a callback: the I/O thread cannot join itself. The loop ends; the owner's later
      // stop() (or the destructor) joins.
      asio::post(ioc_, [this] {
        stopping_ = true;
        backoff_timer_.cancel();
        if (auto c = current_.lock()) {
          c->closing = true;
          c->drain_until = steady_clock::now();
          c->wake.cancel();
        }
      });
      return;
    }
    std::lock_guard lock(lifecycle_mutex_);
    if (!thread_.joinable()) {
      return;
    }
    asio::post(ioc_, [this] {
      stopping_ = true;
      backoff_timer_.cancel();
      if (auto c = current_.lock()) {
        c->closing = true;
        c->drain_until = steady_clock::now(); // stop does not wait for acknowledgements
        c->wake.cancel();
        c->deadline.cancel();
        if (state_.load() != connection_state::connected) {
          c->close();
        }
      }
    });
    // The DISCONNECT and close_notify get a few seconds; a peer that does not read is cut off.
    if (finished_.get_future().wait_for(std::chrono::seconds(3)) != std::future_status::ready) {
      ioc_.stop();
    }
    thread_.join();
  }

  result<std::uint64_t> publish_event(std::string_view subfolder, bytes payload) override {
    if (!valid_subfolder(subfolder)) {
      return device_errc::bad_config;
    }
    if (payload.size() > max_payload) {
      return device_errc::payload_too_large;
    }
    result<std::uint64_t> pushed = [&]() -> result<std::uint64_t> {
      std::lock_guard lock(mutex_);
      return options_.queue->push(std::string(subfolder), std::move(payload));
    }();
    if (pushed) {
      wake_writer();
    }
    return pushed;
  }

  result<void> set_state(bytes payload) override {
    if (payload.size() > 64U * 1024U) {
      return device_errc::payload_too_large;
    }
    {
      std::lock_guard lock(mutex_);
      auto it = std::find_if(control_.begin(), control_.end(), [](const control_message& m) {
        return m.what == control_message::kind::state && m.sent_in_epoch == 0;
      });
      if (it != control_.end()) {
        it->payload = std::move(payload);
      } else {
        add_control_locked(control_message::kind::state, options_.device_id, own_prefix_ + "state",
                           std::move(payload));
      }
    }
    wake_writer();
    return {};
  }

  result<void> attach(std::string_view device_id, std::string jwt) override {
    if (!valid_id(device_id)) {
      return device_errc::bad_config;
    }
    {
      std::lock_guard lock(mutex_);
      std::string body = "{\"authorization\":\"" + json_escape(jwt) + "\"}";
      attached_[std::string(device_id)] = jwt;
      add_control_locked(control_message::kind::attach, std::string(device_id),
                         "/devices/" + std::string(device_id) + "/attach", to_bytes(body));
    }
    wake_writer();
    return {};
  }

  result<void> detach(std::string_view device_id) override {
    if (!valid_id(device_id)) {
      return device_errc::bad_config;
    }
    {
      std::lock_guard lock(mutex_);
      attached_.erase(std::string(device_id));
      add_control_locked(control_message::kind::detach, std::string(device_id),
                         "/devices/" + std::string(device_id) + "/detach", to_bytes("{}"));
    }
    wake_writer();
    return {};
  }

  result<void> publish_event_for(std::string_view device_id, std::string_view subfolder,
                                 bytes payload) override {
    if (!valid_id(device_id) || !valid_subfolder(subfolder)) {
      return device_errc::bad_config;
    }
    if (payload.size() > max_payload) {
      return device_errc::payload_too_large;
    }
    {
      std::lock_guard lock(mutex_);
      if (control_.size() >= options_.max_pending_control) {
        return device_errc::queue_full;
      }
      std::string topic = "/devices/" + std::string(device_id) + "/events";
      if (!subfolder.empty()) {
        topic += "/" + std::string(subfolder);
      }
      add_control_locked(control_message::kind::leaf_event, std::string(device_id),
                         std::move(topic), std::move(payload));
    }
    wake_writer();
    return {};
  }

  connection_state state() const noexcept override { return state_.load(); }

  client_stats stats() const override {
    std::lock_guard lock(mutex_);
    return stats_;
  }

  std::string client_id() const override {
    return "projects/" + options_.project_id + "/locations/" + options_.location + "/registries/" +
           options_.registry_id + "/devices/" + options_.device_id;
  }

private:
  void add_control_locked(control_message::kind what, std::string device_id, std::string topic,
                          bytes payload) {
    control_message m;
    m.id = ++next_control_id_;
    m.what = what;
    m.device_id = std::move(device_id);
    m.topic = std::move(topic);
    m.payload = std::move(payload);
    control_.push_back(std::move(m));
  }

  void wake_writer() {
    asio::post(ioc_, [this] {
      if (auto c = current_.lock()) {
        c->wake.cancel();
      }
    });
  }

  void set_state_and_tell(connection_state s, std::error_code ec) {
    state_ = s;
    if (state_cb_) {
      try {
        state_cb_(s, ec);
      } catch (...) {
        log::warn(log_component, "the connection state callback threw");
      }
    }
  }

  std::chrono::milliseconds backoff_delay(unsigned attempt) {
    // Full jitter: uniform in [0, min(max, min * 2^attempt)], never below a small floor so a
    // refusing server is not hammered.
    const auto shift = std::min(attempt, 20U);
    const auto ceiling =
        std::min<std::int64_t>(options_.backoff_max.count(), options_.backoff_min.count() << shift);
    std::uniform_int_distribution<std::int64_t> pick(0, std::max<std::int64_t>(ceiling, 1));
    return std::chrono::milliseconds(std::max<std::int64_t>(pick(random_), 50));
  }

  asio::awaitable<void> run() {
    unsigned attempt = 0;
    while (!stopping_) {
      set_state_and_tell(connection_state::connecting, {});
      const session_end end = co_await connect_and_serve();
      const std::error_code why = end.why;
      if (stopping_) {
        break;
      }
      if (end.reached_connack) {
        attempt = 0;
      }
      if (end.renewing) {
        // Planned: a fresh token, straight away.
        continue;
      }
      log::info(log_component, "{}: disconnected: {}", options_.device_id, why.message());
      set_state_and_tell(connection_state::disconnected, why);
      backoff_timer_.expires_after(backoff_delay(attempt));
      ++attempt;
      (void)co_await backoff_timer_.async_wait(use_tuple);
    }
    set_state_and_tell(connection_state::stopped, {});
  }

  struct session_end {
    std::error_code why;
    bool reached_connack = false;
    bool renewing = false;
  };

  // One connection from dialling to close.
  asio::awaitable<session_end> connect_and_serve() {
    auto c = std::make_shared<connection>(ioc_, *tls_);
    c->version = options_.version == mqtt_version::v5 ? mqtt::protocol_version::v5
                                                      : mqtt::protocol_version::v3_1_1;
    current_ = c;
    c->deadline.expires_after(options_.connect_timeout);
    c->deadline.async_wait([c](boost::system::error_code ec) {
      if (!ec) {
        c->timed_out = true;
        boost::system::error_code ignored;
        c->stream.lowest_layer().close(ignored);
      }
    });
    const auto fail = [&](std::error_code ec) -> session_end {
      c->close();
      current_.reset();
      return session_end{c->timed_out ? std::make_error_code(std::errc::timed_out) : ec};
    };

    tcp::resolver resolver(ioc_);
    auto [rec, endpoints] =
        co_await resolver.async_resolve(options_.host, std::to_string(options_.port), use_tuple);
    if (rec) {
      co_return fail(rec);
    }
    auto [cec, ep] = co_await asio::async_connect(c->stream.lowest_layer(), endpoints, use_tuple);
    if (cec || stopping_) {
      co_return fail(cec ? std::error_code(cec)
                         : std::make_error_code(std::errc::operation_canceled));
    }
    boost::system::error_code nodelay_ec;
    c->stream.lowest_layer().set_option(tcp::no_delay(true), nodelay_ec);
    if (!detail::expect_server_name(c->stream.native_handle(), options_.host)) {
      co_return fail(device_errc::bad_config);
    }
    auto [hec] = co_await c->stream.async_handshake(asio::ssl::stream_base::client, use_tuple);
    if (hec) {
      const std::error_code why = detail::classify_handshake_error(hec, c->stream.native_handle());
      if (why.category() == make_error_code(device_errc::bad_config).category()) {
        log::warn(log_component, "{}: TLS refused: {}", options_.device_id, why.message());
      }
      co_return fail(why);
    }

    // CONNECT with a token minted now; iat is whole seconds, so the renewal time is counted
    // from that second, never later than the token's real age.
    mqtt::connect connect;
    connect.version = c->version;
    connect.clean_start = true;
    connect.keep_alive =
        static_cast<std::uint16_t>(std::clamp<std::int64_t>(options_.keep_alive.count(), 0, 65535));
    connect.client_id = client_id();
    connect.username = "unused";
    auto renew_at = steady_clock::time_point::max();
    if (options_.jwt_signer != nullptr) {
      const auto wall_now = std::chrono::system_clock::now();
      const auto iat = std::chrono::time_point_cast<std::chrono::seconds>(wall_now);
      auto jwt =
          mint_device_jwt(*options_.jwt_signer,
                          device_jwt_options{options_.project_id, options_.token_lifetime}, iat);
      if (!jwt) {
        log::error(log_component, "{}: cannot mint a JWT: {}", options_.device_id,
                   jwt.error().message());
        co_return fail(jwt.error());
      }
      connect.password = to_bytes(*jwt);
      const auto renew_after =
          std::chrono::duration_cast<steady_clock::duration>(std::chrono::duration<double>(
              static_cast<double>(options_.token_lifetime.count()) * options_.renew_at));
      renew_at = steady_clock::now() + renew_after - (wall_now - iat);
    }
    auto encoded = mqtt::encode(connect, c->version);
    if (!encoded) {
      co_return fail(encoded.error());
    }
    auto [wec, wn] = co_await asio::async_write(c->stream, asio::buffer(*encoded), use_tuple);
    (void)wn;
    if (wec) {
      co_return fail(wec);
    }

    mqtt::frame_decoder decoder(
        mqtt::decoder_options{.version = c->version, .from = mqtt::sender::server});
    std::array<std::uint8_t, 16384> buffer{};
    std::optional<mqtt::packet> first;
    while (!first) {
      auto [rec2, n] = co_await c->stream.async_read_some(asio::buffer(buffer), use_tuple);
      if (rec2) {
        co_return fail(rec2);
      }
      bytes_view input(buffer.data(), n);
      auto next = decoder.next(input);
      if (!next) {
        co_return fail(next.error());
      }
      first = std::move(*next);
      if (first && !input.empty()) {
        // A server may send config right after CONNACK in the same read; keep those bytes.
        pending_input_.assign(input.begin(), input.end());
      }
    }
    c->deadline.cancel();
    const auto* ack = std::get_if<mqtt::connack>(&*first);
    if (ack == nullptr) {
      co_return fail(make_error_code(mqtt::mqtt_errc::unexpected_packet));
    }
    if (ack->reason != mqtt::reason_code::success) {
      const auto code = c->version == mqtt::protocol_version::v5
                            ? static_cast<std::uint8_t>(ack->reason)
                            : static_cast<std::uint8_t>(mqtt::to_connect_return_code(ack->reason));
      {
        std::lock_guard lock(mutex_);
        stats_.last_refusal_code = code;
      }
      log::warn(log_component, "{}: CONNACK refused the connection (code {:#04x})",
                options_.device_id, code);
      co_return fail(device_errc::server_refused);
    }
    {
      std::lock_guard lock(mutex_);
      ++stats_.connects;
      ++epoch_;
      // A new connection: everything not acknowledged goes again, attachments first.
      for (auto& m : control_) {
        m.sent_in_epoch = 0;
      }
      for (auto it = attached_.rbegin(); it != attached_.rend(); ++it) {
        const bool pending = std::any_of(control_.begin(), control_.end(), [&](const auto& m) {
          return m.what == control_message::kind::attach && m.device_id == it->first;
        });
        if (!pending) {
          control_message m;
          m.id = ++next_control_id_;
          m.what = control_message::kind::attach;
          m.device_id = it->first;
          m.topic = "/devices/" + it->first + "/attach";
          m.payload = to_bytes("{\"authorization\":\"" + json_escape(it->second) + "\"}");
          control_.push_front(std::move(m));
        }
      }
    }
    queue_subscriptions(*c, options_.device_id, options_.gateway);
    c->tokens = std::max(1.0, options_.max_publish_rate);
    c->tokens_at = steady_clock::now();
    set_state_and_tell(connection_state::connected, {});
    log::info(log_component, "{}: connected to {}:{}", options_.device_id, options_.host,
              options_.port);

    co_await (reader(c, std::move(decoder)) || writer(c) || keep_alive(c) || renewal(c, renew_at));
    c->close();
    // Close-notify is skipped: MQTT frames its own end (DISCONNECT), a truncated tail is visible.
    current_.reset();
    co_return session_end{c->end_reason ? c->end_reason
                                        : std::make_error_code(std::errc::connection_reset),
                          true, c->renewing};
  }

  void queue_subscriptions(connection& c, const std::string& device_id, bool with_errors) {
    mqtt::subscribe sub;
    sub.packet_id = c.take_packet_id();
    // The id is not tracked in `inflight`; SUBACKs are only logged.
    mqtt::subscription config;
    config.filter = "/devices/" + device_id + "/config";
    config.options.max_qos = mqtt::qos::at_least_once;
    mqtt::subscription commands;
    commands.filter = "/devices/" + device_id + "/commands/#";
    commands.options.max_qos = mqtt::qos::at_least_once;
    sub.subscriptions = {config, commands};
    if (with_errors) {
      mqtt::subscription errors;
      errors.filter = "/devices/" + device_id + "/errors";
      errors.options.max_qos = mqtt::qos::at_most_once;
      sub.subscriptions.push_back(errors);
    }
    if (auto out = mqtt::encode(sub, c.version)) {
      c.priority.push_back(std::move(*out));
    }
    c.wake.cancel();
  }

  asio::awaitable<void> reader(std::shared_ptr<connection> c, mqtt::frame_decoder decoder) {
    std::array<std::uint8_t, 16384> buffer{};
    bytes carried = std::move(pending_input_);
    pending_input_.clear();
    for (;;) {
      bytes_view input;
      if (!carried.empty()) {
        input = bytes_view(carried);
      } else {
        auto [ec, n] = co_await c->stream.async_read_some(asio::buffer(buffer), use_tuple);
        if (ec) {
          if (!c->end_reason) {
            c->end_reason = ec;
          }
          c->close();
          co_return;
        }
        input = bytes_view(buffer.data(), n);
      }
      while (!input.empty()) {
        auto next = decoder.next(input);
        if (!next) {
          log::warn(log_component, "{}: bad packet from the server: {}", options_.device_id,
                    next.error().message());
          c->end_reason = next.error();
          c->close();
          co_return;
        }
        if (*next) {
          if (!handle(*c, std::move(**next))) {
            c->close();
            co_return;
          }
        }
      }
      carried.clear();
    }
  }

  // False: the connection must end (end_reason set).
  bool handle(connection& c, mqtt::packet p) {
    if (auto* pub = std::get_if<mqtt::publish>(&p)) {
      if (pub->qos == mqtt::qos::at_least_once) {
        mqtt::puback ack;
        ack.packet_id = pub->packet_id;
        if (auto out = mqtt::encode(ack, c.version)) {
          c.priority.push_back(std::move(*out));
          c.wake.cancel();
        }
      }
      deliver(*pub);
      return true;
    }
    if (auto* ack = std::get_if<mqtt::puback>(&p)) {
      on_puback(c, *ack);
      return true;
    }
    if (std::holds_alternative<mqtt::pingresp>(p)) {
      c.ping_outstanding = false;
      return true;
    }
    if (auto* sub = std::get_if<mqtt::suback>(&p)) {
      for (const auto r : sub->reasons) {
        if (static_cast<std::uint8_t>(r) >= 0x80) {
          log::warn(log_component, "{}: a subscription was refused ({:#04x})", options_.device_id,
                    static_cast<unsigned>(r));
        }
      }
      return true;
    }
    if (auto* d = std::get_if<mqtt::disconnect>(&p)) {
      std::lock_guard lock(mutex_);
      stats_.last_refusal_code = static_cast<std::uint8_t>(d->reason);
      c.end_reason = device_errc::server_refused;
      return false;
    }
    if (std::holds_alternative<mqtt::unsuback>(p)) {
      return true;
    }
    c.end_reason = make_error_code(mqtt::mqtt_errc::unexpected_packet);
    return false;
  }

  void deliver(const mqtt::publish& pub) {
    const std::string_view topic = pub.topic;
    constexpr std::string_view devices = "/devices/";
    if (topic.substr(0, devices.size()) != devices) {
      return;
    }
    const auto rest = topic.substr(devices.size());
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos) {
      return;
    }
    const auto device = rest.substr(0, slash);
    const auto what = rest.substr(slash + 1);
    const bool own = device == options_.device_id;
    try {
      if (what == "config") {
        {
          std::lock_guard lock(mutex_);
          ++stats_.config_received;
        }
        if (own && config_cb_) {
          config_cb_(pub.payload);
        } else if (!own && leaf_config_cb_) {
          leaf_config_cb_(device, pub.payload);
        }
      } else if (what == "commands" || what.substr(0, 9) == "commands/") {
        const auto subfolder = what.size() > 9 ? what.substr(9) : std::string_view{};
        {
          std::lock_guard lock(mutex_);
          ++stats_.commands_received;
        }
        if (own && command_cb_) {
          command_cb_(subfolder, pub.payload);
        } else if (!own && leaf_command_cb_) {
          leaf_command_cb_(device, subfolder, pub.payload);
        }
      } else if (what == "errors" && gateway_error_cb_) {
        gateway_error_cb_(pub.payload);
      }
    } catch (...) {
      log::warn(log_component, "{}: a message callback threw", options_.device_id);
    }
  }

  void on_puback(connection& c, const mqtt::puback& ack) {
    const auto it = c.inflight.find(ack.packet_id);
    if (it == c.inflight.end()) {
      return;
    }
    const inflight_entry entry = it->second;
    c.inflight.erase(it);
    c.wake.cancel();
    const auto code = static_cast<std::uint8_t>(ack.reason);
    const bool accepted = code < 0x80;
    if (entry.from_queue) {
      if (!accepted && ack.reason == mqtt::reason_code::quota_exceeded) {
        // Over the server's rate: keep it, slow down for a second, send it again.
        c.retry.insert(entry.id);
        c.tokens = -std::max(1.0, options_.max_publish_rate);
        return;
      }
      std::error_code error;
      {
        std::lock_guard lock(mutex_);
        (void)options_.queue->pop(entry.id);
        if (accepted) {
          ++stats_.events_acked;
        } else {
          ++stats_.events_refused;
          error = device_errc::server_refused;
        }
      }
      if (ack_cb_) {
        try {
          ack_cb_(entry.id, error);
        } catch (...) {
          log::warn(log_component, "{}: the ack callback threw", options_.device_id);
        }
      }
      return;
    }
    control_message done;
    {
      std::lock_guard lock(mutex_);
      const auto m = std::find_if(control_.begin(), control_.end(),
                                  [&](const control_message& x) { return x.id == entry.id; });
      if (m == control_.end()) {
        return;
      }
      done = std::move(*m);
      control_.erase(m);
    }
    if (done.what == control_message::kind::attach && accepted) {
      queue_subscriptions(c, done.device_id, false);
    }
    if ((done.what == control_message::kind::attach ||
         done.what == control_message::kind::detach) &&
        attach_cb_) {
      try {
        attach_cb_(done.device_id,
                   accepted ? std::error_code{} : make_error_code(device_errc::server_refused));
      } catch (...) {
        log::warn(log_component, "{}: the attach callback threw", options_.device_id);
      }
    }
  }

  // The next PUBLISH to send, or nothing.
  std::optional<bytes> next_publish(connection& c) {
    mqtt::publish pub;
    pub.qos = mqtt::qos::at_least_once;
    inflight_entry entry;
    bool found = false;
    {
      std::lock_guard lock(mutex_);
      for (auto& m : control_) {
        if (m.sent_in_epoch != epoch_) {
          m.sent_in_epoch = epoch_;
          pub.topic = m.topic;
          pub.payload = m.payload;
          entry = inflight_entry{false, m.id};
          found = true;
          break;
        }
      }
      if (!found) {
        const auto window = c.inflight.size() + c.retry.size() + options_.max_inflight;
        for (auto& e : options_.queue->peek(window)) {
          const bool retry = c.retry.erase(e.sequence) > 0;
          if (retry || e.sequence > c.last_sent_sequence) {
            pub.topic = own_prefix_ + "events";
            if (!e.subfolder.empty()) {
              pub.topic += "/" + e.subfolder;
            }
            pub.payload = std::move(e.payload);
            pub.dup = retry;
            entry = inflight_entry{true, e.sequence};
            c.last_sent_sequence = std::max(c.last_sent_sequence, e.sequence);
            ++stats_.events_sent;
            found = true;
            break;
          }
        }
      }
    }
    if (!found) {
      return std::nullopt;
    }
    pub.packet_id = c.take_packet_id();
    c.inflight[pub.packet_id] = entry;
    auto out = mqtt::encode(pub, c.version);
    if (!out) {
      log::error(log_component, "{}: cannot encode a PUBLISH: {}", options_.device_id,
                 out.error().message());
      return std::nullopt;
    }
    return std::move(*out);
  }

  asio::awaitable<void> writer(std::shared_ptr<connection> c) {
    for (;;) {
      std::optional<bytes> out;
      auto wait_until = steady_clock::time_point::max();
      const auto now = steady_clock::now();
      if (!c->priority.empty()) {
        out = std::move(c->priority.front());
        c->priority.pop_front();
      } else if (c->closing) {
        if (c->inflight.empty() || now >= c->drain_until) {
          mqtt::disconnect d;
          if (auto bytes_out = mqtt::encode(d, c->version)) {
            (void)co_await asio::async_write(c->stream, asio::buffer(*bytes_out), use_tuple);
          }
          c->close();
          co_return;
        }
        wait_until = c->drain_until;
      } else if (c->inflight.size() < options_.max_inflight) {
        const double rate = std::max(0.0, options_.max_publish_rate);
        if (rate > 0) {
          const double elapsed = std::chrono::duration<double>(now - c->tokens_at).count();
          c->tokens = std::min(std::max(1.0, rate), c->tokens + elapsed * rate);
          c->tokens_at = now;
        }
        if (rate <= 0 || c->tokens >= 1.0) {
          out = next_publish(*c);
          if (out) {
            c->tokens -= 1.0;
          }
        } else {
          wait_until = now + std::chrono::duration_cast<steady_clock::duration>(
                                 std::chrono::duration<double>((1.0 - c->tokens) / rate));
        }
      }
      if (out) {
        auto [ec, n] = co_await asio::async_write(c->stream, asio::buffer(*out), use_tuple);
        (void)n;
        if (ec) {
          if (!c->end_reason) {
            c->end_reason = ec;
          }
          c->close();
          co_return;
        }
        continue;
      }
      c->wake.expires_at(wait_until);
      auto [ec] = co_await c->wake.async_wait(use_tuple);
      if (!c->stream.lowest_layer().is_open()) {
        co_return;
      }
      (void)ec;
    }
  }

  asio::awaitable<void> keep_alive(std::shared_ptr<connection> c) {
    if (options_.keep_alive.count() == 0) {
      asio::steady_timer forever(ioc_, steady_clock::time_point::max());
      (void)co_await forever.async_wait(use_tuple);
      co_return;
    }
    asio::steady_timer timer(ioc_);
    for (;;) {
      timer.expires_after(options_.keep_alive);
      auto [ec] = co_await timer.async_wait(use_tuple);
      if (ec || !c->stream.lowest_layer().is_open()) {
        co_return;
      }
      log::debug(log_component, "{}: keep-alive tick (ping outstanding: {})", options_.device_id,
                 c->ping_outstanding);
      if (c->ping_outstanding) {
        // No PINGRESP within a whole keep-alive period: the path is dead.
        c->end_reason = std::make_error_code(std::errc::timed_out);
        c->close();
        co_return;
      }
      if (auto out = mqtt::encode(mqtt::pingreq{}, c->version)) {
        c->ping_outstanding = true;
        c->priority.push_back(std::move(*out));
        c->wake.cancel();
      }
    }
  }

  asio::awaitable<void> renewal(std::shared_ptr<connection> c, steady_clock::time_point at) {
    asio::steady_timer timer(ioc_, at);
    auto [ec] = co_await timer.async_wait(use_tuple);
    if (ec || !c->stream.lowest_layer().is_open()) {
      co_return;
    }
    log::info(log_component, "{}: renewing the token", options_.device_id);
    {
      std::lock_guard lock(mutex_);
      ++stats_.token_renewals;
    }
    c->renewing = true;
    c->closing = true;
    // Acknowledgements of what is in flight get a moment, so a renewal rarely duplicates.
    c->drain_until = steady_clock::now() + std::chrono::seconds(2);
    c->wake.cancel();
    timer.expires_at(steady_clock::time_point::max());
    (void)co_await timer.async_wait(use_tuple);
  }

  client_options options_;
  asio::io_context ioc_;
  std::unique_ptr<asio::ssl::context> tls_;
  asio::steady_timer backoff_timer_;
  std::mt19937_64 random_;
  std::string own_prefix_;

  std::mutex lifecycle_mutex_;
  bool started_ = false;
  std::thread thread_;
  std::atomic<std::thread::id> io_thread_id_{};
  std::promise<void> finished_;

  // I/O thread only.
  bool stopping_ = false;
  std::weak_ptr<connection> current_;
  bytes pending_input_;

  std::atomic<connection_state> state_{connection_state::disconnected};

  // Shared with callers' threads.
  mutable std::mutex mutex_;
  std::deque<control_message> control_;
  std::map<std::string, std::string> attached_; // leaf -> its JWT (may be empty)
  std::uint64_t next_control_id_ = 0;
  std::uint64_t epoch_ = 0;
  client_stats stats_;

  config_handler config_cb_;
  command_handler command_cb_;
  state_handler state_cb_;
  ack_handler ack_cb_;
  leaf_config_handler leaf_config_cb_;
  leaf_command_handler leaf_command_cb_;
  config_handler gateway_error_cb_;
  attach_handler attach_cb_;
};

} // namespace

result<std::unique_ptr<device_client>> device_client::create(client_options options) {
  if (options.queue == nullptr || options.host.empty() || options.port == 0 ||
      !valid_id(options.project_id) || !valid_id(options.location) ||
      !valid_id(options.registry_id) || !valid_id(options.device_id)) {
    return device_errc::bad_config;
  }
  if (options.root_ca_files.empty() && !options.use_system_roots) {
    return device_errc::bad_config; // trusting nothing would refuse every server
  }
  const bool has_cert = !options.client_certificate_file.empty();
  if ((options.jwt_signer == nullptr) == !has_cert && options.jwt_signer == nullptr) {
    return device_errc::bad_config; // neither a JWT nor a certificate
  }
  if (options.token_lifetime < std::chrono::seconds(2) ||
      options.token_lifetime > std::chrono::hours(24) || !(options.renew_at > 0.0) ||
      !(options.renew_at < 1.0) || options.keep_alive.count() < 0 ||
      options.keep_alive.count() > 65535 || options.backoff_min.count() <= 0 ||
      options.backoff_max < options.backoff_min || options.max_inflight == 0 ||
      options.max_inflight > 65000 || options.connect_timeout.count() <= 0) {
    return device_errc::bad_config;
  }
  auto ctx = detail::make_client_tls_context(options);
  if (!ctx) {
    return ctx.error();
  }
  return std::unique_ptr<device_client>(
      std::make_unique<client_impl>(std::move(options), std::move(*ctx)));
}

} // namespace aegis::device
