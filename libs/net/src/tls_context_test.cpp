// The TLS policy, checked on the SSL_CTX and against a real third-party client (openssl
// s_client as a separate process).

#include "aegis/net/server.hpp"
#include "aegis/net/tls.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <openssl/ssl.h>

namespace aegis::net {
namespace {

using namespace std::chrono_literals;
using test::test_pki;

TEST(TlsContext, RefusesAnEmptyConfiguration) {
  const auto ctx = tls_context::create({});
  ASSERT_FALSE(ctx);
  EXPECT_EQ(ctx.error(), make_error_code(tls_errc::no_certificates));
}

TEST(TlsContext, RefusesMissingFiles) {
  const test_pki pki;
  tls_server_config cfg;
  cfg.certificates.push_back({pki.dir() / "nope.chain", pki.dir() / "server.key"});
  const auto ctx = tls_context::create(cfg);
  ASSERT_FALSE(ctx);
  EXPECT_EQ(ctx.error(), make_error_code(tls_errc::cannot_read_file));
}

TEST(TlsContext, RefusesAChainFileWithoutCertificates) {
  const test_pki pki;
  test::write_file(pki.dir() / "garbage.pem", "not a certificate\n");
  tls_server_config cfg;
  cfg.certificates.push_back({pki.dir() / "garbage.pem", pki.dir() / "server.key"});
  const auto ctx = tls_context::create(cfg);
  ASSERT_FALSE(ctx);
  EXPECT_EQ(ctx.error(), make_error_code(tls_errc::bad_certificate));
}

TEST(TlsContext, RefusesAKeyThatIsNotTheLeafs) {
  const test_pki pki;
  tls_server_config cfg;
  cfg.certificates.push_back({pki.dir() / "server.chain", pki.dir() / "other.key"});
  const auto ctx = tls_context::create(cfg);
  ASSERT_FALSE(ctx);
  EXPECT_EQ(ctx.error(), make_error_code(tls_errc::key_mismatch));
}

TEST(TlsContext, PolicyIsTls12PlusEcdheAeadNoCompressionNoRenegotiation) {
  const test_pki pki;
  tls_server_config cfg;
  cfg.certificates.push_back(pki.server_cert());
  const auto ctx = tls_context::create(cfg);
  ASSERT_TRUE(ctx) << ctx.error().message();
  SSL_CTX* c = ctx->native_handle();
  EXPECT_EQ(SSL_CTX_get_min_proto_version(c), TLS1_2_VERSION);
  const auto options = SSL_CTX_get_options(c);
  EXPECT_NE(options & SSL_OP_NO_COMPRESSION, 0u);
  EXPECT_NE(options & SSL_OP_NO_RENEGOTIATION, 0u);
  EXPECT_EQ(options & SSL_OP_NO_TICKET, 0u) << "session tickets must be on";
  EXPECT_NE(SSL_CTX_get_mode(c) & SSL_MODE_RELEASE_BUFFERS, 0u);
  EXPECT_EQ(SSL_CTX_get_verify_mode(c), SSL_VERIFY_NONE);

  STACK_OF(SSL_CIPHER)* ciphers = SSL_CTX_get_ciphers(c);
  ASSERT_NE(ciphers, nullptr);
  int tls12 = 0;
  for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
    const SSL_CIPHER* cipher = sk_SSL_CIPHER_value(ciphers, i);
    EXPECT_EQ(SSL_CIPHER_is_aead(cipher), 1) << SSL_CIPHER_get_name(cipher);
    // TLS 1.3 suites negotiate the key exchange separately (kx "any"); all others are <= 1.2.
    if (SSL_CIPHER_get_kx_nid(cipher) != NID_kx_any) {
      ++tls12;
      EXPECT_EQ(SSL_CIPHER_get_kx_nid(cipher), NID_kx_ecdhe) << SSL_CIPHER_get_name(cipher);
    } else {
      EXPECT_STREQ(SSL_CIPHER_get_version(cipher), "TLSv1.3");
    }
  }
  EXPECT_EQ(tls12, 6);
}

TEST(TlsContext, MinimumCanBeRaisedToTls13AndClientCertificatesRequested) {
  const test_pki pki;
  tls_server_config cfg;
  cfg.certificates.push_back(pki.server_cert());
  cfg.min_version = tls_min_version::tls1_3;
  cfg.client_certificates = client_certificate_mode::request;
  const auto ctx = tls_context::create(cfg);
  ASSERT_TRUE(ctx) << ctx.error().message();
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx->native_handle()), TLS1_3_VERSION);
  // Requested, not required: FAIL_IF_NO_PEER_CERT stays off.
  EXPECT_EQ(SSL_CTX_get_verify_mode(ctx->native_handle()), SSL_VERIFY_PEER);
}

// A TLS listener (server + other.example certificates, client certificates requested) with
// an echo handler that closes after a line, driven by openssl s_client.
class SClient : public ::testing::Test {
protected:
  void SetUp() override {
    tls_server_config cfg;
    cfg.certificates = {pki_.server_cert(), pki_.other_cert()};
    cfg.client_certificates = client_certificate_mode::request;
    auto ctx = tls_context::create(cfg);
    ASSERT_TRUE(ctx) << ctx.error().message();
    EXPECT_EQ(ctx->certificate_count(), 2u);
    listener_options opts;
    opts.name = "s_client";
    opts.tls = *ctx;
    opts.make_handler = test::echo_factory(rec_, {.close_on_newline = true});
    auto info = server_.listen(std::move(opts));
    ASSERT_TRUE(info) << info.error().message();
    port_ = info->port;
  }
  void TearDown() override { server_.stop(5s); }

  struct outcome {
    int exit_code = -1;
    std::string output;
  };
  outcome s_client(std::vector<std::string> extra, const std::string& input = "hello aegis\n") {
    std::vector<std::string> argv = {"openssl",
                                     "s_client",
                                     "-connect",
                                     "127.0.0.1:" + std::to_string(port_),
                                     "-CAfile",
                                     pki_.p("root.crt"),
                                     "-verify_return_error",
                                     "-brief",
                                     "-ign_eof"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    const auto log = pki_.dir() / "s_client.log";
    outcome out;
    {
      test::child_process p(argv, log);
      p.write_stdin(input);
      out.exit_code = p.wait(20s).value_or(-1);
    }
    out.output = test::read_file(log);
    return out;
  }

  test_pki pki_;
  std::shared_ptr<test::recorder> rec_ = std::make_shared<test::recorder>();
  server server_{server_options{2}};
  std::uint16_t port_ = 0;
};

TEST_F(SClient, Tls13EchoRoundTripWithVerifiedFullChain) {
  const auto r = s_client({"-tls1_3", "-servername", "localhost"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("Protocol version: TLSv1.3"), std::string::npos) << r.output;
  // The client trusts only the root: verification needs the intermediate from our chain file.
  EXPECT_NE(r.output.find("Verification: OK"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("hello aegis"), std::string::npos) << r.output;
  ASSERT_TRUE(rec_->wait_for([&] { return rec_->closed == 1; }));
  const std::lock_guard lock(rec_->mutex);
  EXPECT_EQ(rec_->received, "hello aegis\n");
  EXPECT_EQ(rec_->tls_versions.at(0), "TLSv1.3");
}

TEST_F(SClient, Tls12IsAcceptedWithAnEcdheAeadSuite) {
  const auto r = s_client({"-tls1_2", "-servername", "localhost"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("Protocol version: TLSv1.2"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Ciphersuite: ECDHE-ECDSA-AES128-GCM-SHA256"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("hello aegis"), std::string::npos) << r.output;
}

TEST_F(SClient, Tls11IsRefusedWithAProtocolVersionAlert) {
  // SECLEVEL=0 so that the client really offers TLS 1.1 and the refusal is the server's.
  const auto r = s_client({"-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"});
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("alert protocol version"), std::string::npos) << r.output;
  EXPECT_TRUE(test::wait_until([&] { return server_.stats().handshake_failures == 1; }));
  const std::lock_guard lock(rec_->mutex);
  EXPECT_EQ(rec_->started, 0);
}

TEST_F(SClient, NonAeadTls12CiphersAreRefused) {
  for (const char* cipher : {"ECDHE-ECDSA-AES128-SHA256", "ECDHE-ECDSA-AES256-SHA"}) {
    const auto r = s_client({"-tls1_2", "-cipher", cipher});
    EXPECT_NE(r.exit_code, 0) << cipher << "\n" << r.output;
    EXPECT_NE(r.output.find("alert handshake failure"), std::string::npos) << cipher << "\n"
                                                                           << r.output;
  }
  const std::lock_guard lock(rec_->mutex);
  EXPECT_EQ(rec_->started, 0);
}

TEST_F(SClient, SniPicksTheMatchingCertificateAndDefaultsToTheFirst) {
  const auto other = s_client({"-servername", "other.example"});
  EXPECT_EQ(other.exit_code, 0) << other.output;
  EXPECT_NE(other.output.find("Peer certificate: CN = other.example"), std::string::npos)
      << other.output;
  const auto local = s_client({"-servername", "localhost"});
  EXPECT_NE(local.output.find("Peer certificate: CN = localhost"), std::string::npos)
      << local.output;
  const auto unknown = s_client({"-servername", "unknown.example"});
  EXPECT_NE(unknown.output.find("Peer certificate: CN = localhost"), std::string::npos)
      << unknown.output;
  ASSERT_TRUE(rec_->wait_for([&] { return rec_->started == 3; }));
  const std::lock_guard lock(rec_->mutex);
  EXPECT_EQ(rec_->server_names,
            (std::vector<std::string>{"other.example", "localhost", "unknown.example"}));
}

TEST_F(SClient, AClientCertificateReachesTheHandlerUnjudged) {
  const auto with = s_client(
      {"-servername", "localhost", "-cert", pki_.p("client.crt"), "-key", pki_.p("client.key")});
  EXPECT_EQ(with.exit_code, 0) << with.output;
  const auto without = s_client({"-servername", "localhost"});
  EXPECT_EQ(without.exit_code, 0) << without.output << " (requested, not required)";
  ASSERT_TRUE(rec_->wait_for([&] { return rec_->started == 2; }));
  const std::string der = test::read_file(pki_.dir() / "client.der");
  const std::lock_guard lock(rec_->mutex);
  ASSERT_EQ(rec_->peer_chains.size(), 2u);
  const auto& chain = rec_->peer_chains[0];
  ASSERT_FALSE(chain.empty());
  EXPECT_EQ(as_string_view(chain[0]), der) << "leaf first, byte for byte";
  // s_client completes its chain from -CAfile, so the root may follow; nothing else may.
  ASSERT_LE(chain.size(), 2u);
  if (chain.size() == 2) {
    EXPECT_EQ(as_string_view(chain[1]), test::read_file(pki_.dir() / "root.der"));
  }
  EXPECT_TRUE(rec_->peer_chains[1].empty());
}

} // namespace
} // namespace aegis::net
