#include "aegis/registry/testing/operator_suite.hpp"

#include "aegis/registry/errors.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace aegis::registry::testing {

void PrintTo(const operator_repository_factory& f, std::ostream* os) {
  *os << f.name;
}

std::string operator_repository_factory_name(
    const ::testing::TestParamInfo<operator_repository_factory>& info) {
  return info.param.name;
}

void OperatorBehaviour::SetUp() {
  repo_ = GetParam().make();
  ASSERT_NE(repo_, nullptr);
}

void OperatorBehaviour::TearDown() {
  repo_.reset();
}

operator_token OperatorBehaviour::make_token(const std::string& id) const {
  operator_token t;
  t.id = id;
  t.description = "token " + id;
  t.scope = operator_scope::viewer;
  t.secret_digest = bytes(32, 0);
  for (std::size_t i = 0; i < t.secret_digest.size(); ++i) {
    const auto c =
        i < id.size() ? static_cast<unsigned char>(id[i]) : static_cast<unsigned char>(0xA5U ^ i);
    t.secret_digest[i] = c;
  }
  t.create_time = start_;
  t.created_by = "bootstrap";
  return t;
}

audit_record OperatorBehaviour::make_audit(std::string actor, std::string action,
                                           std::string target, int offset_s) const {
  audit_record r;
  r.at = start_ + std::chrono::seconds(offset_s);
  r.actor = std::move(actor);
  r.action = std::move(action);
  r.target = std::move(target);
  r.outcome = "ok";
  r.detail = "detail of " + r.action;
  r.source_address = "192.0.2.7:51000";
  return r;
}

namespace {

using namespace std::chrono_literals;

const std::string dev_a = "projects/p/locations/l/registries/r/devices/a";
const std::string dev_b = "projects/p/locations/l/registries/r/devices/b";
const std::string reg_r2 = "projects/p/locations/l/registries/r2";

} // namespace

// --- scopes ---

TEST_P(OperatorBehaviour, ScopeNamesRoundTrip) {
  for (const auto s :
       {operator_scope::viewer, operator_scope::provisioner, operator_scope::admin}) {
    EXPECT_EQ(parse_operator_scope(to_string(s)), s);
  }
  EXPECT_EQ(to_string(operator_scope::provisioner), "provisioner");
  EXPECT_FALSE(parse_operator_scope("Admin"));
  EXPECT_FALSE(parse_operator_scope(""));
  EXPECT_FALSE(parse_operator_scope("root"));
  EXPECT_LT(operator_scope::viewer, operator_scope::provisioner);
  EXPECT_LT(operator_scope::provisioner, operator_scope::admin);
}

// --- tokens ---

TEST_P(OperatorBehaviour, EmptyRepository) {
  EXPECT_EQ(*repo().count_tokens(), 0U);
  EXPECT_TRUE(repo().list_tokens()->empty());
  EXPECT_TRUE(repo().list_audit({})->empty());
  EXPECT_TRUE(repo().list_revocations()->empty());
  EXPECT_FALSE(*repo().is_revoked("1"));
  EXPECT_EQ(repo().find_token("nope").error(), registry_errc::token_not_found);
}

TEST_P(OperatorBehaviour, InsertAndFindTokenKeepsEveryField) {
  auto t = make_token("tok-admin");
  t.scope = operator_scope::admin;
  t.description = "CI pipeline, rotates monthly — ünïcode";
  t.expire_time = start_ + 720h + 123ns;
  t.create_time = start_ + 1ns; // nanoseconds survive
  t.created_by = "tok-root";
  ASSERT_TRUE(repo().insert_token(t));
  auto found = repo().find_token("tok-admin");
  ASSERT_TRUE(found) << found.error().message();
  EXPECT_EQ(*found, t);

  auto bare = make_token("tok-bare");
  bare.description.clear();
  bare.secret_digest.clear();
  ASSERT_TRUE(repo().insert_token(bare));
  EXPECT_EQ(*repo().find_token("tok-bare"), bare);
  EXPECT_FALSE(repo().find_token("tok-bare")->expire_time);
  EXPECT_FALSE(repo().find_token("tok-bare")->revoke_time);
}

TEST_P(OperatorBehaviour, InsertingAnExistingIdFailsAndKeepsTheFirst) {
  const auto first = make_token("tok-1");
  ASSERT_TRUE(repo().insert_token(first));
  auto second = make_token("tok-1");
  second.scope = operator_scope::admin;
  second.secret_digest = bytes(32, 0x11);
  EXPECT_EQ(repo().insert_token(second).error(), registry_errc::token_exists);
  EXPECT_EQ(*repo().find_token("tok-1"), first);
  EXPECT_EQ(*repo().count_tokens(), 1U);
}

TEST_P(OperatorBehaviour, ScopeOutsideTheNamedOnesIsRefused) {
  for (const int bad : {0, 4, 7, -1}) {
    auto t = make_token("tok-odd");
    t.scope = static_cast<operator_scope>(bad);
    EXPECT_EQ(repo().insert_token(t).error(), registry_errc::bad_enum_value) << bad;
  }
  EXPECT_EQ(*repo().count_tokens(), 0U);
  for (const auto s :
       {operator_scope::viewer, operator_scope::provisioner, operator_scope::admin}) {
    auto t = make_token("tok-" + std::string(to_string(s)));
    t.scope = s;
    ASSERT_TRUE(repo().insert_token(t));
    EXPECT_EQ(repo().find_token(t.id)->scope, s);
  }
}

TEST_P(OperatorBehaviour, IdsAreExactNotCaseFolded) {
  ASSERT_TRUE(repo().insert_token(make_token("Tok")));
  ASSERT_TRUE(repo().insert_token(make_token("tok")));
  EXPECT_EQ(*repo().count_tokens(), 2U);
  EXPECT_EQ(repo().find_token("TOK").error(), registry_errc::token_not_found);
  EXPECT_EQ(repo().find_token("tok ").error(), registry_errc::token_not_found);
}

TEST_P(OperatorBehaviour, ListTokensIsOrderedById) {
  for (const char* id : {"m", "b", "z", "a", "ab"}) {
    ASSERT_TRUE(repo().insert_token(make_token(id)));
  }
  auto list = repo().list_tokens();
  ASSERT_TRUE(list);
  std::vector<std::string> ids;
  for (const auto& t : *list) {
    ids.push_back(t.id);
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "ab", "b", "m", "z"}));
  EXPECT_EQ(list->front(), make_token("a"));
  EXPECT_EQ(*repo().count_tokens(), 5U);
}

TEST_P(OperatorBehaviour, RevokeTokenSetsTheTimeOnce) {
  ASSERT_TRUE(repo().insert_token(make_token("tok-1")));
  ASSERT_TRUE(repo().insert_token(make_token("tok-2")));
  const auto first = start_ + 10s;
  ASSERT_TRUE(repo().revoke_token("tok-1", first));
  EXPECT_EQ(repo().find_token("tok-1")->revoke_time, first);
  // Revoking again succeeds and keeps the first time.
  ASSERT_TRUE(repo().revoke_token("tok-1", start_ + 20s));
  EXPECT_EQ(repo().find_token("tok-1")->revoke_time, first);
  // The other token is untouched; a revoked token is still listed and counted.
  EXPECT_FALSE(repo().find_token("tok-2")->revoke_time);
  EXPECT_EQ(*repo().count_tokens(), 2U);
  EXPECT_EQ(repo().list_tokens()->front().revoke_time, first);
  // Everything else about the token is unchanged.
  auto expected = make_token("tok-1");
  expected.revoke_time = first;
  EXPECT_EQ(*repo().find_token("tok-1"), expected);
}

TEST_P(OperatorBehaviour, RevokeUnknownTokenFails) {
  EXPECT_EQ(repo().revoke_token("ghost", start_).error(), registry_errc::token_not_found);
  EXPECT_EQ(*repo().count_tokens(), 0U);
}

TEST_P(OperatorBehaviour, InsertedRevokeTimeIsKept) {
  auto t = make_token("tok-old");
  t.revoke_time = start_ + 1s;
  ASSERT_TRUE(repo().insert_token(t));
  ASSERT_TRUE(repo().revoke_token("tok-old", start_ + 5s));
  EXPECT_EQ(repo().find_token("tok-old")->revoke_time, start_ + 1s);
}

// --- audit ---

TEST_P(OperatorBehaviour, AppendAuditAssignsSequenceFromOne) {
  auto r = make_audit("tok-1", "device.create", dev_a);
  r.sequence = 999; // ignored: the store assigns it
  auto s1 = repo().append_audit(r);
  ASSERT_TRUE(s1) << s1.error().message();
  EXPECT_EQ(*s1, 1);
  EXPECT_EQ(*repo().append_audit(make_audit("tok-1", "device.block", dev_a)), 2);
  EXPECT_EQ(*repo().append_audit(make_audit("system", "device.delete", dev_a)), 3);
  auto all = repo().list_audit({.limit = 0});
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 3U);
  for (std::size_t i = 0; i < all->size(); ++i) {
    EXPECT_EQ((*all)[i].sequence, static_cast<std::int64_t>(i) + 1);
  }
  auto expected = r;
  expected.sequence = 1;
  EXPECT_EQ(all->front(), expected);
}

TEST_P(OperatorBehaviour, AuditKeepsEveryField) {
  audit_record r;
  r.at = start_ + 3s + 7ns;
  r.actor = "anonymous";
  r.action = "auth.failure";
  r.target = "";
  r.outcome = "UNAUTHENTICATED";
  r.detail = "bad bearer token; 'quotes' \"and\" ; DROP TABLE audit_log; --";
  r.source_address = "[2001:db8::1]:443";
  ASSERT_EQ(*repo().append_audit(r), 1);
  auto list = repo().list_audit({});
  ASSERT_EQ(list->size(), 1U);
  r.sequence = 1;
  EXPECT_EQ(list->front(), r);
}

TEST_P(OperatorBehaviour, ListAuditAfterSequenceAndLimit) {
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(*repo().append_audit(make_audit("tok-1", "device.update", dev_a, i)), i + 1);
  }
  auto page = repo().list_audit({.after_sequence = 3, .limit = 4});
  ASSERT_TRUE(page);
  ASSERT_EQ(page->size(), 4U);
  EXPECT_EQ(page->front().sequence, 4);
  EXPECT_EQ(page->back().sequence, 7);
  EXPECT_EQ(page->front().at, start_ + 3s);
  // Paging by the last sequence seen walks the log once, in order.
  std::vector<std::int64_t> seen;
  std::int64_t after = 0;
  for (;;) {
    auto p = repo().list_audit({.after_sequence = after, .limit = 3});
    ASSERT_TRUE(p);
    if (p->empty()) {
      break;
    }
    for (const auto& r : *p) {
      seen.push_back(r.sequence);
    }
    after = p->back().sequence;
  }
  EXPECT_EQ(seen, (std::vector<std::int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
  // The default limit is 100; 0 means no limit.
  EXPECT_EQ(repo().list_audit({})->size(), 10U);
  EXPECT_EQ(repo().list_audit({.limit = 0})->size(), 10U);
  EXPECT_TRUE(repo().list_audit({.after_sequence = 10})->empty());
  EXPECT_TRUE(repo().list_audit({.after_sequence = 1000})->empty());
  EXPECT_EQ(repo().list_audit({.after_sequence = -5})->size(), 10U);
}

TEST_P(OperatorBehaviour, DefaultAuditLimitIsOneHundred) {
  for (int i = 0; i < 105; ++i) {
    ASSERT_TRUE(repo().append_audit(make_audit("system", "x", "t")));
  }
  EXPECT_EQ(repo().list_audit({})->size(), 100U);
  EXPECT_EQ(repo().list_audit({.limit = 0})->size(), 105U);
  EXPECT_EQ(repo().list_audit({.after_sequence = 100})->size(), 5U);
}

TEST_P(OperatorBehaviour, ListAuditFilters) {
  ASSERT_TRUE(repo().append_audit(make_audit("tok-1", "device.create", dev_a)));    // 1
  ASSERT_TRUE(repo().append_audit(make_audit("tok-2", "device.create", dev_b)));    // 2
  ASSERT_TRUE(repo().append_audit(make_audit("tok-1", "device.block", dev_b)));     // 3
  ASSERT_TRUE(repo().append_audit(make_audit("tok-2", "registry.create", reg_r2))); // 4
  ASSERT_TRUE(repo().append_audit(make_audit("tok-1", "token.revoke", "tok-2")));   // 5
  ASSERT_TRUE(repo().append_audit(make_audit("tok-10", "device.create", dev_a)));   // 6

  auto seqs = [&](const audit_query& q) {
    std::vector<std::int64_t> out;
    auto l = repo().list_audit(q);
    EXPECT_TRUE(l);
    if (l) {
      for (const auto& r : *l) {
        out.push_back(r.sequence);
      }
    }
    return out;
  };
  using v = std::vector<std::int64_t>;
  // actor and action are exact matches (tok-1 does not match tok-10).
  EXPECT_EQ(seqs({.actor = "tok-1"}), (v{1, 3, 5}));
  EXPECT_EQ(seqs({.actor = "tok"}), v{});
  EXPECT_EQ(seqs({.action = "device.create"}), (v{1, 2, 6}));
  EXPECT_EQ(seqs({.action = "device"}), v{});
  // target_prefix is a prefix.
  EXPECT_EQ(seqs({.target_prefix = dev_b}), (v{2, 3}));
  EXPECT_EQ(seqs({.target_prefix = "projects/p/locations/l/registries/r/"}), (v{1, 2, 3, 6}));
  EXPECT_EQ(seqs({.target_prefix = "projects/p/locations/l/registries/r"}), (v{1, 2, 3, 4, 6}));
  EXPECT_EQ(seqs({.target_prefix = "projects/q"}), v{});
  // LIKE wildcards in a prefix are plain characters.
  EXPECT_EQ(seqs({.target_prefix = "projects/_/"}), v{});
  EXPECT_EQ(seqs({.target_prefix = "%"}), v{});
  // Filters combine, with each other and with after_sequence and limit (applied after filtering).
  EXPECT_EQ(seqs({.actor = "tok-1", .action = "device.block"}), (v{3}));
  EXPECT_EQ(seqs({.target_prefix = dev_a, .actor = "tok-10"}), (v{6}));
  EXPECT_EQ(seqs({.after_sequence = 1, .limit = 1, .actor = "tok-1"}), (v{3}));
  EXPECT_EQ(seqs({.after_sequence = 0, .limit = 2, .action = "device.create"}), (v{1, 2}));
  EXPECT_EQ(seqs({.after_sequence = 2, .limit = 0, .target_prefix = "projects/"}), (v{3, 4, 6}));
}

TEST_P(OperatorBehaviour, ConcurrentAppendsGetDistinctIncreasingSequences) {
  constexpr int threads = 4;
  constexpr int per_thread = 25;
  std::vector<std::thread> workers;
  std::vector<std::vector<std::int64_t>> got(static_cast<std::size_t>(threads));
  std::atomic<int> failures{0};
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        auto s = repo().append_audit(make_audit("tok-" + std::to_string(t), "x", "t"));
        if (!s) {
          ++failures;
          continue;
        }
        got[static_cast<std::size_t>(t)].push_back(*s);
      }
    });
  }
  for (auto& w : workers) {
    w.join();
  }
  ASSERT_EQ(failures.load(), 0);
  std::set<std::int64_t> all;
  for (const auto& g : got) {
    for (std::size_t i = 1; i < g.size(); ++i) {
      EXPECT_LT(g[i - 1], g[i]); // each thread sees its own appends in order
    }
    all.insert(g.begin(), g.end());
  }
  ASSERT_EQ(all.size(), static_cast<std::size_t>(threads * per_thread));
  EXPECT_EQ(*all.begin(), 1);
  EXPECT_EQ(*all.rbegin(), threads * per_thread);
  auto list = repo().list_audit({.limit = 0});
  ASSERT_EQ(list->size(), all.size());
  for (std::size_t i = 0; i < list->size(); ++i) {
    EXPECT_EQ((*list)[i].sequence, static_cast<std::int64_t>(i) + 1);
  }
}

// --- revocations ---

TEST_P(OperatorBehaviour, RevocationsAreKeptAndListedByTime) {
  const revoked_certificate a{"1a2b", start_ + 30s, "keyCompromise", dev_a};
  const revoked_certificate b{"ff", start_ + 10s, "unspecified", "CN=gateway-7"};
  const revoked_certificate c{"0", start_ + 20s + 5ns, "superseded", dev_b};
  ASSERT_TRUE(repo().insert_revocation(a));
  ASSERT_TRUE(repo().insert_revocation(b));
  ASSERT_TRUE(repo().insert_revocation(c));
  auto list = repo().list_revocations();
  ASSERT_TRUE(list);
  EXPECT_EQ(*list, (std::vector<revoked_certificate>{b, c, a}));
  EXPECT_TRUE(*repo().is_revoked("1a2b"));
  EXPECT_TRUE(*repo().is_revoked("0"));
  EXPECT_TRUE(*repo().is_revoked("ff"));
  EXPECT_FALSE(*repo().is_revoked("FF")); // serials are stored lower-case; no folding
  EXPECT_FALSE(*repo().is_revoked("1a2"));
  EXPECT_FALSE(*repo().is_revoked(""));
}

TEST_P(OperatorBehaviour, RevokingASerialAgainKeepsTheFirst) {
  const revoked_certificate first{"abc123", start_ + 5s, "keyCompromise", dev_a};
  ASSERT_TRUE(repo().insert_revocation(first));
  ASSERT_TRUE(repo().insert_revocation({"abc123", start_ + 50s, "unspecified", "other"}));
  auto list = repo().list_revocations();
  ASSERT_EQ(list->size(), 1U);
  EXPECT_EQ(list->front(), first);
}

TEST_P(OperatorBehaviour, RevocationsAtTheSameTimeAreOrderedBySerial) {
  ASSERT_TRUE(repo().insert_revocation({"c", start_, "unspecified", ""}));
  ASSERT_TRUE(repo().insert_revocation({"a", start_, "unspecified", ""}));
  ASSERT_TRUE(repo().insert_revocation({"b", start_, "unspecified", ""}));
  auto list = repo().list_revocations();
  ASSERT_EQ(list->size(), 3U);
  EXPECT_EQ((*list)[0].serial_hex, "a");
  EXPECT_EQ((*list)[1].serial_hex, "b");
  EXPECT_EQ((*list)[2].serial_hex, "c");
}

// The three parts are independent.
TEST_P(OperatorBehaviour, TokensAuditAndRevocationsDoNotInteract) {
  ASSERT_TRUE(repo().insert_token(make_token("tok-1")));
  ASSERT_TRUE(repo().insert_revocation({"tok-1", start_, "unspecified", ""}));
  ASSERT_TRUE(repo().append_audit(make_audit("tok-1", "token.revoke", "tok-1")));
  EXPECT_FALSE(repo().find_token("tok-1")->revoke_time);
  EXPECT_EQ(repo().revoke_token("1", start_).error(), registry_errc::token_not_found);
  EXPECT_FALSE(*repo().is_revoked("1"));
}

} // namespace aegis::registry::testing
