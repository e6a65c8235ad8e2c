// libFuzzer target: the key loaders (private and public, PEM and DER) on arbitrary bytes.
// Whatever loads must also encode and load back to the same key, and a loaded public key must
// survive a verification attempt. Seeds in pem_der_fuzz_seeds/ are keys of every accepted type
// and encoding (PKCS#8, SEC1, PKCS#1, SPKI, encrypted PKCS#8), generated once with openssl.
//
// Private PEM is loaded without a passphrase: an encrypted key stops at passphrase_required,
// so the fuzzer does not spend its time in PBKDF2/scrypt with input-chosen iteration counts.

#include "aegis/crypto/keys.hpp"
#include "aegis/crypto/signature.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {

using namespace aegis::crypto;

void check(bool invariant) {
  if (!invariant) {
    std::abort();
  }
}

void exercise(const public_key& key) {
  auto der = key.to_der();
  check(der.has_value());
  auto back = public_key::from_der(*der);
  check(back.has_value() && *back == key && back->type() == key.type());
  auto pem = key.to_pem();
  check(pem.has_value());
  auto from_pem = public_key::from_pem(*pem);
  check(from_pem.has_value() && *from_pem == key);
  // The verify path must refuse cleanly whatever the key holds.
  const aegis::bytes signature(
      key.type() == key_type::rsa ? static_cast<std::size_t>(key.bits() + 7) / 8 : 64, 0x5A);
  check(!verify(key, alg_for(key.type()), aegis::as_bytes("message"), signature));
}

void exercise(const private_key& key) {
  auto der = key.to_der();
  check(der.has_value());
  auto back = private_key::from_der(*der);
  check(back.has_value() && back->type() == key.type() && back->public_part() == key.public_part());
  exercise(key.public_part());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const aegis::bytes_view der(data, size);
  if (auto key = private_key::from_pem(text)) {
    exercise(*key);
  }
  if (auto key = private_key::from_der(der)) {
    exercise(*key);
  }
  if (auto key = public_key::from_pem(text)) {
    exercise(*key);
  }
  if (auto key = public_key::from_der(der)) {
    exercise(*key);
  }
  return 0;
}
