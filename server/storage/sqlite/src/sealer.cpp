#include "aegis/storage_sqlite/sealer.hpp"

#include "aegis/registry/errors.hpp"
#include "aegis/storage_sqlite/errors.hpp"

#include <cstdint>

namespace aegis::storage_sqlite {
namespace {

void append_part(bytes& out, std::string_view part) {
  const auto n = static_cast<std::uint32_t>(part.size());
  out.push_back(static_cast<std::uint8_t>(n >> 24U));
  out.push_back(static_cast<std::uint8_t>(n >> 16U));
  out.push_back(static_cast<std::uint8_t>(n >> 8U));
  out.push_back(static_cast<std::uint8_t>(n));
  out.insert(out.end(), part.begin(), part.end());
}

} // namespace

result<column_sealer> column_sealer::create(const crypto::master_key& master) {
  auto key = master.derive(key_purpose);
  if (!key) {
    return store_errc::key_derivation_failed;
  }
  return column_sealer(std::move(*key));
}

bytes column_sealer::associated_data(const seal_context& where) {
  bytes ad = to_bytes("aegis.sqlite.v1");
  append_part(ad, where.table);
  append_part(ad, where.column);
  for (const auto& part : where.row) {
    append_part(ad, part);
  }
  return ad;
}

result<bytes> column_sealer::seal(bytes_view plaintext, const seal_context& where) const {
  auto sealed = key_.seal(plaintext, associated_data(where));
  if (!sealed) {
    return registry::registry_errc::storage_failed;
  }
  return std::move(*sealed);
}

result<crypto::secure_buffer> column_sealer::open(bytes_view sealed,
                                                  const seal_context& where) const {
  auto plain = key_.open(sealed, associated_data(where));
  if (!plain) {
    return registry::registry_errc::sealed_value_unreadable;
  }
  return std::move(*plain);
}

} // namespace aegis::storage_sqlite
