#include "aegis/storage_sqlite/executor.hpp"

#include "aegis/registry/errors.hpp"
#include "aegis/registry/service.hpp"

#include "store_fixture.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

namespace {

using namespace aegis;
using namespace std::chrono_literals;
using registry::registry_errc;
using storage_sqlite::storage_executor;
namespace fx = aegis::storage_sqlite::testing;

TEST(StoreExecutor, RunsWorkAndCompletionOnTheStorageThread) {
  storage_executor exec;
  const auto caller = std::this_thread::get_id();
  std::promise<std::pair<std::thread::id, int>> seen;
  auto r = exec.submit(
      [&]() -> result<int> {
        EXPECT_TRUE(exec.on_storage_thread());
        return 42;
      },
      [&](result<int> v) {
        seen.set_value({std::this_thread::get_id(), v ? *v : -1});
      });
  ASSERT_TRUE(r);
  auto [thread, value] = seen.get_future().get();
  EXPECT_NE(thread, caller);
  EXPECT_EQ(value, 42);
  EXPECT_FALSE(exec.on_storage_thread());
}

TEST(StoreExecutor, FutureCarriesValuesAndErrors) {
  storage_executor exec;
  auto good = exec.submit([]() -> result<std::string> { return std::string("value"); });
  auto bad = exec.submit([]() -> result<int> { return registry_errc::device_not_found; });
  EXPECT_EQ(*good.get(), "value");
  EXPECT_EQ(bad.get().error(), registry_errc::device_not_found);
}

TEST(StoreExecutor, RunsInSubmissionOrder) {
  storage_executor exec;
  std::vector<int> order;
  std::vector<std::future<result<void>>> done;
  for (int i = 0; i < 50; ++i) {
    done.push_back(exec.submit([&order, i]() -> result<void> {
      order.push_back(i);
      return ok();
    }));
  }
  for (auto& f : done) {
    ASSERT_TRUE(f.get());
  }
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(order[static_cast<std::size_t>(i)], i);
  }
}

TEST(StoreExecutor, AFullQueueRefusesAtOnceInsteadOfBlocking) {
  storage_executor exec(2);
  std::promise<void> release;
  auto gate = release.get_future().share();
  std::promise<void> started;
  auto first = exec.submit([&, gate]() -> result<void> {
    started.set_value();
    gate.wait();
    return ok();
  });
  started.get_future().wait(); // the first item runs and holds the thread
  auto second = exec.submit([]() -> result<void> { return ok(); });
  auto third = exec.submit([]() -> result<void> { return ok(); });
  EXPECT_EQ(exec.queued(), 2U);

  bool called = false;
  const auto before = std::chrono::steady_clock::now();
  auto refused =
      exec.submit([]() -> result<int> { return 1; }, [&](result<int>) { called = true; });
  auto refused_future = exec.submit([]() -> result<int> { return 1; });
  EXPECT_LT(std::chrono::steady_clock::now() - before, 1s);
  EXPECT_EQ(refused.error(), registry_errc::storage_unavailable);
  ASSERT_EQ(refused_future.wait_for(0s), std::future_status::ready);
  EXPECT_EQ(refused_future.get().error(), registry_errc::storage_unavailable);
  EXPECT_EQ(http_status(registry_errc::storage_unavailable), 503);

  release.set_value();
  EXPECT_TRUE(first.get());
  EXPECT_TRUE(second.get());
  EXPECT_TRUE(third.get());
  EXPECT_FALSE(called);
}

TEST(StoreExecutor, StopRunsEverythingAcceptedThenRefuses) {
  storage_executor exec;
  std::atomic<int> ran{0};
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(exec.submit(
        [&]() -> result<void> {
          std::this_thread::sleep_for(50us);
          ++ran;
          return ok();
        },
        [](result<void>) {}));
  }
  exec.stop();
  EXPECT_EQ(ran.load(), 200);
  EXPECT_EQ(exec.submit([]() -> result<void> { return ok(); }, [](result<void>) {}).error(),
            registry_errc::storage_unavailable);
  exec.stop(); // idempotent
}

TEST(StoreExecutor, AThrowingItemDoesNotStopTheThread) {
  storage_executor exec;
  ASSERT_TRUE(
      exec.submit([]() -> result<int> { throw std::runtime_error("bug"); }, [](result<int>) {}));
  auto after = exec.submit([]() -> result<int> { return 7; });
  EXPECT_EQ(*after.get(), 7);
}

TEST(StoreExecutor, DrivesTheRegistryOverTheStore) {
  fx::temp_dir dir;
  auto key = fx::test_master_key();
  auto store = fx::open_store(dir.db(), key);
  manual_clock clock;
  registry::registry_service svc(*store, clock);
  storage_executor exec;
  const registry::project_id project{"acme-iot"};
  auto created = exec.submit([&] { return svc.create_project(project); });
  ASSERT_TRUE(created.get());
  auto again = exec.submit([&] { return svc.create_project(project); });
  EXPECT_EQ(again.get().error(), registry_errc::project_exists);
}

} // namespace
