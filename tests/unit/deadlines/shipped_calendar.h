// Loads the holiday calendar file that ships in ops/calendar, once per test binary.
#pragma once

#include <cstdlib>
#include <memory>

#include "gateway/deadlines/holiday_calendar.h"
#include "gtest/gtest.h"

namespace caselink::deadlines::testing {

inline const HolidayCalendar& ShippedCalendar() {
  static const HolidayCalendar* calendar = [] {
    auto loaded = HolidayCalendar::LoadFromFile(CASELINK_HOLIDAY_CALENDAR);
    // Every test here depends on it; failing loudly once beats a cascade of null dereferences.
    if (!loaded.ok()) {
      ADD_FAILURE() << loaded.status();
      std::abort();
    }
    return loaded->release();
  }();
  return *calendar;
}

}  // namespace caselink::deadlines::testing
