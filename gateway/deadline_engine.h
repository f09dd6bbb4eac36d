// The deadline engine: statutory periods computed on China's calendar, and a
// scheduler that wakes at the earliest due time to mark missed duties overdue,
// alert the originator and the supervising procuratorate, and audit it.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "adapters/clock/clock.h"
#include "adapters/store/store.h"
#include "caselink/v1/case.pb.h"
#include "gateway/deadlines/deadline_scheduler.h"
#include "gateway/deadlines/holiday_calendar.h"
#include "gateway/delivery_hub.h"
#include "gateway/registry.h"

namespace caselink {

// When a period of `amount` units under `rule`, started at `start`, falls due
// (China Standard Time; see deadlines::ComputeDue; MONTHS run to the same day
// of the later month, or its last day, and a last day that is not a working
// day moves to the next working day). FAILED_PRECONDITION when it cannot be
// computed: no calendar for a rule that counts days, or a day outside the
// calendar's years. Never a guess.
absl::StatusOr<absl::Time> ComputeDeadlineDue(v1::Deadline::Rule rule, uint32_t amount, absl::Time start,
                                              const deadlines::HolidayCalendar* calendar);

// "3 days", "24 hours", "3 working days", "1 month".
std::string DescribePeriod(v1::Deadline::Rule rule, uint32_t amount);

// An instant as people in the case read it, e.g. "2026-03-05 24:00 CST".
std::string FormatChinaTime(absl::Time t);

struct DeadlineEngineDeps {
  Store& store;
  const AgencyRegistry& registry;
  const Clock& clock;
  DeliveryHub& hub;
  // Appends an audit record inside the store work that runs it; returns its
  // index. (The pipeline's audit path, so every record is made the same way.)
  std::function<absl::StatusOr<uint64_t>(StoreTransaction&, v1::AuditRecord)> audit;
};

class DeadlineEngine {
 public:
  struct Options {
    // Without the thread, deadlines fire only through CheckNow.
    bool run_thread = true;
    // Longest wait between two readings of the clock (see DeadlineScheduler).
    absl::Duration max_wait = absl::Minutes(1);
  };

  DeadlineEngine(DeadlineEngineDeps deps, Options options);
  explicit DeadlineEngine(DeadlineEngineDeps deps) : DeadlineEngine(std::move(deps), Options()) {}
  ~DeadlineEngine();
  DeadlineEngine(const DeadlineEngine&) = delete;
  DeadlineEngine& operator=(const DeadlineEngine&) = delete;

  // Schedules every running deadline in the store (after a restart); those
  // already due fire at once.
  absl::Status LoadRunning();

  // After a commit that started or moved `deadline` (moving replaces the old time).
  void Schedule(absl::string_view case_id, const v1::Deadline& deadline);
  // After a commit that met or cancelled it.
  void Unschedule(absl::string_view case_id, absl::string_view deadline_id);

  // Handles every deadline due at the clock's current reading and returns when
  // that is durable. For clocks that move by jumps (tests' ManualClock).
  void CheckNow();

  // Stops the thread; deadlines still pending stay RUNNING in the store and
  // are loaded again on the next start. Idempotent.
  void Stop();

  // Deadlines waiting to fall due.
  int pending() const;

 private:
  void OnDue(const std::string& key);
  // Marks one deadline due inside a store transaction; fills `recipients`.
  absl::Status MarkDue(StoreTransaction& txn, const std::string& case_id, const std::string& deadline_id,
                       std::vector<std::string>& recipients);

  DeadlineEngineDeps deps_;
  const bool run_thread_;
  std::unique_ptr<deadlines::DeadlineScheduler> scheduler_;
};

}  // namespace caselink
