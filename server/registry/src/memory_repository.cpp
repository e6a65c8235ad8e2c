#include "aegis/registry/memory_repository.hpp"

#include "aegis/registry/errors.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <utility>
#include <vector>

namespace aegis::registry {

namespace {

struct device_record {
  device dev;
  std::vector<config_version> configs;                        // oldest first
  std::vector<std::pair<std::uint64_t, device_state>> states; // (sequence, state), oldest first
  std::uint64_t next_state_seq = 1;
};

struct group_record {
  device_group group;
  std::set<device_id> members;
};

// Up to page.page_size values of `m` whose keys lie in [from, ...) while `in_scope(key)` holds,
// skipping the key equal to `from` (the cursor is exclusive).
template <class Map, class Key, class InScope, class Project>
auto page_of(const Map& m, const Key& from, bool exclusive, std::size_t page_size, InScope in_scope,
             Project project) {
  std::vector<decltype(project(*m.begin()))> out;
  for (auto it = m.lower_bound(from); it != m.end() && out.size() < page_size; ++it) {
    if (!in_scope(it->first)) {
      break;
    }
    if (exclusive && it->first == from) {
      continue;
    }
    out.push_back(project(*it));
  }
  return out;
}

std::size_t page_size_of(const page_request& page) {
  return page.page_size == 0 ? SIZE_MAX : page.page_size;
}

} // namespace

struct memory_repository::state {
  std::map<project_id, project> projects;
  std::map<registry_key, device_registry> registries;
  std::map<device_key, device_record> devices;
  std::map<std::uint64_t, device_key> num_ids;
  std::set<std::pair<device_key, device_id>> bindings; // (gateway, bound device)
  std::map<group_key, group_record> groups;
};

class memory_transaction final : public registry_transaction {
public:
  memory_transaction(memory_repository& repo, memory_repository::state& s, bool read_only)
      : repo_(repo), s_(s), read_only_(read_only) {}

  // registry_transaction: projects
  result<void> insert_project(const project& p) override {
    if (auto r = writing(); !r) {
      return r;
    }
    if (!s_.projects.emplace(p.id, p).second) {
      return registry_errc::project_exists;
    }
    return ok();
  }
  result<project> find_project(const project_id& id) override {
    auto it = s_.projects.find(id);
    if (it == s_.projects.end()) {
      return registry_errc::project_not_found;
    }
    return it->second;
  }
  result<std::vector<project>> list_projects(const page_request& page) override {
    return page_of(
        s_.projects, project_id{page.after}, !page.after.empty(), page_size_of(page),
        [](const project_id&) { return true; }, [](const auto& kv) { return kv.second; });
  }
  result<void> delete_project(const project_id& id) override {
    if (auto r = writing(); !r) {
      return r;
    }
    if (s_.projects.erase(id) == 0) {
      return registry_errc::project_not_found;
    }
    return ok();
  }
  result<std::size_t> count_registries(const project_id& id) override {
    return static_cast<std::size_t>(
        std::count_if(s_.registries.begin(), s_.registries.end(),
                      [&](const auto& kv) { return kv.first.project == id; }));
  }

  // registry_transaction: registries
  result<void> insert_registry(const device_registry& r) override {
    if (auto w = writing(); !w) {
      return w;
    }
    if (s_.projects.count(r.key.project) == 0) {
      return registry_errc::project_not_found;
    }
    if (!s_.registries.emplace(r.key, r).second) {
      return registry_errc::registry_exists;
    }
    return ok();
  }
  result<device_registry> find_registry(const registry_key& key) override {
    auto it = s_.registries.find(key);
    if (it == s_.registries.end()) {
      return registry_errc::registry_not_found;
    }
    return it->second;
  }
  result<std::vector<device_registry>> list_registries(const project_id& project,
                                                       const location_id& location,
                                                       const page_request& page) override {
    const registry_key from{project, location, registry_id{page.after}};
    return page_of(
        s_.registries, from, !page.after.empty(), page_size_of(page),
        [&](const registry_key& k) { return k.project == project && k.location == location; },
        [](const auto& kv) { return kv.second; });
  }
  result<void> update_registry(const device_registry& r) override {
    if (auto w = writing(); !w) {
      return w;
    }
    auto it = s_.registries.find(r.key);
    if (it == s_.registries.end()) {
      return registry_errc::registry_not_found;
    }
    const auto created = it->second.create_time;
    it->second = r;
    it->second.create_time = created;
    return ok();
  }
  result<void> delete_registry(const registry_key& key) override {
    if (auto w = writing(); !w) {
      return w;
    }
    if (s_.registries.erase(key) == 0) {
      return registry_errc::registry_not_found;
    }
    std::erase_if(s_.groups, [&](const auto& kv) { return kv.first.registry == key; });
    return ok();
  }
  result<std::size_t> count_devices(const registry_key& key) override {
    return static_cast<std::size_t>(
        std::count_if(s_.devices.begin(), s_.devices.end(),
                      [&](const auto& kv) { return kv.first.registry == key; }));
  }

  // registry_transaction: devices
  result<void> insert_device(const device& d) override {
    if (auto w = writing(); !w) {
      return w;
    }
    if (s_.registries.count(d.key.registry) == 0) {
      return registry_errc::registry_not_found;
    }
    if (s_.devices.count(d.key) != 0) {
      return registry_errc::device_exists;
    }
    if (d.num_id.value() == 0 || s_.num_ids.count(d.num_id.value()) != 0) {
      return registry_errc::num_id_collision;
    }
    s_.devices.emplace(d.key, device_record{d, {}, {}, 1});
    s_.num_ids.emplace(d.num_id.value(), d.key);
    return ok();
  }
  result<device> find_device(const device_key& key) override {
    auto rec = record(key);
    if (!rec) {
      return rec.error();
    }
    return (*rec)->dev;
  }
  result<device> find_device_by_num_id(const registry_key& key, device_num_id id) override {
    auto it = s_.num_ids.find(id.value());
    if (it == s_.num_ids.end() || it->second.registry != key) {
      return registry_errc::device_not_found;
    }
    return find_device(it->second);
  }
  result<std::vector<device>> list_devices(const registry_key& key,
                                           const page_request& page) override {
    return page_of(
        s_.devices, device_key{key, device_id{page.after}}, !page.after.empty(), page_size_of(page),
        [&](const device_key& k) { return k.registry == key; },
        [](const auto& kv) { return kv.second.dev; });
  }
  result<void> update_device(const device& d) override {
    if (auto w = writing(); !w) {
      return w;
    }
    auto rec = record(d.key);
    if (!rec) {
      return rec.error();
    }
    device& stored = (*rec)->dev;
    stored.credentials = d.credentials;
    stored.blocked = d.blocked;
    stored.metadata = d.metadata;
    stored.gateway = d.gateway;
    stored.log_level = d.log_level;
    return ok();
  }
  result<device_activity> find_activity(const device_key& key) override {
    auto rec = record(key);
    if (!rec) {
      return rec.error();
    }
    return (*rec)->dev.activity;
  }
  result<void> update_activity(const device_key& key, const device_activity& a) override {
    if (auto w = writing(); !w) {
      return w;
    }
    auto rec = record(key);
    if (!rec) {
      return rec.error();
    }
    (*rec)->dev.activity = a;
    return ok();
  }
  result<void> delete_device(const device_key& key) override {
    if (auto w = writing(); !w) {
      return w;
    }
    auto it = s_.devices.find(key);
    if (it == s_.devices.end()) {
      return registry_errc::device_not_found;
    }
    s_.num_ids.erase(it->second.dev.num_id.value());
    s_.devices.erase(it);
    std::erase_if(s_.bindings, [&](const auto& b) {
      return b.first == key || (b.first.registry == key.registry && b.second == key.device);
    });
    for (auto& [gk, g] : s_.groups) {
      if (gk.registry == key.registry) {
        g.members.erase(key.device);
      }
    }
    return ok();
  }

  // registry_transaction: config versions and states
  result<void> insert_config(const device_key& key, const config_version& c) override {
    if (auto w = writing(); !w) {
      return w;
    }
    auto rec = record(key);
    if (!rec) {
      return rec.error();
    }
    (*rec)->configs.push_back(c);
    return ok();
  }
  result<std::vector<config_version>> list_configs(const device_key& key,
                                                   std::size_t limit) override {
    auto rec = record(key);
    if (!rec) {
      return rec.error();
    }
    const auto& configs = (*rec)->configs;
    std::vector<config_version> out(configs.rbegin(), configs.rend());
    if (limit != 0 && out.size() > limit) {
      out.resize(limit);
    }
    return out;
  }
  result<void> update_config_ack(const device_key& key, std::int64_t version,
                                 wall_time ack_time) override {
    if (auto w = writing(); !w) {
      return w;
    }
    auto rec = record(key);
    if (!rec) {
      return rec.error();
    }
    for (auto& c : (*rec)->configs) {
      if (c.version == version) {
        c.device_ack_time = ack_time;
        return ok();
      }
    }
    return registry_errc::config_version_not_found;
  }
  result<void> trim_configs(const device_key& key, std::size_t keep) override {
    if (auto w = writing(); !w) {
      return w;
    }
    auto rec = record(key);
    if (!rec) {
      return rec.error();
    }
    auto& configs = (*rec)->configs;
    if (configs.size() > keep) {
      configs.erase(configs.begin(),
                    configs.begin() + static_cast<std::ptrdiff_t>(configs.size() - keep));
    }
    return ok();
  }
  result<void> insert_state(const device_key& key, const device_state& st) override {
    if (auto w = writing(); !w) {
      return w;
    }
    auto rec = record(key);
    if (!rec) {
      return rec.error();
    }
    (*rec)->states.emplace_back((*rec)->next_state_seq++, st);
    return ok();
  }
  result<std::vector<device_state>> list_states(const device_key& key, std::size_t limit) override {
    auto rec = record(key);
    if (!rec) {
      return rec.error();
    }
    std::vector<device_state> out;
    const auto& states = (*rec)->states;
    for (auto it = states.rbegin(); it != states.rend() && (limit == 0 || out.size() < limit);
         ++it) {
      out.push_back(it->second);
    }
    return out;
  }
  result<void> trim_states(const device_key& key, std::size_t keep) override {
    if (auto w = writing(); !w) {
      return w;
    }
    auto rec = record(key);
    if (!rec) {
      return rec.error();
    }
    auto& states = (*rec)->states;
    if (states.size() > keep) {
      states.erase(states.begin(),
                   states.begin() + static_cast<std::ptrdiff_t>(states.size() - keep));
    }
    return ok();
  }

  // registry_transaction: gateway bindings
  result<void> insert_binding(const device_key& gateway, const device_id& dev) override {
    if (auto w = writing(); !w) {
      return w;
    }
    if (s_.devices.count(gateway) == 0 ||
        s_.devices.count(device_key{gateway.registry, dev}) == 0) {
      return registry_errc::device_not_found;
    }
    s_.bindings.emplace(gateway, dev);
    return ok();
  }
  result<void> delete_binding(const device_key& gateway, const device_id& dev) override {
    if (auto w = writing(); !w) {
      return w;
    }
    if (s_.bindings.erase({gateway, dev}) == 0) {
      return registry_errc::binding_not_found;
    }
    return ok();
  }
  result<std::vector<device_id>> list_bound_devices(const device_key& gateway,
                                                    const page_request& page) override {
    std::vector<device_id> out;
    const std::size_t n = page_size_of(page);
    for (auto it = s_.bindings.lower_bound({gateway, device_id{page.after}});
         it != s_.bindings.end() && it->first == gateway && out.size() < n; ++it) {
      if (!page.after.empty() && it->second.value() == page.after) {
        continue;
      }
      out.push_back(it->second);
    }
    return out;
  }
  result<std::size_t> count_bound_devices(const device_key& gateway) override {
    return static_cast<std::size_t>(std::count_if(
        s_.bindings.begin(), s_.bindings.end(), [&](const auto& b) { return b.first == gateway; }));
  }
  result<std::vector<device_id>> list_gateways_of(const device_key& dev) override {
    std::vector<device_id> out;
    for (const auto& [gw, d] : s_.bindings) {
      if (gw.registry == dev.registry && d == dev.device) {
        out.push_back(gw.device);
      }
    }
    return out;
  }

  // registry_transaction: groups
  result<void> insert_group(const device_group& g) override {
    if (auto w = writing(); !w) {
      return w;
    }
    if (s_.registries.count(g.key.registry) == 0) {
      return registry_errc::registry_not_found;
    }
    if (!s_.groups.emplace(g.key, group_record{g, {}}).second) {
      return registry_errc::group_exists;
    }
    return ok();
  }
  result<device_group> find_group(const group_key& key) override {
    auto it = s_.groups.find(key);
    if (it == s_.groups.end()) {
      return registry_errc::group_not_found;
    }
    return it->second.group;
  }
  result<std::vector<device_group>> list_groups(const registry_key& key,
                                                const page_request& page) override {
    return page_of(
        s_.groups, group_key{key, group_id{page.after}}, !page.after.empty(), page_size_of(page),
        [&](const group_key& k) { return k.registry == key; },
        [](const auto& kv) { return kv.second.group; });
  }
  result<void> update_group(const device_group& g) override {
    if (auto w = writing(); !w) {
      return w;
    }
    auto it = s_.groups.find(g.key);
    if (it == s_.groups.end()) {
      return registry_errc::group_not_found;
    }
    it->second.group.labels = g.labels;
    return ok();
  }
  result<void> delete_group(const group_key& key) override {
    if (auto w = writing(); !w) {
      return w;
    }
    if (s_.groups.erase(key) == 0) {
      return registry_errc::group_not_found;
    }
    return ok();
  }
  result<void> insert_group_member(const group_key& key, const device_id& dev) override {
    if (auto w = writing(); !w) {
      return w;
    }
    auto it = s_.groups.find(key);
    if (it == s_.groups.end()) {
      return registry_errc::group_not_found;
    }
    if (s_.devices.count(device_key{key.registry, dev}) == 0) {
      return registry_errc::device_not_found;
    }
    it->second.members.insert(dev);
    return ok();
  }
  result<void> delete_group_member(const group_key& key, const device_id& dev) override {
    if (auto w = writing(); !w) {
      return w;
    }
    auto it = s_.groups.find(key);
    if (it == s_.groups.end()) {
      return registry_errc::group_not_found;
    }
    it->second.members.erase(dev);
    return ok();
  }
  result<std::vector<device_id>> list_group_members(const group_key& key,
                                                    const page_request& page) override {
    auto it = s_.groups.find(key);
    if (it == s_.groups.end()) {
      return registry_errc::group_not_found;
    }
    std::vector<device_id> out;
    const auto& members = it->second.members;
    const std::size_t n = page_size_of(page);
    for (auto m = members.upper_bound(device_id{page.after}); m != members.end() && out.size() < n;
         ++m) {
      out.push_back(*m);
    }
    return out;
  }

private:
  result<void> writing() {
    AEGIS_ASSERT(!read_only_);
    if (read_only_) {
      return registry_errc::storage_failed;
    }
    return repo_.count_write();
  }

  result<device_record*> record(const device_key& key) {
    auto it = s_.devices.find(key);
    if (it == s_.devices.end()) {
      return registry_errc::device_not_found;
    }
    return &it->second;
  }

  memory_repository& repo_;
  memory_repository::state& s_;
  bool read_only_;
};

memory_repository::memory_repository() : state_(std::make_unique<state>()) {}
memory_repository::~memory_repository() = default;

result<void> memory_repository::write(const work& fn) {
  std::lock_guard lock(mutex_);
  auto draft = std::make_unique<state>(*state_);
  memory_transaction tx(*this, *draft, false);
  auto r = fn(tx);
  if (r) {
    state_ = std::move(draft);
  }
  return r;
}

result<void> memory_repository::read(const work& fn) {
  std::lock_guard lock(mutex_);
  memory_transaction tx(*this, *state_, true);
  return fn(tx);
}

void memory_repository::fail_write_after_for_test(std::size_t n) {
  std::lock_guard lock(mutex_);
  writes_before_failure_ = n;
}

result<void> memory_repository::count_write() {
  if (!writes_before_failure_) {
    return ok();
  }
  if (*writes_before_failure_ == 0) {
    writes_before_failure_.reset();
    return registry_errc::storage_failed;
  }
  --*writes_before_failure_;
  return ok();
}

} // namespace aegis::registry
