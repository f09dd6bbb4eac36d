// The gateway's metrics: the latency histogram's buckets and quantile bounds,
// the Prometheus text and reading it back, and the small HTTP server that
// serves it.
#include "gateway/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <limits>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gateway/metrics_http.h"

namespace caselink {
namespace {

using std::chrono::microseconds;
using ::testing::HasSubstr;
using ::testing::Not;

size_t BucketOf(int64_t micros) {
  LatencyHistogram h;
  h.Observe(microseconds(micros));
  const LatencyHistogram::Snapshot s = h.Read();
  for (size_t i = 0; i < LatencyHistogram::kBuckets; ++i) {
    if (s.counts[i] == 1) return i;
  }
  return LatencyHistogram::kBuckets;
}

TEST(LatencyHistogramTest, ABucketHoldsValuesUpToAndIncludingItsBound) {
  EXPECT_EQ(BucketOf(0), 0u);
  EXPECT_EQ(BucketOf(100), 0u);
  EXPECT_EQ(BucketOf(101), 1u);
  EXPECT_EQ(BucketOf(10'000), 15u);  // 10 ms
  EXPECT_EQ(BucketOf(10'001), 16u);
  EXPECT_EQ(BucketOf(10'000'000), LatencyHistogram::kBuckets - 2);
  EXPECT_EQ(BucketOf(10'000'001), LatencyHistogram::kBuckets - 1);  // +Inf
  EXPECT_EQ(LatencyHistogram::kBoundsMicros[15], 10'000);
}

TEST(LatencyHistogramTest, QuantilesAreTheUpperBoundOfTheBucketHoldingThem) {
  LatencyHistogram h;
  EXPECT_EQ(h.Read().QuantileUpperBoundMicros(0.99), -1);
  for (int i = 0; i < 98; ++i) h.Observe(microseconds(900));  // the 1 ms bucket
  h.Observe(microseconds(7'500));                              // the 8 ms bucket
  h.Observe(microseconds(45'000));                             // the 50 ms bucket
  const LatencyHistogram::Snapshot s = h.Read();
  EXPECT_EQ(s.count(), 100u);
  EXPECT_EQ(s.sum_micros, 98u * 900 + 7'500 + 45'000);
  EXPECT_EQ(s.QuantileUpperBoundMicros(0.5), 1'000);
  EXPECT_EQ(s.QuantileUpperBoundMicros(0.98), 1'000);
  EXPECT_EQ(s.QuantileUpperBoundMicros(0.99), 8'000);  // the 99th of 100
  EXPECT_EQ(s.QuantileUpperBoundMicros(1.0), 50'000);
  h.Observe(std::chrono::seconds(30));
  EXPECT_EQ(h.Read().QuantileUpperBoundMicros(1.0), std::numeric_limits<int64_t>::max());
}

TEST(LatencyHistogramTest, MinusLeavesWhatHappenedBetweenTwoReadings) {
  LatencyHistogram h;
  h.Observe(microseconds(50'000));
  const LatencyHistogram::Snapshot before = h.Read();
  h.Observe(microseconds(2'000));
  h.Observe(microseconds(2'000));
  const LatencyHistogram::Snapshot run = h.Read().Minus(before);
  EXPECT_EQ(run.count(), 2u);
  EXPECT_EQ(run.sum_micros, 4'000u);
  EXPECT_EQ(run.QuantileUpperBoundMicros(1.0), 2'000);
}

TEST(GatewayMetricsTest, RendersCountsByCodeAndACumulativeHistogram) {
  GatewayMetrics m;
  m.ObserveSubmission(absl::StatusCode::kOk, microseconds(800));
  m.ObserveSubmission(absl::StatusCode::kOk, microseconds(3'000));
  m.ObserveSubmission(absl::StatusCode::kPermissionDenied, microseconds(200));
  m.AddGauge({"caselink_audit_tree_size", "Entries.", [](double& v) {
                v = 42;
                return true;
              }});
  m.AddGauge({"caselink_nothing", "Has no value.", [](double&) { return false; }});
  const std::string text = m.RenderPrometheus();
  EXPECT_THAT(text, HasSubstr("# TYPE caselink_submissions_total counter\n"));
  EXPECT_THAT(text, HasSubstr("caselink_submissions_total{code=\"OK\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("caselink_submissions_total{code=\"PERMISSION_DENIED\"} 1\n"));
  EXPECT_THAT(text, Not(HasSubstr("code=\"INTERNAL\"")));
  EXPECT_THAT(text, HasSubstr("# TYPE caselink_submission_duration_seconds histogram\n"));
  EXPECT_THAT(text, HasSubstr("caselink_submission_duration_seconds_bucket{le=\"0.00025\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("caselink_submission_duration_seconds_bucket{le=\"0.001\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("caselink_submission_duration_seconds_bucket{le=\"0.003\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("caselink_submission_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("caselink_submission_duration_seconds_sum 0.004000\n"));
  EXPECT_THAT(text, HasSubstr("caselink_submission_duration_seconds_count 3\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE caselink_audit_tree_size gauge\ncaselink_audit_tree_size 42\n"));
  EXPECT_THAT(text, Not(HasSubstr("caselink_nothing")));
  EXPECT_EQ(m.Submissions(absl::StatusCode::kOk), 2u);
}

TEST(GatewayMetricsTest, CountsRpcsByMethodAndCode) {
  GatewayMetrics m;
  m.CountRpc("/caselink.v1.CaseService/Submit", 0);
  m.CountRpc("/caselink.v1.CaseService/Submit", 0);
  m.CountRpc("/caselink.v1.CaseService/Submit", 3);
  m.CountRpc("/caselink.v1.CaseService/GetCase", 5);
  m.CountRpc("/caselink.v1.CaseService/GetCase", 99);  // not a gRPC code: counted as UNKNOWN
  EXPECT_EQ(m.Rpcs("/caselink.v1.CaseService/Submit", 0), 2u);
  EXPECT_EQ(m.Rpcs("/caselink.v1.CaseService/GetCase", 2), 1u);
  EXPECT_EQ(m.Rpcs("/caselink.v1.CaseService/Nothing", 0), 0u);
  const std::string text = m.RenderPrometheus();
  EXPECT_THAT(text, HasSubstr("# TYPE caselink_rpcs_total counter\n"));
  EXPECT_THAT(text, HasSubstr("caselink_rpcs_total{method=\"/caselink.v1.CaseService/Submit\",code=\"OK\"} 2\n"));
  EXPECT_THAT(text,
              HasSubstr("caselink_rpcs_total{method=\"/caselink.v1.CaseService/Submit\",code=\"INVALID_ARGUMENT\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("caselink_rpcs_total{method=\"/caselink.v1.CaseService/GetCase\",code=\"NOT_FOUND\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("caselink_rpcs_total{method=\"/caselink.v1.CaseService/GetCase\",code=\"UNKNOWN\"} 1\n"));
  EXPECT_THAT(text, Not(HasSubstr("GetCase\",code=\"OK\"")));
}

TEST(GatewayMetricsTest, TimesUnaryRpcsByMethod) {
  GatewayMetrics m;
  m.ObserveUnaryRpc("/caselink.v1.CaseService/GetCase", microseconds(800));
  m.ObserveUnaryRpc("/caselink.v1.CaseService/GetCase", microseconds(30'000));
  m.ObserveUnaryRpc("/caselink.v1.CaseService/Submit", microseconds(2'000));
  const std::string text = m.RenderPrometheus();
  EXPECT_THAT(text, HasSubstr("# TYPE caselink_rpc_duration_seconds histogram\n"));
  const std::string get_case = "caselink_rpc_duration_seconds_bucket{method=\"/caselink.v1.CaseService/GetCase\",";
  EXPECT_THAT(text, HasSubstr(get_case + "le=\"0.00075\"} 0\n"));
  EXPECT_THAT(text, HasSubstr(get_case + "le=\"0.001\"} 1\n"));
  EXPECT_THAT(text, HasSubstr(get_case + "le=\"0.03\"} 2\n"));
  EXPECT_THAT(text, HasSubstr(get_case + "le=\"+Inf\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("caselink_rpc_duration_seconds_sum{method=\"/caselink.v1.CaseService/GetCase\"} 0.030800\n"));
  EXPECT_THAT(text, HasSubstr("caselink_rpc_duration_seconds_count{method=\"/caselink.v1.CaseService/GetCase\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("caselink_rpc_duration_seconds_count{method=\"/caselink.v1.CaseService/Submit\"} 1\n"));
  // The submissions' histogram, unlabelled, still reads back.
  LatencyHistogram::Snapshot parsed;
  EXPECT_TRUE(ParsePrometheusHistogram(text, "caselink_submission_duration_seconds", parsed).ok());
  EXPECT_EQ(parsed.count(), 0u);
}

TEST(GatewayMetricsTest, TheHistogramReadsBackFromItsText) {
  GatewayMetrics m;
  for (int i = 0; i < 10; ++i) m.ObserveSubmission(absl::StatusCode::kOk, microseconds(1'200 * (i + 1)));
  LatencyHistogram::Snapshot parsed;
  ASSERT_TRUE(ParsePrometheusHistogram(m.RenderPrometheus(), "caselink_submission_duration_seconds", parsed).ok());
  const LatencyHistogram::Snapshot direct = m.submission_latency().Read();
  EXPECT_EQ(parsed.counts, direct.counts);
  EXPECT_EQ(parsed.sum_micros, direct.sum_micros);
}

TEST(GatewayMetricsTest, TextOfAnotherLayoutIsRefusedNotMisread) {
  GatewayMetrics m;
  m.ObserveSubmission(absl::StatusCode::kOk, microseconds(500));
  const std::string text = m.RenderPrometheus();
  LatencyHistogram::Snapshot out;
  EXPECT_EQ(ParsePrometheusHistogram(text, "caselink_other_seconds", out).code(), absl::StatusCode::kNotFound);
  // Another build's bounds would put counts in the wrong buckets.
  const std::string moved = absl::StrReplaceAll(text, {{"le=\"0.0015\"", "le=\"0.0016\""}});
  absl::Status s = ParsePrometheusHistogram(moved, "caselink_submission_duration_seconds", out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("0.0016"));
  const std::string no_sum = absl::StrReplaceAll(text, {{"caselink_submission_duration_seconds_sum", "x"}});
  EXPECT_EQ(ParsePrometheusHistogram(no_sum, "caselink_submission_duration_seconds", out).code(),
            absl::StatusCode::kInvalidArgument);
  const std::string not_cumulative =
      absl::StrReplaceAll(text, {{"caselink_submission_duration_seconds_bucket{le=\"+Inf\"} 1", "caselink_submission_duration_seconds_bucket{le=\"+Inf\"} 0"}});
  EXPECT_EQ(ParsePrometheusHistogram(not_cumulative, "caselink_submission_duration_seconds", out).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(MetricsHttpServerTest, ServesMetricsAndNothingElse) {
  int renders = 0;
  auto server = MetricsHttpServer::Start("127.0.0.1:0", [&renders] {
    ++renders;
    return std::string("caselink_up 1\n");
  });
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);
  const std::string address = absl::StrCat("127.0.0.1:", (*server)->port());
  absl::StatusOr<std::string> body = HttpGet(address, "/metrics");
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body, "caselink_up 1\n");
  EXPECT_EQ(renders, 1);
  absl::StatusOr<std::string> other = HttpGet(address, "/");
  ASSERT_FALSE(other.ok());
  EXPECT_THAT(std::string(other.status().message()), HasSubstr("404"));
  EXPECT_EQ(renders, 1);
}

// Sends `request` raw to 127.0.0.1:`port` and returns the answer's status line.
std::string StatusLineFor(int port, const std::string& request) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string answer;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
    char buf[1024];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) answer.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return answer.substr(0, answer.find("\r\n"));
}

TEST(MetricsHttpServerTest, OtherMethodsAndMalformedRequestsAreRefused) {
  int renders = 0;
  auto server = MetricsHttpServer::Start("127.0.0.1:0", [&renders] {
    ++renders;
    return std::string("x\n");
  });
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();
  EXPECT_EQ(StatusLineFor(port, "POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), "HTTP/1.1 405 Method Not Allowed");
  EXPECT_EQ(StatusLineFor(port, "hello\r\n\r\n"), "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(StatusLineFor(port, "GET /metrics?x=1 HTTP/1.0\r\n\r\n"), "HTTP/1.1 200 OK");
  EXPECT_EQ(renders, 1);
}

TEST(MetricsHttpServerTest, AnAddressItCannotUseIsNamedInTheError) {
  auto bad = MetricsHttpServer::Start("9100", [] { return std::string(); });
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("metrics_address"));
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("'9100' is not host:port"));

  auto first = MetricsHttpServer::Start("127.0.0.1:0", [] { return std::string(); });
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string taken = absl::StrCat("127.0.0.1:", (*first)->port());
  auto second = MetricsHttpServer::Start(taken, [] { return std::string(); });
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(second.status().message()), HasSubstr(taken));
}

TEST(MetricsHttpServerTest, StopsWhenDestroyed) {
  auto server = MetricsHttpServer::Start("127.0.0.1:0", [] { return std::string("x\n"); });
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string address = absl::StrCat("127.0.0.1:", (*server)->port());
  server->reset();
  absl::StatusOr<std::string> body = HttpGet(address, "/metrics", 1000);
  EXPECT_FALSE(body.ok());
  EXPECT_THAT(std::string(body.status().message()), HasSubstr(address));
}

}  // namespace
}  // namespace caselink
