#pragma once

// Key and certificate fixtures for registry tests. Helpers throw std::runtime_error when
// libs/crypto fails, which GoogleTest reports as a failure of the calling test.

#include "aegis/base/clock.hpp"
#include "aegis/crypto/keys.hpp"
#include "aegis/crypto/x509.hpp"
#include "aegis/registry/model.hpp"

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace aegis::registry::testing {

// Made with `openssl genpkey` (RSA 1024, EC P-384) and `openssl req -x509` (RSA 1024, valid
// until 2126): inputs libs/crypto cannot generate because it refuses them.
extern const std::string_view rsa1024_public_pem;
extern const std::string_view p384_public_pem;
extern const std::string_view rsa1024_certificate_pem;

// Keys generated once per process (RSA generation is slow under ASan). `index` picks one of
// four distinct EC P-256 keys.
const crypto::private_key& es256_key(std::size_t index = 0);
const crypto::private_key& rsa_key();
const crypto::private_key& ed25519_key();

std::string public_pem(const crypto::private_key& key);

credential es256_credential(std::size_t index = 0);
credential rsa_credential();
credential ed25519_credential();

// A CA certificate authority valid from `now` for `validity`.
crypto::certificate_authority make_ca(std::string_view name, wall_time now,
                                      std::chrono::seconds validity = std::chrono::hours(24 * 365));
std::string ca_pem(const crypto::certificate_authority& ca);

// A device certificate for `key`'s public part, issued by `ca` at `now`.
std::string issue_certificate(const crypto::certificate_authority& ca,
                              const crypto::private_key& key, std::string_view device_id,
                              wall_time now,
                              std::chrono::seconds validity = std::chrono::hours(24 * 30));

} // namespace aegis::registry::testing
