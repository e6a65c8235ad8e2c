// Interop in both directions with two independent JWT implementations, run as child processes:
// Debian's python3-jwt (PyJWT, on python3-cryptography) and npm `jose` (tests/node/jwt-tool.mjs).
// Tokens they mint must verify in Aegis, and Aegis tokens must verify in them, for every
// algorithm Aegis supports.

#include "aegis/crypto/jwt.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace aegis::crypto;
namespace fs = std::filesystem;

const std::string source_dir = AEGIS_SOURCE_DIR;
const std::string node_tool = source_dir + "/tests/node/jwt-tool.mjs";
// Explicit path: a `python3` earlier on PATH (pyenv, venv) may lack the Debian packages.
const std::string python = "/usr/bin/python3";
constexpr std::string_view audience = "interop-project";
constexpr std::string_view subject = "device-7";

constexpr std::string_view pyjwt_tool = R"(import json
import sys

import jwt


def main():
    mode = sys.argv[1]
    if mode == "mint":
        alg, key_path, aud, sub, iat = sys.argv[2:7]
        with open(key_path) as f:
            key = f.read()
        iat = int(iat)
        claims = {"iat": iat, "exp": iat + 3600, "aud": aud, "sub": sub, "origin": "pyjwt"}
        print(jwt.encode(claims, key, algorithm=alg, headers={"typ": "JWT"}))
        return 0
    if mode == "verify":
        alg, key_path, aud, token = sys.argv[2:6]
        with open(key_path) as f:
            key = f.read()
        try:
            claims = jwt.decode(token, key, algorithms=[alg], audience=aud,
                                options={"require": ["iat", "exp", "aud"]})
        except jwt.InvalidTokenError as e:
            print("pyjwt refused the token: %s: %s" % (type(e).__name__, e), file=sys.stderr)
            return 1
        header = jwt.get_unverified_header(token)
        print(json.dumps({"header": header, "claims": claims}, sort_keys=True))
        return 0
    return 2


sys.exit(main())
)";

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct process_result {
  int status = -1;
  std::string out;
  std::string err;
};

// ctest runs each test in its own process, several at once: every file is private to one.
const std::string& work_dir() {
  static const std::string dir = [] {
    const fs::path p =
        fs::path(::testing::TempDir()) / ("aegis_jwt_interop_" + std::to_string(getpid()));
    fs::create_directories(p);
    return p.string();
  }();
  return dir;
}

process_result run(const std::vector<std::string>& argv) {
  const std::string err_path = work_dir() + "/stderr.txt";
  std::string cmd;
  for (const auto& arg : argv) {
    cmd += shell_quote(arg) + " ";
  }
  cmd += "2>" + shell_quote(err_path);
  process_result r;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    std::array<char, 4096> buf{};
    std::size_t n = 0;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) {
      r.out.append(buf.data(), n);
    }
    const int raw = pclose(p);
    r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  }
  r.err = read_text(err_path);
  std::remove(err_path.c_str());
  while (!r.out.empty() && (r.out.back() == '\n' || r.out.back() == '\r')) {
    r.out.pop_back();
  }
  return r;
}

std::string alg_name(key_type type) {
  return std::string(jose_name(alg_for(type)));
}

std::string now_seconds() {
  const auto now = std::chrono::system_clock::now();
  return std::to_string(std::chrono::floor<std::chrono::seconds>(now).time_since_epoch().count());
}

struct peer_key {
  private_key key;
  std::string private_pem_path; // PKCS#8
  std::string public_pem_path;  // SubjectPublicKeyInfo
};

class JwtInterop : public ::testing::TestWithParam<key_type> {
protected:
  static void SetUpTestSuite() {
    const std::string& dir = work_dir();
    pyjwt_tool_path_ = dir + "/pyjwt_tool.py";
    std::ofstream(pyjwt_tool_path_) << pyjwt_tool;
    for (auto type : {key_type::ec_p256, key_type::rsa, key_type::ed25519}) {
      auto& slot = keys_[static_cast<std::size_t>(type)];
      slot.key = *private_key::generate(type);
      const std::string stem = dir + "/" + alg_name(type);
      slot.private_pem_path = stem + "_private.pem";
      slot.public_pem_path = stem + "_public.pem";
      std::ofstream(slot.private_pem_path) << *slot.key.to_pem();
      std::ofstream(slot.public_pem_path) << *slot.key.public_part().to_pem();
    }
  }
  static void TearDownTestSuite() {
    std::error_code ignored;
    fs::remove_all(work_dir(), ignored);
  }

  const peer_key& key() const { return keys_[static_cast<std::size_t>(GetParam())]; }
  std::string alg() const { return alg_name(GetParam()); }

  aegis::result<verified_jwt> aegis_verify(const std::string& token) const {
    jwt_policy policy;
    policy.audience = std::string(audience);
    const std::vector<public_key> candidates{key().key.public_part()};
    return jwt_verify(token, candidates, policy, std::chrono::system_clock::now());
  }

  std::string aegis_mint() const {
    jwt_mint_options o;
    o.audience = std::string(audience);
    o.subject = std::string(subject);
    o.issued_at = std::chrono::system_clock::now();
    o.extra_claims_json = R"({"origin":"aegis"})";
    auto token = jwt_mint(key().key, o);
    EXPECT_TRUE(token) << token.error().message();
    return token ? *token : std::string{};
  }

  static process_result pyjwt(const std::vector<std::string>& args) {
    std::vector<std::string> argv{python, pyjwt_tool_path_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  }

  static process_result jose(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"node", node_tool};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  }

  // The Node peer is a required part of the test suite: a missing install is a failure with
  // the fix in the message, never a silent skip.
  static ::testing::AssertionResult jose_installed() {
    const fs::path jose_pkg = fs::path(source_dir) / "tests/node/node_modules/jose/package.json";
    if (fs::exists(jose_pkg)) {
      return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure()
           << jose_pkg.string()
           << " is missing: the npm test clients are not installed. Run scripts/install-deps "
              "(it runs `npm ci` in tests/node).";
  }

  static ::testing::AssertionResult pyjwt_installed() {
    const auto r = run({python, "-c", "import jwt, cryptography"});
    if (r.status == 0) {
      return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure()
           << python << " cannot import jwt/cryptography (" << r.err
           << "): install python3-jwt and python3-cryptography with scripts/install-deps.";
  }

  // What both peers must report for an Aegis token.
  void expect_peer_accepted(const process_result& r, const char* peer) const {
    ASSERT_EQ(r.status, 0) << peer << " refused an Aegis " << alg() << " token: " << r.err;
    const auto doc = nlohmann::json::parse(r.out, nullptr, false);
    ASSERT_FALSE(doc.is_discarded()) << peer << " printed: " << r.out;
    EXPECT_EQ(doc["header"]["alg"], alg());
    EXPECT_EQ(doc["header"]["typ"], "JWT");
    EXPECT_EQ(doc["claims"]["aud"], audience);
    EXPECT_EQ(doc["claims"]["sub"], subject);
    EXPECT_EQ(doc["claims"]["origin"], "aegis");
    EXPECT_EQ(doc["claims"]["exp"].get<std::int64_t>() - doc["claims"]["iat"].get<std::int64_t>(),
              3600);
  }

  void expect_aegis_accepted(const process_result& minted, const char* peer) const {
    ASSERT_EQ(minted.status, 0) << peer << " could not mint: " << minted.err;
    auto v = aegis_verify(minted.out);
    ASSERT_TRUE(v) << "Aegis refused a " << peer << " " << alg() << " token (" << minted.out
                   << "): " << v.error().message();
    EXPECT_EQ(v->alg, alg_for(GetParam()));
    EXPECT_EQ(v->claims.audience, audience);
    EXPECT_EQ(v->claims.subject, subject);
    EXPECT_EQ(v->claims.expires_at - v->claims.issued_at, std::chrono::seconds{3600});
    EXPECT_EQ(nlohmann::json::parse(v->claims.payload_json)["origin"],
              std::string_view(peer) == "pyjwt" ? "pyjwt" : "jose");
  }

  // Flips one payload character: a peer that accepts this is not checking anything.
  static std::string tampered(std::string token) {
    const auto pos = token.find('.') + 3;
    token[pos] = token[pos] == 'A' ? 'B' : 'A';
    return token;
  }

  static inline std::string pyjwt_tool_path_;
  static inline std::array<peer_key, 3> keys_;
};

TEST_P(JwtInterop, PyjwtMintsAegisVerifies) {
  ASSERT_TRUE(pyjwt_installed());
  const auto minted = pyjwt({"mint", alg(), key().private_pem_path, std::string(audience),
                             std::string(subject), now_seconds()});
  expect_aegis_accepted(minted, "pyjwt");
}

TEST_P(JwtInterop, AegisMintsPyjwtVerifies) {
  ASSERT_TRUE(pyjwt_installed());
  const std::string token = aegis_mint();
  expect_peer_accepted(
      pyjwt({"verify", alg(), key().public_pem_path, std::string(audience), token}), "pyjwt");
  const auto refused =
      pyjwt({"verify", alg(), key().public_pem_path, std::string(audience), tampered(token)});
  EXPECT_EQ(refused.status, 1) << "pyjwt accepted a tampered token: " << refused.out;
  const auto wrong_aud = pyjwt({"verify", alg(), key().public_pem_path, "other", token});
  EXPECT_EQ(wrong_aud.status, 1) << "pyjwt accepted the wrong audience: " << wrong_aud.out;
}

TEST_P(JwtInterop, JoseMintsAegisVerifies) {
  ASSERT_TRUE(jose_installed());
  const auto minted = jose({"mint", alg(), key().private_pem_path, std::string(audience),
                            std::string(subject), now_seconds()});
  expect_aegis_accepted(minted, "jose");
}

TEST_P(JwtInterop, AegisMintsJoseVerifies) {
  ASSERT_TRUE(jose_installed());
  const std::string token = aegis_mint();
  expect_peer_accepted(jose({"verify", alg(), key().public_pem_path, std::string(audience), token}),
                       "jose");
  const auto refused =
      jose({"verify", alg(), key().public_pem_path, std::string(audience), tampered(token)});
  EXPECT_EQ(refused.status, 1) << "jose accepted a tampered token: " << refused.out;
  const auto wrong_aud = jose({"verify", alg(), key().public_pem_path, "other", token});
  EXPECT_EQ(wrong_aud.status, 1) << "jose accepted the wrong audience: " << wrong_aud.out;
}

// Peer-minted tokens go through the same refusals as Aegis' own: the wrong key type or a
// tampered payload is caught whoever minted the token.
TEST_P(JwtInterop, PeerTokensStillRefusedWhenTampered) {
  ASSERT_TRUE(pyjwt_installed());
  ASSERT_TRUE(jose_installed());
  for (const auto& minted : {pyjwt({"mint", alg(), key().private_pem_path, std::string(audience),
                                    std::string(subject), now_seconds()}),
                             jose({"mint", alg(), key().private_pem_path, std::string(audience),
                                   std::string(subject), now_seconds()})}) {
    ASSERT_EQ(minted.status, 0) << minted.err;
    EXPECT_EQ(aegis_verify(tampered(minted.out)).error(), jwt_errc::bad_signature);
  }
}

INSTANTIATE_TEST_SUITE_P(Algorithms, JwtInterop,
                         ::testing::Values(key_type::ec_p256, key_type::rsa, key_type::ed25519),
                         [](const auto& test_info) { return alg_name(test_info.param); });

} // namespace
