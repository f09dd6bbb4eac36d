// A real gateway's /metrics (metrics_address): envelopes counted by outcome and
// timed, the audit and deadline gauges against the store, and a metrics
// address the gateway cannot use stopping its start with a message naming it.
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gateway/metrics.h"
#include "gateway/metrics_http.h"
#include "tests/support/test_gateway.h"

namespace caselink {
namespace {

using ::testing::HasSubstr;
using testing::TestGateway;
using testing::TransferEnvelope;

// The value of the sample `series` (name and labels exactly as exposed).
double Sample(const std::string& text, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::ConsumePrefix(&line, series + " ")) {
      double v = 0;
      EXPECT_TRUE(absl::SimpleAtod(line, &v)) << line;
      return v;
    }
  }
  ADD_FAILURE() << "no sample " << series << " in:\n" << text;
  return -1;
}

class MetricsE2eTest : public ::testing::Test {
 protected:
  MetricsE2eTest()
      : gateway_(testing::MakeTempDir(),
                 {.clock = std::make_shared<ManualClock>(testing::ScenarioStart()),
                  .configure = [](v1::GatewayConfig& config) { config.set_metrics_address("127.0.0.1:0"); }}) {}

  std::string Scrape() {
    absl::StatusOr<std::string> text = HttpGet(absl::StrCat("127.0.0.1:", gateway_.server().metrics_port()), "/metrics");
    EXPECT_TRUE(text.ok()) << text.status();
    return text.ok() ? *text : std::string();
  }

  TestGateway gateway_;
};

TEST_F(MetricsE2eTest, CountsAndTimesEveryOutcome) {
  ASSERT_GT(gateway_.server().metrics_port(), 0);
  const std::string before = Scrape();
  EXPECT_EQ(Sample(before, "caselink_submissions_total{code=\"OK\"}"), 0);
  EXPECT_EQ(Sample(before, "caselink_submission_duration_seconds_count"), 0);

  auto epb = gateway_.Client("510100.epb");
  ASSERT_TRUE(gateway_.Submit(*epb, TransferEnvelope("510100-EPB-2026-0001")).ok());
  ASSERT_TRUE(gateway_.Submit(*epb, TransferEnvelope("510100-EPB-2026-0002")).ok());
  absl::StatusOr<v1::SubmitResponse> refused = gateway_.Submit(*epb, TransferEnvelope("not a valid id"));
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << refused.status();
  // The bureau's receipt starts its period for the filing decision.
  auto psb = gateway_.Client("510100.psb");
  absl::StatusOr<v1::SubmitResponse> receipt =
      gateway_.Submit(*psb, testing::ActionEnvelope("510100-EPB-2026-0001", "receipt"));
  ASSERT_TRUE(receipt.ok()) << receipt.status();

  const std::string after = Scrape();
  EXPECT_EQ(Sample(after, "caselink_submissions_total{code=\"OK\"}"), 3);
  EXPECT_EQ(Sample(after, "caselink_submissions_total{code=\"INVALID_ARGUMENT\"}"), 1);
  EXPECT_EQ(Sample(after, "caselink_submission_duration_seconds_count"), 4);
  EXPECT_GT(Sample(after, "caselink_submission_duration_seconds_sum"), 0);
  LatencyHistogram::Snapshot held;
  ASSERT_TRUE(ParsePrometheusHistogram(after, "caselink_submission_duration_seconds", held).ok());
  EXPECT_EQ(held.count(), 4u);

  // Every RPC by method and status, once per call.
  const std::string submit = "caselink_rpcs_total{method=\"/caselink.v1.CaseService/Submit\",";
  EXPECT_EQ(Sample(after, submit + "code=\"OK\"}"), 3);
  EXPECT_EQ(Sample(after, submit + "code=\"INVALID_ARGUMENT\"}"), 1);
  // The unary Submit calls are timed, the refused one too.
  EXPECT_EQ(Sample(after, "caselink_rpc_duration_seconds_count{method=\"/caselink.v1.CaseService/Submit\"}"), 4);

  // The gauges say what the store says.
  EXPECT_EQ(Sample(after, "caselink_audit_tree_size"), static_cast<double>(gateway_.AuditSize()));
  absl::StatusOr<std::vector<RunningDeadline>> running = gateway_.store().ListRunningDeadlines();
  ASSERT_TRUE(running.ok()) << running.status();
  EXPECT_GT(running->size(), 0u) << "the receipt starts the bureau's deadline";
  EXPECT_EQ(Sample(after, "caselink_deadlines_running"), static_cast<double>(running->size()));
  EXPECT_EQ(Sample(after, "caselink_deadlines_overdue"), 0);

  // Once the clock passes every due time, they are all overdue.
  gateway_.clock()->Advance(absl::Hours(24 * 60));
  EXPECT_EQ(Sample(Scrape(), "caselink_deadlines_overdue"), static_cast<double>(running->size()));

  // Reads too, refusals included.
  absl::StatusOr<v1::GetCaseResponse> missing = epb->GetCase("510100-EPB-2026-9999");
  ASSERT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
  EXPECT_EQ(Sample(Scrape(), "caselink_rpcs_total{method=\"/caselink.v1.CaseService/GetCase\",code=\"NOT_FOUND\"}"), 1);
}

TEST(MetricsStartTest, AMetricsAddressInUseStopsTheStartAndIsNamed) {
  auto taken = MetricsHttpServer::Start("127.0.0.1:0", [] { return std::string(); });
  ASSERT_TRUE(taken.ok()) << taken.status();
  absl::StatusOr<testing::DevPkiSetup> setup = testing::MakeDevPkiSetup();
  ASSERT_TRUE(setup.ok()) << setup.status();
  v1::GatewayConfig config = setup->config;
  config.set_listen_address("127.0.0.1:0");
  const std::string address = absl::StrCat("127.0.0.1:", (*taken)->port());
  config.set_metrics_address(address);
  auto server = GatewayServer::Start(config);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(server.status().message()), HasSubstr("metrics_address"));
  EXPECT_THAT(std::string(server.status().message()), HasSubstr(address));
}

}  // namespace
}  // namespace caselink
