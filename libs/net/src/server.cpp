// I/O threads, listeners and shutdown. Connections are in connection.cpp.

#include "runtime.hpp"

#include "aegis/base/log.hpp"
#include "aegis/net/errors.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <utility>

namespace aegis::net {

namespace detail {

namespace {

constexpr auto nothrow_awaitable = asio::as_tuple(asio::use_awaitable);
// Largest TLS record payload: one read takes at most one record's plaintext.
constexpr std::size_t scratch_size = 16 * 1024;
// After an accept error such as EMFILE, wait instead of spinning on it.
constexpr std::chrono::milliseconds accept_backoff{100};
// How long stop() waits for what is already forced: accept loops to see their acceptor closed,
// connections to finish after a hard close. Both take one loop turn; this only guards a bug.
constexpr std::chrono::seconds forced_step_timeout{10};

} // namespace

worker::worker(server_core& core, std::size_t index)
    : core_(core), index_(index), guard_(asio::make_work_guard(context_)),
      gate_(std::make_shared<worker_gate>(context_.get_executor())), scratch_(scratch_size) {}

worker::~worker() {
  AEGIS_ASSERT(!thread_.joinable());
}

void worker::start_thread() {
  thread_ = std::thread([this] {
    for (;;) {
      try {
        context_.run();
        return;
      } catch (const std::exception& e) {
        // Connection tasks catch their own failures; this is a bug elsewhere. Keep serving.
        log::error("net", "I/O thread {}: {}", index_, e.what());
      } catch (...) {
        log::error("net", "I/O thread {}: unknown exception", index_);
      }
    }
  });
}

void worker::stop_and_join() {
  guard_.reset();
  context_.stop();
  if (thread_.joinable()) {
    thread_.join();
  }
  // From here on handles refuse to post: the io_context is about to go.
  const std::unique_lock lock(gate_->mutex);
  gate_->alive = false;
}

void worker::destroy_connections() {
  // Only after the thread is joined: a safety net for connections that did not finish.
  while (!connections_.empty()) {
    destroy(connections_.begin()->first);
  }
}

void worker::adopt(listener_state& listener, tcp::socket socket, std::uint64_t id) {
  if (draining_) {
    boost::system::error_code ec;
    socket.close(ec);
    listener.active.fetch_sub(1, std::memory_order_acq_rel);
    core_.count_down(core_.live);
    return;
  }
  auto conn = std::make_unique<connection_impl>(*this, listener, std::move(socket), id);
  connection_impl* raw = conn.get();
  connections_.emplace(id, std::move(conn));
  raw->start();
}

void worker::destroy_later(std::uint64_t id) {
  asio::post(context_, [this, id] { destroy(id); });
}

void worker::destroy(std::uint64_t id) {
  const auto it = connections_.find(id);
  if (it == connections_.end()) {
    return;
  }
  listener_state& listener = it->second->listener();
  connections_.erase(it);
  listener.active.fetch_sub(1, std::memory_order_acq_rel);
  core_.count_down(core_.live);
}

void worker::begin_drain() {
  draining_ = true;
  // A snapshot: handlers may close connections, and destruction is deferred, but the map must
  // not be iterated while anything could touch it.
  std::vector<connection_impl*> all;
  all.reserve(connections_.size());
  for (auto& [id, conn] : connections_) {
    all.push_back(conn.get());
  }
  for (connection_impl* conn : all) {
    conn->notify_shutdown();
  }
}

void worker::force_close_all() {
  std::vector<connection_impl*> all;
  all.reserve(connections_.size());
  for (auto& [id, conn] : connections_) {
    all.push_back(conn.get());
  }
  for (connection_impl* conn : all) {
    conn->force_close();
  }
}

// One listening socket. Its accept loop runs on one I/O thread (its home); accepted sockets are
// created on the next thread in turn and handed to it.
class listener {
public:
  listener(server_core& core, std::vector<std::unique_ptr<worker>>& workers,
           std::atomic<std::size_t>& next_worker, worker& home, listener_options&& options)
      : core_(core), workers_(workers), next_worker_(next_worker), home_(home),
        acceptor_(home.context()), backoff_(home.context()) {
    state_.name = std::move(options.name);
    state_.tls = std::move(options.tls);
    state_.limits = options.limits;
    state_.make_handler = std::move(options.make_handler);
  }

  boost::system::error_code open(const tcp::endpoint& endpoint, int backlog) {
    boost::system::error_code ec;
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) {
      acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    }
    if (!ec) {
      acceptor_.bind(endpoint, ec);
    }
    if (!ec) {
      acceptor_.listen(backlog, ec);
    }
    return ec;
  }

  std::uint16_t port() const {
    boost::system::error_code ec;
    return acceptor_.local_endpoint(ec).port();
  }

  worker& home() noexcept { return home_; }
  const std::string& name() const noexcept { return state_.name; }

  // On the home thread.
  void close() {
    boost::system::error_code ec;
    acceptor_.close(ec);
    backoff_.cancel();
  }

  asio::awaitable<void> accept_loop() {
    const std::size_t max_connections = state_.limits.max_connections;
    while (acceptor_.is_open()) {
      worker& target = *workers_[next_worker_.fetch_add(1) % workers_.size()];
      auto [ec, socket] = co_await acceptor_.async_accept(target.context(), nothrow_awaitable);
      if (!acceptor_.is_open()) {
        break;
      }
      if (ec == asio::error::connection_aborted) {
        continue; // the client gave up while in the backlog: nothing to report
      }
      if (ec) {
        log::warn("net", "listener {}: accept failed: {}", state_.name, ec.message());
        backoff_.expires_after(accept_backoff);
        co_await backoff_.async_wait(nothrow_awaitable);
        continue;
      }
      if (state_.active.load(std::memory_order_acquire) >= max_connections) {
        const auto n = core_.rejected_over_limit.fetch_add(1, std::memory_order_relaxed) + 1;
        if (n % 1000 == 1) { // one line per burst, not one per attacker's connection
          log::warn("net", "listener {}: {} connections, limit reached; refused {} so far",
                    state_.name, max_connections, n);
        }
        boost::system::error_code ignored;
        socket.close(ignored);
        continue;
      }
      // Counted here, before the hand-over, so that stop() waits for connections in transit.
      state_.active.fetch_add(1, std::memory_order_acq_rel);
      core_.live.fetch_add(1, std::memory_order_acq_rel);
      core_.accepted.fetch_add(1, std::memory_order_relaxed);
      const std::uint64_t id = core_.next_connection_id.fetch_add(1, std::memory_order_relaxed);
      asio::post(target.context(), [w = &target, l = &state_, s = std::move(socket), id]() mutable {
        w->adopt(*l, std::move(s), id);
      });
    }
  }

private:
  server_core& core_;
  std::vector<std::unique_ptr<worker>>& workers_;
  std::atomic<std::size_t>& next_worker_;
  worker& home_;
  listener_state state_;
  tcp::acceptor acceptor_;
  asio::steady_timer backoff_;
};

} // namespace detail

struct server::impl {
  detail::server_core core;
  std::vector<std::unique_ptr<detail::worker>> workers;
  std::vector<std::unique_ptr<detail::listener>> listeners;
  std::atomic<std::size_t> next_worker{0};
  std::mutex lifecycle; // listen() against stop()
  bool stopped = false;

  ~impl() {
    // Connections refer to their listener and their worker's io_context; listeners' acceptors
    // to their io_context. Destroy in that order, after the threads are gone.
    for (auto& w : workers) {
      w->destroy_connections();
    }
    listeners.clear();
    workers.clear();
  }
};

server::server(server_options options) : impl_(std::make_unique<impl>()) {
  std::size_t n = options.threads;
  if (n == 0) {
    n = std::max<std::size_t>(1, std::thread::hardware_concurrency());
  }
  impl_->workers.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    impl_->workers.push_back(std::make_unique<detail::worker>(impl_->core, i));
  }
  for (auto& w : impl_->workers) {
    w->start_thread();
  }
}

server::~server() {
  stop(std::chrono::milliseconds{0});
}

namespace {

bool limits_valid(const limits& l) {
  return l.outbox_low_water <= l.outbox_high_water && l.outbox_high_water <= l.outbox_max &&
         l.outbox_max > 0 && l.max_connections > 0 && l.tls_handshake.count() > 0 &&
         l.close_notify.count() > 0 && l.close_flush.count() > 0 && l.first_message.count() >= 0 &&
         l.idle.count() >= 0;
}

} // namespace

result<listener_info> server::listen(listener_options options) {
  if (!options.make_handler || !limits_valid(options.limits) || options.backlog <= 0) {
    return net_errc::bad_listener_options;
  }
  if (options.tls && options.insecure_plaintext) {
    return net_errc::bad_listener_options;
  }
  if (!options.tls && !options.insecure_plaintext) {
    return net_errc::plaintext_not_allowed;
  }
  if (options.tls && options.tls->native_handle() == nullptr) {
    return net_errc::bad_listener_options;
  }
  boost::system::error_code ec;
  const auto address = detail::asio::ip::make_address(options.address, ec);
  if (ec) {
    return net_errc::bad_listener_options;
  }

  const std::lock_guard lock(impl_->lifecycle);
  if (impl_->stopped) {
    return net_errc::server_stopped;
  }
  auto& home = *impl_->workers[impl_->listeners.size() % impl_->workers.size()];
  const int backlog = options.backlog;
  const bool plaintext = options.insecure_plaintext;
  const std::uint16_t port = options.port;
  auto l = std::make_unique<detail::listener>(impl_->core, impl_->workers, impl_->next_worker, home,
                                              std::move(options));
  ec = l->open(detail::tcp::endpoint(address, port), backlog);
  if (ec) {
    log::error("net", "listener {}: cannot listen on {}:{}: {}", l->name(), address.to_string(),
               port, ec.message());
    return std::error_code(ec);
  }
  const listener_info info{impl_->listeners.size(), l->port()};
  if (plaintext) {
    log::warn("net",
              "listener {} on {}:{} is PLAIN TEXT (insecure dev mode): no TLS, anyone on "
              "the path reads and forges traffic",
              l->name(), address.to_string(), info.port);
  } else {
    log::info("net", "listener {} on {}:{} (TLS)", l->name(), address.to_string(), info.port);
  }
  detail::listener* raw = l.get();
  impl_->listeners.push_back(std::move(l));
  impl_->core.accept_loops.fetch_add(1, std::memory_order_acq_rel);
  detail::asio::co_spawn(home.context(), raw->accept_loop(), [this, raw](std::exception_ptr e) {
    if (e) {
      log::error("net", "listener {}: accept loop failed", raw->name());
    }
    impl_->core.count_down(impl_->core.accept_loops);
  });
  return info;
}

void server::stop(std::chrono::milliseconds drain_timeout) {
  {
    const std::lock_guard lock(impl_->lifecycle);
    if (impl_->stopped) {
      return;
    }
    impl_->stopped = true;
  }
  auto& core = impl_->core;

  // 1. Stop accepting. Once every accept loop has ended, no connection is in transit.
  for (auto& l : impl_->listeners) {
    detail::asio::post(l->home().context(), [raw = l.get()] { raw->close(); });
  }
  if (!core.wait_zero(core.accept_loops, detail::forced_step_timeout)) {
    log::error("net", "shutdown: accept loops did not end");
  }

  // 2. Tell the handlers (MQTT: DISCONNECT 0x8B), and wait for them to close.
  for (auto& w : impl_->workers) {
    detail::asio::post(w->context(), [raw = w.get()] { raw->begin_drain(); });
  }
  if (!core.wait_zero(core.live, drain_timeout)) {
    // 3. Force the rest.
    log::info("net", "shutdown: {} connections still open after the drain timeout; closing them",
              core.live.load());
    for (auto& w : impl_->workers) {
      detail::asio::post(w->context(), [raw = w.get()] { raw->force_close_all(); });
    }
    if (!core.wait_zero(core.live, detail::forced_step_timeout)) {
      log::error("net", "shutdown: {} connections did not finish after a forced close",
                 core.live.load());
    }
  }

  // 4. Join the threads.
  for (auto& w : impl_->workers) {
    w->stop_and_join();
  }
}

std::size_t server::thread_count() const noexcept {
  return impl_->workers.size();
}

server_stats server::stats() const noexcept {
  const auto& c = impl_->core;
  server_stats s;
  s.accepted = c.accepted.load(std::memory_order_relaxed);
  s.rejected_over_limit = c.rejected_over_limit.load(std::memory_order_relaxed);
  s.handshake_failures = c.handshake_failures.load(std::memory_order_relaxed);
  s.handshake_timeouts = c.handshake_timeouts.load(std::memory_order_relaxed);
  s.active = c.live.load(std::memory_order_relaxed);
  return s;
}

} // namespace aegis::net
