// The load generator's raw produce baseline against librdkafka's in-process mock cluster:
// what it reports as acknowledged is what the broker holds, and the record counter agrees.
#include "tools/loadgen/produce_baseline.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <string>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace caselink::loadgen {
namespace {

// One mock cluster per test; it lives inside a client of its own.
class MockCluster {
 public:
  MockCluster() {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char errstr[256];
    rd_kafka_conf_set_log_cb(conf, [](const rd_kafka_t*, int, const char*, const char*) {});
    owner_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    cluster_ = rd_kafka_mock_cluster_new(owner_, 1);
  }
  ~MockCluster() {
    rd_kafka_mock_cluster_destroy(cluster_);
    rd_kafka_destroy(owner_);
  }
  rd_kafka_mock_cluster_t* get() const { return cluster_; }
  std::string bootstraps() const { return rd_kafka_mock_cluster_bootstraps(cluster_); }

 private:
  rd_kafka_t* owner_ = nullptr;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
};

TEST(ProduceBaselineTest, AcknowledgedRecordsAreTheRecordsTheBrokerHolds) {
  MockCluster cluster;
  ASSERT_NE(cluster.get(), nullptr);
  ASSERT_EQ(rd_kafka_mock_topic_create(cluster.get(), "run1-baseline", 3, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(rd_kafka_mock_topic_create(cluster.get(), "run1.inbox.a", 2, 1), RD_KAFKA_RESP_ERR_NO_ERROR);

  ProduceBaselineOptions options;
  options.bootstrap_servers = cluster.bootstraps();
  options.topic = "run1-baseline";
  options.partitions = 3;
  options.create_topic = false;  // the mock cluster does not serve CreateTopics
  options.record_bytes = 700;
  options.duration = absl::Milliseconds(500);
  options.max_in_flight = 200;
  absl::StatusOr<ProduceBaseline> baseline = MeasureProduceBaseline(options);
  ASSERT_TRUE(baseline.ok()) << baseline.status();
  EXPECT_GT(baseline->records, 0u);
  EXPECT_EQ(baseline->failed, 0u);
  EXPECT_GT(baseline->seconds, 0);
  EXPECT_NEAR(baseline->records_per_second, baseline->records / baseline->seconds, 1e-6);

  // Every acknowledged record is one offset in the baseline topic, and only there.
  absl::StatusOr<uint64_t> all = CountTopicRecords(cluster.bootstraps(), "run1");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(*all, baseline->records);
  absl::StatusOr<uint64_t> inbox = CountTopicRecords(cluster.bootstraps(), "run1.inbox.");
  ASSERT_TRUE(inbox.ok()) << inbox.status();
  EXPECT_EQ(*inbox, 0u);
}

TEST(ProduceBaselineTest, ABrokerThatIsDownIsAnErrorNotARate) {
  MockCluster cluster;
  ASSERT_NE(cluster.get(), nullptr);
  ASSERT_EQ(rd_kafka_mock_topic_create(cluster.get(), "down-baseline", 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(rd_kafka_mock_broker_set_down(cluster.get(), 1), RD_KAFKA_RESP_ERR_NO_ERROR);

  ProduceBaselineOptions options;
  options.bootstrap_servers = cluster.bootstraps();
  options.topic = "down-baseline";
  options.partitions = 1;
  options.create_topic = false;
  options.duration = absl::Milliseconds(200);
  options.max_in_flight = 50;
  options.delivery_timeout = absl::Seconds(2);
  absl::StatusOr<ProduceBaseline> baseline = MeasureProduceBaseline(options);
  ASSERT_FALSE(baseline.ok());
  EXPECT_EQ(baseline.status().code(), absl::StatusCode::kUnavailable) << baseline.status();
}

}  // namespace
}  // namespace caselink::loadgen
