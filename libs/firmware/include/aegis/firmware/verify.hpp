#pragma once

// Image verification as MCUboot's bootutil_img_validate does it (docs reference/secure-boot.md
// §2.4), on top of the structural checks of parse_image:
//   * SHA-256 over header + padding + payload + protected TLV area must equal the SHA256 TLV;
//   * each signature TLV is checked against the trusted key named by the KEYHASH (or PUBKEY)
//     TLV just before it; signatures naming unknown keys are skipped; one good signature by a
//     trusted key is enough;
//   * with a stored counter, the protected SEC_CNT TLV is mandatory and must be >= it.
// Supported signatures: ECDSA_SIG with P-256 keys, ED25519 (over the digest), RSA2048_PSS and
// RSA3072_PSS (salt 32) with RSA keys of exactly that size. Only SHA256 images are accepted.

#include "aegis/base/bytes.hpp"
#include "aegis/base/error.hpp"
#include "aegis/crypto/digest_signature.hpp"
#include "aegis/crypto/keys.hpp"
#include "aegis/firmware/errors.hpp"
#include "aegis/firmware/image.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace aegis::firmware {

// The built-in keys of a bootloader, in order (the index is MCUboot's key id), with the hash of
// each key's structure precomputed for KEYHASH matching.
class key_ring {
public:
  key_ring() = default;
  static result<key_ring> make(std::vector<crypto::public_key> keys);

  std::size_t size() const noexcept { return keys_.size(); }
  bool empty() const noexcept { return keys_.empty(); }
  const crypto::public_key& key(std::size_t index) const { return keys_.at(index).key; }
  // SHA-256 of the key's PKCS#1 (RSA) or SubjectPublicKeyInfo (EC, Ed25519) DER: its KEYHASH.
  const crypto::sha256_digest& key_hash(std::size_t index) const { return keys_.at(index).hash; }
  std::optional<std::size_t> find_by_hash(bytes_view hash) const noexcept;
  std::optional<std::size_t> find_by_structure(bytes_view der) const noexcept;

private:
  struct entry {
    crypto::public_key key;
    bytes structure;
    crypto::sha256_digest hash{};
  };
  std::vector<entry> keys_;
};

struct verify_policy {
  // Set: SEC_CNT is mandatory and must be >= this (MCUBOOT_HW_ROLLBACK_PROT).
  std::optional<std::uint32_t> min_security_counter;
  // Refuse IMAGE_F_NON_BOOTABLE images (a boot loader choosing what to run sets this).
  bool require_bootable = false;
  // The image must end before this offset (the slot's trailer); 0 = anywhere in the input.
  std::size_t max_image_end = 0;
};

struct verified_image {
  parsed_image image;
  crypto::sha256_digest digest{};
  std::size_t key_index = 0; // which trusted key's signature verified
};

result<verified_image> verify_image(bytes_view data, const key_ring& keys,
                                    const verify_policy& policy = {});

// The digest MCUboot computes for a parsed image (what the SHA256 TLV must hold).
result<crypto::sha256_digest> image_digest(const parsed_image& image);

} // namespace aegis::firmware
