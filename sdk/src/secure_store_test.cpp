#include "aegis/device/secure_store.hpp"

#include "aegis/device/errors.hpp"
#include "pkcs11_test_support.hpp"
#include "pkcs11_token.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <random>
#include <sys/stat.h>
#include <sys/wait.h>

#define CRYPTOKI_GNU 1
#include <p11-kit/pkcs11.h>

namespace {

using namespace aegis;
using namespace aegis::device;
using namespace aegis::device::store_testing;
namespace fs = std::filesystem;

bytes read_bytes(const fs::path& p) {
  const std::string s = read_text(p);
  return {s.begin(), s.end()};
}

void write_bytes(const fs::path& p, bytes_view b) {
  write_file(p, as_string_view(b));
}

class SecureStore : public ::testing::Test {
protected:
  void SetUp() override {
    secret_path_ = dir_.path() / "device.secret";
    write_file(secret_path_, std::string(48, 's') + "device secret bytes");
    source_.secret_file = secret_path_;
    path_ = dir_.path() / "store.bin";
  }

  std::unique_ptr<secure_store> open_ok() {
    auto s = secure_store::open(path_, source_);
    EXPECT_TRUE(s) << s.error().message();
    return s ? std::move(*s) : nullptr;
  }

  std::error_code open_error(const fs::path& path) {
    auto s = secure_store::open(path, source_);
    return s ? std::error_code{} : s.error();
  }

  // A store with a few records, closed again; its bytes.
  bytes populated() {
    auto s = open_ok();
    EXPECT_TRUE(s->put("credential/psk", to_bytes("0123456789abcdef")));
    EXPECT_TRUE(s->put("settings/a", to_bytes("AAAA")));
    EXPECT_TRUE(s->put("settings/b", to_bytes("BBBB")));
    return read_bytes(path_);
  }

  temp_dir dir_;
  fs::path secret_path_;
  fs::path path_;
  store_key_source source_;
};

TEST_F(SecureStore, RoundTripsAndPersists) {
  {
    auto s = open_ok();
    ASSERT_TRUE(s);
    EXPECT_FALSE(*s->get("missing"));
    ASSERT_TRUE(s->put("a", to_bytes("one")));
    ASSERT_TRUE(s->put("b/x", bytes{}));
    ASSERT_TRUE(s->put("b/y", bytes(100'000, 0x5a)));
    ASSERT_TRUE(s->put("a", to_bytes("two")));
    ASSERT_TRUE(s->apply({{"c", to_bytes("three")}, {"b/x", std::nullopt}}));
    ASSERT_TRUE(s->erase("not-there"));
    EXPECT_EQ(**s->get("a"), to_bytes("two"));
    EXPECT_EQ(s->names(), (std::vector<std::string>{"a", "b/y", "c"}));
    EXPECT_EQ(s->names("b/"), (std::vector<std::string>{"b/y"}));
  }
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600U);
  // Nothing readable at rest.
  const std::string raw = read_text(path_);
  EXPECT_EQ(raw.find("two"), std::string::npos);
  EXPECT_EQ(raw.find("three"), std::string::npos);

  auto s = open_ok();
  ASSERT_TRUE(s);
  EXPECT_EQ(**s->get("a"), to_bytes("two"));
  EXPECT_EQ(**s->get("b/y"), bytes(100'000, 0x5a));
  EXPECT_EQ(**s->get("c"), to_bytes("three"));
  EXPECT_FALSE(*s->get("b/x"));
  EXPECT_EQ(s->names().size(), 3U);
}

TEST_F(SecureStore, RefusesBadNames) {
  auto s = open_ok();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->put("", to_bytes("x")).error(), store_errc::bad_name);
  EXPECT_EQ(s->put(std::string(257, 'n'), to_bytes("x")).error(), store_errc::bad_name);
  EXPECT_EQ(s->put(std::string("a\0b", 3), to_bytes("x")).error(), store_errc::bad_name);
  EXPECT_EQ(s->get("").error(), store_errc::bad_name);
  EXPECT_EQ(s->apply({{"ok", to_bytes("x")}, {"", std::nullopt}}).error(), store_errc::bad_name);
  EXPECT_FALSE(*s->get("ok")); // the whole change set was refused
  EXPECT_TRUE(s->put(std::string(256, 'n'), to_bytes("x")));
}

TEST_F(SecureStore, WrongSecretIsWrongKeyAndInsecureSecretIsRefused) {
  populated();
  write_file(secret_path_, std::string(64, 'x'));
  EXPECT_EQ(open_error(path_), store_errc::wrong_key);
  write_file(secret_path_, std::string(64, 'x'), 0640);
  EXPECT_EQ(open_error(path_), keystore_errc::insecure_permissions);
  write_file(secret_path_, std::string(31, 'x'));
  EXPECT_EQ(open_error(path_), keystore_errc::unsupported_key);
  fs::remove(secret_path_);
  EXPECT_EQ(open_error(path_), keystore_errc::not_found);
  const auto target = dir_.path() / "real.secret";
  write_file(target, std::string(64, 'x'));
  fs::create_symlink(target, secret_path_);
  EXPECT_EQ(open_error(path_), keystore_errc::insecure_permissions);
}

TEST_F(SecureStore, EveryFlippedBitIsTampering) {
  const bytes original = populated();
  const auto copy = dir_.path() / "copy.bin";
  for (std::size_t i = 0; i < original.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      bytes b = original;
      b[i] = static_cast<std::uint8_t>(b[i] ^ (1U << bit));
      write_bytes(copy, b);
      ASSERT_EQ(open_error(copy), store_errc::tampered) << "byte " << i << " bit " << bit;
    }
  }
  write_bytes(copy, original);
  EXPECT_EQ(open_error(copy), std::error_code{});
}

TEST_F(SecureStore, EveryTruncationAndAnyAppendIsTampering) {
  const bytes original = populated();
  const auto copy = dir_.path() / "copy.bin";
  for (std::size_t n = 0; n < original.size(); ++n) {
    write_bytes(copy, bytes_view(original).first(n));
    ASSERT_EQ(open_error(copy), store_errc::tampered) << "truncated to " << n;
  }
  bytes longer = original;
  longer.push_back(0);
  write_bytes(copy, longer);
  EXPECT_EQ(open_error(copy), store_errc::tampered);
}

TEST_F(SecureStore, RecordsSwappedBetweenNamesOrTakenFromAnotherStoreAreTampering) {
  const bytes original = populated();
  // "settings/a" and "settings/b" have the same size: swap their sealed values in place.
  const std::string raw(original.begin(), original.end());
  const auto a = raw.find("settings/a");
  const auto b = raw.find("settings/b");
  ASSERT_NE(a, std::string::npos);
  ASSERT_NE(b, std::string::npos);
  const std::size_t value_size = 12 + 4 + 4 + 16; // nonce, length, ciphertext, tag
  const std::size_t a_value = a + 10;
  const std::size_t b_value = b + 10;
  bytes swapped = original;
  std::copy_n(original.begin() + static_cast<std::ptrdiff_t>(a_value), value_size,
              swapped.begin() + static_cast<std::ptrdiff_t>(b_value));
  std::copy_n(original.begin() + static_cast<std::ptrdiff_t>(b_value), value_size,
              swapped.begin() + static_cast<std::ptrdiff_t>(a_value));
  ASSERT_NE(swapped, original);
  const auto copy = dir_.path() / "copy.bin";
  write_bytes(copy, swapped);
  EXPECT_EQ(open_error(copy), store_errc::tampered);

  // Another store under the same secret, same names and value sizes: its records don't fit.
  const auto other_path = dir_.path() / "other.bin";
  {
    auto other = secure_store::open(other_path, source_);
    ASSERT_TRUE(other);
    ASSERT_TRUE((*other)->put("credential/psk", to_bytes("fedcba9876543210")));
    ASSERT_TRUE((*other)->put("settings/a", to_bytes("XXXX")));
    ASSERT_TRUE((*other)->put("settings/b", to_bytes("YYYY")));
  }
  const bytes other = read_bytes(other_path);
  ASSERT_EQ(other.size(), original.size());
  bytes mixed = original;
  std::copy_n(other.begin() + static_cast<std::ptrdiff_t>(a_value), value_size,
              mixed.begin() + static_cast<std::ptrdiff_t>(a_value));
  write_bytes(copy, mixed);
  EXPECT_EQ(open_error(copy), store_errc::tampered);
  // Its header (and so its data key) with our body, and the reverse.
  constexpr std::size_t header_size = 118;
  bytes spliced = other;
  std::copy(original.begin() + header_size, original.end(),
            spliced.begin() + static_cast<std::ptrdiff_t>(header_size));
  write_bytes(copy, spliced);
  EXPECT_EQ(open_error(copy), store_errc::tampered);
  // Both intact stores still open.
  EXPECT_EQ(open_error(other_path), std::error_code{});
  EXPECT_EQ(open_error(path_), std::error_code{});
}

TEST_F(SecureStore, StaleTemporaryFilesOfAKilledWriteAreRemoved) {
  populated();
  const auto stale = dir_.path() / "store.bin.tmp.0011223344556677";
  write_file(stale, "half a write");
  auto s = open_ok();
  ASSERT_TRUE(s);
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_EQ(**s->get("settings/a"), to_bytes("AAAA"));
}

// A writer killed with SIGKILL at arbitrary points: the store always reopens, holding the last
// value the writer reported as written or the one it was writing, never anything else.
TEST_F(SecureStore, KilledWriterLeavesOldOrNewContentNeverGarbage) {
  populated();
  std::mt19937 rng(12345);
  std::uint64_t last_seen = 0;
  for (int round = 0; round < 25; ++round) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      auto s = secure_store::open(path_, source_);
      if (!s) {
        ::_exit(2);
      }
      std::uint64_t n = last_seen;
      for (int i = 0; i < 100'000; ++i) {
        ++n;
        // Values of varying length so that a torn write could not look like a whole file.
        const std::string v = std::to_string(n) + std::string(n % 300, '.');
        if (!(*s)->apply(
                {{"counter", to_bytes(v)}, {"blob/" + std::to_string(n % 7), to_bytes(v)}})) {
          ::_exit(3);
        }
        if (::write(fds[1], &n, sizeof n) != static_cast<ssize_t>(sizeof n)) {
          ::_exit(4);
        }
      }
      ::_exit(0);
    }
    ::close(fds[1]);
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 100));
    ::kill(pid, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    std::uint64_t acknowledged = last_seen;
    std::uint64_t n = 0;
    while (::read(fds[0], &n, sizeof n) == static_cast<ssize_t>(sizeof n)) {
      acknowledged = n;
    }
    ::close(fds[0]);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the writer stopped by itself: " << status;

    auto s = secure_store::open(path_, source_);
    ASSERT_TRUE(s) << "round " << round << ": " << s.error().message();
    auto v = (*s)->get("counter");
    ASSERT_TRUE(v);
    std::uint64_t found = 0;
    if (*v) {
      const std::string text(as_string_view(**v));
      found = std::stoull(text.substr(0, text.find('.')));
      EXPECT_EQ(text, std::to_string(found) + std::string(found % 300, '.'));
    }
    EXPECT_TRUE(found == acknowledged || found == acknowledged + 1)
        << "round " << round << ": found " << found << ", writer acknowledged " << acknowledged;
    EXPECT_EQ(**(*s)->get("settings/a"), to_bytes("AAAA"));
    last_seen = found;
  }
  EXPECT_GT(last_seen, 0U);
}

TEST(SecureStoreToken, WrapsTheDataKeyWithANonExtractableTokenKey) {
  softhsm_token token;
  AEGIS_REQUIRE_SOFTHSM(token);
  const temp_dir dir;
  const auto path = dir.path() / "store.bin";
  store_key_source source;
  source.token = token.slot();
  {
    auto s = secure_store::open(path, source);
    ASSERT_TRUE(s) << s.error().message();
    ASSERT_TRUE((*s)->put("credential", to_bytes("secret value")));
  }
  {
    auto s = secure_store::open(path, source);
    ASSERT_TRUE(s) << s.error().message();
    EXPECT_EQ(**(*s)->get("credential"), to_bytes("secret value"));

    auto session = detail::pkcs11_token::open(token.slot());
    ASSERT_TRUE(session);
    const auto value = (*session)->private_key_attribute(source.wrapping_key_label, CKA_VALUE);
    EXPECT_EQ(value.rv, CKR_ATTRIBUTE_SENSITIVE);
    EXPECT_TRUE(value.value.empty());
    const auto extractable =
        (*session)->private_key_attribute(source.wrapping_key_label, CKA_EXTRACTABLE);
    ASSERT_EQ(extractable.rv, CKR_OK);
    EXPECT_EQ(extractable.value, bytes{0});
  }

  const bytes original = read_bytes(path);
  const auto copy = dir.path() / "copy.bin";
  for (std::size_t i = 0; i < original.size(); ++i) {
    bytes b = original;
    b[i] ^= 0x80;
    write_bytes(copy, b);
    ASSERT_EQ(secure_store::open(copy, source).error(), store_errc::tampered) << "byte " << i;
  }

  // Another wrapping key, or a secret file instead of the token, does not open it.
  store_key_source other_label;
  other_label.token = token.slot();
  other_label.wrapping_key_label = "another-wrap-key";
  EXPECT_EQ(secure_store::open(path, other_label).error(), store_errc::wrong_key);
  {
    auto session = detail::pkcs11_token::open(token.slot());
    ASSERT_TRUE(session);
    ASSERT_TRUE((*session)->aes_key_id("another-wrap-key", true));
  }
  EXPECT_EQ(secure_store::open(path, other_label).error(), store_errc::wrong_key);
  store_key_source file_source;
  file_source.secret_file = dir.path() / "device.secret";
  write_file(file_source.secret_file, std::string(40, 'k'));
  EXPECT_EQ(secure_store::open(path, file_source).error(), store_errc::wrong_key);
}

} // namespace
