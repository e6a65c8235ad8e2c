#pragma once

// The MCUboot image format, byte for byte (docs reference/secure-boot.md §2): a 32-byte
// little-endian header, header padding up to ih_hdr_size, the payload, an optional protected TLV
// area (magic 0x6908, covered by the hash and signature) and the unprotected TLV area (magic
// 0x6907: hash, key id, signatures). Parsing is sans-I/O and total: any byte string gives either
// a parsed_image whose every offset lies inside the input, or an image_errc.

#include "aegis/base/bytes.hpp"
#include "aegis/base/error.hpp"
#include "aegis/firmware/errors.hpp"

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aegis::firmware {

inline constexpr std::uint32_t image_magic = 0x96f3b83d;
inline constexpr std::uint32_t image_magic_v1 = 0x96f3b83c; // legacy; refused
inline constexpr std::size_t image_header_size = 32;
inline constexpr std::uint16_t tlv_info_magic = 0x6907;
inline constexpr std::uint16_t tlv_prot_info_magic = 0x6908;
inline constexpr std::size_t tlv_info_size = 4;
inline constexpr std::size_t tlv_entry_header_size = 4;

// ih_flags bits (bootutil/image.h).
namespace image_flag {
inline constexpr std::uint32_t pic = 0x1;
inline constexpr std::uint32_t encrypted_aes128 = 0x4;
inline constexpr std::uint32_t encrypted_aes256 = 0x8;
inline constexpr std::uint32_t non_bootable = 0x10;
inline constexpr std::uint32_t ram_load = 0x20;
inline constexpr std::uint32_t rom_fixed = 0x100;
inline constexpr std::uint32_t compressed_lzma1 = 0x200;
inline constexpr std::uint32_t compressed_lzma2 = 0x400;
inline constexpr std::uint32_t compressed_arm_thumb = 0x800;
// What Aegis can verify and boot: nothing that needs decryption, decompression or relocation.
inline constexpr std::uint32_t supported = non_bootable | ram_load | rom_fixed;
} // namespace image_flag

// TLV type codes (bootutil/image.h; imgtool's TLV_VALUES agree).
namespace tlv_type {
inline constexpr std::uint16_t keyhash = 0x01;
inline constexpr std::uint16_t pubkey = 0x02;
inline constexpr std::uint16_t sha256 = 0x10;
inline constexpr std::uint16_t sha384 = 0x11;
inline constexpr std::uint16_t sha512 = 0x12;
inline constexpr std::uint16_t rsa2048_pss = 0x20;
inline constexpr std::uint16_t ecdsa224 = 0x21;
inline constexpr std::uint16_t ecdsa_sig = 0x22;
inline constexpr std::uint16_t rsa3072_pss = 0x23;
inline constexpr std::uint16_t ed25519 = 0x24;
inline constexpr std::uint16_t sig_pure = 0x25;
inline constexpr std::uint16_t enc_rsa2048 = 0x30;
inline constexpr std::uint16_t enc_kw = 0x31;
inline constexpr std::uint16_t enc_ec256 = 0x32;
inline constexpr std::uint16_t enc_x25519 = 0x33;
inline constexpr std::uint16_t enc_x25519_sha512 = 0x34;
inline constexpr std::uint16_t dependency = 0x40;
inline constexpr std::uint16_t sec_cnt = 0x50;
inline constexpr std::uint16_t boot_record = 0x60;
inline constexpr std::uint16_t decomp_size = 0x70;
inline constexpr std::uint16_t decomp_sha = 0x71;
inline constexpr std::uint16_t decomp_signature = 0x72;
inline constexpr std::uint16_t comp_dec_size = 0x73;
inline constexpr std::uint16_t uuid_vid = 0x74;
inline constexpr std::uint16_t uuid_cid = 0x75;
// imgtool --custom-tlv range (TLV_VENDOR_RES_MIN..MAX); always written protected.
inline constexpr std::uint16_t vendor_min = 0x00a0;
inline constexpr std::uint16_t vendor_max = 0xfffe;
} // namespace tlv_type

// "SHA256", "SEC_CNT", ... or "VENDOR" for the custom range, "UNKNOWN" otherwise.
std::string_view tlv_name(std::uint16_t type) noexcept;

struct image_version {
  std::uint8_t major = 0;
  std::uint8_t minor = 0;
  std::uint16_t revision = 0;
  std::uint32_t build = 0;

  friend bool operator==(const image_version&, const image_version&) = default;
};

// imgtool's syntax: "major[.minor[.revision[+build]]]", decimal without leading zeros.
result<image_version> parse_version(std::string_view text);
std::string to_string(const image_version& v);
// MCUboot's boot_compare_version: major, minor, revision; the build number only when asked
// (MCUBOOT_VERSION_CMP_USE_BUILD_NUMBER).
std::strong_ordering compare_versions(const image_version& a, const image_version& b,
                                      bool use_build_number = false) noexcept;
// imgtool's `--security-counter auto`: (major << 24) | (minor << 16) | revision.
std::uint32_t security_counter_from_version(const image_version& v) noexcept;

struct image_header {
  std::uint32_t magic = image_magic;
  std::uint32_t load_addr = 0;
  std::uint16_t hdr_size = image_header_size;
  std::uint16_t protect_tlv_size = 0; // includes the 0x6908 info header; 0 when absent
  std::uint32_t img_size = 0;
  std::uint32_t flags = 0;
  image_version version;
  std::uint32_t pad1 = 0;

  friend bool operator==(const image_header&, const image_header&) = default;
};

// Decodes the 32 header bytes as they are; checks nothing but the length.
result<image_header> decode_header(bytes_view data);
std::array<std::uint8_t, image_header_size> encode_header(const image_header& h) noexcept;

struct tlv_entry {
  std::uint16_t type = 0;
  bool is_protected = false;
  std::size_t offset = 0; // of the value, from the start of the image
  bytes_view value;       // points into the parsed input
};

struct image_dependency {
  std::uint8_t image_id = 0;
  image_version min_version;
  friend bool operator==(const image_dependency&, const image_dependency&) = default;
};

struct parse_options {
  // End of the area an image may occupy (slot size minus trailer); 0 = the end of the input.
  std::size_t max_image_end = 0;
};

// A structurally valid image. Views point into the caller's buffer, which must outlive it.
struct parsed_image {
  image_header header;
  bytes_view data;               // [0, image_end)
  std::size_t tlv_offset = 0;    // hdr_size + img_size: start of the TLV areas
  std::size_t protected_end = 0; // tlv_offset + protect_tlv_size: end of the hashed region
  std::size_t image_end = 0;     // end of the unprotected TLV area
  std::vector<tlv_entry> tlvs;   // protected first, each area in file order
  std::optional<std::uint32_t> security_counter;
  std::vector<image_dependency> dependencies;

  // Exactly what MCUboot hashes: header, header padding, payload and the protected TLV area.
  bytes_view hashed_region() const noexcept { return data.first(protected_end); }
  bytes_view payload() const noexcept { return data.subspan(header.hdr_size, header.img_size); }
  const tlv_entry* find(std::uint16_t type) const noexcept;
};

// Enforces the format: magic, header size, that header + payload + TLV areas lie inside the
// input (and inside max_image_end), the 0x6908/0x6907 layout rules with ih_protect_tlv_size,
// every TLV bounded by its own area with no slack, the per-area allow-list (only hash, key,
// signature and encryption TLVs unprotected; only policy TLVs protected; unknown types refused
// in both), fixed lengths per type, and no repeats of single-valued TLVs. Bytes after the
// unprotected area (padding, trailer) are ignored.
result<parsed_image> parse_image(bytes_view data, const parse_options& options = {});

// Appends TLV entries to an area and produces its bytes with the info header in front.
class tlv_area_writer {
public:
  explicit tlv_area_writer(std::uint16_t magic) : magic_(magic) {}
  void add(std::uint16_t type, bytes_view value);
  bool empty() const noexcept { return entries_.empty(); }
  // Size including the 4-byte info header.
  std::size_t size() const noexcept { return tlv_info_size + entries_.size(); }
  // Fails with tlv_area_too_large when the total does not fit it_tlv_tot (u16).
  result<bytes> finish() const;

private:
  std::uint16_t magic_;
  bytes entries_;
};

bytes encode_dependency(const image_dependency& d);

} // namespace aegis::firmware
