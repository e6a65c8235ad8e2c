#include "aegis/app/data_dir.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <sys/stat.h>

namespace {

using namespace aegis::app;
namespace fs = std::filesystem;

class DataDir : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("aegis_data_dir_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    cfg_.data_dir = dir_;
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }
  static unsigned mode_of(const fs::path& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0);
    return st.st_mode & 0777;
  }

  fs::path dir_;
  config cfg_;
  aegis::manual_clock clock_{std::chrono::system_clock::now()};
};

TEST_F(DataDir, FirstStartCreatesKeysWithPrivateModes) {
  const data_dir d = open_data_dir(cfg_, clock_);
  EXPECT_TRUE(d.created);
  EXPECT_EQ(mode_of(dir_), 0700U);
  EXPECT_EQ(mode_of(d.paths.master_key), 0600U);
  EXPECT_EQ(fs::file_size(d.paths.master_key), 32U);
  EXPECT_EQ(mode_of(d.paths.ca_key_sealed), 0600U);
  EXPECT_EQ(mode_of(d.paths.server_key), 0600U);
  EXPECT_TRUE(d.ca.cert().is_ca());

  // The sealed CA key is not the plain key in any encoding.
  const std::string sealed = read(d.paths.ca_key_sealed);
  const auto der = d.ca.key().to_der();
  ASSERT_TRUE(der);
  EXPECT_EQ(sealed.find(std::string(der->begin() + 40, der->begin() + 60)), std::string::npos);
  EXPECT_EQ(sealed.find("PRIVATE KEY"), std::string::npos);

  // The server chain is leaf then CA, and covers localhost and 127.0.0.1.
  auto chain = aegis::crypto::certificate::chain_from_pem(read(d.server_cert_file));
  ASSERT_TRUE(chain);
  ASSERT_EQ(chain->size(), 2U);
  EXPECT_EQ((*chain)[1].fingerprint_sha256(), d.ca.cert().fingerprint_sha256());
  const auto dns = (*chain)[0].dns_names();
  EXPECT_NE(std::find(dns.begin(), dns.end(), "localhost"), dns.end());
  const auto ips = (*chain)[0].ip_addresses();
  EXPECT_NE(std::find(ips.begin(), ips.end(), "127.0.0.1"), ips.end());
}

TEST_F(DataDir, LaterStartsReuseEverything) {
  std::string ca_fp;
  std::string server_pem;
  {
    const data_dir first = open_data_dir(cfg_, clock_);
    ca_fp = first.ca.cert().fingerprint_sha256();
    server_pem = read(first.server_cert_file);
  }
  const data_dir second = open_data_dir(cfg_, clock_);
  EXPECT_FALSE(second.created);
  EXPECT_FALSE(second.server_cert_renewed);
  EXPECT_EQ(second.ca.cert().fingerprint_sha256(), ca_fp);
  EXPECT_EQ(read(second.server_cert_file), server_pem);
}

TEST_F(DataDir, ServerCertificateRenewedNearExpiryAndOnNewNames) {
  std::string first_pem;
  {
    const data_dir d = open_data_dir(cfg_, clock_);
    first_pem = read(d.server_cert_file);
  }
  clock_.advance(std::chrono::hours(24 * 380)); // inside the 30-day renewal window
  {
    const data_dir d = open_data_dir(cfg_, clock_);
    EXPECT_TRUE(d.server_cert_renewed);
    EXPECT_NE(read(d.server_cert_file), first_pem);
  }
  cfg_.tls.server_dns_names.push_back("hub.internal");
  const data_dir d = open_data_dir(cfg_, clock_);
  EXPECT_TRUE(d.server_cert_renewed);
  auto chain = aegis::crypto::certificate::chain_from_pem(read(d.server_cert_file));
  ASSERT_TRUE(chain);
  const auto dns = chain->front().dns_names();
  EXPECT_NE(std::find(dns.begin(), dns.end(), "hub.internal"), dns.end());
}

TEST_F(DataDir, RefusesReadableSecrets) {
  { (void)open_data_dir(cfg_, clock_); }
  ::chmod((dir_ / "master.key").c_str(), 0644);
  try {
    (void)open_data_dir(cfg_, clock_);
    FAIL() << "a world-readable master key was accepted";
  } catch (const data_dir_error& e) {
    EXPECT_NE(std::string(e.what()).find("master.key"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("chmod 600"), std::string::npos) << e.what();
  }
}

TEST_F(DataDir, RefusesWrongMasterKey) {
  { (void)open_data_dir(cfg_, clock_); }
  const auto key_path = dir_ / "master.key";
  {
    std::ofstream out(key_path, std::ios::binary | std::ios::trunc);
    out << std::string(32, 'x');
  }
  try {
    (void)open_data_dir(cfg_, clock_);
    FAIL() << "a CA key sealed under another master key was opened";
  } catch (const data_dir_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot unseal"), std::string::npos) << e.what();
  }
  {
    std::ofstream out(key_path, std::ios::binary | std::ios::trunc);
    out << "short";
  }
  EXPECT_THROW((void)open_data_dir(cfg_, clock_), data_dir_error);
}

TEST_F(DataDir, RefusesHalfACa) {
  { (void)open_data_dir(cfg_, clock_); }
  fs::remove(dir_ / "ca" / "ca.key.sealed");
  EXPECT_THROW((void)open_data_dir(cfg_, clock_), data_dir_error);
}

} // namespace
