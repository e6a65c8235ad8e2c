#include "aegis/app/store_audit_sink.hpp"

#include "aegis/base/log.hpp"
#include "aegis/registry/ids.hpp"

#include <utility>

namespace aegis::app {

std::string printable_ascii(std::string_view text, std::size_t limit) {
  std::string out;
  out.reserve(std::min(text.size(), limit));
  for (const char c : text) {
    if (out.size() == limit) {
      break;
    }
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u >= 0x20 && u < 0x7f ? c : '?');
  }
  return out;
}

store_audit_sink::store_audit_sink(registry::operator_repository& operators, executor run,
                                   auth::audit_sink* next)
    : operators_(operators), run_(std::move(run)), next_(next) {}

registry::audit_record store_audit_sink::to_record(const auth::audit_event& event) {
  registry::audit_record r;
  r.at = event.at;
  if (event.who) {
    r.actor = event.who->kind == auth::identity_kind::application
                  ? "account:" + printable_ascii(event.who->account)
                  : "device:" + registry::to_name(event.who->device);
  } else {
    r.actor = "anonymous";
  }
  r.action = std::string(auth::to_string(event.via)) + ".authenticate";
  r.target = printable_ascii(event.client_id);
  r.outcome = event.outcome == auth::verdict::allow ? "ok" : "UNAUTHENTICATED";
  std::string detail = event.authenticator.empty() ? "no authenticator" : event.authenticator;
  if (event.reason) {
    detail += ": " + event.reason.message();
  }
  if (event.detail) {
    detail += " (" + event.detail.message() + ")";
  }
  if (event.username) {
    detail += ", username " + printable_ascii(*event.username, 64);
  }
  r.detail = printable_ascii(detail, 512);
  r.source_address = printable_ascii(event.source_address, 64);
  return r;
}

void store_audit_sink::record(const auth::audit_event& event) {
  if (next_ != nullptr) {
    next_->record(event);
  }
  const bool session_start =
      event.via == auth::transport::mqtt || event.via == auth::transport::mqtt_websocket;
  if (event.outcome == auth::verdict::allow && !session_start) {
    return;
  }
  auto rec = to_record(event);
  const bool queued = run_([this, rec = std::move(rec)] {
    if (auto r = operators_.append_audit(rec); !r) {
      log::warn("audit", "cannot store an authentication record: {}", r.error().message());
    }
  });
  if (!queued) {
    dropped_.fetch_add(1);
  }
}

} // namespace aegis::app
