#pragma once

// Test support for libs/firmware (private; included by *_test.cpp only): fixture loading, a
// raw image assembler for hand-made malformed images, and an in-memory boot_storage that can
// cut power after its Nth write.

#include "aegis/crypto/digest_signature.hpp"
#include "aegis/crypto/keys.hpp"
#include "aegis/firmware/boot.hpp"
#include "aegis/firmware/image.hpp"
#include "aegis/firmware/sign.hpp"
#include "aegis/firmware/verify.hpp"

#include "le.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace aegis::firmware::testing {

inline std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error("cannot read " + path);
  }
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline std::string fixture_path(const std::string& name) {
  return std::string(AEGIS_SHARED_DIR "/fixtures/mcuboot/") + name;
}

inline bytes fixture(const std::string& name) {
  return to_bytes(read_text_file(fixture_path(name)));
}

inline crypto::public_key fixture_public(const std::string& name) {
  auto k = crypto::public_key::from_pem(read_text_file(fixture_path(name)));
  if (!k) {
    throw std::runtime_error(name + ": " + k.error().message());
  }
  return *k;
}

inline crypto::private_key fixture_private(const std::string& name) {
  auto k = crypto::private_key::from_pem(read_text_file(fixture_path(name)));
  if (!k) {
    throw std::runtime_error(name + ": " + k.error().message());
  }
  return std::move(*k);
}

inline key_ring ring(std::vector<crypto::public_key> keys) {
  auto r = key_ring::make(std::move(keys));
  if (!r) {
    throw std::runtime_error(r.error().message());
  }
  return std::move(*r);
}

inline key_ring fixture_ring(const std::string& pub_name) {
  return ring({fixture_public(pub_name)});
}

struct raw_tlv {
  std::uint16_t type;
  bytes value;
};

// Assembles an image from parts without any of the signer's checks, so tests can build exactly
// the malformed or unusual layouts they need. `fill_sha` replaces the value of a SHA256 entry
// with the digest of the assembled hashed region.
inline bytes assemble(image_header h, bytes_view payload, const std::vector<raw_tlv>& prot,
                      const std::vector<raw_tlv>& unprot, bool fill_sha = true) {
  tlv_area_writer pw(tlv_prot_info_magic);
  for (const auto& t : prot) {
    pw.add(t.type, t.value);
  }
  const bytes prot_bytes = prot.empty() ? bytes{} : *pw.finish();
  h.protect_tlv_size = static_cast<std::uint16_t>(prot_bytes.size());
  h.img_size = static_cast<std::uint32_t>(payload.size());
  bytes out(h.hdr_size, 0);
  const auto enc = encode_header(h);
  std::copy(enc.begin(), enc.end(), out.begin());
  out.insert(out.end(), payload.begin(), payload.end());
  out.insert(out.end(), prot_bytes.begin(), prot_bytes.end());
  const auto digest = *crypto::sha256(out);
  tlv_area_writer uw(tlv_info_magic);
  for (const auto& t : unprot) {
    if (fill_sha && t.type == tlv_type::sha256) {
      uw.add(t.type, digest);
    } else {
      uw.add(t.type, t.value);
    }
  }
  const bytes u = *uw.finish();
  out.insert(out.end(), u.begin(), u.end());
  return out;
}

inline bytes u32_le(std::uint32_t v) {
  bytes b(4);
  detail::store_le32(b, 0, v);
  return b;
}

inline bytes key_hash_of(const crypto::public_key& k) {
  const auto der = *crypto::key_structure_der(k);
  const auto h = *crypto::sha256(der);
  return {h.begin(), h.end()};
}

inline bytes signature_over(const crypto::private_key& k, bytes_view image_prefix) {
  const auto d = *crypto::sha256(image_prefix);
  return *crypto::sign_digest(k, crypto::scheme_for(k.type()), d);
}

inline void store16(bytes& b, std::size_t off, std::uint16_t v) {
  detail::store_le16(b, off, v);
}
inline void store32(bytes& b, std::size_t off, std::uint32_t v) {
  detail::store_le32(b, off, v);
}

// A signed image with a payload of `payload_size` bytes of `fill`, as aegis-image would make it.
inline bytes signed_image(const crypto::private_key& key, image_version version,
                          std::optional<std::uint32_t> counter, std::size_t payload_size,
                          std::uint8_t fill) {
  sign_options o;
  o.pad_header = true;
  o.version = version;
  o.security_counter = counter;
  auto img = sign_image(bytes(payload_size, fill), key, o);
  if (!img) {
    throw std::runtime_error(img.error().message());
  }
  return std::move(*img);
}

// boot_storage in memory with flash semantics and a power switch. cut_power_after(n) lets the
// next n-1 writes/erases through, applies the nth and then fails every later access, as if power
// went right after it; with `torn` the nth is applied only halfway and fails itself.
class memory_storage final : public boot_storage {
public:
  memory_storage(std::size_t slot_size, std::size_t scratch_size) {
    areas_[0].assign(slot_size, 0xff);
    areas_[1].assign(slot_size, 0xff);
    areas_[2].assign(scratch_size, 0xff);
    areas_[3].assign(nv_state_size, 0xff);
  }

  bytes& area(boot_area a) { return areas_[static_cast<std::size_t>(a)]; }
  const bytes& area(boot_area a) const { return areas_[static_cast<std::size_t>(a)]; }

  void cut_power_after(std::size_t n, bool torn = false) {
    cut_at_ = writes_ + n;
    torn_ = torn;
  }
  void restore_power() {
    dead_ = false;
    cut_at_.reset();
  }
  bool power_cut() const noexcept { return dead_; }
  std::size_t writes() const noexcept { return writes_; }

  // Puts bytes in place without counting them, as a programmer or a download would.
  void program(boot_area a, std::size_t offset, bytes_view data) {
    std::copy(data.begin(), data.end(), area(a).begin() + static_cast<long>(offset));
  }

  std::size_t size(boot_area a) const override { return area(a).size(); }

  result<void> read(boot_area a, std::size_t offset, std::span<std::uint8_t> out) override {
    if (dead_) {
      return boot_errc::power_lost;
    }
    const bytes& src = area(a);
    if (offset > src.size() || out.size() > src.size() - offset) {
      return boot_errc::storage_failed;
    }
    std::memcpy(out.data(), src.data() + offset, out.size());
    return ok();
  }

  result<void> write(boot_area a, std::size_t offset, bytes_view data) override {
    return mutate(a, offset, data.size(),
                  [&](std::uint8_t* dst, std::size_t n) { std::memcpy(dst, data.data(), n); });
  }

  result<void> erase(boot_area a, std::size_t offset, std::size_t length) override {
    return mutate(a, offset, length,
                  [](std::uint8_t* dst, std::size_t n) { std::memset(dst, 0xff, n); });
  }

private:
  template <class Apply>
  result<void> mutate(boot_area a, std::size_t offset, std::size_t length, Apply apply) {
    if (dead_) {
      return boot_errc::power_lost;
    }
    bytes& dst = area(a);
    if (offset > dst.size() || length > dst.size() - offset) {
      return boot_errc::storage_failed;
    }
    ++writes_;
    if (cut_at_ && writes_ == *cut_at_) {
      dead_ = true;
      if (torn_) {
        apply(dst.data() + offset, (length + 1) / 2);
        return boot_errc::power_lost;
      }
    }
    apply(dst.data() + offset, length);
    return ok();
  }

  std::array<bytes, 4> areas_;
  std::size_t writes_ = 0;
  std::optional<std::size_t> cut_at_;
  bool torn_ = false;
  bool dead_ = false;
};

} // namespace aegis::firmware::testing
