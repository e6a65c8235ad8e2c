#include "aegis/firmware/errors.hpp"

namespace aegis::firmware {

std::string_view describe(image_errc e) noexcept {
  switch (e) {
  case image_errc::truncated_header:
    return "image is shorter than its 32-byte header";
  case image_errc::empty_slot:
    return "slot is empty (erased header)";
  case image_errc::bad_magic:
    return "image header magic is not 0x96f3b83d";
  case image_errc::bad_header_size:
    return "image header size is smaller than 32 bytes";
  case image_errc::truncated_image:
    return "image payload reaches past the end of the data";
  case image_errc::truncated_tlv_info:
    return "no room for the TLV info header";
  case image_errc::bad_tlv_magic:
    return "TLV area does not start with magic 0x6907 or 0x6908";
  case image_errc::protected_size_mismatch:
    return "protected TLV size in the header disagrees with the protected TLV area";
  case image_errc::bad_tlv_area_size:
    return "TLV area total is smaller than its info header";
  case image_errc::tlv_area_out_of_bounds:
    return "TLV area reaches past the end of the data";
  case image_errc::tlv_entry_out_of_bounds:
    return "TLV entry reaches past the end of its area";
  case image_errc::unknown_tlv:
    return "unknown TLV type";
  case image_errc::misplaced_tlv:
    return "TLV type not allowed in this area (protected/unprotected)";
  case image_errc::bad_tlv_length:
    return "TLV length is wrong for its type";
  case image_errc::duplicate_tlv:
    return "TLV that may appear once appears twice";
  case image_errc::image_overlaps_trailer:
    return "image reaches into the slot trailer";
  case image_errc::unsupported_flags:
    return "image flags ask for something Aegis does not support (encryption, compression, PIC)";
  case image_errc::missing_hash:
    return "image has no SHA256 TLV";
  case image_errc::hash_mismatch:
    return "image SHA-256 does not match (payload, header or protected TLVs changed)";
  case image_errc::missing_signature:
    return "image has no signature";
  case image_errc::unsupported_signature:
    return "image is signed only with unsupported signature types";
  case image_errc::unknown_key:
    return "image is not signed by a trusted key";
  case image_errc::bad_signature:
    return "image signature does not verify";
  case image_errc::no_trusted_keys:
    return "no trusted keys to verify against";
  case image_errc::missing_security_counter:
    return "image has no security counter and one is required";
  case image_errc::security_counter_rollback:
    return "image security counter is lower than the stored counter (rollback)";
  case image_errc::not_bootable:
    return "image is marked non-bootable";
  case image_errc::bad_version_string:
    return "version is not major[.minor[.revision[+build]]] within range";
  case image_errc::bad_header_padding:
    return "input does not start with header-size zero bytes (use --pad-header)";
  case image_errc::tlv_area_too_large:
    return "TLV area larger than 64 KiB";
  case image_errc::image_too_large:
    return "image and trailer do not fit in the slot";
  case image_errc::bad_layout:
    return "invalid slot size, alignment or sector count";
  }
  return "unknown image error";
}

std::string_view describe(boot_errc e) noexcept {
  switch (e) {
  case boot_errc::storage_failed:
    return "slot or state storage failed";
  case boot_errc::power_lost:
    return "power lost";
  case boot_errc::state_corrupt:
    return "non-volatile boot state is corrupt";
  case boot_errc::bad_geometry:
    return "slot, sector or scratch sizes are inconsistent";
  case boot_errc::bad_trailer:
    return "primary slot trailer is corrupt";
  case boot_errc::upgrade_in_progress:
    return "an interrupted upgrade is still recorded; boot first";
  case boot_errc::no_image:
    return "no image in the slot";
  }
  return "unknown boot error";
}

std::string_view code_name(image_errc e) noexcept {
  switch (e) {
  case image_errc::truncated_header:
    return "truncated_header";
  case image_errc::empty_slot:
    return "empty_slot";
  case image_errc::bad_magic:
    return "bad_magic";
  case image_errc::bad_header_size:
    return "bad_header_size";
  case image_errc::truncated_image:
    return "truncated_image";
  case image_errc::truncated_tlv_info:
    return "truncated_tlv_info";
  case image_errc::bad_tlv_magic:
    return "bad_tlv_magic";
  case image_errc::protected_size_mismatch:
    return "protected_size_mismatch";
  case image_errc::bad_tlv_area_size:
    return "bad_tlv_area_size";
  case image_errc::tlv_area_out_of_bounds:
    return "tlv_area_out_of_bounds";
  case image_errc::tlv_entry_out_of_bounds:
    return "tlv_entry_out_of_bounds";
  case image_errc::unknown_tlv:
    return "unknown_tlv";
  case image_errc::misplaced_tlv:
    return "misplaced_tlv";
  case image_errc::bad_tlv_length:
    return "bad_tlv_length";
  case image_errc::duplicate_tlv:
    return "duplicate_tlv";
  case image_errc::image_overlaps_trailer:
    return "image_overlaps_trailer";
  case image_errc::unsupported_flags:
    return "unsupported_flags";
  case image_errc::missing_hash:
    return "missing_hash";
  case image_errc::hash_mismatch:
    return "hash_mismatch";
  case image_errc::missing_signature:
    return "missing_signature";
  case image_errc::unsupported_signature:
    return "unsupported_signature";
  case image_errc::unknown_key:
    return "unknown_key";
  case image_errc::bad_signature:
    return "bad_signature";
  case image_errc::no_trusted_keys:
    return "no_trusted_keys";
  case image_errc::missing_security_counter:
    return "missing_security_counter";
  case image_errc::security_counter_rollback:
    return "security_counter_rollback";
  case image_errc::not_bootable:
    return "not_bootable";
  case image_errc::bad_version_string:
    return "bad_version_string";
  case image_errc::bad_header_padding:
    return "bad_header_padding";
  case image_errc::tlv_area_too_large:
    return "tlv_area_too_large";
  case image_errc::image_too_large:
    return "image_too_large";
  case image_errc::bad_layout:
    return "bad_layout";
  }
  return "unknown";
}

std::string_view code_name(boot_errc e) noexcept {
  switch (e) {
  case boot_errc::storage_failed:
    return "storage_failed";
  case boot_errc::power_lost:
    return "power_lost";
  case boot_errc::state_corrupt:
    return "state_corrupt";
  case boot_errc::bad_geometry:
    return "bad_geometry";
  case boot_errc::bad_trailer:
    return "bad_trailer";
  case boot_errc::upgrade_in_progress:
    return "upgrade_in_progress";
  case boot_errc::no_image:
    return "no_image";
  }
  return "unknown";
}

std::string code_name(const std::error_code& ec) {
  if (ec.category() == category_of<image_errc>()) {
    return std::string(code_name(static_cast<image_errc>(ec.value())));
  }
  if (ec.category() == category_of<boot_errc>()) {
    return std::string(code_name(static_cast<boot_errc>(ec.value())));
  }
  return ec.message();
}

} // namespace aegis::firmware
