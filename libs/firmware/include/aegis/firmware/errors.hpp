#pragma once

// Error values of libs/firmware. Every way an image can be refused has its own value, so a
// device log, the audit log and the tests can say exactly why.

#include "aegis/base/error.hpp"

#include <string>
#include <string_view>
#include <system_error>

namespace aegis::firmware {

enum class image_errc {
  // Structure (parse_image).
  truncated_header = 1,    // fewer bytes than the 32-byte header
  empty_slot,              // header magic is erased flash (0xffffffff)
  bad_magic,               // header magic is not IMAGE_MAGIC 0x96f3b83d
  bad_header_size,         // ih_hdr_size smaller than the 32-byte header
  truncated_image,         // header + payload reach past the end of the data
  truncated_tlv_info,      // no room for a TLV info header where one must be
  bad_tlv_magic,           // neither 0x6908 nor 0x6907 where a TLV area must start
  protected_size_mismatch, // ih_protect_tlv_size disagrees with the protected area found
  bad_tlv_area_size,       // it_tlv_tot smaller than its own 4-byte info header
  tlv_area_out_of_bounds,  // a TLV area reaches past the end of the data
  tlv_entry_out_of_bounds, // a TLV's header or value reaches past the end of its area
  unknown_tlv,             // a TLV type Aegis does not know, in either area
  misplaced_tlv,           // a known TLV in the wrong area (e.g. SEC_CNT unprotected)
  bad_tlv_length,          // a TLV's length is wrong for its type
  duplicate_tlv,           // a TLV that may appear once appears again
  image_overlaps_trailer,  // the image reaches into the slot's trailer area
  // Policy and cryptography (verify_image).
  unsupported_flags,         // encrypted, compressed, PIC or unknown ih_flags bits
  missing_hash,              // no SHA256 TLV
  hash_mismatch,             // SHA256 TLV differs from the digest of the image
  missing_signature,         // no signature TLV at all
  unsupported_signature,     // only signature kinds Aegis does not verify (ECDSA224, pure)
  unknown_key,               // no signature names a trusted key
  bad_signature,             // a signature by a trusted key does not verify
  no_trusted_keys,           // the caller gave no keys to verify against
  missing_security_counter,  // a security counter is required and the image has none
  security_counter_rollback, // the image's security counter is below the stored counter
  not_bootable,              // IMAGE_F_NON_BOOTABLE: may be verified, never booted
  // Building (sign_image).
  bad_version_string, // not "major[.minor[.revision[+build]]]" in range
  bad_header_padding, // payload does not start with header_size zero bytes (no --pad-header)
  tlv_area_too_large, // a TLV area over 64 KiB
  image_too_large,    // image + trailer larger than the slot, or over 4 GiB
  bad_layout,         // slot size, alignment or sector count outside what the format allows
};
std::string_view describe(image_errc e) noexcept;
// The enumerator's name ("hash_mismatch"): stable, for logs, audit records and scripts.
std::string_view code_name(image_errc e) noexcept;

enum class boot_errc {
  storage_failed = 1,  // a read, write or erase of the slot/state storage failed
  power_lost,          // the storage double cut power (tests only)
  state_corrupt,       // neither copy of the non-volatile state is valid, and it is not erased
  bad_geometry,        // slot sizes, sector size or scratch size cannot work together
  bad_trailer,         // the primary trailer's magic is corrupt (confirm refused)
  upgrade_in_progress, // confirm while an interrupted upgrade is still recorded
  no_image,            // request or confirm without an image in the slot
};
std::string_view describe(boot_errc e) noexcept;
std::string_view code_name(boot_errc e) noexcept;
// code_name of either enum, or the error_code's message for any other category.
std::string code_name(const std::error_code& ec);

} // namespace aegis::firmware

AEGIS_ERROR_ENUM(aegis::firmware, image_errc, "aegis.firmware.image", describe)
AEGIS_ERROR_ENUM(aegis::firmware, boot_errc, "aegis.firmware.boot", describe)
