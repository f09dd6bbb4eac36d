// The deadline engine on a fake clock: periods on the real calendar (worked
// examples), a PSB review run past its deadline (overdue case, alerts to the
// EPB and the procuratorate, audit record, then the EPB's supervision request),
// windows that close quietly, late actions, and reloading after a restart.
#include "gateway/deadline_engine.h"

#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "gateway/deadlines/deadline_rules.h"
#include "tests/unit/gateway/pipeline_fixture.h"

namespace caselink {
namespace {

using google::protobuf::util::TimeUtil;
using testing::ActionEnvelope;
using testing::TransferEnvelope;

absl::Time China(int y, int m, int d, int h = 10) {
  return absl::FromCivil(absl::CivilHour(y, m, d, h), deadlines::ChinaTimeZone());
}

class DeadlineEngineTest : public testing::PipelineFixture {
 protected:
  std::string Due(v1::Deadline::Rule rule, uint32_t amount, absl::Time start) {
    auto due = ComputeDeadlineDue(rule, amount, start, calendar_.get());
    return due.ok() ? FormatChinaTime(*due) : std::string(due.status().message());
  }

  std::vector<v1::Delivery> Alerts(const std::string& agency) {
    std::vector<v1::Delivery> out;
    auto pending = store_->ReadPendingDeliveries(agency, 0, 1000);
    EXPECT_TRUE(pending.ok()) << pending.status();
    for (auto& d : *pending) {
      if (d.reason() == v1::Delivery::ALERT) out.push_back(d);
    }
    return out;
  }

  std::vector<std::string> OverdueCases() {
    CaseFilter filter;
    filter.overdue_only = true;
    std::vector<std::string> ids;
    auto cases = store_->ListCases(filter);
    EXPECT_TRUE(cases.ok()) << cases.status();
    for (const auto& c : *cases) ids.push_back(c.case_id());
    return ids;
  }

  // Transfer on Monday 2026-03-02 09:00 and receipt: the review runs to Thursday 24:00.
  void TransferAndReceive(const std::string& case_id) {
    ASSERT_TRUE(Submit("510100.epb", TransferEnvelope(case_id)).ok());
    ASSERT_TRUE(Submit("510100.psb", ActionEnvelope(case_id, "receipt")).ok());
  }
};

TEST_F(DeadlineEngineTest, PeriodsOnTheHolidayCalendar) {
  using R = v1::Deadline;
  // Natural days: the last day, National Day 10-03, moves past the holiday block.
  EXPECT_EQ(Due(R::NATURAL_DAYS, 3, China(2026, 9, 30)), "2026-10-08 24:00 CST");
  // Working days: the make-up Saturday 10-10 counts.
  EXPECT_EQ(Due(R::WORKING_DAYS, 3, China(2026, 9, 30)), "2026-10-10 24:00 CST");
  // Hours run in real time, across the year end, without the calendar.
  EXPECT_EQ(Due(R::HOURS, 24, China(2026, 12, 31, 20)), "2027-01-01 20:00 CST");
  // Months: to the same day of the next month...
  EXPECT_EQ(Due(R::MONTHS, 1, China(2026, 8, 15)), "2026-09-15 24:00 CST");
  // ...or its last day (a make-up working Saturday here)...
  EXPECT_EQ(Due(R::MONTHS, 1, China(2026, 1, 30)), "2026-02-28 24:00 CST");
  EXPECT_EQ(Due(R::MONTHS, 1, China(2026, 3, 31)), "2026-04-30 24:00 CST");
  // ...moved past a holiday (Labour Day 05-05).
  EXPECT_EQ(Due(R::MONTHS, 1, China(2026, 4, 5)), "2026-05-06 24:00 CST");
  // Into 2027: past New Year 01-01..01-03 to Monday 01-04; a month from 12-15 to 01-15 (Fri);
  // a month landing on 2027-02-06 (Spring Festival, off to 02-13) ends on the make-up Sunday 02-14.
  EXPECT_EQ(Due(R::NATURAL_DAYS, 3, China(2026, 12, 30)), "2027-01-04 24:00 CST");
  EXPECT_EQ(Due(R::MONTHS, 1, China(2026, 12, 15)), "2027-01-15 24:00 CST");
  EXPECT_EQ(Due(R::MONTHS, 1, China(2027, 1, 6)), "2027-02-14 24:00 CST");
  // Outside the calendar's years (2028 on): refused, not guessed.
  auto outside = ComputeDeadlineDue(R::MONTHS, 1, China(2027, 12, 15), calendar_.get());
  EXPECT_EQ(outside.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(outside.status().message(), "2028")) << outside.status();
  auto natural = ComputeDeadlineDue(R::NATURAL_DAYS, 3, China(2027, 12, 30), calendar_.get());
  EXPECT_EQ(natural.status().code(), absl::StatusCode::kFailedPrecondition);
  auto no_calendar = ComputeDeadlineDue(R::NATURAL_DAYS, 3, China(2026, 3, 2), nullptr);
  EXPECT_EQ(no_calendar.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(no_calendar.status().message(), "holiday_calendar_file"));
  EXPECT_TRUE(ComputeDeadlineDue(R::HOURS, 24, China(2026, 3, 2), nullptr).ok());
}

TEST_F(DeadlineEngineTest, MissedPsbReviewAlertsOpensSupervisionAndIsAudited) {
  TransferAndReceive("O-1");
  EXPECT_EQ(engine_->pending(), 1);
  // Thursday 23:59: still running; nothing happens.
  clock_.Set(China(2026, 3, 5, 23) + absl::Minutes(59));
  engine_->CheckNow();
  EXPECT_EQ(ReadCase("O-1").deadlines(0).status(), v1::Deadline::RUNNING);
  EXPECT_TRUE(OverdueCases().empty());

  clock_.Set(China(2026, 3, 6, 0) + absl::Seconds(1));
  engine_->CheckNow();
  const v1::Case c = ReadCase("O-1");
  const v1::Deadline* d = FindDeadline(c, "psb_filing_decision");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->status(), v1::Deadline::OVERDUE);
  EXPECT_TRUE(d->has_overdue_at());
  EXPECT_EQ(c.state(), v1::RECEIVED);
  EXPECT_EQ(OverdueCases(), std::vector<std::string>{"O-1"});
  EXPECT_EQ(engine_->pending(), 0);

  // The originator and the supervising procuratorate are alerted; the PSB is not.
  for (const char* agency : {"510100.epb", "510100.pro"}) {
    auto alerts = Alerts(agency);
    ASSERT_EQ(alerts.size(), 1u) << agency;
    EXPECT_EQ(alerts[0].case_id(), "O-1");
    EXPECT_EQ(alerts[0].action(), "deadline_overdue");
    EXPECT_EQ(alerts[0].deadline().duty(), "psb_filing_decision");
    EXPECT_EQ(alerts[0].deadline().owed_by(), "510100.psb");
  }
  EXPECT_TRUE(Alerts("510100.psb").empty());

  // The audit log and the timeline have the event.
  AuditFilter filter;
  filter.case_id = "O-1";
  filter.action = "deadline.overdue";
  auto records = store_->QueryAudit(filter);
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 1u);
  v1::AuditRecord record;
  ASSERT_TRUE(record.ParseFromString((*records)[0].record()));
  EXPECT_EQ(record.outcome(), v1::AuditRecord::SYSTEM);
  EXPECT_TRUE(absl::StrContains(record.reason(), "psb_filing_decision")) << record.reason();
  EXPECT_TRUE(absl::StrContains(record.reason(), "2026-03-05 24:00 CST")) << record.reason();
  auto timeline = store_->ReadTimeline("O-1");
  ASSERT_EQ(timeline->size(), 3u);
  EXPECT_EQ(timeline->back().action(), "deadline_overdue");
  EXPECT_EQ(timeline->back().audit_index(), (*records)[0].index());

  // Firing again changes nothing.
  engine_->CheckNow();
  EXPECT_EQ(store_->ReadTimeline("O-1")->size(), 3u);

  // The EPB's supervision request now rests on the missed deadline.
  auto supervision = Submit("510100.epb", ActionEnvelope("O-1", "supervision_request"));
  ASSERT_TRUE(supervision.ok()) << supervision.status();
  const v1::Case supervised = ReadCase("O-1");
  EXPECT_EQ(supervised.state(), v1::SUPERVISION_REQUESTED);
  EXPECT_EQ(FindDeadline(supervised, "psb_filing_decision")->status(), v1::Deadline::CANCELLED);
  EXPECT_TRUE(FindDeadline(supervised, "psb_filing_decision")->has_overdue_at());
  EXPECT_TRUE(OverdueCases().empty());
}

TEST_F(DeadlineEngineTest, LateDecisionMeetsTheDutyAndKeepsTheRecordOfLateness) {
  TransferAndReceive("O-2");
  clock_.Set(China(2026, 3, 7));
  engine_->CheckNow();
  EXPECT_EQ(OverdueCases(), std::vector<std::string>{"O-2"});
  ASSERT_TRUE(Submit("510100.psb", ActionEnvelope("O-2", "filing")).ok());
  const v1::Case d_case = ReadCase("O-2");
  const v1::Deadline* d = FindDeadline(d_case, "psb_filing_decision");
  EXPECT_EQ(d->status(), v1::Deadline::MET);
  EXPECT_TRUE(d->has_overdue_at());
  EXPECT_TRUE(OverdueCases().empty());
}

TEST_F(DeadlineEngineTest, WindowClosesWithoutAlert) {
  TransferAndReceive("O-3");
  ASSERT_TRUE(Submit("510100.psb", ActionEnvelope("O-3", "non_filing")).ok());
  clock_.Set(China(2026, 3, 6, 9));
  engine_->CheckNow();
  const v1::Case window_case = ReadCase("O-3");
  const v1::Deadline* window = FindDeadline(window_case, "epb_reconsideration_window");
  ASSERT_NE(window, nullptr);
  EXPECT_EQ(window->status(), v1::Deadline::EXPIRED);
  EXPECT_TRUE(Alerts("510100.epb").empty());
  EXPECT_TRUE(Alerts("510100.pro").empty());
  EXPECT_TRUE(OverdueCases().empty());
  EXPECT_EQ(store_->ReadTimeline("O-3")->back().action(), "deadline_expired");
}

TEST_F(DeadlineEngineTest, RunningDeadlinesAreReloadedAfterARestart) {
  TransferAndReceive("O-4");
  TransferAndReceive("O-5");
  ASSERT_TRUE(Submit("510100.psb", ActionEnvelope("O-5", "filing")).ok());  // meets one, starts the EPB's handover
  auto running = store_->ListRunningDeadlines();
  ASSERT_TRUE(running.ok());
  ASSERT_EQ(running->size(), 2u);
  // A new engine on the same store (as after a restart) schedules exactly these.
  DeadlineEngine::Options options;
  options.run_thread = false;
  DeadlineEngine restarted(
      DeadlineEngineDeps{*store_, *registry_, clock_, hub_,
                         [this](StoreTransaction& txn, v1::AuditRecord r) { return pipeline_->AppendAudit(txn, std::move(r)); }},
      options);
  ASSERT_TRUE(restarted.LoadRunning().ok());
  EXPECT_EQ(restarted.pending(), 2);
  clock_.Set(China(2026, 3, 9));
  restarted.CheckNow();
  EXPECT_EQ(FindDeadline(ReadCase("O-4"), "psb_filing_decision")->status(), v1::Deadline::OVERDUE);
  EXPECT_EQ(FindDeadline(ReadCase("O-5"), "epb_evidence_handover")->status(), v1::Deadline::OVERDUE);
  // The EPB is alerted of its own missed handover, and the procuratorate too.
  EXPECT_EQ(Alerts("510100.epb").size(), 2u);
  EXPECT_EQ(Alerts("510100.pro").size(), 2u);
}

}  // namespace
}  // namespace caselink
