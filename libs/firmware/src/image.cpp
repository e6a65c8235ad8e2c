#include "aegis/firmware/image.hpp"

#include "le.hpp"

#include <charconv>
#include <limits>

namespace aegis::firmware {
namespace {

enum class area_rule { unprotected_only, protected_only, either };

struct tlv_rule {
  area_rule area;
  std::size_t min_len;
  std::size_t max_len;
  bool single; // may appear at most once in the image
};

// Lengths are the format's: fixed sizes where the type has one, otherwise a bound that keeps a
// crafted length from meaning anything but "refuse". Unknown types have no rule.
std::optional<tlv_rule> rule_for(std::uint16_t type) {
  using enum area_rule;
  switch (type) {
  case tlv_type::keyhash:
    return tlv_rule{unprotected_only, 32, 48, false}; // SHA-256, or SHA-384 for P-384 keys
  case tlv_type::pubkey:
    return tlv_rule{unprotected_only, 1, 1024, false};
  case tlv_type::sha256:
    return tlv_rule{unprotected_only, 32, 32, true};
  case tlv_type::sha384:
    return tlv_rule{unprotected_only, 48, 48, true};
  case tlv_type::sha512:
    return tlv_rule{unprotected_only, 64, 64, true};
  case tlv_type::rsa2048_pss:
    return tlv_rule{unprotected_only, 256, 256, false};
  case tlv_type::ecdsa224:
    return tlv_rule{unprotected_only, 8, 64, false};
  case tlv_type::ecdsa_sig:
    return tlv_rule{unprotected_only, 8, 104, false}; // DER for P-256 (<= 72) or P-384 (<= 104)
  case tlv_type::rsa3072_pss:
    return tlv_rule{unprotected_only, 384, 384, false};
  case tlv_type::ed25519:
    return tlv_rule{unprotected_only, 64, 64, false};
  case tlv_type::sig_pure:
    return tlv_rule{either, 1, 1, true};
  case tlv_type::enc_rsa2048:
  case tlv_type::enc_kw:
  case tlv_type::enc_ec256:
  case tlv_type::enc_x25519:
  case tlv_type::enc_x25519_sha512:
    return tlv_rule{unprotected_only, 1, 512, true};
  case tlv_type::dependency:
    return tlv_rule{protected_only, 12, 12, false};
  case tlv_type::sec_cnt:
    return tlv_rule{protected_only, 4, 4, true};
  case tlv_type::boot_record:
    return tlv_rule{protected_only, 1, 1024, true};
  case tlv_type::decomp_size:
  case tlv_type::comp_dec_size:
    return tlv_rule{protected_only, 4, 4, true};
  case tlv_type::decomp_sha:
    return tlv_rule{protected_only, 32, 64, true};
  case tlv_type::decomp_signature:
    return tlv_rule{protected_only, 8, 512, true};
  case tlv_type::uuid_vid:
  case tlv_type::uuid_cid:
    return tlv_rule{protected_only, 16, 16, true};
  default:
    break;
  }
  if (type >= tlv_type::vendor_min && type <= tlv_type::vendor_max) {
    return tlv_rule{protected_only, 0, 0xffff, false};
  }
  return std::nullopt;
}

result<void> check_entry(const parsed_image& img, std::uint16_t type, bool is_protected,
                         std::size_t len) {
  const auto rule = rule_for(type);
  if (!rule) {
    return image_errc::unknown_tlv;
  }
  if ((rule->area == area_rule::protected_only && !is_protected) ||
      (rule->area == area_rule::unprotected_only && is_protected)) {
    return image_errc::misplaced_tlv;
  }
  if (len < rule->min_len || len > rule->max_len) {
    return image_errc::bad_tlv_length;
  }
  if (type == tlv_type::keyhash && len != 32 && len != 48) {
    return image_errc::bad_tlv_length;
  }
  if (rule->single && img.find(type) != nullptr) {
    return image_errc::duplicate_tlv;
  }
  return ok();
}

// Walks the entries of one area, [begin, end) of data, each bounded by the area itself.
result<void> parse_entries(parsed_image& img, bytes_view data, std::size_t begin, std::size_t end,
                           bool is_protected) {
  std::size_t off = begin;
  while (off < end) {
    if (end - off < tlv_entry_header_size) {
      return image_errc::tlv_entry_out_of_bounds;
    }
    const std::uint16_t type = detail::load_le16(data, off);
    const std::size_t len = detail::load_le16(data, off + 2);
    const std::size_t value_off = off + tlv_entry_header_size;
    if (len > end - value_off) {
      return image_errc::tlv_entry_out_of_bounds;
    }
    if (auto r = check_entry(img, type, is_protected, len); !r) {
      return r.error();
    }
    const bytes_view value = data.subspan(value_off, len);
    img.tlvs.push_back(tlv_entry{type, is_protected, value_off, value});
    if (type == tlv_type::sec_cnt) {
      img.security_counter = detail::load_le32(value, 0);
    } else if (type == tlv_type::dependency) {
      image_dependency dep;
      dep.image_id = value[0];
      dep.min_version.major = value[4];
      dep.min_version.minor = value[5];
      dep.min_version.revision = detail::load_le16(value, 6);
      dep.min_version.build = detail::load_le32(value, 8);
      img.dependencies.push_back(dep);
    }
    off = value_off + len;
  }
  return ok();
}

bool parse_number(std::string_view text, std::uint64_t max, std::uint64_t& out) {
  if (text.empty() || (text.size() > 1 && text[0] == '0') || text.size() > 10) {
    return false;
  }
  std::uint64_t v = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || ptr != text.data() + text.size() || v > max) {
    return false;
  }
  out = v;
  return true;
}

} // namespace

std::string_view tlv_name(std::uint16_t type) noexcept {
  switch (type) {
  case tlv_type::keyhash:
    return "KEYHASH";
  case tlv_type::pubkey:
    return "PUBKEY";
  case tlv_type::sha256:
    return "SHA256";
  case tlv_type::sha384:
    return "SHA384";
  case tlv_type::sha512:
    return "SHA512";
  case tlv_type::rsa2048_pss:
    return "RSA2048_PSS";
  case tlv_type::ecdsa224:
    return "ECDSA224";
  case tlv_type::ecdsa_sig:
    return "ECDSA_SIG";
  case tlv_type::rsa3072_pss:
    return "RSA3072_PSS";
  case tlv_type::ed25519:
    return "ED25519";
  case tlv_type::sig_pure:
    return "SIG_PURE";
  case tlv_type::enc_rsa2048:
    return "ENC_RSA2048";
  case tlv_type::enc_kw:
    return "ENC_KW";
  case tlv_type::enc_ec256:
    return "ENC_EC256";
  case tlv_type::enc_x25519:
    return "ENC_X25519";
  case tlv_type::enc_x25519_sha512:
    return "ENC_X25519_SHA512";
  case tlv_type::dependency:
    return "DEPENDENCY";
  case tlv_type::sec_cnt:
    return "SEC_CNT";
  case tlv_type::boot_record:
    return "BOOT_RECORD";
  case tlv_type::decomp_size:
    return "DECOMP_SIZE";
  case tlv_type::decomp_sha:
    return "DECOMP_SHA";
  case tlv_type::decomp_signature:
    return "DECOMP_SIGNATURE";
  case tlv_type::comp_dec_size:
    return "COMP_DEC_SIZE";
  case tlv_type::uuid_vid:
    return "UUID_VID";
  case tlv_type::uuid_cid:
    return "UUID_CID";
  default:
    break;
  }
  if (type >= tlv_type::vendor_min && type <= tlv_type::vendor_max) {
    return "VENDOR";
  }
  return "UNKNOWN";
}

result<image_version> parse_version(std::string_view text) {
  image_version v;
  std::string_view rest = text;
  std::string_view build_text;
  bool has_build = false;
  if (const auto plus = rest.find('+'); plus != std::string_view::npos) {
    build_text = rest.substr(plus + 1);
    rest = rest.substr(0, plus);
    has_build = true;
  }
  std::string_view parts[3];
  std::size_t count = 0;
  while (true) {
    const auto dot = rest.find('.');
    if (count == 3) {
      return image_errc::bad_version_string;
    }
    parts[count++] = rest.substr(0, dot);
    if (dot == std::string_view::npos) {
      break;
    }
    rest = rest.substr(dot + 1);
  }
  // As in imgtool, "+build" is only allowed after a full major.minor.revision.
  if (has_build && count != 3) {
    return image_errc::bad_version_string;
  }
  std::uint64_t n = 0;
  if (!parse_number(parts[0], 0xff, n)) {
    return image_errc::bad_version_string;
  }
  v.major = static_cast<std::uint8_t>(n);
  if (count > 1) {
    if (!parse_number(parts[1], 0xff, n)) {
      return image_errc::bad_version_string;
    }
    v.minor = static_cast<std::uint8_t>(n);
  }
  if (count > 2) {
    if (!parse_number(parts[2], 0xffff, n)) {
      return image_errc::bad_version_string;
    }
    v.revision = static_cast<std::uint16_t>(n);
  }
  if (has_build) {
    if (!parse_number(build_text, 0xffffffff, n)) {
      return image_errc::bad_version_string;
    }
    v.build = static_cast<std::uint32_t>(n);
  }
  return v;
}

std::string to_string(const image_version& v) {
  return std::to_string(v.major) + "." + std::to_string(v.minor) + "." +
         std::to_string(v.revision) + "+" + std::to_string(v.build);
}

std::strong_ordering compare_versions(const image_version& a, const image_version& b,
                                      bool use_build_number) noexcept {
  if (auto c = a.major <=> b.major; c != 0) {
    return c;
  }
  if (auto c = a.minor <=> b.minor; c != 0) {
    return c;
  }
  if (auto c = a.revision <=> b.revision; c != 0) {
    return c;
  }
  return use_build_number ? a.build <=> b.build : std::strong_ordering::equal;
}

std::uint32_t security_counter_from_version(const image_version& v) noexcept {
  return (static_cast<std::uint32_t>(v.major) << 24) | (static_cast<std::uint32_t>(v.minor) << 16) |
         v.revision;
}

result<image_header> decode_header(bytes_view data) {
  if (data.size() < image_header_size) {
    return image_errc::truncated_header;
  }
  image_header h;
  h.magic = detail::load_le32(data, 0);
  h.load_addr = detail::load_le32(data, 4);
  h.hdr_size = detail::load_le16(data, 8);
  h.protect_tlv_size = detail::load_le16(data, 10);
  h.img_size = detail::load_le32(data, 12);
  h.flags = detail::load_le32(data, 16);
  h.version.major = data[20];
  h.version.minor = data[21];
  h.version.revision = detail::load_le16(data, 22);
  h.version.build = detail::load_le32(data, 24);
  h.pad1 = detail::load_le32(data, 28);
  return h;
}

std::array<std::uint8_t, image_header_size> encode_header(const image_header& h) noexcept {
  std::array<std::uint8_t, image_header_size> out{};
  detail::store_le32(out, 0, h.magic);
  detail::store_le32(out, 4, h.load_addr);
  detail::store_le16(out, 8, h.hdr_size);
  detail::store_le16(out, 10, h.protect_tlv_size);
  detail::store_le32(out, 12, h.img_size);
  detail::store_le32(out, 16, h.flags);
  out[20] = h.version.major;
  out[21] = h.version.minor;
  detail::store_le16(out, 22, h.version.revision);
  detail::store_le32(out, 24, h.version.build);
  detail::store_le32(out, 28, h.pad1);
  return out;
}

const tlv_entry* parsed_image::find(std::uint16_t type) const noexcept {
  for (const auto& t : tlvs) {
    if (t.type == type) {
      return &t;
    }
  }
  return nullptr;
}

result<parsed_image> parse_image(bytes_view data, const parse_options& options) {
  auto header = decode_header(data);
  if (!header) {
    return header.error();
  }
  const image_header& h = *header;
  if (h.magic == 0xffffffff) {
    return image_errc::empty_slot;
  }
  if (h.magic != image_magic) {
    return image_errc::bad_magic;
  }
  if (h.hdr_size < image_header_size) {
    return image_errc::bad_header_size;
  }

  // 64-bit sums: hdr_size + img_size cannot wrap, and every later offset is checked against
  // data.size() before it is used.
  const std::uint64_t size = data.size();
  const std::uint64_t tlv_off = std::uint64_t{h.hdr_size} + h.img_size;
  if (tlv_off > size) {
    return image_errc::truncated_image;
  }
  if (size - tlv_off < tlv_info_size) {
    return image_errc::truncated_tlv_info;
  }

  parsed_image img;
  img.header = h;
  img.tlv_offset = static_cast<std::size_t>(tlv_off);
  std::size_t off = img.tlv_offset;
  std::uint16_t magic = detail::load_le16(data, off);
  if (magic == tlv_prot_info_magic) {
    const std::size_t tot = detail::load_le16(data, off + 2);
    if (tot < tlv_info_size) {
      return image_errc::bad_tlv_area_size;
    }
    if (tot != h.protect_tlv_size) {
      return image_errc::protected_size_mismatch;
    }
    if (tot > data.size() - off) {
      return image_errc::tlv_area_out_of_bounds;
    }
    if (auto r = parse_entries(img, data, off + tlv_info_size, off + tot, true); !r) {
      return r.error();
    }
    off += tot;
    if (data.size() - off < tlv_info_size) {
      return image_errc::truncated_tlv_info;
    }
    magic = detail::load_le16(data, off);
    if (magic != tlv_info_magic) {
      return image_errc::bad_tlv_magic;
    }
  } else if (magic == tlv_info_magic) {
    if (h.protect_tlv_size != 0) {
      return image_errc::protected_size_mismatch;
    }
  } else {
    return image_errc::bad_tlv_magic;
  }
  img.protected_end = off;

  const std::size_t tot = detail::load_le16(data, off + 2);
  if (tot < tlv_info_size) {
    return image_errc::bad_tlv_area_size;
  }
  if (tot > data.size() - off) {
    return image_errc::tlv_area_out_of_bounds;
  }
  if (auto r = parse_entries(img, data, off + tlv_info_size, off + tot, false); !r) {
    return r.error();
  }
  img.image_end = off + tot;
  if (options.max_image_end != 0 && img.image_end > options.max_image_end) {
    return image_errc::image_overlaps_trailer;
  }
  img.data = data.first(img.image_end);
  // The entries' views already point into `data`; nothing refers past image_end.
  return img;
}

void tlv_area_writer::add(std::uint16_t type, bytes_view value) {
  AEGIS_ASSERT(value.size() <= 0xffff);
  const std::size_t at = entries_.size();
  entries_.resize(at + tlv_entry_header_size);
  detail::store_le16(entries_, at, type);
  detail::store_le16(entries_, at + 2, static_cast<std::uint16_t>(value.size()));
  entries_.insert(entries_.end(), value.begin(), value.end());
}

result<bytes> tlv_area_writer::finish() const {
  if (size() > std::numeric_limits<std::uint16_t>::max()) {
    return image_errc::tlv_area_too_large;
  }
  bytes out(tlv_info_size);
  detail::store_le16(out, 0, magic_);
  detail::store_le16(out, 2, static_cast<std::uint16_t>(size()));
  out.insert(out.end(), entries_.begin(), entries_.end());
  return out;
}

bytes encode_dependency(const image_dependency& d) {
  bytes out(12, 0);
  out[0] = d.image_id;
  out[4] = d.min_version.major;
  out[5] = d.min_version.minor;
  detail::store_le16(out, 6, d.min_version.revision);
  detail::store_le32(out, 8, d.min_version.build);
  return out;
}

} // namespace aegis::firmware
