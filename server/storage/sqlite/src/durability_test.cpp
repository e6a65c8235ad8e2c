// Acknowledged writes survive kill -9. A child process writes through the store and, after each
// commit returns, acknowledges it on a pipe; it is then killed with SIGKILL (by itself after a
// fixed number of writes, or by the parent at an arbitrary point, likely mid-transaction). The
// parent reopens the database and checks that every acknowledged write is there, intact.
//
// This is the guarantee of durability::process_crash (WAL + synchronous=NORMAL); power loss is
// not simulated here.

#include "aegis/base/log.hpp"
#include "aegis/registry/service.hpp"
#include "aegis/storage_sqlite/store.hpp"

#include "sqlite.hpp"
#include "store_fixture.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace {

using namespace aegis;
using namespace aegis::registry;
using namespace aegis::storage_sqlite;
namespace fx = aegis::storage_sqlite::testing;

const registry_key reg_key{project_id{"acme-iot"}, location_id{"us-central1"},
                           registry_id{"fleet-a"}};

std::string device_name(std::uint32_t i) {
  return "dev-" + std::to_string(i);
}
std::string config_of(std::uint32_t i) {
  return "config payload " + std::to_string(i);
}

// The child: write forever (or `limit` times), acknowledging each committed write with its
// index. Never returns; never runs the parent's destructors or atexit handlers.
[[noreturn]] void writer_child(const std::filesystem::path& db, int ack_fd, std::uint32_t limit) {
  log::init({log::level::off});
  auto key = fx::test_master_key();
  auto store = sqlite_store::open({db, durability::process_crash}, key);
  if (!store) {
    _exit(2);
  }
  registry_service svc(**store, real_clock());
  for (std::uint32_t i = 0; limit == 0 || i < limit; ++i) {
    device_spec spec;
    spec.key = {reg_key, device_id{device_name(i)}};
    spec.metadata = {{"index", std::to_string(i)}};
    spec.initial_config = to_bytes(config_of(i));
    if (!svc.create_device(spec)) {
      _exit(3);
    }
    // Acknowledge only after the commit returned.
    if (::write(ack_fd, &i, sizeof i) != static_cast<ssize_t>(sizeof i)) {
      _exit(4);
    }
  }
  ::raise(SIGKILL); // die without closing the store: no checkpoint, no clean shutdown
  _exit(5);
}

// Kills and reaps the child on every path out of the test.
struct child_guard {
  pid_t pid = -1;
  ~child_guard() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

class SqliteDurability : public ::testing::Test {
protected:
  void SetUp() override {
    auto store = fx::open_store(dir_.db(), key_);
    manual_clock clock;
    registry_service svc(*store, clock);
    ASSERT_TRUE(svc.create_project(project_id{"acme-iot"}));
    ASSERT_TRUE(svc.create_registry(registry_spec{reg_key}));
  }

  // Runs the child; when `kill_after` > 0 the parent kills it once that many acks arrived.
  // Returns every acknowledged index.
  std::vector<std::uint32_t> run_child(std::uint32_t child_limit, std::uint32_t kill_after) {
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    child_guard child;
    child.pid = ::fork();
    if (child.pid == 0) {
      ::close(fds[0]);
      writer_child(dir_.db(), fds[1], child_limit);
    }
    ::close(fds[1]);
    std::vector<std::uint32_t> acks;
    std::string pending;
    bool killed = false;
    while (true) {
      pollfd p{fds[0], POLLIN, 0};
      if (::poll(&p, 1, 60'000) <= 0) {
        ADD_FAILURE() << "child stopped acknowledging";
        break;
      }
      char buf[4096];
      const ssize_t n = ::read(fds[0], buf, sizeof buf);
      if (n <= 0) {
        break; // EOF: the child is gone and every ack it wrote has been read
      }
      pending.append(buf, static_cast<std::size_t>(n));
      while (pending.size() >= sizeof(std::uint32_t)) {
        std::uint32_t i = 0;
        std::memcpy(&i, pending.data(), sizeof i);
        pending.erase(0, sizeof i);
        acks.push_back(i);
      }
      if (kill_after > 0 && !killed && acks.size() >= kill_after) {
        ::kill(child.pid, SIGKILL);
        killed = true;
      }
    }
    ::close(fds[0]);
    int status = 0;
    EXPECT_EQ(::waitpid(child.pid, &status, 0), child.pid);
    child.pid = -1;
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "child exited with status " << status << " instead of being killed";
    return acks;
  }

  void expect_all_present(const std::vector<std::uint32_t>& acks) {
    {
      auto c = detail::connection::open(dir_.db(), SQLITE_OPEN_READWRITE);
      ASSERT_TRUE(c);
      auto check = c->query_text("PRAGMA integrity_check");
      ASSERT_TRUE(check);
      EXPECT_EQ(*check, "ok");
    }
    auto store = fx::open_store(dir_.db(), key_);
    manual_clock clock;
    registry_service svc(*store, clock);
    for (const auto i : acks) {
      const device_key key{reg_key, device_id{device_name(i)}};
      auto d = svc.get_device(key);
      ASSERT_TRUE(d) << "acknowledged device " << i << " is missing: " << d.error().message();
      EXPECT_EQ(d->metadata.at("index"), std::to_string(i));
      auto cfg = svc.get_config(key);
      ASSERT_TRUE(cfg) << i << ": " << cfg.error().message();
      EXPECT_EQ(cfg->data, to_bytes(config_of(i)));
    }
    // Nothing beyond the acknowledged writes except, possibly, the one in flight.
    auto all = svc.list_devices(reg_key, {500, ""});
    ASSERT_TRUE(all);
    EXPECT_GE(all->size(), acks.size());
    EXPECT_LE(all->size(), acks.size() + 1);
  }

  fx::temp_dir dir_;
  crypto::master_key key_ = fx::test_master_key();
};

TEST_F(SqliteDurability, WritesAcknowledgedBeforeTheProcessKillsItselfSurvive) {
  const auto acks = run_child(100, 0);
  ASSERT_EQ(acks.size(), 100U);
  expect_all_present(acks);
}

TEST_F(SqliteDurability, WritesAcknowledgedBeforeAKillAtAnArbitraryPointSurvive) {
  const auto acks = run_child(0, 60);
  ASSERT_GE(acks.size(), 60U);
  for (std::uint32_t i = 0; i < acks.size(); ++i) {
    ASSERT_EQ(acks[i], i); // acknowledged in order, none skipped
  }
  expect_all_present(acks);
}

} // namespace
