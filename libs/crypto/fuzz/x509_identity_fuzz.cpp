// Fuzzes the X.509-to-identity mapping: parsing arbitrary bytes as a certificate (DER, PEM, PEM
// bundle), every accessor on what parses, and verify_device against a fixed trust store.
// Seeds in x509_identity_fuzz_seeds/ were issued by the CA below, so mutations of them reach
// identity extraction after a successful verification.

#include "aegis/crypto/errors.hpp"
#include "aegis/crypto/x509.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace {

using namespace aegis;
using namespace aegis::crypto;

// "Aegis Fuzz CA", valid 2026-11-25 .. 2052-11-28; its private key was not kept.
constexpr std::string_view fuzz_ca_pem = R"(-----BEGIN CERTIFICATE-----
MIIBmjCCAUCgAwIBAgIUKwoYCuRWy038RA6xR6slVefXdOMwCgYIKoZIzj0EAwIw
GDEWMBQGA1UEAwwNQWVnaXMgRnV6eiBDQTAgFw0yNjExMjUxMjUzMzlaGA8yMDUy
MTEyODEyNTMzOVowGDEWMBQGA1UEAwwNQWVnaXMgRnV6eiBDQTBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABND1CsUTqTWXzWzXmeidIrFl0HKvXaD6iZm6nkMNbapk
F9iz3OPGaVqGpu9WJ1WhmVEYrJPlFkYrqYQK/v5zwI+jZjBkMBIGA1UdEwEB/wQI
MAYBAf8CAQAwDgYDVR0PAQH/BAQDAgEGMB0GA1UdDgQWBBQV0P49YIZ6lW0Pdz/D
z/De6j0XsjAfBgNVHSMEGDAWgBQV0P49YIZ6lW0Pdz/Dz/De6j0XsjAKBggqhkjO
PQQDAgNIADBFAiEA11X9KVj9Fkq4h/GhsCpuGUsznnc4FC570/sn7aLWWSQCIH1S
fI2iTipk52Q8Hsj8NEm1mZKlyXP+xnWN9TxwzDxJ
-----END CERTIFICATE-----
)";

// Fixed so that runs reproduce: 2030-01-01T00:00:00Z, inside the CA's validity.
const wall_time fixed_now{std::chrono::seconds{1'893'456'000}};

const trust_store& store() {
  static const trust_store s = [] {
    trust_store t;
    auto ca = certificate::from_pem(fuzz_ca_pem);
    if (!ca || !t.add_anchor(*ca)) {
      __builtin_trap();
    }
    return t;
  }();
  return s;
}

// The invariants the rest of Aegis relies on when it takes an identity from a certificate.
void check_identity(const device_identity& id) {
  if (id.device_id.empty() || id.device_id.find_first_of(" /\0", 0, 3) != std::string::npos) {
    __builtin_trap();
  }
  const std::string tail = "/devices/" + id.device_id;
  if (!id.uri.empty() && (id.uri.rfind("aegis:projects/", 0) != 0 || id.uri.size() < tail.size() ||
                          id.uri.compare(id.uri.size() - tail.size(), tail.size(), tail) != 0)) {
    __builtin_trap();
  }
}

void exercise(const certificate& cert, const std::vector<certificate>& intermediates) {
  (void)cert.subject_cn();
  (void)cert.issuer_cn();
  (void)cert.dns_names();
  (void)cert.ip_addresses();
  (void)cert.uris();
  (void)cert.serial_hex();
  (void)cert.not_before();
  (void)cert.not_after();
  (void)cert.is_ca();
  (void)cert.subject_public_key();
  (void)cert.fingerprint_sha256();
  (void)cert.to_pem();
  if (auto der = cert.to_der(); der && !certificate::from_der(*der)) {
    __builtin_trap(); // what parsed once must parse again from its own encoding
  }

  auto unverified = device_identity_of(cert);
  if (unverified) {
    check_identity(*unverified);
  }
  auto verified = store().verify_device(cert, intermediates, fixed_now);
  if (verified) {
    check_identity(*verified);
    if (!unverified || verified->device_id != unverified->device_id ||
        verified->uri != unverified->uri) {
      __builtin_trap();
    }
  }
  (void)store().verify(cert, intermediates, cert_purpose::tls_server, fixed_now);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const bytes_view input(data, size);
  if (auto cert = certificate::from_der(input)) {
    exercise(*cert, {});
  }
  const std::string_view text = as_string_view(input);
  if (auto chain = certificate::chain_from_pem(text)) {
    const std::vector<certificate> rest(chain->begin() + 1, chain->end());
    exercise(chain->front(), rest);
  } else if (auto cert = certificate::from_pem(text)) {
    exercise(*cert, {});
  }
  return 0;
}
