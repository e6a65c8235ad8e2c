#include "aegis/firmware/verify.hpp"

#include <algorithm>
#include <utility>

namespace aegis::firmware {
namespace {

struct sig_kind {
  crypto::digest_sig_scheme scheme;
  int rsa_bits; // 0 unless the TLV fixes the RSA size
};

std::optional<sig_kind> supported_signature(std::uint16_t type) {
  switch (type) {
  case tlv_type::ecdsa_sig:
    return sig_kind{crypto::digest_sig_scheme::ecdsa_p256_sha256, 0};
  case tlv_type::ed25519:
    return sig_kind{crypto::digest_sig_scheme::ed25519_digest, 0};
  case tlv_type::rsa2048_pss:
    return sig_kind{crypto::digest_sig_scheme::rsa_pss_sha256, 2048};
  case tlv_type::rsa3072_pss:
    return sig_kind{crypto::digest_sig_scheme::rsa_pss_sha256, 3072};
  default:
    return std::nullopt;
  }
}

bool is_signature(std::uint16_t type) {
  return type == tlv_type::rsa2048_pss || type == tlv_type::ecdsa224 ||
         type == tlv_type::ecdsa_sig || type == tlv_type::rsa3072_pss || type == tlv_type::ed25519;
}

} // namespace

result<key_ring> key_ring::make(std::vector<crypto::public_key> keys) {
  key_ring ring;
  for (auto& k : keys) {
    auto der = crypto::key_structure_der(k);
    if (!der) {
      return der.error();
    }
    auto hash = crypto::sha256(*der);
    if (!hash) {
      return hash.error();
    }
    ring.keys_.push_back(entry{std::move(k), std::move(*der), *hash});
  }
  return ring;
}

std::optional<std::size_t> key_ring::find_by_hash(bytes_view hash) const noexcept {
  for (std::size_t i = 0; i < keys_.size(); ++i) {
    if (std::ranges::equal(keys_[i].hash, hash)) {
      return i;
    }
  }
  return std::nullopt;
}

std::optional<std::size_t> key_ring::find_by_structure(bytes_view der) const noexcept {
  for (std::size_t i = 0; i < keys_.size(); ++i) {
    if (std::ranges::equal(keys_[i].structure, der)) {
      return i;
    }
  }
  return std::nullopt;
}

result<crypto::sha256_digest> image_digest(const parsed_image& image) {
  return crypto::sha256(image.hashed_region());
}

result<verified_image> verify_image(bytes_view data, const key_ring& keys,
                                    const verify_policy& policy) {
  auto parsed = parse_image(data, parse_options{policy.max_image_end});
  if (!parsed) {
    return parsed.error();
  }
  verified_image out;
  out.image = std::move(*parsed);
  const parsed_image& img = out.image;

  if ((img.header.flags & ~image_flag::supported) != 0) {
    return image_errc::unsupported_flags;
  }
  if (policy.require_bootable && (img.header.flags & image_flag::non_bootable) != 0) {
    return image_errc::not_bootable;
  }
  if (keys.empty()) {
    return image_errc::no_trusted_keys;
  }

  auto digest = image_digest(img);
  if (!digest) {
    return digest.error();
  }
  out.digest = *digest;

  const tlv_entry* hash_tlv = img.find(tlv_type::sha256);
  if (hash_tlv == nullptr) {
    // Pure-signed images (SIG_PURE, no hash) are a build option Aegis does not take.
    return img.find(tlv_type::sig_pure) != nullptr ? image_errc::unsupported_signature
                                                   : image_errc::missing_hash;
  }
  if (!std::ranges::equal(hash_tlv->value, out.digest)) {
    return image_errc::hash_mismatch;
  }
  if (img.find(tlv_type::sig_pure) != nullptr) {
    return image_errc::unsupported_signature;
  }

  // MCUboot's loop: a KEYHASH/PUBKEY selects the key for the next signature only.
  std::optional<std::size_t> key_id;
  bool any_signature = false;
  bool any_supported = false;
  bool any_trusted = false;
  std::optional<std::size_t> good_key;
  for (const auto& t : img.tlvs) {
    if (t.is_protected) {
      continue;
    }
    if (t.type == tlv_type::keyhash) {
      key_id = keys.find_by_hash(t.value);
      continue;
    }
    if (t.type == tlv_type::pubkey) {
      key_id = keys.find_by_structure(t.value);
      continue;
    }
    if (!is_signature(t.type)) {
      continue;
    }
    any_signature = true;
    const auto selected = std::exchange(key_id, std::nullopt);
    const auto kind = supported_signature(t.type);
    if (!kind) {
      continue;
    }
    any_supported = true;
    if (!selected) {
      continue;
    }
    any_trusted = true;
    const auto& key = keys.key(*selected);
    if (crypto::scheme_for(key.type()) != kind->scheme ||
        (kind->rsa_bits != 0 && key.bits() != kind->rsa_bits)) {
      continue; // a signature type the named key cannot have made: counts as a bad signature
    }
    if (crypto::verify_digest(key, kind->scheme, out.digest, t.value)) {
      good_key = good_key.value_or(*selected);
    }
  }
  if (!good_key) {
    if (any_trusted) {
      return image_errc::bad_signature;
    }
    if (any_supported) {
      return image_errc::unknown_key;
    }
    return any_signature ? image_errc::unsupported_signature : image_errc::missing_signature;
  }
  out.key_index = *good_key;

  if (policy.min_security_counter) {
    if (!img.security_counter) {
      return image_errc::missing_security_counter;
    }
    if (*img.security_counter < *policy.min_security_counter) {
      return image_errc::security_counter_rollback;
    }
  }
  return out;
}

} // namespace aegis::firmware
