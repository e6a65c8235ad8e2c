#pragma once

// X.509 for Aegis: certificates and CSRs, a small CA (EC P-256) that issues server and device
// certificates and CRLs, and chain verification against a trust store with the device identity
// read out of the verified leaf.
//
// Device identity in a certificate: CN = device id, and a URI SAN
//   aegis:projects/{p}/locations/{l}/registries/{r}/devices/{d}
// (IoT Core's device path under an "aegis:" scheme). The identity must be unambiguous: exactly
// one CN, at most one aegis: URI, and that URI's {d} equal to the CN. Other URI SANs are ignored.
// The CN is bounded by X.509 to 64 characters, so device ids used in certificates are too.

#include "aegis/base/bytes.hpp"
#include "aegis/base/clock.hpp"
#include "aegis/base/error.hpp"
#include "aegis/crypto/keys.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct x509_st;     // OpenSSL's X509
struct X509_req_st; // OpenSSL's X509_REQ
struct X509_crl_st; // OpenSSL's X509_CRL

namespace aegis::crypto {

class certificate {
public:
  certificate() = default;
  certificate(const certificate& other) noexcept;
  certificate& operator=(const certificate& other) noexcept;
  certificate(certificate&& other) noexcept;
  certificate& operator=(certificate&& other) noexcept;
  ~certificate();

  static result<certificate> from_pem(std::string_view pem);
  static result<certificate> from_der(bytes_view der);
  // Every certificate in a PEM bundle, in order.
  static result<std::vector<certificate>> chain_from_pem(std::string_view pem);

  bool empty() const noexcept { return cert_ == nullptr; }
  result<std::string> to_pem() const;
  result<bytes> to_der() const;

  // The CN as UTF-8; empty when there is none, more than one, or it holds a NUL byte.
  std::string subject_cn() const;
  std::string issuer_cn() const;
  // SAN entries of each kind; entries holding a NUL byte are left out.
  std::vector<std::string> dns_names() const;
  std::vector<std::string> ip_addresses() const; // textual form
  std::vector<std::string> uris() const;
  // Lowercase hex without leading zeros.
  std::string serial_hex() const;
  wall_time not_before() const;
  wall_time not_after() const;
  bool is_ca() const;
  public_key subject_public_key() const;
  // SHA-256 of the DER certificate, lowercase hex.
  std::string fingerprint_sha256() const;

  x509_st* native_handle() const noexcept { return cert_; }
  static certificate adopt(x509_st* cert); // takes one reference

private:
  x509_st* cert_ = nullptr;
};

class certificate_request {
public:
  certificate_request() = default;
  certificate_request(certificate_request&& other) noexcept;
  certificate_request& operator=(certificate_request&& other) noexcept;
  certificate_request(const certificate_request&) = delete;
  certificate_request& operator=(const certificate_request&) = delete;
  ~certificate_request();

  // Parses and checks the self-signature (proof of possession).
  static result<certificate_request> from_pem(std::string_view pem);
  // A CSR with CN = common_name signed by `key` (device side, and tests).
  static result<certificate_request> create(const private_key& key, std::string_view common_name);

  result<std::string> to_pem() const;
  std::string subject_cn() const;
  public_key subject_public_key() const;

  X509_req_st* native_handle() const noexcept { return req_; }

private:
  X509_req_st* req_ = nullptr;
};

class crl {
public:
  crl() = default;
  crl(const crl& other) noexcept;
  crl& operator=(const crl& other) noexcept;
  crl(crl&& other) noexcept;
  crl& operator=(crl&& other) noexcept;
  ~crl();

  static result<crl> from_pem(std::string_view pem);
  result<std::string> to_pem() const;
  // Whether the serial (hex, any case, leading zeros allowed) is revoked by this list.
  bool lists(std::string_view serial_hex) const;
  std::string issuer_cn() const;
  wall_time this_update() const;
  wall_time next_update() const;

  X509_crl_st* native_handle() const noexcept { return crl_; }
  static crl adopt(X509_crl_st* c); // takes ownership

private:
  X509_crl_st* crl_ = nullptr;
};

struct device_identity {
  std::string device_id; // CN
  std::string uri;       // the aegis: URI SAN, empty if absent
};

// The identity `cert` names, WITHOUT verifying it; decisions use trust_store::verify_device.
// no_identity when there is no usable CN (absent, undecodable, or not printable ASCII without
// space and '/');
// ambiguous_identity per the rules at the top of this file.
result<device_identity> device_identity_of(const certificate& cert);

// Validity in requests: 1 s .. 100 years. Issued certificates start 1 h before `now` (clock
// skew on devices) and end no later than the CA certificate.
struct server_cert_request {
  std::vector<std::string> dns_names;    // e.g. "localhost" (letters, digits, '-', '.', "*.")
  std::vector<std::string> ip_addresses; // e.g. "127.0.0.1", "::1"
  std::chrono::seconds validity{std::chrono::hours(24 * 397)};
};

struct device_cert_request {
  std::string device_id;  // becomes CN: 1..64 printable ASCII, no space or '/'
  std::string device_uri; // becomes the URI SAN (may be empty): aegis:projects/.../devices/{id}
  std::chrono::seconds validity{std::chrono::hours(24 * 365)};
};

struct revoked_entry {
  std::string serial_hex;
  wall_time revoked_at;
};

// A certificate authority holding its key (EC P-256 when Aegis creates it). Serial numbers are
// 128-bit random. Input errors give x509_errc::bad_request.
class certificate_authority {
public:
  // A self-signed root: CA:TRUE (critical, pathlen 0), keyCertSign + cRLSign, SKI/AKI.
  static result<certificate_authority> create(std::string_view common_name,
                                              std::chrono::seconds validity, wall_time now);
  // An existing CA (e.g. an operator's intermediate): not_a_ca unless CA:TRUE and, when key
  // usage is present, keyCertSign; key_mismatch unless `key` belongs to `cert`.
  static result<certificate_authority> load(certificate cert, private_key key);

  const certificate& cert() const noexcept { return cert_; }
  const private_key& key() const noexcept { return key_; }

  // serverAuth EKU, digitalSignature key usage, DNS/IP SANs; CN = first DNS name.
  result<certificate> issue_server_certificate(const public_key& subject,
                                               const server_cert_request& req, wall_time now) const;
  // clientAuth EKU; identity taken from `req`, never from the CSR's subject. The CSR's
  // signature must verify (proof of possession).
  result<certificate> sign_device_csr(const certificate_request& csr,
                                      const device_cert_request& req, wall_time now) const;
  // A v2 CRL with AKI and a CRL number (milliseconds since the epoch of `now`, so later lists
  // have larger numbers).
  result<crl> issue_crl(const std::vector<revoked_entry>& revoked, wall_time now,
                        std::chrono::seconds next_update_in) const;

private:
  certificate_authority(certificate c, private_key k) : cert_(std::move(c)), key_(std::move(k)) {}
  certificate cert_;
  private_key key_;
};

enum class cert_purpose { any, tls_server, tls_client };

// Anchors may be roots or intermediates (a chain may end at any anchor). Not synchronised:
// add_* must not run concurrently with anything else; verify* may run concurrently.
class trust_store {
public:
  trust_store();
  trust_store(trust_store&&) noexcept;
  trust_store& operator=(trust_store&&) noexcept;
  ~trust_store();

  // not_a_ca unless the certificate has CA:TRUE.
  result<void> add_anchor(const certificate& ca);
  // Once any CRL is added for an issuer, certificates from that issuer (at any depth) are checked
  // against it, and a CRL that is expired or does not verify fails closed (revocation_unknown).
  // A CRL replaces the one held for its issuer; an older one (by thisUpdate) is refused
  // (bad_crl), as is one naming an anchor whose signature that anchor does not verify.
  result<void> add_crl(const crl& list);

  // Verifies `leaf` (with optional intermediates) at time `now`: signatures, validity, CA basic
  // constraints, key usage / EKU for `purpose`, revocation, and a 112-bit security level.
  result<void> verify(const certificate& leaf, const std::vector<certificate>& intermediates,
                      cert_purpose purpose, wall_time now) const;
  // verify() and then the device identity from the leaf (x509_errc::no_identity without a CN).
  result<device_identity> verify_device(const certificate& leaf,
                                        const std::vector<certificate>& intermediates,
                                        wall_time now) const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace aegis::crypto
