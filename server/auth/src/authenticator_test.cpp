#include "aegis/auth/authenticator.hpp"

#include "aegis/auth/failure_limiter.hpp"
#include "aegis/auth/jwt_authenticator.hpp"
#include "aegis/auth/password_authenticator.hpp"
#include "aegis/auth/password_hash.hpp"
#include "aegis/auth/x509_authenticator.hpp"
#include "aegis/base/log.hpp"
#include "aegis/crypto/errors.hpp"
#include "test_fixtures.hpp"

#include <gtest/gtest.h>

#include <set>

#include <memory>
#include <sstream>
#include <string>

namespace aegis::auth {
namespace {

using namespace testing;

class fixed_authenticator final : public authenticator {
public:
  fixed_authenticator(std::string name, auth_decision d)
      : name_(std::move(name)), decision_(std::move(d)) {}
  std::string_view name() const noexcept override { return name_; }
  auth_decision authenticate(const connect_request& /*req*/) override {
    ++calls;
    return decision_;
  }
  int calls = 0;

private:
  std::string name_;
  auth_decision decision_;
};

identity app_identity() {
  identity id;
  id.kind = identity_kind::application;
  id.method = auth_method::password;
  id.account = "svc";
  return id;
}

TEST(AuthenticatorChain, EveryoneAbstainingIsADenyAndIsAudited) {
  manual_clock clk;
  memory_audit_sink audit;
  authenticator_chain chain(audit, clk);
  chain.add(std::make_unique<fixed_authenticator>("a", auth_decision::abstain()));
  connect_request req;
  req.client_id = "who";
  auto d = chain.authenticate(req);
  EXPECT_EQ(d.outcome, verdict::deny);
  EXPECT_EQ(d.reason, auth_errc::no_authenticator);
  auto events = audit.events();
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(events[0].outcome, verdict::deny);
  EXPECT_EQ(events[0].reason, auth_errc::no_authenticator);
  EXPECT_EQ(events[0].authenticator, "");
  EXPECT_EQ(events[0].at, clk.wall_now());
}

TEST(AuthenticatorChain, EmptyChainDenies) {
  manual_clock clk;
  memory_audit_sink audit;
  authenticator_chain chain(audit, clk);
  EXPECT_EQ(chain.authenticate({}).reason, auth_errc::no_authenticator);
}

TEST(AuthenticatorChain, FirstDecisiveAnswerWins) {
  manual_clock clk;
  memory_audit_sink audit;
  authenticator_chain chain(audit, clk);
  auto first = std::make_unique<fixed_authenticator>("first", auth_decision::abstain());
  auto second = std::make_unique<fixed_authenticator>(
      "second", auth_decision::deny(auth_errc::password_mismatch));
  auto third = std::make_unique<fixed_authenticator>("third", auth_decision::allow(app_identity()));
  auto* first_p = first.get();
  auto* third_p = third.get();
  chain.add(std::move(first));
  chain.add(std::move(second));
  chain.add(std::move(third));
  auto d = chain.authenticate({});
  EXPECT_EQ(d.reason, auth_errc::password_mismatch);
  EXPECT_EQ(first_p->calls, 1);
  EXPECT_EQ(third_p->calls, 0);
  ASSERT_EQ(audit.events().size(), 1U);
  EXPECT_EQ(audit.events()[0].authenticator, "second");
}

TEST(AuthenticatorChain, AllowCarriesTheIdentityToTheAudit) {
  manual_clock clk;
  memory_audit_sink audit;
  authenticator_chain chain(audit, clk);
  chain.add(std::make_unique<fixed_authenticator>("p", auth_decision::allow(app_identity())));
  auto d = chain.authenticate({});
  ASSERT_TRUE(d.allowed());
  ASSERT_EQ(audit.events().size(), 1U);
  ASSERT_TRUE(audit.events()[0].who);
  EXPECT_EQ(audit.events()[0].who->account, "svc");
}

TEST(AuthenticatorChain, AuditGetsThePreciseReasonTheDeviceDoesNot) {
  registry_world world;
  world.add_device("fleet-a", "sensor-001",
                   {public_key_credential(es256_key(0), registry::credential_format::es256_pem)});
  memory_audit_sink audit;
  authenticator_chain chain(audit, world.clock());
  chain.add(std::make_unique<jwt_authenticator>(world.service(), world.clock()));

  auto req =
      jwt_request(client_id_of("fleet-a", "sensor-001"), world.token(es256_key(0), "other-proj"));
  auto d = chain.authenticate(req);
  ASSERT_EQ(d.outcome, verdict::deny);
  // On the wire: the same code as any other credential failure.
  const auto code = connack_v5(static_cast<auth_errc>(d.reason.value()));
  EXPECT_EQ(code, connack_v5(auth_errc::device_unknown));
  EXPECT_EQ(code, 0x86);

  auto events = audit.events();
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(events[0].authenticator, "jwt");
  EXPECT_EQ(events[0].reason, auth_errc::token_wrong_audience);
  EXPECT_EQ(events[0].detail, crypto::jwt_errc::bad_audience);
  EXPECT_EQ(events[0].client_id, req.client_id);
  EXPECT_EQ(events[0].source_address, req.source_address);
}

TEST(AuthenticatorChain, LogAuditSinkAcceptsHostileFields) {
  std::ostringstream out;
  log::init_for_test({}, out);
  log_audit_sink sink;
  audit_event e;
  e.client_id = std::string("a\0b\x1b[31m", 8) + std::string(70000, 'x');
  e.reason = make_error_code(auth_errc::client_id_malformed);
  sink.record(e);
  log::flush();
  const std::string line = out.str();
  log::init({});
  EXPECT_NE(line.find("client id is not a well-formed device path"), std::string::npos) << line;
  EXPECT_EQ(line.find('\x1b'), std::string::npos);
  EXPECT_EQ(line.find('\0'), std::string::npos);
  EXPECT_LT(line.size(), 4096U);
}

TEST(AuthErrc, EveryValueHasADescriptionANameAndWireCodes) {
  std::set<std::string> names;
  for (int v = 1; v <= static_cast<int>(auth_errc::server_unavailable); ++v) {
    auto e = static_cast<auth_errc>(v);
    EXPECT_NE(describe(e), "unknown auth error") << v;
    EXPECT_NE(name(e), "unknown") << v;
    EXPECT_TRUE(names.insert(std::string(name(e))).second) << name(e); // labels are distinct
    const auto c5 = connack_v5(e);
    EXPECT_TRUE(c5 == 0x85 || c5 == 0x86 || c5 == 0x87 || c5 == 0x88 || c5 == 0x9F) << v;
    const auto c3 = connack_v311(e);
    EXPECT_TRUE(c3 >= 2 && c3 <= 5) << v;
  }
  EXPECT_EQ(name(auth_errc::token_expired), "token_expired");
  EXPECT_EQ(connack_v311(auth_errc::password_mismatch), 4);
  EXPECT_EQ(connack_v311(auth_errc::token_bad_signature), 5);
  EXPECT_EQ(connack_v5(auth_errc::server_unavailable), 0x88);
  EXPECT_EQ(connack_v311(auth_errc::server_unavailable), 3);
  EXPECT_STREQ(make_error_code(auth_errc::device_blocked).category().name(), "aegis.auth");
}

TEST(AuthenticatorChain, LimiterRefusesAnAddressThatKeepsFailing) {
  manual_clock clk;
  memory_audit_sink audit;
  failure_limiter limiter(clk, {2, std::chrono::milliseconds(60000), 100});
  authenticator_chain chain(audit, clk, &limiter);
  auto deny = std::make_unique<fixed_authenticator>(
      "d", auth_decision::deny(auth_errc::token_bad_signature));
  auto* deny_p = deny.get();
  chain.add(std::move(deny));
  connect_request req;
  req.source_address = "192.0.2.1:1";
  EXPECT_EQ(chain.authenticate(req).reason, auth_errc::token_bad_signature);
  EXPECT_EQ(chain.authenticate(req).reason, auth_errc::token_bad_signature);
  EXPECT_EQ(chain.authenticate(req).reason, auth_errc::rate_limited);
  EXPECT_EQ(deny_p->calls, 2); // refused before any authenticator ran
  EXPECT_EQ(audit.events().back().reason, auth_errc::rate_limited);
  EXPECT_EQ(audit.events().back().authenticator, "limiter");
  req.source_address = "192.0.2.2:1";
  EXPECT_EQ(chain.authenticate(req).reason, auth_errc::token_bad_signature);
}

TEST(AuthenticatorChain, OurOwnFailuresDoNotCountAgainstTheClient) {
  manual_clock clk;
  memory_audit_sink audit;
  failure_limiter limiter(clk, {1, std::chrono::milliseconds(60000), 100});
  authenticator_chain chain(audit, clk, &limiter);
  chain.add(std::make_unique<fixed_authenticator>(
      "d", auth_decision::deny(auth_errc::server_unavailable)));
  connect_request req;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(chain.authenticate(req).reason, auth_errc::server_unavailable);
  }
}

TEST(AuthenticatorChain, ComposedChainRoutesEachClientToItsAuthenticator) {
  registry_world world;
  world.add_device("fleet-a", "sensor-001",
                   {public_key_credential(es256_key(0), registry::credential_format::es256_pem)});
  auto aegis_ca = must(crypto::certificate_authority::create("Aegis CA", std::chrono::hours(24),
                                                             world.clock().wall_now()));
  memory_account_store accounts;
  accounts.put({"svc", must(hash_password(as_bytes("s3cret"))), false});
  failure_limiter limiter(world.clock());
  memory_audit_sink audit;
  authenticator_chain chain(audit, world.clock());
  chain.add(std::make_unique<x509_authenticator>(world.service(), world.clock(), aegis_ca.cert()));
  chain.add(std::make_unique<jwt_authenticator>(world.service(), world.clock()));
  chain.add(std::make_unique<password_authenticator>(accounts, limiter));

  const auto sensor = client_id_of("fleet-a", "sensor-001");
  EXPECT_TRUE(chain.authenticate(jwt_request(sensor, world.token(es256_key(0)))).allowed());

  connect_request app;
  app.client_id = "dashboard-1";
  app.username = "svc";
  app.password = to_bytes("s3cret");
  auto d = chain.authenticate(app);
  ASSERT_TRUE(d.allowed());
  EXPECT_EQ(d.who->kind, identity_kind::application);

  // An account name with a device's client id is judged as a device, by its JWT.
  app.client_id = sensor;
  d = chain.authenticate(app);
  EXPECT_EQ(d.reason, auth_errc::token_malformed);

  connect_request stranger;
  stranger.client_id = "anything";
  stranger.username = "nobody";
  stranger.password = to_bytes("x");
  EXPECT_EQ(chain.authenticate(stranger).reason, auth_errc::no_authenticator);

  auto events = audit.events();
  ASSERT_EQ(events.size(), 4U);
  EXPECT_EQ(events[0].authenticator, "jwt");
  EXPECT_EQ(events[1].authenticator, "password");
  EXPECT_EQ(events[2].authenticator, "jwt");
  EXPECT_EQ(events[3].authenticator, "");
}

} // namespace
} // namespace aegis::auth
