#pragma once

// A complete, simple registry_repository in memory: the reference the behaviour suite runs
// against beside the real stores, and a store for other modules' tests. Not for production:
// a write transaction copies the whole state (that copy is what makes rollback obviously
// right), and nothing survives the process.

#include "aegis/registry/repository.hpp"

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>

namespace aegis::registry {

class memory_repository final : public registry_repository {
public:
  memory_repository();
  ~memory_repository() override;
  memory_repository(const memory_repository&) = delete;
  memory_repository& operator=(const memory_repository&) = delete;

  // registry_repository
  result<void> write(const work& fn) override;
  result<void> read(const work& fn) override;

  // Fault injection (STYLE.md habit 12): the write operation after the next `n` succeeds
  // returns storage_failed, once. Lets a test fail an operation half-way through.
  void fail_write_after_for_test(std::size_t n);

  struct state;

private:
  // Returns storage_failed when the injected fault fires.
  result<void> count_write();

  std::mutex mutex_;
  std::unique_ptr<state> state_;
  std::optional<std::size_t> writes_before_failure_;
  friend class memory_transaction;
};

} // namespace aegis::registry
