#pragma once

// The IoT Core device profile around broker_core (private to the broker; mqtt_server's core
// thread owns one). Everything here runs on the core thread; registry work goes to
// options.run_blocking and its result comes back through `to_core`. Actions are handed to
// `emit` after the device-facing topics were put back (README "Device profile").
//
// Inbound, for device and gateway connections: the device's topics (`/devices/{d}/...`) are
// authorized by auth::device_profile_authorizer as the device sent them, then mapped into the
// registry's namespace (`projects/{p}/locations/{l}/registries/{r}/devices/{d}/...`) for
// broker_core. broker_core's own authorizer for devices only admits names under the session's
// registry and a device it may act for, so an unmapped (refused) filter can never match.
// Outbound, the registry prefix is stripped again.

#include "aegis/auth/authorizer.hpp"
#include "aegis/auth/gateway_attach.hpp"
#include "aegis/broker/broker_core.hpp"
#include "aegis/broker/device_profile.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <unordered_map>

namespace aegis::broker {

class device_bridge {
public:
  using emit_fn = std::function<void(actions)>;
  using post_fn = std::function<bool(std::function<void()>)>;

  // `apps` (may be null: allow all) serves application accounts. `clk` must outlive this.
  device_bridge(broker_limits limits, device_profile_options options, const auth::authorizer* apps,
                const clock& clk, emit_fn emit, post_fn to_core);
  ~device_bridge();
  device_bridge(const device_bridge&) = delete;
  device_bridge& operator=(const device_bridge&) = delete;

  bool devices_supported() const noexcept { return options_.registry != nullptr; }

  void on_connect(connection_id conn, mqtt::connect&& packet, const auth::identity& who,
                  std::optional<steady_time> expires);
  void on_packet(connection_id conn, mqtt::packet&& packet);
  void on_disconnect(connection_id conn, transport_close cause);
  void on_backpressure(connection_id conn, bool congested);
  void on_tick();
  void shutdown();

  void send_command(const registry::device_key& device, const std::string& subfolder, bytes payload,
                    const std::function<void(std::error_code)>& done);
  void publish_config(const registry::device_key& device, const registry::config_version& latest);
  void revalidate_device(const registry::device_key& device, std::function<void()> done);
  // Every device (and attached leaf) with a session in `reg`, as revalidate_device.
  void revalidate_registry(const registry::registry_key& reg);
  void revoke_certificate(const std::string& serial_hex);
  // Telemetry a device sent another way (the HTTPS bridge, already authenticated, authorized,
  // size-checked and recorded there): routed to application subscribers exactly as the same
  // PUBLISH over MQTT would be, with the same attributes. `subfolder` empty: no subfolder.
  void publish_external(const auth::identity& who, bool state, const std::string& subfolder,
                        bytes payload);

  device_profile_stats stats() const;
  broker_core& core() noexcept { return *core_; }
  void count(std::uint64_t device_profile_stats::*field);

private:
  struct device_conn;
  class core_authorizer;

  void run(actions as);
  void forget(connection_id conn);
  device_conn* find(connection_id conn);
  void kick(device_conn& d, mqtt::reason_code reason);
  void on_device_packet(device_conn& d, mqtt::packet&& p);
  void on_device_publish(device_conn& d, mqtt::publish&& p);
  void on_device_subscribe(device_conn& d, mqtt::subscribe&& s);
  void refuse_over_limit(device_conn& d, const mqtt::publish& p);
  void ack(device_conn& d, const mqtt::publish& p, mqtt::reason_code reason);
  void attach(device_conn& d, mqtt::publish&& p, const std::string& leaf);
  void detach(device_conn& d, const std::string& leaf);
  void fetch_config(connection_id conn, const std::string& device_id);
  void deliver_config(device_conn& d, const std::string& device_id,
                      const registry::config_version& cv, bool force);
  bool blocking(std::function<void()> work);
  bool attached(const auth::identity& gateway, std::string_view device_id) const;
  void mark_activity(const registry::device_key& key, unsigned flags);

  device_profile_options options_;
  const auth::authorizer* apps_;
  const clock& clk_;
  emit_fn emit_;
  post_fn to_core_;
  std::size_t alias_max_;
  auth::device_profile_authorizer profile_;
  std::unique_ptr<core_authorizer> core_authz_;
  std::unique_ptr<broker_core> core_;
  std::unique_ptr<auth::gateway_attach_checker> attach_checker_;

  std::unordered_map<connection_id, std::unique_ptr<device_conn>> devices_;
  std::unordered_map<std::string, connection_id> by_client_id_;
  std::map<std::string, steady_time, std::less<>> last_state_; // by device name
  std::map<registry::device_key, unsigned> pending_activity_;
  steady_time last_flush_{};

  mutable std::mutex stats_mutex_;
  device_profile_stats stats_;
};

} // namespace aegis::broker
