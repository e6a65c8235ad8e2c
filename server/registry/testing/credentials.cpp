#include "aegis/registry/testing/credentials.hpp"

#include <array>
#include <stdexcept>
#include <utility>

namespace aegis::registry::testing {

const std::string_view rsa1024_public_pem = R"(-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC1Ms+yEuLAtCggSP2BmnOvKkWI
XkedRnSH+XzWpCxudJK5Mi+u3Eqie9uPgdPdEzc7ZGU67GUPnI9IQdkC4v2bXSwj
xj9SZzxIgMcEqZU23i/kETrjbftJIuT3cOJFigFXtOiJYCebyJfUXfNtVq2ABM80
nd0bsbQxCMv7XNF7mQIDAQAB
-----END PUBLIC KEY-----
)";

const std::string_view p384_public_pem = R"(-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEfJJEINwcs0DUm5a/lkGsH5D+pW5Kf0rM
BvDQi0rmdqpGCN0cxkCLj2GJ2vXAsTFgXOAA7smvYvnk/qYO6mogI/2bBma9M9Fl
ZhHJMGxXPrF5retIBMhbhpCu1D8glINP
-----END PUBLIC KEY-----
)";

const std::string_view rsa1024_certificate_pem = R"(-----BEGIN CERTIFICATE-----
MIIB/DCCAWWgAwIBAgIUPEbprlyb5aqfHBUVqc1w0ojKflkwDQYJKoZIhvcNAQEL
BQAwDzENMAsGA1UEAwwEd2VhazAgFw0yNjExMjUxMjU0NDZaGA8yMTI2MTEwMTEy
NTQ0NlowDzENMAsGA1UEAwwEd2VhazCBnzANBgkqhkiG9w0BAQEFAAOBjQAwgYkC
gYEAtTLPshLiwLQoIEj9gZpzrypFiF5HnUZ0h/l81qQsbnSSuTIvrtxKonvbj4HT
3RM3O2RlOuxlD5yPSEHZAuL9m10sI8Y/Umc8SIDHBKmVNt4v5BE64237SSLk93Di
RYoBV7ToiWAnm8iX1F3zbVatgATPNJ3dG7G0MQjL+1zRe5kCAwEAAaNTMFEwHQYD
VR0OBBYEFCoIpsuuJbWiLb43jQaDT9w+GuhjMB8GA1UdIwQYMBaAFCoIpsuuJbWi
Lb43jQaDT9w+GuhjMA8GA1UdEwEB/wQFMAMBAf8wDQYJKoZIhvcNAQELBQADgYEA
hLDxNhPk+W1Kyp4o0ec5uuzFCp3lA6M0JpI1rYuJ0iSHQ0agRx83/AGOzSoeW7qT
UfORSVL0pkMlQQ7PK8dZvWQBc2d11lbiPWnvn6vZcYMKAINMLUkTYZ7JFKa5aiHo
rO3GCFP+E20mSOPrkGrbb2h8XAy7naIQkMpO8MDTLpg=
-----END CERTIFICATE-----
)";

namespace {

template <class T>
T value_or_throw(result<T> r, const char* what) {
  if (!r) {
    throw std::runtime_error(std::string(what) + ": " + r.error().message());
  }
  return std::move(*r);
}

crypto::private_key generate(crypto::key_type type) {
  return value_or_throw(crypto::private_key::generate(type), "key generation");
}

} // namespace

const crypto::private_key& es256_key(std::size_t index) {
  static const std::array<crypto::private_key, 4> keys{
      generate(crypto::key_type::ec_p256), generate(crypto::key_type::ec_p256),
      generate(crypto::key_type::ec_p256), generate(crypto::key_type::ec_p256)};
  return keys.at(index);
}

const crypto::private_key& rsa_key() {
  static const crypto::private_key key = generate(crypto::key_type::rsa);
  return key;
}

const crypto::private_key& ed25519_key() {
  static const crypto::private_key key = generate(crypto::key_type::ed25519);
  return key;
}

std::string public_pem(const crypto::private_key& key) {
  return value_or_throw(key.public_part().to_pem(), "public key PEM");
}

credential es256_credential(std::size_t index) {
  return {credential_format::es256_pem, public_pem(es256_key(index)), std::nullopt};
}

credential rsa_credential() {
  return {credential_format::rsa_pem, public_pem(rsa_key()), std::nullopt};
}

credential ed25519_credential() {
  return {credential_format::ed25519_pem, public_pem(ed25519_key()), std::nullopt};
}

crypto::certificate_authority make_ca(std::string_view name, wall_time now,
                                      std::chrono::seconds validity) {
  return value_or_throw(crypto::certificate_authority::create(name, validity, now), "CA");
}

std::string ca_pem(const crypto::certificate_authority& ca) {
  return value_or_throw(ca.cert().to_pem(), "CA PEM");
}

std::string issue_certificate(const crypto::certificate_authority& ca,
                              const crypto::private_key& key, std::string_view device_id,
                              wall_time now, std::chrono::seconds validity) {
  auto csr = value_or_throw(crypto::certificate_request::create(key, device_id), "CSR");
  crypto::device_cert_request req;
  req.device_id = std::string(device_id);
  req.validity = validity;
  auto cert = value_or_throw(ca.sign_device_csr(csr, req, now), "device certificate");
  return value_or_throw(cert.to_pem(), "certificate PEM");
}

} // namespace aegis::registry::testing
