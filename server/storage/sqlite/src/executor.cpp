#include "aegis/storage_sqlite/executor.hpp"

#include "aegis/base/log.hpp"

#include <exception>

namespace aegis::storage_sqlite {

storage_executor::storage_executor(std::size_t queue_capacity)
    : capacity_(queue_capacity), thread_([this] { loop(); }) {}

storage_executor::~storage_executor() {
  stop();
}

result<void> storage_executor::post(std::unique_ptr<task> t) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || queue_.size() >= capacity_) {
      return registry::registry_errc::storage_unavailable;
    }
    queue_.push_back(std::move(t));
  }
  wake_.notify_one();
  return ok();
}

void storage_executor::stop() {
  AEGIS_ASSERT(!on_storage_thread());
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) {
    thread_.join();
  }
}

bool storage_executor::on_storage_thread() const noexcept {
  return std::this_thread::get_id() == thread_.get_id();
}

std::size_t storage_executor::queued() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

void storage_executor::loop() {
  while (true) {
    std::unique_ptr<task> next;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) {
        return; // stopping, and everything accepted has run
      }
      next = std::move(queue_.front());
      queue_.pop_front();
    }
    // Store calls report errors as values; an exception here is a bug. Log it and keep the
    // thread alive so that later work (and shutdown's flush) still runs.
    try {
      next->run();
    } catch (const std::exception& e) {
      log::error("storage.executor", "storage work threw: {}", e.what());
    } catch (...) {
      log::error("storage.executor", "storage work threw a non-exception");
    }
  }
}

} // namespace aegis::storage_sqlite
