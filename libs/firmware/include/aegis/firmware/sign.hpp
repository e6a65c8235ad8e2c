#pragma once

// Building signed images the way MCUboot's imgtool `sign` does, so that each produces what the
// other verifies: same header, same TLV order (protected: SEC_CNT, DEPENDENCY..., custom;
// unprotected: SHA256, KEYHASH or PUBKEY, signature), same padding and trailer. Ed25519 output
// is byte-identical to imgtool's; ECDSA and RSA-PSS differ only in their random signature bytes.

#include "aegis/base/bytes.hpp"
#include "aegis/base/error.hpp"
#include "aegis/crypto/keys.hpp"
#include "aegis/firmware/errors.hpp"
#include "aegis/firmware/image.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace aegis::firmware {

struct sign_options {
  // imgtool -H: header size including padding; the payload starts here.
  std::uint16_t header_size = image_header_size;
  // imgtool --pad-header: prepend header_size erased bytes. Without it the input must already
  // start with header_size zero bytes, which the header overwrites.
  bool pad_header = false;
  image_version version; // -v
  // -s N (SEC_CNT, protected). imgtool's "auto" is security_counter_from_version(version).
  std::optional<std::uint32_t> security_counter;
  std::vector<image_dependency> dependencies; // -d
  std::optional<std::uint32_t> load_addr;     // -L: RAM load address, sets IMAGE_F_RAM_LOAD
  std::optional<std::uint32_t> rom_fixed;     // --rom-fixed: sets IMAGE_F_ROM_FIXED
  bool non_bootable = false;                  // --non-bootable
  // --custom-tlv: vendor types 0x00a0..0xfffe, written protected in the order given.
  std::vector<std::pair<std::uint16_t, bytes>> custom_tlvs;
  // --public-key-format full: embed the key (PUBKEY) instead of its hash (KEYHASH).
  bool public_key_full = false;
  std::uint8_t erased_val = 0xff; // -R

  // Trailer: --pad writes the image trailer at the end of a slot_size image (magic only: a
  // test request); --confirm also sets image_ok (a permanent request) and implies --pad.
  bool pad = false;
  bool confirm = false;
  std::size_t slot_size = 0; // -S; when set the image must fit with its trailer even unpadded
  std::size_t align = 1;     // --align (flash write size), as imgtool's default
  std::size_t max_align = 0; // --max-align; 0 = max(8, align)
  std::size_t max_sectors = 128;
  bool overwrite_only = false;
};

result<bytes> sign_image(bytes_view input, const crypto::private_key& key,
                         const sign_options& options);

} // namespace aegis::firmware
