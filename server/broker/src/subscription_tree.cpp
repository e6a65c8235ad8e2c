#include "aegis/broker/subscription_tree.hpp"

#include "aegis/mqtt/topic.hpp"

#include <algorithm>

namespace aegis::broker {

static_assert(sizeof(subscriber_entry) <= 16, "keep per-subscription memory small");

struct subscription_tree::shared_group {
  std::string name;
  std::vector<subscriber_entry> members; // sorted by id
  std::size_t next = 0;
};

struct subscription_tree::node {
  using child_map =
      std::unordered_map<std::string, std::unique_ptr<node>, string_hash, std::equal_to<>>;

  // Allocated on first use: most nodes are leaves, and an empty unordered_map costs 56 bytes.
  std::unique_ptr<child_map> children;
  std::unique_ptr<node> plus;
  std::unique_ptr<node> hash;
  // Sorted by id: session ids grow, so the common insert is an append, and lookups are
  // logarithmic even when a million devices share one filter.
  std::vector<subscriber_entry> subscribers;
  std::unique_ptr<std::vector<shared_group>> groups; // rare: allocated on first use

  bool empty() const noexcept {
    return (!children || children->empty()) && !plus && !hash && subscribers.empty() &&
           (!groups || groups->empty());
  }
};

namespace {

auto lower_bound_id(std::vector<subscriber_entry>& v, subscriber_id id) {
  return std::lower_bound(v.begin(), v.end(), id,
                          [](const subscriber_entry& e, subscriber_id x) { return e.id < x; });
}

// Inserts or replaces; true when inserted.
bool upsert(std::vector<subscriber_entry>& v, subscriber_id id, const subscriber_options& o) {
  auto it = lower_bound_id(v, id);
  if (it != v.end() && it->id == id) {
    it->options = o;
    return false;
  }
  v.insert(it, subscriber_entry{id, o});
  return true;
}

bool erase_id(std::vector<subscriber_entry>& v, subscriber_id id) {
  auto it = lower_bound_id(v, id);
  if (it == v.end() || it->id != id) {
    return false;
  }
  v.erase(it);
  return true;
}

struct split_filter {
  std::string_view share_name; // empty: not shared
  std::string_view filter;
};

split_filter split(std::string_view filter) {
  if (mqtt::is_shared_subscription(filter)) {
    if (auto s = mqtt::parse_shared_subscription(filter)) {
      return {s->share_name, s->filter};
    }
  }
  return {{}, filter};
}

} // namespace

subscription_tree::subscription_tree() : root_(std::make_unique<node>()) {
  // One per distinct filter level: keep it to a cache line.
  static_assert(sizeof(node) <= 64, "keep trie nodes small");
}
subscription_tree::~subscription_tree() = default;

subscription_tree::node* subscription_tree::find_or_create(std::string_view filter) {
  node* n = root_.get();
  std::size_t pos = 0;
  while (true) {
    const std::size_t end = filter.find('/', pos);
    const std::string_view level =
        filter.substr(pos, end == std::string_view::npos ? end : end - pos);
    std::unique_ptr<node>* slot = nullptr;
    if (level == "+") {
      slot = &n->plus;
    } else if (level == "#") {
      slot = &n->hash;
    } else {
      if (!n->children) {
        n->children = std::make_unique<node::child_map>();
      }
      auto it = n->children->find(level);
      if (it == n->children->end()) {
        it = n->children->emplace(std::string(level), nullptr).first;
      }
      slot = &it->second;
    }
    if (!*slot) {
      *slot = std::make_unique<node>();
      ++node_count_;
    }
    n = slot->get();
    if (end == std::string_view::npos) {
      return n;
    }
    pos = end + 1;
  }
}

bool subscription_tree::subscribe(std::string_view filter, subscriber_id id,
                                  const subscriber_options& options) {
  const auto [share_name, plain] = split(filter);
  node* n = find_or_create(plain);
  bool inserted = false;
  if (share_name.empty()) {
    inserted = upsert(n->subscribers, id, options);
  } else {
    if (!n->groups) {
      n->groups = std::make_unique<std::vector<shared_group>>();
    }
    auto& groups = *n->groups;
    auto g = std::find_if(groups.begin(), groups.end(),
                          [&](const shared_group& x) { return x.name == share_name; });
    if (g == groups.end()) {
      groups.push_back(shared_group{std::string(share_name), {}, 0});
      g = std::prev(groups.end());
    }
    inserted = upsert(g->members, id, options);
  }
  if (inserted) {
    ++size_;
  }
  return inserted;
}

bool subscription_tree::unsubscribe(std::string_view filter, subscriber_id id) {
  const auto [share_name, plain] = split(filter);
  // The path walked, so that emptied nodes can be pruned bottom-up without parent pointers.
  struct step {
    node* parent;
    std::string_view level;
  };
  std::vector<step> path;
  node* n = root_.get();
  std::size_t pos = 0;
  while (n != nullptr) {
    const std::size_t end = plain.find('/', pos);
    const std::string_view level =
        plain.substr(pos, end == std::string_view::npos ? end : end - pos);
    node* parent = n;
    if (level == "+") {
      n = n->plus.get();
    } else if (level == "#") {
      n = n->hash.get();
    } else if (n->children) {
      auto it = n->children->find(level);
      n = it == n->children->end() ? nullptr : it->second.get();
    } else {
      n = nullptr;
    }
    path.push_back(step{parent, level});
    if (end == std::string_view::npos) {
      break;
    }
    pos = end + 1;
  }
  if (n == nullptr) {
    return false;
  }
  bool removed = false;
  if (share_name.empty()) {
    removed = erase_id(n->subscribers, id);
  } else if (n->groups) {
    auto& groups = *n->groups;
    auto g = std::find_if(groups.begin(), groups.end(),
                          [&](const shared_group& x) { return x.name == share_name; });
    if (g != groups.end()) {
      removed = erase_id(g->members, id);
      if (g->members.empty()) {
        groups.erase(g);
      }
    }
  }
  if (!removed) {
    return false;
  }
  --size_;
  // Prune now-empty nodes so that churn of unique filters (device ids in topics) does not leak.
  for (auto it = path.rbegin(); it != path.rend() && n->empty(); ++it) {
    node* parent = it->parent;
    if (it->level == "+") {
      parent->plus.reset();
    } else if (it->level == "#") {
      parent->hash.reset();
    } else {
      parent->children->erase(parent->children->find(it->level));
      if (parent->children->empty()) {
        parent->children.reset();
      }
    }
    --node_count_;
    n = parent;
  }
  return true;
}

void subscription_tree::collect(node& n, std::vector<match_result>& out) {
  for (const auto& e : n.subscribers) {
    out.push_back(match_result{e.id, e.options, false});
  }
  if (!n.groups) {
    return;
  }
  for (auto& g : *n.groups) {
    if (g.members.empty()) {
      continue;
    }
    const std::size_t n_members = g.members.size();
    std::size_t pick = g.next % n_members;
    if (available_) {
      for (std::size_t k = 0; k < n_members; ++k) {
        const std::size_t candidate = (g.next + k) % n_members;
        if (available_(g.members[candidate].id)) {
          pick = candidate;
          break;
        }
      }
    }
    g.next = (pick + 1) % n_members;
    const auto& e = g.members[pick];
    out.push_back(match_result{e.id, e.options, true});
  }
}

namespace {
constexpr std::size_t npos = std::string_view::npos;
} // namespace

void subscription_tree::match(std::string_view topic, std::vector<match_result>& out) {
  out.clear();
  const bool dollar = !topic.empty() && topic.front() == '$';
  // Iterative over a small explicit stack would avoid recursion, but the depth is the number of
  // topic levels, which the decoder bounds by the packet size; recursion keeps it readable.
  struct walker {
    subscription_tree& tree;
    std::string_view topic;
    bool dollar;
    std::vector<match_result>& out;
    void operator()(node& n, std::size_t pos, bool at_root) {
      if (pos == npos) {
        tree.collect(n, out);
        if (n.hash) {
          tree.collect(*n.hash, out);
        }
        return;
      }
      const std::size_t end = topic.find('/', pos);
      const std::string_view level = topic.substr(pos, end == npos ? end : end - pos);
      const std::size_t next = end == npos ? npos : end + 1;
      // [MQTT-4.7.2-1]: wildcards at the first level do not match topics starting with '$'.
      const bool wildcards = !(at_root && dollar);
      if (wildcards && n.hash) {
        tree.collect(*n.hash, out);
      }
      if (n.children) {
        if (auto it = n.children->find(level); it != n.children->end()) {
          (*this)(*it->second, next, false);
        }
      }
      if (wildcards && n.plus) {
        (*this)(*n.plus, next, false);
      }
    }
  };
  walker{*this, topic, dollar, out}(*root_, 0, true);
}

} // namespace aegis::broker
