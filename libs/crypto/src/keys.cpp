#include "aegis/crypto/keys.hpp"

#include "ossl.hpp"

#include <openssl/core_names.h>
#include <openssl/pem.h>

#include <cstring>
#include <utility>

namespace aegis::crypto {
namespace {

constexpr int min_rsa_bits = 2048;
constexpr int max_rsa_bits = 4096;

// Always installed so that OpenSSL never falls back to prompting on a terminal.
int passphrase_callback(char* buf, int size, int /*rwflag*/, void* user) {
  const auto* pass = static_cast<const std::string_view*>(user);
  if (pass == nullptr || pass->empty() || pass->size() > static_cast<std::size_t>(size)) {
    return -1;
  }
  std::memcpy(buf, pass->data(), pass->size());
  return static_cast<int>(pass->size());
}

bool looks_encrypted(std::string_view pem) {
  return pem.find("ENCRYPTED") != std::string_view::npos;
}

} // namespace

std::string_view to_string(key_type t) noexcept {
  switch (t) {
  case key_type::ec_p256:
    return "EC P-256";
  case key_type::rsa:
    return "RSA";
  case key_type::ed25519:
    return "Ed25519";
  }
  return "unknown";
}

result<key_type> classify(const evp_pkey_st* pkey) {
  if (pkey == nullptr) {
    return key_errc::unsupported_key_type;
  }
  switch (EVP_PKEY_get_base_id(pkey)) {
  case EVP_PKEY_EC: {
    char group[64] = {};
    std::size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       &len) != 1) {
      ossl::clear_errors();
      return key_errc::unsupported_curve;
    }
    const std::string_view name(group, len);
    if (name != "prime256v1" && name != "P-256") {
      return key_errc::unsupported_curve;
    }
    return key_type::ec_p256;
  }
  case EVP_PKEY_RSA: {
    const int bits = EVP_PKEY_get_bits(pkey);
    if (bits < min_rsa_bits) {
      return key_errc::rsa_too_small;
    }
    if (bits > max_rsa_bits) {
      return key_errc::rsa_too_large;
    }
    return key_type::rsa;
  }
  case EVP_PKEY_ED25519:
    return key_type::ed25519;
  default:
    return key_errc::unsupported_key_type;
  }
}

// ---- public_key ----

public_key::public_key(const public_key& other) noexcept : pkey_(other.pkey_), type_(other.type_) {
  if (pkey_ != nullptr) {
    EVP_PKEY_up_ref(pkey_);
  }
}

public_key& public_key::operator=(const public_key& other) noexcept {
  if (this != &other) {
    public_key copy(other);
    *this = std::move(copy);
  }
  return *this;
}

public_key::public_key(public_key&& other) noexcept
    : pkey_(std::exchange(other.pkey_, nullptr)), type_(other.type_) {}

public_key& public_key::operator=(public_key&& other) noexcept {
  if (this != &other) {
    EVP_PKEY_free(pkey_);
    pkey_ = std::exchange(other.pkey_, nullptr);
    type_ = other.type_;
  }
  return *this;
}

public_key::~public_key() {
  EVP_PKEY_free(pkey_);
}

result<public_key> public_key::adopt(evp_pkey_st* pkey) {
  ossl::pkey_ptr owned(pkey);
  auto type = classify(owned.get());
  if (!type) {
    return type.error();
  }
  public_key k;
  k.pkey_ = owned.release();
  k.type_ = *type;
  return k;
}

result<public_key> public_key::from_pem(std::string_view pem) {
  if (pem.find("PRIVATE KEY") != std::string_view::npos) {
    return key_errc::bad_pem;
  }
  auto bio = ossl::memory_bio(pem);
  EVP_PKEY* raw = PEM_read_bio_PUBKEY(bio.get(), nullptr, passphrase_callback, nullptr);
  if (raw == nullptr) {
    ossl::clear_errors();
    return key_errc::bad_pem;
  }
  return adopt(raw);
}

result<public_key> public_key::from_der(bytes_view der) {
  const unsigned char* p = der.data();
  EVP_PKEY* raw = d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size()));
  if (raw == nullptr) {
    ossl::clear_errors();
    return key_errc::bad_der;
  }
  if (p != der.data() + der.size()) {
    EVP_PKEY_free(raw);
    return key_errc::bad_der; // trailing bytes
  }
  return adopt(raw);
}

int public_key::bits() const noexcept {
  return pkey_ ? EVP_PKEY_get_bits(pkey_) : 0;
}

result<std::string> public_key::to_pem() const {
  auto bio = ossl::empty_bio();
  if (pkey_ == nullptr || PEM_write_bio_PUBKEY(bio.get(), pkey_) != 1) {
    ossl::clear_errors();
    return key_errc::encoding_failed;
  }
  return ossl::bio_contents(bio.get());
}

result<bytes> public_key::to_der() const {
  if (pkey_ == nullptr) {
    return key_errc::encoding_failed;
  }
  const int len = i2d_PUBKEY(pkey_, nullptr);
  if (len <= 0) {
    ossl::clear_errors();
    return key_errc::encoding_failed;
  }
  bytes out(static_cast<std::size_t>(len));
  unsigned char* p = out.data();
  i2d_PUBKEY(pkey_, &p);
  return out;
}

result<std::string> public_key::fingerprint_sha256() const {
  auto der = to_der();
  if (!der) {
    return der.error();
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (EVP_Digest(der->data(), der->size(), md, &md_len, EVP_sha256(), nullptr) != 1) {
    ossl::clear_errors();
    return key_errc::encoding_failed;
  }
  return to_hex(bytes_view(md, md_len));
}

bool operator==(const public_key& a, const public_key& b) noexcept {
  if (a.pkey_ == nullptr || b.pkey_ == nullptr) {
    return a.pkey_ == b.pkey_;
  }
  const bool same = EVP_PKEY_eq(a.pkey_, b.pkey_) == 1;
  ossl::clear_errors();
  return same;
}

// ---- private_key ----

private_key::private_key(private_key&& other) noexcept
    : pkey_(std::exchange(other.pkey_, nullptr)), type_(other.type_) {}

private_key& private_key::operator=(private_key&& other) noexcept {
  if (this != &other) {
    EVP_PKEY_free(pkey_);
    pkey_ = std::exchange(other.pkey_, nullptr);
    type_ = other.type_;
  }
  return *this;
}

private_key::~private_key() {
  EVP_PKEY_free(pkey_);
}

result<private_key> private_key::adopt(evp_pkey_st* pkey) {
  ossl::pkey_ptr owned(pkey);
  auto type = classify(owned.get());
  if (!type) {
    return type.error();
  }
  private_key k;
  k.pkey_ = owned.release();
  k.type_ = *type;
  return k;
}

result<private_key> private_key::generate(key_type type, int rsa_bits) {
  EVP_PKEY* raw = nullptr;
  switch (type) {
  case key_type::ec_p256:
    raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    break;
  case key_type::rsa:
    if (rsa_bits < min_rsa_bits) {
      return key_errc::rsa_too_small;
    }
    if (rsa_bits > max_rsa_bits) {
      return key_errc::rsa_too_large;
    }
    raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(rsa_bits));
    break;
  case key_type::ed25519:
    raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    break;
  }
  if (raw == nullptr) {
    ossl::clear_errors();
    return key_errc::generation_failed;
  }
  return adopt(raw);
}

result<private_key> private_key::from_pem(std::string_view pem, std::string_view passphrase) {
  const bool encrypted = looks_encrypted(pem);
  if (encrypted && passphrase.empty()) {
    return key_errc::passphrase_required;
  }
  auto bio = ossl::memory_bio(pem);
  std::string_view pass = passphrase;
  EVP_PKEY* raw = PEM_read_bio_PrivateKey(bio.get(), nullptr, passphrase_callback, &pass);
  if (raw == nullptr) {
    ossl::clear_errors();
    return encrypted ? key_errc::bad_passphrase : key_errc::bad_pem;
  }
  return adopt(raw);
}

result<private_key> private_key::from_der(bytes_view der) {
  const unsigned char* p = der.data();
  EVP_PKEY* raw = d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(der.size()));
  if (raw == nullptr) {
    ossl::clear_errors();
    return key_errc::bad_der;
  }
  if (p != der.data() + der.size()) {
    EVP_PKEY_free(raw);
    return key_errc::bad_der;
  }
  return adopt(raw);
}

int private_key::bits() const noexcept {
  return pkey_ ? EVP_PKEY_get_bits(pkey_) : 0;
}

result<std::string> private_key::to_pem(std::string_view passphrase) const {
  if (pkey_ == nullptr) {
    return key_errc::no_private_key;
  }
  auto bio = ossl::empty_bio();
  int ok = 0;
  if (passphrase.empty()) {
    ok = PEM_write_bio_PKCS8PrivateKey(bio.get(), pkey_, nullptr, nullptr, 0, nullptr, nullptr);
  } else {
    std::string_view pass = passphrase;
    ok = PEM_write_bio_PKCS8PrivateKey(bio.get(), pkey_, EVP_aes_256_cbc(), nullptr, 0,
                                       passphrase_callback, &pass);
  }
  if (ok != 1) {
    ossl::clear_errors();
    return key_errc::encoding_failed;
  }
  return ossl::bio_contents(bio.get());
}

result<bytes> private_key::to_der() const {
  if (pkey_ == nullptr) {
    return key_errc::no_private_key;
  }
  auto bio = ossl::empty_bio();
  if (i2d_PKCS8PrivateKey_bio(bio.get(), pkey_, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    ossl::clear_errors();
    return key_errc::encoding_failed;
  }
  const std::string der = ossl::bio_contents(bio.get());
  return to_bytes(der);
}

public_key private_key::public_part() const {
  if (pkey_ == nullptr) {
    return {};
  }
  // Round-trip through SubjectPublicKeyInfo so the public object carries no private material.
  const int len = i2d_PUBKEY(pkey_, nullptr);
  if (len <= 0) {
    ossl::clear_errors();
    return {};
  }
  bytes der(static_cast<std::size_t>(len));
  unsigned char* p = der.data();
  i2d_PUBKEY(pkey_, &p);
  auto pub = public_key::from_der(der);
  return pub ? std::move(*pub) : public_key{};
}

} // namespace aegis::crypto
