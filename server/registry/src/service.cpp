#include "aegis/registry/service.hpp"

#include "aegis/crypto/random.hpp"
#include "aegis/registry/limits.hpp"
#include "aegis/registry/rules.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <utility>

namespace aegis::registry {
namespace {

// Runs `fn(tx) -> result<T>` in a write transaction and hands its value out.
template <class T, class F>
result<T> in_write(registry_repository& repo, F&& fn) {
  std::optional<T> out;
  auto r = repo.write([&](registry_transaction& tx) -> result<void> {
    auto v = fn(tx);
    if (!v) {
      return v.error();
    }
    out.emplace(std::move(*v));
    return ok();
  });
  if (!r) {
    return r.error();
  }
  return std::move(*out);
}

template <class T, class F>
result<T> in_read(registry_repository& repo, F&& fn) {
  std::optional<T> out;
  auto r = repo.read([&](registry_transaction& tx) -> result<void> {
    auto v = fn(tx);
    if (!v) {
      return v.error();
    }
    out.emplace(std::move(*v));
    return ok();
  });
  if (!r) {
    return r.error();
  }
  return std::move(*out);
}

result<page_request> checked(const page_request& page) {
  if (page.page_size > limits::max_page_size) {
    return registry_errc::bad_page_size;
  }
  page_request out = page;
  if (out.page_size == 0) {
    out.page_size = limits::default_page_size;
  }
  return out;
}

result<void> check_ids(const std::vector<device_id>& ids) {
  for (const auto& id : ids) {
    if (auto r = check_resource_id(id.value()); !r) {
      return r;
    }
  }
  return ok();
}

bool is_gateway(const device& d) noexcept {
  return d.gateway.type == gateway_type::gateway;
}

// How many times create_device draws a new num_id after a collision. With random 63-bit ids a
// second collision means the source is broken, not unlucky.
constexpr int num_id_attempts = 4;

} // namespace

num_id_source random_num_ids() {
  return [] {
    std::array<std::uint8_t, 8> raw{};
    std::uint64_t v = 0;
    while (v == 0) {
      if (!crypto::random_fill(raw)) {
        return std::uint64_t{0}; // insert_device refuses 0 as a collision; the caller retries
      }
      v = 0;
      for (auto b : raw) {
        v = (v << 8U) | b;
      }
      v &= 0x7fff'ffff'ffff'ffffULL;
    }
    return v;
  };
}

registry_service::registry_service(registry_repository& repo, const clock& clk,
                                   num_id_source num_ids)
    : repo_(repo), clock_(clk), num_ids_(std::move(num_ids)) {}

// --- projects ---

result<project> registry_service::create_project(const project_id& id) {
  if (auto r = check_project_id(id.value()); !r) {
    return r.error();
  }
  project p{id, clock_.wall_now()};
  if (auto r = repo_.write([&](registry_transaction& tx) { return tx.insert_project(p); }); !r) {
    return r.error();
  }
  return p;
}

result<project> registry_service::get_project(const project_id& id) {
  if (auto r = check_project_id(id.value()); !r) {
    return r.error();
  }
  return in_read<project>(repo_, [&](registry_transaction& tx) { return tx.find_project(id); });
}

result<std::vector<project>> registry_service::list_projects(const page_request& page) {
  auto p = checked(page);
  if (!p) {
    return p.error();
  }
  return in_read<std::vector<project>>(
      repo_, [&](registry_transaction& tx) { return tx.list_projects(*p); });
}

result<void> registry_service::delete_project(const project_id& id) {
  if (auto r = check_project_id(id.value()); !r) {
    return r;
  }
  return repo_.write([&](registry_transaction& tx) -> result<void> {
    if (auto p = tx.find_project(id); !p) {
      return p.error();
    }
    auto n = tx.count_registries(id);
    if (!n) {
      return n.error();
    }
    if (*n > 0) {
      return registry_errc::project_not_empty;
    }
    return tx.delete_project(id);
  });
}

// --- registries ---

result<device_registry> registry_service::create_registry(const registry_spec& spec) {
  if (auto r = check(spec.key); !r) {
    return r.error();
  }
  if (!is_valid(spec.log_level)) {
    return registry_errc::bad_enum_value;
  }
  const auto now = clock_.wall_now();
  if (auto r = check_ca_certificates(spec.ca_certificates, now); !r) {
    return r.error();
  }
  device_registry reg{spec.key,       spec.mqtt_enabled,    spec.http_enabled,
                      spec.log_level, spec.ca_certificates, now};
  if (auto r = repo_.write([&](registry_transaction& tx) { return tx.insert_registry(reg); }); !r) {
    return r.error();
  }
  return reg;
}

result<device_registry> registry_service::get_registry(const registry_key& key) {
  if (auto r = check(key); !r) {
    return r.error();
  }
  return in_read<device_registry>(repo_,
                                  [&](registry_transaction& tx) { return tx.find_registry(key); });
}

result<std::vector<device_registry>> registry_service::list_registries(const project_id& project,
                                                                       const location_id& location,
                                                                       const page_request& page) {
  if (auto r = check_project_id(project.value()); !r) {
    return r.error();
  }
  if (auto r = check_location(location.value()); !r) {
    return r.error();
  }
  auto p = checked(page);
  if (!p) {
    return p.error();
  }
  return in_read<std::vector<device_registry>>(
      repo_, [&](registry_transaction& tx) { return tx.list_registries(project, location, *p); });
}

result<device_registry> registry_service::update_registry(const registry_key& key,
                                                          const registry_update& update) {
  if (auto r = check(key); !r) {
    return r.error();
  }
  if (update.log_level && !is_valid(*update.log_level)) {
    return registry_errc::bad_enum_value;
  }
  const auto now = clock_.wall_now();
  if (update.ca_certificates) {
    if (auto r = check_ca_certificates(*update.ca_certificates, now); !r) {
      return r.error();
    }
  }
  return in_write<device_registry>(repo_, [&](registry_transaction& tx) -> result<device_registry> {
    auto reg = tx.find_registry(key);
    if (!reg) {
      return reg;
    }
    if (update.mqtt_enabled) {
      reg->mqtt_enabled = *update.mqtt_enabled;
    }
    if (update.http_enabled) {
      reg->http_enabled = *update.http_enabled;
    }
    if (update.log_level) {
      reg->log_level = *update.log_level;
    }
    if (update.ca_certificates) {
      reg->ca_certificates = *update.ca_certificates;
    }
    if (auto r = tx.update_registry(*reg); !r) {
      return r.error();
    }
    return reg;
  });
}

result<void> registry_service::delete_registry(const registry_key& key) {
  if (auto r = check(key); !r) {
    return r;
  }
  return repo_.write([&](registry_transaction& tx) -> result<void> {
    if (auto reg = tx.find_registry(key); !reg) {
      return reg.error();
    }
    auto n = tx.count_devices(key);
    if (!n) {
      return n.error();
    }
    if (*n > 0) {
      return registry_errc::registry_not_empty;
    }
    return tx.delete_registry(key);
  });
}

// --- devices ---

result<device> registry_service::create_device(const device_spec& spec) {
  if (auto r = check(spec.key); !r) {
    return r.error();
  }
  if (!is_valid(spec.log_level) || !is_valid(spec.gateway.type) ||
      !is_valid(spec.gateway.auth_method)) {
    return registry_errc::bad_enum_value;
  }
  if (spec.credentials.size() > limits::credentials_per_device) {
    return registry_errc::too_many_credentials;
  }
  if (auto r = check_metadata(spec.metadata); !r) {
    return r.error();
  }
  if (spec.initial_config.size() > limits::config_bytes) {
    return registry_errc::config_too_large;
  }
  const auto now = clock_.wall_now();
  return in_write<device>(repo_, [&](registry_transaction& tx) -> result<device> {
    auto reg = tx.find_registry(spec.key.registry);
    if (!reg) {
      return reg.error();
    }
    if (auto r = check_device_credentials(spec.credentials, {}, *reg, now); !r) {
      return r.error();
    }
    device d;
    d.key = spec.key;
    d.credentials = spec.credentials;
    d.blocked = spec.blocked;
    d.metadata = spec.metadata;
    d.gateway = spec.gateway;
    d.log_level = spec.log_level;
    d.create_time = now;
    result<void> inserted = registry_errc::num_id_collision;
    for (int attempt = 0; attempt < num_id_attempts; ++attempt) {
      d.num_id = device_num_id{num_ids_()};
      if (d.num_id.value() == 0 || d.num_id.value() > 0x7fff'ffff'ffff'ffffULL) {
        continue; // outside the documented range: draw again
      }
      inserted = tx.insert_device(d);
      if (inserted || inserted.error() != registry_errc::num_id_collision) {
        break;
      }
    }
    if (!inserted) {
      return inserted.error();
    }
    if (auto r = tx.insert_config(d.key, config_version{1, now, std::nullopt, spec.initial_config});
        !r) {
      return r.error();
    }
    return d;
  });
}

result<device> registry_service::get_device(const device_key& key) {
  if (auto r = check(key); !r) {
    return r.error();
  }
  return in_read<device>(repo_, [&](registry_transaction& tx) { return tx.find_device(key); });
}

result<device> registry_service::get_device_by_num_id(const registry_key& key, device_num_id id) {
  if (auto r = check(key); !r) {
    return r.error();
  }
  return in_read<device>(
      repo_, [&](registry_transaction& tx) { return tx.find_device_by_num_id(key, id); });
}

result<std::vector<device>> registry_service::list_devices(const registry_key& key,
                                                           const page_request& page) {
  if (auto r = check(key); !r) {
    return r.error();
  }
  auto p = checked(page);
  if (!p) {
    return p.error();
  }
  return in_read<std::vector<device>>(
      repo_, [&](registry_transaction& tx) { return tx.list_devices(key, *p); });
}

result<device> registry_service::update_device(const device_key& key, const device_update& update) {
  if (auto r = check(key); !r) {
    return r.error();
  }
  if ((update.log_level && !is_valid(*update.log_level)) ||
      (update.auth_method && !is_valid(*update.auth_method)) ||
      (update.type && !is_valid(*update.type))) {
    return registry_errc::bad_enum_value;
  }
  if (update.credentials && update.credentials->size() > limits::credentials_per_device) {
    return registry_errc::too_many_credentials;
  }
  if (update.metadata) {
    if (auto r = check_metadata(*update.metadata); !r) {
      return r.error();
    }
  }
  const auto now = clock_.wall_now();
  return in_write<device>(repo_, [&](registry_transaction& tx) -> result<device> {
    auto d = tx.find_device(key);
    if (!d) {
      return d;
    }
    if (update.type && *update.type != d->gateway.type) {
      return registry_errc::gateway_type_immutable;
    }
    if (update.credentials) {
      auto reg = tx.find_registry(key.registry);
      if (!reg) {
        return reg.error();
      }
      if (auto r = check_device_credentials(*update.credentials, d->credentials, *reg, now); !r) {
        return r.error();
      }
      d->credentials = *update.credentials;
    }
    if (update.blocked) {
      d->blocked = *update.blocked;
    }
    if (update.metadata) {
      d->metadata = *update.metadata;
    }
    if (update.log_level) {
      d->log_level = *update.log_level;
    }
    if (update.auth_method) {
      d->gateway.auth_method = *update.auth_method;
    }
    if (auto r = tx.update_device(*d); !r) {
      return r.error();
    }
    return d;
  });
}

result<device> registry_service::add_credential(const device_key& key, const credential& c) {
  if (auto r = check(key); !r) {
    return r.error();
  }
  const auto now = clock_.wall_now();
  return in_write<device>(repo_, [&](registry_transaction& tx) -> result<device> {
    auto d = tx.find_device(key);
    if (!d) {
      return d;
    }
    auto reg = tx.find_registry(key.registry);
    if (!reg) {
      return reg.error();
    }
    auto creds = d->credentials;
    creds.push_back(c);
    if (auto r = check_device_credentials(creds, d->credentials, *reg, now); !r) {
      return r.error();
    }
    d->credentials = std::move(creds);
    if (auto r = tx.update_device(*d); !r) {
      return r.error();
    }
    return d;
  });
}

result<void> registry_service::delete_device(const device_key& key) {
  if (auto r = check(key); !r) {
    return r;
  }
  return repo_.write([&](registry_transaction& tx) -> result<void> {
    auto d = tx.find_device(key);
    if (!d) {
      return d.error();
    }
    if (is_gateway(*d)) {
      auto n = tx.count_bound_devices(key);
      if (!n) {
        return n.error();
      }
      if (*n > 0) {
        return registry_errc::gateway_has_bound_devices;
      }
    }
    return tx.delete_device(key);
  });
}

// --- configuration ---

result<config_version> registry_service::modify_config(const device_key& key, bytes data,
                                                       std::int64_t version_to_update) {
  if (auto r = check(key); !r) {
    return r.error();
  }
  if (data.size() > limits::config_bytes) {
    return registry_errc::config_too_large;
  }
  if (version_to_update < 0) {
    return registry_errc::bad_config_version;
  }
  const auto now = clock_.wall_now();
  return in_write<config_version>(repo_, [&](registry_transaction& tx) -> result<config_version> {
    if (auto d = tx.find_activity(key); !d) {
      return d.error();
    }
    auto latest = tx.list_configs(key, 1);
    if (!latest) {
      return latest.error();
    }
    const std::int64_t current = latest->empty() ? 0 : latest->front().version;
    if (version_to_update != 0 && version_to_update != current) {
      return registry_errc::config_version_mismatch;
    }
    config_version next{current + 1, now, std::nullopt, std::move(data)};
    if (auto r = tx.insert_config(key, next); !r) {
      return r.error();
    }
    if (auto r = tx.trim_configs(key, limits::config_versions_kept); !r) {
      return r.error();
    }
    return next;
  });
}

result<config_version> registry_service::get_config(const device_key& key) {
  auto versions = list_config_versions(key, 1);
  if (!versions) {
    return versions.error();
  }
  if (versions->empty()) {
    return registry_errc::config_version_not_found;
  }
  return std::move(versions->front());
}

result<std::vector<config_version>> registry_service::list_config_versions(const device_key& key,
                                                                           std::size_t count) {
  if (auto r = check(key); !r) {
    return r.error();
  }
  return in_read<std::vector<config_version>>(
      repo_, [&](registry_transaction& tx) -> result<std::vector<config_version>> {
        if (auto d = tx.find_activity(key); !d) {
          return d.error();
        }
        return tx.list_configs(key, count);
      });
}

result<void> registry_service::acknowledge_config(const device_key& key, std::int64_t version) {
  if (auto r = check(key); !r) {
    return r;
  }
  const auto now = clock_.wall_now();
  return repo_.write([&](registry_transaction& tx) -> result<void> {
    auto a = tx.find_activity(key);
    if (!a) {
      return a.error();
    }
    if (auto r = tx.update_config_ack(key, version, now); !r) {
      return r;
    }
    a->last_config_ack_time = now;
    return tx.update_activity(key, *a);
  });
}

// --- state ---

result<device_state> registry_service::report_state(const device_key& key, bytes data) {
  if (auto r = check(key); !r) {
    return r.error();
  }
  if (data.size() > limits::state_bytes) {
    return registry_errc::state_too_large;
  }
  const auto now = clock_.wall_now();
  return in_write<device_state>(repo_, [&](registry_transaction& tx) -> result<device_state> {
    auto a = tx.find_activity(key);
    if (!a) {
      return a.error();
    }
    device_state s{now, std::move(data)};
    if (auto r = tx.insert_state(key, s); !r) {
      return r.error();
    }
    if (auto r = tx.trim_states(key, limits::states_kept); !r) {
      return r.error();
    }
    a->last_state_time = now;
    if (auto r = tx.update_activity(key, *a); !r) {
      return r.error();
    }
    return s;
  });
}

result<std::vector<device_state>> registry_service::list_states(const device_key& key,
                                                                std::size_t count) {
  if (auto r = check(key); !r) {
    return r.error();
  }
  return in_read<std::vector<device_state>>(
      repo_, [&](registry_transaction& tx) -> result<std::vector<device_state>> {
        if (auto d = tx.find_activity(key); !d) {
          return d.error();
        }
        return tx.list_states(key, count);
      });
}

// --- activity ---

result<void>
registry_service::touch(const device_key& key,
                        const std::function<void(device_activity&, wall_time)>& apply) {
  if (auto r = check(key); !r) {
    return r;
  }
  const auto now = clock_.wall_now();
  return repo_.write([&](registry_transaction& tx) -> result<void> {
    auto a = tx.find_activity(key);
    if (!a) {
      return a.error();
    }
    apply(*a, now);
    return tx.update_activity(key, *a);
  });
}

result<void> registry_service::record_heartbeat(const device_key& key) {
  return touch(key, [](device_activity& a, wall_time now) { a.last_heartbeat_time = now; });
}

result<void> registry_service::record_event(const device_key& key) {
  return touch(key, [](device_activity& a, wall_time now) { a.last_event_time = now; });
}

result<void> registry_service::record_config_sent(const device_key& key) {
  return touch(key, [](device_activity& a, wall_time now) { a.last_config_send_time = now; });
}

result<void> registry_service::record_error(const device_key& key, const error_status& status) {
  if (status.message.size() > limits::error_message_bytes) {
    return registry_errc::bad_error_status;
  }
  return touch(key, [&](device_activity& a, wall_time now) {
    a.last_error_time = now;
    a.last_error_status = status;
  });
}

result<void> registry_service::record_gateway_access(const device_key& key,
                                                     const device_id& gateway) {
  if (auto r = check_resource_id(gateway.value()); !r) {
    return r;
  }
  return touch(key, [&](device_activity& a, wall_time now) {
    a.last_accessed_gateway_id = gateway.value();
    a.last_accessed_gateway_time = now;
  });
}

// --- gateways ---

result<void> registry_service::bind_device_to_gateway(const registry_key& reg,
                                                      const device_id& gateway,
                                                      const device_id& device) {
  const device_key gw_key{reg, gateway};
  const device_key dev_key{reg, device};
  if (auto r = check(gw_key); !r) {
    return r;
  }
  if (auto r = check_resource_id(device.value()); !r) {
    return r;
  }
  return repo_.write([&](registry_transaction& tx) -> result<void> {
    auto gw = tx.find_device(gw_key);
    if (!gw) {
      return gw.error();
    }
    if (!is_gateway(*gw)) {
      return registry_errc::not_a_gateway;
    }
    auto dev = tx.find_device(dev_key);
    if (!dev) {
      return dev.error();
    }
    if (is_gateway(*dev)) {
      return registry_errc::gateway_cannot_be_bound;
    }
    auto gateways = tx.list_gateways_of(dev_key);
    if (!gateways) {
      return gateways.error();
    }
    if (std::find(gateways->begin(), gateways->end(), gateway) != gateways->end()) {
      return ok(); // already bound: binding is idempotent, as in IoT Core
    }
    if (gateways->size() >= limits::gateways_per_device) {
      return registry_errc::too_many_gateways;
    }
    auto bound = tx.count_bound_devices(gw_key);
    if (!bound) {
      return bound.error();
    }
    if (*bound >= limits::devices_per_gateway) {
      return registry_errc::too_many_bound_devices;
    }
    return tx.insert_binding(gw_key, device);
  });
}

result<void> registry_service::unbind_device_from_gateway(const registry_key& reg,
                                                          const device_id& gateway,
                                                          const device_id& device) {
  const device_key gw_key{reg, gateway};
  if (auto r = check(gw_key); !r) {
    return r;
  }
  if (auto r = check_resource_id(device.value()); !r) {
    return r;
  }
  return repo_.write([&](registry_transaction& tx) -> result<void> {
    if (auto gw = tx.find_activity(gw_key); !gw) {
      return gw.error();
    }
    if (auto d = tx.find_activity(device_key{reg, device}); !d) {
      return d.error();
    }
    return tx.delete_binding(gw_key, device);
  });
}

result<std::vector<device_id>> registry_service::list_bound_devices(const device_key& gateway,
                                                                    const page_request& page) {
  if (auto r = check(gateway); !r) {
    return r.error();
  }
  auto p = checked(page);
  if (!p) {
    return p.error();
  }
  return in_read<std::vector<device_id>>(
      repo_, [&](registry_transaction& tx) -> result<std::vector<device_id>> {
        if (auto gw = tx.find_activity(gateway); !gw) {
          return gw.error();
        }
        return tx.list_bound_devices(gateway, *p);
      });
}

result<std::vector<device_id>> registry_service::list_gateways_of(const device_key& device) {
  if (auto r = check(device); !r) {
    return r.error();
  }
  return in_read<std::vector<device_id>>(
      repo_, [&](registry_transaction& tx) -> result<std::vector<device_id>> {
        if (auto d = tx.find_activity(device); !d) {
          return d.error();
        }
        return tx.list_gateways_of(device);
      });
}

// --- groups ---

result<device_group> registry_service::create_group(const group_key& key,
                                                    const string_map& labels) {
  if (auto r = check(key); !r) {
    return r.error();
  }
  if (auto r = check_labels(labels); !r) {
    return r.error();
  }
  device_group g{key, labels, clock_.wall_now()};
  if (auto r = repo_.write([&](registry_transaction& tx) { return tx.insert_group(g); }); !r) {
    return r.error();
  }
  return g;
}

result<device_group> registry_service::get_group(const group_key& key) {
  if (auto r = check(key); !r) {
    return r.error();
  }
  return in_read<device_group>(repo_, [&](registry_transaction& tx) { return tx.find_group(key); });
}

result<std::vector<device_group>> registry_service::list_groups(const registry_key& key,
                                                                const page_request& page) {
  if (auto r = check(key); !r) {
    return r.error();
  }
  auto p = checked(page);
  if (!p) {
    return p.error();
  }
  return in_read<std::vector<device_group>>(
      repo_, [&](registry_transaction& tx) -> result<std::vector<device_group>> {
        if (auto reg = tx.find_registry(key); !reg) {
          return reg.error();
        }
        return tx.list_groups(key, *p);
      });
}

result<device_group> registry_service::set_group_labels(const group_key& key,
                                                        const string_map& labels) {
  if (auto r = check(key); !r) {
    return r.error();
  }
  if (auto r = check_labels(labels); !r) {
    return r.error();
  }
  return in_write<device_group>(repo_, [&](registry_transaction& tx) -> result<device_group> {
    auto g = tx.find_group(key);
    if (!g) {
      return g;
    }
    g->labels = labels;
    if (auto r = tx.update_group(*g); !r) {
      return r.error();
    }
    return g;
  });
}

result<void> registry_service::delete_group(const group_key& key) {
  if (auto r = check(key); !r) {
    return r;
  }
  return repo_.write([&](registry_transaction& tx) -> result<void> {
    if (auto g = tx.find_group(key); !g) {
      return g.error();
    }
    return tx.delete_group(key);
  });
}

result<void> registry_service::add_group_members(const group_key& key,
                                                 const std::vector<device_id>& devices) {
  if (auto r = check(key); !r) {
    return r;
  }
  if (auto r = check_ids(devices); !r) {
    return r;
  }
  return repo_.write([&](registry_transaction& tx) -> result<void> {
    if (auto g = tx.find_group(key); !g) {
      return g.error();
    }
    for (const auto& d : devices) {
      if (auto r = tx.insert_group_member(key, d); !r) {
        return r;
      }
    }
    return ok();
  });
}

result<void> registry_service::remove_group_members(const group_key& key,
                                                    const std::vector<device_id>& devices) {
  if (auto r = check(key); !r) {
    return r;
  }
  if (auto r = check_ids(devices); !r) {
    return r;
  }
  return repo_.write([&](registry_transaction& tx) -> result<void> {
    if (auto g = tx.find_group(key); !g) {
      return g.error();
    }
    for (const auto& d : devices) {
      if (auto r = tx.delete_group_member(key, d); !r) {
        return r;
      }
    }
    return ok();
  });
}

result<std::vector<device_id>> registry_service::list_group_members(const group_key& key,
                                                                    const page_request& page) {
  if (auto r = check(key); !r) {
    return r.error();
  }
  auto p = checked(page);
  if (!p) {
    return p.error();
  }
  return in_read<std::vector<device_id>>(
      repo_, [&](registry_transaction& tx) -> result<std::vector<device_id>> {
        if (auto g = tx.find_group(key); !g) {
          return g.error();
        }
        return tx.list_group_members(key, *p);
      });
}

} // namespace aegis::registry
