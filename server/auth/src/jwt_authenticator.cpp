#include "aegis/auth/jwt_authenticator.hpp"

#include "aegis/crypto/errors.hpp"
#include "aegis/crypto/jwt.hpp"
#include "aegis/crypto/keys.hpp"
#include "aegis/crypto/x509.hpp"
#include "device_lookup.hpp"
#include "parsed_key_cache.hpp"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace aegis::auth {

jwt_authenticator::jwt_authenticator(registry::registry_service& registry, const clock& clk,
                                     jwt_authenticator_options options)
    : registry_(registry), clock_(clk), options_(options),
      keys_(std::make_unique<detail::parsed_key_cache>(options.parsed_key_cache_size)) {}

jwt_authenticator::~jwt_authenticator() = default;

namespace {

struct candidate_set {
  std::vector<crypto::public_key> keys;
  std::vector<std::size_t> credential_index;        // parallel to keys
  std::vector<std::optional<wall_time>> expires_at; // the credential's, or its certificate's
};

// Unexpired credentials only (IoT Core: an expired credential is ignored for new
// authentications). A certificate credential also stops at its notAfter. A credential that
// no longer parses is skipped rather than failing the device: the others may still verify.
candidate_set usable_keys(const registry::device& d, wall_time now,
                          detail::parsed_key_cache& cache) {
  candidate_set out;
  for (std::size_t i = 0; i < d.credentials.size(); ++i) {
    const auto& c = d.credentials[i];
    if (c.expiration_time && *c.expiration_time <= now) {
      continue;
    }
    std::optional<wall_time> expiry = c.expiration_time;
    auto parsed = cache.get(c.pem, registry::is_x509(c.format));
    if (!parsed) {
      continue;
    }
    if (const auto not_after = parsed->certificate_not_after) {
      if (*not_after <= now) {
        continue;
      }
      expiry = c.expiration_time ? std::min(*c.expiration_time, *not_after) : *not_after;
    }
    out.keys.push_back(std::move(parsed->key));
    out.credential_index.push_back(i);
    out.expires_at.push_back(expiry);
  }
  return out;
}

auth_errc classify(std::error_code e) {
  using crypto::jwt_errc;
  if (e.category() != category_of<jwt_errc>()) {
    return auth_errc::token_malformed;
  }
  switch (static_cast<jwt_errc>(e.value())) {
  case jwt_errc::alg_none:
  case jwt_errc::hmac_refused:
  case jwt_errc::unsupported_alg:
  case jwt_errc::crit_present:
    return auth_errc::token_refused_alg;
  case jwt_errc::key_mismatch:
    return auth_errc::token_key_mismatch;
  case jwt_errc::bad_signature:
  case jwt_errc::bad_signature_length:
  case jwt_errc::der_signature:
    return auth_errc::token_bad_signature;
  case jwt_errc::expired:
    return auth_errc::token_expired;
  case jwt_errc::not_yet_valid:
    return auth_errc::token_not_yet_valid;
  case jwt_errc::lifetime_too_long:
  case jwt_errc::bad_lifetime:
    return auth_errc::token_lifetime;
  case jwt_errc::bad_audience:
    return auth_errc::token_wrong_audience;
  case jwt_errc::no_candidate_keys:
    return auth_errc::no_usable_credential;
  default:
    return auth_errc::token_malformed;
  }
}

} // namespace

auth_decision jwt_authenticator::authenticate(const connect_request& req) {
  if (!detail::looks_like_device_path(req.client_id)) {
    return auth_decision::abstain();
  }
  auto parsed = detail::parse_client_id(req.client_id);
  if (auto* d = std::get_if<auth_decision>(&parsed)) {
    return std::move(*d);
  }
  const auto& key = std::get<registry::device_key>(parsed);

  auto found = detail::find_device(registry_, key);
  if (auto* d = std::get_if<auth_decision>(&found)) {
    return std::move(*d);
  }
  const auto& rec = std::get<detail::device_record>(found);

  if (!req.password || req.password->empty()) {
    return auth_decision::deny(auth_errc::token_missing);
  }
  auth_decision verified = verify_token(rec.device, as_string_view(*req.password));
  if (!verified.allowed()) {
    return verified;
  }
  if (auto refused = detail::check_admission(rec, req.via)) {
    return std::move(*refused);
  }
  verified.who->client_id = req.client_id;
  return verified;
}

auth_decision jwt_authenticator::verify_token(const registry::device& d,
                                              std::string_view token) const {
  if (token.empty()) {
    return auth_decision::deny(auth_errc::token_missing);
  }
  const wall_time now = clock_.wall_now();
  candidate_set candidates = usable_keys(d, now, *keys_);
  if (candidates.keys.empty()) {
    return auth_decision::deny(auth_errc::no_usable_credential);
  }

  crypto::jwt_policy policy;
  policy.audience = d.key.registry.project.value();
  policy.skew = options_.skew;
  policy.max_lifetime = options_.max_lifetime;
  auto verified = crypto::jwt_verify(token, candidates.keys, policy, now);
  if (!verified) {
    return auth_decision::deny(classify(verified.error()), verified.error());
  }

  identity id;
  id.kind = detail::kind_of(d);
  id.method = auth_method::jwt;
  id.client_id = registry::to_name(d.key);
  id.device = d.key;
  id.device_num_id = d.num_id;
  id.credential_index = candidates.credential_index.at(verified->key_index);
  id.credential_pem = d.credentials.at(*id.credential_index).pem;
  // The session ends at exp + skew, or earlier when the key that signed the token expires
  // first: an expired key admits nothing, including a session it opened.
  const wall_time token_deadline = verified->claims.expires_at + options_.skew;
  const auto key_expiry = candidates.expires_at.at(verified->key_index);
  if (key_expiry && *key_expiry < token_deadline) {
    id.credential_expires_at = *key_expiry;
  } else {
    id.credential_expires_at = verified->claims.expires_at;
    id.expiry_grace = options_.skew;
  }
  return auth_decision::allow(std::move(id));
}

} // namespace aegis::auth
