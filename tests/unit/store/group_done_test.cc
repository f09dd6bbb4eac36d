// Flushes deferred to the end of a group's Dones: held until the scope
// closes, in order, at once outside a scope; and the SQLite store opens the
// scope around each committed group's Dones.
#include <filesystem>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "adapters/store/store.h"
#include "gtest/gtest.h"

namespace caselink {
namespace {

TEST(GroupDoneTest, OutsideAGroupAFlushRunsAtOnce) {
  int runs = 0;
  AfterGroupDone([&] { ++runs; });
  EXPECT_EQ(runs, 1);
}

TEST(GroupDoneTest, FlushesWaitForTheScopeAndRunInOrder) {
  std::vector<std::string> log;
  {
    GroupDoneScope scope;
    AfterGroupDone([&] { log.push_back("first flush"); });
    log.push_back("done 1");
    AfterGroupDone([&] { log.push_back("second flush"); });
    log.push_back("done 2");
    EXPECT_EQ(log.size(), 2u);
  }
  EXPECT_EQ(log, (std::vector<std::string>{"done 1", "done 2", "first flush", "second flush"}));
  // The scope is closed: the next flush runs at once again.
  AfterGroupDone([&] { log.push_back("after"); });
  EXPECT_EQ(log.back(), "after");
}

TEST(GroupDoneTest, AFlushThatDefersAnotherRunsItAtOnce) {
  std::vector<std::string> log;
  {
    GroupDoneScope scope;
    AfterGroupDone([&] {
      log.push_back("outer");
      AfterGroupDone([&] { log.push_back("inner"); });
      log.push_back("outer end");
    });
  }
  EXPECT_EQ(log, (std::vector<std::string>{"outer", "inner", "outer end"}));
}

TEST(GroupDoneTest, ScopesAreKeptPerThread) {
  int here = 0;
  int there = 0;
  {
    GroupDoneScope scope;
    std::thread other([&] { AfterGroupDone([&] { ++there; }); });
    other.join();
    EXPECT_EQ(there, 1);  // no scope on that thread
    AfterGroupDone([&] { ++here; });
    EXPECT_EQ(here, 0);  // held by this thread's scope
  }
  EXPECT_EQ(here, 1);
}

TEST(GroupDoneTest, TheSqliteStoreRunsAGroupsFlushesAfterAllItsDones) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("caselink-group-done-" + std::to_string(absl::ToUnixNanos(absl::Now())));
  SqliteStoreOptions options;
  options.data_dir = dir.string();
  absl::StatusOr<std::unique_ptr<Store>> store = OpenSqliteStore(options);
  ASSERT_TRUE(store.ok()) << store.status();

  // The writer is held inside a first work, so the next three queue up and
  // are committed as one group.
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  (*store)->Write(
      [&entered, released](StoreTransaction&) {
        entered.set_value();
        released.wait();
        return absl::OkStatus();
      },
      [](absl::Status) {});
  entered.get_future().wait();

  std::mutex mu;
  std::vector<std::string> log;
  std::promise<void> all_flushed;
  int flushes = 0;
  for (int i = 0; i < 3; ++i) {
    (*store)->Write([](StoreTransaction&) { return absl::OkStatus(); },
                    [&, i](absl::Status status) {
                      ASSERT_TRUE(status.ok()) << status;
                      {
                        std::lock_guard<std::mutex> lock(mu);
                        log.push_back("done " + std::to_string(i));
                      }
                      AfterGroupDone([&, i] {
                        std::lock_guard<std::mutex> lock(mu);
                        log.push_back("flush " + std::to_string(i));
                        if (++flushes == 3) all_flushed.set_value();
                      });
                    });
  }
  release.set_value();
  all_flushed.get_future().wait();
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(log, (std::vector<std::string>{"done 0", "done 1", "done 2", "flush 0", "flush 1", "flush 2"}));
  }
  (*store)->Shutdown();
  store->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace caselink
