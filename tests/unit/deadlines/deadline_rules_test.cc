// Worked examples of statutory period counting on the shipped 2024-2027 calendar. Each test
// writes out the count day by day; all times are China Standard Time (UTC+8) unless stated.
#include "gateway/deadlines/deadline_rules.h"

#include "absl/status/status.h"
#include "absl/time/civil_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/deadlines/shipped_calendar.h"

namespace caselink::deadlines {
namespace {

using ::caselink::deadlines::testing::ShippedCalendar;
using ::testing::HasSubstr;

// An instant given as China Standard Time wall-clock fields.
absl::Time Cst(int y, int mo, int d, int h = 0, int mi = 0) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, 0), ChinaTimeZone());
}

std::string Show(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S %z", t, ChinaTimeZone());
}

// Runs the rule and compares with the expected due instant, printing both in CST on failure.
void ExpectDue(absl::Time start, DeadlineRule rule, int amount, absl::Time expected) {
  absl::StatusOr<absl::Time> due = ComputeDue(start, rule, amount, ShippedCalendar());
  ASSERT_TRUE(due.ok()) << due.status();
  EXPECT_EQ(*due, expected) << amount << " " << DeadlineRuleName(rule) << " from " << Show(start)
                            << ": got " << Show(*due) << ", want " << Show(expected);
}

// (a) M2017 Art. 6: the EPB transfers within 24 hours of the decision to transfer.
//     Decision: 2025-09-30 23:30. Hours run in real time, so the holiday that starts at midnight
//     changes nothing: due 2025-10-01 23:30, exactly 24 h later.
TEST(DeadlineRulesTest, TransferWithinTwentyFourHoursRunsInRealTime) {
  ExpectDue(Cst(2025, 9, 30, 23, 30), DeadlineRule::kHours, 24, Cst(2025, 10, 1, 23, 30));
}

// (b) M2017 Art. 9: the PSB decides on filing within 3 (natural) days of receiving a transfer.
//     Received 2025-09-30 (Tue) 14:00. The start day does not count (M2017 Art. 38):
//       day 1 = 10-01, day 2 = 10-02, day 3 = 10-03 -> the last day is 10-03.
//     The calendar: 2025 National Day + Mid-Autumn holiday is 10-01..10-08 (10-06 is Mid-Autumn),
//     with 09-28 (Sun) and 10-11 (Sat) as make-up working days. 10-03 is a holiday, so the
//     deadline moves to the first working day after it: 10-04..10-08 are all holidays,
//     10-09 (Thu) is a working day. Due at 24:00 of 2025-10-09 = 2025-10-10 00:00.
TEST(DeadlineRulesTest, ThreeDayReviewEndingInNationalDayMovesToTheNinth) {
  ExpectDue(Cst(2025, 9, 30, 14, 0), DeadlineRule::kNaturalDays, 3, Cst(2025, 10, 10));
}

// (b') Same start, 7 days (M2017 Art. 9, leads to check): day 7 = 10-07, a holiday -> 10-09.
//      10 days: day 10 = 10-10 (Fri), a working day -> due 24:00 of 10-10.
//      11 days: day 11 = 10-11, a Saturday but a make-up working day, so it does not move:
//      due 24:00 of 10-11.
TEST(DeadlineRulesTest, LastDayOnAHolidayMovesButOnAWorkingDayDoesNot) {
  const absl::Time received = Cst(2025, 9, 30, 14, 0);
  ExpectDue(received, DeadlineRule::kNaturalDays, 7, Cst(2025, 10, 10));
  ExpectDue(received, DeadlineRule::kNaturalDays, 10, Cst(2025, 10, 11));
  ExpectDue(received, DeadlineRule::kNaturalDays, 11, Cst(2025, 10, 12));
}

// An ordinary weekend is a rest day (节假日 in Criminal Procedure Law Art. 105 covers the weekly
// rest days): from 2025-03-05 (Wed), 3 days -> day 3 = 03-08 (Sat), not a working day;
// 03-09 (Sun) neither; 03-10 (Mon) is. Due 24:00 of 03-10 = 2025-03-11 00:00.
TEST(DeadlineRulesTest, LastDayOnAnOrdinarySaturdayMovesToMonday) {
  ExpectDue(Cst(2025, 3, 5, 10, 0), DeadlineRule::kNaturalDays, 3, Cst(2025, 3, 11));
}

// A weekend day announced as a working day is not a rest day: from 2025-09-25 (Thu), 3 days ->
// day 3 = 09-28, a Sunday worked for the National Day holiday. Due 24:00 of 09-28.
TEST(DeadlineRulesTest, LastDayOnAMakeUpWorkingSundayStays) {
  ExpectDue(Cst(2025, 9, 25, 9, 0), DeadlineRule::kNaturalDays, 3, Cst(2025, 9, 29));
}

// The start day is the China day of the start instant, not the UTC day: 2025-03-04 17:00 UTC is
// 2025-03-05 01:00 CST (Wed). 1 day -> day 1 = 03-06 (Thu) -> due 2025-03-07 00:00 CST,
// which is 2025-03-06 16:00 UTC. Counting in UTC would have given one day less.
TEST(DeadlineRulesTest, DaysAreChinaStandardTimeDays) {
  const absl::Time start = absl::FromCivil(absl::CivilSecond(2025, 3, 4, 17, 0, 0),
                                           absl::UTCTimeZone());
  ExpectDue(start, DeadlineRule::kNaturalDays, 1, Cst(2025, 3, 7));
  EXPECT_EQ(Cst(2025, 3, 7),
            absl::FromCivil(absl::CivilSecond(2025, 3, 6, 16, 0, 0), absl::UTCTimeZone()));
}

// (c) D2014 Art. 12: the EPB transfers a detention case within 3 working days of its decision.
//     2026 Spring Festival: 02-15 (Sun)..02-23 (Mon) off; 02-14 (Sat) and 02-28 (Sat) worked.
//     Decision 2026-02-12 (Thu) 16:00; the start day does not count:
//       02-13 (Fri)            working day 1
//       02-14 (Sat, make-up)   working day 2
//       02-15 .. 02-23         holiday, not counted
//       02-24 (Tue)            working day 3 -> due 24:00 of 02-24 = 2026-02-25 00:00.
//     Without the make-up Saturday it would have been 02-25.
TEST(DeadlineRulesTest, WorkingDaysAcrossSpringFestivalCountTheMakeUpSaturday) {
  ExpectDue(Cst(2026, 2, 12, 16, 0), DeadlineRule::kWorkingDays, 3, Cst(2026, 2, 25));
}

// (c') D2014 Art. 15: the PSB declines within 5 working days of accepting. Accepted
//      2026-02-24 (Tue), the first working day after the holiday:
//        02-25 (Wed) 1, 02-26 (Thu) 2, 02-27 (Fri) 3, 02-28 (Sat, make-up) 4,
//        03-01 (Sun) rest, 03-02 (Mon) 5 -> due 24:00 of 03-02 = 2026-03-03 00:00.
//      With 4 working days the period ends on the make-up Saturday: due 2026-03-01 00:00.
TEST(DeadlineRulesTest, WorkingDaysAfterSpringFestivalCountTheSecondMakeUpSaturday) {
  ExpectDue(Cst(2026, 2, 24, 9, 0), DeadlineRule::kWorkingDays, 5, Cst(2026, 3, 3));
  ExpectDue(Cst(2026, 2, 24, 9, 0), DeadlineRule::kWorkingDays, 4, Cst(2026, 3, 1));
}

// 2025 Spring Festival: 01-28 (Tue)..02-04 (Tue) off; 01-26 (Sun) and 02-08 (Sat) worked.
// From 2025-01-24 (Fri), 3 working days:
//   01-25 (Sat) rest, 01-26 (Sun, make-up) 1, 01-27 (Mon) 2, 01-28..02-04 holiday,
//   02-05 (Wed) 3 -> due 2025-02-06 00:00.
TEST(DeadlineRulesTest, WorkingDaysAcrossSpringFestivalTwentyTwentyFive) {
  ExpectDue(Cst(2025, 1, 24, 11, 0), DeadlineRule::kWorkingDays, 3, Cst(2025, 2, 6));
}

// Working days skip ordinary weekends: from 2025-03-07 (Fri), 1 working day -> 03-10 (Mon).
TEST(DeadlineRulesTest, OneWorkingDayFromFridayIsMonday) {
  ExpectDue(Cst(2025, 3, 7, 18, 0), DeadlineRule::kWorkingDays, 1, Cst(2025, 3, 11));
}

// 2027 New Year: 01-01 (Fri)..01-03 (Sun) off, no make-up working day. From 2026-12-30 (Wed):
//   3 days: day 3 = 2027-01-02, a holiday; 01-03 too; 01-04 (Mon) is a working day
//           -> due 24:00 of 01-04 = 2027-01-05 00:00.
//   2 working days: 12-31 (Thu) 1, 01-01..01-03 off, 01-04 (Mon) 2 -> the same instant.
TEST(DeadlineRulesTest, PeriodsAcrossNewYearTwentyTwentySeven) {
  ExpectDue(Cst(2026, 12, 30, 10, 0), DeadlineRule::kNaturalDays, 3, Cst(2027, 1, 5));
  ExpectDue(Cst(2026, 12, 30, 10, 0), DeadlineRule::kWorkingDays, 2, Cst(2027, 1, 5));
}

// 2027 Spring Festival: 02-05 (Fri, the eve)..02-13 (Sat) off; 01-31 (Sun) and 02-14 (Sun)
// worked. Received 2027-02-03 (Wed) 15:00:
//   3 days: day 1 = 02-04, day 2 = 02-05, day 3 = 02-06 (the lunar new year), a holiday; the
//           block runs to 02-13, and 02-14 is a make-up working Sunday -> due 24:00 of 02-14.
//   3 working days: 02-04 (Thu) 1, 02-05..02-13 off, 02-14 (Sun, make-up) 2, 02-15 (Mon) 3
//           -> due 24:00 of 02-15. Without the make-up Sunday it would have been 02-16.
TEST(DeadlineRulesTest, PeriodsAcrossSpringFestivalTwentyTwentySeven) {
  ExpectDue(Cst(2027, 2, 3, 15, 0), DeadlineRule::kNaturalDays, 3, Cst(2027, 2, 15));
  ExpectDue(Cst(2027, 2, 3, 15, 0), DeadlineRule::kWorkingDays, 3, Cst(2027, 2, 16));
}

// 2027 National Day: 10-01 (Fri)..10-07 (Thu) off; 09-26 (Sun) and 10-09 (Sat) worked.
// Received 2027-09-30 (Thu): 7 days -> day 7 = 10-07, a holiday -> 10-08 (Fri), due 24:00 of
// 10-08. 2 working days from 10-07: 10-08 (Fri) 1, 10-09 (Sat, make-up) 2 -> due 24:00 of 10-09.
TEST(DeadlineRulesTest, PeriodsAcrossNationalDayTwentyTwentySeven) {
  ExpectDue(Cst(2027, 9, 30, 9, 0), DeadlineRule::kNaturalDays, 7, Cst(2027, 10, 9));
  ExpectDue(Cst(2027, 10, 7, 9, 0), DeadlineRule::kWorkingDays, 2, Cst(2027, 10, 10));
}

// A period whose last day is the calendar's last day is fine even though the due instant
// (24:00 of 2027-12-31) lies in 2028: 2027-12-28 (Tue) + 3 days -> 12-31 (Fri), a working day.
TEST(DeadlineRulesTest, LastCoveredDayNeedsNoLaterData) {
  ExpectDue(Cst(2027, 12, 28, 10, 0), DeadlineRule::kNaturalDays, 3, Cst(2028, 1, 1));
}

// (d) Outside the calendar: from 2027-12-30 (Thu), 3 days -> day 3 = 2028-01-02, and whether
//     it is a working day is unknown (the 2028 notice is not in the data): OUT_OF_RANGE, never
//     a guess. The same for working days that reach 2028 and for days before 2024.
TEST(DeadlineRulesTest, DayOutsideTheCalendarIsOutOfRange) {
  absl::StatusOr<absl::Time> due =
      ComputeDue(Cst(2027, 12, 30, 10, 0), DeadlineRule::kNaturalDays, 3, ShippedCalendar());
  ASSERT_EQ(due.status().code(), absl::StatusCode::kOutOfRange) << due.status();
  EXPECT_THAT(std::string(due.status().message()), HasSubstr("2028"));
  EXPECT_THAT(std::string(due.status().message()), HasSubstr("2024-2027"));

  // 12-31 is working day 1; working day 2 would be in 2028.
  EXPECT_EQ(ComputeDue(Cst(2027, 12, 30, 10, 0), DeadlineRule::kWorkingDays, 2, ShippedCalendar())
                .status()
                .code(),
            absl::StatusCode::kOutOfRange);
  // 2023-12-30 is the first day to look at.
  EXPECT_EQ(ComputeDue(Cst(2023, 12, 29, 10, 0), DeadlineRule::kWorkingDays, 1, ShippedCalendar())
                .status()
                .code(),
            absl::StatusCode::kOutOfRange);
}

// Hours need no calendar, so they work past its end.
TEST(DeadlineRulesTest, HoursPastTheCalendarNeedNoData) {
  ExpectDue(Cst(2027, 12, 31, 12, 0), DeadlineRule::kHours, 24, Cst(2028, 1, 1, 12, 0));
}

TEST(DeadlineRulesTest, RefusesAmountsOutsideTheAllowedRange) {
  for (int amount : {0, -3, kMaxDeadlineAmount + 1}) {
    EXPECT_EQ(ComputeDue(Cst(2025, 3, 5), DeadlineRule::kNaturalDays, amount, ShippedCalendar())
                  .status()
                  .code(),
              absl::StatusCode::kInvalidArgument)
        << amount;
  }
  EXPECT_EQ(ComputeDue(Cst(2025, 3, 5), static_cast<DeadlineRule>(9), 3, ShippedCalendar())
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DeadlineRulesTest, FixedZoneAgreesWithTzdataWhereInstalled) {
  absl::TimeZone shanghai;
  if (!absl::LoadTimeZone("Asia/Shanghai", &shanghai)) return;  // no tzdata: nothing to compare
  for (absl::CivilDay d(2024, 1, 1); d.year() <= 2027; d += 7) {
    const absl::Time t = absl::FromCivil(d, shanghai);
    EXPECT_EQ(absl::ToCivilSecond(t, ChinaTimeZone()), absl::CivilSecond(d)) << d;
  }
}

}  // namespace
}  // namespace caselink::deadlines
