#pragma once

// Device and account authentication decisions into the operator audit log (the table behind
// GET /api/v1/audit), beside the log line the log sink writes. Every refusal is kept, with the
// precise reason the client never sees; of the admissions, only session starts (MQTT) are kept,
// since the HTTPS bridge authenticates every request. Writes go through the storage executor;
// when its queue is full the record is dropped and counted, never waited for (the caller is an
// authentication thread). Client-chosen text is reduced to printable ASCII and bounded.

#include "aegis/auth/authenticator.hpp"
#include "aegis/registry/operators.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace aegis::app {

class store_audit_sink final : public auth::audit_sink {
public:
  using executor = std::function<bool(std::function<void()>)>;

  // `next` (may be null) also receives every event; `operators` must outlive the sink.
  store_audit_sink(registry::operator_repository& operators, executor run,
                   auth::audit_sink* next = nullptr);

  // auth::audit_sink
  void record(const auth::audit_event& event) override;

  std::uint64_t dropped() const noexcept { return dropped_.load(); }

  // The record stored for `event` (exposed for tests).
  static registry::audit_record to_record(const auth::audit_event& event);

private:
  registry::operator_repository& operators_;
  executor run_;
  auth::audit_sink* next_;
  std::atomic<std::uint64_t> dropped_{0};
};

// Printable ASCII only ('?' for anything else), at most `limit` bytes.
std::string printable_ascii(std::string_view text, std::size_t limit = 256);

} // namespace aegis::app
