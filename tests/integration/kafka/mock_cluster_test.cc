// RdKafkaPublisher and TopicAdmin against librdkafka's in-process mock cluster: delivery
// reports, injected broker errors, a broker that is down, fatal errors, shutdown.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "adapters/bus/rdkafka_publisher.h"
#include "adapters/bus/topic_admin.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/kafka/kafka_test_util.h"

namespace caselink {
namespace {

using ::testing::HasSubstr;
using testing::DeliveryRecorder;
using testing::LogCollector;

// Kafka protocol API keys (rdkafka_protocol.h is not installed with librdkafka).
constexpr int16_t kProduceApiKey = 0;

constexpr char kTopic[] = "caselink.inbox.510100.psb";

// One mock cluster per test; it lives inside a client of its own.
class MockCluster {
 public:
  explicit MockCluster(int brokers) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char errstr[256];
    rd_kafka_conf_set_log_cb(conf, [](const rd_kafka_t*, int, const char*, const char*) {});
    owner_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    cluster_ = rd_kafka_mock_cluster_new(owner_, brokers);
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

class MockClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(cluster_.get(), nullptr);
    ASSERT_EQ(rd_kafka_mock_topic_create(cluster_.get(), kTopic, 2, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  }

  RdKafkaPublisherOptions Options() {
    RdKafkaPublisherOptions options;
    options.client.bootstrap_servers = cluster_.bootstraps();
    options.client.log = log_.Sink();
    options.delivery_timeout = absl::Seconds(10);
    return options;
  }

  std::unique_ptr<RdKafkaPublisher> NewPublisher(RdKafkaPublisherOptions options) {
    auto publisher = RdKafkaPublisher::Create(std::move(options));
    EXPECT_TRUE(publisher.ok()) << publisher.status();
    return publisher.ok() ? std::move(*publisher) : nullptr;
  }

  static BusRecord Record(const std::string& key, const std::string& value) {
    return BusRecord{kTopic, key, value, {{"case_id", key}, {"action", "transfer"}}};
  }

  MockCluster cluster_{1};
  LogCollector log_;
};

TEST_F(MockClusterTest, AcknowledgedRecordsReportOk) {
  auto publisher = NewPublisher(Options());
  ASSERT_NE(publisher, nullptr);
  DeliveryRecorder recorder;
  for (size_t i = 0; i < 20; ++i) {
    ASSERT_TRUE(publisher->Publish(Record("510100-EPB-2026-0001", absl::StrCat("v", i)), recorder.Callback(i)).ok());
  }
  EXPECT_EQ(publisher->Flush(absl::Seconds(30)), 0u) << log_.Text();
  ASSERT_EQ(recorder.completed(), 20u);
  for (const absl::Status& s : recorder.statuses()) EXPECT_TRUE(s.ok()) << s;
}

TEST_F(MockClusterTest, RetriableBrokerErrorsAreRetriedUntilAcknowledged) {
  // Not enough replicas is transient: the idempotent producer retries without duplicates.
  rd_kafka_mock_push_request_errors(cluster_.get(), kProduceApiKey, 2, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                                    RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS);
  auto publisher = NewPublisher(Options());
  ASSERT_NE(publisher, nullptr);
  DeliveryRecorder recorder;
  ASSERT_TRUE(publisher->Publish(Record("k", "v"), recorder.Callback(0)).ok());
  EXPECT_EQ(publisher->Flush(absl::Seconds(30)), 0u);
  EXPECT_TRUE(recorder.statuses()[0].ok()) << recorder.statuses()[0];
}

// Strict per-case order needs retried batches to keep their place: with idempotence and up
// to five requests in flight, librdkafka resends a failed batch and those behind it in order.
TEST_F(MockClusterTest, RetriedBatchesKeepTheOrderOfOneKey) {
  // Small batches, several in flight; every fourth produce request fails with a retriable error.
  RdKafkaPublisherOptions options = Options();
  options.linger = absl::Milliseconds(1);
  options.client.properties = {{"batch.num.messages", "10"}, {"max.in.flight.requests.per.connection", "5"}};
  std::vector<rd_kafka_resp_err_t> errors;
  for (int i = 0; i < 40; ++i) {
    errors.push_back(i % 4 == 3 ? RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION : RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  rd_kafka_mock_push_request_errors_array(cluster_.get(), kProduceApiKey, errors.size(), errors.data());
  auto publisher = NewPublisher(options);
  ASSERT_NE(publisher, nullptr);
  constexpr size_t kCount = 300;
  DeliveryRecorder recorder;
  for (size_t i = 0; i < kCount; ++i) {
    ASSERT_TRUE(publisher->Publish(Record("510100-EPB-2026-0009", absl::StrCat(i)), recorder.Callback(i)).ok());
  }
  EXPECT_EQ(publisher->Flush(absl::Seconds(60)), 0u) << log_.Text();
  for (const absl::Status& s : recorder.statuses()) ASSERT_TRUE(s.ok()) << s;

  KafkaClientOptions reader;
  reader.bootstrap_servers = cluster_.bootstraps();
  reader.log = log_.Sink();
  auto records = testing::ConsumeFromBeginning(reader, kTopic, 2, kCount, absl::Seconds(60));
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), kCount) << "duplicates or losses after retries";
  for (size_t i = 0; i < kCount; ++i) EXPECT_EQ((*records)[i].value, absl::StrCat(i)) << "position " << i;
}

TEST_F(MockClusterTest, BrokerRefusalIsAFailedDelivery) {
  rd_kafka_mock_push_request_errors(cluster_.get(), kProduceApiKey, 1, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
  auto publisher = NewPublisher(Options());
  ASSERT_NE(publisher, nullptr);
  DeliveryRecorder recorder;
  ASSERT_TRUE(publisher->Publish(Record("k", "v"), recorder.Callback(0)).ok());
  EXPECT_EQ(publisher->Flush(absl::Seconds(30)), 0u);
  const absl::Status status = recorder.statuses()[0];
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << status;
  EXPECT_THAT(status.message(), HasSubstr(kTopic));
  EXPECT_THAT(status.message(), HasSubstr("TOPIC_AUTHORIZATION_FAILED"));
}

TEST_F(MockClusterTest, BrokerDownFailsDeliveryAfterTheDeliveryTimeout) {
  rd_kafka_mock_broker_set_down(cluster_.get(), 1);
  RdKafkaPublisherOptions options = Options();
  options.delivery_timeout = absl::Seconds(1);
  auto publisher = NewPublisher(std::move(options));
  ASSERT_NE(publisher, nullptr);
  DeliveryRecorder recorder;
  ASSERT_TRUE(publisher->Publish(Record("k", "v"), recorder.Callback(0)).ok());
  EXPECT_EQ(publisher->Flush(absl::Seconds(30)), 0u);
  EXPECT_EQ(recorder.statuses()[0].code(), absl::StatusCode::kDeadlineExceeded) << recorder.statuses()[0];
}

TEST_F(MockClusterTest, FatalErrorFailsRecordsInFlightAndRebuildsTheProducer) {
  rd_kafka_mock_broker_set_down(cluster_.get(), 1);  // keeps the records in flight
  auto publisher = NewPublisher(Options());
  ASSERT_NE(publisher, nullptr);
  DeliveryRecorder recorder;
  for (size_t i = 0; i < 3; ++i) ASSERT_TRUE(publisher->Publish(Record("k", "v"), recorder.Callback(i)).ok());

  ASSERT_TRUE(publisher->TriggerFatalErrorForTesting("sequence gap").ok());
  EXPECT_EQ(publisher->Flush(absl::Seconds(30)), 0u);
  for (const absl::Status& s : recorder.statuses()) {
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
    EXPECT_THAT(s.message(), HasSubstr("fatal error"));
    EXPECT_THAT(s.message(), HasSubstr("sequence gap"));
  }
  EXPECT_EQ(publisher->producer_rebuilds(), 1);

  // The rebuilt producer delivers once the broker is back.
  rd_kafka_mock_broker_set_up(cluster_.get(), 1);
  DeliveryRecorder after;
  ASSERT_TRUE(publisher->Publish(Record("k", "again"), after.Callback(0)).ok());
  EXPECT_EQ(publisher->Flush(absl::Seconds(30)), 0u);
  EXPECT_TRUE(after.statuses()[0].ok()) << after.statuses()[0];
}

TEST_F(MockClusterTest, CloseFailsWhatIsLeftAndReportsTheCount) {
  rd_kafka_mock_broker_set_down(cluster_.get(), 1);
  auto publisher = NewPublisher(Options());
  ASSERT_NE(publisher, nullptr);
  DeliveryRecorder recorder;
  for (size_t i = 0; i < 4; ++i) ASSERT_TRUE(publisher->Publish(Record("k", "v"), recorder.Callback(i)).ok());

  EXPECT_EQ(publisher->Close(absl::Milliseconds(200)), 4u);
  ASSERT_EQ(recorder.completed(), 4u);  // every callback ran, none twice
  for (const absl::Status& s : recorder.statuses()) {
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
    EXPECT_THAT(s.message(), HasSubstr("closed"));
  }
  DeliveryRecorder late;
  EXPECT_EQ(publisher->Publish(Record("k", "late"), late.Callback(0)).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(late.completed(), 0u);
  EXPECT_EQ(publisher->Close(absl::Milliseconds(200)), 0u);
}

TEST_F(MockClusterTest, FullQueueRefusesInsteadOfBlocking) {
  rd_kafka_mock_broker_set_down(cluster_.get(), 1);
  RdKafkaPublisherOptions options = Options();
  options.max_pending_records = 2;
  auto publisher = NewPublisher(std::move(options));
  ASSERT_NE(publisher, nullptr);
  DeliveryRecorder recorder;
  ASSERT_TRUE(publisher->Publish(Record("k", "1"), recorder.Callback(0)).ok());
  ASSERT_TRUE(publisher->Publish(Record("k", "2"), recorder.Callback(1)).ok());
  EXPECT_EQ(publisher->Publish(Record("k", "3"), recorder.Callback(2)).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(publisher->Close(absl::ZeroDuration()), 2u);
  EXPECT_EQ(recorder.completed(), 2u);
}

TEST(RdKafkaPublisherOptionsTest, RefusesBrokenConfiguration) {
  RdKafkaPublisherOptions no_servers;
  EXPECT_EQ(RdKafkaPublisher::Create(no_servers).status().code(), absl::StatusCode::kInvalidArgument);

  RdKafkaPublisherOptions missing_ca;
  missing_ca.client.bootstrap_servers = "127.0.0.1:9";
  missing_ca.client.tls = KafkaTlsOptions{"/nonexistent/ca.crt", "", ""};
  auto s = RdKafkaPublisher::Create(missing_ca).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("/nonexistent/ca.crt"));

  RdKafkaPublisherOptions weaker;
  weaker.client.bootstrap_servers = "127.0.0.1:9";
  weaker.client.properties = {{"acks", "1"}};
  s = RdKafkaPublisher::Create(weaker).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("acks"));

  RdKafkaPublisherOptions unknown;
  unknown.client.bootstrap_servers = "127.0.0.1:9";
  unknown.client.properties = {{"no.such.property", "1"}};
  EXPECT_EQ(RdKafkaPublisher::Create(unknown).status().code(), absl::StatusCode::kInvalidArgument);
}

// A loopback port that refuses connections for as long as this object lives: bound, not
// listening.
class RefusingPort {
 public:
  RefusingPort() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~RefusingPort() { close(fd_); }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// CreateTopics is covered against the real broker: the mock cluster does not serve it.
TEST_F(MockClusterTest, TopicAdminVerifiesTopicsAndCountsPartitions) {
  KafkaClientOptions client;
  client.bootstrap_servers = cluster_.bootstraps();
  client.log = log_.Sink();
  auto admin = TopicAdmin::Create(client);
  ASSERT_TRUE(admin.ok()) << admin.status();

  EXPECT_TRUE((*admin)->VerifyTopics({kTopic}, absl::Seconds(10)).ok());
  EXPECT_EQ((*admin)->PartitionCount(kTopic, absl::Seconds(10)).value_or(-1), 2);
  absl::Status missing = (*admin)->VerifyTopics({kTopic, "caselink.audit"}, absl::Seconds(10));
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound) << missing;
  EXPECT_THAT(missing.message(), HasSubstr("caselink.audit"));
  EXPECT_THAT(missing.message(), ::testing::Not(HasSubstr(kTopic)));
  EXPECT_EQ((*admin)->PartitionCount("caselink.audit", absl::Seconds(10)).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(MockClusterTest, TopicAdminAnswersUnavailableWithinTheTimeoutWhenTheBrokerIsDown) {
  rd_kafka_mock_broker_set_down(cluster_.get(), 1);
  KafkaClientOptions client;
  client.bootstrap_servers = cluster_.bootstraps();
  client.log = log_.Sink();
  auto admin = TopicAdmin::Create(client);
  ASSERT_TRUE(admin.ok()) << admin.status();

  const absl::Time start = absl::Now();
  absl::Status s = (*admin)->VerifyTopics({kTopic}, absl::Seconds(2));
  const absl::Duration elapsed = absl::Now() - start;
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(s.message(), HasSubstr(cluster_.bootstraps()));
  EXPECT_LT(elapsed, absl::Seconds(4));
}

TEST(TopicAdminTest, UnreachableBrokerIsUnavailableWithinTheTimeout) {
  RefusingPort port;
  LogCollector log;
  KafkaClientOptions client;
  client.bootstrap_servers = port.address();
  client.log = log.Sink();
  auto admin = TopicAdmin::Create(client);
  ASSERT_TRUE(admin.ok()) << admin.status();

  const absl::Time start = absl::Now();
  absl::Status s = (*admin)->VerifyTopics({"caselink.events"}, absl::Seconds(2));
  const absl::Duration elapsed = absl::Now() - start;
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(s.message(), HasSubstr(port.address()));
  EXPECT_THAT(s.message(), HasSubstr("broker runs"));
  EXPECT_LT(elapsed, absl::Seconds(4));
}

}  // namespace
}  // namespace caselink
