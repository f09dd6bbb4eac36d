// The read executor: tasks start in posting order, a full queue refuses with a
// message an operator can act on, and Shutdown runs what is queued but takes no more.
#include "gateway/read_executor.h"

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace caselink {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Seconds(30);

std::unique_ptr<ReadExecutor> MakeExecutor(uint32_t threads, size_t max_queued) {
  auto executor = ReadExecutor::Create(ReadExecutorOptions{threads, max_queued, "test-read"});
  EXPECT_TRUE(executor.ok()) << executor.status();
  return std::move(*executor);
}

TEST(ReadExecutorTest, CreateRefusesZeroThreadsAndAnEmptyQueue) {
  auto no_threads = ReadExecutor::Create(ReadExecutorOptions{0, 8, "x"});
  EXPECT_EQ(no_threads.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_threads.status().message(), HasSubstr("at least one thread"));
  auto no_queue = ReadExecutor::Create(ReadExecutorOptions{1, 0, "x"});
  EXPECT_EQ(no_queue.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ReadExecutorTest, OneWorkerRunsTasksInPostingOrder) {
  auto executor = MakeExecutor(1, 1000);
  std::mutex mu;
  std::vector<int> ran;
  std::vector<int> expected;
  for (int i = 0; i < 500; ++i) {
    expected.push_back(i);
    ASSERT_TRUE(executor->Post([&, i] {
      std::lock_guard<std::mutex> lock(mu);
      ran.push_back(i);
    }).ok());
  }
  executor->Shutdown();
  EXPECT_THAT(ran, ElementsAreArray(expected));
}

TEST(ReadExecutorTest, WorkersRunTasksAtTheSameTime) {
  auto executor = MakeExecutor(2, 8);
  absl::Notification first_started, second_started, both_met;
  std::atomic<int> met{0};
  // Each waits for the other: only two workers at once let both finish.
  ASSERT_TRUE(executor->Post([&] {
    first_started.Notify();
    if (second_started.WaitForNotificationWithTimeout(kWait)) met++;
  }).ok());
  ASSERT_TRUE(executor->Post([&] {
    second_started.Notify();
    if (first_started.WaitForNotificationWithTimeout(kWait)) met++;
  }).ok());
  executor->Shutdown();
  EXPECT_EQ(met.load(), 2);
}

TEST(ReadExecutorTest, FullQueueRefusesWithResourceExhaustedAndTheRefusedTaskNeverRuns) {
  auto executor = MakeExecutor(1, 2);
  absl::Notification started, release;
  std::atomic<int> ran{0};
  bool refused_ran = false;
  ASSERT_TRUE(executor->Post([&] {
    started.Notify();
    release.WaitForNotification();
    ran++;
  }).ok());
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(kWait));
  // The worker is busy, so these two wait in the queue and fill it.
  ASSERT_TRUE(executor->Post([&] { ran++; }).ok());
  ASSERT_TRUE(executor->Post([&] { ran++; }).ok());
  EXPECT_EQ(executor->queued(), 2u);
  absl::Status refused = executor->Post([&] { refused_ran = true; });
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.message(), HasSubstr("read queue is full (2 reads waiting for 1 read threads)"));
  EXPECT_THAT(refused.message(), HasSubstr("retry after a short backoff"));
  release.Notify();
  executor->Shutdown();
  EXPECT_EQ(ran.load(), 3);
  EXPECT_FALSE(refused_ran);
}

TEST(ReadExecutorTest, ShutdownRunsQueuedTasksAndRefusesNewOnes) {
  auto executor = MakeExecutor(1, 100000);
  absl::Notification started, release;
  std::atomic<int> ran{0};
  ASSERT_TRUE(executor->Post([&] {
    started.Notify();
    release.WaitForNotification();
  }).ok());
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(kWait));
  int accepted = 0;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(executor->Post([&] { ran++; }).ok());
    ++accepted;
  }
  std::thread stopper([&] { executor->Shutdown(); });
  // The worker is still held, so nothing queued has run when the refusal shows
  // that Shutdown began; tasks accepted until then must still run.
  absl::Status st;
  const absl::Time deadline = absl::Now() + kWait;
  while ((st = executor->Post([&] { ran++; })).ok() && absl::Now() < deadline) {
    ++accepted;
    std::this_thread::yield();
  }
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(st.message(), HasSubstr("shutting down"));
  EXPECT_EQ(ran.load(), 0);
  release.Notify();
  stopper.join();
  EXPECT_EQ(ran.load(), accepted);
  EXPECT_EQ(executor->queued(), 0u);
  EXPECT_EQ(executor->Post([] {}).code(), absl::StatusCode::kUnavailable);
  executor->Shutdown();  // idempotent
}

}  // namespace
}  // namespace caselink
