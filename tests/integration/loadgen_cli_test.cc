// caselink-loadgen run as a program: short embedded runs, read back from --json.
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace caselink {
namespace {

using nlohmann::json;

struct Ran {
  int status = -1;
  json result;         // null when stdout was not JSON
  std::string errors;  // what it wrote to stderr
};

// Runs the load generator with exactly `args`.
Ran RunProgram(const std::string& args) {
  const std::string errors_file = testing::TempDir() + "/loadgen_cli_test.stderr";
  const std::string command = absl::StrCat("'", CASELINK_LOADGEN_BINARY, "' --json ", args, " 2>'", errors_file, "'");
  Ran ran;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return ran;
  std::string out;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  const int status = pclose(pipe);
  ran.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  json result = json::parse(out, nullptr, /*allow_exceptions=*/false);
  if (!result.is_discarded()) ran.result = std::move(result);
  std::ifstream errors(errors_file);
  ran.errors.assign(std::istreambuf_iterator<char>(errors), std::istreambuf_iterator<char>());
  return ran;
}

// Runs it against an embedded gateway with `args`; returns its exit status and
// its JSON result.
std::pair<int, json> RunLoadgen(const std::string& args) {
  Ran ran = RunProgram(absl::StrCat("--embedded-gateway --no-ceiling --warmup-requests 0 ", args));
  return {ran.status, std::move(ran.result)};
}

constexpr char kClosedLoop[] = "--concurrency 8 --requests 300 --duration 3";
constexpr char kOpenLoop[] = "--rate 200 --duration 1";

// The probe's syncs flush the disk's cache, which costs a saturated writer
// rate: a closed loop measures without it by default.
TEST(LoadgenCliTest, AClosedLoopRunsWithoutTheDiskProbeUnlessAsked) {
  auto [status, result] = RunLoadgen(kClosedLoop);
  ASSERT_EQ(status, 0);
  EXPECT_EQ(result["loop"], "closed");
  EXPECT_EQ(result["run"]["ok"], 300);
  EXPECT_FALSE(result.contains("disk")) << result["disk"].dump();

  auto [asked_status, asked] = RunLoadgen(absl::StrCat(kClosedLoop, " --disk-probe"));
  ASSERT_EQ(asked_status, 0);
  ASSERT_TRUE(asked.contains("disk"));
  EXPECT_GT(asked["disk"]["beside_run"]["syncs"].get<int>(), 0);
}

// Open loop is where the probe's p99 floor means something: on by default.
TEST(LoadgenCliTest, AnOpenLoopProbesTheDiskBesideTheRunUnlessTold) {
  auto [status, result] = RunLoadgen(kOpenLoop);
  ASSERT_EQ(status, 0);
  EXPECT_EQ(result["loop"], "open");
  EXPECT_EQ(result["run"]["ok"], 200);
  ASSERT_TRUE(result.contains("disk"));
  EXPECT_GT(result["disk"]["beside_run"]["syncs"].get<int>(), 0);
  EXPECT_TRUE(result["disk"]["beside_run"].contains("p99_floor_ms"));

  auto [off_status, off] = RunLoadgen(absl::StrCat(kOpenLoop, " --no-disk-probe"));
  ASSERT_EQ(off_status, 0);
  EXPECT_FALSE(off.contains("disk"));
}

// Beside what the load generator saw, what the gateway's own histogram says it
// held the run's envelopes for: every one of them, and no more than the run's
// slowest answer (bucket bounds are upper bounds, so only the median is compared).
TEST(LoadgenCliTest, TheReportSaysHowLongTheGatewayItselfHeldTheEnvelopes) {
  auto [status, result] = RunLoadgen(kOpenLoop);
  ASSERT_EQ(status, 0);
  ASSERT_TRUE(result["gateway"].contains("held_latency")) << result["gateway"].dump();
  const json& held = result["gateway"]["held_latency"];
  EXPECT_EQ(held["count"], result["run"]["ok"]);
  EXPECT_GT(held["mean_ms"].get<double>(), 0);
  EXPECT_LE(held["mean_ms"].get<double>(), result["run"]["latency_ms"]["max"].get<double>());
  ASSERT_TRUE(held["p50_at_most_ms"].is_number());
  EXPECT_GT(held["p50_at_most_ms"].get<double>(), 0);
}

// The busiest threads of the gateway, with how long each was ready to run and
// waited for a CPU: a share of the run's wall time, so between 0 and 1.
TEST(LoadgenCliTest, TheReportSaysHowLongTheBusiestThreadsWaitedForACpu) {
  auto [status, result] = RunLoadgen(kClosedLoop);
  ASSERT_EQ(status, 0);
  const json& threads = result["gateway"]["busiest_threads"];
  ASSERT_TRUE(threads.is_array());
  ASSERT_FALSE(threads.empty());
  bool writer = false;
  const bool kernel_keeps_schedstat = std::filesystem::exists("/proc/self/schedstat");
  for (const json& t : threads) {
    if (!kernel_keeps_schedstat) {
      EXPECT_FALSE(t.contains("waiting_for_cpu_cores")) << t.dump();
      continue;
    }
    ASSERT_TRUE(t.contains("waiting_for_cpu_cores")) << t.dump();
    EXPECT_GE(t["waiting_for_cpu_cores"].get<double>(), 0) << t.dump();
    EXPECT_LE(t["waiting_for_cpu_cores"].get<double>(), 1.05) << t.dump();
  }
  for (const json& t : threads) writer = writer || t["name"] == "store-writer";
  EXPECT_TRUE(writer) << threads.dump();
}

// --median summarises the gateway's own figures too.
TEST(LoadgenCliTest, TheMedianOfASetIncludesWhatTheGatewayHeld) {
  std::string args = "--median";
  const double held_p99[] = {6.0, 12.5, 8.0};
  for (int i = 0; i < 3; ++i) {
    const std::string path = absl::StrCat(testing::TempDir(), "/loadgen_cli_median_", i, ".json");
    json run{{"run", {{"throughput_per_second", 1000.0 * (i + 1)}}},
             {"gateway", {{"held_latency", {{"p50_at_most_ms", 2.0}, {"p99_at_most_ms", held_p99[i]}}}}}};
    std::ofstream(path) << run.dump();
    args += " " + path;
  }
  Ran ran = RunProgram(args);
  ASSERT_EQ(ran.status, 0) << ran.errors;
  EXPECT_EQ(ran.result["median"]["held_p99_at_most_ms"], 8.0);
  EXPECT_EQ(ran.result["max"]["held_p99_at_most_ms"], 12.5);
  EXPECT_EQ(ran.result["median"]["held_p50_at_most_ms"], 2.0);
  EXPECT_EQ(ran.result["median"]["throughput_per_second"], 2000.0);
}

TEST(LoadgenCliTest, GatewayMetricsAreReadFromAnExternalGatewayOnly) {
  Ran ran = RunProgram("--embedded-gateway --gateway-metrics 127.0.0.1:1 --rate 10 --duration 1");
  EXPECT_NE(ran.status, 0);
  EXPECT_TRUE(ran.result.is_null());
  EXPECT_NE(ran.errors.find("--gateway-metrics is for an external gateway"), std::string::npos) << ran.errors;
}

TEST(LoadgenCliTest, NoProbeWithADirectoryToProbeIsRefused) {
  auto [status, result] = RunLoadgen("--no-disk-probe --disk-probe-dir /tmp --rate 10 --duration 1");
  EXPECT_NE(status, 0);
  EXPECT_TRUE(result.is_null());
}

// Asked for by name, a probe that would have no directory is an error, not a
// run that silently probes nothing. Refused before anything connects.
TEST(LoadgenCliTest, AProbeAskedForAnExternalGatewayNeedsItsDirectory) {
  Ran ran = RunProgram("--target 127.0.0.1:1 --pki /nonexistent --disk-probe");
  EXPECT_NE(ran.status, 0);
  EXPECT_TRUE(ran.result.is_null());
  EXPECT_NE(ran.errors.find("--disk-probe with an external gateway needs --disk-probe-dir"), std::string::npos)
      << ran.errors;
}

}  // namespace
}  // namespace caselink
