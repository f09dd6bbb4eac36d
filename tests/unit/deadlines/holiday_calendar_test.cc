// Tests of HolidayCalendar: facts of the shipped calendar file (2024-2027) and refusal of
// malformed data and of days outside the covered years.
#include "gateway/deadlines/holiday_calendar.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_replace.h"
#include "absl/time/civil_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/deadlines/shipped_calendar.h"

namespace caselink::deadlines {
namespace {

using ::caselink::deadlines::testing::ShippedCalendar;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

bool Working(absl::CivilDay day) {
  absl::StatusOr<bool> working = ShippedCalendar().IsWorkingDay(day);
  EXPECT_TRUE(working.ok()) << working.status();
  return working.value_or(false);
}

bool Holiday(absl::CivilDay day) {
  absl::StatusOr<bool> holiday = ShippedCalendar().IsHoliday(day);
  EXPECT_TRUE(holiday.ok()) << holiday.status();
  return holiday.value_or(false);
}

TEST(ShippedCalendarTest, CoversTwentyTwentyFourToTwentyTwentySeven) {
  EXPECT_THAT(ShippedCalendar().covered_years(), ElementsAre(2024, 2025, 2026, 2027));
}

TEST(ShippedCalendarTest, NewYearsDayTwentyTwentySixIsAHoliday) {
  const absl::CivilDay day(2026, 1, 1);  // a Thursday
  EXPECT_TRUE(Holiday(day));
  EXPECT_FALSE(Working(day));
  EXPECT_EQ(ShippedCalendar().HolidayName(day).value(), "New Year's Day (元旦)");
}

TEST(ShippedCalendarTest, MakeUpWorkingSaturdayIsAWorkingDay) {
  // 2026-02-14, a Saturday, is worked in exchange for the Spring Festival week (调休上班).
  const absl::CivilDay day(2026, 2, 14);
  ASSERT_EQ(absl::GetWeekday(day), absl::Weekday::saturday);
  EXPECT_TRUE(Working(day));
  EXPECT_FALSE(Holiday(day));
  EXPECT_TRUE(ShippedCalendar().IsMakeupWorkday(day).value());
  EXPECT_EQ(ShippedCalendar().HolidayName(day).value(), "");
}

TEST(ShippedCalendarTest, MakeUpWorkingSundayIsAWorkingDay) {
  // 2025-09-28, a Sunday, is worked for the 2025 National Day and Mid-Autumn holiday.
  const absl::CivilDay day(2025, 9, 28);
  ASSERT_EQ(absl::GetWeekday(day), absl::Weekday::sunday);
  EXPECT_TRUE(Working(day));
}

TEST(ShippedCalendarTest, OrdinarySaturdayIsARestDayButNotAHoliday) {
  const absl::CivilDay day(2026, 1, 10);
  ASSERT_EQ(absl::GetWeekday(day), absl::Weekday::saturday);
  EXPECT_FALSE(Working(day));
  EXPECT_FALSE(Holiday(day));
  EXPECT_FALSE(ShippedCalendar().IsMakeupWorkday(day).value());
}

TEST(ShippedCalendarTest, OrdinaryWeekdayIsAWorkingDay) {
  EXPECT_TRUE(Working(absl::CivilDay(2025, 3, 5)));  // a Wednesday
  EXPECT_FALSE(Holiday(absl::CivilDay(2025, 3, 5)));
}

TEST(ShippedCalendarTest, NationalDayTwentyTwentyFiveRunsFromOctoberFirstToEighth) {
  // 2025: National Day and Mid-Autumn Festival (10-06) together, 10-01..10-08 off,
  // 09-28 (Sun) and 10-11 (Sat) worked.
  for (int d = 1; d <= 8; ++d) {
    EXPECT_TRUE(Holiday(absl::CivilDay(2025, 10, d))) << "2025-10-0" << d;
    EXPECT_FALSE(Working(absl::CivilDay(2025, 10, d))) << "2025-10-0" << d;
  }
  EXPECT_EQ(ShippedCalendar().HolidayName(absl::CivilDay(2025, 10, 6)).value(),
            "Mid-autumn Festival (中秋)");
  EXPECT_TRUE(Working(absl::CivilDay(2025, 10, 9)));
  EXPECT_TRUE(Working(absl::CivilDay(2025, 10, 11)));
  EXPECT_FALSE(Working(absl::CivilDay(2025, 10, 12)));  // an ordinary Sunday again
}

// 2027 (from the notice as lunar-go records it): New Year's Day is Friday 01-01, joined with
// the weekend, and no day is worked for it.
TEST(ShippedCalendarTest, NewYearsDayTwentyTwentySevenRunsToTheThird) {
  for (int d = 1; d <= 3; ++d) {
    EXPECT_TRUE(Holiday(absl::CivilDay(2027, 1, d))) << "2027-01-0" << d;
    EXPECT_FALSE(Working(absl::CivilDay(2027, 1, d))) << "2027-01-0" << d;
  }
  EXPECT_EQ(ShippedCalendar().HolidayName(absl::CivilDay(2027, 1, 1)).value(),
            "New Year's Day (元旦)");
  EXPECT_TRUE(Working(absl::CivilDay(2027, 1, 4)));  // Monday
}

// 2027 Spring Festival: the eve (02-05, Fri) to 02-13 (Sat) off, the lunar new year on 02-06;
// 01-31 (Sun) and 02-14 (Sun) worked.
TEST(ShippedCalendarTest, SpringFestivalTwentyTwentySevenRunsFromTheEveToTheThirteenth) {
  for (int d = 5; d <= 13; ++d) {
    EXPECT_TRUE(Holiday(absl::CivilDay(2027, 2, d))) << "2027-02-" << d;
    EXPECT_FALSE(Working(absl::CivilDay(2027, 2, d))) << "2027-02-" << d;
  }
  EXPECT_EQ(ShippedCalendar().HolidayName(absl::CivilDay(2027, 2, 6)).value(),
            "Spring Festival (春节)");
  EXPECT_TRUE(Working(absl::CivilDay(2027, 2, 4)));  // Thursday before the eve
  EXPECT_TRUE(Working(absl::CivilDay(2027, 2, 15)));  // Monday after
  for (const absl::CivilDay sunday : {absl::CivilDay(2027, 1, 31), absl::CivilDay(2027, 2, 14)}) {
    ASSERT_EQ(absl::GetWeekday(sunday), absl::Weekday::sunday) << sunday;
    EXPECT_TRUE(Working(sunday)) << sunday;
    EXPECT_TRUE(ShippedCalendar().IsMakeupWorkday(sunday).value()) << sunday;
  }
}

// 2027 Labour Day 05-01 (Sat)..05-05 (Wed) and National Day 10-01 (Fri)..10-07 (Thu); the
// make-up working days are Saturdays 05-08 and 10-09 and Sunday 09-26.
TEST(ShippedCalendarTest, LabourDayAndNationalDayTwentyTwentySeven) {
  for (int d = 1; d <= 5; ++d) EXPECT_FALSE(Working(absl::CivilDay(2027, 5, d))) << "05-0" << d;
  EXPECT_TRUE(Holiday(absl::CivilDay(2027, 5, 1)));  // a Saturday inside the block
  EXPECT_TRUE(Working(absl::CivilDay(2027, 5, 6)));
  for (int d = 1; d <= 7; ++d) EXPECT_FALSE(Working(absl::CivilDay(2027, 10, d))) << "10-0" << d;
  EXPECT_EQ(ShippedCalendar().HolidayName(absl::CivilDay(2027, 10, 4)).value(),
            "National Day (国庆节)");
  EXPECT_TRUE(Working(absl::CivilDay(2027, 10, 8)));  // Friday
  for (const absl::CivilDay day :
       {absl::CivilDay(2027, 5, 8), absl::CivilDay(2027, 9, 26), absl::CivilDay(2027, 10, 9)}) {
    const absl::Weekday weekday = absl::GetWeekday(day);
    ASSERT_TRUE(weekday == absl::Weekday::saturday || weekday == absl::Weekday::sunday) << day;
    EXPECT_TRUE(Working(day)) << day;
    EXPECT_TRUE(ShippedCalendar().IsMakeupWorkday(day).value()) << day;
    EXPECT_FALSE(Holiday(day)) << day;
  }
  EXPECT_FALSE(Working(absl::CivilDay(2027, 10, 10)));  // an ordinary Sunday again
}

// 2027 Dragon Boat (06-09) and Mid-autumn (09-15) fall on Wednesdays: one day off each, the days
// around them are worked.
TEST(ShippedCalendarTest, DragonBoatAndMidAutumnTwentyTwentySevenAreSingleWednesdays) {
  for (const absl::CivilDay day : {absl::CivilDay(2027, 6, 9), absl::CivilDay(2027, 9, 15)}) {
    ASSERT_EQ(absl::GetWeekday(day), absl::Weekday::wednesday) << day;
    EXPECT_TRUE(Holiday(day)) << day;
    EXPECT_FALSE(Working(day)) << day;
    EXPECT_TRUE(Working(day - 1)) << day - 1;
    EXPECT_TRUE(Working(day + 1)) << day + 1;
  }
  EXPECT_EQ(ShippedCalendar().HolidayName(absl::CivilDay(2027, 9, 15)).value(),
            "Mid-autumn Festival (中秋)");
}

TEST(ShippedCalendarTest, WorkingDaysPerYearMatchTheSources) {
  // 2024-2026: totals from chinesecalendar 1.11.0's is_workday over each whole year; the C++
  // reading of the file must agree with the package's own reading. 2027, which the package does
  // not have, counted from the notice as lunar-go records it: 261 weekdays, less 18 weekdays
  // off, plus 5 make-up working days.
  const struct {
    int year;
    int working_days;
  } kTotals[] = {{2024, 251}, {2025, 248}, {2026, 248}, {2027, 248}};
  for (const auto& [year, expected] : kTotals) {
    int count = 0;
    for (absl::CivilDay d(year, 1, 1); d.year() == year; ++d) count += Working(d) ? 1 : 0;
    EXPECT_EQ(count, expected) << year;
  }
}

TEST(ShippedCalendarTest, DayAfterTheLastCoveredYearIsOutOfRange) {
  absl::StatusOr<bool> working = ShippedCalendar().IsWorkingDay(absl::CivilDay(2028, 1, 4));
  ASSERT_EQ(working.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(std::string(working.status().message()), HasSubstr("2028"));
  EXPECT_THAT(std::string(working.status().message()), HasSubstr("2024-2027"));
  EXPECT_EQ(ShippedCalendar().IsHoliday(absl::CivilDay(2028, 1, 1)).status().code(),
            absl::StatusCode::kOutOfRange);
  // The last covered day still answers.
  EXPECT_TRUE(Working(absl::CivilDay(2027, 12, 31)));  // a Friday
}

TEST(ShippedCalendarTest, DayBeforeTheFirstCoveredYearIsOutOfRange) {
  absl::StatusOr<bool> working = ShippedCalendar().IsWorkingDay(absl::CivilDay(2023, 12, 29));
  ASSERT_EQ(working.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(std::string(working.status().message()), HasSubstr("2023"));
}

TEST(HolidayCalendarLoadTest, MissingFileIsNotFound) {
  auto calendar = HolidayCalendar::LoadFromFile(
      std::string(CASELINK_HOLIDAY_CALENDAR) + ".does-not-exist");
  EXPECT_EQ(calendar.status().code(), absl::StatusCode::kNotFound);
}

// A small valid calendar, to break one thing at a time.
constexpr char kValid[] = R"({
  "covered_years": [2025],
  "years": {"2025": {
    "holidays": [{"date": "2025-01-01", "name": "New Year's Day", "name_zh": "元旦"}],
    "makeup_workdays": [{"date": "2025-01-26", "name": "Spring Festival", "name_zh": "春节"}]
  }}
})";

absl::Status LoadWith(absl::string_view from, absl::string_view to) {
  const std::string json = absl::StrReplaceAll(kValid, {{from, to}});
  EXPECT_NE(json, kValid) << "the replacement did not apply: " << from;
  return HolidayCalendar::FromJson(json, "test.json").status();
}

TEST(HolidayCalendarLoadTest, AcceptsTheMinimalCalendar) {
  auto calendar = HolidayCalendar::FromJson(kValid);
  ASSERT_TRUE(calendar.ok()) << calendar.status();
  EXPECT_TRUE((*calendar)->IsHoliday(absl::CivilDay(2025, 1, 1)).value());
  EXPECT_TRUE((*calendar)->IsWorkingDay(absl::CivilDay(2025, 1, 26)).value());
}

TEST(HolidayCalendarLoadTest, RefusesMalformedData) {
  const struct {
    const char* from;
    const char* to;
    const char* message;
  } kCases[] = {
      {"\"years\": {", "\"years\": [", "not valid JSON"},
      {"[2025]", "[]", "covered_years"},
      {"[2025]", "[2025, 2027]", "without gaps"},
      {"[2025]", "[2024, 2025]", "different years"},
      {"\"2025\": {", "\"2026\": {", "year 2025 is covered but has no data"},
      {"2025-01-01", "2025-02-30", "invalid date '2025-02-30'"},
      {"2025-01-01", "2024-12-31", "listed under year 2025"},
      {"\"holidays\": [", "\"holidays\": [{\"date\": \"2025-01-26\", \"name\": \"x\", \"name_zh\": \"x\"}, ",
       "2025-01-26 is listed twice"},
      {"2025-01-26", "2025-01-27", "is not a Saturday or Sunday"},
      {"\"name_zh\": \"元旦\"", "\"name_zh\": \"\"", "name_zh"},
      {"[{\"date\": \"2025-01-01\", \"name\": \"New Year's Day\", \"name_zh\": \"元旦\"}]", "[]",
       "lists no holidays"},
      {"\"makeup_workdays\"", "\"makeup\"", "makeup_workdays"},
  };
  for (const auto& c : kCases) {
    absl::Status status = LoadWith(c.from, c.to);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.to << ": " << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.message)) << c.to;
    EXPECT_THAT(std::string(status.message()), HasSubstr("test.json")) << c.to;
  }
}

}  // namespace
}  // namespace caselink::deadlines
