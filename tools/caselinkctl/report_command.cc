// Report and procedure commands. Periods are given as days in China Standard
// Time, both ends included, as reports state them.
#include "tools/caselinkctl/report_command.h"

#include <iostream>

#include <google/protobuf/util/time_util.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "gateway/deadlines/deadline_rules.h"
#include "gateway/lifecycle.h"

namespace caselink {
namespace {

using google::protobuf::util::TimeUtil;

constexpr char kReportUsage[] =
    "usage: caselinkctl report --region PREFIX --from YYYY-MM-DD --to YYYY-MM-DD [--format table|csv|json]\n"
    "\n"
    "Prints the figures of provincial and national reports for the cases of a region (a GB/T 2260\n"
    "prefix: 51 province, 5101 city, 510100) over a period of days in China Standard Time, both\n"
    "ends included: detention and criminal transfers, receipts, filings, non-filings,\n"
    "reconsiderations, supervision requests, filing orders, overdue PSB reviews and the median time\n"
    "from transfer to the filing decision. The agency (--agency) must lie in the region, or hold\n"
    "the auditor role for the province.\n";

constexpr char kProcedureUsage[] =
    "usage: caselinkctl procedure table [--output FILE]\n"
    "\n"
    "Prints the procedure table this program enforces as Markdown (docs/PROCEDURE.md is this output).\n";

absl::StatusOr<absl::CivilDay> ParseDay(const std::string& flag, const std::string& text) {
  absl::CivilDay day;
  if (text.empty() || !absl::ParseCivilTime(text, &day)) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, " wants a day as YYYY-MM-DD, got '", text, "'"));
  }
  return day;
}

// 183600 s -> "2d 3h 0m".
std::string HumanDuration(double seconds) {
  const int64_t total = static_cast<int64_t>(seconds + 0.5);
  return absl::StrCat(total / 86400, "d ", (total % 86400) / 3600, "h ", (total % 3600) / 60, "m");
}

struct Figure {
  const char* key;
  const char* label;
  uint64_t value;
};

std::vector<Figure> Figures(const v1::StatisticsResponse& r) {
  return {
      {"detention_transfers", "detention transfers", r.detention_transfers()},
      {"criminal_transfers", "criminal transfers", r.criminal_transfers()},
      {"receipts", "receipts", r.receipts()},
      {"filings", "filings", r.filings()},
      {"non_filings", "non-filings", r.non_filings()},
      {"reconsiderations", "reconsiderations", r.reconsiderations()},
      {"supervision_requests", "supervision requests", r.supervision_requests()},
      {"filing_orders", "filing orders", r.filing_orders()},
      {"overdue_reviews", "overdue reviews", r.overdue_reviews()},
  };
}

}  // namespace

int ReportCommand(const cli::Flags& global, const std::vector<std::string>& args) {
  auto flags = cli::ParseFlags(args, {});
  if (!flags.ok()) return cli::Fail(flags.status());
  if (flags->help) return std::cout << kReportUsage, 0;
  const std::string region = flags->Get("region");
  const std::string format = flags->Get("format", "table");
  if (region.empty() || !flags->Has("from") || !flags->Has("to")) return std::cerr << kReportUsage, 2;
  if (format != "table" && format != "csv" && format != "json") {
    return cli::Fail(absl::InvalidArgumentError(absl::StrCat("--format is table, csv or json, not '", format, "'")));
  }
  auto from = ParseDay("from", flags->Get("from"));
  if (!from.ok()) return cli::Fail(from.status());
  auto to = ParseDay("to", flags->Get("to"));
  if (!to.ok()) return cli::Fail(to.status());
  if (*to < *from) return cli::Fail(absl::InvalidArgumentError("--to is before --from"));
  auto client = cli::Connect(global);
  if (!client.ok()) return cli::Fail(client.status());

  const absl::TimeZone china = deadlines::ChinaTimeZone();
  v1::StatisticsRequest request;
  request.set_region_prefix(region);
  *request.mutable_from() = TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(absl::FromCivil(*from, china)));
  *request.mutable_to() = TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(absl::FromCivil(*to + 1, china)));
  auto statistics = v1::StatisticsService::NewStub((*client)->channel());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::StatisticsResponse response;
  if (grpc::Status st = statistics->GetStatistics(&ctx, request, &response); !st.ok()) return cli::Fail(FromGrpcStatus(st));

  const std::string from_text = absl::FormatCivilTime(*from);
  const std::string to_text = absl::FormatCivilTime(*to);
  const std::string median = absl::StrCat(response.median_review_seconds());
  if (format == "csv") {
    std::string header = "region,from,to", row = absl::StrCat(region, ",", from_text, ",", to_text);
    for (const Figure& f : Figures(response)) {
      absl::StrAppend(&header, ",", f.key);
      absl::StrAppend(&row, ",", f.value);
    }
    std::cout << header << ",median_review_seconds\n" << row << "," << median << "\n";
  } else if (format == "json") {
    std::string out =
        absl::StrCat("{\"region\":\"", region, "\",\"from\":\"", from_text, "\",\"to\":\"", to_text, "\"");
    for (const Figure& f : Figures(response)) absl::StrAppend(&out, ",\"", f.key, "\":", f.value);
    std::cout << out << ",\"median_review_seconds\":" << median << "}\n";
  } else {
    std::cout << "CaseLink statistics for region " << region << ", " << from_text << " to " << to_text
              << " (China Standard Time)\n";
    for (const Figure& f : Figures(response)) std::cout << absl::StrFormat("  %-22s %10d\n", f.label, f.value);
    std::cout << absl::StrFormat("  %-22s %10s", "median review time", median + " s");
    if (response.median_review_seconds() > 0) {
      std::cout << "  (" << HumanDuration(response.median_review_seconds()) << ")";
    }
    std::cout << "\n";
  }
  return 0;
}

int ProcedureCommand(const std::vector<std::string>& args) {
  auto flags = cli::ParseFlags(args, {});
  if (!flags.ok()) return cli::Fail(flags.status());
  if (flags->help) return std::cout << kProcedureUsage, 0;
  if (flags->positional.size() != 1 || flags->positional[0] != "table") return std::cerr << kProcedureUsage, 2;
  const std::string markdown = ProcedureMarkdown();
  if (flags->Has("output")) {
    if (auto st = cli::WriteFile(flags->Get("output"), markdown); !st.ok()) return cli::Fail(st);
    return 0;
  }
  std::cout << markdown;
  return 0;
}

}  // namespace caselink
