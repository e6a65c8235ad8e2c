// One connection: TLS (or plain TCP) on an Asio socket, a reader coroutine, one writer
// coroutine at a time, and a watchdog timer that enforces every deadline.
//
// TLS runs OpenSSL directly on the non-blocking socket through a small custom BIO, and I/O is
// readiness-based (async_wait, then a non-blocking read or write), not asio::ssl::stream:
// asio's stream keeps two 17 KiB buffers per connection for its whole life, more than twice
// OpenSSL's own per-connection floor with SSL_MODE_RELEASE_BUFFERS (performance-baseline §5c).
// Here an idle connection holds no read or write buffer at all.

#include "runtime.hpp"

#include "aegis/base/log.hpp"
#include "aegis/net/errors.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <utility>

namespace aegis::net {

void connection_handler::on_writable(connection& /*conn*/) {}

void connection_handler::on_shutdown(connection& conn) {
  conn.close(net_errc::server_shutdown, close_mode::flush);
}

std::string_view to_string(send_status s) noexcept {
  switch (s) {
  case send_status::queued:
    return "queued";
  case send_status::queued_above_high_water:
    return "queued_above_high_water";
  case send_status::refused_outbox_full:
    return "refused_outbox_full";
  case send_status::closed:
    return "closed";
  }
  return "unknown";
}

namespace detail {

namespace {

constexpr auto nothrow_awaitable = asio::as_tuple(asio::use_awaitable);
// One TLS record's worth of plaintext: small messages are coalesced up to this size so that a
// burst becomes one record and one syscall instead of one per message (§6 item 5).
constexpr std::size_t coalesce_limit = 16 * 1024;
// Reads handed to the handler before yielding to the other connections on this thread.
constexpr int read_burst = 16;

bool would_block(const boost::system::error_code& ec) {
  return ec == asio::error::would_block || ec == asio::error::try_again;
}

// --- The BIO: OpenSSL's record layer reads and writes the Asio socket directly. ------------
// Going through the socket object (not its file descriptor) means a closed socket fails with
// bad_descriptor instead of touching a descriptor number the kernel may have reused, and writes
// use MSG_NOSIGNAL (no SIGPIPE), which OpenSSL's own socket BIO does not.

connection_impl::bio_state* state_of(BIO* b) {
  return static_cast<connection_impl::bio_state*>(BIO_get_data(b));
}

int bio_write(BIO* b, const char* data, std::size_t len, std::size_t* written) {
  auto* st = state_of(b);
  BIO_clear_retry_flags(b);
  boost::system::error_code ec;
  const std::size_t n = st->socket->write_some(asio::buffer(data, len), ec);
  if (!ec) {
    *written = n;
    return 1;
  }
  if (would_block(ec)) {
    BIO_set_retry_write(b);
  } else {
    st->error = ec;
  }
  return 0;
}

int bio_read(BIO* b, char* data, std::size_t len, std::size_t* read) {
  auto* st = state_of(b);
  BIO_clear_retry_flags(b);
  boost::system::error_code ec;
  const std::size_t n = st->socket->read_some(asio::buffer(data, len), ec);
  if (!ec) {
    *read = n;
    return 1;
  }
  if (would_block(ec)) {
    BIO_set_retry_read(b);
  } else if (ec == asio::error::eof) {
    st->eof = true;
  } else {
    st->error = ec;
  }
  return 0;
}

long bio_ctrl(BIO* b, int cmd, long /*num*/, void* /*ptr*/) {
  switch (cmd) {
  case BIO_CTRL_FLUSH:
    return 1; // writes go straight to the socket
  case BIO_CTRL_EOF:
    // OpenSSL asks this to tell an unexpected EOF (truncation) from other failures.
    return state_of(b)->eof ? 1 : 0;
  default:
    return 0;
  }
}

BIO_METHOD* socket_bio_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "aegis.net socket");
    if (m != nullptr) {
      BIO_meth_set_write_ex(m, bio_write);
      BIO_meth_set_read_ex(m, bio_read);
      BIO_meth_set_ctrl(m, bio_ctrl);
    }
    return m;
  }();
  return method;
}

// OpenSSL's error queue is per thread and shared by every connection on it: what one
// connection leaves behind must not be read as another's failure.
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

} // namespace

send_status connection_shared::reserve(std::size_t n) noexcept {
  if (!accepting.load(std::memory_order_acquire)) {
    return send_status::closed;
  }
  const std::size_t before = outbox_bytes.fetch_add(n, std::memory_order_acq_rel);
  if (before + n > outbox_max) {
    release(n);
    return send_status::refused_outbox_full;
  }
  return before + n > high_water ? send_status::queued_above_high_water : send_status::queued;
}

connection_impl::connection_impl(worker& w, listener_state& l, tcp::socket socket, std::uint64_t id)
    : worker_(w), listener_(l), id_(id), socket_(std::move(socket)), watchdog_timer_(w.context()),
      reader_resume_(w.context()),
      shared_(std::make_shared<connection_shared>(w.gate(), id, l.limits)) {
  boost::system::error_code ec;
  remote_ = socket_.remote_endpoint(ec);
  // Non-blocking: every read and write is attempted directly and only waits for readiness.
  socket_.non_blocking(true, ec);
  // performance-baseline §6 item 1: without it a TLS 1.3 connect costs 40 ms of Nagle.
  socket_.set_option(tcp::no_delay(true), ec);
  bio_.socket = &socket_;
  reader_resume_.expires_at(steady::time_point::max());
  shared_->impl = this;
}

connection_impl::~connection_impl() {
  shared_->impl = nullptr;
  shared_->accepting.store(false, std::memory_order_release);
  if (ssl_ != nullptr) {
    SSL_free(ssl_);
  }
}

void connection_impl::spawn(asio::awaitable<void> task) {
  ++tasks_;
  // A plain (non-coroutine) completion handler: `this` outlives every task, because
  // destruction waits for the last one (finish()).
  asio::co_spawn(worker_.context(), std::move(task),
                 [this](std::exception_ptr e) { task_done(std::move(e)); });
}

void connection_impl::start() {
  handshake_deadline_ = steady::now() + listener_.limits.tls_handshake;
  arm_watchdog();
  spawn(run());
}

template <class F>
void connection_impl::guarded(const char* what, F&& f) {
  try {
    std::forward<F>(f)();
  } catch (const std::exception& e) {
    log::error("net", "connection {}: {} threw: {}", id_, what, e.what());
    hard_close(net_errc::handler_failed);
  } catch (...) {
    log::error("net", "connection {}: {} threw", id_, what);
    hard_close(net_errc::handler_failed);
  }
}

asio::awaitable<void> connection_impl::run() {
  if (listener_.tls) {
    const bool ok = co_await handshake();
    if (!ok) {
      if (phase_ == phase::handshaking) {
        worker_.core().handshake_failures.fetch_add(1, std::memory_order_relaxed);
        hard_close(net_errc::handshake_failed);
      }
      co_return;
    }
  }
  if (phase_ != phase::handshaking) {
    co_return; // closed meanwhile: handshake deadline or server shutdown
  }
  handshake_deadline_ = steady::time_point::max();
  phase_ = phase::open;
  const auto now = steady::now();
  last_read_ = now;
  last_write_ = now;
  const auto& lim = listener_.limits;
  if (lim.first_message.count() > 0) {
    app_deadline_ = now + lim.first_message;
  }
  idle_ = lim.idle;

  guarded("handler factory", [&] { handler_ = listener_.make_handler(*this); });
  if (!handler_) {
    hard_close(net_errc::handler_failed);
    co_return;
  }
  shared_->accepting.store(true, std::memory_order_release);
  handler_started_ = true;
  reschedule_watchdog();
  guarded("on_start", [&] { handler_->on_start(*this); });

  // The reader: inline, and waiting on the socket directly rather than through wait_ready(), so
  // that an idle connection holds one coroutine frame for it, not three.
  int burst = 0;
  while (phase_ == phase::open) {
    if (read_paused_) {
      // Backpressure: the peer's own unread output is over the high-water mark, so stop
      // taking input that would make us produce more (STYLE habit 6, 15).
      co_await reader_resume_.async_wait(nothrow_awaitable);
      continue;
    }
    const auto buffer = worker_.scratch();
    const io_result r = read_some(buffer);
    switch (r.status) {
    case io_status::ok:
      last_read_ = steady::now();
      guarded("on_bytes", [&] { handler_->on_bytes(*this, bytes_view(buffer.data(), r.bytes)); });
      if (++burst == read_burst) {
        burst = 0;
        co_await asio::post(worker_.context(), asio::use_awaitable);
      }
      break;
    case io_status::want_read:
    case io_status::want_write:
      burst = 0;
      co_await socket_.async_wait(r.status == io_status::want_read ? tcp::socket::wait_read
                                                                   : tcp::socket::wait_write,
                                  nothrow_awaitable);
      break;
    case io_status::eof:
      begin_close(net_errc::peer_closed, close_mode::drop);
      break;
    case io_status::truncated:
      begin_close(net_errc::peer_truncated, close_mode::drop);
      break;
    case io_status::failed:
      hard_close(r.error);
      break;
    }
  }
}

asio::awaitable<bool> connection_impl::handshake() {
  ssl_ = SSL_new(listener_.tls->native_handle());
  BIO_METHOD* method = socket_bio_method();
  BIO* bio = ssl_ != nullptr && method != nullptr ? BIO_new(method) : nullptr;
  if (bio == nullptr) {
    log::error("net", "connection {}: TLS set-up failed: {}", id_, take_openssl_errors());
    co_return false;
  }
  BIO_set_data(bio, &bio_);
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl_, bio, bio);
  SSL_set_accept_state(ssl_);
  for (;;) {
    if (phase_ != phase::handshaking) {
      co_return false;
    }
    ERR_clear_error();
    bio_.error.clear();
    const int ret = SSL_do_handshake(ssl_);
    if (ret == 1) {
      co_return true;
    }
    const int err = SSL_get_error(ssl_, ret);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      co_await wait_ready(err == SSL_ERROR_WANT_READ ? tcp::socket::wait_read
                                                     : tcp::socket::wait_write);
      continue;
    }
    tls_failed_ = true;
    // Debug level: failed handshakes are what scanners and attackers produce in bulk.
    if (log::enabled(log::level::debug)) {
      log::debug("net", "connection {} from {}: TLS handshake failed: {}", id_, remote_address(),
                 take_openssl_errors());
    }
    ERR_clear_error();
    co_return false;
  }
}

asio::awaitable<bool> connection_impl::wait_ready(tcp::socket::wait_type what) {
  // Errors other than cancellation show up in the next read or write.
  co_await socket_.async_wait(what, nothrow_awaitable);
  co_return phase_ != phase::closed;
}

connection_impl::io_result connection_impl::tls_result(int ret) {
  const int err = SSL_get_error(ssl_, ret);
  io_result r;
  switch (err) {
  case SSL_ERROR_WANT_READ:
    r.status = io_status::want_read;
    break;
  case SSL_ERROR_WANT_WRITE:
    r.status = io_status::want_write;
    break;
  case SSL_ERROR_ZERO_RETURN:
    r.status = io_status::eof; // the peer's close_notify
    break;
  case SSL_ERROR_SYSCALL:
  case SSL_ERROR_SSL: {
    // OpenSSL: after these, no more I/O and no SSL_shutdown on this SSL.
    tls_failed_ = true;
    const unsigned long e = ERR_peek_error();
    if (bio_.eof || (ERR_GET_LIB(e) == ERR_LIB_SSL &&
                     ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
      r.status = io_status::truncated;
    } else if (bio_.error) {
      r.status = io_status::failed;
      r.error = bio_.error;
    } else {
      r.status = io_status::failed;
      r.error = net_errc::tls_failed;
      if (log::enabled(log::level::debug)) {
        log::debug("net", "connection {}: TLS error: {}", id_, take_openssl_errors());
      }
    }
    break;
  }
  default:
    r.status = io_status::failed;
    r.error = net_errc::tls_failed;
    break;
  }
  ERR_clear_error();
  return r;
}

connection_impl::io_result connection_impl::read_some(std::span<std::uint8_t> into) {
  if (ssl_ != nullptr) {
    ERR_clear_error();
    bio_.error.clear();
    std::size_t n = 0;
    const int ret = SSL_read_ex(ssl_, into.data(), into.size(), &n);
    if (ret == 1) {
      return {io_status::ok, n, {}};
    }
    return tls_result(ret);
  }
  boost::system::error_code ec;
  const std::size_t n = socket_.read_some(asio::buffer(into.data(), into.size()), ec);
  if (!ec) {
    return {io_status::ok, n, {}};
  }
  if (would_block(ec)) {
    return {io_status::want_read, 0, {}};
  }
  if (ec == asio::error::eof) {
    return {io_status::eof, 0, {}};
  }
  return {io_status::failed, 0, ec};
}

connection_impl::io_result connection_impl::write_some(bytes_view from) {
  if (ssl_ != nullptr) {
    ERR_clear_error();
    bio_.error.clear();
    std::size_t n = 0;
    const int ret = SSL_write_ex(ssl_, from.data(), from.size(), &n);
    if (ret == 1) {
      return {io_status::ok, n, {}};
    }
    return tls_result(ret);
  }
  boost::system::error_code ec;
  const std::size_t n = socket_.write_some(asio::buffer(from.data(), from.size()), ec);
  if (!ec) {
    return {io_status::ok, n, {}};
  }
  if (would_block(ec)) {
    return {io_status::want_write, 0, {}};
  }
  return {io_status::failed, 0, ec};
}

asio::awaitable<bool> connection_impl::write_pending() {
  while (!pending_write_.empty()) {
    if (phase_ == phase::closed) {
      co_return false;
    }
    const io_result r = write_some(pending_write_);
    switch (r.status) {
    case io_status::ok:
      pending_write_ = pending_write_.subspan(r.bytes);
      last_write_ = steady::now();
      break;
    case io_status::want_read:
    case io_status::want_write:
      if (!co_await wait_ready(r.status == io_status::want_read ? tcp::socket::wait_read
                                                                : tcp::socket::wait_write)) {
        co_return false;
      }
      break;
    case io_status::eof:
    case io_status::truncated:
      hard_close(net_errc::peer_closed);
      co_return false;
    case io_status::failed:
      hard_close(r.error);
      co_return false;
    }
  }
  co_return true;
}

// The only code that writes to the socket after the handshake (STYLE pitfall "concurrent
// writes"): application bytes, then close_notify. At most one runs per connection
// (writer_running_); it is started by the first enqueue or by close, and ends when the outbox is
// empty, so an idle connection holds no writer frame.
asio::awaitable<void> connection_impl::writer() {
  std::vector<chunk> batch;
  bytes record;
  for (;;) {
    if (phase_ == phase::closed) {
      writer_running_ = false;
      co_return;
    }
    if (outbox_.empty()) {
      if (phase_ == phase::closing) {
        break;
      }
      // Idle: end, giving back the frame and the buffers (per-connection memory, as with
      // SSL_MODE_RELEASE_BUFFERS); the next enqueue starts a writer again.
      outbox_ = {};
      writer_running_ = false;
      co_return;
    }
    batch.swap(outbox_);
    std::size_t i = 0;
    while (i < batch.size() && phase_ != phase::closed && !drop_requested_) {
      std::size_t n = 0;
      const bytes_view first = batch[i].view();
      if (first.size() >= coalesce_limit) {
        pending_write_ = first;
        n = first.size();
        ++i;
      } else {
        record.clear();
        while (i < batch.size() && record.size() + batch[i].view().size() <= coalesce_limit) {
          const bytes_view v = batch[i].view();
          record.insert(record.end(), v.begin(), v.end());
          ++i;
        }
        pending_write_ = record;
        n = record.size();
      }
      const bool ok = co_await write_pending();
      written(n);
      if (!ok) {
        break;
      }
    }
    for (; i < batch.size(); ++i) {
      shared_->release(batch[i].view().size());
    }
    batch.clear();
  }
  co_await shutdown_transport();
  hard_close({});
  writer_running_ = false;
}

void connection_impl::wake_writer() {
  if (!writer_running_ && phase_ != phase::closed) {
    writer_running_ = true;
    spawn(writer());
  }
}

void connection_impl::written(std::size_t n) {
  shared_->release(n);
  if (read_paused_ &&
      shared_->outbox_bytes.load(std::memory_order_acquire) <= listener_.limits.outbox_low_water) {
    read_paused_ = false;
    reader_resume_.cancel();
    if (phase_ == phase::open) {
      guarded("on_writable", [&] { handler_->on_writable(*this); });
    }
  }
}

asio::awaitable<void> connection_impl::shutdown_transport() {
  transport_closing_ = true;
  closing_deadline_ = steady::now() + listener_.limits.close_notify;
  reschedule_watchdog();
  bool peer_done = false;
  if (ssl_ != nullptr && !tls_failed_) {
    for (;;) {
      ERR_clear_error();
      bio_.error.clear();
      const int ret = SSL_shutdown(ssl_);
      if (ret == 1) {
        peer_done = true; // both close_notify sent and received
        break;
      }
      if (ret == 0) {
        break; // ours is out; the peer's is read below
      }
      const int err = SSL_get_error(ssl_, ret);
      if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
        ERR_clear_error();
        peer_done = true; // nothing more to learn from this peer
        break;
      }
      if (!co_await wait_ready(err == SSL_ERROR_WANT_READ ? tcp::socket::wait_read
                                                          : tcp::socket::wait_write)) {
        co_return;
      }
    }
  }
  // Half-close, then read until the peer's end (bounded by the close_notify deadline): closing
  // with unread input makes the kernel send RST, which can destroy our last bytes (a DISCONNECT)
  // before the peer reads them.
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  while (!peer_done && phase_ != phase::closed) {
    io_result r;
    if (ssl_ != nullptr && !tls_failed_) {
      r = read_some(worker_.scratch()); // application data after close is discarded
    } else {
      boost::system::error_code rec;
      const auto buffer = worker_.scratch();
      socket_.read_some(asio::buffer(buffer.data(), buffer.size()), rec);
      r.status = !rec ? io_status::ok : would_block(rec) ? io_status::want_read : io_status::eof;
    }
    switch (r.status) {
    case io_status::ok:
      break;
    case io_status::want_read:
    case io_status::want_write:
      if (!co_await wait_ready(r.status == io_status::want_read ? tcp::socket::wait_read
                                                                : tcp::socket::wait_write)) {
        co_return;
      }
      break;
    default:
      peer_done = true;
      break;
    }
  }
}

// The watchdog is a plain timer callback, not a coroutine: an idle connection then holds one
// pending timer operation instead of a suspended coroutine frame.
void connection_impl::arm_watchdog() {
  watchdog_timer_.expires_at(next_deadline());
  watchdog_waiting_ = true;
  ++tasks_; // the pending wait keeps `this` alive like a task does
  watchdog_timer_.async_wait([this](const boost::system::error_code& /*ec*/) { on_watchdog(); });
}

void connection_impl::on_watchdog() {
  watchdog_waiting_ = false;
  // Expired or cancelled alike: look at the clock, then wait for the (possibly new) earliest.
  if (phase_ != phase::closed) {
    check_deadlines();
  }
  if (phase_ != phase::closed) {
    arm_watchdog();
  }
  task_done(nullptr);
}

steady::time_point connection_impl::next_deadline() const noexcept {
  switch (phase_) {
  case phase::handshaking:
    return handshake_deadline_;
  case phase::open:
    return std::min(app_deadline_, idle_deadline());
  case phase::closing:
    return closing_deadline_;
  case phase::closed:
    break;
  }
  return steady::time_point::max();
}

steady::time_point connection_impl::idle_deadline() const noexcept {
  if (idle_.count() <= 0) {
    return steady::time_point::max();
  }
  const auto since =
      idle_counts_ == idle_activity::reads ? last_read_ : std::max(last_read_, last_write_);
  return since + idle_;
}

void connection_impl::check_deadlines() {
  const auto now = steady::now();
  switch (phase_) {
  case phase::handshaking:
    if (now >= handshake_deadline_) {
      worker_.core().handshake_timeouts.fetch_add(1, std::memory_order_relaxed);
      hard_close(net_errc::handshake_timeout);
    }
    break;
  case phase::open:
    if (now >= app_deadline_) {
      begin_close(net_errc::deadline_expired, close_mode::drop);
    } else if (now >= idle_deadline()) {
      begin_close(net_errc::idle_timeout, close_mode::drop);
    }
    break;
  case phase::closing:
    if (now >= closing_deadline_) {
      hard_close({}); // keeps the reason that started the close
    }
    break;
  case phase::closed:
    break;
  }
}

void connection_impl::reschedule_watchdog() {
  // Only an earlier deadline needs a wake-up; a later one is found when the timer fires.
  if (watchdog_waiting_ && next_deadline() < watchdog_timer_.expiry()) {
    watchdog_timer_.cancel();
  }
}

send_status connection_impl::send(bytes data) {
  if (const send_framer* f = shared_->framer.load(std::memory_order_acquire);
      f != nullptr && !data.empty()) {
    return send_chunk(chunk{f->frame(data), {}});
  }
  return send_chunk(chunk{std::move(data), {}});
}

send_status connection_impl::send(shared_bytes data) {
  if (!data) {
    return phase_ == phase::open ? send_status::queued : send_status::closed;
  }
  if (const send_framer* f = shared_->framer.load(std::memory_order_acquire);
      f != nullptr && !data->empty()) {
    return send_chunk(chunk{f->frame(*data), {}});
  }
  return send_chunk(chunk{{}, std::move(data)});
}

send_status connection_impl::send_unframed(bytes data) {
  return send_chunk(chunk{std::move(data), {}});
}

bool connection_impl::set_send_framer(std::shared_ptr<const send_framer> framer) {
  if (!framer || phase_ != phase::open ||
      shared_->framer.load(std::memory_order_acquire) != nullptr) {
    return false;
  }
  const send_framer* raw = framer.get();
  shared_->framer_owner = std::move(framer);
  shared_->framer.store(raw, std::memory_order_release);
  return true;
}

send_status connection_impl::send_chunk(chunk c) {
  const std::size_t n = c.view().size();
  if (n == 0) {
    return phase_ == phase::open ? send_status::queued : send_status::closed;
  }
  const send_status status = shared_->reserve(n);
  if (accepted(status)) {
    enqueue_reserved(std::move(c.owned), std::move(c.shared));
  }
  return status;
}

void connection_impl::enqueue_reserved(bytes owned, shared_bytes shared) {
  chunk c{std::move(owned), std::move(shared)};
  const std::size_t n = c.view().size();
  // Bytes accepted before a close(flush) are still written; after a drop, or once close_notify
  // started, nothing is.
  const bool writable = phase_ == phase::open ||
                        (phase_ == phase::closing && !drop_requested_ && !transport_closing_);
  if (!writable) {
    shared_->release(n);
    return;
  }
  outbox_.push_back(std::move(c));
  if (!read_paused_ &&
      shared_->outbox_bytes.load(std::memory_order_acquire) > listener_.limits.outbox_high_water) {
    read_paused_ = true;
  }
  wake_writer();
}

void connection_impl::run_posted(const std::function<void(connection&)>& fn) {
  if (phase_ == phase::open) {
    guarded("posted function", [&] { fn(*this); });
  }
}

void connection_impl::close(std::error_code reason, close_mode mode) {
  begin_close(reason, mode);
}

void connection_impl::drop_outbox() {
  for (const auto& c : outbox_) {
    shared_->release(c.view().size());
  }
  outbox_.clear();
}

void connection_impl::begin_close(std::error_code reason, close_mode mode) {
  if (phase_ == phase::closed) {
    return;
  }
  if (phase_ == phase::handshaking) {
    hard_close(reason);
    return;
  }
  if (!reason_) {
    reason_ = reason;
  }
  const auto now = steady::now();
  if (phase_ == phase::closing) {
    if (mode == close_mode::drop && !drop_requested_) {
      drop_requested_ = true;
      drop_outbox();
      if (!transport_closing_) {
        closing_deadline_ = std::min(closing_deadline_, now + listener_.limits.close_notify);
        reschedule_watchdog();
      }
    }
    return;
  }
  phase_ = phase::closing;
  shared_->accepting.store(false, std::memory_order_release);
  if (mode == close_mode::drop) {
    drop_requested_ = true;
    drop_outbox();
    closing_deadline_ = now + listener_.limits.close_notify;
  } else {
    closing_deadline_ = now + listener_.limits.close_flush;
    queue_closing_trailer();
  }
  reader_resume_.cancel();
  wake_writer(); // it owns the closing sequence (flush, close_notify)
  reschedule_watchdog();
}

void connection_impl::queue_closing_trailer() {
  const send_framer* f = shared_->framer.load(std::memory_order_acquire);
  if (f == nullptr) {
    return;
  }
  bytes trailer;
  guarded("send framer", [&] { trailer = f->closing(reason_); });
  if (trailer.empty() || phase_ != phase::closing) {
    return;
  }
  // Past `accepting` (now false) but within outbox_max: the last frame is small, and a peer
  // whose outbox is already full gets no goodbye.
  const std::size_t n = trailer.size();
  const std::size_t before = shared_->outbox_bytes.fetch_add(n, std::memory_order_acq_rel);
  if (before + n > shared_->outbox_max) {
    shared_->release(n);
    return;
  }
  enqueue_reserved(std::move(trailer), {});
}

void connection_impl::hard_close(std::error_code reason) {
  if (phase_ == phase::closed) {
    return;
  }
  if (!reason_) {
    reason_ = reason ? reason : std::error_code(net_errc::peer_closed);
  }
  phase_ = phase::closed;
  shared_->accepting.store(false, std::memory_order_release);
  drop_outbox();
  // Closing the socket completes every pending wait with operation_aborted; each task then
  // sees `closed` and ends.
  boost::system::error_code ec;
  socket_.close(ec);
  watchdog_timer_.cancel();
  reader_resume_.cancel();
}

void connection_impl::notify_shutdown() {
  if (phase_ == phase::handshaking) {
    hard_close(net_errc::server_shutdown);
  } else if (phase_ == phase::open) {
    guarded("on_shutdown", [&] { handler_->on_shutdown(*this); });
  }
}

void connection_impl::force_close() {
  hard_close(net_errc::shutdown_forced);
}

void connection_impl::task_done(std::exception_ptr e) {
  if (e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      log::error("net", "connection {}: task failed: {}", id_, x.what());
    } catch (...) {
      log::error("net", "connection {}: task failed", id_);
    }
    hard_close(net_errc::handler_failed);
  }
  if (--tasks_ == 0) {
    finish();
  }
}

void connection_impl::finish() {
  hard_close({});          // normally already closed: every path to here goes through hard_close
  shared_->impl = nullptr; // handle posts arriving from now on do nothing
  if (handler_started_) {
    guarded("on_closed", [&] { handler_->on_closed(*this, reason_); });
  }
  if (log::enabled(log::level::debug)) {
    log::debug("net", "connection {} on {} closed: {}", id_, listener_.name, reason_.message());
  }
  // Never `delete this` here: this runs inside the completion of the last coroutine.
  worker_.destroy_later(id_);
}

void connection_impl::arm_deadline(std::chrono::milliseconds after) {
  app_deadline_ = steady::now() + after;
  reschedule_watchdog();
}

void connection_impl::disarm_deadline() {
  app_deadline_ = steady::time_point::max();
}

void connection_impl::set_idle_timeout(std::chrono::milliseconds timeout, idle_activity counts) {
  idle_ = timeout;
  idle_counts_ = counts;
  reschedule_watchdog();
}

std::size_t connection_impl::outbox_bytes() const noexcept {
  return shared_->outbox_bytes.load(std::memory_order_acquire);
}

std::string connection_impl::remote_address() const {
  const auto address = remote_.address();
  const std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return host + ":" + std::to_string(remote_.port());
}

std::string_view connection_impl::tls_version() const noexcept {
  if (ssl_ == nullptr || phase_ == phase::handshaking) {
    return {};
  }
  return SSL_get_version(ssl_);
}

std::string connection_impl::server_name() const {
  if (ssl_ == nullptr) {
    return {};
  }
  const char* name = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name);
  return name != nullptr ? std::string(name) : std::string();
}

std::vector<bytes> connection_impl::peer_certificate_chain() const {
  std::vector<bytes> out;
  if (ssl_ == nullptr) {
    return out;
  }
  const auto to_der = [](X509* cert) {
    const int len = i2d_X509(cert, nullptr);
    bytes der(len > 0 ? static_cast<std::size_t>(len) : 0);
    unsigned char* p = der.data();
    if (len <= 0 || i2d_X509(cert, &p) != len) {
      der.clear();
    }
    return der;
  };
  X509* leaf = SSL_get0_peer_certificate(ssl_);
  if (leaf == nullptr) {
    return out;
  }
  out.push_back(to_der(leaf));
  // On the server side this chain does not include the leaf; skip it anyway should a peer
  // repeat it.
  if (STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl_)) {
    for (int i = 0; i < sk_X509_num(chain); ++i) {
      X509* c = sk_X509_value(chain, i);
      if (X509_cmp(c, leaf) != 0) {
        out.push_back(to_der(c));
      }
    }
  }
  ERR_clear_error();
  return out;
}

} // namespace detail

// --- connection_handle: every call is a post to the connection's thread, so calls from one
// thread arrive in order. -------------------------------------------------------------------

std::uint64_t connection_handle::id() const noexcept {
  return shared_ ? shared_->id : 0;
}

std::size_t connection_handle::outbox_bytes() const noexcept {
  return shared_ ? shared_->outbox_bytes.load(std::memory_order_acquire) : 0;
}

namespace {

send_status post_send(const std::shared_ptr<detail::connection_shared>& shared, bytes owned,
                      shared_bytes data) {
  if (!shared) {
    return send_status::closed;
  }
  const send_framer* f = shared->framer.load(std::memory_order_acquire);
  if (f != nullptr && shared->accepting.load(std::memory_order_acquire)) {
    // Framed here, on the sending thread, into one chunk: frames from several threads are
    // whole units in the outbox and cannot interleave.
    if (data && !data->empty()) {
      owned = f->frame(*data);
      data.reset();
    } else if (!data && !owned.empty()) {
      owned = f->frame(owned);
    }
  }
  const std::size_t n = data ? data->size() : owned.size();
  if (n == 0) {
    return shared->accepting.load(std::memory_order_acquire) ? send_status::queued
                                                             : send_status::closed;
  }
  const send_status status = shared->reserve(n);
  if (!accepted(status)) {
    return status;
  }
  const std::shared_lock lock(shared->gate->mutex);
  if (!shared->gate->alive) {
    shared->release(n);
    return send_status::closed;
  }
  detail::asio::post(shared->gate->executor,
                     [s = shared, o = std::move(owned), d = std::move(data), n]() mutable {
                       if (s->impl != nullptr) {
                         s->impl->enqueue_reserved(std::move(o), std::move(d));
                       } else {
                         s->release(n);
                       }
                     });
  return status;
}

} // namespace

send_status connection_handle::send(bytes data) const {
  return post_send(shared_, std::move(data), nullptr);
}

send_status connection_handle::send(shared_bytes data) const {
  if (!data) {
    return post_send(shared_, {}, nullptr);
  }
  return post_send(shared_, {}, std::move(data));
}

void connection_handle::close(std::error_code reason, close_mode mode) const {
  if (!shared_) {
    return;
  }
  const std::shared_lock lock(shared_->gate->mutex);
  if (shared_->gate->alive) {
    detail::asio::post(shared_->gate->executor, [s = shared_, reason, mode] {
      if (s->impl != nullptr) {
        s->impl->close(reason, mode);
      }
    });
  }
}

bool connection_handle::post(std::function<void(connection&)> fn) const {
  if (!shared_ || !fn || !shared_->accepting.load(std::memory_order_acquire)) {
    return false;
  }
  const std::shared_lock lock(shared_->gate->mutex);
  if (!shared_->gate->alive) {
    return false;
  }
  detail::asio::post(shared_->gate->executor, [s = shared_, f = std::move(fn)] {
    if (s->impl != nullptr) {
      s->impl->run_posted(f);
    }
  });
  return true;
}

} // namespace aegis::net
