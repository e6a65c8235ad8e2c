#pragma once

// Sealing of secret columns: the AEAD envelope of libs/crypto under a key derived from the
// master key for this store, with associated data that names where the value lives (table,
// column, and the row's identity). A sealed value copied to another row, column or table no
// longer opens; neither does one from another master key.
//
// Used for config payloads, state payloads, operator token digests (operator_tokens) and the
// secrets table (CA private key, PSKs).

#include "aegis/base/bytes.hpp"
#include "aegis/base/error.hpp"
#include "aegis/crypto/aead.hpp"
#include "aegis/crypto/random.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace aegis::storage_sqlite {

// Where a sealed value lives. `row` holds the parts of the row's identity, outermost first
// (e.g. project, location, registry, device, num_id, version).
struct seal_context {
  std::string_view table;
  std::string_view column;
  std::vector<std::string> row{};
};

class column_sealer {
public:
  // HKDF purpose of the store's key, so its ciphertexts and those of other users of the master
  // key (the data directory's sealed CA key file) cannot stand in for each other.
  static constexpr std::string_view key_purpose = "aegis.storage.sqlite.v1";

  static result<column_sealer> create(const crypto::master_key& master);

  // storage_failed when the AEAD fails.
  result<bytes> seal(bytes_view plaintext, const seal_context& where) const;
  // sealed_value_unreadable when the value was sealed elsewhere, under another key, or altered.
  result<crypto::secure_buffer> open(bytes_view sealed, const seal_context& where) const;

  // "aegis.sqlite.v1" then table, column and each row part, each as a 4-byte big-endian length
  // and its bytes: unambiguous whatever the parts contain.
  static bytes associated_data(const seal_context& where);

private:
  explicit column_sealer(crypto::master_key key) : key_(std::move(key)) {}
  crypto::master_key key_;
};

} // namespace aegis::storage_sqlite
