// The gateway's outbox relay against a real Kafka broker (the ctest fixture kafka_broker_start):
// submitted envelopes reach the recipients' inbox topics signed and in case order, and every
// acknowledged handoff survives a kill -9 of the gateway process.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "adapters/bus/topic_admin.h"
#include "caselink/v1/envelope.pb.h"
#include "gateway/kafka_relay.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "security/certificate.h"
#include "tests/integration/kafka/kafka_test_util.h"
#include "tests/support/gateway_process.h"
#include "tests/support/test_gateway.h"
#include "tools/devpki/dev_pki.h"

namespace caselink {
namespace {

using ::testing::HasSubstr;

constexpr char kHowToStart[] =
    "start a broker with `ops/kafka.sh start --pki DIR && ops/kafka.sh wait` and point "
    "CASELINK_KAFKA_ENV_FILE at its <run dir>/endpoints.env (ctest does this in the fixture "
    "kafka_broker_start)";

// The PLAINTEXT bootstrap address that ops/kafka.sh start wrote.
std::string Bootstrap() {
  const char* path = std::getenv("CASELINK_KAFKA_ENV_FILE");
  if (path == nullptr || *path == '\0') return "";
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
    if (kv.first == "KAFKA_BOOTSTRAP") return kv.second;
  }
  return "";
}

std::string Header(const testing::ConsumedRecord& record, const std::string& name) {
  for (const auto& [key, value] : record.headers) {
    if (key == name) return value;
  }
  return "";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class GatewayRelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bootstrap_ = Bootstrap();
    ASSERT_FALSE(bootstrap_.empty()) << "no Kafka broker: " << kHowToStart;
    prefix_ = testing::UniqueTopic("gw");
  }
  KafkaClientOptions Client() {
    KafkaClientOptions client;
    client.bootstrap_servers = bootstrap_;
    client.log = log_.Sink();
    return client;
  }
  // Reads a topic of one partition; records keyed by nothing in particular.
  std::vector<testing::ConsumedRecord> Consume(const std::string& topic, size_t expected) {
    auto records = testing::ConsumeFromBeginning(Client(), topic, 1, expected, absl::Seconds(60));
    EXPECT_TRUE(records.ok()) << records.status() << "\n" << log_.Text();
    return records.ok() ? *records : std::vector<testing::ConsumedRecord>{};
  }

  std::string bootstrap_;
  std::string prefix_;
  testing::LogCollector log_;
};

TEST_F(GatewayRelayTest, SubmittedTransfersReachInboxTopicsSignedAndInCaseOrder) {
  testing::TestGatewayOptions options;
  options.configure = [&](v1::GatewayConfig& config) {
    config.mutable_kafka()->set_bootstrap_servers(bootstrap_);
    config.mutable_kafka()->set_topic_prefix(prefix_);
  };
  testing::TestGateway gateway(testing::MakeTempDir(), options);

  // Start-up created every topic the gateway needs.
  auto admin = TopicAdmin::Create(Client());
  ASSERT_TRUE(admin.ok()) << admin.status();
  std::vector<std::string> needed;
  for (const char* suffix : {".events", ".audit", ".dlq", ".ingress", ".inbox.510100.psb", ".inbox.510100.pro",
                             ".inbox.510100.epb", ".inbox.510100.court"}) {
    needed.push_back(prefix_ + suffix);
  }
  EXPECT_TRUE((*admin)->VerifyTopics(needed, absl::Seconds(15)).ok());

  auto epb = gateway.Client("510100.epb");
  std::vector<std::string> cases;
  for (int i = 0; i < 5; ++i) {
    cases.push_back(absl::StrCat("KR-", i));
    auto response = gateway.Submit(*epb, testing::TransferEnvelope(cases.back()));
    ASSERT_TRUE(response.ok()) << response.status();
  }

  auto certificate = security::Certificate::FromPem(ReadFile(gateway.pki_dir() + "/agencies/510100.epb/signing.crt"));
  ASSERT_TRUE(certificate.ok()) << certificate.status();
  auto verifier = (*certificate)->PublicKeyVerifier();
  ASSERT_TRUE(verifier.ok()) << verifier.status();

  std::map<std::string, size_t> per_inbox;
  for (const std::string agency : {"510100.psb", "510100.pro"}) {
    std::vector<testing::ConsumedRecord> records = Consume(InboxTopic(prefix_, agency), cases.size());
    ASSERT_EQ(records.size(), cases.size()) << agency;
    uint64_t last_sequence = 0;
    for (size_t i = 0; i < records.size(); ++i) {
      const testing::ConsumedRecord& record = records[i];
      EXPECT_EQ(record.key, cases[i]) << agency << ": records keep case order";
      EXPECT_EQ(Header(record, "kind"), "envelope");
      EXPECT_EQ(Header(record, "case-id"), cases[i]);
      EXPECT_EQ(Header(record, "action"), "transfer");
      EXPECT_EQ(Header(record, "sender"), "510100.epb");
      const uint64_t sequence = std::stoull(Header(record, "delivery-sequence"));
      EXPECT_GT(sequence, last_sequence);
      last_sequence = sequence;
      v1::SignedEnvelope signed_envelope;
      ASSERT_TRUE(signed_envelope.ParseFromString(record.value));
      EXPECT_EQ(signed_envelope.signature().algorithm(), v1::ECDSA_P256_SHA256);
      EXPECT_TRUE((*verifier)->Verify(signed_envelope.signature().value(), signed_envelope.envelope()).ok())
          << agency << " record " << i << " does not verify with the EPB's signing certificate";
      v1::Envelope envelope;
      ASSERT_TRUE(envelope.ParseFromString(signed_envelope.envelope()));
      EXPECT_EQ(envelope.case_id(), cases[i]);
      EXPECT_EQ(Header(record, "envelope-id"), envelope.envelope_id());
      // A tampered copy must not verify: the check above is meaningful.
      std::string tampered = signed_envelope.envelope();
      tampered[tampered.size() / 2] ^= 1;
      EXPECT_FALSE((*verifier)->Verify(signed_envelope.signature().value(), tampered).ok());
    }
    per_inbox[agency] = records.size();
  }

  // One events record per envelope.
  std::vector<testing::ConsumedRecord> events = Consume(EventsTopic(prefix_), cases.size());
  std::set<std::string> event_ids;
  for (const auto& record : events) event_ids.insert(Header(record, "envelope-id"));
  EXPECT_EQ(event_ids.size(), cases.size());

  // Every row is eventually marked published: the backlog drains to zero.
  absl::StatusOr<uint64_t> backlog;
  for (int i = 0; i < 100; ++i) {
    backlog = gateway.store().CountUnpublishedDeliveries();
    if (backlog.ok() && *backlog == 0) break;
    absl::SleepFor(absl::Milliseconds(100));  // marks commit asynchronously after the reports
  }
  ASSERT_TRUE(backlog.ok()) << backlog.status();
  EXPECT_EQ(*backlog, 0u);
}

std::string EnvValue(const std::string& name) {
  const char* path = std::getenv("CASELINK_KAFKA_ENV_FILE");
  if (path == nullptr) return "";
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
    if (kv.first == name) return kv.second;
  }
  return "";
}

// An agency reads its inbox over TLS from Python and checks every signature
// (examples/python/verify_inbox.py). The gateway publishes over the loopback listener.
TEST_F(GatewayRelayTest, PythonAgencyVerifiesItsInboxOverTls) {
  const std::string ssl_bootstrap = EnvValue("KAFKA_SSL_BOOTSTRAP");
  const std::string broker_pki = EnvValue("CASELINK_PKI");
  ASSERT_FALSE(ssl_bootstrap.empty() || broker_pki.empty()) << kHowToStart;
  testing::TestGatewayOptions options;
  options.configure = [&](v1::GatewayConfig& config) {
    config.mutable_kafka()->set_bootstrap_servers(bootstrap_);
    config.mutable_kafka()->set_topic_prefix(prefix_);
  };
  const std::string dir = testing::MakeTempDir();
  testing::TestGateway gateway(dir + "/gw", options);
  auto epb = gateway.Client("510100.epb");
  constexpr int kCount = 4;
  for (int i = 0; i < kCount; ++i) {
    auto response = gateway.Submit(*epb, testing::TransferEnvelope(absl::StrCat("KP-", i)));
    ASSERT_TRUE(response.ok()) << response.status();
  }
  const std::string topic = InboxTopic(prefix_, "510100.psb");
  ASSERT_TRUE(testing::AllowOnTopic(Client(), topic, "User:510100.psb", {"READ", "DESCRIBE"}, absl::Seconds(30)).ok());

  const std::string stubs = dir + "/stubs";
  std::filesystem::create_directories(stubs);
  const std::string protoc = absl::StrCat("protoc --python_out=", stubs, " -I ", CASELINK_PROTO_DIR, " ",
                                          CASELINK_PROTO_DIR, "/caselink/v1/*.proto");
  ASSERT_EQ(std::system(protoc.c_str()), 0) << protoc;
  const std::string agency = broker_pki + "/agencies/510100.psb/";
  const std::string command = absl::StrCat(
      "/usr/bin/python3 ", CASELINK_VERIFY_INBOX_SCRIPT, " --bootstrap ", ssl_bootstrap, " --topic ", topic,
      " --ca ", broker_pki, "/ca/ca.crt --cert ", agency, "tls.crt --key ", agency, "tls.key",
      " --signer-cert 510100.epb=", gateway.pki_dir(), "/agencies/510100.epb/signing.crt --stubs ", stubs,
      " --expect ", kCount, " > ", dir, "/verify.out 2>&1");
  const int status = std::system(command.c_str());
  const std::string output = ReadFile(dir + "/verify.out");
  EXPECT_EQ(status, 0) << command << "\n" << output;
  EXPECT_THAT(output, HasSubstr(absl::StrCat(kCount, " envelopes verified, 0 failed")));

  // The same verifier refuses an envelope whose sender certificate is another agency's.
  const std::string wrong = absl::StrCat(
      "/usr/bin/python3 ", CASELINK_VERIFY_INBOX_SCRIPT, " --bootstrap ", ssl_bootstrap, " --topic ", topic,
      " --ca ", broker_pki, "/ca/ca.crt --cert ", agency, "tls.crt --key ", agency, "tls.key",
      " --signer-cert 510100.epb=", gateway.pki_dir(), "/agencies/510100.pro/signing.crt --stubs ", stubs,
      " --expect ", kCount, " > /dev/null 2>&1");
  EXPECT_NE(std::system(wrong.c_str()), 0);
}

// Not marked FIXTURES_REQUIRED: an unreachable broker needs no broker.
TEST(GatewayKafkaStartTest, UnreachableBrokerIsAClearStartError) {
  testing::TestGateway embedded(testing::MakeTempDir());
  embedded.Stop();
  v1::GatewayConfig config = embedded.config();
  // A port nothing listens on: refused at once, and start-up must still end in time.
  config.mutable_kafka()->set_bootstrap_servers("127.0.0.1:9");
  config.mutable_kafka()->set_startup_timeout_seconds(3);
  const absl::Time start = absl::Now();
  auto server = GatewayServer::Start(config);
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kUnavailable) << server.status();
  EXPECT_THAT(server.status().message(), HasSubstr("127.0.0.1:9"));
}

// The gateway as a child process, killed with SIGKILL.

TEST_F(GatewayRelayTest, EveryAcknowledgedHandoffReachesKafkaAcrossKill9) {
  const std::string dir = testing::MakeTempDir();
  DevPkiOptions options;
  options.dir = dir + "/pki";
  options.listen_address = "127.0.0.1:0";
  options.data_dir = dir + "/data";
  ASSERT_TRUE(InitDevPki(options).ok());
  const std::string config = options.dir + "/gateway.yaml";
  {
    std::ofstream out(config, std::ios::app);
    out << "\nkafka:\n  bootstrap_servers: \"" << bootstrap_ << "\"\n  topic_prefix: \"" << prefix_ << "\"\n";
  }
  auto connect = [&](const std::string& agency, int port) {
    auto identity = LoadAgencyIdentity(options.dir, agency);
    EXPECT_TRUE(identity.ok());
    return std::move(*AgencyClient::Create(*identity, "127.0.0.1:" + std::to_string(port)));
  };

  constexpr int kRounds = 3;
  constexpr int kPerRound = 100;
  std::set<std::string> acknowledged;
  for (int round = 0; round < kRounds; ++round) {
    testing::GatewayProcess gateway(CASELINK_GATEWAY_BINARY, config, dir + "/ready");
    const int port = gateway.WaitForPort();
    ASSERT_GT(port, 0) << "gateway did not start";
    auto epb = connect("510100.epb", port);
    ASSERT_TRUE(testing::UploadStandardDocuments(*epb).ok());
    for (int i = 0; i < kPerRound; ++i) {
      const std::string case_id = absl::StrCat("KK-", round, "-", i);
      auto response = epb->Submit(testing::TransferEnvelope(case_id));
      ASSERT_TRUE(response.ok()) << response.status();
      acknowledged.insert(case_id);
    }
    // The last acknowledgement has just arrived; its record is likely still unreported.
    gateway.Kill();
  }

  // The restarted gateway relays what the killed ones left unpublished.
  testing::GatewayProcess gateway(CASELINK_GATEWAY_BINARY, config, dir + "/ready");
  ASSERT_GT(gateway.WaitForPort(), 0);
  // Consumers deduplicate by envelope id: then each handoff is seen exactly once. Duplicates
  // (records reported after the last mark) count towards what a read waits for, so read
  // again, asking for more, until every distinct handoff is there or no more arrive.
  std::vector<testing::ConsumedRecord> records;
  std::map<std::string, std::string> case_by_envelope;
  size_t want = acknowledged.size();
  for (int attempt = 0; attempt < 5; ++attempt) {
    records = Consume(InboxTopic(prefix_, "510100.psb"), want);
    case_by_envelope.clear();
    for (const auto& record : records) case_by_envelope[Header(record, "envelope-id")] = record.key;
    if (case_by_envelope.size() >= acknowledged.size() || records.size() < want) break;
    want = records.size() + (acknowledged.size() - case_by_envelope.size());
  }
  std::multiset<std::string> seen;
  for (const auto& [envelope, case_id] : case_by_envelope) seen.insert(case_id);
  EXPECT_EQ(seen.size(), acknowledged.size()) << records.size() << " records";
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), acknowledged);
  gateway.Kill();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace caselink
