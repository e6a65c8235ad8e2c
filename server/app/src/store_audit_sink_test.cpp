#include "aegis/app/store_audit_sink.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <vector>

namespace {

using namespace aegis;

auth::audit_event refusal() {
  auth::audit_event e;
  e.authenticator = "jwt";
  e.client_id = std::string("projects/p/\xff\x01", 13) + std::string(400, 'x');
  e.username = "unused";
  e.source_address = "127.0.0.1:5000";
  e.via = auth::transport::mqtt;
  e.outcome = auth::verdict::deny;
  e.reason = make_error_code(auth::auth_errc::token_bad_signature);
  return e;
}

TEST(StoreAuditSink, RefusalsAreStoredWithTheirReasonAndSanitisedText) {
  registry::memory_operator_repository ops;
  auth::memory_audit_sink also;
  app::store_audit_sink sink(
      ops,
      [](std::function<void()> fn) {
        fn();
        return true;
      },
      &also);
  sink.record(refusal());
  auto stored = ops.list_audit({});
  ASSERT_TRUE(stored);
  ASSERT_EQ(stored->size(), 1U);
  const auto& r = stored->front();
  EXPECT_EQ(r.actor, "anonymous");
  EXPECT_EQ(r.action, "mqtt.authenticate");
  EXPECT_EQ(r.outcome, "UNAUTHENTICATED");
  EXPECT_EQ(r.target.size(), 256U);
  EXPECT_EQ(r.target.substr(0, 13), "projects/p/??");
  EXPECT_NE(r.detail.find("jwt: "), std::string::npos) << r.detail;
  EXPECT_EQ(r.source_address, "127.0.0.1:5000");
  EXPECT_EQ(also.events().size(), 1U);
}

TEST(StoreAuditSink, OnlySessionStartsAreKeptAmongAdmissions) {
  registry::memory_operator_repository ops;
  app::store_audit_sink sink(ops, [](std::function<void()> fn) {
    fn();
    return true;
  });
  auto ok = refusal();
  ok.outcome = auth::verdict::allow;
  ok.reason = {};
  auth::identity who;
  who.kind = auth::identity_kind::application;
  who.account = "backend";
  ok.who = who;
  sink.record(ok);
  ok.via = auth::transport::http;
  sink.record(ok);
  auto stored = ops.list_audit({});
  ASSERT_TRUE(stored);
  ASSERT_EQ(stored->size(), 1U);
  EXPECT_EQ(stored->front().actor, "account:backend");
  EXPECT_EQ(stored->front().outcome, "ok");
}

TEST(StoreAuditSink, AFullQueueDropsAndCounts) {
  registry::memory_operator_repository ops;
  app::store_audit_sink sink(ops, [](std::function<void()>) { return false; });
  sink.record(refusal());
  EXPECT_EQ(sink.dropped(), 1U);
  EXPECT_TRUE(ops.list_audit({})->empty());
}

} // namespace
