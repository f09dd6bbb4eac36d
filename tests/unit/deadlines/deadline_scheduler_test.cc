// Tests of DeadlineScheduler on a ManualClock (time moves only when the test says so) and on
// the system clock. Synchronisation is by Poke (which returns after a complete pass) or by
// waiting on the callback's own signal; no test sleeps.
#include "gateway/deadlines/deadline_scheduler.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "adapters/clock/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace caselink::deadlines {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Generous bound for waits on another thread; reached only when a test is failing.
constexpr auto kFailAfter = std::chrono::seconds(30);

const absl::Time kT0 = absl::FromUnixSeconds(1759200000);  // 2025-09-30 10:40 CST

// Collects fired ids, with the clock reading at each firing, and lets a test wait for them.
class Recorder {
 public:
  explicit Recorder(const Clock& clock) : clock_(clock) {}

  DeadlineScheduler::DueCallback Callback() {
    return [this](const std::string& id) {
      std::lock_guard<std::mutex> lock(mu_);
      ids_.push_back(id);
      fired_at_.push_back(clock_.Now());
      cv_.notify_all();
    };
  }
  std::vector<std::string> ids() const {
    std::lock_guard<std::mutex> lock(mu_);
    return ids_;
  }
  absl::Time fired_at(size_t i) const {
    std::lock_guard<std::mutex> lock(mu_);
    return fired_at_.at(i);
  }
  // True once `n` deadlines have fired; false if that takes longer than kFailAfter.
  bool WaitForCount(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kFailAfter, [&] { return ids_.size() >= n; });
  }

 private:
  const Clock& clock_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> ids_;
  std::vector<absl::Time> fired_at_;
};

// With a long max_wait, only a notification can wake the thread within a test's lifetime.
DeadlineScheduler::Options LongWait() {
  DeadlineScheduler::Options options;
  options.max_wait = absl::Hours(1);
  return options;
}

TEST(DeadlineSchedulerTest, FiresInDueOrderAsTheClockPassesThem) {
  ManualClock clock(kT0);
  Recorder fired(clock);
  DeadlineScheduler scheduler(clock, fired.Callback(), LongWait());
  // Added out of order on purpose.
  ASSERT_TRUE(scheduler.Add("filing-decision", kT0 + absl::Hours(72)).ok());
  ASSERT_TRUE(scheduler.Add("transfer", kT0 + absl::Hours(24)).ok());
  ASSERT_TRUE(scheduler.Add("receipt", kT0 + absl::Hours(25)).ok());
  EXPECT_EQ(scheduler.next_due(), kT0 + absl::Hours(24));

  scheduler.Poke();
  EXPECT_THAT(fired.ids(), IsEmpty());

  clock.Advance(absl::Hours(24));
  scheduler.Poke();
  EXPECT_THAT(fired.ids(), ElementsAre("transfer"));

  // One jump past both remaining deadlines fires them in due order.
  clock.Advance(absl::Hours(100));
  scheduler.Poke();
  EXPECT_THAT(fired.ids(), ElementsAre("transfer", "receipt", "filing-decision"));
  EXPECT_EQ(scheduler.pending(), 0);
  EXPECT_EQ(scheduler.next_due(), std::nullopt);
}

TEST(DeadlineSchedulerTest, NothingFiresBeforeItsTime) {
  ManualClock clock(kT0);
  Recorder fired(clock);
  DeadlineScheduler scheduler(clock, fired.Callback(), LongWait());
  const absl::Time due = kT0 + absl::Hours(1);
  ASSERT_TRUE(scheduler.Add("review", due).ok());

  clock.Set(due - absl::Nanoseconds(1));
  scheduler.Poke();
  EXPECT_THAT(fired.ids(), IsEmpty());
  EXPECT_EQ(scheduler.pending(), 1);

  clock.Set(due);  // due means "at or after the due instant"
  scheduler.Poke();
  ASSERT_THAT(fired.ids(), ElementsAre("review"));
  EXPECT_EQ(fired.fired_at(0), due);
}

TEST(DeadlineSchedulerTest, CancelledDeadlinesNeverFire) {
  ManualClock clock(kT0);
  Recorder fired(clock);
  DeadlineScheduler scheduler(clock, fired.Callback(), LongWait());
  ASSERT_TRUE(scheduler.Add("a", kT0 + absl::Minutes(1)).ok());
  ASSERT_TRUE(scheduler.Add("b", kT0 + absl::Minutes(2)).ok());
  ASSERT_TRUE(scheduler.Add("c", kT0 + absl::Minutes(3)).ok());

  EXPECT_TRUE(scheduler.Cancel("a"));  // the earliest, which the thread is waiting for
  EXPECT_TRUE(scheduler.Cancel("c"));
  EXPECT_FALSE(scheduler.Cancel("a"));  // already cancelled
  EXPECT_FALSE(scheduler.Cancel("never-added"));

  clock.Advance(absl::Hours(1));
  scheduler.Poke();
  EXPECT_THAT(fired.ids(), ElementsAre("b"));
  EXPECT_FALSE(scheduler.Cancel("b"));  // it has fired; too late to cancel
}

TEST(DeadlineSchedulerTest, AddingAnEarlierDeadlineWakesTheThread) {
  ManualClock clock(kT0);
  Recorder fired(clock);
  DeadlineScheduler scheduler(clock, fired.Callback(), LongWait());
  ASSERT_TRUE(scheduler.Add("far", kT0 + absl::Hours(240)).ok());
  scheduler.Poke();  // the thread has made a pass and now waits (up to an hour) for "far"

  // Already due by the clock. No Poke: only Add's notification can wake the thread in time.
  ASSERT_TRUE(scheduler.Add("now", kT0).ok());
  ASSERT_TRUE(fired.WaitForCount(1)) << "the thread did not wake for the earlier deadline";
  EXPECT_THAT(fired.ids(), ElementsAre("now"));
  EXPECT_EQ(scheduler.pending(), 1);
}

TEST(DeadlineSchedulerTest, WakesForAnEarlierDeadlineOnTheSystemClock) {
  SystemClock clock;
  Recorder fired(clock);
  DeadlineScheduler scheduler(clock, fired.Callback(), LongWait());
  const absl::Time start = clock.Now();
  ASSERT_TRUE(scheduler.Add("late", start + absl::Hours(1)).ok());
  const absl::Time soon = start + absl::Milliseconds(50);
  ASSERT_TRUE(scheduler.Add("soon", soon).ok());

  ASSERT_TRUE(fired.WaitForCount(1));
  EXPECT_THAT(fired.ids(), ElementsAre("soon"));
  EXPECT_GE(fired.fired_at(0), soon) << "fired before its due time";
  EXPECT_EQ(scheduler.pending(), 1);
}

TEST(DeadlineSchedulerTest, EqualDueTimesFireInTheOrderAdded) {
  ManualClock clock(kT0);
  Recorder fired(clock);
  DeadlineScheduler scheduler(clock, fired.Callback(), LongWait());
  for (const char* id : {"x", "y", "z"}) ASSERT_TRUE(scheduler.Add(id, kT0 + absl::Hours(1)).ok());
  clock.Advance(absl::Hours(1));
  scheduler.Poke();
  EXPECT_THAT(fired.ids(), ElementsAre("x", "y", "z"));
}

TEST(DeadlineSchedulerTest, ManyDeadlinesFireInDueOrder) {
  ManualClock clock(kT0);
  Recorder fired(clock);
  DeadlineScheduler scheduler(clock, fired.Callback(), LongWait());
  constexpr int kCount = 5000;
  // Due times in a scrambled order: i * 7919 mod kCount is a permutation (7919 is prime).
  for (int i = 0; i < kCount; ++i) {
    const int slot = static_cast<int>((static_cast<int64_t>(i) * 7919) % kCount);
    ASSERT_TRUE(scheduler.Add(absl::StrCat("d", slot), kT0 + absl::Seconds(slot + 1)).ok());
  }
  clock.Advance(absl::Seconds(kCount / 2));
  scheduler.Poke();
  ASSERT_EQ(fired.ids().size(), static_cast<size_t>(kCount / 2));
  clock.Advance(absl::Hours(1));
  scheduler.Poke();
  const std::vector<std::string> ids = fired.ids();
  ASSERT_EQ(ids.size(), static_cast<size_t>(kCount));
  for (int i = 0; i < kCount; ++i) ASSERT_EQ(ids[i], absl::StrCat("d", i)) << i;
}

TEST(DeadlineSchedulerTest, RunDueFiresSynchronouslyWithoutAThread) {
  ManualClock clock(kT0);
  Recorder fired(clock);
  DeadlineScheduler::Options options;
  options.run_thread = false;
  DeadlineScheduler scheduler(clock, fired.Callback(), options);
  ASSERT_TRUE(scheduler.Add("b", kT0 + absl::Minutes(2)).ok());
  ASSERT_TRUE(scheduler.Add("a", kT0 + absl::Minutes(1)).ok());
  ASSERT_TRUE(scheduler.Add("c", kT0 + absl::Minutes(3)).ok());

  EXPECT_EQ(scheduler.RunDue(), 0);
  scheduler.Poke();  // no thread: returns at once, fires nothing
  EXPECT_THAT(fired.ids(), IsEmpty());

  clock.Advance(absl::Minutes(2));
  EXPECT_EQ(scheduler.RunDue(), 2);
  EXPECT_THAT(fired.ids(), ElementsAre("a", "b"));
  EXPECT_EQ(scheduler.RunDue(), 0);
  EXPECT_EQ(scheduler.pending(), 1);
}

TEST(DeadlineSchedulerTest, CallbackMayAddAndCancel) {
  ManualClock clock(kT0);
  DeadlineScheduler::Options options;
  options.run_thread = false;
  std::vector<std::string> fired;
  DeadlineScheduler* self = nullptr;
  DeadlineScheduler scheduler(
      clock,
      [&](const std::string& id) {
        fired.push_back(id);
        if (id == "overdue") {
          // An overdue deadline is escalated: a follow-up is scheduled, a sibling dropped.
          EXPECT_TRUE(self->Add("escalation", kT0).ok());
          EXPECT_TRUE(self->Cancel("sibling"));
        }
      },
      options);
  self = &scheduler;
  ASSERT_TRUE(scheduler.Add("overdue", kT0).ok());
  ASSERT_TRUE(scheduler.Add("sibling", kT0 + absl::Seconds(1)).ok());
  clock.Advance(absl::Seconds(1));
  // One pass: "overdue" fires; its callback cancels "sibling", which was due in the same pass
  // but had not been handed out yet, and adds "escalation", already due, which fires in it.
  EXPECT_EQ(scheduler.RunDue(), 2);
  EXPECT_THAT(fired, ElementsAre("overdue", "escalation"));
  EXPECT_EQ(scheduler.pending(), 0);
}

TEST(DeadlineSchedulerTest, RefusesEmptyAndDuplicateIdsAndAddsAfterStop) {
  ManualClock clock(kT0);
  Recorder fired(clock);
  DeadlineScheduler scheduler(clock, fired.Callback(), LongWait());
  EXPECT_EQ(scheduler.Add("", kT0).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(scheduler.Add("d1", kT0 + absl::Hours(1)).ok());
  EXPECT_EQ(scheduler.Add("d1", kT0 + absl::Hours(2)).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(scheduler.next_due(), kT0 + absl::Hours(1));  // the refused Add changed nothing

  // Moving a deadline is Cancel + Add.
  ASSERT_TRUE(scheduler.Cancel("d1"));
  ASSERT_TRUE(scheduler.Add("d1", kT0 + absl::Hours(2)).ok());

  scheduler.Stop();
  EXPECT_EQ(scheduler.Add("d2", kT0).code(), absl::StatusCode::kFailedPrecondition);
  scheduler.Poke();  // after Stop: returns at once
  scheduler.Stop();  // idempotent
}

TEST(DeadlineSchedulerTest, StopWakesAWaitingThreadAndDropsPendingDeadlines) {
  ManualClock clock(kT0);
  Recorder fired(clock);
  auto scheduler =
      std::make_unique<DeadlineScheduler>(clock, fired.Callback(), LongWait());
  ASSERT_TRUE(scheduler->Add("pending", kT0 + absl::Hours(1)).ok());
  scheduler->Poke();  // the thread now waits up to an hour; Stop must not wait that long
  scheduler.reset();
  clock.Advance(absl::Hours(2));
  EXPECT_THAT(fired.ids(), IsEmpty());
}

}  // namespace
}  // namespace caselink::deadlines
