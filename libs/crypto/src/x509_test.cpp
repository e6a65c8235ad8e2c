#include "aegis/crypto/x509.hpp"

#include "aegis/crypto/errors.hpp"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace {

using namespace aegis;
using namespace aegis::crypto;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr std::string_view device_uri_7 =
    "aegis:projects/p1/locations/l1/registries/r1/devices/device-7";

struct run_result {
  int status = -1;
  std::string output; // stdout and stderr
};

run_result run(const std::string& cmd) {
  run_result r;
  if (FILE* p = popen((cmd + " 2>&1").c_str(), "r")) {
    char buf[4096];
    std::size_t n = 0;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) {
      r.output.append(buf, n);
    }
    const int st = pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  return r;
}

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

std::string normalize_hex(std::string s) {
  s.erase(std::remove_if(s.begin(), s.end(),
                         [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) == 0; }),
          s.end());
  std::transform(s.begin(), s.end(), s.begin(), [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  });
  const auto first = s.find_first_not_of('0');
  return first == std::string::npos ? "0" : s.substr(first);
}

std::string pem_of(const certificate& c) {
  auto pem = c.to_pem();
  EXPECT_TRUE(pem);
  return pem ? *pem : std::string();
}

// DER body of a PEM block, and back.
bytes pem_body(const std::string& pem) {
  std::istringstream in(pem);
  std::string line;
  std::string b64;
  while (std::getline(in, line)) {
    if (line.rfind("-----", 0) != 0) {
      b64 += line;
    }
  }
  return base64_decode(b64).value_or(bytes{});
}

std::string to_pem_block(const bytes& der, std::string_view label) {
  const std::string b64 = base64_encode(der);
  std::string out = "-----BEGIN " + std::string(label) + "-----\n";
  for (std::size_t i = 0; i < b64.size(); i += 64) {
    out += b64.substr(i, 64) + "\n";
  }
  return out + "-----END " + std::string(label) + "-----\n";
}

class X509Test : public ::testing::Test {
protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           ("aegis-x509-" + std::string(info->name()) + "-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto ca = certificate_authority::create("Aegis Test CA", 24h * 3650, now_);
    ASSERT_TRUE(ca) << ca.error().message();
    ca_.emplace(std::move(*ca));
    ASSERT_TRUE(store_.add_anchor(ca_->cert()));
    ca_pem_ = write("ca.pem", pem_of(ca_->cert()));
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& content) {
    const auto path = dir_ / name;
    std::ofstream(path, std::ios::binary) << content;
    return path.string();
  }
  std::string read(const std::string& name) {
    std::ifstream in(dir_ / name, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  certificate device_cert(const certificate_authority& ca, std::string id, std::string uri = {},
                          std::chrono::seconds validity = 24h * 365) {
    auto key = private_key::generate(key_type::ec_p256);
    EXPECT_TRUE(key);
    auto csr = certificate_request::create(*key, "ignored");
    EXPECT_TRUE(csr);
    device_cert_request req{std::move(id), std::move(uri), validity};
    auto cert = ca.sign_device_csr(*csr, req, now_);
    EXPECT_TRUE(cert) << cert.error().message();
    return cert ? *cert : certificate{};
  }
  certificate device_cert(std::string id, std::string uri = {}) {
    return device_cert(*ca_, std::move(id), std::move(uri));
  }

  certificate server_cert() {
    auto key = private_key::generate(key_type::ec_p256);
    EXPECT_TRUE(key);
    server_cert_request req{{"localhost"}, {"127.0.0.1", "::1"}};
    auto cert = ca_->issue_server_certificate(key->public_part(), req, now_);
    EXPECT_TRUE(cert) << cert.error().message();
    return cert ? *cert : certificate{};
  }

  // A leaf issued by `openssl x509 -req` with our CA's key, as an operator's tooling would.
  certificate openssl_issued(const std::string& subject, const std::string& extensions,
                             const std::string& extra_args = {}) {
    auto key_pem = ca_->key().to_pem();
    EXPECT_TRUE(key_pem);
    const auto ca_key = write("ca.key", *key_pem);
    const auto ext = write("leaf.ext", extensions + "\n");
    auto r = run("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " +
                 path("leaf.key") + " -out " + path("leaf.csr") + " -subj '" + subject + "'");
    EXPECT_EQ(r.status, 0) << r.output;
    r = run("openssl x509 -req -in " + path("leaf.csr") + " -CA " + ca_pem_ + " -CAkey " + ca_key +
            " -set_serial 0x4242 -days 30 -extfile " + ext + " " + extra_args + " -out " +
            path("leaf.pem"));
    EXPECT_EQ(r.status, 0) << r.output;
    auto cert = certificate::from_pem(read("leaf.pem"));
    EXPECT_TRUE(cert);
    settle_after_openssl();
    return cert ? *cert : certificate{};
  }

  // openssl stamps notBefore with the real clock, possibly a second past now_: move now_ on.
  void settle_after_openssl() { now_ = std::chrono::system_clock::now() + 1min; }

  run_result openssl_verify(const certificate& leaf, const std::string& args = {}) {
    const auto leaf_path = write("verify-leaf.pem", pem_of(leaf));
    return run("openssl verify -CAfile " + ca_pem_ + " " + args + " " + leaf_path);
  }

  fs::path dir_;
  wall_time now_ = std::chrono::system_clock::now();
  std::optional<certificate_authority> ca_;
  trust_store store_;
  std::string ca_pem_;
};

// ---- the CA ----

TEST_F(X509Test, CaIsSelfSignedP256WithCaExtensions) {
  const auto& ca = ca_->cert();
  EXPECT_TRUE(ca.is_ca());
  EXPECT_EQ(ca.subject_cn(), "Aegis Test CA");
  EXPECT_EQ(ca.issuer_cn(), "Aegis Test CA");
  EXPECT_EQ(ca.subject_public_key().type(), key_type::ec_p256);
  EXPECT_EQ(ca_->key().type(), key_type::ec_p256);
  EXPECT_TRUE(ca.subject_public_key() == ca_->key().public_part());

  auto text = run("openssl x509 -noout -text -in " + ca_pem_);
  ASSERT_EQ(text.status, 0) << text.output;
  EXPECT_TRUE(contains(text.output, "X509v3 Basic Constraints: critical")) << text.output;
  EXPECT_TRUE(contains(text.output, "CA:TRUE, pathlen:0"));
  EXPECT_TRUE(contains(text.output, "X509v3 Key Usage: critical"));
  EXPECT_TRUE(contains(text.output, "Certificate Sign, CRL Sign"));
  EXPECT_TRUE(contains(text.output, "X509v3 Subject Key Identifier"));
  EXPECT_TRUE(contains(text.output, "X509v3 Authority Key Identifier"));
  EXPECT_TRUE(contains(text.output, "ASN1 OID: prime256v1"));
  EXPECT_TRUE(contains(text.output, "ecdsa-with-SHA256"));

  auto self = run("openssl verify -x509_strict -CAfile " + ca_pem_ + " " + ca_pem_);
  EXPECT_EQ(self.status, 0) << self.output;
}

TEST_F(X509Test, CaCreateRefusesBadInput) {
  EXPECT_EQ(certificate_authority::create("", 24h, now_).error(), x509_errc::bad_request);
  EXPECT_EQ(certificate_authority::create(std::string(65, 'a'), 24h, now_).error(),
            x509_errc::bad_request);
  EXPECT_EQ(certificate_authority::create("ok", 0s, now_).error(), x509_errc::bad_request);
  EXPECT_EQ(certificate_authority::create("ok", -1s, now_).error(), x509_errc::bad_request);
  EXPECT_EQ(certificate_authority::create("ok", 24h * 366 * 101, now_).error(),
            x509_errc::bad_request);
}

TEST_F(X509Test, SerialsAre128BitRandomAndMatchOpenssl) {
  std::vector<std::string> serials;
  for (int i = 0; i < 16; ++i) {
    serials.push_back(device_cert("device-" + std::to_string(i)).serial_hex());
  }
  std::sort(serials.begin(), serials.end());
  EXPECT_EQ(std::unique(serials.begin(), serials.end()), serials.end());
  for (const auto& s : serials) {
    // At most 128 bits; fewer than 24 hex digits has probability 2^-32 per serial.
    EXPECT_LE(s.size(), 32u) << s;
    EXPECT_GE(s.size(), 24u) << s;
    EXPECT_EQ(s.find('-'), std::string::npos);
  }
  auto cert = device_cert("device-x");
  const auto p = write("serial.pem", pem_of(cert));
  auto out = run("openssl x509 -noout -serial -in " + p);
  ASSERT_EQ(out.status, 0);
  EXPECT_EQ(normalize_hex(out.output.substr(out.output.find('=') + 1)), cert.serial_hex());
}

// ---- server certificates ----

TEST_F(X509Test, ServerCertificatePassesOpensslVerify) {
  auto cert = server_cert();
  EXPECT_EQ(cert.subject_cn(), "localhost");
  EXPECT_EQ(cert.issuer_cn(), "Aegis Test CA");
  EXPECT_EQ(cert.dns_names(), std::vector<std::string>{"localhost"});
  EXPECT_EQ(cert.ip_addresses(), (std::vector<std::string>{"127.0.0.1", "::1"}));
  EXPECT_FALSE(cert.is_ca());

  auto ok = openssl_verify(cert, "-purpose sslserver -verify_hostname localhost");
  EXPECT_EQ(ok.status, 0) << ok.output;
  EXPECT_TRUE(contains(ok.output, ": OK"));
  EXPECT_EQ(openssl_verify(cert, "-purpose sslserver -verify_ip 127.0.0.1").status, 0);
  EXPECT_EQ(openssl_verify(cert, "-purpose sslserver -verify_ip ::1").status, 0);
  // The checks above can fail: the wrong host, address or purpose is refused.
  EXPECT_NE(openssl_verify(cert, "-purpose sslserver -verify_hostname example.com").status, 0);
  EXPECT_NE(openssl_verify(cert, "-purpose sslserver -verify_ip 127.0.0.2").status, 0);
  EXPECT_NE(openssl_verify(cert, "-purpose sslclient").status, 0);

  const auto p = write("server.pem", pem_of(cert));
  auto san =
      run("openssl x509 -noout -ext subjectAltName,extendedKeyUsage,basicConstraints -in " + p);
  ASSERT_EQ(san.status, 0) << san.output;
  EXPECT_TRUE(
      contains(san.output, "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"))
      << san.output;
  EXPECT_TRUE(contains(san.output, "TLS Web Server Authentication"));
  EXPECT_TRUE(contains(san.output, "CA:FALSE"));

  EXPECT_TRUE(store_.verify(cert, {}, cert_purpose::tls_server, now_));
  EXPECT_TRUE(store_.verify(cert, {}, cert_purpose::any, now_));
}

TEST_F(X509Test, ServerCertificateRefusesBadNames) {
  auto key = private_key::generate(key_type::ec_p256);
  ASSERT_TRUE(key);
  auto issue = [&](std::vector<std::string> dns, std::vector<std::string> ips) {
    return ca_->issue_server_certificate(key->public_part(), {std::move(dns), std::move(ips)},
                                         now_);
  };
  // A ',' must not smuggle in a second SAN through a config string.
  EXPECT_EQ(issue({"a.example,DNS:evil.example"}, {}).error(), x509_errc::bad_request);
  EXPECT_EQ(issue({""}, {}).error(), x509_errc::bad_request);
  EXPECT_EQ(issue({"-a.example"}, {}).error(), x509_errc::bad_request);
  EXPECT_EQ(issue({"a..example"}, {}).error(), x509_errc::bad_request);
  EXPECT_EQ(issue({std::string("a\0b", 3)}, {}).error(), x509_errc::bad_request);
  EXPECT_EQ(issue({}, {"300.1.1.1"}).error(), x509_errc::bad_request);
  EXPECT_EQ(issue({}, {"127.0.0.1 "}).error(), x509_errc::bad_request);
  EXPECT_EQ(issue({}, {}).error(), x509_errc::bad_request);
  EXPECT_EQ(ca_->issue_server_certificate(public_key{}, {{"localhost"}, {}}, now_).error(),
            x509_errc::bad_request);

  auto ip_only = issue({}, {"10.0.0.1"});
  ASSERT_TRUE(ip_only);
  EXPECT_EQ(ip_only->subject_cn(), "10.0.0.1");
  auto wildcard = issue({"*.hub.example", "hub.example"}, {});
  ASSERT_TRUE(wildcard);
  EXPECT_EQ(wildcard->dns_names(), (std::vector<std::string>{"*.hub.example", "hub.example"}));
}

TEST_F(X509Test, ValidityIsBackdatedAndClampedToTheCa) {
  auto short_ca = certificate_authority::create("Short CA", 24h * 30, now_);
  ASSERT_TRUE(short_ca);
  auto cert = device_cert(*short_ca, "device-1", {}, 24h * 365);
  EXPECT_EQ(cert.not_after(), short_ca->cert().not_after());
  const auto expected_nb = std::chrono::floor<std::chrono::seconds>(now_) - 1h;
  EXPECT_EQ(cert.not_before(), expected_nb);

  auto normal = device_cert("device-2");
  EXPECT_EQ(normal.not_after(), std::chrono::floor<std::chrono::seconds>(now_) + 24h * 365);

  // An expired CA issues nothing.
  auto key = private_key::generate(key_type::ec_p256);
  auto csr = certificate_request::create(*key, "x");
  ASSERT_TRUE(csr);
  EXPECT_EQ(short_ca->sign_device_csr(*csr, {"device-3", {}}, now_ + 24h * 31).error(),
            x509_errc::expired);
}

// ---- device certificates from CSRs ----

TEST_F(X509Test, SignsOpensslCsrWithIdentityFromTheRequest) {
  auto gen = run("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=x "
                 "-keyout " +
                 path("dev.key") + " -out " + path("dev.csr"));
  ASSERT_EQ(gen.status, 0) << gen.output;
  auto csr = certificate_request::from_pem(read("dev.csr"));
  ASSERT_TRUE(csr) << csr.error().message();
  EXPECT_EQ(csr->subject_cn(), "x");

  auto cert = ca_->sign_device_csr(*csr, {"device-7", std::string(device_uri_7)}, now_);
  ASSERT_TRUE(cert) << cert.error().message();
  EXPECT_EQ(cert->subject_cn(), "device-7"); // not the CSR's "x"
  EXPECT_EQ(cert->uris(), std::vector<std::string>{std::string(device_uri_7)});
  EXPECT_TRUE(cert->subject_public_key() == csr->subject_public_key());

  auto ok = openssl_verify(*cert, "-purpose sslclient");
  EXPECT_EQ(ok.status, 0) << ok.output;
  EXPECT_NE(openssl_verify(*cert, "-purpose sslserver").status, 0);

  const auto p = write("dev.pem", pem_of(*cert));
  auto san = run("openssl x509 -noout -ext subjectAltName,extendedKeyUsage,keyUsage -in " + p);
  ASSERT_EQ(san.status, 0) << san.output;
  EXPECT_TRUE(contains(san.output, "URI:" + std::string(device_uri_7))) << san.output;
  EXPECT_TRUE(contains(san.output, "TLS Web Client Authentication"));
  EXPECT_TRUE(contains(san.output, "Digital Signature"));
  auto subject = run("openssl x509 -noout -subject -nameopt RFC2253 -in " + p);
  EXPECT_EQ(subject.output, "subject=CN=device-7\n");
  // The certificate carries the key the CSR was made with.
  auto cert_key = run("openssl x509 -noout -pubkey -in " + p);
  auto csr_key = run("openssl pkey -pubout -in " + path("dev.key"));
  EXPECT_EQ(cert_key.output, csr_key.output);
  EXPECT_FALSE(cert_key.output.empty());

  auto id = store_.verify_device(*cert, {}, now_);
  ASSERT_TRUE(id) << id.error().message();
  EXPECT_EQ(id->device_id, "device-7");
  EXPECT_EQ(id->uri, device_uri_7);
}

TEST_F(X509Test, RefusesTamperedCsr) {
  auto gen = run("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                 "-subj /CN=device-a -keyout " +
                 path("a.key") + " -out " + path("a.csr"));
  ASSERT_EQ(gen.status, 0) << gen.output;
  const std::string pem = read("a.csr");
  ASSERT_TRUE(certificate_request::from_pem(pem));

  bytes der = pem_body(pem);
  const std::string cn = "device-a";
  auto at = std::search(der.begin(), der.end(), cn.begin(), cn.end());
  ASSERT_NE(at, der.end());
  *(at + 7) = 'b';
  const auto subject_changed = to_pem_block(der, "CERTIFICATE REQUEST");
  EXPECT_EQ(certificate_request::from_pem(subject_changed).error(),
            x509_errc::csr_signature_invalid);
  // The edit kept the CSR well-formed: openssl parses it and refuses the signature too.
  const auto tampered_path = write("tampered.csr", subject_changed);
  // openssl 3.0's `req -verify` exits 0 either way; its verdict is in the output.
  auto check = run("openssl req -verify -noout -in " + tampered_path);
  EXPECT_TRUE(contains(check.output, "verify failure")) << check.output;
  auto good = run("openssl req -verify -noout -in " + path("a.csr"));
  EXPECT_TRUE(contains(good.output, "verify OK")) << good.output;

  bytes sig_flipped = pem_body(pem);
  sig_flipped.back() ^= 0x01;
  EXPECT_EQ(certificate_request::from_pem(to_pem_block(sig_flipped, "CERTIFICATE REQUEST")).error(),
            x509_errc::csr_signature_invalid);

  EXPECT_EQ(certificate_request::from_pem("not a csr").error(), x509_errc::bad_csr);
  EXPECT_EQ(certificate_request::from_pem(pem_of(ca_->cert())).error(), x509_errc::bad_csr);
}

TEST_F(X509Test, CsrKeyTypesAndPolicy) {
  for (auto type : {key_type::ec_p256, key_type::rsa, key_type::ed25519}) {
    auto key = private_key::generate(type);
    ASSERT_TRUE(key);
    auto csr = certificate_request::create(*key, "dev");
    ASSERT_TRUE(csr) << to_string(type);
    auto pem = csr->to_pem();
    ASSERT_TRUE(pem);
    auto parsed = certificate_request::from_pem(*pem);
    ASSERT_TRUE(parsed) << to_string(type) << ": " << parsed.error().message();
    EXPECT_EQ(parsed->subject_cn(), "dev");
    EXPECT_EQ(parsed->subject_public_key().type(), type);
    auto cert = ca_->sign_device_csr(
        *parsed, {"device-" + std::string(to_string(type)).substr(0, 2), {}}, now_);
    ASSERT_TRUE(cert) << cert.error().message();
    EXPECT_EQ(openssl_verify(*cert, "-purpose sslclient").status, 0) << to_string(type);
  }
  // Keys Aegis does not accept are refused at the CSR, before any signature work.
  auto p384 = run("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -subj /CN=x "
                  "-keyout " +
                  path("p384.key") + " -out " + path("p384.csr"));
  ASSERT_EQ(p384.status, 0) << p384.output;
  EXPECT_EQ(certificate_request::from_pem(read("p384.csr")).error(), key_errc::unsupported_curve);
}

TEST_F(X509Test, DeviceRequestIsValidated) {
  auto key = private_key::generate(key_type::ec_p256);
  auto csr = certificate_request::create(*key, "x");
  ASSERT_TRUE(csr);
  auto sign = [&](std::string id, std::string uri) {
    return ca_->sign_device_csr(*csr, {std::move(id), std::move(uri)}, now_);
  };
  EXPECT_EQ(sign("", {}).error(), x509_errc::bad_request);
  EXPECT_EQ(sign("has space", {}).error(), x509_errc::bad_request);
  EXPECT_EQ(sign("a/b", {}).error(), x509_errc::bad_request);
  EXPECT_EQ(sign("tab\t", {}).error(), x509_errc::bad_request);
  EXPECT_EQ(sign(std::string(65, 'd'), {}).error(), x509_errc::bad_request);
  EXPECT_TRUE(sign(std::string(64, 'd'), {}));
  // The URI must name the same device, in the documented shape.
  EXPECT_EQ(sign("device-8", std::string(device_uri_7)).error(), x509_errc::bad_request);
  EXPECT_EQ(sign("device-7", "https://example.com/devices/device-7").error(),
            x509_errc::bad_request);
  EXPECT_EQ(sign("device-7", "aegis:projects/p1/devices/device-7").error(), x509_errc::bad_request);
  EXPECT_EQ(sign("device-7", std::string(device_uri_7) + "/x").error(), x509_errc::bad_request);
  EXPECT_EQ(sign("device-7", "aegis:projects//locations/l1/registries/r1/devices/device-7").error(),
            x509_errc::bad_request);
  EXPECT_EQ(ca_->sign_device_csr(*csr, {"device-7", {}, 0s}, now_).error(), x509_errc::bad_request);
  EXPECT_EQ(ca_->sign_device_csr(certificate_request{}, {"device-7", {}}, now_).error(),
            x509_errc::bad_csr);
}

// ---- verification errors ----

TEST_F(X509Test, EachVerificationFailureHasItsOwnError) {
  auto device = device_cert("device-1");
  auto server = server_cert();
  ASSERT_TRUE(store_.verify_device(device, {}, now_));

  EXPECT_EQ(store_.verify_device(device, {}, now_ + 24h * 400).error(), x509_errc::expired);
  EXPECT_EQ(store_.verify_device(device, {}, now_ - 24h * 2).error(), x509_errc::not_yet_valid);
  EXPECT_EQ(store_.verify(device, {}, cert_purpose::tls_server, now_).error(),
            x509_errc::wrong_key_usage);
  EXPECT_EQ(store_.verify_device(server, {}, now_).error(), x509_errc::wrong_key_usage);

  auto other_ca = certificate_authority::create("Aegis Test CA", 24h * 3650, now_);
  ASSERT_TRUE(other_ca);
  auto stranger = device_cert(*other_ca, "device-1");
  EXPECT_EQ(store_.verify_device(stranger, {}, now_).error(), x509_errc::untrusted);
  EXPECT_EQ(trust_store().verify_device(device, {}, now_).error(), x509_errc::untrusted);
  EXPECT_EQ(store_.verify_device(certificate{}, {}, now_).error(), x509_errc::bad_certificate);

  // The same refusals from openssl, so the mapping is not merely self-consistent.
  const auto attime = [](wall_time t) {
    return " -attime " + std::to_string(std::chrono::system_clock::to_time_t(t));
  };
  auto expired = openssl_verify(device, "-purpose sslclient" + attime(now_ + 24h * 400));
  EXPECT_TRUE(contains(expired.output, "certificate has expired")) << expired.output;
  auto early = openssl_verify(device, "-purpose sslclient" + attime(now_ - 24h * 2));
  EXPECT_TRUE(contains(early.output, "not yet valid")) << early.output;
  const auto stranger_path = write("stranger.pem", pem_of(stranger));
  auto untrusted = run("openssl verify -CAfile " + ca_pem_ + " " + stranger_path);
  EXPECT_NE(untrusted.status, 0) << untrusted.output;
}

TEST_F(X509Test, TamperedCertificateSignatureIsRefused) {
  auto device = device_cert("device-1");
  auto der = device.to_der();
  ASSERT_TRUE(der);
  der->back() ^= 0x01;
  auto tampered = certificate::from_der(*der);
  ASSERT_TRUE(tampered);
  EXPECT_EQ(store_.verify_device(*tampered, {}, now_).error(), x509_errc::signature_invalid);
}

TEST_F(X509Test, CertificateIssuedByANonCaIsRefused) {
  // A device's own certificate and key used to "issue" another certificate.
  auto key = private_key::generate(key_type::ec_p256);
  ASSERT_TRUE(key);
  auto csr = certificate_request::create(*key, "x");
  ASSERT_TRUE(csr);
  auto device = ca_->sign_device_csr(*csr, {"device-1", {}}, now_);
  ASSERT_TRUE(device);
  EXPECT_EQ(certificate_authority::load(*device, std::move(*key)).error(), x509_errc::not_a_ca);

  auto key_pem = private_key::generate(key_type::ec_p256);
  auto device_key = private_key::generate(key_type::ec_p256);
  ASSERT_TRUE(key_pem && device_key);
  auto csr2 = certificate_request::create(*device_key, "x");
  auto device2 = ca_->sign_device_csr(*csr2, {"device-2", {}}, now_);
  ASSERT_TRUE(device2);
  write("device2.pem", pem_of(*device2));
  write("device2.key", *device_key->to_pem());
  write("victim.ext", "extendedKeyUsage=clientAuth\n");
  auto r = run("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "
               "/CN=victim -keyout " +
               path("victim.key") + " -out " + path("victim.csr"));
  ASSERT_EQ(r.status, 0) << r.output;
  r = run("openssl x509 -req -in " + path("victim.csr") + " -CA " + path("device2.pem") +
          " -CAkey " + path("device2.key") + " -set_serial 7 -days 30 -extfile " +
          path("victim.ext") + " -out " + path("victim.pem"));
  ASSERT_EQ(r.status, 0) << r.output;
  settle_after_openssl();
  auto victim = certificate::from_pem(read("victim.pem"));
  ASSERT_TRUE(victim);
  EXPECT_EQ(victim->issuer_cn(), "device-2");
  EXPECT_EQ(store_.verify_device(*victim, {*device2}, now_).error(), x509_errc::not_a_ca);
  auto ossl = run("openssl verify -CAfile " + ca_pem_ + " -untrusted " + path("device2.pem") + " " +
                  path("victim.pem"));
  EXPECT_NE(ossl.status, 0) << ossl.output;
}

TEST_F(X509Test, WeakSignatureAndUnknownCriticalExtensionAreRefused) {
  auto sha1 = openssl_issued("/CN=device-1", "extendedKeyUsage=clientAuth", "-sha1");
  EXPECT_EQ(store_.verify_device(sha1, {}, now_).error(), x509_errc::weak_algorithm);
  auto sha256 = openssl_issued("/CN=device-1", "extendedKeyUsage=clientAuth", "-sha256");
  EXPECT_TRUE(store_.verify_device(sha256, {}, now_));
  auto critical = openssl_issued("/CN=device-1", "1.3.6.1.4.1.99999.1=critical,ASN1:UTF8String:x");
  EXPECT_EQ(store_.verify_device(critical, {}, now_).error(), x509_errc::unsupported_critical);
}

// ---- identity ----

TEST_F(X509Test, IdentityFromOperatorIssuedCertificates) {
  // No EKU at all: allowed for any purpose, as RFC 5280 reads it.
  auto plain = openssl_issued("/CN=device-9", "basicConstraints=CA:FALSE");
  auto id = store_.verify_device(plain, {}, now_);
  ASSERT_TRUE(id) << id.error().message();
  EXPECT_EQ(id->device_id, "device-9");
  EXPECT_EQ(id->uri, "");

  auto other_uri = openssl_issued("/CN=device-9", "subjectAltName=URI:https://example.com/x");
  id = store_.verify_device(other_uri, {}, now_);
  ASSERT_TRUE(id);
  EXPECT_EQ(id->uri, ""); // only aegis: URIs carry identity

  auto no_cn = openssl_issued("/O=Acme", "extendedKeyUsage=clientAuth");
  EXPECT_EQ(store_.verify_device(no_cn, {}, now_).error(), x509_errc::no_identity);
  auto bad_cn = openssl_issued("/CN=two words", "extendedKeyUsage=clientAuth");
  EXPECT_EQ(store_.verify_device(bad_cn, {}, now_).error(), x509_errc::no_identity);
  auto two_cns = openssl_issued("/CN=device-1/CN=device-2", "extendedKeyUsage=clientAuth");
  EXPECT_EQ(two_cns.subject_cn(), "");
  EXPECT_EQ(store_.verify_device(two_cns, {}, now_).error(), x509_errc::ambiguous_identity);
  auto mismatch = openssl_issued("/CN=device-8", "subjectAltName=URI:" + std::string(device_uri_7));
  EXPECT_EQ(store_.verify_device(mismatch, {}, now_).error(), x509_errc::ambiguous_identity);
  auto two_uris = openssl_issued(
      "/CN=device-7", "subjectAltName=URI:" + std::string(device_uri_7) +
                          ",URI:aegis:projects/p2/locations/l1/registries/r1/devices/device-7");
  EXPECT_EQ(store_.verify_device(two_uris, {}, now_).error(), x509_errc::ambiguous_identity);
  auto upper = openssl_issued(
      "/CN=device-7", "subjectAltName=URI:AEGIS:projects/p1/locations/l1/registries/r1/devices/x");
  EXPECT_EQ(store_.verify_device(upper, {}, now_).error(), x509_errc::ambiguous_identity);
}

TEST_F(X509Test, IdentityAccessorWithoutVerification) {
  auto cert = device_cert("device-7", std::string(device_uri_7));
  auto id = device_identity_of(cert);
  ASSERT_TRUE(id);
  EXPECT_EQ(id->device_id, "device-7");
  EXPECT_EQ(device_identity_of(certificate{}).error(), x509_errc::bad_certificate);
}

// ---- CRLs ----

TEST_F(X509Test, CrlRevokesInTrustStoreAndInOpenssl) {
  auto revoked = device_cert("device-1");
  auto kept = device_cert("device-2");
  auto list = ca_->issue_crl({{revoked.serial_hex(), now_ - 1min}}, now_, 24h * 7);
  ASSERT_TRUE(list) << list.error().message();
  EXPECT_TRUE(list->lists(revoked.serial_hex()));
  EXPECT_FALSE(list->lists(kept.serial_hex()));
  std::string upper = "00" + revoked.serial_hex();
  std::transform(upper.begin(), upper.end(), upper.begin(), [](char c) {
    return static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  });
  EXPECT_TRUE(list->lists(upper));
  EXPECT_FALSE(list->lists("not hex"));
  EXPECT_EQ(list->issuer_cn(), "Aegis Test CA");
  EXPECT_EQ(list->this_update(), std::chrono::floor<std::chrono::seconds>(now_));
  EXPECT_EQ(list->next_update(), std::chrono::floor<std::chrono::seconds>(now_) + 24h * 7);

  // Before the CRL is known, the certificate passes.
  ASSERT_TRUE(store_.verify_device(revoked, {}, now_));
  ASSERT_TRUE(store_.add_crl(*list));
  EXPECT_EQ(store_.verify_device(revoked, {}, now_).error(), x509_errc::revoked);
  EXPECT_TRUE(store_.verify_device(kept, {}, now_));

  auto pem = list->to_pem();
  ASSERT_TRUE(pem);
  auto reparsed = crl::from_pem(*pem);
  ASSERT_TRUE(reparsed);
  EXPECT_TRUE(reparsed->lists(revoked.serial_hex()));
  const auto crl_path = write("ca.crl", *pem);
  auto refused = openssl_verify(revoked, "-crl_check -CRLfile " + crl_path);
  EXPECT_NE(refused.status, 0);
  EXPECT_TRUE(contains(refused.output, "certificate revoked")) << refused.output;
  auto accepted = openssl_verify(kept, "-crl_check -CRLfile " + crl_path);
  EXPECT_EQ(accepted.status, 0) << accepted.output;
  auto text = run("openssl crl -noout -text -in " + crl_path);
  EXPECT_TRUE(contains(text.output, "X509v3 CRL Number")) << text.output;
  EXPECT_TRUE(contains(text.output, "X509v3 Authority Key Identifier"));
}

TEST_F(X509Test, CrlReplacementStalenessAndExpiry) {
  auto device = device_cert("device-1");
  auto empty = ca_->issue_crl({}, now_, 24h);
  auto later = ca_->issue_crl({{device.serial_hex(), now_}}, now_ + 1min, 24h);
  ASSERT_TRUE(empty && later);
  ASSERT_TRUE(store_.add_crl(*empty));
  EXPECT_TRUE(store_.verify_device(device, {}, now_ + 2min));
  ASSERT_TRUE(store_.add_crl(*later));
  EXPECT_EQ(store_.verify_device(device, {}, now_ + 2min).error(), x509_errc::revoked);
  // Replaying the older list must not un-revoke.
  EXPECT_EQ(store_.add_crl(*empty).error(), x509_errc::bad_crl);
  EXPECT_EQ(store_.verify_device(device, {}, now_ + 2min).error(), x509_errc::revoked);

  auto other = device_cert("device-2");
  // Past nextUpdate the issuer's revocation status is unknown: fail closed.
  EXPECT_EQ(store_.verify_device(other, {}, now_ + 25h).error(), x509_errc::revocation_unknown);
  EXPECT_EQ(store_.verify_device(other, {}, now_ + 2min).error(), std::error_code{});
}

TEST_F(X509Test, CrlFromAnImpostorIsRefused) {
  auto impostor = certificate_authority::create("Aegis Test CA", 24h * 10, now_);
  ASSERT_TRUE(impostor);
  auto forged = impostor->issue_crl({}, now_, 24h);
  ASSERT_TRUE(forged);
  EXPECT_EQ(store_.add_crl(*forged).error(), x509_errc::bad_crl);
  EXPECT_EQ(store_.add_crl(crl{}).error(), x509_errc::bad_crl);
  EXPECT_EQ(crl::from_pem("garbage").error(), x509_errc::bad_crl);
  EXPECT_EQ(ca_->issue_crl({{"xyz", now_}}, now_, 24h).error(), x509_errc::bad_request);
  EXPECT_EQ(ca_->issue_crl({}, now_, 0s).error(), x509_errc::bad_request);
}

// An operator hierarchy made by openssl: root -> issuing CA -> device, with the root revoking
// the issuing CA. Also exercises load() and anchors that are not self-signed.
TEST_F(X509Test, OperatorIntermediateChainAndItsRevocation) {
  write("op.cnf",
        "[req]\ndistinguished_name=dn\n[dn]\n"
        "[root]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n"
        "[issuing]\nbasicConstraints=critical,CA:TRUE,pathlen:0\n"
        "keyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid:always\n");
  const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes ";
  auto r = run("openssl req -x509" + ec + "-config " + path("op.cnf") + " -extensions root " +
               "-subj '/CN=Operator Root' -days 30 -keyout " + path("root.key") + " -out " +
               path("root.pem"));
  ASSERT_EQ(r.status, 0) << r.output;
  r = run("openssl req -new" + ec + "-config " + path("op.cnf") + " -subj '/CN=Operator Issuing' " +
          "-keyout " + path("int.key") + " -out " + path("int.csr"));
  ASSERT_EQ(r.status, 0) << r.output;
  r = run("openssl x509 -req -in " + path("int.csr") + " -CA " + path("root.pem") + " -CAkey " +
          path("root.key") + " -set_serial 0x1001 -days 30 -extfile " + path("op.cnf") +
          " -extensions issuing -out " + path("int.pem"));
  ASSERT_EQ(r.status, 0) << r.output;
  settle_after_openssl();

  auto bundle = certificate::chain_from_pem(read("int.pem") + read("root.pem"));
  ASSERT_TRUE(bundle);
  ASSERT_EQ(bundle->size(), 2u);
  const certificate& issuing_cert = (*bundle)[0];
  const certificate& root_cert = (*bundle)[1];
  EXPECT_EQ(issuing_cert.serial_hex(), "1001");

  auto root_key = private_key::from_pem(read("root.key"));
  auto int_key = private_key::from_pem(read("int.key"));
  ASSERT_TRUE(root_key && int_key);
  EXPECT_EQ(certificate_authority::load(root_cert, std::move(*int_key)).error(),
            x509_errc::key_mismatch);
  int_key = private_key::from_pem(read("int.key"));
  auto root_ca = certificate_authority::load(root_cert, std::move(*root_key));
  auto issuing_ca = certificate_authority::load(issuing_cert, std::move(*int_key));
  ASSERT_TRUE(root_ca && issuing_ca);

  auto device = device_cert(*issuing_ca, "device-5");
  EXPECT_EQ(device.issuer_cn(), "Operator Issuing");
  trust_store store;
  ASSERT_TRUE(store.add_anchor(root_cert));
  EXPECT_EQ(store.verify_device(device, {}, now_).error(), x509_errc::untrusted);
  ASSERT_TRUE(store.verify_device(device, {issuing_cert}, now_));

  // A root CRL that revokes nothing; the issuing CA has no CRL, which is not an error.
  auto clean = root_ca->issue_crl({}, now_, 24h);
  ASSERT_TRUE(clean && store.add_crl(*clean));
  EXPECT_TRUE(store.verify_device(device, {issuing_cert}, now_));
  auto revoking = root_ca->issue_crl({{issuing_cert.serial_hex(), now_}}, now_ + 1s, 24h);
  ASSERT_TRUE(revoking && store.add_crl(*revoking));
  EXPECT_EQ(store.verify_device(device, {issuing_cert}, now_ + 2s).error(), x509_errc::revoked);

  // The issuing CA alone as an anchor (partial chain), without the root.
  trust_store partial;
  ASSERT_TRUE(partial.add_anchor(issuing_cert));
  EXPECT_TRUE(partial.verify_device(device, {}, now_));
  EXPECT_EQ(partial.add_anchor(device).error(), x509_errc::not_a_ca);
}

// ---- parsing ----

TEST_F(X509Test, ParsingAndEncodings) {
  auto cert = device_cert("device-1");
  auto der = cert.to_der();
  ASSERT_TRUE(der);
  auto back = certificate::from_der(*der);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->fingerprint_sha256(), cert.fingerprint_sha256());
  EXPECT_EQ(back->serial_hex(), cert.serial_hex());

  const auto p = write("fp.pem", pem_of(cert));
  auto fp = run("openssl x509 -noout -fingerprint -sha256 -in " + p);
  ASSERT_EQ(fp.status, 0);
  EXPECT_EQ(normalize_hex(fp.output.substr(fp.output.find('=') + 1)),
            normalize_hex(cert.fingerprint_sha256()));
  EXPECT_EQ(cert.fingerprint_sha256().size(), 64u);

  bytes trailing = *der;
  trailing.push_back(0);
  EXPECT_EQ(certificate::from_der(trailing).error(), x509_errc::bad_certificate);
  EXPECT_EQ(certificate::from_der(bytes_view(*der).first(der->size() - 1)).error(),
            x509_errc::bad_certificate);
  EXPECT_EQ(certificate::from_der({}).error(), x509_errc::bad_certificate);
  EXPECT_EQ(certificate::from_pem("").error(), x509_errc::bad_certificate);
  EXPECT_EQ(certificate::chain_from_pem("").error(), x509_errc::bad_certificate);
  // A damaged second block spoils the bundle rather than being skipped.
  std::string damaged =
      pem_of(ca_->cert()) + "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  EXPECT_EQ(certificate::chain_from_pem(damaged).error(), x509_errc::bad_certificate);
  // A block claiming to be encrypted must fail at once, never prompt for a passphrase.
  std::string encrypted = pem_of(cert);
  encrypted.insert(
      encrypted.find('\n') + 1,
      "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00000000000000000000000000000000\n\n");
  EXPECT_EQ(certificate::from_pem(encrypted).error(), x509_errc::bad_certificate);

  certificate empty;
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ(empty.subject_cn(), "");
  EXPECT_TRUE(empty.dns_names().empty());
  EXPECT_EQ(empty.serial_hex(), "");
  EXPECT_FALSE(empty.is_ca());
  EXPECT_TRUE(empty.subject_public_key().empty());
  EXPECT_EQ(empty.to_pem().error(), x509_errc::bad_certificate);

  certificate copy = cert; // shares the OpenSSL object
  certificate moved = std::move(copy);
  EXPECT_EQ(moved.fingerprint_sha256(), cert.fingerprint_sha256());
}

} // namespace
