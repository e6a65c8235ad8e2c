#pragma once

// registry_service: every registry rule, on top of the repository port. The admin API, the
// broker and the bridges call this, never the repository, so a rule holds whichever door a
// request comes through. Synchronous: run it on the storage executor, not on an I/O thread.
//
// Thread-safe as far as the repository is (the service itself keeps no mutable state besides
// what the num_id source keeps).

#include "aegis/base/bytes.hpp"
#include "aegis/base/clock.hpp"
#include "aegis/base/error.hpp"
#include "aegis/registry/errors.hpp"
#include "aegis/registry/ids.hpp"
#include "aegis/registry/model.hpp"
#include "aegis/registry/repository.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace aegis::registry {

struct registry_spec {
  registry_key key{};
  bool mqtt_enabled = true;
  bool http_enabled = true;
  device_log_level log_level = device_log_level::unspecified;
  std::vector<ca_certificate> ca_certificates{};
};

// Fields left empty are not changed (IoT Core's update mask).
struct registry_update {
  std::optional<bool> mqtt_enabled{};
  std::optional<bool> http_enabled{};
  std::optional<device_log_level> log_level{};
  std::optional<std::vector<ca_certificate>> ca_certificates{};
};

struct device_spec {
  device_key key{};
  std::vector<credential> credentials{};
  bool blocked = false;
  string_map metadata{};
  gateway_config gateway{};
  device_log_level log_level = device_log_level::unspecified;
  bytes initial_config{}; // the data of config version 1 (empty by default)
};

// Fields left empty are not changed.
struct device_update {
  std::optional<std::vector<credential>> credentials{};
  std::optional<bool> blocked{};
  std::optional<string_map> metadata{};
  std::optional<device_log_level> log_level{};
  std::optional<gateway_auth_method> auth_method{};
  // Accepted only when equal to the current type: gateway_type is fixed at creation.
  std::optional<gateway_type> type{};
};

// Draws numeric device ids. The default is a CSPRNG in [1, 2^63), so numeric ids reveal
// nothing about fleet size or creation order.
using num_id_source = std::function<std::uint64_t()>;
num_id_source random_num_ids();

class registry_service {
public:
  registry_service(registry_repository& repo, const clock& clk,
                   num_id_source num_ids = random_num_ids());

  // registry_service: projects
  result<project> create_project(const project_id& id);
  result<project> get_project(const project_id& id);
  result<std::vector<project>> list_projects(const page_request& page = {});
  result<void> delete_project(const project_id& id); // project_not_empty while it has registries

  // registry_service: registries
  result<device_registry> create_registry(const registry_spec& spec);
  result<device_registry> get_registry(const registry_key& key);
  result<std::vector<device_registry>> list_registries(const project_id& project,
                                                       const location_id& location,
                                                       const page_request& page = {});
  result<device_registry> update_registry(const registry_key& key, const registry_update& update);
  result<void> delete_registry(const registry_key& key); // registry_not_empty while it has devices

  // registry_service: devices
  // Assigns num_id, creates config version 1 (with spec.initial_config).
  result<device> create_device(const device_spec& spec);
  result<device> get_device(const device_key& key);
  result<device> get_device_by_num_id(const registry_key& key, device_num_id id);
  result<std::vector<device>> list_devices(const registry_key& key, const page_request& page = {});
  result<device> update_device(const device_key& key, const device_update& update);
  // Adds one credential (too_many_credentials when the device already has 3).
  result<device> add_credential(const device_key& key, const credential& c);
  // gateway_has_bound_devices while a gateway has bound devices.
  result<void> delete_device(const device_key& key);

  // registry_service: configuration (cloud to device)
  // version_to_update 0 writes unconditionally; otherwise it must equal the current version
  // (config_version_mismatch). Keeps the last 10 versions.
  result<config_version> modify_config(const device_key& key, bytes data,
                                       std::int64_t version_to_update = 0);
  result<config_version> get_config(const device_key& key); // the latest version
  // Newest first; count 0 returns every retained version.
  result<std::vector<config_version>> list_config_versions(const device_key& key,
                                                           std::size_t count = 0);
  // The device acknowledged `version` (MQTT PUBACK): sets its device_ack_time and the device's
  // last_config_ack_time.
  result<void> acknowledge_config(const device_key& key, std::int64_t version);

  // registry_service: state (device to cloud)
  // Appends a state (keeps the last 10) and sets last_state_time.
  result<device_state> report_state(const device_key& key, bytes data);
  result<std::vector<device_state>> list_states(const device_key& key, std::size_t count = 0);

  // registry_service: data-plane activity (each sets one time to now)
  result<void> record_heartbeat(const device_key& key);
  result<void> record_event(const device_key& key);
  result<void> record_config_sent(const device_key& key);
  result<void> record_error(const device_key& key, const error_status& status);
  result<void> record_gateway_access(const device_key& key, const device_id& gateway);

  // registry_service: gateways
  result<void> bind_device_to_gateway(const registry_key& reg, const device_id& gateway,
                                      const device_id& device);
  result<void> unbind_device_from_gateway(const registry_key& reg, const device_id& gateway,
                                          const device_id& device);
  result<std::vector<device_id>> list_bound_devices(const device_key& gateway,
                                                    const page_request& page = {});
  result<std::vector<device_id>> list_gateways_of(const device_key& device);

  // registry_service: groups
  result<device_group> create_group(const group_key& key, const string_map& labels = {});
  result<device_group> get_group(const group_key& key);
  result<std::vector<device_group>> list_groups(const registry_key& key,
                                                const page_request& page = {});
  result<device_group> set_group_labels(const group_key& key, const string_map& labels);
  result<void> delete_group(const group_key& key);
  // All or nothing: one unknown device and no member is added.
  result<void> add_group_members(const group_key& key, const std::vector<device_id>& devices);
  result<void> remove_group_members(const group_key& key, const std::vector<device_id>& devices);
  result<std::vector<device_id>> list_group_members(const group_key& key,
                                                    const page_request& page = {});

private:
  result<void> touch(const device_key& key,
                     const std::function<void(device_activity&, wall_time)>& apply);

  registry_repository& repo_;
  const clock& clock_;
  num_id_source num_ids_{};
};

} // namespace aegis::registry
