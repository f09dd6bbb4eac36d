// StatisticsService: the figures of provincial and national reports (transfers,
// filings, supervision, overdue reviews, review time) for a region and period,
// counted from the events the gateway recorded with each accepted action.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "adapters/store/store.h"
#include "caselink/v1/services.grpc.pb.h"
#include "gateway/services.h"

namespace caselink {

// The figures for cases whose region code starts with `region_prefix`, over
// events in [from_micros, to_micros) (0: unbounded). Definitions:
//   detention_transfers   detention_transfer actions
//   criminal_transfers    transfer actions
//   receipts              receipt actions (回执)
//   filings               actions that left a case FILED (filing, reversed reconsideration)
//   non_filings           actions that left a case NOT_FILED
//   reconsiderations      reconsideration requests
//   supervision_requests  supervision requests
//   filing_orders         the procuratorate's filing orders
//   overdue_reviews       PSB review periods (psb_filing_decision) found overdue
//   median_review_seconds median time from transfer to the first filing decision,
//                         over decisions made in the period
absl::StatusOr<v1::StatisticsResponse> ComputeStatistics(Store& store, const std::string& region_prefix,
                                                         int64_t from_micros, int64_t to_micros);

class StatisticsServiceImpl final : public v1::StatisticsService::CallbackService {
 public:
  StatisticsServiceImpl(ServiceContext ctx, PeerIdentifier& peers) : ctx_(ctx), peers_(peers) {}
  // An agency may ask for any region that contains its own (its region code
  // starts with the prefix); an agency with the "auditor" role for any region
  // of its province.
  grpc::ServerUnaryReactor* GetStatistics(grpc::CallbackServerContext* context, const v1::StatisticsRequest* request,
                                          v1::StatisticsResponse* response) override;

 private:
  ServiceContext ctx_;
  PeerIdentifier& peers_;
};

}  // namespace caselink
