// `caselinkctl report` against a gateway holding a known data set: the printed
// figures (table, CSV and JSON) are checked exactly.
#include <stdio.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include "gateway/deadlines/deadline_rules.h"
#include "tests/support/test_gateway.h"

namespace caselink {
namespace {

using testing::ActionEnvelope;

absl::Time China(int m, int d, int h) {
  return absl::FromCivil(absl::CivilHour(2026, m, d, h), deadlines::ChinaTimeZone());
}

class ReportCommandTest : public ::testing::Test {
 protected:
  ReportCommandTest()
      : clock_(std::make_shared<ManualClock>(testing::ScenarioStart())),
        gateway_(testing::MakeTempDir(), {.clock = clock_, .additional_regions = {"510104", "440100"}}) {}

  void Act(const std::string& agency, const v1::Envelope& e) {
    auto client = gateway_.Client(agency);
    auto result = gateway_.Submit(*client, e);
    ASSERT_TRUE(result.ok()) << e.case_id() << " " << agency << ": " << result.status();
  }
  void Act(const std::string& agency, const std::string& case_id, const std::string& action,
           absl::string_view branch = "") {
    Act(agency, ActionEnvelope(case_id, action, branch));
  }

  // Sichuan: four criminal transfers (one in district 510104) with reviews of
  // 1, 2 and 3 days and one left to run out, one non-filing taken to
  // supervision and ordered filed, and two detention transfers. Guangdong
  // (440100): one transfer, which a Sichuan report must not count.
  void SeedDataSet() {
    for (const char* id : {"S-1", "S-2", "S-3"}) {
      Act("510100.epb", testing::TransferEnvelope(id));
      Act("510100.psb", id, "receipt");
    }
    Act("510104.epb", testing::TransferEnvelope("S-4"));
    Act("510104.psb", "S-4", "receipt");
    Act("440100.epb", testing::TransferEnvelope("G-1"));
    Act("510100.epb", "D-1", "penalty_decision");
    Act("510100.epb", "D-1", "detention_transfer");
    Act("510100.epb", "D-2", "detention_transfer");
    clock_->Set(China(3, 3, 9));
    Act("510100.psb", "S-1", "filing");
    clock_->Set(China(3, 4, 9));
    Act("510100.psb", "S-2", "non_filing");
    Act("510100.epb", "S-2", "reconsideration_request");
    Act("510100.psb", "S-2", "reconsideration_decision", "upheld");
    Act("510100.epb", "S-2", "supervision_request");
    Act("510100.pro", "S-2", "explanation_demand");
    Act("510100.psb", "S-2", "explanation");
    Act("510100.pro", "S-2", "filing_order");
    Act("510100.psb", "S-2", "filing");
    clock_->Set(China(3, 5, 9));
    Act("510104.psb", "S-4", "filing");
    clock_->Set(China(3, 6, 9));
    gateway_.CheckDeadlines();  // S-3's review runs out
  }

  // Runs caselinkctl as `agency`; returns its exit status and output.
  std::pair<int, std::string> Report(const std::string& args, const std::string& agency = "510100.pro") {
    const std::string command = absl::StrCat("'", CASELINKCTL_BINARY, "' --pki '", gateway_.pki_dir(), "' --agency ",
                                             agency, " --gateway ", gateway_.target(), " report ", args, " 2>&1");
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) return {-1, ""};
    std::string out;
    char buffer[4096];
    size_t n;
    while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
    const int status = pclose(pipe);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
  }

  std::shared_ptr<ManualClock> clock_;
  testing::TestGateway gateway_;
};

TEST_F(ReportCommandTest, PrintsTheFiguresOfTheRegionAndPeriod) {
  SeedDataSet();
  auto [status, csv] = Report("--region 51 --from 2026-01-01 --to 2026-12-31 --format csv");
  ASSERT_EQ(status, 0) << csv;
  EXPECT_EQ(csv,
            "region,from,to,detention_transfers,criminal_transfers,receipts,filings,non_filings,reconsiderations,"
            "supervision_requests,filing_orders,overdue_reviews,median_review_seconds\n"
            "51,2026-01-01,2026-12-31,2,4,4,3,1,1,1,1,1,172800\n");

  auto [table_status, table] = Report("--region 51 --from 2026-01-01 --to 2026-12-31");
  ASSERT_EQ(table_status, 0) << table;
  EXPECT_EQ(table,
            "CaseLink statistics for region 51, 2026-01-01 to 2026-12-31 (China Standard Time)\n"
            "  detention transfers             2\n"
            "  criminal transfers              4\n"
            "  receipts                        4\n"
            "  filings                         3\n"
            "  non-filings                     1\n"
            "  reconsiderations                1\n"
            "  supervision requests            1\n"
            "  filing orders                   1\n"
            "  overdue reviews                 1\n"
            "  median review time       172800 s  (2d 0h 0m)\n");

  auto [json_status, json] = Report("--region 510104 --from 2026-03-01 --to 2026-03-31 --format json", "510104.pro");
  ASSERT_EQ(json_status, 0) << json;
  EXPECT_EQ(json,
            "{\"region\":\"510104\",\"from\":\"2026-03-01\",\"to\":\"2026-03-31\",\"detention_transfers\":0,"
            "\"criminal_transfers\":1,\"receipts\":1,\"filings\":1,\"non_filings\":0,\"reconsiderations\":0,"
            "\"supervision_requests\":0,\"filing_orders\":0,\"overdue_reviews\":0,\"median_review_seconds\":259200}\n");

  // A period ending before the decisions: only the first day's transfers and receipts.
  auto [day_status, day] = Report("--region 5101 --from 2026-03-02 --to 2026-03-02 --format csv");
  ASSERT_EQ(day_status, 0) << day;
  EXPECT_EQ(day.substr(day.find('\n') + 1), "5101,2026-03-02,2026-03-02,2,4,4,0,0,0,0,0,0,0\n");
}

TEST_F(ReportCommandTest, RegionsOutsideTheCallersAreRefused) {
  auto [status, out] = Report("--region 44 --from 2026-01-01 --to 2026-12-31");
  EXPECT_EQ(status, 1);
  EXPECT_NE(out.find("PERMISSION_DENIED"), std::string::npos) << out;
  auto [bad_status, bad] = Report("--region 51 --from 2026-13-01 --to 2026-12-31");
  EXPECT_EQ(bad_status, 1);
  EXPECT_NE(bad.find("YYYY-MM-DD"), std::string::npos) << bad;
}

}  // namespace
}  // namespace caselink
