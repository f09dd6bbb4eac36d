// The disk probe's arithmetic (what stalls do to an even schedule) on
// hand-computed cases, and the probe itself on a real directory.
#include "tools/loadgen/disk_probe.h"

#include <filesystem>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace caselink::loadgen {
namespace {

std::vector<double> Repeated(size_t n, double ms) { return std::vector<double>(n, ms); }

TEST(SummarizeDiskSyncsTest, NoSamplesMeansNothingMeasured) {
  const DiskStalls d = SummarizeDiskSyncs({}, 10, 10, 0.99);
  EXPECT_EQ(d.syncs, 0u);
  EXPECT_EQ(d.stalls, 0u);
  EXPECT_EQ(d.latency_floor_ms, 0);
}

TEST(SummarizeDiskSyncsTest, QuickSyncsLeaveNoFloor) {
  // 2,000 syncs of 0.3 ms over 10 s: 6 % of the schedule arrives during a
  // sync and waits for its end, at most 0.3 ms. (600 - 2,000 L) = 100 gives
  // a floor of 0.25 ms, nothing near a stall.
  const DiskStalls d = SummarizeDiskSyncs(Repeated(2000, 0.3), 10, 10, 0.99);
  EXPECT_EQ(d.syncs, 2000u);
  EXPECT_DOUBLE_EQ(d.p50_ms, 0.3);
  EXPECT_DOUBLE_EQ(d.max_ms, 0.3);
  EXPECT_EQ(d.stalls, 0u);
  EXPECT_EQ(d.stall_ms, 0);
  EXPECT_EQ(d.share_beyond_threshold, 0);
  EXPECT_NEAR(d.latency_floor_ms, 0.25, 1e-9);
}

TEST(SummarizeDiskSyncsTest, OneStallSetsTheFloor) {
  // One 300-ms stall in 10 s. Requests arriving in its first (300 - L) ms
  // wait longer than L; for 1 % of 10 s that is 100 ms, so L = 200 ms.
  std::vector<double> syncs = Repeated(1999, 0.2);
  syncs.insert(syncs.begin() + 700, 300);
  const DiskStalls d = SummarizeDiskSyncs(syncs, 10, 10, 0.99);
  EXPECT_EQ(d.stalls, 1u);
  EXPECT_DOUBLE_EQ(d.stall_ms, 300);
  EXPECT_DOUBLE_EQ(d.max_ms, 300);
  EXPECT_DOUBLE_EQ(d.p99_ms, 0.2);
  EXPECT_NEAR(d.share_beyond_threshold, 0.029, 1e-12);  // (300 - 10) / 10,000
  EXPECT_NEAR(d.latency_floor_ms, 200, 1e-9);
}

TEST(SummarizeDiskSyncsTest, SeveralStallsShareTheQuantile) {
  // Two 100-ms stalls and one of 40 ms in 10 s: 2 (100 - L) = 100 gives
  // L = 50, above 40, so the shorter stall does not count.
  std::vector<double> syncs = Repeated(1000, 0.5);
  syncs[10] = 100;
  syncs[500] = 40;
  syncs[900] = 100;
  const DiskStalls d = SummarizeDiskSyncs(syncs, 10, 10, 0.99);
  EXPECT_EQ(d.stalls, 3u);
  EXPECT_DOUBLE_EQ(d.stall_ms, 240);
  EXPECT_NEAR(d.latency_floor_ms, 50, 1e-9);

  // Six 20-ms stalls in 10 s: even at L = 0 they hold 120 ms of the
  // schedule, and 6 (20 - L) = 100 gives L = 3.33 ms, under each of them.
  const DiskStalls six = SummarizeDiskSyncs(Repeated(6, 20), 10, 10, 0.99);
  EXPECT_EQ(six.stalls, 6u);
  EXPECT_NEAR(six.latency_floor_ms, 20 - 100.0 / 6, 1e-9);
  EXPECT_NEAR(six.share_beyond_threshold, 0.006, 1e-12);
}

TEST(SummarizeDiskSyncsTest, TheWholeTimeStalledIsItsOwnFloor) {
  // The quantile 1 keeps nothing back: the floor is the longest stall.
  const DiskStalls d = SummarizeDiskSyncs({5, 80, 15}, 1, 10, 1.0);
  EXPECT_NEAR(d.latency_floor_ms, 80, 1e-9);
}

class DiskProbeTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("caselink-disk-probe-test-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
            std::to_string(absl::ToUnixNanos(absl::Now())));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
};

TEST_F(DiskProbeTest, SamplesOnItsScheduleAndLeavesNoFile) {
  DiskProbeOptions options;
  options.dir = dir_;
  options.interval = absl::Milliseconds(2);
  options.file_bytes = 64 * 1024;
  absl::StatusOr<std::unique_ptr<DiskProbe>> probe = DiskProbe::Start(options);
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_TRUE(std::filesystem::exists(dir_ / "caselink-disk-probe"));
  absl::SleepFor(absl::Milliseconds(200));
  const DiskProbeSamples samples = (*probe)->Stop();
  EXPECT_TRUE(samples.error.ok()) << samples.error;
  // 2-ms schedule over ~200 ms: about 100 samples; a slow disk gives fewer.
  EXPECT_GE(samples.sync_ms.size(), 10u);
  EXPECT_LE(samples.sync_ms.size(), 110u);
  EXPECT_GT(samples.seconds, 0.1);
  EXPECT_LT(samples.seconds, 5);
  for (double ms : samples.sync_ms) EXPECT_GE(ms, 0);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "caselink-disk-probe"));
  EXPECT_TRUE((*probe)->Stop().sync_ms.empty());
}

TEST_F(DiskProbeTest, AMissingDirectoryIsNamed) {
  DiskProbeOptions options;
  options.dir = dir_ / "no-such-dir";
  absl::StatusOr<std::unique_ptr<DiskProbe>> probe = DiskProbe::Start(options);
  ASSERT_FALSE(probe.ok());
  EXPECT_EQ(probe.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(probe.status().message().find((dir_ / "no-such-dir").string()), std::string::npos) << probe.status();
}

}  // namespace
}  // namespace caselink::loadgen
