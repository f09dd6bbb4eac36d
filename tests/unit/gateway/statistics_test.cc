// Statistics from the store's case events: exact figures for a played data set
// by region prefix and period, overdue cases in case lists, and the schema
// upgrade that fills the new tables from data stored by version 3.
#include "gateway/statistics_service.h"

#include <sqlite3.h>

#include <gtest/gtest.h>

#include "gateway/deadlines/deadline_rules.h"
#include "tests/unit/gateway/pipeline_fixture.h"

namespace caselink {
namespace {

using testing::ActionEnvelope;
using testing::TransferEnvelope;

absl::Time China(int m, int d, int h) {
  return absl::FromCivil(absl::CivilHour(2026, m, d, h), deadlines::ChinaTimeZone());
}
int64_t Micros(absl::Time t) { return absl::ToUnixMicros(t); }

class StatisticsTest : public testing::PipelineFixture {
 protected:
  void Act(const std::string& agency, const std::string& case_id, const std::string& action,
           absl::string_view branch = "") {
    auto result = Submit(agency, ActionEnvelope(case_id, action, branch));
    ASSERT_TRUE(result.ok()) << case_id << " " << action << ": " << result.status();
  }

  // Four criminal cases (three in 510100, one in 510104) and a detention case:
  // reviews of 1, 2 and 3 days, one review left to run out.
  void PlayDataSet() {
    clock_.Set(China(3, 2, 9));
    for (const char* id : {"S-1", "S-2", "S-3"}) {
      ASSERT_TRUE(Submit("510100.epb", TransferEnvelope(id)).ok());
      Act("510100.psb", id, "receipt");
    }
    ASSERT_TRUE(Submit("510104.epb", TransferEnvelope("S-4")).ok());
    Act("510104.psb", "S-4", "receipt");
    Act("510100.epb", "D-1", "penalty_decision");
    Act("510100.epb", "D-1", "detention_transfer");
    clock_.Set(China(3, 3, 9));
    Act("510100.psb", "S-1", "filing");
    clock_.Set(China(3, 4, 9));
    Act("510100.psb", "S-2", "non_filing");
    Act("510100.epb", "S-2", "reconsideration_request");
    clock_.Set(China(3, 4, 10));
    Act("510100.psb", "S-2", "reconsideration_decision", "upheld");
    Act("510100.epb", "S-2", "supervision_request");
    Act("510100.pro", "S-2", "explanation_demand");
    Act("510100.psb", "S-2", "explanation");
    Act("510100.pro", "S-2", "filing_order");
    Act("510100.psb", "S-2", "filing");
    clock_.Set(China(3, 5, 9));
    Act("510104.psb", "S-4", "filing");
    clock_.Set(China(3, 6, 9));
    engine_->CheckNow();
  }

  v1::StatisticsResponse Stats(const std::string& prefix, int64_t from, int64_t to) {
    auto stats = ComputeStatistics(*store_, prefix, from, to);
    EXPECT_TRUE(stats.ok()) << stats.status();
    return stats.ok() ? *stats : v1::StatisticsResponse();
  }
};

TEST_F(StatisticsTest, FiguresForARegionAndPeriod) {
  PlayDataSet();
  const int64_t year_from = Micros(absl::FromCivil(absl::CivilDay(2026, 1, 1), deadlines::ChinaTimeZone()));
  const int64_t year_to = Micros(absl::FromCivil(absl::CivilDay(2027, 1, 1), deadlines::ChinaTimeZone()));
  v1::StatisticsResponse city = Stats("5101", year_from, year_to);
  EXPECT_EQ(city.region_prefix(), "5101");
  EXPECT_EQ(city.criminal_transfers(), 4u);
  EXPECT_EQ(city.detention_transfers(), 1u);
  EXPECT_EQ(city.receipts(), 4u);
  EXPECT_EQ(city.filings(), 3u);  // S-1, S-2 after the filing order, S-4
  EXPECT_EQ(city.non_filings(), 1u);
  EXPECT_EQ(city.reconsiderations(), 1u);
  EXPECT_EQ(city.supervision_requests(), 1u);
  EXPECT_EQ(city.filing_orders(), 1u);
  EXPECT_EQ(city.overdue_reviews(), 1u);  // S-3
  // Reviews of 1, 2 and 3 days; S-2's filing after supervision is not a review decision.
  EXPECT_DOUBLE_EQ(city.median_review_seconds(), 2 * 86400.0);

  v1::StatisticsResponse district = Stats("510104", year_from, year_to);
  EXPECT_EQ(district.criminal_transfers(), 1u);
  EXPECT_EQ(district.receipts(), 1u);
  EXPECT_EQ(district.filings(), 1u);
  EXPECT_EQ(district.non_filings(), 0u);
  EXPECT_EQ(district.overdue_reviews(), 0u);
  EXPECT_DOUBLE_EQ(district.median_review_seconds(), 3 * 86400.0);

  // From 03-04 on: only what happened then counts, and the median is of the
  // two review decisions made in the period (2 and 3 days).
  v1::StatisticsResponse later = Stats("51", Micros(China(3, 4, 0)), year_to);
  EXPECT_EQ(later.criminal_transfers(), 0u);
  EXPECT_EQ(later.receipts(), 0u);
  EXPECT_EQ(later.filings(), 2u);
  EXPECT_EQ(later.non_filings(), 1u);
  EXPECT_EQ(later.overdue_reviews(), 1u);
  EXPECT_DOUBLE_EQ(later.median_review_seconds(), 2.5 * 86400.0);

  v1::StatisticsResponse elsewhere = Stats("44", year_from, year_to);
  EXPECT_EQ(elsewhere.criminal_transfers(), 0u);
  EXPECT_EQ(elsewhere.median_review_seconds(), 0.0);
}

TEST_F(StatisticsTest, CaseListsFindOverdueCasesByRegionAndTrack) {
  PlayDataSet();
  CaseFilter filter;
  filter.overdue_only = true;
  filter.region_prefix = "5101";
  auto overdue = store_->ListCases(filter);
  ASSERT_TRUE(overdue.ok());
  ASSERT_EQ(overdue->size(), 1u);
  EXPECT_EQ((*overdue)[0].case_id(), "S-3");
  filter.region_prefix = "510104";
  EXPECT_TRUE(store_->ListCases(filter)->empty());
  CaseFilter detention;
  detention.track = v1::DETENTION;
  ASSERT_EQ(store_->ListCases(detention)->size(), 1u);
  CaseFilter court;
  court.agency = "510100.court";
  EXPECT_TRUE(store_->ListCases(court)->empty());
}

TEST_F(StatisticsTest, UpgradeFromVersionThreeFillsEventsAndDeadlines) {
  clock_.Set(China(3, 2, 9));
  for (const char* id : {"U-1", "U-2"}) {
    ASSERT_TRUE(Submit("510100.epb", TransferEnvelope(id)).ok());
    Act("510100.psb", id, "receipt");
  }
  clock_.Set(China(3, 3, 9));
  Act("510100.psb", "U-1", "filing");
  const v1::StatisticsResponse before = Stats("51", 0, 0);
  const auto running_before = *store_->ListRunningDeadlines();
  ASSERT_EQ(running_before.size(), 2u);
  engine_->Stop();
  store_->Shutdown();
  store_.reset();

  // Make the file look as version 3 left it.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ + "/data/caselink.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "DROP TABLE case_events; DROP TABLE case_deadlines; UPDATE schema_version SET version = 3;",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);

  SqliteStoreOptions options;
  options.data_dir = dir_ + "/data";
  auto reopened = OpenSqliteStore(options);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  store_ = std::move(*reopened);
  const v1::StatisticsResponse after = Stats("51", 0, 0);
  EXPECT_EQ(after.SerializeAsString(), before.SerializeAsString());
  EXPECT_EQ(after.criminal_transfers(), 2u);
  EXPECT_EQ(after.filings(), 1u);
  EXPECT_DOUBLE_EQ(after.median_review_seconds(), 86400.0);
  const auto running_after = *store_->ListRunningDeadlines();
  ASSERT_EQ(running_after.size(), running_before.size());
  for (size_t i = 0; i < running_after.size(); ++i) {
    EXPECT_EQ(running_after[i].deadline_id, running_before[i].deadline_id);
    EXPECT_EQ(running_after[i].due_micros, running_before[i].due_micros);
  }
}

}  // namespace
}  // namespace caselink
