// RdKafkaPublisher and TopicAdmin against a real Apache Kafka broker (ops/kafka.sh, started
// by the ctest fixture kafka_broker_start). Without a reachable broker these tests FAIL.
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "adapters/bus/rdkafka_publisher.h"
#include "adapters/bus/topic_admin.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/kafka/kafka_test_util.h"

namespace caselink {
namespace {

using ::testing::HasSubstr;
using testing::ConsumeFromBeginning;
using testing::DeliveryRecorder;
using testing::LogCollector;
using testing::UniqueTopic;

constexpr char kHowToStart[] =
    "start a broker with `ops/kafka.sh start --pki DIR && ops/kafka.sh wait` and point "
    "CASELINK_KAFKA_ENV_FILE at its <run dir>/endpoints.env (ctest does this in the fixture "
    "kafka_broker_start)";

struct Broker {
  std::string bootstrap;      // PLAINTEXT
  std::string ssl_bootstrap;  // SSL, client certificate required
  std::string pki;            // the CaseLink dev PKI the broker trusts
};

// Reads KEY=VALUE lines that ops/kafka.sh start wrote.
absl::StatusOr<Broker> LoadBroker() {
  const char* path = std::getenv("CASELINK_KAFKA_ENV_FILE");
  if (path == nullptr || *path == '\0') {
    return absl::FailedPreconditionError(absl::StrCat("CASELINK_KAFKA_ENV_FILE is not set: ", kHowToStart));
  }
  std::ifstream in(path);
  if (!in) return absl::FailedPreconditionError(absl::StrCat("cannot read ", path, ": ", kHowToStart));
  std::map<std::string, std::string> values;
  for (std::string line; std::getline(in, line);) {
    std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
    values[kv.first] = kv.second;
  }
  Broker broker{values["KAFKA_BOOTSTRAP"], values["KAFKA_SSL_BOOTSTRAP"], values["CASELINK_PKI"]};
  if (broker.bootstrap.empty() || broker.ssl_bootstrap.empty() || broker.pki.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " lacks KAFKA_BOOTSTRAP, KAFKA_SSL_BOOTSTRAP or CASELINK_PKI"));
  }
  return broker;
}

class RealBrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto broker = LoadBroker();
    ASSERT_TRUE(broker.ok()) << broker.status();
    broker_ = *broker;
    auto admin = TopicAdmin::Create(Plaintext());
    ASSERT_TRUE(admin.ok()) << admin.status();
    admin_ = std::move(*admin);
    // Reachability first, so a missing broker reads as such and not as a test failure.
    absl::Status reachable = admin_->VerifyTopics({}, absl::Seconds(15));
    ASSERT_TRUE(reachable.ok()) << "Kafka broker not reachable: " << reachable << "\n" << kHowToStart;
  }

  KafkaClientOptions Plaintext() {
    KafkaClientOptions client;
    client.bootstrap_servers = broker_.bootstrap;
    client.log = log_.Sink();
    return client;
  }

  // An agency's TLS identity on the SSL listener; an empty agency connects without one.
  KafkaClientOptions Ssl(const std::string& agency) {
    KafkaClientOptions client;
    client.bootstrap_servers = broker_.ssl_bootstrap;
    client.log = log_.Sink();
    KafkaTlsOptions tls;
    tls.ca_file = broker_.pki + "/ca/ca.crt";
    if (!agency.empty()) {
      tls.cert_file = absl::StrCat(broker_.pki, "/agencies/", agency, "/tls.crt");
      tls.key_file = absl::StrCat(broker_.pki, "/agencies/", agency, "/tls.key");
    }
    client.tls = tls;
    return client;
  }

  std::unique_ptr<RdKafkaPublisher> NewPublisher(KafkaClientOptions client, absl::Duration delivery_timeout) {
    RdKafkaPublisherOptions options;
    options.client = std::move(client);
    options.delivery_timeout = delivery_timeout;
    auto publisher = RdKafkaPublisher::Create(std::move(options));
    EXPECT_TRUE(publisher.ok()) << publisher.status();
    return publisher.ok() ? std::move(*publisher) : nullptr;
  }

  void CreateTopic(const std::string& topic, int partitions) {
    absl::Status s = admin_->CreateTopics({TopicSpec{topic, partitions, 1}}, absl::Seconds(30));
    ASSERT_TRUE(s.ok()) << s << "\n" << log_.Text();
  }

  Broker broker_;
  LogCollector log_;
  std::unique_ptr<TopicAdmin> admin_;
};

TEST_F(RealBrokerTest, PublishedRecordsComeBackInOrderPerKeyWithHeaders) {
  const std::string topic = UniqueTopic("order");
  constexpr int kPartitions = 3;
  CreateTopic(topic, kPartitions);
  EXPECT_EQ(admin_->PartitionCount(topic, absl::Seconds(10)).value_or(-1), kPartitions);

  auto publisher = NewPublisher(Plaintext(), absl::Seconds(30));
  ASSERT_NE(publisher, nullptr);
  constexpr size_t kRecords = 300;
  const std::vector<std::string> cases = {"510100-EPB-2026-0001", "510100-EPB-2026-0002", "510100-EPB-2026-0003",
                                          "510100-EPB-2026-0004", "510100-EPB-2026-0005"};
  DeliveryRecorder recorder;
  std::map<std::string, int> next_seq;
  for (size_t i = 0; i < kRecords; ++i) {
    const std::string& key = cases[i % cases.size()];
    const int seq = next_seq[key]++;
    BusRecord record{topic, key, absl::StrCat(key, "#", seq),
                     {{"case_id", key}, {"envelope_id", absl::StrCat("env-", i)}, {"action", "transfer"}}};
    ASSERT_TRUE(publisher->Publish(std::move(record), recorder.Callback(i)).ok());
  }
  ASSERT_EQ(publisher->Flush(absl::Seconds(60)), 0u) << log_.Text();
  for (const absl::Status& s : recorder.statuses()) ASSERT_TRUE(s.ok()) << s;

  auto records = ConsumeFromBeginning(Plaintext(), topic, kPartitions, kRecords, absl::Seconds(60));
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), kRecords);

  std::map<std::string, int> seen_seq;
  std::map<std::string, int> partition_of;
  for (const auto& r : *records) {
    // One case, one partition, so its records keep their order.
    auto [it, inserted] = partition_of.emplace(r.key, r.partition);
    EXPECT_EQ(it->second, r.partition) << r.key;
    const int seq = seen_seq[r.key]++;
    EXPECT_EQ(r.value, absl::StrCat(r.key, "#", seq));
    ASSERT_EQ(r.headers.size(), 3u);
    EXPECT_EQ(r.headers[0], std::make_pair(std::string("case_id"), r.key));
    EXPECT_EQ(r.headers[1].first, "envelope_id");
    EXPECT_EQ(r.headers[2], std::make_pair(std::string("action"), std::string("transfer")));
  }
  for (const std::string& key : cases) EXPECT_EQ(seen_seq[key], next_seq[key]) << key;
  EXPECT_EQ(publisher->Close(absl::Seconds(10)), 0u);
}

TEST_F(RealBrokerTest, AgencyCertificateWorksOnTheSslListener) {
  const std::string topic = UniqueTopic("inbox.510100.psb");
  CreateTopic(topic, 1);
  // The certificate's CN is the principal; the ACL is what lets it in.
  absl::Status granted =
      testing::AllowOnTopic(Plaintext(), topic, "User:510100.psb", {"WRITE", "READ"}, absl::Seconds(30));
  ASSERT_TRUE(granted.ok()) << granted;

  auto ssl_admin = TopicAdmin::Create(Ssl("510100.psb"));
  ASSERT_TRUE(ssl_admin.ok()) << ssl_admin.status();
  absl::Status visible = (*ssl_admin)->VerifyTopics({topic}, absl::Seconds(30));
  EXPECT_TRUE(visible.ok()) << visible << "\n" << log_.Text();

  auto publisher = NewPublisher(Ssl("510100.psb"), absl::Seconds(30));
  ASSERT_NE(publisher, nullptr);
  DeliveryRecorder recorder;
  for (size_t i = 0; i < 5; ++i) {
    ASSERT_TRUE(publisher->Publish(BusRecord{topic, "510100-EPB-2026-0009", absl::StrCat("receipt ", i), {}},
                                   recorder.Callback(i))
                    .ok());
  }
  ASSERT_EQ(publisher->Flush(absl::Seconds(60)), 0u) << log_.Text();
  for (const absl::Status& s : recorder.statuses()) EXPECT_TRUE(s.ok()) << s << "\n" << log_.Text();

  auto records = ConsumeFromBeginning(Ssl("510100.psb"), topic, 1, 5, absl::Seconds(60));
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 5u);
  EXPECT_EQ((*records)[4].value, "receipt 4");
}

TEST_F(RealBrokerTest, AgencyWithoutAnAclIsRefusedOnTheSslListener) {
  const std::string topic = UniqueTopic("inbox.510100.pro");
  CreateTopic(topic, 1);
  auto publisher = NewPublisher(Ssl("510100.court"), absl::Seconds(10));
  ASSERT_NE(publisher, nullptr);
  DeliveryRecorder recorder;
  ASSERT_TRUE(publisher->Publish(BusRecord{topic, "k", "not for the court", {}}, recorder.Callback(0)).ok());
  ASSERT_EQ(publisher->Flush(absl::Seconds(60)), 0u);
  const absl::Status s = recorder.statuses()[0];
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s << "\n" << log_.Text();
}

TEST_F(RealBrokerTest, ClientWithoutCertificateCannotConnectToTheSslListener) {
  auto admin = TopicAdmin::Create(Ssl(""));
  ASSERT_TRUE(admin.ok()) << admin.status();
  const absl::Time start = absl::Now();
  absl::Status s = (*admin)->VerifyTopics({}, absl::Seconds(5));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(s.message(), HasSubstr(broker_.ssl_bootstrap));
  EXPECT_LT(absl::Now() - start, absl::Seconds(8));

  auto publisher = NewPublisher(Ssl(""), absl::Seconds(3));
  ASSERT_NE(publisher, nullptr);
  DeliveryRecorder recorder;
  ASSERT_TRUE(publisher->Publish(BusRecord{"caselink.events", "k", "v", {}}, recorder.Callback(0)).ok());
  EXPECT_EQ(publisher->Flush(absl::Seconds(30)), 0u);
  EXPECT_FALSE(recorder.statuses()[0].ok());
}

TEST_F(RealBrokerTest, TopicAdminCreatesMissingTopicsOnce) {
  const std::string audit = UniqueTopic("audit");
  const std::string events = UniqueTopic("events");
  absl::Status missing = admin_->VerifyTopics({audit, events}, absl::Seconds(10));
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound) << missing;
  EXPECT_THAT(missing.message(), HasSubstr(audit));

  const std::vector<TopicSpec> specs = {{audit, 4, 1}, {events, 2, 1}};
  absl::Status created = admin_->CreateTopics(specs, absl::Seconds(30));
  ASSERT_TRUE(created.ok()) << created << "\n" << log_.Text();
  EXPECT_TRUE(admin_->VerifyTopics({audit, events}, absl::Seconds(10)).ok());
  EXPECT_EQ(admin_->PartitionCount(audit, absl::Seconds(10)).value_or(-1), 4);
  // Again: existing topics are accepted as they are.
  EXPECT_TRUE(admin_->CreateTopics(specs, absl::Seconds(30)).ok());

  absl::Status refused = admin_->CreateTopics({TopicSpec{UniqueTopic("rf3"), 1, 3}}, absl::Seconds(30));
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument) << refused;
}

TEST_F(RealBrokerTest, ProduceThroughputWithOneKibValues) {
  const std::string topic = UniqueTopic("throughput");
  CreateTopic(topic, 3);
  auto publisher = NewPublisher(Plaintext(), absl::Seconds(60));
  ASSERT_NE(publisher, nullptr);
  constexpr size_t kRecords = 50000;
  const std::string value(1024, 'x');
  DeliveryRecorder recorder;
  recorder.Reserve(kRecords);
  const absl::Time start = absl::Now();
  for (size_t i = 0; i < kRecords; ++i) {
    ASSERT_TRUE(
        publisher->Publish(BusRecord{topic, absl::StrCat("case-", i % 64), value, {}}, recorder.Callback(i)).ok());
  }
  ASSERT_EQ(publisher->Flush(absl::Seconds(120)), 0u);
  const absl::Duration elapsed = absl::Now() - start;
  for (const absl::Status& s : recorder.statuses()) ASSERT_TRUE(s.ok()) << s;
  const double per_second = kRecords / absl::ToDoubleSeconds(elapsed);
  RecordProperty("records_per_second", static_cast<int>(per_second));
  std::printf("kafka produce throughput: %zu records of 1 KiB (acks=all, idempotent) in %s: %.0f records/s\n",
              kRecords, absl::FormatDuration(elapsed).c_str(), per_second);
}

}  // namespace
}  // namespace caselink
