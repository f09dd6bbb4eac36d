// Statutory period arithmetic: when a deadline of n hours, natural days or working days that
// starts at a given instant falls due, on China's calendar (China Standard Time, UTC+8).
#pragma once

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gateway/deadlines/holiday_calendar.h"

namespace caselink::deadlines {

// How a period is counted. The numbers match caselink.v1.Deadline.Rule.
enum class DeadlineRule {
  kHours = 1,        // real time from the start instant (e.g. 24 h to transfer, M2017 Art. 6)
  kNaturalDays = 2,  // M2017 Art. 38; see ComputeDue
  kWorkingDays = 3,  // e.g. the detention track, D2014 Art. 19
};

absl::string_view DeadlineRuleName(DeadlineRule rule);

// The largest amount accepted. The procedure's longest period is 30 days; anything near this
// bound is a corrupt request, and refusing it keeps day counting bounded.
inline constexpr int kMaxDeadlineAmount = 1000;

// China Standard Time. Fixed at UTC+8 instead of loading "Asia/Shanghai" from tzdata: mainland
// China has had no daylight saving time since 1991, so the two agree for every date the
// calendar covers, and the gateway does not depend on the host's zoneinfo.
absl::TimeZone ChinaTimeZone();

// Computes the instant a period falls due.
//
//  - kHours: start + amount hours, in real time; holidays do not matter.
//  - kNaturalDays (M2017 Art. 38): the day containing `start` does not count; the period ends at
//    24:00 of the amount-th following day. If that last day is not a working day it moves to the
//    end of the next working day. "Not a working day" means an official holiday or an ordinary
//    Saturday/Sunday that is not a make-up working day: the 节假日 of Criminal Procedure Law
//    Art. 105 ("期间的最后一日为节假日的，以节假日后的第一日为期满日期") and the 法定休假日 of
//    Civil Code Art. 203 are read in practice as including the weekly rest days (公休日), and a
//    weekend day announced as a working day (调休上班) is not a rest day. (Art. 105's exception
//    for periods of custody does not arise for the agency review periods computed here.)
//  - kWorkingDays: the day containing `start` does not count; counts `amount` working days after
//    it (make-up working weekend days count, holidays and ordinary weekends do not); due at 24:00
//    of the amount-th working day.
//
// Day boundaries are taken in `tz` (China Standard Time unless a test says otherwise); "24:00 of
// day D" is returned as 00:00 of the day after D.
//
// Errors: INVALID_ARGUMENT if amount is not in 1..kMaxDeadlineAmount or the rule is unknown;
// OUT_OF_RANGE (from the calendar) if a day that must be looked up is outside the calendar's
// years. The result is never a guess.
absl::StatusOr<absl::Time> ComputeDue(absl::Time start, DeadlineRule rule, int amount,
                                      const HolidayCalendar& calendar,
                                      absl::TimeZone tz = ChinaTimeZone());

}  // namespace caselink::deadlines
