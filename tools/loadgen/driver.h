// Drives CaseService.Submit (or SubmitStream) with pre-signed requests over
// several mTLS connections on gRPC's callback API: at full speed with a fixed
// number of requests in flight (closed loop), or at a fixed rate (open loop).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "caselink/v1/services.grpc.pb.h"
#include "tools/client/agency_client.h"
#include "tools/loadgen/workload.h"

namespace caselink::loadgen {

// One channel per connection: a distinct channel id and a local subchannel
// pool keep gRPC from folding equal channels onto one TCP connection.
absl::StatusOr<std::shared_ptr<grpc::Channel>> ConnectChannel(const AgencyIdentity& identity, const std::string& target,
                                                              int channel_id, absl::Duration connect_timeout);

enum class DriverApi {
  kUnary,   // one CaseService.Submit call per request
  kStream,  // one CaseService.SubmitStream call per connection, envelopes batched per message
};

struct DriverOptions {
  DriverApi api = DriverApi::kUnary;
  // Stream: at most this many envelopes in one SubmitStreamRequest.
  int stream_batch = 64;
  // > 0: open loop at this many requests per second, send times fixed from
  // the start and latency measured from the scheduled time (so a slow answer
  // cannot hide the requests that should have been sent meanwhile).
  // 0: closed loop with `concurrency` requests in flight.
  double rate = 0;
  int concurrency = 64;
  // Sending stops after this long (or when the requests run out).
  absl::Duration duration = absl::Seconds(20);
  // Unary: per call. Stream: the stream's deadline is duration + call_timeout.
  absl::Duration call_timeout = absl::Seconds(10);
  // OK receipts kept for checking the gateway's signature afterwards.
  size_t sample_receipts = 64;
};

struct RunResult {
  double wall_seconds = 0;  // from the first send until the last answer
  uint64_t sent = 0;
  uint64_t ok = 0;
  uint64_t duplicates = 0;    // OK answers marked duplicate (must be 0: every id is new)
  uint64_t bad_receipts = 0;  // OK answers without a signed receipt
  std::array<uint64_t, 17> errors_by_code{};
  std::map<int, std::string> first_error_message;  // by grpc::StatusCode
  bool ran_out_of_requests = false;  // closed loop: every prepared request was sent before the time was up
  // OK latencies in nanoseconds, sorted.
  std::vector<int64_t> latencies_ns;
  // OK answers per second of the run (by completion time).
  std::vector<uint64_t> ok_per_second;
  std::vector<v1::SignedSubmissionReceipt> receipts;
  // The status code each request was answered with, by workload index; -1:
  // never sent (the run ended first).
  std::vector<int8_t> code_by_request;

  // Stream API only.
  uint64_t stream_messages = 0;            // SubmitStreamRequests written
  uint64_t stream_envelopes_written = 0;   // envelopes in them
  uint64_t stream_answer_messages = 0;     // SubmitStreamResponses read
  uint64_t stream_answers_read = 0;        // answers in them
  uint64_t stray_answers = 0;              // answers with an index never sent or answered twice (must be 0)
  uint64_t failed_streams = 0;             // streams that ended with a status other than OK
  int first_stream_error_code = 0;         // grpc::StatusCode of the first of them
  std::string first_stream_error;          // and its message

  uint64_t errors() const;
  double throughput() const { return wall_seconds > 0 ? static_cast<double>(ok) / wall_seconds : 0; }
  // The q-quantile (0..1) of OK latencies in milliseconds; 0 when there are none.
  double LatencyMs(double q) const;
};

// `stubs[a]` are the connections of workload agency `a`; request i goes to
// connection i modulo their number (stream API: to that connection's stream).
RunResult RunLoad(const std::vector<std::vector<std::unique_ptr<v1::CaseService::Stub>>>& stubs,
                  const Workload& workload, const DriverOptions& options);

}  // namespace caselink::loadgen
