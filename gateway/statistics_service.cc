// Statistics for reports, computed from the store's case events with two
// indexed queries: counts grouped by action and outcome, and review intervals.
#include "gateway/statistics_service.h"

#include <algorithm>
#include <regex>

#include <google/protobuf/util/time_util.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace caselink {
namespace {

using google::protobuf::util::TimeUtil;

bool HasRole(const Caller& caller, absl::string_view role) {
  if (caller.agency == nullptr) return false;
  const auto& roles = caller.agency->agency.roles();
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

}  // namespace

absl::StatusOr<v1::StatisticsResponse> ComputeStatistics(Store& store, const std::string& region_prefix,
                                                         int64_t from_micros, int64_t to_micros) {
  EventQuery query{region_prefix, from_micros, to_micros};
  absl::StatusOr<std::vector<EventCount>> counts = store.CountCaseEvents(query);
  if (!counts.ok()) return counts.status();
  v1::StatisticsResponse out;
  out.set_region_prefix(region_prefix);
  for (const EventCount& c : *counts) {
    // Gateway events (deadline_*) leave the state as it was; only actions decide.
    const bool gateway_event = absl::StartsWith(c.action, "deadline_");
    if (c.action == "detention_transfer") out.set_detention_transfers(out.detention_transfers() + c.count);
    if (c.action == "transfer") out.set_criminal_transfers(out.criminal_transfers() + c.count);
    if (c.action == "receipt") out.set_receipts(out.receipts() + c.count);
    if (!gateway_event && c.to_state == v1::FILED) out.set_filings(out.filings() + c.count);
    if (!gateway_event && c.to_state == v1::NOT_FILED) out.set_non_filings(out.non_filings() + c.count);
    if (c.action == "reconsideration_request") out.set_reconsiderations(out.reconsiderations() + c.count);
    if (c.action == "supervision_request") out.set_supervision_requests(out.supervision_requests() + c.count);
    if (c.action == "filing_order") out.set_filing_orders(out.filing_orders() + c.count);
    if (c.action == "deadline_overdue" && c.detail == "psb_filing_decision") {
      out.set_overdue_reviews(out.overdue_reviews() + c.count);
    }
  }
  IntervalQuery intervals;
  intervals.events = query;
  intervals.start_action = "transfer";
  intervals.end_actions = {"filing", "non_filing"};
  // The review decision; a filing after supervision or reconsideration is not one.
  intervals.end_from_state = v1::RECEIVED;
  absl::StatusOr<std::vector<int64_t>> durations = store.ReadEventIntervals(intervals);
  if (!durations.ok()) return durations.status();
  if (!durations->empty()) {
    std::vector<int64_t>& d = *durations;
    std::sort(d.begin(), d.end());
    const size_t n = d.size();
    const double median_micros = n % 2 == 1 ? static_cast<double>(d[n / 2])
                                            : (static_cast<double>(d[n / 2 - 1]) + static_cast<double>(d[n / 2])) / 2;
    out.set_median_review_seconds(median_micros / 1e6);
  }
  return out;
}

grpc::ServerUnaryReactor* StatisticsServiceImpl::GetStatistics(grpc::CallbackServerContext* context,
                                                               const v1::StatisticsRequest* request,
                                                               v1::StatisticsResponse* response) {
  auto* reactor = context->DefaultReactor();
  Caller caller;
  auto refuse = [&](absl::Status why) {
    ctx_.pipeline.RecordRefusal(caller, "GetStatistics", "", std::move(why),
                                [reactor](absl::Status st) { reactor->Finish(ToGrpcStatus(st)); });
    return reactor;
  };
  if (auto st = peers_.Identify(*context, caller); !st.ok()) return refuse(st);
  static const std::regex* kPrefix = new std::regex("^[0-9]{2,6}$");
  const std::string& prefix = request->region_prefix();
  if (!std::regex_match(prefix, *kPrefix)) {
    return refuse(absl::InvalidArgumentError(absl::StrCat(
        "region_prefix '", prefix, "' must be 2 to 6 digits of a GB/T 2260 code, e.g. 51 (province), 5101 (city)")));
  }
  const std::string& own = caller.agency->agency.region();
  const bool inside = absl::StartsWith(own, prefix);
  const bool auditor = HasRole(caller, "auditor") && absl::StartsWith(prefix, own.substr(0, 2));
  if (!inside && !auditor) {
    return refuse(absl::PermissionDeniedError(absl::StrCat("agency '", caller.agency_id(), "' of region ", own,
                                                           " may see figures for regions that contain its own (",
                                                           own.substr(0, 2), ", ", own.substr(0, 4), ", ", own,
                                                           "), not ", prefix)));
  }
  const int64_t from = request->has_from() ? TimeUtil::TimestampToMicroseconds(request->from()) : 0;
  const int64_t to = request->has_to() ? TimeUtil::TimestampToMicroseconds(request->to()) : 0;
  if (from != 0 && to != 0 && to <= from) {
    return refuse(absl::InvalidArgumentError("the period is empty: 'to' must be after 'from'"));
  }
  PostRead(ctx_, reactor, caller, "GetStatistics", "", [this, reactor, prefix, from, to, response] {
    auto figures = ComputeStatistics(ctx_.store, prefix, from, to);
    if (!figures.ok()) {
      reactor->Finish(
          ToGrpcStatus(absl::UnavailableError(absl::StrCat("computing statistics: ", figures.status().message()))));
      return;
    }
    *response = *std::move(figures);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

}  // namespace caselink
