#include "aegis/broker/mqtt_server.hpp"

#include "device_bridge.hpp"

#include "aegis/auth/errors.hpp"
#include "aegis/base/log.hpp"
#include "aegis/broker/errors.hpp"
#include "aegis/mqtt/codec.hpp"

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace aegis::broker {
namespace {

constexpr std::string_view component = "mqtt";

// Close reasons handed to net: the MQTT reason code, for logs.
class close_category final : public std::error_category {
public:
  const char* name() const noexcept override { return "aegis.mqtt.close"; }
  std::string message(int value) const override {
    return std::string(mqtt::to_string(static_cast<mqtt::reason_code>(value)));
  }
};

const std::error_category& close_category_instance() {
  static const close_category cat;
  return cat;
}

std::error_code close_error(mqtt::reason_code r) {
  return {static_cast<int>(r), close_category_instance()};
}

// One thread running posted tasks in order, and optionally a periodic tick.
class worker {
public:
  worker(std::chrono::milliseconds tick_interval, std::function<void()> on_tick)
      : tick_interval_(tick_interval), on_tick_(std::move(on_tick)), thread_([this] { run(); }) {}
  ~worker() { stop(); }
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  bool post(std::function<void()> fn) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) {
        return false;
      }
      queue_.push_back(std::move(fn));
    }
    cv_.notify_one();
    return true;
  }

  // Drops what is still queued and joins. Never from the worker's own thread.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) {
      thread_.join();
    }
  }

private:
  void run() {
    auto next_tick = std::chrono::steady_clock::now() + tick_interval_;
    std::unique_lock lock(mutex_);
    for (;;) {
      if (stopping_) {
        queue_.clear();
        return;
      }
      if (!queue_.empty()) {
        auto fn = std::move(queue_.front());
        queue_.pop_front();
        lock.unlock();
        fn();
        lock.lock();
        continue;
      }
      if (!on_tick_) {
        cv_.wait(lock);
        continue;
      }
      if (std::chrono::steady_clock::now() >= next_tick) {
        next_tick = std::chrono::steady_clock::now() + tick_interval_;
        lock.unlock();
        on_tick_();
        lock.lock();
        continue;
      }
      cv_.wait_until(lock, next_tick);
    }
  }

  std::chrono::milliseconds tick_interval_;
  std::function<void()> on_tick_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::thread thread_; // last: starts after everything above exists
};

template <class... Ts>
struct overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
overloaded(Ts...) -> overloaded<Ts...>;

// Packets a client may send between CONNECT and our CONNACK, kept until the verdict.
constexpr std::size_t max_early_packets = 64;

} // namespace

struct mqtt_server::shared : std::enable_shared_from_this<mqtt_server::shared> {
  shared(mqtt_server_options o, const authorizer* fallback, auth::authenticator_chain& c,
         const clock& k)
      : options(std::move(o)), chain(c), clk(k),
        apps(options.device_profile.application_authorizer != nullptr
                 ? options.device_profile.application_authorizer
                 : fallback) {}

  ~shared() { stop(); }
  shared(const shared&) = delete;
  shared& operator=(const shared&) = delete;

  void start() {
    device_profile_options devices = options.device_profile;
    if (devices.run_blocking) {
      // Storage jobs may outlive the server: they run only while it exists.
      std::weak_ptr<shared> self = weak_from_this();
      devices.run_blocking = [self, inner = devices.run_blocking](std::function<void()> fn) {
        return inner([self, fn = std::move(fn)] {
          if (auto s = self.lock()) {
            fn();
          }
        });
      };
    }
    store = options.persistence.store;
    store_run = options.persistence.run_blocking ? options.persistence.run_blocking
                                                 : options.device_profile.run_blocking;
    bridge = std::make_unique<device_bridge>(
        options.limits, std::move(devices), apps, clk, [this](actions as) { run(std::move(as)); },
        [this](std::function<void()> fn) { return post_core(std::move(fn)); });
    auth_worker = std::make_unique<worker>(std::chrono::milliseconds{0}, nullptr);
    core_worker = std::make_unique<worker>(options.tick_interval, [this] { tick(); });
  }

  void tick() {
    backoff = false;
    bridge->on_tick();
    start_write();
    report_drops();
  }

  void stop() {
    if (auth_worker) {
      auth_worker->stop();
    }
    if (core_worker) {
      core_worker->stop();
    }
  }

  bool post_core(std::function<void()> fn) { return core_worker->post(std::move(fn)); }
  bool post_auth(std::function<void()> fn) { return auth_worker->post(std::move(fn)); }

  // --- everything below runs on the core thread only ---

  struct conn_entry {
    net::connection_handle handle;
    mqtt::protocol_version version = mqtt::protocol_version::v5;
    bool pending = true; // the authenticator has not answered yet
    bool dead = false;   // the transport went away while pending
    std::vector<mqtt::packet> early;
  };

  void begin(connection_id id, net::connection_handle handle, mqtt::protocol_version version) {
    conn_entry e;
    e.handle = std::move(handle);
    e.version = version;
    conns.insert_or_assign(id, std::move(e));
  }

  void refuse(conn_entry& e, mqtt::reason_code reason) {
    bytes out;
    mqtt::connack ack;
    ack.reason = reason;
    if (mqtt::encode_to(ack, e.version, out)) {
      (void)e.handle.send(std::move(out));
    }
    e.handle.close(close_error(reason));
  }

  void finish_auth(connection_id id, mqtt::connect&& connect, const auth::auth_decision& d) {
    auto it = conns.find(id);
    if (it == conns.end()) {
      return;
    }
    if (it->second.dead) {
      conns.erase(it);
      return;
    }
    if (stopping) {
      refuse(it->second, mqtt::reason_code::server_unavailable);
      conns.erase(it);
      return;
    }
    if (!d.allowed() || !d.who) {
      auto reason = mqtt::reason_code::not_authorized;
      if (d.reason.category() == make_error_code(auth::auth_errc::password_mismatch).category()) {
        const auto e = static_cast<auth::auth_errc>(d.reason.value());
        // 3.1.1: auth's own return code (devices hear 5 as on IoT Core, accounts 4).
        reason = it->second.version == mqtt::protocol_version::v3_1_1
                     ? mqtt::from_connect_return_code(auth::connack_v311(e))
                           .value_or(mqtt::reason_code::not_authorized)
                     : static_cast<mqtt::reason_code>(auth::connack_v5(e));
      }
      log::info(component, "connection {} refused: {}", id, d.reason.message());
      refuse(it->second, reason);
      conns.erase(it);
      return;
    }
    const auth::identity& who = *d.who;
    if (who.kind != auth::identity_kind::application && !bridge->devices_supported()) {
      bridge->count(&device_profile_stats::devices_refused);
      log::info(component, "connection {} refused: device {} but no registry", id, who.client_id);
      refuse(it->second, mqtt::reason_code::not_authorized);
      conns.erase(it);
      return;
    }
    it->second.pending = false;
    std::optional<steady_time> expires;
    if (const auto deadline = who.close_deadline()) {
      const auto left = *deadline - clk.wall_now();
      expires = clk.steady_now() + std::chrono::duration_cast<steady_time::duration>(
                                       left.count() > 0 ? left : wall_time::duration::zero());
    }
    std::vector<mqtt::packet> early = std::move(it->second.early);
    bridge->on_connect(id, std::move(connect), who, expires);
    for (auto& p : early) {
      if (conns.find(id) == conns.end()) {
        break;
      }
      bridge->on_packet(id, std::move(p));
    }
  }

  void packet(connection_id id, mqtt::packet&& p) {
    auto it = conns.find(id);
    if (it == conns.end() || it->second.dead) {
      return;
    }
    if (it->second.pending) {
      if (it->second.early.size() >= max_early_packets) {
        it->second.handle.close(close_error(mqtt::reason_code::quota_exceeded),
                                net::close_mode::drop);
        it->second.dead = true;
        return;
      }
      it->second.early.push_back(std::move(p));
      return;
    }
    bridge->on_packet(id, std::move(p));
  }

  void transport_gone(connection_id id, transport_close cause) {
    congested.erase(id);
    auto it = conns.find(id);
    if (it == conns.end()) {
      return;
    }
    if (it->second.pending) {
      it->second.dead = true;
      return;
    }
    conns.erase(it);
    bridge->on_disconnect(id, cause);
  }

  void writable(connection_id id) {
    if (congested.erase(id) != 0 && conns.count(id) != 0) {
      bridge->on_backpressure(id, false);
    }
  }

  void shutdown_core() {
    stopping = true;
    bridge->shutdown();
  }

  // --- the commit gate (core thread): README "Persistence" ---

  // Every batch of actions comes here. Without journaling they run at once. With it, the
  // journal of the event that produced them joins the batch being prepared, and the actions wait
  // until that batch is durable; once anything waits, everything after it waits behind it, so
  // the order of actions on the wire never changes.
  void run(actions as) {
    if (journaling) {
      auto journal = bridge->core().take_journal();
      if (!journal.empty()) {
        for (auto& c : journal) {
          pending.insert_or_assign(std::pair(c.space, std::move(c.key)), std::move(c.value));
        }
        hold(next_batch, std::move(as));
        start_write();
        return;
      }
      if (!held.empty()) {
        hold(held.back().batch, std::move(as));
        return;
      }
    }
    execute(std::move(as));
  }

  void hold(std::uint64_t batch, actions as) {
    if (as.empty()) {
      return;
    }
    held.push_back(held_actions{batch, std::move(as)});
    std::lock_guard lock(stats_mutex);
    ++pstats.actions_held;
  }

  void start_write() {
    if (writing || backoff || pending.empty()) {
      return;
    }
    auto batch = std::make_shared<state_journal>();
    batch->reserve(pending.size());
    for (auto& [key, value] : pending) {
      batch->push_back(state_change{key.first, key.second, std::move(value)});
    }
    pending.clear();
    const std::uint64_t id = next_batch++;
    writing = true;
    std::weak_ptr<shared> self = weak_from_this();
    auto job = [self, batch, id] {
      auto s = self.lock();
      if (!s) {
        return;
      }
      auto r = s->store->apply(*batch);
      const std::error_code ec = r ? std::error_code{} : r.error();
      auto* raw = s.get();
      (void)s->post_core([raw, batch, id, ec] { raw->committed(id, *batch, ec); });
    };
    if (!store_run) {
      job();
      return;
    }
    if (!store_run(std::move(job))) {
      // The executor is full: the batch goes back and waits for the next tick.
      writing = false;
      --next_batch;
      requeue(*batch);
      backoff = true;
      std::lock_guard lock(stats_mutex);
      ++pstats.executor_refused;
    }
  }

  // Puts a batch that did not reach the store back under anything newer.
  void requeue(const state_journal& batch) {
    for (const auto& c : batch) {
      pending.try_emplace(std::pair(c.space, c.key), c.value);
    }
  }

  void committed(std::uint64_t id, const state_journal& batch, std::error_code ec) {
    writing = false;
    if (ec) {
      // Keep serving from memory rather than stall every client behind a broken disk: the
      // changes are retried with the next batch, the held actions go out (counted, logged).
      requeue(batch);
      backoff = true;
      std::uint64_t failures = 0;
      {
        std::lock_guard lock(stats_mutex);
        failures = ++pstats.write_failures;
      }
      if (failures == 1 || clk.steady_now() - last_failure_log >= std::chrono::seconds{60}) {
        last_failure_log = clk.steady_now();
        log::error(component,
                   "cannot write broker state ({} changes): {}; retrying, {} failure(s) so far",
                   batch.size(), ec.message(), failures);
      }
    } else {
      std::lock_guard lock(stats_mutex);
      ++pstats.batches_written;
      pstats.changes_written += batch.size();
    }
    committed_batch = id;
    while (!held.empty() && held.front().batch <= committed_batch) {
      actions as = std::move(held.front().as);
      held.pop_front();
      execute(std::move(as));
    }
    start_write();
    notify_if_drained();
  }

  bool drained() const { return !writing && pending.empty() && held.empty(); }

  void when_drained(std::function<void()> fn) {
    if (drained()) {
      fn();
      return;
    }
    drained_waiters.push_back(std::move(fn));
  }

  void notify_if_drained() {
    if (!drained()) {
      return;
    }
    for (auto& fn : std::exchange(drained_waiters, {})) {
      fn();
    }
  }

  // Caps that drop or refuse are counted in broker_stats; this says so in the log at most once
  // a minute, with what changed since the last line.
  void report_drops() {
    const broker_stats now_stats = bridge->core().stats();
    {
      std::lock_guard lock(stats_mutex);
      core_stats = now_stats;
    }
    const auto now = clk.steady_now();
    if (now - last_drop_log < std::chrono::seconds{60}) {
      return;
    }
    const auto delta = [&](std::uint64_t broker_stats::*f) {
      return now_stats.*f - logged_stats.*f;
    };
    const auto queue_full = delta(&broker_stats::dropped_queue_full);
    const auto retained_refused = delta(&broker_stats::retained_refused);
    const auto expiry_capped = delta(&broker_stats::session_expiry_capped);
    const auto not_persisted = delta(&broker_stats::not_persisted);
    if (queue_full + retained_refused + expiry_capped + not_persisted == 0) {
      return;
    }
    log::warn(component,
              "limits applied in the last minute: {} queued message(s) dropped (queue full, "
              "policy {}), {} retained message(s) refused (quota), {} session expiry interval(s) "
              "capped, {} message(s) kept in memory only",
              queue_full,
              options.limits.overflow == queue_overflow::drop_oldest ? "drop_oldest"
                                                                     : "drop_newest",
              retained_refused, expiry_capped, not_persisted);
    logged_stats = now_stats;
    last_drop_log = now;
  }

  void execute(actions as) {
    std::vector<connection_id> now_congested;
    std::vector<connection_id> overflowed;
    for (auto& a : as) {
      std::visit(overloaded{
                     [&](send_action& s) {
                       auto it = conns.find(s.conn);
                       if (it == conns.end()) {
                         return;
                       }
                       bytes out;
                       if (auto r = mqtt::encode_to(s.packet, s.version, out); !r) {
                         log::warn(component, "cannot encode a packet for connection {}: {}",
                                   s.conn, r.error().message());
                         return;
                       }
                       const auto st = it->second.handle.send(std::move(out));
                       if (st == net::send_status::queued_above_high_water &&
                           congested.insert(s.conn).second) {
                         now_congested.push_back(s.conn);
                       } else if (st == net::send_status::refused_outbox_full) {
                         overflowed.push_back(s.conn);
                       }
                     },
                     [&](close_action& c) {
                       auto it = conns.find(c.conn);
                       if (it == conns.end()) {
                         return;
                       }
                       it->second.handle.close(close_error(c.reason));
                       conns.erase(it);
                       congested.erase(c.conn);
                     },
                 },
                 a);
    }
    for (const auto id : overflowed) {
      auto it = conns.find(id);
      if (it == conns.end()) {
        continue;
      }
      it->second.handle.close(close_error(mqtt::reason_code::quota_exceeded),
                              net::close_mode::drop);
      conns.erase(it);
      congested.erase(id);
      bridge->on_disconnect(id, transport_close::io_error);
    }
    for (const auto id : now_congested) {
      if (conns.count(id) != 0) {
        bridge->on_backpressure(id, true);
      }
    }
  }

  struct held_actions {
    std::uint64_t batch = 0; // runs once this batch is durable
    actions as;
  };

  mqtt_server_options options;
  session_store* store = nullptr;
  std::function<bool(std::function<void()>)> store_run;
  // Commit gate, core thread only. Batches are numbered; `pending` is batch `next_batch`,
  // coalesced by key (the last change wins), while at most one earlier batch is being written.
  bool journaling = false;
  std::map<std::pair<state_space, std::string>, std::optional<bytes>> pending;
  std::uint64_t next_batch = 1;
  std::uint64_t committed_batch = 0;
  bool writing = false;
  bool backoff = false; // a write failed or was refused: the next one waits for the tick
  std::deque<held_actions> held;
  std::vector<std::function<void()>> drained_waiters;
  steady_time last_failure_log{};
  steady_time last_drop_log{};
  broker_stats logged_stats;
  mutable std::mutex stats_mutex;
  persistence_stats pstats;
  broker_stats core_stats;

  auth::authenticator_chain& chain;
  const clock& clk;
  const authorizer* apps;                // null: allow all
  std::unique_ptr<device_bridge> bridge; // owns broker_core; core thread only
  std::unordered_map<connection_id, conn_entry> conns;
  std::unordered_set<connection_id> congested;
  bool stopping = false;
  // Declared last: stopped (joined) before the state above goes away.
  std::unique_ptr<worker> auth_worker;
  std::unique_ptr<worker> core_worker;
};

namespace {

// One per connection, on its I/O thread: decodes, hands packets on, answers decode errors.
class mqtt_handler final : public net::connection_handler {
public:
  explicit mqtt_handler(std::shared_ptr<mqtt_server::shared> rt)
      : rt_(std::move(rt)), decoder_(mqtt::decoder_options{
                                .version = std::nullopt,
                                .from = mqtt::sender::client,
                                .maximum_packet_size = rt_->options.limits.maximum_packet_size,
                                .validate_payload_format = true}) {}

  void on_start(net::connection& conn) override {
    id_ = conn.id();
    handle_ = conn.handle();
  }

  void on_bytes(net::connection& conn, bytes_view data) override {
    while (!data.empty() && !conn.closing()) {
      auto r = decoder_.next(data);
      if (!r) {
        fail(conn);
        return;
      }
      if (!*r) {
        return;
      }
      handle(conn, std::move(**r));
    }
  }

  void on_writable(net::connection&) override {
    auto* rt = rt_.get();
    const auto id = id_;
    (void)rt_->post_core([rt, id] { rt->writable(id); });
  }

  void on_closed(net::connection&, std::error_code reason) override {
    if (!handed_on_) {
      return;
    }
    transport_close cause = transport_close::io_error;
    if (decode_failed_) {
      cause = transport_close::decode_error;
    } else if (reason == net::net_errc::peer_closed) {
      cause = transport_close::peer_closed;
    } else if (reason == net::net_errc::deadline_expired || reason == net::net_errc::idle_timeout) {
      cause = transport_close::timeout;
    }
    auto* rt = rt_.get();
    const auto id = id_;
    (void)rt_->post_core([rt, id, cause] { rt->transport_gone(id, cause); });
  }

private:
  void fail(net::connection& conn) {
    decode_failed_ = true;
    const auto& f = decoder_.failure();
    if (!f) {
      conn.close(close_error(mqtt::reason_code::malformed_packet));
      return;
    }
    const auto& resp = f->response;
    bytes out;
    if (resp.action == mqtt::error_action::send_connack) {
      mqtt::connack ack;
      ack.reason = resp.reason;
      if (mqtt::encode_to(ack, resp.version, out)) {
        (void)conn.send(std::move(out));
      }
    } else if (resp.action == mqtt::error_action::send_disconnect) {
      mqtt::disconnect d;
      d.reason = resp.reason;
      if (mqtt::encode_to(d, resp.version, out)) {
        (void)conn.send(std::move(out));
      }
    }
    conn.close(close_error(resp.reason));
  }

  void handle(net::connection& conn, mqtt::packet&& p) {
    auto* rt = rt_.get();
    const auto id = id_;
    if (!handed_on_) {
      auto* c = std::get_if<mqtt::connect>(&p);
      if (c == nullptr) { // the decoder refuses this already; be sure
        conn.close(close_error(mqtt::reason_code::protocol_error));
        return;
      }
      conn.disarm_deadline();
      handed_on_ = true;
      auth::connect_request req;
      req.client_id = c->client_id;
      req.username = c->username;
      req.password = c->password;
      req.peer_certificates = conn.peer_certificate_chain();
      req.source_address = conn.remote_address();
      req.via = auth::transport::mqtt;
      const auto version = c->version;
      auto handle = handle_;
      (void)rt->post_core([rt, id, handle, version] { rt->begin(id, handle, version); });
      auto connect = std::make_shared<mqtt::connect>(std::move(*c));
      auto request = std::make_shared<auth::connect_request>(std::move(req));
      (void)rt->post_auth([rt, id, connect, request] {
        auto decision = std::make_shared<auth::auth_decision>(rt->chain.authenticate(*request));
        (void)rt->post_core(
            [rt, id, connect, decision] { rt->finish_auth(id, std::move(*connect), *decision); });
      });
      return;
    }
    auto packet = std::make_shared<mqtt::packet>(std::move(p));
    (void)rt->post_core([rt, id, packet] { rt->packet(id, std::move(*packet)); });
  }

  std::shared_ptr<mqtt_server::shared> rt_;
  mqtt::frame_decoder decoder_;
  connection_id id_ = 0;
  net::connection_handle handle_;
  bool handed_on_ = false; // the CONNECT went to auth: the core knows this connection
  bool decode_failed_ = false;
};

} // namespace

mqtt_server::mqtt_server(mqtt_server_options options, auth::authenticator_chain& chain,
                         const clock& clk)
    : shared_(std::make_shared<shared>(std::move(options), nullptr, chain, clk)) {
  shared_->start();
}

mqtt_server::mqtt_server(mqtt_server_options options, const authorizer& authz,
                         auth::authenticator_chain& chain, const clock& clk)
    : shared_(std::make_shared<shared>(std::move(options), &authz, chain, clk)) {
  shared_->start();
}

mqtt_server::~mqtt_server() {
  stop();
}

net::handler_factory mqtt_server::handler_factory() {
  std::shared_ptr<shared> s = shared_;
  return [s](net::connection&) -> std::unique_ptr<net::connection_handler> {
    return std::make_unique<mqtt_handler>(s);
  };
}

void mqtt_server::shutdown(std::chrono::milliseconds timeout) {
  auto done = std::make_shared<std::promise<void>>();
  auto fut = done->get_future();
  auto* s = shared_.get();
  if (!s->post_core([s, done] {
        s->shutdown_core();
        // The sessions' last state (offline, with their end) is written before this returns.
        s->when_drained([done] { done->set_value(); });
      })) {
    return;
  }
  (void)fut.wait_for(timeout);
}

result<restore_report> mqtt_server::restore(std::chrono::milliseconds timeout) {
  auto* s = shared_.get();
  if (s->store == nullptr) {
    return restore_report{};
  }
  auto snapshot = s->store->load();
  if (!snapshot) {
    return snapshot.error();
  }
  auto snap = std::make_shared<state_snapshot>(std::move(*snapshot));
  auto done = std::make_shared<std::promise<restore_report>>();
  auto fut = done->get_future();
  if (!s->post_core([s, snap, done] {
        auto report = s->bridge->core().restore(*snap, s->clk.steady_now(), s->clk.wall_now());
        s->journaling = true;
        s->run({}); // what restore dropped (expired, unreadable) is erased from the store
        done->set_value(report);
      })) {
    return make_error_code(broker_errc::server_busy);
  }
  if (fut.wait_for(timeout) != std::future_status::ready) {
    return make_error_code(broker_errc::server_busy);
  }
  return fut.get();
}

void mqtt_server::stop() {
  shared_->stop();
}

void mqtt_server::send_command(const registry::device_key& device, std::string subfolder,
                               bytes payload, std::function<void(std::error_code)> done) {
  auto* s = shared_.get();
  auto job = std::make_shared<
      std::tuple<registry::device_key, std::string, bytes, std::function<void(std::error_code)>>>(
      device, std::move(subfolder), std::move(payload), std::move(done));
  if (!s->post_core([s, job] {
        auto& [d, sub, data, cb] = *job;
        s->bridge->send_command(d, sub, std::move(data), cb);
      })) {
    if (auto& cb = std::get<3>(*job)) {
      cb(make_error_code(broker_errc::server_busy));
    }
  }
}

void mqtt_server::publish_config(const registry::device_key& device,
                                 const registry::config_version& latest) {
  auto* s = shared_.get();
  (void)s->post_core([s, device, latest] { s->bridge->publish_config(device, latest); });
}

void mqtt_server::revalidate_device(const registry::device_key& device) {
  revalidate_device(device, nullptr);
}

void mqtt_server::revalidate_device(const registry::device_key& device,
                                    std::function<void()> done) {
  auto* s = shared_.get();
  auto cb = std::make_shared<std::function<void()>>(std::move(done));
  if (!s->post_core([s, device, cb] { s->bridge->revalidate_device(device, std::move(*cb)); })) {
    if (*cb) {
      (*cb)();
    }
  }
}

void mqtt_server::revalidate_registry(const registry::registry_key& reg) {
  auto* s = shared_.get();
  (void)s->post_core([s, reg] { s->bridge->revalidate_registry(reg); });
}

void mqtt_server::revoke_certificate(std::string serial_hex) {
  auto* s = shared_.get();
  (void)s->post_core(
      [s, serial = std::move(serial_hex)] { s->bridge->revoke_certificate(serial); });
}

void mqtt_server::publish_device_event(const auth::identity& device, std::string subfolder,
                                       bytes payload) {
  auto* s = shared_.get();
  (void)s->post_core([s, device, sub = std::move(subfolder), data = std::move(payload)]() mutable {
    s->bridge->publish_external(device, false, sub, std::move(data));
  });
}

void mqtt_server::publish_device_state(const auth::identity& device, bytes payload) {
  auto* s = shared_.get();
  (void)s->post_core([s, device, data = std::move(payload)]() mutable {
    s->bridge->publish_external(device, true, std::string(), std::move(data));
  });
}

device_profile_stats mqtt_server::device_stats() const {
  return shared_->bridge->stats();
}

persistence_stats mqtt_server::persistence_counters() const {
  std::lock_guard lock(shared_->stats_mutex);
  return shared_->pstats;
}

broker_stats mqtt_server::broker_counters() const {
  std::lock_guard lock(shared_->stats_mutex);
  return shared_->core_stats;
}

} // namespace aegis::broker
