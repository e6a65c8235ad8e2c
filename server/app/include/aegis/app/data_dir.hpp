#pragma once

// The data directory: on first start aegisd creates the master key, its CA and a server
// certificate there; on later starts it reuses them.
//
// Layout (directories 0700, secret files 0600):
//   master.key          32 random bytes; the root of every secret sealed at rest
//   ca/ca.crt           the Aegis CA certificate (PEM): what devices are given as their root
//   ca/ca.key.sealed    the CA's private key, sealed with the master key (AES-256-GCM envelope)
//   tls/server.crt      server certificate followed by the CA (a full chain), PEM
//   tls/server.key      the server's private key, PEM

#include "aegis/app/config.hpp"
#include "aegis/base/clock.hpp"
#include "aegis/crypto/aead.hpp"
#include "aegis/crypto/keys.hpp"
#include "aegis/crypto/x509.hpp"

#include <filesystem>
#include <stdexcept>

namespace aegis::app {

class data_dir_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

struct data_dir_paths {
  std::filesystem::path root;
  std::filesystem::path master_key;
  std::filesystem::path ca_cert;
  std::filesystem::path ca_key_sealed;
  std::filesystem::path server_cert;
  std::filesystem::path server_key;

  explicit data_dir_paths(const std::filesystem::path& dir);
};

struct data_dir {
  data_dir_paths paths;
  crypto::master_key master;
  crypto::certificate_authority ca;
  // The chain presented by TLS listeners (leaf first) and its key.
  std::filesystem::path server_cert_file;
  std::filesystem::path server_key_file;
  bool created = false; // true on the first start
  bool server_cert_renewed = false;
};

// Creates or opens the data directory. Refuses a master key or private key file that group or
// others can read, and a master key of the wrong size.
data_dir open_data_dir(const config& cfg, const clock& clk);

} // namespace aegis::app
