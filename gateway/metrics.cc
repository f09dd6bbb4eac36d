#include "gateway/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace caselink {
namespace {

constexpr char kSubmissions[] = "caselink_submissions_total";
constexpr char kSubmissionDuration[] = "caselink_submission_duration_seconds";
constexpr char kRpcs[] = "caselink_rpcs_total";
constexpr char kRpcDuration[] = "caselink_rpc_duration_seconds";

std::string SecondsLabel(int64_t micros) { return absl::StrFormat("%g", static_cast<double>(micros) / 1e6); }

// One histogram's samples; `labels` is empty or `name="value",` pairs, each with its comma.
void AppendHistogram(std::string& out, absl::string_view name, absl::string_view labels,
                     const LatencyHistogram::Snapshot& h) {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < LatencyHistogram::kBuckets; ++i) {
    cumulative += h.counts[i];
    const std::string le = i < LatencyHistogram::kBoundsMicros.size()
                               ? SecondsLabel(LatencyHistogram::kBoundsMicros[i])
                               : std::string("+Inf");
    absl::StrAppend(&out, name, "_bucket{", labels, "le=\"", le, "\"} ", cumulative, "\n");
  }
  // The labels without their trailing comma, for the series that have no le.
  const absl::string_view bare = labels.empty() ? labels : labels.substr(0, labels.size() - 1);
  const std::string braces = bare.empty() ? std::string() : absl::StrCat("{", bare, "}");
  absl::StrAppend(&out, name, "_sum", braces, " ", absl::StrFormat("%.6f", static_cast<double>(h.sum_micros) / 1e6),
                  "\n", name, "_count", braces, " ", cumulative, "\n");
}

}  // namespace

uint64_t LatencyHistogram::Snapshot::count() const {
  uint64_t n = 0;
  for (uint64_t c : counts) n += c;
  return n;
}

LatencyHistogram::Snapshot LatencyHistogram::Snapshot::Minus(const Snapshot& earlier) const {
  Snapshot out;
  for (size_t i = 0; i < kBuckets; ++i) out.counts[i] = counts[i] - std::min(counts[i], earlier.counts[i]);
  out.sum_micros = sum_micros - std::min(sum_micros, earlier.sum_micros);
  return out;
}

int64_t LatencyHistogram::Snapshot::QuantileUpperBoundMicros(double q) const {
  const uint64_t total = count();
  if (total == 0) return -1;
  // The rank of the quantile's observation, 1-based, as a sorted list would give it.
  const uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(total))));
  uint64_t seen = 0;
  for (size_t i = 0; i < kBoundsMicros.size(); ++i) {
    seen += counts[i];
    if (seen >= rank) return kBoundsMicros[i];
  }
  return std::numeric_limits<int64_t>::max();
}

void LatencyHistogram::Observe(std::chrono::steady_clock::duration latency) {
  const int64_t micros = std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::microseconds>(latency).count());
  // The first bound not below the value: a bucket holds values up to and including its bound.
  const size_t bucket = static_cast<size_t>(
      std::lower_bound(kBoundsMicros.begin(), kBoundsMicros.end(), micros) - kBoundsMicros.begin());
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(static_cast<uint64_t>(micros), std::memory_order_relaxed);
}

LatencyHistogram::Snapshot LatencyHistogram::Read() const {
  Snapshot out;
  for (size_t i = 0; i < kBuckets; ++i) out.counts[i] = counts_[i].load(std::memory_order_relaxed);
  out.sum_micros = sum_micros_.load(std::memory_order_relaxed);
  return out;
}

void GatewayMetrics::ObserveSubmission(absl::StatusCode code, std::chrono::steady_clock::duration latency) {
  const int c = static_cast<int>(code);
  submissions_[c >= 0 && c < kCodes ? c : static_cast<int>(absl::StatusCode::kUnknown)].fetch_add(
      1, std::memory_order_relaxed);
  submission_latency_.Observe(latency);
}

uint64_t GatewayMetrics::Submissions(absl::StatusCode code) const {
  const int c = static_cast<int>(code);
  return c >= 0 && c < kCodes ? submissions_[c].load(std::memory_order_relaxed) : 0;
}

void GatewayMetrics::CountRpc(std::string_view method, int code) {
  const int c = code >= 0 && code < kCodes ? code : static_cast<int>(absl::StatusCode::kUnknown);
  std::lock_guard<std::mutex> lock(rpcs_mu_);
  auto it = rpcs_.find(method);
  if (it == rpcs_.end()) it = rpcs_.emplace(std::string(method), std::array<uint64_t, kCodes>{}).first;
  ++it->second[c];
}

void GatewayMetrics::ObserveUnaryRpc(std::string_view method, std::chrono::steady_clock::duration latency) {
  LatencyHistogram* histogram;
  {
    std::lock_guard<std::mutex> lock(rpcs_mu_);
    auto it = rpc_latency_.find(method);
    if (it == rpc_latency_.end()) {
      it = rpc_latency_.emplace(std::string(method), std::make_unique<LatencyHistogram>()).first;
    }
    histogram = it->second.get();
  }
  // Outside the lock: a histogram is never removed, and it records with atomics.
  histogram->Observe(latency);
}

uint64_t GatewayMetrics::Rpcs(std::string_view method, int code) const {
  std::lock_guard<std::mutex> lock(rpcs_mu_);
  auto it = rpcs_.find(method);
  return it == rpcs_.end() || code < 0 || code >= kCodes ? 0 : it->second[code];
}

std::string GatewayMetrics::RenderPrometheus() const {
  std::string out;
  {
    std::lock_guard<std::mutex> lock(rpcs_mu_);
    absl::StrAppend(&out, "# HELP ", kRpcs, " RPCs answered, by method and gRPC status code.\n", "# TYPE ", kRpcs,
                    " counter\n");
    for (const auto& [method, counts] : rpcs_) {
      for (int c = 0; c < kCodes; ++c) {
        if (counts[c] == 0) continue;
        absl::StrAppend(&out, kRpcs, "{method=\"", method, "\",code=\"",
                        absl::StatusCodeToString(static_cast<absl::StatusCode>(c)), "\"} ", counts[c], "\n");
      }
    }
    absl::StrAppend(&out, "# HELP ", kRpcDuration,
                    " Unary RPCs, from the call's arrival to its status being sent, by method.\n", "# TYPE ",
                    kRpcDuration, " histogram\n");
    for (const auto& [method, histogram] : rpc_latency_) {
      AppendHistogram(out, kRpcDuration, absl::StrCat("method=\"", method, "\","), histogram->Read());
    }
  }
  absl::StrAppend(&out, "# HELP ", kSubmissions,
                  " Envelopes through the submission pipeline (Submit, SubmitStream, Kafka ingress), by outcome.\n",
                  "# TYPE ", kSubmissions, " counter\n");
  for (int c = 0; c < kCodes; ++c) {
    const uint64_t n = submissions_[c].load(std::memory_order_relaxed);
    // OK always, so a scrape before the first envelope still shows the series.
    if (n == 0 && c != 0) continue;
    absl::StrAppend(&out, kSubmissions, "{code=\"", absl::StatusCodeToString(static_cast<absl::StatusCode>(c)), "\"} ",
                    n, "\n");
  }

  const LatencyHistogram::Snapshot h = submission_latency_.Read();
  absl::StrAppend(&out, "# HELP ", kSubmissionDuration,
                  " From an envelope's arrival at the pipeline to its outcome being durable and handed back.\n",
                  "# TYPE ", kSubmissionDuration, " histogram\n");
  AppendHistogram(out, kSubmissionDuration, "", h);

  for (const GaugeGroup& g : gauges_) {
    std::vector<double> values;
    if (!g.read(values) || values.size() != g.names_and_help.size()) continue;
    for (size_t i = 0; i < values.size(); ++i) {
      const auto& [name, help] = g.names_and_help[i];
      absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " gauge\n", name, " ",
                      absl::StrFormat("%.17g", values[i]), "\n");
    }
  }
  return out;
}

void GatewayMetrics::AddGauge(Gauge gauge) {
  AddGauges({{{std::move(gauge.name), std::move(gauge.help)}},
             [read = std::move(gauge.read)](std::vector<double>& values) {
               double value = 0;
               if (!read(value)) return false;
               values.assign(1, value);
               return true;
             }});
}

absl::Status ParsePrometheusHistogram(const std::string& text, const std::string& histogram,
                                      LatencyHistogram::Snapshot& out) {
  const std::string bucket_prefix = absl::StrCat(histogram, "_bucket{le=\"");
  const std::string sum_prefix = absl::StrCat(histogram, "_sum ");
  std::vector<uint64_t> cumulative;
  bool have_sum = false;
  double sum_seconds = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::ConsumePrefix(&line, bucket_prefix)) {
      const size_t close = line.find("\"} ");
      if (close == absl::string_view::npos) {
        return absl::InvalidArgumentError(absl::StrCat("malformed bucket line of ", histogram));
      }
      const absl::string_view le = line.substr(0, close);
      const size_t i = cumulative.size();
      if (i >= LatencyHistogram::kBuckets) {
        return absl::InvalidArgumentError(absl::StrCat(histogram, " has more buckets than this build knows"));
      }
      double bound = 0;
      const bool last = i + 1 == LatencyHistogram::kBuckets;
      if (last ? le != "+Inf"
               : !absl::SimpleAtod(le, &bound) ||
                     std::llround(bound * 1e6) != LatencyHistogram::kBoundsMicros[i]) {
        return absl::InvalidArgumentError(
            absl::StrCat(histogram, " bucket ", i, " has bound le=\"", le, "\", not this build's"));
      }
      uint64_t n = 0;
      if (!absl::SimpleAtoi(line.substr(close + 3), &n)) {
        return absl::InvalidArgumentError(absl::StrCat("malformed count in a bucket line of ", histogram));
      }
      cumulative.push_back(n);
    } else if (absl::ConsumePrefix(&line, sum_prefix)) {
      have_sum = absl::SimpleAtod(line, &sum_seconds);
    }
  }
  if (cumulative.empty()) return absl::NotFoundError(absl::StrCat("no histogram ", histogram, " in the metrics"));
  if (cumulative.size() != LatencyHistogram::kBuckets || !have_sum) {
    return absl::InvalidArgumentError(absl::StrCat(histogram, " is incomplete in the metrics"));
  }
  LatencyHistogram::Snapshot s;
  for (size_t i = 0; i < cumulative.size(); ++i) {
    const uint64_t below = i == 0 ? 0 : cumulative[i - 1];
    if (cumulative[i] < below) {
      return absl::InvalidArgumentError(absl::StrCat(histogram, " buckets are not cumulative"));
    }
    s.counts[i] = cumulative[i] - below;
  }
  s.sum_micros = static_cast<uint64_t>(std::llround(sum_seconds * 1e6));
  out = s;
  return absl::OkStatus();
}

}  // namespace caselink
