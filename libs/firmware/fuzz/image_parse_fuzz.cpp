// libFuzzer target for the MCUboot image parser and the other decoders of untrusted bytes in
// libs/firmware (trailer, NV state record). Beyond "no crash", it checks the parser's contract:
// every view it returns lies inside the input, in order.

#include "aegis/crypto/keys.hpp"
#include "aegis/firmware/boot.hpp"
#include "aegis/firmware/image.hpp"
#include "aegis/firmware/trailer.hpp"
#include "aegis/firmware/verify.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>

namespace {

using namespace aegis;
using namespace aegis::firmware;

// The fixture test key (pub-ecdsa-p256.pem), so that seeds signed with it reach the
// signature code.
constexpr const char* fixture_key =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEJ8Qh9cjCgbhfkag4gWIrCK61XO+9\n"
    "TJGw7zrtL1XfogVT/bs2MLHe6UMuEBMF2nt4xDbxJ0GFlyEyrICn181u9w==\n"
    "-----END PUBLIC KEY-----\n";

const key_ring& keys() {
  static const key_ring ring = [] {
    auto k = crypto::public_key::from_pem(fixture_key);
    if (!k) {
      std::abort();
    }
    auto r = key_ring::make({*k});
    if (!r) {
      std::abort();
    }
    return std::move(*r);
  }();
  return ring;
}

void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

void check_parsed(const parsed_image& img, bytes_view in) {
  check(img.data.data() == in.data());
  check(img.tlv_offset <= img.protected_end && img.protected_end <= img.image_end);
  check(img.image_end <= in.size() && img.data.size() == img.image_end);
  check(std::size_t{img.header.hdr_size} + img.header.img_size == img.tlv_offset);
  for (const auto& t : img.tlvs) {
    check(t.value.data() == in.data() + t.offset);
    check(t.offset + t.value.size() <= (t.is_protected ? img.protected_end : img.image_end));
    check(t.offset >= img.tlv_offset);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const bytes_view in(data, size);

  if (auto img = parse_image(in)) {
    check_parsed(*img, in);
    // A bound at or beyond the image end never changes the verdict; below it, it must refuse.
    check(static_cast<bool>(parse_image(in, parse_options{img->image_end})));
    if (img->image_end > 1) {
      check(parse_image(in, parse_options{img->image_end - 1}).error() ==
            image_errc::image_overlaps_trailer);
    }
  }
  (void)verify_image(in, keys());
  verify_policy policy;
  policy.min_security_counter = 5;
  policy.require_bootable = true;
  (void)verify_image(in, keys(), policy);

  // Treat the input's tail as a slot trailer and its head as an NV state record.
  if (auto layout = trailer_layout::make(0x2000, 8); layout && size >= layout->flags_size()) {
    const auto t = decode_trailer(in.last(layout->flags_size()), *layout);
    (void)decide_swap_type(t, t, true);
  }
  if (size >= nv_record_size) {
    if (auto nv = decode_nv_record(in.first(nv_record_size))) {
      check(encode_nv_record(*nv) == bytes(in.begin(), in.begin() + nv_record_size));
    }
  }
  return 0;
}
