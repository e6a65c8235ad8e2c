#include "aegis/firmware/sign.hpp"

#include "aegis/crypto/digest_signature.hpp"
#include "aegis/firmware/trailer.hpp"

#include "le.hpp"

#include <algorithm>
#include <limits>

namespace aegis::firmware {
namespace {

result<std::uint16_t> signature_tlv_for(const crypto::private_key& key) {
  switch (key.type()) {
  case crypto::key_type::ec_p256:
    return tlv_type::ecdsa_sig;
  case crypto::key_type::ed25519:
    return tlv_type::ed25519;
  case crypto::key_type::rsa:
    if (key.bits() == 2048) {
      return tlv_type::rsa2048_pss;
    }
    if (key.bits() == 3072) {
      return tlv_type::rsa3072_pss;
    }
    break;
  }
  return image_errc::unsupported_signature;
}

} // namespace

result<bytes> sign_image(bytes_view input, const crypto::private_key& key,
                         const sign_options& options) {
  auto sig_type = signature_tlv_for(key);
  if (!sig_type) {
    return sig_type.error();
  }
  if (options.header_size < image_header_size) {
    return image_errc::bad_header_size;
  }
  if (options.load_addr && options.rom_fixed) {
    return image_errc::unsupported_flags; // imgtool: "Can not set rom_fixed and load_addr"
  }

  bytes out;
  if (options.pad_header) {
    out.assign(options.header_size, options.erased_val);
    out.insert(out.end(), input.begin(), input.end());
  } else {
    // imgtool overwrites the start of the input, so it must be reserved (all zero) there.
    if (input.size() < options.header_size ||
        !std::ranges::all_of(input.first(options.header_size),
                             [](std::uint8_t b) { return b == 0; })) {
      return image_errc::bad_header_padding;
    }
    out.assign(input.begin(), input.end());
  }
  const std::size_t img_size = out.size() - options.header_size;
  if (img_size > std::numeric_limits<std::uint32_t>::max()) {
    return image_errc::image_too_large;
  }

  tlv_area_writer prot(tlv_prot_info_magic);
  if (options.security_counter) {
    bytes v(4);
    detail::store_le32(v, 0, *options.security_counter);
    prot.add(tlv_type::sec_cnt, v);
  }
  for (const auto& dep : options.dependencies) {
    prot.add(tlv_type::dependency, encode_dependency(dep));
  }
  for (const auto& [type, value] : options.custom_tlvs) {
    if (type < tlv_type::vendor_min || type > tlv_type::vendor_max || value.size() > 0xffff) {
      return image_errc::unknown_tlv;
    }
    prot.add(type, value);
  }
  bytes prot_bytes;
  if (!prot.empty()) {
    auto finished = prot.finish();
    if (!finished) {
      return finished.error();
    }
    prot_bytes = std::move(*finished);
  }

  image_header h;
  h.hdr_size = options.header_size;
  h.protect_tlv_size = static_cast<std::uint16_t>(prot_bytes.size());
  h.img_size = static_cast<std::uint32_t>(img_size);
  h.version = options.version;
  if (options.load_addr) {
    h.load_addr = *options.load_addr;
    h.flags |= image_flag::ram_load;
  }
  if (options.rom_fixed) {
    h.load_addr = *options.rom_fixed;
    h.flags |= image_flag::rom_fixed;
  }
  if (options.non_bootable) {
    h.flags |= image_flag::non_bootable;
  }
  const auto header = encode_header(h);
  std::ranges::copy(header, out.begin());
  out.insert(out.end(), prot_bytes.begin(), prot_bytes.end());

  // The digest covers everything so far: header, padding, payload, protected TLVs.
  auto digest = crypto::sha256(out);
  if (!digest) {
    return digest.error();
  }
  const auto pub = key.public_part();
  auto key_der = crypto::key_structure_der(pub);
  if (!key_der) {
    return key_der.error();
  }
  auto sig = crypto::sign_digest(key, crypto::scheme_for(key.type()), *digest);
  if (!sig) {
    return sig.error();
  }

  tlv_area_writer unprot(tlv_info_magic);
  unprot.add(tlv_type::sha256, *digest);
  if (options.public_key_full) {
    unprot.add(tlv_type::pubkey, *key_der);
  } else {
    auto key_hash = crypto::sha256(*key_der);
    if (!key_hash) {
      return key_hash.error();
    }
    unprot.add(tlv_type::keyhash, *key_hash);
  }
  unprot.add(*sig_type, *sig);
  auto unprot_bytes = unprot.finish();
  if (!unprot_bytes) {
    return unprot_bytes.error();
  }
  out.insert(out.end(), unprot_bytes->begin(), unprot_bytes->end());

  const bool pad = options.pad || options.confirm;
  if (pad && options.slot_size == 0) {
    return image_errc::bad_layout; // imgtool: --pad needs --slot-size
  }
  if (options.slot_size != 0) {
    auto layout = trailer_layout::make(options.slot_size, options.align, options.max_align,
                                       options.max_sectors, options.overwrite_only);
    if (!layout) {
      return layout.error();
    }
    if (out.size() > layout->image_area()) {
      return image_errc::image_too_large;
    }
    if (pad) {
      out.resize(options.slot_size, options.erased_val);
      // Written directly rather than with encode_trailer so that the rest of the trailer keeps
      // the requested erased value, as imgtool's pad_to does.
      const auto magic = layout->magic();
      std::ranges::copy(magic, out.begin() + static_cast<long>(layout->magic_offset()));
      // imgtool writes image_ok with --confirm except for overwrite-only images.
      if (options.confirm && !options.overwrite_only) {
        out[layout->image_ok_offset()] = flag_set_value;
      }
    }
  }
  return out;
}

} // namespace aegis::firmware
