#include "aegis/broker/retained_store.hpp"

#include "aegis/mqtt/topic.hpp"

namespace aegis::broker {

result<void> retained_store::store(message_ptr m) {
  auto it = messages_.find(std::string_view(m->topic));
  if (m->payload.empty()) {
    if (it != messages_.end()) {
      bytes_ -= it->second->cost();
      const std::string topic = it->first;
      messages_.erase(it);
      notify_removed(topic);
    }
    return ok();
  }
  const std::size_t old_cost = it == messages_.end() ? 0 : it->second->cost();
  const std::size_t new_count = messages_.size() + (it == messages_.end() ? 1 : 0);
  if (m->cost() > limits_.max_bytes) {
    ++refused_;
    return broker_errc::retained_too_large;
  }
  if (new_count > limits_.max_messages || bytes_ - old_cost + m->cost() > limits_.max_bytes) {
    ++refused_;
    return broker_errc::retained_quota_exceeded;
  }
  bytes_ = bytes_ - old_cost + m->cost();
  if (observer_) {
    observer_(m->topic, m);
  }
  if (it == messages_.end()) {
    const std::string topic = m->topic;
    messages_.emplace(topic, std::move(m));
  } else {
    it->second = std::move(m);
  }
  return ok();
}

void retained_store::match(std::string_view filter, steady_time now,
                           std::vector<message_ptr>& out) {
  const std::size_t wildcard = filter.find_first_of("+#");
  if (wildcard == std::string_view::npos) {
    auto it = messages_.find(filter);
    if (it == messages_.end()) {
      return;
    }
    if (it->second->expired(now)) {
      bytes_ -= it->second->cost();
      const std::string topic = it->first;
      messages_.erase(it);
      notify_removed(topic);
      return;
    }
    out.push_back(it->second);
    return;
  }
  const std::string_view prefix = filter.substr(0, wildcard);
  for (auto it = messages_.lower_bound(prefix);
       it != messages_.end() && std::string_view(it->first).substr(0, prefix.size()) == prefix;) {
    if (it->second->expired(now)) {
      bytes_ -= it->second->cost();
      const std::string topic = it->first;
      it = messages_.erase(it);
      notify_removed(topic);
      continue;
    }
    if (mqtt::topic_matches(filter, it->first)) {
      out.push_back(it->second);
    }
    ++it;
  }
}

std::size_t retained_store::purge_expired(steady_time now) {
  std::size_t removed = 0;
  for (auto it = messages_.begin(); it != messages_.end();) {
    if (it->second->expired(now)) {
      bytes_ -= it->second->cost();
      const std::string topic = it->first;
      it = messages_.erase(it);
      notify_removed(topic);
      ++removed;
    } else {
      ++it;
    }
  }
  return removed;
}

} // namespace aegis::broker
