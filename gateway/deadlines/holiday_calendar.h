// China's working-day calendar (official days off and make-up working days, 调休), loaded from
// the data file ops/calendar/cn-holidays.json. A day outside the file's years is an error.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"

namespace caselink::deadlines {

class HolidayCalendar {
 public:
  // Reads and validates a calendar file (the format written by ops/calendar/generate.py).
  // NOT_FOUND if the file cannot be read, INVALID_ARGUMENT if its content is malformed.
  static absl::StatusOr<std::unique_ptr<HolidayCalendar>> LoadFromFile(absl::string_view path);
  // Same, from the JSON text; `origin` names the source in error messages.
  static absl::StatusOr<std::unique_ptr<HolidayCalendar>> FromJson(
      absl::string_view json, absl::string_view origin = "<calendar json>");

  // True if people work that day: Monday to Friday unless it is an official day off, and any
  // weekend day the State Council turned into a make-up working day.
  // OUT_OF_RANGE if the day's year is not covered by the data.
  absl::StatusOr<bool> IsWorkingDay(absl::CivilDay day) const;

  // True if the day is listed as an official day off (a day of an announced holiday block,
  // including the weekend days inside that block). An ordinary weekend is not a holiday here;
  // it is a rest day, which IsWorkingDay reports. OUT_OF_RANGE outside the covered years.
  absl::StatusOr<bool> IsHoliday(absl::CivilDay day) const;

  // True if the day is a weekend day worked in exchange for a holiday (调休上班).
  absl::StatusOr<bool> IsMakeupWorkday(absl::CivilDay day) const;

  // The holiday's name as "National Day (国庆节)", or "" if the day is not a holiday.
  absl::StatusOr<std::string> HolidayName(absl::CivilDay day) const;

  // OK if the day's year is covered; otherwise OUT_OF_RANGE naming the year and the covered years.
  absl::Status CheckCovered(absl::CivilDay day) const;

  // Covered years, ascending and contiguous.
  const std::vector<int>& covered_years() const { return years_; }

 private:
  enum class Kind { kHoliday, kMakeupWorkday };
  struct DayInfo {
    Kind kind;
    std::string name;     // English, as in the data file
    std::string name_zh;  // Chinese
  };

  HolidayCalendar() = default;

  std::vector<int> years_;
  absl::flat_hash_map<absl::CivilDay, DayInfo> days_;
};

}  // namespace caselink::deadlines
