// Implements the period counting rules of deadline_rules.h.
#include "gateway/deadlines/deadline_rules.h"

#include "absl/strings/str_cat.h"

namespace caselink::deadlines {
namespace {

// 24:00 of `day`, i.e. the first instant of the next day.
absl::Time EndOfDay(absl::CivilDay day, absl::TimeZone tz) { return absl::FromCivil(day + 1, tz); }

absl::StatusOr<absl::CivilDay> NextWorkingDayFrom(absl::CivilDay day,
                                                  const HolidayCalendar& calendar) {
  // The longest run of rest days in any year is the Spring Festival week plus a weekend, so the
  // loop is short; the calendar stops it with OUT_OF_RANGE at the end of its data.
  while (true) {
    absl::StatusOr<bool> working = calendar.IsWorkingDay(day);
    if (!working.ok()) return working.status();
    if (*working) return day;
    ++day;
  }
}

}  // namespace

absl::string_view DeadlineRuleName(DeadlineRule rule) {
  switch (rule) {
    case DeadlineRule::kHours:
      return "hours";
    case DeadlineRule::kNaturalDays:
      return "natural days";
    case DeadlineRule::kWorkingDays:
      return "working days";
  }
  return "unknown rule";
}

absl::TimeZone ChinaTimeZone() { return absl::FixedTimeZone(8 * 60 * 60); }

absl::StatusOr<absl::Time> ComputeDue(absl::Time start, DeadlineRule rule, int amount,
                                      const HolidayCalendar& calendar, absl::TimeZone tz) {
  if (amount < 1 || amount > kMaxDeadlineAmount) {
    return absl::InvalidArgumentError(absl::StrCat("a deadline of ", amount, " ",
                                                   DeadlineRuleName(rule), " is not allowed; ",
                                                   "the amount must be 1..", kMaxDeadlineAmount));
  }
  const absl::CivilDay start_day = absl::ToCivilDay(start, tz);
  switch (rule) {
    case DeadlineRule::kHours:
      return start + absl::Hours(amount);

    case DeadlineRule::kNaturalDays: {
      // Days in between are counted whatever they are; only the last day can move.
      absl::StatusOr<absl::CivilDay> last = NextWorkingDayFrom(start_day + amount, calendar);
      if (!last.ok()) return last.status();
      return EndOfDay(*last, tz);
    }

    case DeadlineRule::kWorkingDays: {
      absl::CivilDay day = start_day;
      for (int counted = 0; counted < amount;) {
        ++day;
        absl::StatusOr<bool> working = calendar.IsWorkingDay(day);
        if (!working.ok()) return working.status();
        if (*working) ++counted;
      }
      return EndOfDay(day, tz);
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown deadline rule ", static_cast<int>(rule)));
}

}  // namespace caselink::deadlines
