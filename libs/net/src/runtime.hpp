#pragma once

// Private to libs/net: the Asio side of the runtime, shared by connection.cpp and server.cpp
// (the only two translation units that instantiate Asio coroutines; keep it that way, every
// such unit costs ~10 s and ~0.8 GB to compile).

#include "aegis/net/connection.hpp"
#include "aegis/net/limits.hpp"
#include "aegis/net/server.hpp"
#include "aegis/net/tls.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

struct ssl_st; // OpenSSL's SSL

namespace aegis::net::detail {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;

class connection_impl;
class worker;

// Lets handles post to an I/O thread's io_context without racing its destruction: posting
// holds the shared lock, and the server marks the gate dead (exclusive lock) before the
// io_context goes away.
struct worker_gate {
  explicit worker_gate(asio::io_context::executor_type ex) : executor(std::move(ex)) {}
  std::shared_mutex mutex;
  bool alive = true; // guarded by mutex
  const asio::io_context::executor_type executor;
};

// What a connection shares with its handles. The byte counter is atomic so that a producer on
// any thread learns the outbox state from send()'s return value without a round trip.
struct connection_shared {
  connection_shared(std::shared_ptr<worker_gate> g, std::uint64_t i, const limits& l)
      : gate(std::move(g)), id(i), high_water(l.outbox_high_water), outbox_max(l.outbox_max) {}

  // Accounts `n` bytes to the outbox, or refuses them.
  send_status reserve(std::size_t n) noexcept;
  void release(std::size_t n) noexcept { outbox_bytes.fetch_sub(n, std::memory_order_acq_rel); }

  const std::shared_ptr<worker_gate> gate;
  const std::uint64_t id;
  const std::size_t high_water;
  const std::size_t outbox_max;
  std::atomic<std::size_t> outbox_bytes{0};
  std::atomic<bool> accepting{false}; // open for sends
  // Set once (connection::set_send_framer) and never changed: readers on any thread load the
  // raw pointer; `framer_owner` keeps it alive as long as any handle holds this state.
  std::atomic<const send_framer*> framer{nullptr};
  std::shared_ptr<const send_framer> framer_owner; // written once, before `framer` is published
  connection_impl* impl = nullptr; // read and written on the connection's thread only
};

struct listener_state {
  std::string name;
  std::optional<tls_context> tls;
  net::limits limits;
  handler_factory make_handler;
  std::atomic<std::size_t> active{0}; // accepted and not yet destroyed
};

// State of the whole runtime that connections report to.
struct server_core {
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> rejected_over_limit{0};
  std::atomic<std::uint64_t> handshake_failures{0};
  std::atomic<std::uint64_t> handshake_timeouts{0};
  std::atomic<std::size_t> live{0}; // accepted and not yet destroyed
  std::atomic<std::size_t> accept_loops{0};
  std::atomic<std::uint64_t> next_connection_id{1};

  std::mutex mutex;
  std::condition_variable changed;

  // Decrements `counter` and wakes stop() when it reaches zero.
  void count_down(std::atomic<std::size_t>& counter) {
    if (counter.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      const std::lock_guard lock(mutex);
      changed.notify_all();
    }
  }
  // Waits until `counter` is zero or `timeout` passes; true when zero.
  bool wait_zero(const std::atomic<std::size_t>& counter, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, timeout, [&] { return counter.load() == 0; });
  }
};

// One I/O thread: its io_context and the connections that live on it.
class worker {
public:
  worker(server_core& core, std::size_t index);
  ~worker();
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  asio::io_context& context() noexcept { return context_; }
  server_core& core() noexcept { return core_; }
  const std::shared_ptr<worker_gate>& gate() const noexcept { return gate_; }
  // A read buffer shared by every connection on this thread: reads are synchronous
  // (readiness first, then a non-blocking read) and handed to the handler before the next
  // suspension, so no connection needs a buffer of its own while idle.
  std::span<std::uint8_t> scratch() noexcept { return scratch_; }

  // On this worker's thread.
  void adopt(listener_state& listener, tcp::socket socket, std::uint64_t id);
  void destroy_later(std::uint64_t id);
  void begin_drain();
  void force_close_all();

  // From the thread that owns the server.
  void start_thread();
  void stop_and_join();
  void destroy_connections();

private:
  void destroy(std::uint64_t id);

  server_core& core_;
  std::size_t index_;
  asio::io_context context_{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard_;
  std::shared_ptr<worker_gate> gate_;
  std::vector<std::uint8_t> scratch_;
  std::unordered_map<std::uint64_t, std::unique_ptr<connection_impl>> connections_;
  bool draining_ = false;
  std::thread thread_;
};

class connection_impl final : public connection {
public:
  connection_impl(worker& w, listener_state& l, tcp::socket socket, std::uint64_t id);
  ~connection_impl() override;

  // On the connection's thread.
  void start();
  void notify_shutdown();
  void force_close();
  void enqueue_reserved(bytes owned, shared_bytes shared);
  void run_posted(const std::function<void(connection&)>& fn);
  listener_state& listener() noexcept { return listener_; }

  // connection
  std::uint64_t id() const noexcept override { return id_; }
  std::string_view listener_name() const noexcept override { return listener_.name; }
  connection_handle handle() const override { return connection_handle(shared_); }
  send_status send(bytes data) override;
  send_status send(shared_bytes data) override;
  send_status send_unframed(bytes data) override;
  bool set_send_framer(std::shared_ptr<const send_framer> framer) override;
  void close(std::error_code reason, close_mode mode) override;
  bool closing() const noexcept override { return phase_ != phase::open; }
  void arm_deadline(std::chrono::milliseconds after) override;
  void disarm_deadline() override;
  void set_idle_timeout(std::chrono::milliseconds timeout, idle_activity counts) override;
  std::size_t outbox_bytes() const noexcept override;
  bool reading_paused() const noexcept override { return read_paused_; }
  std::string remote_address() const override;
  bool is_tls() const noexcept override { return listener_.tls.has_value(); }
  std::string_view tls_version() const noexcept override;
  std::string server_name() const override;
  std::vector<bytes> peer_certificate_chain() const override;

  // What the custom OpenSSL BIO reads and writes through (see connection.cpp).
  struct bio_state {
    tcp::socket* socket = nullptr;
    bool eof = false;
    boost::system::error_code error;
  };

private:
  enum class phase : std::uint8_t { handshaking, open, closing, closed };
  enum class io_status : std::uint8_t { ok, want_read, want_write, eof, truncated, failed };
  struct io_result {
    io_status status = io_status::ok;
    std::size_t bytes = 0;
    std::error_code error;
  };
  struct chunk {
    bytes owned;
    shared_bytes shared;
    bytes_view view() const noexcept { return shared ? bytes_view(*shared) : bytes_view(owned); }
  };

  asio::awaitable<void> run();
  asio::awaitable<bool> handshake();
  asio::awaitable<void> writer();
  asio::awaitable<bool> write_pending();
  asio::awaitable<void> shutdown_transport();
  asio::awaitable<bool> wait_ready(tcp::socket::wait_type what);

  io_result read_some(std::span<std::uint8_t> into);
  io_result write_some(bytes_view from);
  io_result tls_result(int ret);

  send_status send_chunk(chunk c);
  void begin_close(std::error_code reason, close_mode mode);
  void queue_closing_trailer();
  void hard_close(std::error_code reason);
  void drop_outbox();
  void written(std::size_t n);
  void wake_writer();
  void task_done(std::exception_ptr e);
  void finish();
  steady::time_point next_deadline() const noexcept;
  steady::time_point idle_deadline() const noexcept;
  void check_deadlines();
  void reschedule_watchdog();
  void arm_watchdog();
  void on_watchdog();
  void spawn(asio::awaitable<void> task);
  template <class F>
  void guarded(const char* what, F&& f);

  worker& worker_;
  listener_state& listener_;
  const std::uint64_t id_;
  tcp::socket socket_;
  ssl_st* ssl_ = nullptr;
  bio_state bio_;
  asio::steady_timer watchdog_timer_;
  asio::steady_timer reader_resume_;
  tcp::endpoint remote_;
  std::unique_ptr<connection_handler> handler_;
  std::shared_ptr<connection_shared> shared_;
  std::vector<chunk> outbox_;
  bytes_view pending_write_; // what write_pending() is writing; storage in writer()'s frame
  std::error_code reason_;
  steady::time_point handshake_deadline_ = steady::time_point::max();
  steady::time_point app_deadline_ = steady::time_point::max();
  steady::time_point closing_deadline_ = steady::time_point::max();
  steady::time_point last_read_;
  steady::time_point last_write_;
  std::chrono::milliseconds idle_{0};
  idle_activity idle_counts_ = idle_activity::reads_and_writes;
  int tasks_ = 0;
  phase phase_ = phase::handshaking;
  bool tls_failed_ = false;        // SSL_shutdown must not be called any more
  bool drop_requested_ = false;    // close(drop): queued bytes are discarded
  bool transport_closing_ = false; // the writer started close_notify: nothing more is written
  bool read_paused_ = false;
  bool handler_started_ = false;
  bool writer_running_ = false;
  bool watchdog_waiting_ = false;
};

} // namespace aegis::net::detail
