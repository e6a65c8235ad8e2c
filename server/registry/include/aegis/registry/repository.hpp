#pragma once

// The registry's storage port (STYLE.md habit 2). server/storage/* implements it; the registry
// module only ever sees this interface. It is synchronous on purpose: callers on I/O threads go
// through a storage executor (server/storage/*), never call it directly.
//
// Contract for implementations:
//  - A repository stores and finds; it enforces no registry rule (limits, formats, gateway
//    types) beyond identity: unique keys, parents that exist, children that go with parents.
//  - Failures are registry_errc values only: the *_not_found / *_exists the comments name,
//    num_id_collision, binding_not_found, config_version_not_found, and storage_* for
//    everything else. Nothing throws.
//  - Every value is stored and returned byte for byte (ids, metadata, labels, payloads);
//    SQL-backed stores bind every value as a parameter.
//  - Lists are ordered by id (bytewise) and paged with page_request; config versions and
//    states are newest first.

#include "aegis/base/error.hpp"
#include "aegis/registry/ids.hpp"
#include "aegis/registry/model.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace aegis::registry {

// The operations of one transaction. Valid only inside the registry_repository::write/read
// callback that received it.
class registry_transaction {
public:
  virtual ~registry_transaction() = default;

  // registry_transaction: projects
  virtual result<void> insert_project(const project& p) = 0; // project_exists
  virtual result<project> find_project(const project_id& id) = 0;
  virtual result<std::vector<project>> list_projects(const page_request& page) = 0;
  virtual result<void> delete_project(const project_id& id) = 0;
  virtual result<std::size_t> count_registries(const project_id& id) = 0;

  // registry_transaction: registries
  virtual result<void> insert_registry(const device_registry& r) = 0; // project_not_found,
                                                                      // registry_exists
  virtual result<device_registry> find_registry(const registry_key& key) = 0;
  virtual result<std::vector<device_registry>> list_registries(const project_id& project,
                                                               const location_id& location,
                                                               const page_request& page) = 0;
  // Replaces everything but the key and create_time.
  virtual result<void> update_registry(const device_registry& r) = 0;
  // Also deletes the registry's groups. The caller makes sure no device is left.
  virtual result<void> delete_registry(const registry_key& key) = 0;
  virtual result<std::size_t> count_devices(const registry_key& key) = 0;

  // registry_transaction: devices
  // registry_not_found, device_exists, num_id_collision (another device has that num_id).
  virtual result<void> insert_device(const device& d) = 0;
  virtual result<device> find_device(const device_key& key) = 0;
  virtual result<device> find_device_by_num_id(const registry_key& key, device_num_id id) = 0;
  virtual result<std::vector<device>> list_devices(const registry_key& key,
                                                   const page_request& page) = 0;
  // Replaces credentials, blocked, metadata, gateway config and log level.
  virtual result<void> update_device(const device& d) = 0;
  virtual result<device_activity> find_activity(const device_key& key) = 0;
  virtual result<void> update_activity(const device_key& key, const device_activity& a) = 0;
  // Also deletes the device's config versions, states, group memberships and the bindings in
  // which it is the bound device. The caller makes sure a gateway has no bound devices left.
  virtual result<void> delete_device(const device_key& key) = 0;

  // registry_transaction: config versions and states (newest first)
  virtual result<void> insert_config(const device_key& key, const config_version& c) = 0;
  // limit 0: every retained version.
  virtual result<std::vector<config_version>> list_configs(const device_key& key,
                                                           std::size_t limit) = 0;
  virtual result<void> update_config_ack(const device_key& key, std::int64_t version,
                                         wall_time ack_time) = 0; // config_version_not_found
  // Deletes all but the `keep` newest versions.
  virtual result<void> trim_configs(const device_key& key, std::size_t keep) = 0;
  virtual result<void> insert_state(const device_key& key, const device_state& s) = 0;
  virtual result<std::vector<device_state>> list_states(const device_key& key,
                                                        std::size_t limit) = 0;
  virtual result<void> trim_states(const device_key& key, std::size_t keep) = 0;

  // registry_transaction: gateway bindings (gateway and device of one registry)
  // device_not_found for either end; binding an existing pair again succeeds.
  virtual result<void> insert_binding(const device_key& gateway, const device_id& device) = 0;
  virtual result<void> delete_binding(const device_key& gateway,
                                      const device_id& device) = 0; // binding_not_found
  virtual result<std::vector<device_id>> list_bound_devices(const device_key& gateway,
                                                            const page_request& page) = 0;
  virtual result<std::size_t> count_bound_devices(const device_key& gateway) = 0;
  virtual result<std::vector<device_id>> list_gateways_of(const device_key& device) = 0;

  // registry_transaction: groups
  virtual result<void> insert_group(const device_group& g) = 0; // registry_not_found,
                                                                // group_exists
  virtual result<device_group> find_group(const group_key& key) = 0;
  virtual result<std::vector<device_group>> list_groups(const registry_key& key,
                                                        const page_request& page) = 0;
  virtual result<void> update_group(const device_group& g) = 0; // replaces the labels
  virtual result<void> delete_group(const group_key& key) = 0;  // and its memberships
  // group_not_found, device_not_found; adding a member again succeeds.
  virtual result<void> insert_group_member(const group_key& key, const device_id& device) = 0;
  // Removing a non-member succeeds.
  virtual result<void> delete_group_member(const group_key& key, const device_id& device) = 0;
  virtual result<std::vector<device_id>> list_group_members(const group_key& key,
                                                            const page_request& page) = 0;
};

class registry_repository {
public:
  using work = std::function<result<void>(registry_transaction&)>;

  virtual ~registry_repository() = default;

  // Runs `fn` as one serialisable read-write transaction: when it returns a value every change
  // is committed (durably, as the implementation documents); when it returns an error no change
  // survives, and that error is returned. May be called from any thread; calls are serialised.
  virtual result<void> write(const work& fn) = 0;
  // Runs `fn` against a consistent snapshot. Writes through that transaction are a programming
  // error (asserted in debug builds, refused with storage_failed otherwise).
  virtual result<void> read(const work& fn) = 0;
};

} // namespace aegis::registry
