#include "aegis/crypto/aead.hpp"

#include "aegis/crypto/errors.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using namespace aegis;
using namespace aegis::crypto;

bytes hex(std::string_view h) {
  auto b = from_hex(h);
  EXPECT_TRUE(b.has_value()) << h;
  return b.value_or(bytes{});
}

bytes to_vec(const secure_buffer& b) {
  return bytes(b.view().begin(), b.view().end());
}

master_key make_key() {
  auto k = master_key::generate();
  EXPECT_TRUE(k);
  return std::move(*k);
}

TEST(Aead, RoundTripsAnySize) {
  const auto key = make_key();
  const bytes aad = to_bytes("device/42/psk");
  for (std::size_t n : {0u, 1u, 15u, 16u, 17u, 1000u, 70'000u}) {
    auto plain = random_bytes(n);
    ASSERT_TRUE(plain);
    auto sealed = key.seal(*plain, aad);
    ASSERT_TRUE(sealed) << sealed.error().message();
    EXPECT_EQ(sealed->size(), envelope_overhead + n);
    EXPECT_EQ((*sealed)[0], envelope_version);
    auto opened = key.open(*sealed, aad);
    ASSERT_TRUE(opened) << opened.error().message();
    EXPECT_EQ(to_vec(*opened), *plain);
  }
}

TEST(Aead, RefusesWrongAssociatedDataAndWrongKey) {
  const auto key = make_key();
  const auto other = make_key();
  auto sealed = key.seal(to_bytes("secret"), to_bytes("aad-1"));
  ASSERT_TRUE(sealed);
  EXPECT_EQ(key.open(*sealed, to_bytes("aad-2")).error(), aead_errc::decryption_failed);
  EXPECT_EQ(key.open(*sealed, {}).error(), aead_errc::decryption_failed);
  EXPECT_EQ(other.open(*sealed, to_bytes("aad-1")).error(), aead_errc::decryption_failed);
  EXPECT_TRUE(key.open(*sealed, to_bytes("aad-1")));
}

TEST(Aead, RefusesEveryFlippedBit) {
  const auto key = make_key();
  const bytes aad = to_bytes("ctx");
  auto sealed = key.seal(to_bytes("ten bytes!"), aad);
  ASSERT_TRUE(sealed);
  for (std::size_t i = 0; i < sealed->size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      bytes bad = *sealed;
      bad[i] = static_cast<std::uint8_t>(bad[i] ^ (1u << bit));
      auto r = key.open(bad, aad);
      ASSERT_FALSE(r) << "byte " << i << " bit " << bit;
      EXPECT_EQ(r.error(), i == 0 ? aead_errc::bad_envelope : aead_errc::decryption_failed);
    }
  }
}

TEST(Aead, RefusesTruncatedAndExtendedEnvelopes) {
  const auto key = make_key();
  auto sealed = key.seal(to_bytes("some plaintext"), {});
  ASSERT_TRUE(sealed);
  for (std::size_t len = 0; len < sealed->size(); ++len) {
    auto r = key.open(bytes_view(*sealed).first(len), {});
    ASSERT_FALSE(r) << len;
    EXPECT_EQ(r.error(),
              len < envelope_overhead ? aead_errc::bad_envelope : aead_errc::decryption_failed);
  }
  bytes longer = *sealed;
  longer.push_back(0);
  EXPECT_EQ(key.open(longer, {}).error(), aead_errc::decryption_failed);
}

TEST(Aead, RefusesUnknownVersion) {
  const auto key = make_key();
  auto sealed = key.seal(to_bytes("x"), {});
  ASSERT_TRUE(sealed);
  for (int v : {0x00, 0x02, 0xFF}) {
    bytes bad = *sealed;
    bad[0] = static_cast<std::uint8_t>(v);
    EXPECT_EQ(key.open(bad, {}).error(), aead_errc::bad_envelope);
  }
  EXPECT_EQ(key.open(bytes{0x02}, {}).error(), aead_errc::bad_envelope);
}

TEST(Aead, FreshNoncesAndKeysPerSeal) {
  const auto key = make_key();
  const bytes plain = to_bytes("same plaintext");
  auto a = key.seal(plain, {});
  auto b = key.seal(plain, {});
  ASSERT_TRUE(a && b);
  auto wrap_nonce = [](const bytes& e) { return bytes(e.begin() + 1, e.begin() + 13); };
  auto data_nonce = [](const bytes& e) { return bytes(e.begin() + 61, e.begin() + 73); };
  EXPECT_NE(wrap_nonce(*a), wrap_nonce(*b));
  EXPECT_NE(data_nonce(*a), data_nonce(*b));
  EXPECT_NE(bytes(a->begin() + 73, a->end()), bytes(b->begin() + 73, b->end()));
}

TEST(Aead, HalvesOfTwoEnvelopesDoNotMix) {
  const auto key = make_key();
  auto a = key.seal(to_bytes("AAAA"), {});
  auto b = key.seal(to_bytes("BBBB"), {});
  ASSERT_TRUE(a && b);
  bytes mixed(a->begin(), a->begin() + 61);             // a's wrapped key
  mixed.insert(mixed.end(), b->begin() + 61, b->end()); // b's payload
  EXPECT_EQ(key.open(mixed, {}).error(), aead_errc::decryption_failed);
}

TEST(Aead, MasterKeyFromBytesAndDerive) {
  EXPECT_EQ(master_key::from_bytes(bytes(31)).error(), aead_errc::bad_key_size);
  EXPECT_EQ(master_key::from_bytes(bytes(33)).error(), aead_errc::bad_key_size);
  auto key = master_key::from_bytes(bytes(32, 7));
  ASSERT_TRUE(key);
  auto a1 = key->derive("secrets");
  auto a2 = key->derive("secrets");
  auto b = key->derive("state");
  ASSERT_TRUE(a1 && a2 && b);
  EXPECT_EQ(bytes(a1->raw().begin(), a1->raw().end()), bytes(a2->raw().begin(), a2->raw().end()));
  EXPECT_NE(bytes(a1->raw().begin(), a1->raw().end()), bytes(b->raw().begin(), b->raw().end()));
  EXPECT_NE(bytes(a1->raw().begin(), a1->raw().end()), bytes(32, 7));
  auto sealed = a1->seal(to_bytes("x"), {});
  ASSERT_TRUE(sealed);
  EXPECT_TRUE(a2->open(*sealed, {}));
  EXPECT_EQ(b->open(*sealed, {}).error(), aead_errc::decryption_failed);
  EXPECT_EQ(key->open(*sealed, {}).error(), aead_errc::decryption_failed);
}

TEST(Aead, RewrapMovesEnvelopeToNextKey) {
  const auto old_key = make_key();
  const auto next_key = make_key();
  auto sealed = old_key.seal(to_bytes("long-lived secret"), to_bytes("aad"));
  ASSERT_TRUE(sealed);
  auto moved = old_key.rewrap(*sealed, next_key);
  ASSERT_TRUE(moved);
  EXPECT_EQ(bytes(moved->begin() + 61, moved->end()), bytes(sealed->begin() + 61, sealed->end()));
  auto opened = next_key.open(*moved, to_bytes("aad"));
  ASSERT_TRUE(opened);
  EXPECT_EQ(to_vec(*opened), to_bytes("long-lived secret"));
  EXPECT_EQ(old_key.open(*moved, to_bytes("aad")).error(), aead_errc::decryption_failed);
  EXPECT_EQ(next_key.rewrap(*sealed, old_key).error(), aead_errc::decryption_failed);
  EXPECT_EQ(old_key.rewrap(bytes{0x01, 0x02}, next_key).error(), aead_errc::bad_envelope);
}

// McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 13 and 14.
TEST(Aead, Aes256GcmKnownAnswers) {
  const bytes key(32, 0);
  const bytes nonce(12, 0);
  auto empty = aes256gcm_encrypt(key, nonce, {}, {});
  ASSERT_TRUE(empty);
  EXPECT_EQ(to_hex(*empty), "530f8afbc74536b9a963b4f1c4cb738b");
  auto block = aes256gcm_encrypt(key, nonce, bytes(16, 0), {});
  ASSERT_TRUE(block);
  EXPECT_EQ(to_hex(*block), "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919");
  auto plain = aes256gcm_decrypt(key, nonce, *block, {});
  ASSERT_TRUE(plain);
  EXPECT_EQ(*plain, bytes(16, 0));
}

TEST(Aead, Aes256GcmRefusals) {
  const bytes key(32, 1);
  const bytes nonce(12, 2);
  auto ct = aes256gcm_encrypt(key, nonce, to_bytes("hello"), to_bytes("ad"));
  ASSERT_TRUE(ct);
  EXPECT_EQ(aes256gcm_encrypt(bytes(16, 1), nonce, {}, {}).error(), aead_errc::bad_key_size);
  EXPECT_EQ(aes256gcm_encrypt(key, bytes(16, 2), {}, {}).error(), aead_errc::bad_nonce_size);
  EXPECT_EQ(aes256gcm_decrypt(key, bytes(8, 2), *ct, to_bytes("ad")).error(),
            aead_errc::bad_nonce_size);
  EXPECT_EQ(aes256gcm_decrypt(key, nonce, bytes(15), {}).error(), aead_errc::bad_envelope);
  EXPECT_EQ(aes256gcm_decrypt(key, nonce, *ct, to_bytes("AD")).error(),
            aead_errc::decryption_failed);
  bytes bad_tag = *ct;
  bad_tag.back() ^= 0x80;
  EXPECT_EQ(aes256gcm_decrypt(key, nonce, bad_tag, to_bytes("ad")).error(),
            aead_errc::decryption_failed);
  auto ok = aes256gcm_decrypt(key, nonce, *ct, to_bytes("ad"));
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, to_bytes("hello"));
}

// RFC 5869 appendix A.1 (test case 1) and A.3 (test case 3: empty salt and info).
TEST(Hkdf, Rfc5869Sha256) {
  auto okm = hkdf_sha256(hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"),
                         hex("000102030405060708090a0b0c"), hex("f0f1f2f3f4f5f6f7f8f9"), 42);
  ASSERT_TRUE(okm) << okm.error().message();
  EXPECT_EQ(to_hex(okm->view()), "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
                                 "34007208d5b887185865");
  auto okm3 = hkdf_sha256(hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"), {}, {}, 42);
  ASSERT_TRUE(okm3) << okm3.error().message();
  EXPECT_EQ(to_hex(okm3->view()), "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
                                  "9d201395faa4b61a96c8");
}

TEST(Hkdf, OutputLengthLimits) {
  const bytes ikm(32, 3);
  EXPECT_EQ(hkdf_sha256(ikm, {}, {}, 0).error(), aead_errc::kdf_failed);
  EXPECT_EQ(hkdf_sha256(ikm, {}, {}, 255 * 32 + 1).error(), aead_errc::kdf_failed);
  auto max = hkdf_sha256(ikm, {}, {}, 255 * 32);
  ASSERT_TRUE(max);
  EXPECT_EQ(max->size(), 255u * 32u);
  auto short_out = hkdf_sha256(ikm, {}, {}, 10);
  ASSERT_TRUE(short_out);
  // Expand output is a prefix of a longer expand with the same inputs.
  EXPECT_EQ(to_vec(*short_out), bytes(max->view().begin(), max->view().begin() + 10));
}

} // namespace
