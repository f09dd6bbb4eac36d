// The /proc readers on this test's own process: a thread that sleeps is
// counted as switching out, and its CPU time and name are read.
#include "tools/loadgen/process_stats.h"

#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace caselink::loadgen {
namespace {

int ThisThreadId() { return static_cast<int>(syscall(SYS_gettid)); }

TEST(ProcessStatsTest, SleepsAreCountedAsVoluntarySwitches) {
  const int tid = ThisThreadId();
  const std::map<int, ThreadCpu> before = ReadThreadCpu(getpid());
  ASSERT_TRUE(before.contains(tid));
  for (int i = 0; i < 5; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  // Some work, so the thread's CPU time moves too.
  volatile uint64_t sink = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(30);
  while (std::chrono::steady_clock::now() < until) sink = sink + 1;
  const std::map<int, ThreadCpu> after = ReadThreadCpu(getpid());
  ASSERT_TRUE(after.contains(tid));
  EXPECT_GE(after.at(tid).voluntary_switches, before.at(tid).voluntary_switches + 5);
  EXPECT_GE(after.at(tid).involuntary_switches, before.at(tid).involuntary_switches);
  EXPECT_GT(after.at(tid).user_seconds + after.at(tid).system_seconds,
            before.at(tid).user_seconds + before.at(tid).system_seconds);
  EXPECT_FALSE(after.at(tid).name.empty());
}

TEST(ProcessStatsTest, AnotherThreadIsListedWithItsOwnCounts) {
  std::atomic<int> other_tid{0};
  std::atomic<bool> done{false};
  std::thread other([&] {
    other_tid = ThisThreadId();
    while (!done.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  while (other_tid.load() == 0) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const std::map<int, ThreadCpu> threads = ReadThreadCpu(getpid());
  done = true;
  other.join();
  ASSERT_TRUE(threads.contains(other_tid.load()));
  EXPECT_GE(threads.at(other_tid.load()).voluntary_switches, 1u);
  EXPECT_GE(threads.size(), 2u);
}

TEST(ProcessStatsTest, ThreadsSharingOneCpuAreSeenWaitingForIt) {
  // Two threads spin for 200 ms of wall time each on one CPU: each is ready
  // to run while the other holds it, about half of the time, and the kernel
  // counts that wait. They stay alive, idle, until their counts are read.
  std::atomic<int> started{0};
  std::atomic<int> spun{0};
  std::atomic<bool> go{false};
  std::atomic<bool> leave{false};
  std::atomic<int> tids[2] = {0, 0};
  std::vector<std::thread> spinners;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(sched_getcpu(), &one);
  for (int i = 0; i < 2; ++i) {
    spinners.emplace_back([&, i] {
      tids[i] = ThisThreadId();
      ++started;
      while (!go.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      volatile uint64_t sink = 0;
      const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
      while (std::chrono::steady_clock::now() < until) sink = sink + 1;
      ++spun;
      while (!leave.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
    ASSERT_EQ(pthread_setaffinity_np(spinners.back().native_handle(), sizeof(one), &one), 0);
  }
  while (started.load() < 2) std::this_thread::yield();
  const std::map<int, ThreadCpu> before = ReadThreadCpu(getpid());
  go = true;
  while (spun.load() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const std::map<int, ThreadCpu> after = ReadThreadCpu(getpid());
  leave = true;
  for (std::thread& t : spinners) t.join();

  for (const std::atomic<int>& tid : tids) {
    ASSERT_TRUE(before.contains(tid.load()));
    ASSERT_TRUE(after.contains(tid.load()));
    const ThreadCpu& b = before.at(tid.load());
    const ThreadCpu& a = after.at(tid.load());
    ASSERT_TRUE(b.cpu_wait_seconds.has_value()) << "no /proc/<pid>/task/<tid>/schedstat";
    ASSERT_TRUE(a.cpu_wait_seconds.has_value());
    // About 100 ms each when nothing else runs on that CPU; more when something does.
    EXPECT_GE(*a.cpu_wait_seconds - *b.cpu_wait_seconds, 0.04) << "thread " << tid.load();
  }
}

}  // namespace
}  // namespace caselink::loadgen
