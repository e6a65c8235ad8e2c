#pragma once

// Shared fixtures of the auth tests: a real in-memory registry with two registries of one
// project, keys made once per process (RSA generation is slow under ASan), and helpers that
// throw on a libs/crypto failure (GoogleTest reports it as a failure of the calling test).

#include "aegis/auth/authenticator.hpp"
#include "aegis/base/clock.hpp"
#include "aegis/crypto/jwt.hpp"
#include "aegis/crypto/keys.hpp"
#include "aegis/crypto/x509.hpp"
#include "aegis/registry/memory_repository.hpp"
#include "aegis/registry/service.hpp"

#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace aegis::auth::testing {

template <class T>
T must(result<T> r) {
  if (!r) {
    throw std::runtime_error("fixture: " + r.error().message());
  }
  return std::move(r).value();
}
inline void must(result<void> r) {
  if (!r) {
    throw std::runtime_error("fixture: " + r.error().message());
  }
}

inline const crypto::private_key& es256_key(int which = 0) {
  static const crypto::private_key k0 =
      must(crypto::private_key::generate(crypto::key_type::ec_p256));
  static const crypto::private_key k1 =
      must(crypto::private_key::generate(crypto::key_type::ec_p256));
  return which == 0 ? k0 : k1;
}
inline const crypto::private_key& rsa_key() {
  static const crypto::private_key k = must(crypto::private_key::generate(crypto::key_type::rsa));
  return k;
}

inline registry::credential public_key_credential(const crypto::private_key& key,
                                                  registry::credential_format format) {
  return {format, must(key.public_part().to_pem()), std::nullopt};
}

inline const std::string project = "acme-iot";
inline const std::string location = "us-central1";

inline registry::registry_key registry_key_of(std::string_view reg) {
  return {registry::project_id(project), registry::location_id(location),
          registry::registry_id(std::string(reg))};
}
inline registry::device_key device_key_of(std::string_view reg, std::string_view dev) {
  return {registry_key_of(reg), registry::device_id(std::string(dev))};
}
inline std::string client_id_of(std::string_view reg, std::string_view dev) {
  return registry::to_name(device_key_of(reg, dev));
}

// acme-iot / us-central1 / {fleet-a, fleet-b}; devices are added per test.
class registry_world {
public:
  registry_world() : service_(repo_, clock_) {
    must(service_.create_project(registry::project_id(project)));
    for (const char* name : {"fleet-a", "fleet-b"}) {
      registry::registry_spec spec;
      spec.key = registry_key_of(name);
      must(service_.create_registry(spec));
    }
  }

  registry::device add_device(std::string_view reg, std::string_view dev,
                              std::vector<registry::credential> credentials,
                              registry::gateway_type type = registry::gateway_type::non_gateway) {
    registry::device_spec spec;
    spec.key = device_key_of(reg, dev);
    spec.credentials = std::move(credentials);
    spec.gateway.type = type;
    if (type == registry::gateway_type::gateway) {
      spec.gateway.auth_method = registry::gateway_auth_method::association_only;
    }
    return must(service_.create_device(spec));
  }

  std::string token(const crypto::private_key& key, std::string_view audience = project,
                    std::chrono::seconds lifetime = std::chrono::hours(1),
                    std::chrono::seconds issued_ago = std::chrono::seconds(0)) const {
    crypto::jwt_mint_options o;
    o.audience = std::string(audience);
    o.issued_at = clock_.wall_now() - issued_ago;
    o.lifetime = lifetime;
    return must(crypto::jwt_mint(key, o));
  }

  manual_clock& clock() { return clock_; }
  registry::registry_service& service() { return service_; }

private:
  manual_clock clock_;
  registry::memory_repository repo_;
  registry::registry_service service_;
};

inline connect_request jwt_request(std::string client_id, std::string_view token) {
  connect_request r;
  r.client_id = std::move(client_id);
  r.username = "unused";
  r.password = to_bytes(token);
  r.source_address = "192.0.2.7:50000";
  return r;
}

} // namespace aegis::auth::testing
