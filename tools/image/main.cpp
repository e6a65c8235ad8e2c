// aegis-image: key generation, signing, verification and inspection of MCUboot-format images.
// Command names and options follow MCUboot's imgtool, so existing build scripts carry over.
// Exit status: 0 success, 1 the image (or key) was refused, 2 usage or I/O error.

#include "tool_support.hpp"

#include "aegis/crypto/digest_signature.hpp"
#include "aegis/firmware/errors.hpp"
#include "aegis/firmware/image.hpp"
#include "aegis/firmware/sign.hpp"
#include "aegis/firmware/trailer.hpp"
#include "aegis/firmware/verify.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace {

using namespace aegis;
using namespace aegis::firmware;

constexpr int exit_refused = 1;
constexpr int exit_usage = 2;

int fail(int code, const std::string& what, const std::string& detail) {
  std::cerr << "aegis-image: " << what << ": " << detail << "\n";
  return code;
}

int fail(int code, const std::string& what, const std::error_code& ec) {
  return fail(code, what, tools::error_text(ec));
}

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) {
    return {};
  }
  const auto e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

// imgtool's -d syntax: "(image_id,version)" groups, e.g. "(1,1.2.3+0),(2,0.9)".
std::optional<std::vector<image_dependency>> parse_dependencies(std::string_view text) {
  std::vector<image_dependency> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const char c = text[pos];
    if (c == ' ' || c == ',' || c == ';' || c == '\t') {
      ++pos;
      continue;
    }
    if (c != '(') {
      return std::nullopt;
    }
    const auto close = text.find(')', pos);
    if (close == std::string_view::npos) {
      return std::nullopt;
    }
    const std::string_view inner = text.substr(pos + 1, close - pos - 1);
    const auto comma = inner.find(',');
    if (comma == std::string_view::npos) {
      return std::nullopt;
    }
    const auto id = tools::parse_uint(trim(inner.substr(0, comma)));
    auto version = parse_version(trim(inner.substr(comma + 1)));
    if (!id || *id > 0xff || !version) {
      return std::nullopt;
    }
    out.push_back(image_dependency{static_cast<std::uint8_t>(*id), *version});
    pos = close + 1;
  }
  return out;
}

std::string flag_names(std::uint32_t flags) {
  static const std::pair<std::uint32_t, const char*> names[] = {
      {image_flag::pic, "PIC"},
      {image_flag::encrypted_aes128, "ENCRYPTED_AES128"},
      {image_flag::encrypted_aes256, "ENCRYPTED_AES256"},
      {image_flag::non_bootable, "NON_BOOTABLE"},
      {image_flag::ram_load, "RAM_LOAD"},
      {image_flag::rom_fixed, "ROM_FIXED"},
      {image_flag::compressed_lzma1, "COMPRESSED_LZMA1"},
      {image_flag::compressed_lzma2, "COMPRESSED_LZMA2"},
      {image_flag::compressed_arm_thumb, "COMPRESSED_ARM_THUMB_FLT"}};
  std::string out;
  std::uint32_t known = 0;
  for (const auto& [bit, name] : names) {
    known |= bit;
    if ((flags & bit) != 0) {
      out += out.empty() ? "" : "|";
      out += name;
    }
  }
  if ((flags & ~known) != 0) {
    out += out.empty() ? "" : "|";
    out += "UNKNOWN";
  }
  return out.empty() ? "none" : out;
}

std::string hex32(std::uint64_t v, int width = 8) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%0*llx", width, static_cast<unsigned long long>(v));
  return buf;
}

std::string tlv_value_text(const tlv_entry& t) {
  if (t.type == tlv_type::sec_cnt && t.value.size() == 4) {
    const std::uint32_t v = static_cast<std::uint32_t>(t.value[0]) |
                            (static_cast<std::uint32_t>(t.value[1]) << 8) |
                            (static_cast<std::uint32_t>(t.value[2]) << 16) |
                            (static_cast<std::uint32_t>(t.value[3]) << 24);
    return std::to_string(v);
  }
  if (t.type == tlv_type::dependency && t.value.size() == 12) {
    image_version v{
        t.value[4], t.value[5], static_cast<std::uint16_t>(t.value[6] | (t.value[7] << 8)),
        static_cast<std::uint32_t>(t.value[8]) | (static_cast<std::uint32_t>(t.value[9]) << 8) |
            (static_cast<std::uint32_t>(t.value[10]) << 16) |
            (static_cast<std::uint32_t>(t.value[11]) << 24)};
    return "image " + std::to_string(t.value[0]) + " >= " + to_string(v);
  }
  return to_hex(t.value);
}

struct layout_args {
  std::string slot_size;
  std::string align = "8";
  std::string max_align;
  std::string max_sectors = "128";

  void add_to(CLI::App* cmd, const char* what) {
    cmd->add_option("-S,--slot-size", slot_size, std::string("Slot size: ") + what);
    cmd->add_option("--align", align, "Flash write alignment of the slot's trailer")
        ->capture_default_str();
    cmd->add_option("--max-align", max_align, "BOOT_MAX_ALIGN (default max(8, align))");
    cmd->add_option("-M,--max-sectors", max_sectors, "Sectors the trailer's status covers")
        ->capture_default_str();
  }

  // nullopt layout when no slot size was given; an error message when the values are bad.
  std::optional<std::string> make(std::optional<trailer_layout>& out) const {
    out.reset();
    if (slot_size.empty()) {
      return std::nullopt;
    }
    const auto slot = tools::parse_uint(slot_size);
    const auto a = tools::parse_uint(align);
    const auto ma =
        max_align.empty() ? std::optional<std::uint64_t>(0) : tools::parse_uint(max_align);
    const auto ms = tools::parse_uint(max_sectors);
    if (!slot || !a || !ma || !ms) {
      return "slot size, alignment and sector count must be numbers";
    }
    auto l = trailer_layout::make(*slot, *a, *ma, *ms);
    if (!l) {
      return tools::error_text(l.error());
    }
    out = *l;
    return std::nullopt;
  }
};

// ---- keygen ----

int cmd_keygen(const std::string& type, const std::string& key_path, const std::string& pub_path,
               bool force) {
  result<crypto::private_key> key = crypto::key_errc::unsupported_key_type;
  if (type == "ecdsa-p256") {
    key = crypto::private_key::generate(crypto::key_type::ec_p256);
  } else if (type == "ed25519") {
    key = crypto::private_key::generate(crypto::key_type::ed25519);
  } else if (type == "rsa-2048") {
    key = crypto::private_key::generate(crypto::key_type::rsa, 2048);
  } else if (type == "rsa-3072") {
    key = crypto::private_key::generate(crypto::key_type::rsa, 3072);
  } else {
    return fail(exit_usage, "keygen",
                "unsupported key type '" + type + "' (ecdsa-p256, ed25519, rsa-2048, rsa-3072)");
  }
  if (!key) {
    return fail(exit_usage, "keygen", key.error());
  }
  auto pem = key->to_pem();
  if (!pem) {
    return fail(exit_usage, "keygen", pem.error());
  }
  if (auto w = tools::write_file(key_path, as_bytes(*pem), tools::file_mode::secret, force); !w) {
    return fail(exit_usage, "keygen: " + key_path, w.error());
  }
  if (!pub_path.empty()) {
    auto pub = key->public_part().to_pem();
    if (!pub) {
      return fail(exit_usage, "keygen", pub.error());
    }
    if (auto w = tools::write_file(pub_path, as_bytes(*pub), tools::file_mode::public_file, force);
        !w) {
      return fail(exit_usage, "keygen: " + pub_path, w.error());
    }
  }
  return 0;
}

// ---- getpub ----

int cmd_getpub(const std::string& key_path, const std::string& encoding) {
  auto keys = tools::load_key_ring({key_path});
  if (!keys) {
    return fail(exit_usage, "getpub: " + key_path, keys.error());
  }
  if (encoding == "hash") {
    std::cout << to_hex(keys->key_hash(0)) << "\n";
    return 0;
  }
  auto pem = keys->key(0).to_pem();
  if (!pem) {
    return fail(exit_usage, "getpub", pem.error());
  }
  std::cout << *pem;
  return 0;
}

// ---- sign ----

struct sign_args {
  std::string key;
  std::string version;
  std::string header_size;
  bool pad_header = false;
  std::string security_counter;
  std::vector<std::string> dependencies;
  std::string load_addr;
  std::string rom_fixed;
  std::string erased_val = "0xff";
  std::vector<std::pair<std::string, std::string>> custom_tlvs; // TAG VALUE
  std::string public_key_format = "hash";
  bool non_bootable = false;
  bool pad = false;
  bool confirm = false;
  bool overwrite_only = false;
  layout_args layout;
  std::string infile;
  std::string outfile;
};

int cmd_sign(const sign_args& a) {
  sign_options o;
  auto version = parse_version(a.version);
  if (!version) {
    return fail(exit_usage, "sign", "bad --version '" + a.version + "'");
  }
  o.version = *version;
  const auto header_size = tools::parse_uint(a.header_size);
  if (!header_size || *header_size > 0xffff) {
    return fail(exit_usage, "sign", "bad --header-size '" + a.header_size + "'");
  }
  o.header_size = static_cast<std::uint16_t>(*header_size);
  o.pad_header = a.pad_header;
  if (a.security_counter == "auto") {
    o.security_counter = security_counter_from_version(o.version);
  } else if (!a.security_counter.empty()) {
    const auto c = tools::parse_uint(a.security_counter);
    if (!c || *c > 0xffffffffu) {
      return fail(exit_usage, "sign", "bad --security-counter '" + a.security_counter + "'");
    }
    o.security_counter = static_cast<std::uint32_t>(*c);
  }
  for (const auto& d : a.dependencies) {
    auto deps = parse_dependencies(d);
    if (!deps) {
      return fail(exit_usage, "sign", "bad --dependencies '" + d + "' (want \"(id,version)\")");
    }
    o.dependencies.insert(o.dependencies.end(), deps->begin(), deps->end());
  }
  for (const auto* text : {&a.load_addr, &a.rom_fixed}) {
    if (text->empty()) {
      continue;
    }
    const auto v = tools::parse_uint(*text);
    if (!v || *v > 0xffffffffu) {
      return fail(exit_usage, "sign", "bad address '" + *text + "'");
    }
    (text == &a.load_addr ? o.load_addr : o.rom_fixed) = static_cast<std::uint32_t>(*v);
  }
  const auto erased = tools::parse_uint(a.erased_val);
  if (!erased || (*erased != 0 && *erased != 0xff)) {
    return fail(exit_usage, "sign", "--erased-val must be 0 or 0xff");
  }
  o.erased_val = static_cast<std::uint8_t>(*erased);
  for (const auto& [tag_text, value] : a.custom_tlvs) {
    const auto tag = tools::parse_uint(tag_text);
    if (!tag || *tag < tlv_type::vendor_min || *tag > tlv_type::vendor_max) {
      return fail(exit_usage, "sign", "custom TLV tag '" + tag_text + "' is outside 0xa0..0xfffe");
    }
    bytes v;
    // As imgtool: "0x..." is hex bytes, anything else the UTF-8 text itself.
    if (value.rfind("0x", 0) == 0) {
      auto decoded = from_hex(value.substr(2));
      if (!decoded) {
        return fail(exit_usage, "sign", "custom TLV value '" + value + "' is not even-length hex");
      }
      v = std::move(*decoded);
    } else {
      v = to_bytes(value);
    }
    o.custom_tlvs.emplace_back(static_cast<std::uint16_t>(*tag), std::move(v));
  }
  if (a.public_key_format != "hash" && a.public_key_format != "full") {
    return fail(exit_usage, "sign", "--public-key-format must be hash or full");
  }
  o.public_key_full = a.public_key_format == "full";
  o.non_bootable = a.non_bootable;
  o.pad = a.pad;
  o.confirm = a.confirm;
  o.overwrite_only = a.overwrite_only;
  if (!a.layout.slot_size.empty()) {
    const auto slot = tools::parse_uint(a.layout.slot_size);
    const auto align = tools::parse_uint(a.layout.align);
    const auto max_align = a.layout.max_align.empty() ? std::optional<std::uint64_t>(0)
                                                      : tools::parse_uint(a.layout.max_align);
    const auto max_sectors = tools::parse_uint(a.layout.max_sectors);
    if (!slot || !align || !max_align || !max_sectors) {
      return fail(exit_usage, "sign", "slot size, alignment and sector count must be numbers");
    }
    o.slot_size = *slot;
    o.align = *align;
    o.max_align = *max_align;
    o.max_sectors = *max_sectors;
  } else if (a.pad || a.confirm) {
    return fail(exit_usage, "sign", "--pad and --confirm need --slot-size");
  }

  // imgtool writes Intel HEX for a .hex output name; writing binary under that name would
  // silently produce something else than asked.
  if (a.outfile.size() >= 4 && a.outfile.compare(a.outfile.size() - 4, 4, ".hex") == 0) {
    return fail(exit_usage, "sign", "Intel HEX output is not supported; write a .bin");
  }
  auto key = tools::load_private_key(a.key);
  if (!key) {
    return fail(exit_usage, "sign: " + a.key, key.error());
  }
  auto input = tools::read_file(a.infile);
  if (!input) {
    return fail(exit_usage, "sign: " + a.infile, input.error());
  }
  auto image = sign_image(*input, *key, o);
  if (!image) {
    return fail(exit_refused, "sign", image.error());
  }
  if (auto w = tools::write_file(a.outfile, *image, tools::file_mode::public_file); !w) {
    return fail(exit_usage, "sign: " + a.outfile, w.error());
  }
  return 0;
}

// ---- verify ----

int cmd_verify(const std::vector<std::string>& key_paths, const std::string& image_path,
               const std::string& min_counter, const layout_args& layout) {
  auto keys = tools::load_key_ring(key_paths);
  if (!keys) {
    return fail(exit_usage, "verify: keys", keys.error());
  }
  auto data = tools::read_file(image_path);
  if (!data) {
    return fail(exit_usage, "verify: " + image_path, data.error());
  }
  verify_policy policy;
  if (!min_counter.empty()) {
    const auto c = tools::parse_uint(min_counter);
    if (!c || *c > 0xffffffffu) {
      return fail(exit_usage, "verify", "bad --min-security-counter");
    }
    policy.min_security_counter = static_cast<std::uint32_t>(*c);
  }
  std::optional<trailer_layout> l;
  if (auto err = layout.make(l)) {
    return fail(exit_usage, "verify", *err);
  }
  if (l) {
    if (data->size() > l->slot_size()) {
      return fail(exit_refused, "verify", "image file is larger than the slot");
    }
    policy.max_image_end = l->image_area();
  }
  auto v = verify_image(*data, *keys, policy);
  if (!v) {
    std::cout << "Image verification failed\n";
    return fail(exit_refused, "verify: " + image_path, v.error());
  }
  std::cout << "Image was correctly validated\n"
            << "Image version: " << to_string(v->image.header.version) << "\n"
            << "Image digest: " << to_hex(v->digest) << "\n"
            << "Security counter: "
            << (v->image.security_counter ? std::to_string(*v->image.security_counter) : "none")
            << "\n"
            << "Signed by key: " << v->key_index << " (" << key_paths.at(v->key_index) << ")\n";
  return 0;
}

// ---- dump ----

int cmd_dump(const std::string& image_path, const layout_args& layout) {
  auto data = tools::read_file(image_path);
  if (!data) {
    return fail(exit_usage, "dump: " + image_path, data.error());
  }
  if (auto h = decode_header(*data)) {
    std::cout << "header:\n"
              << "  magic:            " << hex32(h->magic)
              << (h->magic == image_magic ? "" : " (not an MCUboot image)") << "\n"
              << "  load_addr:        " << hex32(h->load_addr) << "\n"
              << "  hdr_size:         " << hex32(h->hdr_size, 4) << "\n"
              << "  protect_tlv_size: " << hex32(h->protect_tlv_size, 4) << "\n"
              << "  img_size:         " << hex32(h->img_size) << "\n"
              << "  flags:            " << hex32(h->flags) << " (" << flag_names(h->flags) << ")\n"
              << "  version:          " << to_string(h->version) << "\n";
  }
  std::optional<trailer_layout> l;
  if (auto err = layout.make(l)) {
    return fail(exit_usage, "dump", *err);
  }
  // A file whose size ends in the trailer magic is taken to be a whole slot.
  if (!l && data->size() >= 64 && data->size() % 8 == 0) {
    auto guess = trailer_layout::make(data->size(), 8);
    if (guess) {
      const auto magic = guess->magic(); // one object: begin() and end() must agree
      if (std::equal(magic.begin(), magic.end(),
                     data->end() - static_cast<long>(boot_magic_size))) {
        l = *guess;
      }
    }
  }
  parse_options po;
  if (l) {
    po.max_image_end = l->image_area();
  }
  auto img = parse_image(*data, po);
  int status = 0;
  if (!img) {
    std::cout << "error: " << tools::error_text(img.error()) << "\n";
    status = exit_refused;
  } else {
    const auto print_area = [&](bool prot) {
      const std::size_t begin = prot ? img->tlv_offset : img->protected_end;
      const std::size_t end = prot ? img->protected_end : img->image_end;
      if (begin == end) {
        return;
      }
      std::cout << (prot ? "protected TLVs" : "unprotected TLVs") << " ("
                << hex32(prot ? tlv_prot_info_magic : tlv_info_magic, 4) << ", " << end - begin
                << " bytes at " << hex32(begin) << "):\n";
      for (const auto& t : img->tlvs) {
        if (t.is_protected == prot) {
          std::cout << "  " << tlv_name(t.type) << " (" << hex32(t.type, 2) << ") len "
                    << t.value.size() << ": " << tlv_value_text(t) << "\n";
        }
      }
    };
    print_area(true);
    print_area(false);
    auto digest = image_digest(*img);
    if (digest) {
      const auto* sha = img->find(tlv_type::sha256);
      const bool matches = sha != nullptr && std::ranges::equal(sha->value, *digest);
      std::cout << "computed SHA-256: " << to_hex(*digest)
                << (sha == nullptr ? " (no SHA256 TLV)"
                    : matches      ? " (matches)"
                                   : " (MISMATCH)")
                << "\n";
    }
    std::cout << "image end: " << hex32(img->image_end) << " of " << hex32(data->size())
              << " bytes\n";
  }
  if (l && data->size() == l->slot_size()) {
    const auto t = decode_trailer(bytes_view(*data).subspan(l->flags_offset()), *l);
    std::cout << "trailer (slot " << hex32(l->slot_size()) << ", max_align " << l->max_align()
              << "): magic " << to_string(t.magic) << ", image_ok " << to_string(t.image_ok)
              << ", copy_done " << to_string(t.copy_done) << ", swap_info " << to_string(t.swap)
              << "\n";
  }
  return status;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"aegis-image: sign, verify and inspect MCUboot-format firmware images"};
  app.require_subcommand(1);

  std::string keygen_type;
  std::string keygen_key;
  std::string keygen_pub;
  bool keygen_force = false;
  auto* keygen = app.add_subcommand("keygen", "Generate a signing key (PKCS#8 PEM, mode 0600)");
  keygen->add_option("-t,--type", keygen_type, "ecdsa-p256, ed25519, rsa-2048 or rsa-3072")
      ->required();
  keygen->add_option("-k,--key", keygen_key, "Private key file to write")->required();
  keygen->add_option("-p,--public", keygen_pub, "Also write the public key here");
  keygen->add_flag("-f,--force", keygen_force, "Overwrite existing files");

  std::string getpub_key;
  std::string getpub_encoding = "pem";
  auto* getpub = app.add_subcommand("getpub", "Print a key's public part (PEM) or its KEYHASH");
  getpub->add_option("-k,--key", getpub_key, "Private or public key file")->required();
  getpub->add_option("-e,--encoding", getpub_encoding, "pem or hash")
      ->check(CLI::IsMember({"pem", "hash"}))
      ->capture_default_str();

  sign_args sa;
  sa.layout.align = "1"; // imgtool's default for sign
  auto* sign = app.add_subcommand("sign", "Sign a binary into an MCUboot image (as imgtool sign)");
  sign->add_option("-k,--key", sa.key, "Private key (ECDSA P-256, Ed25519, RSA 2048/3072)")
      ->required();
  sign->add_option("-v,--version", sa.version, "major[.minor[.revision[+build]]]")->required();
  sign->add_option("-H,--header-size", sa.header_size, "Header size incl. padding, e.g. 0x200")
      ->required();
  sign->add_flag("--pad-header", sa.pad_header, "Prepend header-size erased bytes to the input");
  sign->add_option("-s,--security-counter", sa.security_counter,
                   "SEC_CNT value, or 'auto' for (major<<24)|(minor<<16)|revision");
  sign->add_option("-d,--dependencies", sa.dependencies, "\"(image_id,min_version)\"...");
  sign->add_option("-L,--load-addr", sa.load_addr, "RAM load address (sets RAM_LOAD)");
  sign->add_option("--rom-fixed", sa.rom_fixed, "Flash address the image is built for");
  sign->add_option("-R,--erased-val", sa.erased_val, "Erased flash value: 0 or 0xff")
      ->capture_default_str();
  sign->add_option("--custom-tlv", sa.custom_tlvs,
                   "TAG VALUE: protected vendor TLV (0xa0..); repeatable");
  sign->add_option("--public-key-format", sa.public_key_format, "hash (KEYHASH) or full (PUBKEY)")
      ->capture_default_str();
  sign->add_flag("--non-bootable", sa.non_bootable, "Mark the image non-bootable");
  sign->add_flag("--pad", sa.pad, "Pad to --slot-size and add a trailer (test request)");
  sign->add_flag("--confirm", sa.confirm, "Also set image_ok (permanent request); implies --pad");
  sign->add_flag("--overwrite-only", sa.overwrite_only, "Trailer for overwrite-only loaders");
  sa.layout.add_to(sign, "the image must fit with its trailer");
  sign->add_option("infile", sa.infile, "Binary to sign")->required();
  sign->add_option("outfile", sa.outfile, "Signed image to write (.bin)")->required();

  std::vector<std::string> verify_keys;
  std::string verify_image_path;
  std::string verify_min_counter;
  layout_args verify_layout;
  auto* verify = app.add_subcommand("verify", "Verify an image as MCUboot's bootloader does");
  verify->add_option("-k,--key", verify_keys, "Trusted key (public or private PEM); repeatable")
      ->required();
  verify->add_option("--min-security-counter", verify_min_counter,
                     "Require SEC_CNT >= this (as a device's stored counter)");
  verify_layout.add_to(verify, "the image must end before its trailer");
  verify->add_option("image", verify_image_path, "Image file")->required();

  std::string dump_path;
  layout_args dump_layout;
  auto* dump = app.add_subcommand("dump", "Print header, TLVs and trailer of an image");
  dump_layout.add_to(dump, "decode the trailer of a slot-sized file");
  dump->add_option("image", dump_path, "Image file")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : exit_usage;
  }

  if (keygen->parsed()) {
    return cmd_keygen(keygen_type, keygen_key, keygen_pub, keygen_force);
  }
  if (getpub->parsed()) {
    return cmd_getpub(getpub_key, getpub_encoding);
  }
  if (sign->parsed()) {
    return cmd_sign(sa);
  }
  if (verify->parsed()) {
    return cmd_verify(verify_keys, verify_image_path, verify_min_counter, verify_layout);
  }
  return cmd_dump(dump_path, dump_layout);
}
