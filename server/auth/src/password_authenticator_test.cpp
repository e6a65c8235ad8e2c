#include "aegis/auth/password_authenticator.hpp"

#include "aegis/auth/failure_limiter.hpp"
#include "aegis/auth/password_hash.hpp"
#include "test_fixtures.hpp"

#include <gtest/gtest.h>

#include <string>

namespace aegis::auth {
namespace {

using namespace std::chrono_literals;
using testing::must;

// One hash per process: PBKDF2 at 210,000 iterations is deliberately slow.
const std::string& hunter2_hash() {
  static const std::string h = must(hash_password(as_bytes("hunter2")));
  return h;
}

TEST(PasswordHash, RoundTripsAndRefusesTheWrongPassword) {
  const std::string& h = hunter2_hash();
  EXPECT_EQ(h.rfind("$pbkdf2-sha256$i=210000$", 0), 0U) << h;
  EXPECT_TRUE(must(verify_password(as_bytes("hunter2"), h)));
  EXPECT_FALSE(must(verify_password(as_bytes("hunter3"), h)));
  EXPECT_FALSE(must(verify_password(as_bytes(""), h)));
}

TEST(PasswordHash, SaltsEveryHash) {
  EXPECT_NE(must(hash_password(as_bytes("hunter2"))), hunter2_hash());
}

TEST(PasswordHash, RefusesWeakParametersAndMalformedEncodings) {
  EXPECT_EQ(hash_password(as_bytes("x"), {1000}).error(), password_hash_errc::weak_parameters);
  const std::string h = hunter2_hash();
  const auto tail = h.substr(std::string("$pbkdf2-sha256$i=210000").size());
  for (std::string bad :
       {std::string(), std::string("$pbkdf2-sha256$i=$$"), "$pbkdf2-sha1$i=210000" + tail,
        "$pbkdf2-sha256$i=0210000" + tail, "$pbkdf2-sha256$i=99999999999" + tail,
        "$pbkdf2-sha256$i=-1" + tail, h.substr(0, h.size() - 4), h + "$x"}) {
    EXPECT_EQ(verify_password(as_bytes("hunter2"), bad).error(), password_hash_errc::bad_encoding)
        << bad;
  }
}

TEST(PasswordHash, NeedsRehashWhenParametersWereRaised) {
  EXPECT_FALSE(needs_rehash(hunter2_hash()));
  EXPECT_TRUE(needs_rehash(hunter2_hash(), {300'000}));
  EXPECT_TRUE(needs_rehash("garbage"));
}

TEST(FailureLimiter, AllowsABurstThenOneFailurePerRefillPeriod) {
  manual_clock clk;
  failure_limiter limiter(clk, {3, 10s, 100});
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(limiter.may_attempt("a"));
    limiter.record_failure("a");
  }
  EXPECT_FALSE(limiter.may_attempt("a"));
  EXPECT_TRUE(limiter.may_attempt("b")); // per address
  clk.advance(5s);
  EXPECT_FALSE(limiter.may_attempt("a"));
  clk.advance(5s);
  EXPECT_TRUE(limiter.may_attempt("a"));
  limiter.record_failure("a");
  EXPECT_FALSE(limiter.may_attempt("a"));
}

TEST(FailureLimiter, LimitsTheHostWhateverThePort) {
  EXPECT_EQ(failure_limiter::host_of("192.0.2.1:5000"), "192.0.2.1");
  EXPECT_EQ(failure_limiter::host_of("[2001:db8::1]:5000"), "2001:db8::1");
  EXPECT_EQ(failure_limiter::host_of("2001:db8::1"), "2001:db8::1");
  EXPECT_EQ(failure_limiter::host_of("[broken"), "[broken");
  manual_clock clk;
  failure_limiter limiter(clk, {2, 10s, 100});
  limiter.record_failure("192.0.2.1:5000");
  limiter.record_failure("192.0.2.1:5001");
  EXPECT_FALSE(limiter.may_attempt("192.0.2.1:5002"));
  EXPECT_TRUE(limiter.may_attempt("192.0.2.2:5000"));
}

TEST(FailureLimiter, TableStaysBoundedUnderAFloodOfAddresses) {
  manual_clock clk;
  failure_limiter limiter(clk, {2, 10s, 4});
  for (int i = 0; i < 1000; ++i) {
    limiter.record_failure("10.0.0." + std::to_string(i));
  }
  EXPECT_LE(limiter.tracked_for_test(), 4U);
  // Addresses that no longer fit share one bucket, which the flood has emptied.
  EXPECT_FALSE(limiter.may_attempt("10.0.1.1"));
  // Once buckets refill completely they are forgotten and room returns.
  clk.advance(1h);
  EXPECT_TRUE(limiter.may_attempt("10.0.1.1"));
}

class PasswordAuthenticator : public ::testing::Test {
protected:
  PasswordAuthenticator() : limiter_(clk_, {2, 60s, 100}), auth_(store_, limiter_) {
    store_.put({"svc", hunter2_hash(), false});
    store_.put({"old", hunter2_hash(), true});
  }

  auth_decision login(std::optional<std::string> user, std::optional<std::string> password,
                      std::string source = "203.0.113.5:1000") {
    connect_request r;
    r.client_id = "dashboard-1";
    r.username = std::move(user);
    if (password) {
      r.password = to_bytes(*password);
    }
    r.source_address = std::move(source);
    return auth_.authenticate(r);
  }

  manual_clock clk_;
  memory_account_store store_;
  failure_limiter limiter_;
  password_authenticator auth_;
};

TEST_F(PasswordAuthenticator, AllowsTheRightPassword) {
  auto d = login("svc", "hunter2");
  ASSERT_EQ(d.outcome, verdict::allow) << d.reason.message();
  EXPECT_EQ(d.who->kind, identity_kind::application);
  EXPECT_EQ(d.who->method, auth_method::password);
  EXPECT_EQ(d.who->account, "svc");
  EXPECT_EQ(d.who->client_id, "dashboard-1");
  EXPECT_FALSE(d.who->close_deadline());
}

TEST_F(PasswordAuthenticator, AbstainsWhenTheUserIsNoAccount) {
  EXPECT_EQ(login(std::nullopt, "hunter2").outcome, verdict::abstain);
  EXPECT_EQ(login("", "hunter2").outcome, verdict::abstain);
  EXPECT_EQ(login("unused", "eyJ...").outcome, verdict::abstain);
}

TEST_F(PasswordAuthenticator, AbstainsOnDevicePathClientIds) {
  connect_request r;
  r.client_id = testing::client_id_of("fleet-a", "sensor-001");
  r.username = "svc";
  r.password = to_bytes("hunter2");
  EXPECT_EQ(auth_.authenticate(r).outcome, verdict::abstain);
}

TEST_F(PasswordAuthenticator, RefusesWrongMissingPasswordAndDisabledAccount) {
  auto d = login("svc", "hunter3");
  EXPECT_EQ(d.reason, auth_errc::password_mismatch);
  EXPECT_EQ(connack_v5(auth_errc::password_mismatch), 0x86);
  EXPECT_EQ(connack_v311(auth_errc::password_mismatch), 4);
  EXPECT_EQ(login("svc", std::nullopt, "203.0.113.6:1").reason, auth_errc::password_missing);
  EXPECT_EQ(login("old", "hunter2", "203.0.113.7:1").reason, auth_errc::account_disabled);
  EXPECT_EQ(login("old", "nope", "203.0.113.8:1").reason, auth_errc::password_mismatch);
}

TEST_F(PasswordAuthenticator, RateLimitsFailuresPerSourceAddress) {
  EXPECT_EQ(login("svc", "a").reason, auth_errc::password_mismatch);
  EXPECT_EQ(login("svc", "b").reason, auth_errc::password_mismatch);
  // Out of failures: even the right password is not checked now.
  EXPECT_EQ(login("svc", "hunter2").reason, auth_errc::rate_limited);
  EXPECT_EQ(login("svc", "hunter2", "203.0.113.99:1").outcome, verdict::allow);
  clk_.advance(60s);
  EXPECT_EQ(login("svc", "hunter2").outcome, verdict::allow);
}

TEST_F(PasswordAuthenticator, UnusableStoredHashIsOurFailure) {
  store_.put({"broken", "not-a-hash", false});
  auto d = login("broken", "x");
  EXPECT_EQ(d.reason, auth_errc::server_unavailable);
  EXPECT_EQ(d.detail, password_hash_errc::bad_encoding);
}

} // namespace
} // namespace aegis::auth
