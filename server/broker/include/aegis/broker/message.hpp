#pragma once

// An application message as the broker holds it between receipt and delivery.

#include "aegis/base/bytes.hpp"
#include "aegis/base/clock.hpp"
#include "aegis/mqtt/packet.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace aegis::broker {

struct message {
  std::string topic; // always resolved: never empty, inbound topic aliases already applied
  bytes payload;
  mqtt::qos qos = mqtt::qos::at_most_once;
  bool retain = false;
  // As received, minus topic_alias and subscription_identifiers (both are per hop).
  // message_expiry_interval is rewritten per delivery from expires_at.
  mqtt::publish_properties properties;
  std::optional<steady_time> expires_at;
  std::uint64_t origin_session = 0; // for no-local; 0: none (wills of ended sessions, tests)

  // What quotas count: topic and payload, the parts that grow with the client's input.
  std::size_t cost() const noexcept { return topic.size() + payload.size(); }
  bool expired(steady_time now) const noexcept { return expires_at && *expires_at <= now; }
};

// Immutable once built and shared by every queue and store that holds it, so that a message
// fanned out to 10k sessions is held once. The one place Aegis shares ownership on purpose
// (STYLE.md habit 9): its lifetime is "until the last subscriber has it".
using message_ptr = std::shared_ptr<const message>;

} // namespace aegis::broker
