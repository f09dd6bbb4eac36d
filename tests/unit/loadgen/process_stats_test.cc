// The /proc readers on this test's own process: a thread that sleeps is
// counted as switching out, and its CPU time and name are read.
#include "tools/loadgen/process_stats.h"

#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
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
  // Three threads spin for 300 ms of wall time each on one CPU: each runs
  // about a third of that and is ready to run, waiting, the other two thirds.
  // Waiting longer than running tells the wait from the CPU time.
  constexpr int kThreads = 3;
  std::atomic<int> started{0};
  std::atomic<int> spun{0};
  std::atomic<bool> go{false};
  std::atomic<bool> leave{false};
  std::atomic<int> tids[kThreads] = {};
  std::vector<std::thread> spinners;
  // Joined on every way out of the test, a failed assertion's included.
  struct JoinAll {
    std::atomic<bool>& go;
    std::atomic<bool>& leave;
    std::vector<std::thread>& threads;
    ~JoinAll() {
      go = true;
      leave = true;
      for (std::thread& t : threads) t.join();
    }
  } join_all{go, leave, spinners};
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(sched_getcpu(), &one);
  for (int i = 0; i < kThreads; ++i) {
    spinners.emplace_back([&, i] {
      tids[i] = ThisThreadId();
      ++started;
      while (!go.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      volatile uint64_t sink = 0;
      const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
      while (std::chrono::steady_clock::now() < until && !leave.load()) sink = sink + 1;
      ++spun;
      while (!leave.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
    ASSERT_EQ(pthread_setaffinity_np(spinners.back().native_handle(), sizeof(one), &one), 0);
  }
  while (started.load() < kThreads) std::this_thread::yield();
  const std::map<int, ThreadCpu> before = ReadThreadCpu(getpid());
  go = true;
  while (spun.load() < kThreads) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const std::map<int, ThreadCpu> after = ReadThreadCpu(getpid());

  const bool kernel_keeps_schedstat = std::filesystem::exists("/proc/self/schedstat");
  for (const std::atomic<int>& tid : tids) {
    ASSERT_TRUE(before.contains(tid.load()));
    ASSERT_TRUE(after.contains(tid.load()));
    const ThreadCpu& b = before.at(tid.load());
    const ThreadCpu& a = after.at(tid.load());
    if (!kernel_keeps_schedstat) {
      EXPECT_FALSE(a.cpu_wait_seconds.has_value());
      continue;
    }
    ASSERT_TRUE(b.cpu_wait_seconds.has_value());
    ASSERT_TRUE(a.cpu_wait_seconds.has_value());
    const double waited = *a.cpu_wait_seconds - *b.cpu_wait_seconds;
    const double ran = (a.user_seconds + a.system_seconds) - (b.user_seconds + b.system_seconds);
    // About 200 ms waited against 100 ms run when nothing else uses that CPU.
    EXPECT_GE(waited, 0.1) << "thread " << tid.load();
    EXPECT_GT(waited, ran + 0.03) << "thread " << tid.load() << " ran " << ran << " s";
  }
}

}  // namespace
}  // namespace caselink::loadgen
