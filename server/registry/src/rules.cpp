#include "aegis/registry/rules.hpp"

#include "aegis/registry/limits.hpp"

#include <openssl/x509.h>

#include <algorithm>
#include <string_view>

namespace aegis::registry {
namespace {

registry_errc from_key_error(std::error_code ec) {
  if (ec == crypto::key_errc::rsa_too_small) {
    return registry_errc::rsa_key_too_small;
  }
  if (ec == crypto::key_errc::rsa_too_large) {
    return registry_errc::rsa_key_too_large;
  }
  if (ec == crypto::key_errc::unsupported_key_type || ec == crypto::key_errc::unsupported_curve) {
    return registry_errc::unsupported_key_type;
  }
  return registry_errc::bad_public_key;
}

result<crypto::certificate> parse_certificate(std::string_view pem) {
  auto cert = crypto::certificate::from_pem(pem);
  if (!cert) {
    if (cert.error() == crypto::x509_errc::weak_algorithm) {
      return registry_errc::weak_certificate;
    }
    // A certificate whose key libs/crypto refuses: report the key's own reason.
    if (cert.error().category() == category_of<crypto::key_errc>()) {
      return from_key_error(cert.error());
    }
    return registry_errc::bad_certificate;
  }
  return std::move(*cert);
}

// The certificate's key, or the precise reason libs/crypto refuses it.
result<crypto::public_key> certificate_key(const crypto::certificate& cert) {
  auto key = cert.subject_public_key();
  if (!key.empty()) {
    return key;
  }
  const EVP_PKEY* raw = X509_get0_pubkey(cert.native_handle());
  if (raw == nullptr) {
    return registry_errc::bad_certificate;
  }
  auto type = crypto::classify(raw);
  if (!type) {
    return from_key_error(type.error());
  }
  return registry_errc::bad_certificate;
}

result<void> check_key(const crypto::public_key& key, credential_format format) {
  // libs/crypto refuses keys outside 2048..4096 bits at load time; check again here so the
  // rule does not depend on that.
  if (key.type() == crypto::key_type::rsa && key.bits() < 2048) {
    return registry_errc::rsa_key_too_small;
  }
  crypto::key_type expected = crypto::key_type::rsa;
  switch (format) {
  case credential_format::rsa_pem:
  case credential_format::rsa_x509_pem:
    expected = crypto::key_type::rsa;
    break;
  case credential_format::es256_pem:
  case credential_format::es256_x509_pem:
    expected = crypto::key_type::ec_p256;
    break;
  case credential_format::ed25519_pem:
    expected = crypto::key_type::ed25519;
    break;
  case credential_format::unspecified:
    return registry_errc::credential_format_unspecified;
  }
  if (key.type() != expected) {
    return registry_errc::key_format_mismatch;
  }
  return ok();
}

bool is_format(credential_format f) noexcept {
  switch (f) {
  case credential_format::rsa_x509_pem:
  case credential_format::es256_pem:
  case credential_format::rsa_pem:
  case credential_format::es256_x509_pem:
  case credential_format::ed25519_pem:
    return true;
  case credential_format::unspecified:
    break;
  }
  return false;
}

bool is_metadata_key_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '+' || c == '~' || c == '%';
}

bool is_label_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

} // namespace

result<parsed_credential> parse_credential(const credential& c) {
  if (!is_format(c.format)) {
    return registry_errc::credential_format_unspecified;
  }
  if (c.pem.size() > limits::credential_pem_bytes) {
    return registry_errc::credential_too_large;
  }
  parsed_credential out;
  if (is_x509(c.format)) {
    auto cert = parse_certificate(c.pem);
    if (!cert) {
      return cert.error();
    }
    auto key = certificate_key(*cert);
    if (!key) {
      return key.error();
    }
    out.key = std::move(*key);
    out.certificate = std::move(*cert);
  } else {
    auto key = crypto::public_key::from_pem(c.pem);
    if (!key) {
      return from_key_error(key.error());
    }
    out.key = std::move(*key);
  }
  if (auto r = check_key(out.key, c.format); !r) {
    return r.error();
  }
  return out;
}

result<parsed_credential> check_new_credential(const credential& c, const device_registry& reg,
                                               wall_time now) {
  auto parsed = parse_credential(c);
  if (!parsed) {
    return parsed;
  }
  if (c.expiration_time && *c.expiration_time <= now) {
    return registry_errc::credential_expired;
  }
  if (parsed->certificate && parsed->certificate->not_after() <= now) {
    return registry_errc::certificate_expired;
  }
  if (reg.ca_certificates.empty()) {
    return parsed;
  }
  if (!parsed->certificate) {
    return registry_errc::certificate_required;
  }
  const auto fingerprint = parsed->certificate->fingerprint_sha256();
  crypto::trust_store anchors;
  for (const auto& ca : reg.ca_certificates) {
    auto ca_cert = crypto::certificate::from_pem(ca.pem);
    if (!ca_cert) {
      continue; // checked when it was registered; a CA that no longer parses verifies nothing
    }
    if (ca_cert->fingerprint_sha256() == fingerprint) {
      return registry_errc::credential_is_registry_ca;
    }
    // An anchor the trust store refuses simply verifies nothing.
    (void)anchors.add_anchor(*ca_cert);
  }
  // No intermediates: IoT Core requires the device certificate to be issued directly by a
  // registry CA.
  if (!anchors.verify(*parsed->certificate, {}, crypto::cert_purpose::any, now)) {
    return registry_errc::certificate_not_signed_by_registry_ca;
  }
  return parsed;
}

result<void> check_device_credentials(const std::vector<credential>& creds,
                                      const std::vector<credential>& previous,
                                      const device_registry& reg, wall_time now) {
  if (creds.size() > limits::credentials_per_device) {
    return registry_errc::too_many_credentials;
  }
  std::vector<crypto::public_key> keys;
  keys.reserve(creds.size());
  for (const auto& c : creds) {
    const bool unchanged = std::find(previous.begin(), previous.end(), c) != previous.end();
    auto parsed = unchanged ? parse_credential(c) : check_new_credential(c, reg, now);
    if (!parsed) {
      return parsed.error();
    }
    for (const auto& k : keys) {
      if (k == parsed->key) {
        return registry_errc::duplicate_credential;
      }
    }
    keys.push_back(std::move(parsed->key));
  }
  return ok();
}

result<void> check_ca_certificates(const std::vector<ca_certificate>& cas, wall_time now) {
  if (cas.size() > limits::ca_certificates_per_registry) {
    return registry_errc::too_many_ca_certificates;
  }
  std::vector<std::string> fingerprints;
  for (const auto& ca : cas) {
    if (ca.pem.size() > limits::credential_pem_bytes) {
      return registry_errc::credential_too_large;
    }
    auto cert = parse_certificate(ca.pem);
    if (!cert) {
      return cert.error();
    }
    if (auto key = certificate_key(*cert); !key) {
      return key.error();
    }
    if (!cert->is_ca()) {
      return registry_errc::ca_certificate_not_ca;
    }
    if (cert->not_after() <= now) {
      return registry_errc::ca_certificate_expired;
    }
    auto fp = cert->fingerprint_sha256();
    if (std::find(fingerprints.begin(), fingerprints.end(), fp) != fingerprints.end()) {
      return registry_errc::duplicate_ca_certificate;
    }
    fingerprints.push_back(std::move(fp));
  }
  return ok();
}

result<void> check_metadata(const string_map& metadata) {
  if (metadata.size() > limits::metadata_entries) {
    return registry_errc::too_many_metadata_entries;
  }
  std::size_t total = 0;
  for (const auto& [key, value] : metadata) {
    if (key.empty() || key.size() > limits::metadata_key_chars) {
      return registry_errc::bad_metadata_key;
    }
    const char first = key.front();
    if (!((first >= 'a' && first <= 'z') || (first >= 'A' && first <= 'Z'))) {
      return registry_errc::bad_metadata_key;
    }
    if (!std::all_of(key.begin(), key.end(), is_metadata_key_char)) {
      return registry_errc::bad_metadata_key;
    }
    if (value.size() > limits::metadata_value_bytes) {
      return registry_errc::metadata_value_too_large;
    }
    total += key.size() + value.size();
  }
  if (total > limits::metadata_total_bytes) {
    return registry_errc::metadata_too_large;
  }
  return ok();
}

result<void> check_labels(const string_map& labels) {
  if (labels.size() > limits::labels_per_group) {
    return registry_errc::too_many_labels;
  }
  for (const auto& [key, value] : labels) {
    if (key.empty() || key.size() > limits::label_chars ||
        !(key.front() >= 'a' && key.front() <= 'z') ||
        !std::all_of(key.begin(), key.end(), is_label_char)) {
      return registry_errc::bad_label_key;
    }
    if (value.size() > limits::label_chars ||
        !std::all_of(value.begin(), value.end(), is_label_char)) {
      return registry_errc::bad_label_value;
    }
  }
  return ok();
}

bool is_valid(device_log_level v) noexcept {
  switch (v) {
  case device_log_level::unspecified:
  case device_log_level::none:
  case device_log_level::error:
  case device_log_level::info:
  case device_log_level::debug:
    return true;
  }
  return false;
}

bool is_valid(gateway_type v) noexcept {
  switch (v) {
  case gateway_type::unspecified:
  case gateway_type::gateway:
  case gateway_type::non_gateway:
    return true;
  }
  return false;
}

bool is_valid(gateway_auth_method v) noexcept {
  switch (v) {
  case gateway_auth_method::unspecified:
  case gateway_auth_method::association_only:
  case gateway_auth_method::device_auth_token_only:
  case gateway_auth_method::association_and_device_auth_token:
    return true;
  }
  return false;
}

} // namespace aegis::registry
