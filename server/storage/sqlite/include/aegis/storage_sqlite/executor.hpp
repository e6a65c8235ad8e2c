#pragma once

// The storage executor: one thread that runs store calls, so I/O threads never wait on disk
// (DESIGN.md §4). Work goes in a bounded FIFO queue; each item runs to completion before the
// next. A completion callback runs on the storage thread right after its work: a network
// caller posts the result back to its own executor from there. Queued work is never dropped:
// stop() (and the destructor) run everything already accepted, then join.
//
//   exec.submit([&svc, key] { return svc.get_device(key); },
//               [strand](result<registry::device> d) { post(strand, ...); });
//   auto f = exec.submit([&svc, key] { return svc.get_device(key); });   // std::future

#include "aegis/base/error.hpp"
#include "aegis/registry/errors.hpp"

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>

namespace aegis::storage_sqlite {

class storage_executor {
public:
  static constexpr std::size_t default_queue_capacity = 10'000;

  explicit storage_executor(std::size_t queue_capacity = default_queue_capacity);
  ~storage_executor();
  storage_executor(const storage_executor&) = delete;
  storage_executor& operator=(const storage_executor&) = delete;

  // Queues `work` (a callable returning result<T>) and then `done(result<T>)` on the storage
  // thread. When stopped or full it queues nothing, calls nothing, and returns
  // registry_errc::storage_unavailable: the caller answers "try again", it never blocks.
  template <class Work, class Done>
  result<void> submit(Work work, Done done) {
    return post(make_task([w = std::move(work), d = std::move(done)]() mutable { d(w()); }));
  }

  // Queues `work` and returns a future of its result. When stopped or full the future is
  // already ready with registry_errc::storage_unavailable.
  template <class Work>
  std::future<std::invoke_result_t<Work&>> submit(Work work) {
    using R = std::invoke_result_t<Work&>;
    static_assert(std::is_constructible_v<R, registry::registry_errc>,
                  "storage work returns a result<T>");
    std::promise<R> promise;
    auto future = promise.get_future();
    auto job =
        make_task([w = std::move(work), p = std::move(promise)]() mutable { p.set_value(w()); });
    if (auto r = post(std::move(job)); !r) {
      std::promise<R> refused;
      refused.set_value(R(registry::registry_errc::storage_unavailable));
      return refused.get_future();
    }
    return future;
  }

  // Refuses new work, runs everything queued, joins the thread. Idempotent. Must not be called
  // from the storage thread itself.
  void stop();

  bool on_storage_thread() const noexcept;
  std::size_t queued() const;

private:
  struct task {
    virtual ~task() = default;
    virtual void run() = 0;
  };
  template <class F>
  struct task_of final : task {
    explicit task_of(F f) : fn(std::move(f)) {}
    void run() override { fn(); }
    F fn;
  };
  template <class F>
  static std::unique_ptr<task> make_task(F f) {
    return std::make_unique<task_of<F>>(std::move(f));
  }

  result<void> post(std::unique_ptr<task> t);
  void loop();

  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<task>> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

} // namespace aegis::storage_sqlite
