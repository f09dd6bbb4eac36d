// Loads and answers questions about China's working-day calendar data file.
#include "gateway/deadlines/holiday_calendar.h"

#include <fstream>
#include <sstream>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace caselink::deadlines {
namespace {

using nlohmann::json;

absl::Status Malformed(absl::string_view origin, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("holiday calendar ", origin, ": ", what,
                   " (regenerate it with ops/calendar/generate.py)"));
}

bool IsWeekend(absl::CivilDay day) {
  const absl::Weekday wd = absl::GetWeekday(day);
  return wd == absl::Weekday::saturday || wd == absl::Weekday::sunday;
}

// Parses "YYYY-MM-DD" strictly: absl would normalise "2025-02-30" to March 2nd, which in a
// calendar file can only be a typo.
bool ParseDay(const std::string& text, absl::CivilDay* day) {
  return absl::ParseCivilTime(text, day) && absl::FormatCivilTime(*day) == text;
}

absl::StatusOr<std::string> StringField(const json& entry, const char* key,
                                        absl::string_view where) {
  auto it = entry.find(key);
  if (it == entry.end() || !it->is_string() || it->get<std::string>().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " needs a non-empty string \"", key, "\""));
  }
  return it->get<std::string>();
}

}  // namespace

absl::StatusOr<std::unique_ptr<HolidayCalendar>> HolidayCalendar::LoadFromFile(
    absl::string_view path) {
  std::ifstream in{std::string(path), std::ios::binary};
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read holiday calendar file '", path,
                                            "'; it ships as ops/calendar/cn-holidays.json"));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return absl::NotFoundError(absl::StrCat("error reading holiday calendar file '", path, "'"));
  }
  return FromJson(text.str(), path);
}

absl::StatusOr<std::unique_ptr<HolidayCalendar>> HolidayCalendar::FromJson(
    absl::string_view json_text, absl::string_view origin) {
  json doc = json::parse(json_text.begin(), json_text.end(), /*cb=*/nullptr,
                         /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Malformed(origin, "not valid JSON");
  if (!doc.is_object()) return Malformed(origin, "top level is not an object");

  auto years_it = doc.find("covered_years");
  if (years_it == doc.end() || !years_it->is_array() || years_it->empty()) {
    return Malformed(origin, "\"covered_years\" must be a non-empty array of years");
  }
  std::unique_ptr<HolidayCalendar> calendar(new HolidayCalendar());
  for (const json& y : *years_it) {
    if (!y.is_number_integer()) return Malformed(origin, "\"covered_years\" holds a non-integer");
    const int year = y.get<int>();
    // Contiguity matters: a gap would let a day in the missing year pass the range check.
    if (!calendar->years_.empty() && year != calendar->years_.back() + 1) {
      return Malformed(origin, "\"covered_years\" must be ascending and without gaps");
    }
    calendar->years_.push_back(year);
  }

  auto data_it = doc.find("years");
  if (data_it == doc.end() || !data_it->is_object()) {
    return Malformed(origin, "\"years\" must be an object keyed by year");
  }
  if (data_it->size() != calendar->years_.size()) {
    return Malformed(origin, "\"years\" and \"covered_years\" list different years");
  }
  for (int year : calendar->years_) {
    const std::string key = std::to_string(year);
    auto year_it = data_it->find(key);
    if (year_it == data_it->end() || !year_it->is_object()) {
      return Malformed(origin, absl::StrCat("year ", key, " is covered but has no data"));
    }
    for (const char* list : {"holidays", "makeup_workdays"}) {
      auto list_it = year_it->find(list);
      if (list_it == year_it->end() || !list_it->is_array()) {
        return Malformed(origin, absl::StrCat("year ", key, " needs an array \"", list, "\""));
      }
      const Kind kind =
          std::string_view(list) == "holidays" ? Kind::kHoliday : Kind::kMakeupWorkday;
      // Every year in China has official holidays; an empty list means missing data.
      if (kind == Kind::kHoliday && list_it->empty()) {
        return Malformed(origin, absl::StrCat("year ", key, " lists no holidays"));
      }
      for (const json& entry : *list_it) {
        const std::string where = absl::StrCat("an entry of ", key, ".", list);
        if (!entry.is_object()) return Malformed(origin, absl::StrCat(where, " is not an object"));
        absl::StatusOr<std::string> date = StringField(entry, "date", where);
        absl::StatusOr<std::string> name = StringField(entry, "name", where);
        absl::StatusOr<std::string> name_zh = StringField(entry, "name_zh", where);
        for (const auto* field : {&date, &name, &name_zh}) {
          if (!field->ok()) return Malformed(origin, field->status().message());
        }
        absl::CivilDay day;
        if (!ParseDay(*date, &day)) {
          return Malformed(origin, absl::StrCat(where, " has an invalid date '", *date, "'"));
        }
        if (day.year() != year) {
          return Malformed(origin, absl::StrCat("date ", *date, " is listed under year ", key));
        }
        if (kind == Kind::kMakeupWorkday && !IsWeekend(day)) {
          return Malformed(origin, absl::StrCat("make-up working day ", *date,
                                                " is not a Saturday or Sunday"));
        }
        auto [it, inserted] =
            calendar->days_.emplace(day, DayInfo{kind, *std::move(name), *std::move(name_zh)});
        if (!inserted) {
          return Malformed(origin, absl::StrCat("date ", *date, " is listed twice"));
        }
      }
    }
  }
  return calendar;
}

absl::Status HolidayCalendar::CheckCovered(absl::CivilDay day) const {
  if (day.year() >= years_.front() && day.year() <= years_.back()) return absl::OkStatus();
  return absl::OutOfRangeError(absl::StrCat(
      "no holiday calendar data for ", day.year(), " (needed for ", absl::FormatCivilTime(day),
      "); the calendar covers ", years_.front(), "-", years_.back(),
      ". Add the year to ops/calendar/cn-holidays.json from the State Council's holiday notice "
      "(ops/calendar/generate.py) before computing deadlines that reach it"));
}

absl::StatusOr<bool> HolidayCalendar::IsWorkingDay(absl::CivilDay day) const {
  if (absl::Status s = CheckCovered(day); !s.ok()) return s;
  auto it = days_.find(day);
  if (it != days_.end()) return it->second.kind == Kind::kMakeupWorkday;
  return !IsWeekend(day);
}

absl::StatusOr<bool> HolidayCalendar::IsHoliday(absl::CivilDay day) const {
  if (absl::Status s = CheckCovered(day); !s.ok()) return s;
  auto it = days_.find(day);
  return it != days_.end() && it->second.kind == Kind::kHoliday;
}

absl::StatusOr<bool> HolidayCalendar::IsMakeupWorkday(absl::CivilDay day) const {
  if (absl::Status s = CheckCovered(day); !s.ok()) return s;
  auto it = days_.find(day);
  return it != days_.end() && it->second.kind == Kind::kMakeupWorkday;
}

absl::StatusOr<std::string> HolidayCalendar::HolidayName(absl::CivilDay day) const {
  if (absl::Status s = CheckCovered(day); !s.ok()) return s;
  auto it = days_.find(day);
  if (it == days_.end() || it->second.kind != Kind::kHoliday) return std::string();
  return absl::StrCat(it->second.name, " (", it->second.name_zh, ")");
}

}  // namespace caselink::deadlines
