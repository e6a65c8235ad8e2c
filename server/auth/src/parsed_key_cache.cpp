#include "parsed_key_cache.hpp"

#include "aegis/crypto/x509.hpp"

#include <utility>

namespace aegis::auth::detail {

namespace {

std::optional<parsed_credential> parse(std::string_view pem, bool x509) {
  if (x509) {
    auto cert = crypto::certificate::from_pem(pem);
    if (!cert) {
      return std::nullopt;
    }
    return parsed_credential{cert->subject_public_key(), cert->not_after()};
  }
  auto key = crypto::public_key::from_pem(pem);
  if (!key) {
    return std::nullopt;
  }
  return parsed_credential{*std::move(key), std::nullopt};
}

} // namespace

std::optional<parsed_credential> parsed_key_cache::get(std::string_view pem, bool x509) {
  // The kind is part of the key: the same text must not be read once as a certificate and
  // later served as a bare key (it could not be both, but the cache should not rely on it).
  std::string k;
  k.reserve(pem.size() + 1);
  k.push_back(x509 ? 'c' : 'k');
  k.append(pem);
  {
    std::lock_guard lock(mutex_);
    if (auto it = entries_.find(k); it != entries_.end()) {
      recency_.splice(recency_.begin(), recency_, it->second.order);
      return it->second.value;
    }
  }
  // Parsed outside the lock: two threads missing on one key both parse, which is harmless.
  auto parsed = parse(pem, x509);
  if (!parsed || capacity_ == 0) {
    return parsed;
  }
  std::lock_guard lock(mutex_);
  if (entries_.find(k) != entries_.end()) {
    return parsed;
  }
  while (entries_.size() >= capacity_ && !recency_.empty()) {
    entries_.erase(recency_.back());
    recency_.pop_back();
  }
  recency_.push_front(k);
  entries_.emplace(std::move(k), entry{*parsed, recency_.begin()});
  return parsed;
}

std::size_t parsed_key_cache::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

} // namespace aegis::auth::detail
