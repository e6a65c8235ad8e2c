#pragma once

// Mutual TLS: the device is who its verified client certificate says (DESIGN §5, "identity
// comes from the verified credential; the client id must match it").
//
// Abstains when no client certificate was presented. Otherwise the client id must be a device
// path (client_id_malformed), its registry must exist, and the peer chain (leaf first, the rest
// as intermediates) must verify for TLS client use at `now`: against the registry's CA
// certificates, or against Aegis' own CA (with its CRLs). The identity is read from the
// verified leaf:
//  - with an aegis: URI SAN, the full device path it names;
//  - with only a CN, the device of that id in the client id's registry, accepted only when the
//    chain verified against that registry's own CAs. Aegis' CA serves every registry, so a
//    CN-only certificate from it would name the same device id in any registry
//    (certificate_rejected, detail no_identity).
// The identity must equal the client id (client_id_mismatch: CONNACK 0x85 / 2); then the device
// must exist, not be blocked, and its registry must accept the transport.
//
// credential_expires_at = the leaf's notAfter, no grace. The TLS handshake is expected to have
// checked possession of the leaf's private key already; this class checks only the chain.
// Registry CA trust stores are built per request (registries change at run time); revocation
// lists are known only for Aegis' CA so far.

#include "aegis/auth/authenticator.hpp"
#include "aegis/base/clock.hpp"
#include "aegis/crypto/x509.hpp"
#include "aegis/registry/service.hpp"

#include <functional>
#include <optional>
#include <string_view>
#include <vector>

namespace aegis::auth {

// Whether Aegis' CA revoked the certificate of this serial (lower-case hex) since the CRLs given
// at start: revocations take effect on the next connection without a restart. An error fails
// closed (server_unavailable).
using revocation_lookup = std::function<result<bool>(std::string_view serial_hex)>;

class x509_authenticator final : public authenticator {
public:
  // `aegis_ca` may be empty (no Aegis CA configured); `aegis_crls` are its revocation lists.
  // Throws std::runtime_error at start-up when the CA or a CRL is refused by the trust store.
  x509_authenticator(registry::registry_service& registry, const clock& clk,
                     const crypto::certificate& aegis_ca,
                     const std::vector<crypto::crl>& aegis_crls = {},
                     revocation_lookup revoked = {});

  // authenticator
  std::string_view name() const noexcept override { return "x509"; }
  auth_decision authenticate(const connect_request& req) override;

private:
  registry::registry_service& registry_;
  const clock& clock_;
  std::optional<crypto::trust_store> aegis_trust_;
  revocation_lookup revoked_;
};

} // namespace aegis::auth
