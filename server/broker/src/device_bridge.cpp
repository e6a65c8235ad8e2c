#include "device_bridge.hpp"

#include "aegis/auth/errors.hpp"
#include "aegis/base/log.hpp"
#include "aegis/broker/errors.hpp"
#include "aegis/registry/errors.hpp"
#include "token_bucket.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <set>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace aegis::broker {
namespace {

constexpr std::string_view component = "mqtt.devices";
// Carries the config version from deliver_config to the outbound mapping (stripped for devices,
// kept for applications).
constexpr std::string_view config_version_property = "configVersion";

enum activity_flag : unsigned { heartbeat = 1, event = 2, config_sent = 4 };

bool is_device(const auth::identity& who) {
  return who.kind == auth::identity_kind::device || who.kind == auth::identity_kind::gateway;
}

std::vector<std::string_view> levels_of(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    const auto slash = s.find('/', start);
    if (slash == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, slash - start));
    start = slash + 1;
  }
}

std::string normalize_serial(std::string_view hex) {
  std::string out;
  for (const char c : hex) {
    if (c == ':') {
      continue;
    }
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  const auto first = out.find_first_not_of('0');
  return first == std::string::npos ? std::string("0") : out.substr(first);
}

// The "authorization" string of an attach payload ({"authorization": "<jwt>"}); empty when
// absent. A JWT holds no quote or backslash, so no unescaping is needed.
std::string attach_token(std::string_view payload) {
  const auto key = payload.find("\"authorization\"");
  if (key == std::string_view::npos) {
    return {};
  }
  auto colon = payload.find(':', key);
  if (colon == std::string_view::npos) {
    return {};
  }
  const auto open = payload.find('"', colon);
  if (open == std::string_view::npos) {
    return {};
  }
  const auto close = payload.find('"', open + 1);
  if (close == std::string_view::npos) {
    return {};
  }
  return std::string(payload.substr(open + 1, close - open - 1));
}

std::string json_escape(std::string_view s) {
  std::string out;
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += ' ';
    } else {
      out.push_back(c);
    }
  }
  return out;
}

using bucket = detail::token_bucket;

} // namespace

struct device_bridge::device_conn {
  connection_id id = 0;
  auth::identity who;
  mqtt::protocol_version version = mqtt::protocol_version::v5;
  std::string registry_name; // projects/{p}/locations/{l}/registries/{r}
  std::vector<std::string> aliases;
  // gateway: attached leaf device ids -> when the attachment ends (the leaf token's expiry +
  // skew, or the gateway session's for association only)
  std::map<std::string, std::optional<steady_time>, std::less<>> attached;
  std::map<std::string, mqtt::qos, std::less<>> config_subs;    // device id -> granted QoS
  std::set<std::string, std::less<>> command_filters;           // internal names
  std::map<std::string, std::int64_t, std::less<>> config_sent; // device id -> newest version
  std::unordered_map<std::uint16_t, std::pair<std::string, std::int64_t>> config_inflight;
  bucket publish_bucket;

  registry::device_key key_of(std::string_view device_id) const {
    return {who.device.registry, registry::device_id(std::string(device_id))};
  }
  std::string internal(std::string_view device_topic) const {
    return registry_name + std::string(device_topic);
  }
};

// broker_core's authorizer: applications through the configured one; devices only within the
// registry namespace of a device they may act for (the boundary already applied the profile).
class device_bridge::core_authorizer final : public auth::authorizer {
public:
  explicit core_authorizer(const device_bridge& b) : bridge_(b) {}

  // auth::authorizer
  auth::authz_decision can_publish(const auth::identity& who,
                                   std::string_view topic) const override {
    if (!is_device(who)) {
      return bridge_.apps_ ? bridge_.apps_->can_publish(who, topic) : auth::authz_decision::allow();
    }
    return within(who, topic);
  }
  auth::authz_decision can_subscribe(const auth::identity& who,
                                     std::string_view filter) const override {
    if (!is_device(who)) {
      return bridge_.apps_ ? bridge_.apps_->can_subscribe(who, filter)
                           : auth::authz_decision::allow();
    }
    return within(who, filter);
  }

private:
  auth::authz_decision within(const auth::identity& who, std::string_view name) const {
    const std::string prefix = registry::to_name(who.device.registry) + "/devices/";
    if (!name.starts_with(prefix)) {
      return auth::authz_decision::deny(auth::authz_errc::outside_namespace);
    }
    const std::string_view rest = name.substr(prefix.size());
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos) {
      return auth::authz_decision::deny(auth::authz_errc::topic_not_allowed);
    }
    const std::string_view device = rest.substr(0, slash);
    if (device == who.device.device.value() || bridge_.attached(who, device)) {
      return auth::authz_decision::allow();
    }
    return auth::authz_decision::deny(auth::authz_errc::other_device);
  }

  const device_bridge& bridge_;
};

device_bridge::device_bridge(broker_limits limits, device_profile_options options,
                             const auth::authorizer* apps, const clock& clk, emit_fn emit,
                             post_fn to_core)
    : options_(std::move(options)), apps_(apps), clk_(clk), emit_(std::move(emit)),
      to_core_(std::move(to_core)), alias_max_(limits.topic_alias_maximum),
      profile_([this](const auth::identity& gw, std::string_view id) { return attached(gw, id); }),
      core_authz_(std::make_unique<core_authorizer>(*this)),
      core_(std::make_unique<broker_core>(limits, *core_authz_)) {
  if (options_.registry != nullptr) {
    attach_checker_ = std::make_unique<auth::gateway_attach_checker>(*options_.registry, clk_);
  }
  last_flush_ = clk_.steady_now();
}

device_bridge::~device_bridge() = default;

void device_bridge::count(std::uint64_t device_profile_stats::*field) {
  std::lock_guard lock(stats_mutex_);
  ++(stats_.*field);
}

device_profile_stats device_bridge::stats() const {
  std::lock_guard lock(stats_mutex_);
  return stats_;
}

bool device_bridge::blocking(std::function<void()> work) {
  if (!options_.run_blocking) {
    work();
    return true;
  }
  if (!options_.run_blocking(std::move(work))) {
    count(&device_profile_stats::storage_busy);
    return false;
  }
  return true;
}

bool device_bridge::attached(const auth::identity& gateway, std::string_view device_id) const {
  if (gateway.kind != auth::identity_kind::gateway) {
    return false;
  }
  auto it = by_client_id_.find(gateway.client_id);
  if (it == by_client_id_.end()) {
    return false;
  }
  auto d = devices_.find(it->second);
  return d != devices_.end() && d->second->attached.contains(device_id);
}

device_bridge::device_conn* device_bridge::find(connection_id conn) {
  auto it = devices_.find(conn);
  return it == devices_.end() ? nullptr : it->second.get();
}

void device_bridge::forget(connection_id conn) {
  auto it = devices_.find(conn);
  if (it == devices_.end()) {
    return;
  }
  auto c = by_client_id_.find(it->second->who.client_id);
  if (c != by_client_id_.end() && c->second == conn) {
    by_client_id_.erase(c);
  }
  devices_.erase(it);
}

// Puts device-facing names back on what goes to device connections and forgets closed ones.
void device_bridge::run(actions as) {
  for (auto& a : as) {
    if (auto* s = std::get_if<send_action>(&a)) {
      auto* pub = std::get_if<mqtt::publish>(&s->packet);
      if (pub == nullptr) {
        continue;
      }
      auto& props = pub->properties.user_properties;
      device_conn* d = find(s->conn);
      if (d == nullptr) {
        continue; // an application: internal names, properties kept
      }
      std::optional<std::int64_t> version;
      for (const auto& u : props) {
        if (u.name == config_version_property) {
          version = std::strtoll(u.value.c_str(), nullptr, 10);
        }
      }
      std::erase_if(props,
                    [](const mqtt::user_property& u) { return u.name == config_version_property; });
      if (pub->topic.starts_with(d->registry_name)) {
        pub->topic.erase(0, d->registry_name.size());
      }
      if (version) {
        const auto l = levels_of(pub->topic);
        if (l.size() == 4 && l[3] == "config") {
          const std::string device(l[2]);
          if (pub->qos != mqtt::qos::at_most_once) {
            d->config_inflight[pub->packet_id] = {device, *version};
          }
          count(&device_profile_stats::configs_sent);
          mark_activity(d->key_of(device), config_sent);
        }
      }
    } else if (auto* c = std::get_if<close_action>(&a)) {
      forget(c->conn);
    }
  }
  emit_(std::move(as));
}

void device_bridge::kick(device_conn& d, mqtt::reason_code reason) {
  const std::string client_id = d.who.client_id; // `d` is gone after run()
  run(core_->kick(client_id, reason, clk_.steady_now()));
}

void device_bridge::mark_activity(const registry::device_key& key, unsigned flags) {
  pending_activity_[key] |= flags;
}

// --- events -------------------------------------------------------------------------------

void device_bridge::on_connect(connection_id conn, mqtt::connect&& packet,
                               const auth::identity& who, std::optional<steady_time> expires) {
  if (is_device(who)) {
    // IoT Core: no wills, no persistent sessions (reference §1.2).
    packet.will.reset();
    packet.clean_start = true;
    packet.properties.session_expiry_interval.reset();
    auto d = std::make_unique<device_conn>();
    d->id = conn;
    d->who = who;
    d->version = packet.version;
    d->registry_name = registry::to_name(who.device.registry);
    d->publish_bucket = bucket(options_.device_publish_rate, clk_.steady_now());
    // One connection per device: broker_core's takeover closes an older one (0x8E).
    by_client_id_[who.client_id] = conn;
    devices_[conn] = std::move(d);
  }
  run(core_->on_connect(conn, std::move(packet), client_identity(who, expires), clk_.steady_now()));
}

void device_bridge::on_packet(connection_id conn, mqtt::packet&& packet) {
  if (device_conn* d = find(conn)) {
    on_device_packet(*d, std::move(packet));
    return;
  }
  run(core_->on_packet(conn, std::move(packet), clk_.steady_now()));
}

void device_bridge::on_disconnect(connection_id conn, transport_close cause) {
  forget(conn);
  run(core_->on_disconnect(conn, cause, clk_.steady_now()));
}

void device_bridge::on_backpressure(connection_id conn, bool congested) {
  run(core_->on_backpressure(conn, congested, clk_.steady_now()));
}

void device_bridge::shutdown() {
  run(core_->shutdown(clk_.steady_now()));
}

void device_bridge::on_tick() {
  const auto now = clk_.steady_now();
  run(core_->on_tick(now));
  // Attachments whose credential ran out end; the gateway stays.
  std::vector<std::pair<connection_id, std::string>> expired;
  for (const auto& [id, d] : devices_) {
    for (const auto& [leaf, until] : d->attached) {
      if (until && *until <= now) {
        expired.emplace_back(id, leaf);
      }
    }
  }
  for (const auto& [id, leaf] : expired) {
    if (device_conn* d = find(id)) {
      detach(*d, leaf);
    }
  }
  if (pending_activity_.empty() || now - last_flush_ < options_.activity_flush_interval ||
      options_.registry == nullptr) {
    return;
  }
  last_flush_ = now;
  auto batch = std::make_shared<std::map<registry::device_key, unsigned>>(
      std::exchange(pending_activity_, {}));
  auto* reg = options_.registry;
  (void)blocking([this, reg, batch] {
    for (const auto& [key, flags] : *batch) {
      bool ok = true;
      if ((flags & heartbeat) != 0) {
        ok = reg->record_heartbeat(key).has_value() && ok;
      }
      if ((flags & event) != 0) {
        ok = reg->record_event(key).has_value() && ok;
      }
      if ((flags & config_sent) != 0) {
        ok = reg->record_config_sent(key).has_value() && ok;
      }
      if (!ok) {
        count(&device_profile_stats::storage_errors);
      }
    }
  });
}

void device_bridge::on_device_packet(device_conn& d, mqtt::packet&& p) {
  if (auto* pub = std::get_if<mqtt::publish>(&p)) {
    on_device_publish(d, std::move(*pub));
    return;
  }
  if (auto* sub = std::get_if<mqtt::subscribe>(&p)) {
    on_device_subscribe(d, std::move(*sub));
    return;
  }
  if (auto* unsub = std::get_if<mqtt::unsubscribe>(&p)) {
    for (auto& f : unsub->filters) {
      if (f.starts_with("/devices/")) {
        const auto l = levels_of(f);
        if (l.size() == 4 && l[3] == "config") {
          d.config_subs.erase(std::string(l[2]));
        }
        f = d.internal(f);
        d.command_filters.erase(f);
      } else {
        f = "$refused"; // nothing of the device's outside its namespace
      }
    }
  } else if (auto* ack = std::get_if<mqtt::puback>(&p)) {
    auto it = d.config_inflight.find(ack->packet_id);
    if (it != d.config_inflight.end()) {
      const auto key = d.key_of(it->second.first);
      const std::int64_t version = it->second.second;
      d.config_inflight.erase(it);
      count(&device_profile_stats::configs_acknowledged);
      if (auto* reg = options_.registry) {
        (void)blocking([this, reg, key, version] {
          if (!reg->acknowledge_config(key, version)) {
            count(&device_profile_stats::storage_errors);
          }
        });
      }
    }
  } else if (std::holds_alternative<mqtt::pingreq>(p)) {
    mark_activity(d.who.device, heartbeat);
  }
  run(core_->on_packet(d.id, std::move(p), clk_.steady_now()));
}

void device_bridge::ack(device_conn& d, const mqtt::publish& p, mqtt::reason_code reason) {
  if (p.qos != mqtt::qos::at_least_once) {
    return;
  }
  mqtt::puback a;
  a.packet_id = p.packet_id;
  a.reason = d.version == mqtt::protocol_version::v5 ? reason : mqtt::reason_code::success;
  actions as;
  as.push_back(send_action{d.id, d.version, std::move(a)});
  run(std::move(as));
}

// Over a size or rate limit: v5 QoS 1 hears 0x97; QoS 0 and 3.1.1 (which cannot be told) are
// dropped, a 3.1.1 QoS 1 publish still acknowledged so that it is not resent forever.
void device_bridge::refuse_over_limit(device_conn& d, const mqtt::publish& p) {
  ack(d, p, mqtt::reason_code::quota_exceeded);
}

void device_bridge::on_device_publish(device_conn& d, mqtt::publish&& p) {
  if (d.version == mqtt::protocol_version::v5 && p.properties.topic_alias) {
    // Resolved here, since the profile must see the topic; broker_core answers anything
    // invalid (0 or over its maximum: 0x94, never set: 0x82), so such packets go to it as sent.
    const std::size_t alias = *p.properties.topic_alias;
    if (alias == 0 || alias > alias_max_ ||
        (p.topic.empty() && (alias > d.aliases.size() || d.aliases[alias - 1].empty()))) {
      run(core_->on_packet(d.id, std::move(p), clk_.steady_now()));
      return;
    }
    if (d.aliases.size() < alias) {
      d.aliases.resize(alias);
    }
    if (p.topic.empty()) {
      p.topic = d.aliases[alias - 1];
    } else {
      d.aliases[alias - 1] = p.topic;
    }
    p.properties.topic_alias.reset();
  }
  if (p.qos == mqtt::qos::exactly_once) {
    count(&device_profile_stats::qos2_publish_closed);
    kick(d, mqtt::reason_code::qos_not_supported);
    return;
  }
  if (!d.publish_bucket.try_take(clk_.steady_now())) {
    count(&device_profile_stats::rate_limited);
    refuse_over_limit(d, p);
    return;
  }
  // A gateway's attach/detach of another device is decided by gateway_attach_checker (bound,
  // token), not by the profile's "may act for" (which answers from the attached set).
  if (d.who.kind == auth::identity_kind::gateway && p.topic.starts_with("/devices/")) {
    const auto l = levels_of(p.topic);
    if (l.size() == 4 && (l[3] == "attach" || l[3] == "detach") &&
        l[2] != d.who.device.device.value() && registry::check_resource_id(l[2])) {
      const std::string leaf(l[2]);
      if (l[3] == "detach") {
        const connection_id conn = d.id;
        detach(d, leaf);
        if (device_conn* g = find(conn)) {
          ack(*g, p, mqtt::reason_code::success);
        }
      } else {
        attach(d, std::move(p), leaf);
      }
      return;
    }
  }
  const auto allowed = profile_.can_publish(d.who, p.topic);
  if (!allowed.allowed) {
    count(&device_profile_stats::publish_denied);
    log::info(component, "{} closed: publish to {} refused: {}", d.who.client_id, p.topic,
              allowed.reason.message());
    kick(d, mqtt::reason_code::not_authorized);
    return;
  }
  const auto l = levels_of(p.topic);
  const std::string device(l[2]);
  const std::string_view kind = l[3];
  if (kind == "attach" || kind == "detach") { // handled above; the profile admits no other
    kick(d, mqtt::reason_code::not_authorized);
    return;
  }
  const bool is_state = kind == "state";
  const std::size_t limit = is_state ? options_.max_state_payload : options_.max_event_payload;
  if (p.payload.size() > limit) {
    count(&device_profile_stats::oversize_refused);
    refuse_over_limit(d, p);
    return;
  }
  const auto key = d.key_of(device);
  const std::string name = registry::to_name(key);
  if (is_state) {
    const auto now = clk_.steady_now();
    auto it = last_state_.find(name);
    if (it != last_state_.end() && now - it->second < options_.state_min_interval) {
      count(&device_profile_stats::state_rate_limited);
      refuse_over_limit(d, p);
      return;
    }
    last_state_[name] = now;
    if (auto* reg = options_.registry) {
      (void)blocking([this, reg, key, data = p.payload] {
        if (reg->report_state(key, data)) {
          count(&device_profile_stats::states_stored);
        } else {
          count(&device_profile_stats::storage_errors);
        }
      });
    }
  } else {
    count(&device_profile_stats::events);
    mark_activity(key, event);
  }
  // Telemetry attributes (reference A.5). A device's own user properties are dropped: it must
  // not be able to pass for another device.
  auto& props = p.properties.user_properties;
  props.clear();
  props.push_back({"deviceId", device});
  if (device == d.who.device.device.value() && d.who.device_num_id.value() != 0) {
    props.push_back({"deviceNumId", std::to_string(d.who.device_num_id.value())});
  }
  props.push_back({"deviceRegistryId", key.registry.registry.value()});
  props.push_back({"deviceRegistryLocation", key.registry.location.value()});
  props.push_back({"projectId", key.registry.project.value()});
  if (!is_state) {
    const std::string_view topic = p.topic;
    const std::string prefix = "/devices/" + device + "/events/";
    props.push_back(
        {"subFolder", topic.starts_with(prefix) ? std::string(topic.substr(prefix.size())) : ""});
  }
  p.topic = d.internal(p.topic);
  p.retain = false; // IoT Core has no retained messages
  run(core_->on_packet(d.id, std::move(p), clk_.steady_now()));
}

void device_bridge::publish_external(const auth::identity& who, bool state,
                                     const std::string& subfolder, bytes payload) {
  const auto& key = who.device;
  message m;
  m.topic = registry::to_name(key.registry) + "/devices/" + key.device.value() +
            (state ? "/state" : "/events") + (subfolder.empty() ? "" : "/" + subfolder);
  m.payload = std::move(payload);
  m.qos = mqtt::qos::at_least_once;
  auto& props = m.properties.user_properties;
  props.push_back({"deviceId", key.device.value()});
  if (who.device_num_id.value() != 0) {
    props.push_back({"deviceNumId", std::to_string(who.device_num_id.value())});
  }
  props.push_back({"deviceRegistryId", key.registry.registry.value()});
  props.push_back({"deviceRegistryLocation", key.registry.location.value()});
  props.push_back({"projectId", key.registry.project.value()});
  if (!state) {
    props.push_back({"subFolder", subfolder});
  }
  run(core_->publish(std::move(m), clk_.steady_now()));
}

void device_bridge::on_device_subscribe(device_conn& d, mqtt::subscribe&& s) {
  // Per entry: the device-facing filter when granted by the profile, else nothing.
  std::vector<std::optional<std::string>> granted_topics;
  for (auto& e : s.subscriptions) {
    if (e.options.max_qos == mqtt::qos::exactly_once) {
      e.options.max_qos = mqtt::qos::at_least_once; // reference §1.2
      count(&device_profile_stats::qos2_subscribe_downgraded);
    }
    const auto allowed = profile_.can_subscribe(d.who, e.filter);
    if (!allowed.allowed) {
      count(&device_profile_stats::subscribe_denied);
      granted_topics.emplace_back(std::nullopt);
      e.filter = "$refused"; // broker_core's authorizer refuses anything outside the namespace
      continue;
    }
    granted_topics.emplace_back(e.filter);
    e.filter = d.internal(e.filter);
  }
  const std::uint16_t packet_id = s.packet_id;
  const auto filters = s.subscriptions;
  actions as = core_->on_packet(d.id, std::move(s), clk_.steady_now());
  // What broker_core granted, from its SUBACK.
  std::vector<std::string> configs;
  for (const auto& a : as) {
    const auto* send = std::get_if<send_action>(&a);
    const auto* ack =
        send && send->conn == d.id ? std::get_if<mqtt::suback>(&send->packet) : nullptr;
    if (ack == nullptr || ack->packet_id != packet_id) {
      continue;
    }
    for (std::size_t i = 0; i < ack->reasons.size() && i < filters.size(); ++i) {
      if (!granted_topics[i] || static_cast<unsigned>(ack->reasons[i]) >= 0x80) {
        continue;
      }
      const auto l = levels_of(*granted_topics[i]);
      if (l[3] == "config") {
        d.config_subs[std::string(l[2])] = static_cast<mqtt::qos>(ack->reasons[i]);
        configs.emplace_back(l[2]);
      } else if (l[3] == "commands") {
        d.command_filters.insert(filters[i].filter);
      }
    }
  }
  const connection_id conn = d.id;
  run(std::move(as));
  for (const auto& device : configs) {
    fetch_config(conn, device);
  }
}

void device_bridge::fetch_config(connection_id conn, const std::string& device_id) {
  device_conn* d = find(conn);
  auto* reg = options_.registry;
  if (d == nullptr || reg == nullptr) {
    return;
  }
  const auto key = d->key_of(device_id);
  (void)blocking([this, reg, key, conn, device_id] {
    auto cv = reg->get_config(key);
    if (!cv) {
      count(&device_profile_stats::storage_errors);
      return;
    }
    auto version = std::make_shared<registry::config_version>(std::move(cv).value());
    auto deliver = [this, conn, device_id, version] {
      if (device_conn* dc = find(conn); dc && dc->config_subs.contains(device_id)) {
        deliver_config(*dc, device_id, *version, true);
      }
    };
    if (!options_.run_blocking) {
      deliver(); // inline mode (tests): already on the core thread
    } else {
      (void)to_core_(std::move(deliver));
    }
  });
}

void device_bridge::deliver_config(device_conn& d, const std::string& device_id,
                                   const registry::config_version& cv, bool force) {
  auto sub = d.config_subs.find(device_id);
  if (sub == d.config_subs.end() || cv.data.size() > options_.max_config_payload) {
    return;
  }
  auto sent = d.config_sent.find(device_id);
  if (sent != d.config_sent.end() &&
      (force ? cv.version < sent->second : cv.version <= sent->second)) {
    return;
  }
  d.config_sent[device_id] = cv.version;
  message m;
  m.topic = d.internal("/devices/" + device_id + "/config");
  m.payload = cv.data;
  m.qos = sub->second;
  m.properties.user_properties.push_back(
      {std::string(config_version_property), std::to_string(cv.version)});
  run(core_->deliver_to(d.who.client_id, std::move(m), sub->second, clk_.steady_now()));
}

void device_bridge::attach(device_conn& d, mqtt::publish&& p, const std::string& leaf) {
  if (attach_checker_ == nullptr) {
    ack(d, p, mqtt::reason_code::not_authorized);
    return;
  }
  auto request = std::make_shared<mqtt::publish>(std::move(p));
  const connection_id conn = d.id;
  const auth::identity gateway = d.who;
  (void)blocking([this, conn, gateway, leaf, request] {
    auto decision = std::make_shared<auth::auth_decision>(
        attach_checker_->check(gateway, leaf, attach_token(as_string_view(request->payload))));
    auto done = [this, conn, leaf, request, decision] {
      device_conn* g = find(conn);
      if (g == nullptr) {
        return;
      }
      // Everything from `g` first: a send may close the connection and forget it.
      const auto key = g->key_of(leaf);
      const auto gw = g->who.device.device;
      const std::string errors = g->internal("/devices/" + gw.value() + "/errors");
      if (decision->allowed()) {
        std::optional<steady_time> until;
        if (const auto deadline = decision->who->close_deadline()) {
          until = clk_.steady_now() +
                  std::chrono::duration_cast<steady_time::duration>(*deadline - clk_.wall_now());
        }
        g->attached[leaf] = until;
        count(&device_profile_stats::attach_accepted);
        ack(*g, *request, mqtt::reason_code::success);
        if (auto* reg = options_.registry) {
          (void)blocking([reg, key, gw] { (void)reg->record_gateway_access(key, gw); });
        }
        return;
      }
      count(&device_profile_stats::attach_refused);
      ack(*g, *request, mqtt::reason_code::not_authorized);
      message m;
      m.topic = errors;
      m.qos = mqtt::qos::at_most_once;
      const std::string body =
          R"({"error_type":"GATEWAY_ATTACHMENT_ERROR","description":")" +
          json_escape(decision->reason.message()) + R"(","device_id":")" + json_escape(leaf) +
          R"(","mqtt_message_info":{"message_type":"PUBLISH","topic":"/devices/)" +
          json_escape(leaf) + R"(/attach","packet_id":")" + std::to_string(request->packet_id) +
          R"("}})";
      m.payload = bytes(body.begin(), body.end());
      run(core_->publish(std::move(m), clk_.steady_now()));
    };
    if (!options_.run_blocking) {
      done();
    } else {
      (void)to_core_(std::move(done));
    }
  });
}

// Ends the gateway's acting for `leaf`: its subscriptions for the leaf go (broker_core's
// UNSUBACK for them is not the client's business and is not sent).
void device_bridge::detach(device_conn& d, const std::string& leaf) {
  d.attached.erase(leaf);
  d.config_subs.erase(leaf);
  d.config_sent.erase(leaf);
  const std::string prefix = d.internal("/devices/" + leaf + "/");
  mqtt::unsubscribe u;
  u.packet_id = 0xFFFF;
  u.filters.push_back(prefix + "config");
  for (auto it = d.command_filters.begin(); it != d.command_filters.end();) {
    if (it->starts_with(prefix)) {
      u.filters.push_back(*it);
      it = d.command_filters.erase(it);
    } else {
      ++it;
    }
  }
  const connection_id conn = d.id;
  actions as = core_->on_packet(conn, std::move(u), clk_.steady_now());
  std::erase_if(as, [conn](const action& a) {
    const auto* send = std::get_if<send_action>(&a);
    return send != nullptr && send->conn == conn &&
           std::holds_alternative<mqtt::unsuback>(send->packet);
  });
  run(std::move(as));
}

// --- the server's API ---------------------------------------------------------------------

void device_bridge::send_command(const registry::device_key& device, const std::string& subfolder,
                                 bytes payload, const std::function<void(std::error_code)>& done) {
  auto finish = [&](std::error_code e) {
    if (e) {
      count(&device_profile_stats::commands_refused);
    }
    if (done) {
      done(e);
    }
  };
  if (options_.registry == nullptr) {
    finish(broker_errc::devices_not_supported);
    return;
  }
  if (payload.size() > options_.max_event_payload) {
    finish(broker_errc::payload_too_large);
    return;
  }
  if (subfolder.size() > 256 ||
      subfolder.find_first_of(std::string_view("+#\0", 3)) != std::string::npos) {
    finish(auth::authz_errc::topic_invalid);
    return;
  }
  std::string topic = registry::to_name(device) + "/commands";
  if (!subfolder.empty()) {
    topic += "/" + subfolder;
  }
  bool connected = false;
  bool subscribed = false;
  for (const auto& [id, d] : devices_) {
    if (d->who.device.registry != device.registry) {
      continue;
    }
    if (d->who.device.device != device.device && !d->attached.contains(device.device.value())) {
      continue;
    }
    connected = true;
    for (const auto& f : d->command_filters) {
      subscribed = subscribed || auth::filter_matches(f, topic);
    }
  }
  if (!connected) {
    finish(broker_errc::device_not_connected);
    return;
  }
  if (!subscribed) {
    finish(broker_errc::device_not_subscribed);
    return;
  }
  message m;
  m.topic = std::move(topic);
  m.payload = std::move(payload);
  m.qos = mqtt::qos::at_least_once;
  count(&device_profile_stats::commands_sent);
  run(core_->publish(std::move(m), clk_.steady_now()));
  finish({});
}

void device_bridge::publish_config(const registry::device_key& device,
                                   const registry::config_version& latest) {
  std::vector<connection_id> conns;
  for (const auto& [id, dc] : devices_) {
    if (dc->who.device.registry == device.registry &&
        dc->config_subs.contains(device.device.value())) {
      conns.push_back(id);
    }
  }
  for (const auto id : conns) {
    if (device_conn* dc = find(id)) {
      deliver_config(*dc, device.device.value(), latest, false);
    }
  }
}

void device_bridge::revalidate_registry(const registry::registry_key& reg) {
  std::set<registry::device_key> keys;
  for (const auto& [id, dc] : devices_) {
    if (dc->who.device.registry == reg) {
      keys.insert(dc->who.device);
      for (const auto& leaf : dc->attached) {
        keys.insert(dc->key_of(leaf.first));
      }
    }
  }
  for (const auto& key : keys) {
    revalidate_device(key, nullptr);
  }
}

void device_bridge::revalidate_device(const registry::device_key& device,
                                      std::function<void()> done) {
  auto* reg = options_.registry;
  struct target {
    connection_id conn;
    auth::identity who;
    bool leaf; // the device is attached to this gateway session, not its own connection
  };
  auto targets = std::make_shared<std::vector<target>>();
  for (const auto& [id, dc] : devices_) {
    if (dc->who.device == device) {
      targets->push_back({id, dc->who, false});
    } else if (dc->who.device.registry == device.registry &&
               dc->attached.contains(device.device.value())) {
      targets->push_back({id, dc->who, true}); // a gateway acting for it
    }
  }
  if (reg == nullptr || targets->empty()) {
    if (done) {
      done();
    }
    return;
  }
  auto shared_done = std::make_shared<std::function<void()>>(std::move(done));
  const bool queued = blocking([this, reg, device, targets, shared_done] {
    auto closing = std::make_shared<std::vector<connection_id>>();
    auto detaching = std::make_shared<std::vector<connection_id>>();
    auto d = reg->get_device(device);
    auto r = reg->get_registry(device.registry);
    const wall_time now = clk_.wall_now();
    for (const auto& t : *targets) {
      bool close = false;
      if (!d) {
        close = d.error() == registry::registry_errc::device_not_found ||
                d.error() == registry::registry_errc::registry_not_found ||
                d.error() == registry::registry_errc::project_not_found;
        if (!close) {
          count(&device_profile_stats::storage_errors);
        }
      } else if (d->blocked || (r && !r->mqtt_enabled)) {
        close = true;
      } else if (t.leaf) {
        // A gateway's leaf: still bound, if the gateway's method needs the binding?
        auto gw = reg->get_device(t.who.device);
        const bool needs_binding =
            gw && (gw->gateway.auth_method == registry::gateway_auth_method::association_only ||
                   gw->gateway.auth_method ==
                       registry::gateway_auth_method::association_and_device_auth_token);
        if (needs_binding) {
          auto gateways = reg->list_gateways_of(device);
          close = gateways && std::find(gateways->begin(), gateways->end(), t.who.device.device) ==
                                  gateways->end();
        }
      } else if (t.who.method == auth::auth_method::jwt) {
        const auto& creds = d->credentials;
        close = std::none_of(creds.begin(), creds.end(), [&](const registry::credential& c) {
          return c.pem == t.who.credential_pem && (!c.expiration_time || *c.expiration_time > now);
        });
      }
      if (close) {
        (t.leaf ? detaching : closing)->push_back(t.conn);
      }
    }
    auto apply = [this, closing, detaching, device, shared_done] {
      for (const auto id : *detaching) {
        if (device_conn* g = find(id)) {
          count(&device_profile_stats::sessions_revoked);
          detach(*g, device.device.value());
        }
      }
      for (const auto id : *closing) {
        if (device_conn* c = find(id)) {
          count(&device_profile_stats::sessions_revoked);
          kick(*c, mqtt::reason_code::not_authorized);
        }
      }
      if (*shared_done) {
        (*shared_done)();
      }
    };
    if (!options_.run_blocking) {
      apply();
    } else {
      (void)to_core_(std::move(apply));
    }
  });
  if (!queued && *shared_done) {
    (*shared_done)();
  }
}

void device_bridge::revoke_certificate(const std::string& serial_hex) {
  const std::string serial = normalize_serial(serial_hex);
  std::vector<connection_id> closing;
  for (const auto& [id, dc] : devices_) {
    if (!dc->who.certificate_serial.empty() &&
        normalize_serial(dc->who.certificate_serial) == serial) {
      closing.push_back(id);
    }
  }
  for (const auto id : closing) {
    if (device_conn* dc = find(id)) {
      count(&device_profile_stats::sessions_revoked);
      kick(*dc, mqtt::reason_code::not_authorized);
    }
  }
}

} // namespace aegis::broker
