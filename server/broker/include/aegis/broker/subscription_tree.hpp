#pragma once

// Topic-level trie of subscriptions (MQTT 5.0 §4.7, shared subscriptions §4.8.2).
//
// Memory: one node per distinct filter level (shared by every subscriber of that prefix) and one
// 16-byte `subscriber_entry` per subscription, so a million subscriptions on few distinct filters
// cost ~16 MB plus the nodes. Matching walks the topic with string_views and heterogeneous
// lookup: no allocation per level; the caller's output vector is reused between calls.
// Not thread-safe: one tree per broker_core, which is single-threaded by design.

#include "aegis/mqtt/packet.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace aegis::broker {

// Identifies a session, not a connection: subscriptions outlive connections.
using subscriber_id = std::uint64_t;

// Per-subscription options, packed so that an entry stays 16 bytes.
struct subscriber_options {
  mqtt::qos max_qos = mqtt::qos::at_most_once;
  bool no_local = false;
  bool retain_as_published = false;
  mqtt::retain_handling retain_handling = mqtt::retain_handling::send_on_subscribe;
  std::uint32_t subscription_identifier = 0; // 0: none
  friend bool operator==(const subscriber_options&, const subscriber_options&) = default;
};

struct subscriber_entry {
  subscriber_id id = 0;
  subscriber_options options;
};

// One delivery the broker must make. `shared` is true when the match came through a shared
// subscription (no retained messages on subscribe, no no-local).
struct match_result {
  subscriber_id id = 0;
  subscriber_options options;
  bool shared = false;
};

class subscription_tree {
public:
  subscription_tree();
  ~subscription_tree();
  subscription_tree(const subscription_tree&) = delete;
  subscription_tree& operator=(const subscription_tree&) = delete;

  // `filter` must be a valid Topic Filter, possibly "$share/{ShareName}/{filter}" (validated by
  // the decoder). Returns true when the subscription is new, false when it replaced the options
  // of an existing one [MQTT-3.8.4-3].
  bool subscribe(std::string_view filter, subscriber_id id, const subscriber_options& options);
  // Returns false when there was no such subscription.
  bool unsubscribe(std::string_view filter, subscriber_id id);

  // Appends one result per matching non-shared subscription, and one per matching shared group
  // (its members taken in turn, round-robin), to `out`, which it clears first. Not const: the
  // round-robin position moves.
  void match(std::string_view topic, std::vector<match_result>& out);

  // Shared groups skip members for which `available` says false (offline, congested) while any
  // member is available; with none available the round-robin choice stands and the message
  // queues. Unset: every member is available.
  void set_availability(std::function<bool(subscriber_id)> available) {
    available_ = std::move(available);
  }

  std::size_t size() const noexcept { return size_; }
  std::size_t node_count() const noexcept { return node_count_; }

private:
  struct node;
  struct shared_group;
  struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };

  node* find_or_create(std::string_view filter);
  void collect(node& n, std::vector<match_result>& out);

  std::function<bool(subscriber_id)> available_;
  std::unique_ptr<node> root_;
  std::size_t size_ = 0;
  std::size_t node_count_ = 1;
};

} // namespace aegis::broker
