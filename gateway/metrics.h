// The gateway's own counts and timings, for operators (Prometheus text over
// HTTP, see gateway/metrics_http.h) and for the load generator, which reads
// how long the gateway itself held each envelope beside what its caller saw.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace caselink {

// A latency histogram with fixed bucket bounds, recorded with relaxed atomics:
// any thread may observe while another renders.
class LatencyHistogram {
 public:
  // Upper bounds in microseconds, ascending; a last bucket (+Inf) follows them.
  // Fine below 30 ms, where the gateway's latency targets lie.
  static constexpr std::array<int64_t, 30> kBoundsMicros = {
      100,    250,    500,    750,    1'000,  1'500,   2'000,   2'500,   3'000,     4'000,
      5'000,  6'000,  7'000,  8'000,  9'000,  10'000,  12'500,  15'000,  20'000,    25'000,
      30'000, 40'000, 50'000, 75'000, 100'000, 250'000, 500'000, 1'000'000, 2'500'000, 10'000'000};
  static constexpr size_t kBuckets = kBoundsMicros.size() + 1;

  struct Snapshot {
    std::array<uint64_t, kBuckets> counts{};  // per bucket, not cumulative
    uint64_t sum_micros = 0;
    uint64_t count() const;
    // What happened between `earlier` and this one.
    Snapshot Minus(const Snapshot& earlier) const;
    // The upper bound, in microseconds, of the bucket holding quantile q (0 < q <= 1);
    // -1 when empty; INT64_MAX when it falls in the +Inf bucket. An upper bound
    // rather than an interpolation: the figure is never better than the truth.
    int64_t QuantileUpperBoundMicros(double q) const;
  };

  void Observe(std::chrono::steady_clock::duration latency);
  Snapshot Read() const;

 private:
  std::array<std::atomic<uint64_t>, kBuckets> counts_{};
  std::atomic<uint64_t> sum_micros_{0};
};

class GatewayMetrics {
 public:
  // One envelope's outcome through the submission pipeline (gRPC Submit,
  // SubmitStream or Kafka ingress): from its arrival at the pipeline, after
  // the read, to its outcome being durable and handed back for the answer.
  void ObserveSubmission(absl::StatusCode code, std::chrono::steady_clock::duration latency);

  uint64_t Submissions(absl::StatusCode code) const;

  // One RPC answered with gRPC status `code` (0..16), by its full method name
  // (e.g. /caselink.v1.CaseService/Submit). Once per call, not per message.
  void CountRpc(std::string_view method, int code);
  // A unary RPC's time from its arrival to its status being sent.
  void ObserveUnaryRpc(std::string_view method, std::chrono::steady_clock::duration latency);
  uint64_t Rpcs(std::string_view method, int code) const;
  const LatencyHistogram& submission_latency() const { return submission_latency_; }

  // Values read at render time (from the store, the deadline engine); each
  // returns false when it has nothing to report (e.g. no bus, store error).
  struct Gauge {
    std::string name;
    std::string help;
    std::function<bool(double&)> read;
  };
  void AddGauge(Gauge gauge);
  // Gauges that come from one read (e.g. one scan of the store): `read` fills
  // one value per name, in order.
  struct GaugeGroup {
    std::vector<std::pair<std::string, std::string>> names_and_help;
    std::function<bool(std::vector<double>&)> read;
  };
  void AddGauges(GaugeGroup group) { gauges_.push_back(std::move(group)); }

  // The Prometheus text exposition format, version 0.0.4.
  std::string RenderPrometheus() const;

 private:
  static constexpr int kCodes = 17;  // gRPC status codes 0..16
  std::array<std::atomic<uint64_t>, kCodes> submissions_{};
  LatencyHistogram submission_latency_;
  mutable std::mutex rpcs_mu_;
  std::map<std::string, std::array<uint64_t, kCodes>, std::less<>> rpcs_;  // guarded by rpcs_mu_
  // The map is guarded by rpcs_mu_; each histogram records by itself.
  std::map<std::string, std::unique_ptr<LatencyHistogram>, std::less<>> rpc_latency_;
  std::vector<GaugeGroup> gauges_;  // added before serving, read only afterwards
};

// Parses the buckets of `histogram` (a metric name such as
// caselink_submission_duration_seconds) out of Prometheus text, for readers of
// a gateway's /metrics; NOT_FOUND when the text has none of it, INVALID_ARGUMENT
// when its bucket bounds are not this build's.
absl::Status ParsePrometheusHistogram(const std::string& text, const std::string& histogram,
                                      LatencyHistogram::Snapshot& out);

}  // namespace caselink
