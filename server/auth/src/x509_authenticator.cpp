#include "aegis/auth/x509_authenticator.hpp"

#include "aegis/crypto/errors.hpp"
#include "device_lookup.hpp"

#include <stdexcept>
#include <string>
#include <utility>

namespace aegis::auth {

x509_authenticator::x509_authenticator(registry::registry_service& registry, const clock& clk,
                                       const crypto::certificate& aegis_ca,
                                       const std::vector<crypto::crl>& aegis_crls,
                                       revocation_lookup revoked)
    : registry_(registry), clock_(clk), revoked_(std::move(revoked)) {
  if (aegis_ca.empty()) {
    return;
  }
  crypto::trust_store store;
  if (auto r = store.add_anchor(aegis_ca); !r) {
    throw std::runtime_error("x509_authenticator: Aegis CA refused: " + r.error().message());
  }
  for (const auto& list : aegis_crls) {
    if (auto r = store.add_crl(list); !r) {
      throw std::runtime_error("x509_authenticator: CRL refused: " + r.error().message());
    }
  }
  aegis_trust_.emplace(std::move(store));
}

namespace {

auth_errc classify(std::error_code e) {
  using crypto::x509_errc;
  if (e.category() != category_of<x509_errc>()) {
    return auth_errc::certificate_rejected;
  }
  switch (static_cast<x509_errc>(e.value())) {
  case x509_errc::bad_certificate:
    return auth_errc::certificate_unparsable;
  case x509_errc::untrusted:
  case x509_errc::signature_invalid:
  case x509_errc::not_a_ca:
    return auth_errc::certificate_untrusted;
  case x509_errc::expired:
  case x509_errc::not_yet_valid:
    return auth_errc::certificate_expired;
  case x509_errc::revoked:
  case x509_errc::revocation_unknown:
    return auth_errc::certificate_revoked;
  default:
    return auth_errc::certificate_rejected;
  }
}

constexpr std::string_view uri_scheme = "aegis:";
constexpr std::size_t max_chain_length = 8;

} // namespace

auth_decision x509_authenticator::authenticate(const connect_request& req) {
  if (req.peer_certificates.empty()) {
    return auth_decision::abstain();
  }
  if (!detail::looks_like_device_path(req.client_id)) {
    return auth_decision::deny(auth_errc::client_id_malformed);
  }
  auto parsed = detail::parse_client_id(req.client_id);
  if (auto* d = std::get_if<auth_decision>(&parsed)) {
    return std::move(*d);
  }
  const auto& claimed = std::get<registry::device_key>(parsed);

  // Aegis' CA issues leaves directly and registry CAs may have an intermediate or two; a long
  // chain is only work for us.
  if (req.peer_certificates.size() > max_chain_length) {
    return auth_decision::deny(auth_errc::certificate_rejected);
  }
  auto leaf = crypto::certificate::from_der(req.peer_certificates.front());
  if (!leaf) {
    return auth_decision::deny(auth_errc::certificate_unparsable, leaf.error());
  }
  std::vector<crypto::certificate> intermediates;
  for (std::size_t i = 1; i < req.peer_certificates.size(); ++i) {
    auto c = crypto::certificate::from_der(req.peer_certificates[i]);
    if (!c) {
      return auth_decision::deny(auth_errc::certificate_unparsable, c.error());
    }
    intermediates.push_back(*std::move(c));
  }

  auto reg = registry_.get_registry(claimed.registry);
  if (!reg) {
    return detail::lookup_failure(reg.error());
  }

  const wall_time now = clock_.wall_now();

  // Registry CAs first: a CN-only certificate is acceptable only from them.
  bool registry_verified = false;
  std::error_code failure = make_error_code(crypto::x509_errc::untrusted);
  std::optional<crypto::device_identity> named;
  if (!reg->ca_certificates.empty()) {
    crypto::trust_store store;
    bool any_anchor = false;
    for (const auto& ca : reg->ca_certificates) {
      auto cert = crypto::certificate::from_pem(ca.pem);
      if (cert && store.add_anchor(*cert)) {
        any_anchor = true;
      }
    }
    if (any_anchor) {
      auto r = store.verify_device(*leaf, intermediates, now);
      if (r) {
        registry_verified = true;
        named = *std::move(r);
      } else {
        failure = r.error();
      }
    }
  }
  if (!named && aegis_trust_) {
    auto r = aegis_trust_->verify_device(*leaf, intermediates, now);
    if (r && revoked_) {
      const auto is_revoked = revoked_(leaf->serial_hex());
      if (!is_revoked) {
        return auth_decision::deny(auth_errc::server_unavailable, is_revoked.error());
      }
      if (*is_revoked) {
        return auth_decision::deny(auth_errc::certificate_revoked,
                                   make_error_code(crypto::x509_errc::revoked));
      }
    }
    if (r) {
      named = *std::move(r);
    } else if (r.error() != crypto::x509_errc::untrusted ||
               failure == crypto::x509_errc::untrusted) {
      // Report the more specific failure: "expired" from one store beats "untrusted" from the
      // store the certificate never belonged to.
      failure = r.error();
    }
  }
  if (!named) {
    return auth_decision::deny(classify(failure), failure);
  }

  registry::device_key subject;
  if (!named->uri.empty()) {
    std::string_view uri = named->uri;
    if (uri.substr(0, uri_scheme.size()) != uri_scheme) {
      return auth_decision::deny(auth_errc::certificate_rejected,
                                 make_error_code(crypto::x509_errc::ambiguous_identity));
    }
    auto key = registry::parse_device_name(uri.substr(uri_scheme.size()));
    if (!key) {
      return auth_decision::deny(auth_errc::certificate_rejected, key.error());
    }
    subject = *std::move(key);
  } else if (registry_verified) {
    subject = registry::device_key{claimed.registry, registry::device_id(named->device_id)};
  } else {
    return auth_decision::deny(auth_errc::certificate_rejected,
                               make_error_code(crypto::x509_errc::no_identity));
  }
  if (subject != claimed) {
    return auth_decision::deny(auth_errc::client_id_mismatch);
  }

  auto found = detail::find_device(registry_, subject);
  if (auto* d = std::get_if<auth_decision>(&found)) {
    return std::move(*d);
  }
  const auto& rec = std::get<detail::device_record>(found);
  if (auto refused = detail::check_admission(rec, req.via)) {
    return std::move(*refused);
  }

  identity id;
  id.kind = detail::kind_of(rec.device);
  id.method = auth_method::x509;
  id.client_id = req.client_id;
  id.device = subject;
  id.device_num_id = rec.device.num_id;
  id.credential_expires_at = leaf->not_after();
  id.certificate_serial = leaf->serial_hex();
  return auth_decision::allow(std::move(id));
}

} // namespace aegis::auth
