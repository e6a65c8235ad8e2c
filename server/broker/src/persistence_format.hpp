#pragma once

// The broker's own serialisation of durable state (README "Persistence"): keys and values of the
// spaces of session_store.hpp. Every value starts with a format version byte (1), so a later
// build can read what this one wrote or refuse it record by record. Integers are big-endian;
// strings are a 2-byte length and their bytes. Times are absolute wall-clock milliseconds since
// the Unix epoch, so that expiry keeps counting while the server is down.
//
// A message is its v5 PUBLISH as the codec encodes it (packet id 1 for QoS 1/2) after a flag
// byte and the optional expiry: the codec already validates and versions every field of it.
//
// Decoders take untrusted bytes (a store is outside the core) and return nullopt for anything
// malformed, truncated, or with trailing bytes.

#include "aegis/auth/authenticator.hpp"
#include "aegis/base/bytes.hpp"
#include "aegis/broker/message.hpp"
#include "aegis/broker/subscription_tree.hpp"
#include "aegis/mqtt/protocol.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aegis::broker::detail {

inline constexpr std::uint8_t format_version = 1;

struct session_record {
  mqtt::protocol_version version = mqtt::protocol_version::v5;
  std::uint32_t expiry_interval = 0;
  std::optional<std::int64_t> expires_at_ms; // offline: when it ends; online: nullopt
  auth::auth_method method = auth::auth_method::password;
  std::string account; // the application account that owns the session
  friend bool operator==(const session_record&, const session_record&) = default;
};

enum class entry_state : std::uint8_t { queued = 0, inflight = 1, released = 2 };

struct queue_record {
  std::uint64_t message_id = 0;
  mqtt::qos q = mqtt::qos::at_least_once;
  bool retain = false;
  entry_state state = entry_state::queued;
  std::uint16_t packet_id = 0; // inflight and released only
  std::vector<std::uint32_t> subscription_ids;
  friend bool operator==(const queue_record&, const queue_record&) = default;
};

struct message_record {
  message msg; // expires_at (steady) unset: the caller maps expires_at_ms onto its clock
  std::optional<std::int64_t> expires_at_ms;
};

bytes encode_session(const session_record& r);
std::optional<session_record> decode_session(bytes_view data);

bytes encode_subscription(const subscriber_options& o);
std::optional<subscriber_options> decode_subscription(bytes_view data);

// nullopt when the codec refuses the message (cannot happen for what a client sent us).
std::optional<bytes> encode_message(const message& m, std::optional<std::int64_t> expires_at_ms);
std::optional<message_record> decode_message(bytes_view data);

bytes encode_queue_entry(const queue_record& r);
std::optional<queue_record> decode_queue_entry(bytes_view data);

bytes encode_marker(); // inbound QoS 2: presence is the value
bool decode_marker(bytes_view data);

// Keys.
std::string child_key(std::string_view client_id, std::string_view suffix);
std::string u64_key(std::uint64_t v);
std::string u16_key(std::uint16_t v);
std::optional<std::uint64_t> parse_u64_key(std::string_view key);
std::optional<std::uint16_t> parse_u16_key(std::string_view key);
// Splits "client NUL rest"; nullopt without a NUL or with an empty client id.
std::optional<std::pair<std::string_view, std::string_view>> split_child_key(std::string_view key);

} // namespace aegis::broker::detail
