// The gateway's outbox relay against a real Kafka broker (the ctest fixture kafka_broker_start):
// submitted envelopes reach the recipients' inbox topics signed and in case order, and every
// acknowledged handoff survives a kill -9 of the gateway process.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/strings/escaping.h"
#include "adapters/bus/rdkafka_publisher.h"
#include "adapters/bus/topic_admin.h"
#include "adapters/store/store.h"
#include "gateway/audit_log.h"
#include "caselink/v1/envelope.pb.h"
#include "caselink/v1/services.grpc.pb.h"
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
  // A dev PKI under `dir`/pki for a gateway run as a child process (any free port, data in
  // `dir`/data), its gateway.yaml relaying to this test's broker and topic prefix.
  void WriteProcessPki(const std::string& dir) {
    DevPkiOptions options;
    options.dir = dir + "/pki";
    options.listen_address = "127.0.0.1:0";
    options.data_dir = dir + "/data";
    ASSERT_TRUE(InitDevPki(options).ok());
    std::ofstream out(options.dir + "/gateway.yaml", std::ios::app);
    out << "\nkafka:\n  bootstrap_servers: \"" << bootstrap_ << "\"\n  topic_prefix: \"" << prefix_ << "\"\n";
  }
  // A client of `agency` from that PKI for the gateway listening on `port`.
  std::unique_ptr<AgencyClient> ConnectProcess(const std::string& dir, const std::string& agency, int port) {
    auto identity = LoadAgencyIdentity(dir + "/pki", agency);
    EXPECT_TRUE(identity.ok()) << identity.status();
    return std::move(*AgencyClient::Create(*identity, "127.0.0.1:" + std::to_string(port)));
  }

  // Every row is eventually marked published: the backlog drains to zero.
  static void ExpectOutboxDrains(testing::TestGateway& gateway) {
    absl::StatusOr<uint64_t> backlog;
    for (int i = 0; i < 100; ++i) {
      backlog = gateway.store().CountUnpublishedDeliveries();
      if (backlog.ok() && *backlog == 0) break;
      absl::SleepFor(absl::Milliseconds(100));  // marks commit asynchronously after the reports
    }
    ASSERT_TRUE(backlog.ok()) << backlog.status();
    EXPECT_EQ(*backlog, 0u);
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
  ExpectOutboxDrains(gateway);
}

// A gateway without a bus keeps no outbox index, and its deliveries stay
// unpublished. Given a bus at its next start, it builds the index again and
// relays every delivery it stored meanwhile, in case order.
TEST_F(GatewayRelayTest, DeliveriesStoredWithoutABusAreRelayedOnceABusIsConfigured) {
  testing::TestGateway gateway(testing::MakeTempDir());
  ASSERT_TRUE(gateway.config().kafka().bootstrap_servers().empty());
  auto epb = gateway.Client("510100.epb");
  std::vector<std::string> cases;
  for (int i = 0; i < 3; ++i) {
    cases.push_back(absl::StrCat("LATE-BUS-", i));
    auto response = gateway.Submit(*epb, testing::TransferEnvelope(cases.back()));
    ASSERT_TRUE(response.ok()) << response.status();
  }
  epb.reset();
  const char* kOutboxIndex = "SELECT count(*) FROM sqlite_master WHERE name = 'deliveries_unpublished'";
  EXPECT_EQ(testing::QueryStoreFile(gateway, kOutboxIndex), 0);
  gateway.Stop();

  gateway.mutable_config().mutable_kafka()->set_bootstrap_servers(bootstrap_);
  gateway.mutable_config().mutable_kafka()->set_topic_prefix(prefix_);
  gateway.Start();
  EXPECT_EQ(testing::QueryStoreFile(gateway, kOutboxIndex), 1);
  for (const std::string agency : {"510100.psb", "510100.pro"}) {
    std::vector<testing::ConsumedRecord> records = Consume(InboxTopic(prefix_, agency), cases.size());
    ASSERT_EQ(records.size(), cases.size()) << agency;
    for (size_t i = 0; i < records.size(); ++i) {
      EXPECT_EQ(records[i].key, cases[i]) << agency;
      EXPECT_EQ(Header(records[i], "kind"), "envelope");
    }
  }
  ExpectOutboxDrains(gateway);
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

// Isolation on Kafka itself: the ACLs come from the registry (ops/kafka-acls.sh), the gateway
// publishes over TLS with its own client certificate (User:caselink-gateway, not a super
// user), and each agency's certificate reads its own inbox only.
TEST_F(GatewayRelayTest, AgenciesReadOnlyTheirOwnInboxUnderRegistryAcls) {
  const std::string ssl_bootstrap = EnvValue("KAFKA_SSL_BOOTSTRAP");
  const std::string broker_pki = EnvValue("CASELINK_PKI");
  ASSERT_FALSE(ssl_bootstrap.empty() || broker_pki.empty()) << kHowToStart;
  const std::string dir = testing::MakeTempDir();
  const std::string acls = absl::StrCat(CASELINK_KAFKA_ACLS_SCRIPT, " --build ", CASELINK_BUILD_DIR, " --config ",
                                        broker_pki, "/gateway.yaml --bootstrap ", bootstrap_, " --prefix ", prefix_,
                                        " > ", dir, "/acls.out 2>&1");
  ASSERT_EQ(std::system(acls.c_str()), 0) << acls << "\n" << ReadFile(dir + "/acls.out");
  EXPECT_THAT(ReadFile(dir + "/acls.out"),
              HasSubstr(absl::StrCat("ALLOW User:510100.psb READ topic ", InboxTopic(prefix_, "510100.psb"), " (literal)")));

  testing::TestGatewayOptions options;
  options.configure = [&](v1::GatewayConfig& config) {
    v1::KafkaConfig& kafka = *config.mutable_kafka();
    kafka.set_bootstrap_servers(ssl_bootstrap);
    kafka.set_topic_prefix(prefix_);
    kafka.set_ca_file(broker_pki + "/ca/ca.crt");
    kafka.set_client_certificate_file(broker_pki + "/gateway/kafka.crt");
    kafka.set_client_private_key_file(broker_pki + "/gateway/kafka.key");
  };
  testing::TestGateway gateway(dir + "/gw", options);
  auto epb = gateway.Client("510100.epb");
  constexpr int kCount = 3;
  for (int i = 0; i < kCount; ++i) {
    auto response = gateway.Submit(*epb, testing::TransferEnvelope(absl::StrCat("KA-", i)));
    ASSERT_TRUE(response.ok()) << response.status();
  }

  auto ssl = [&](const std::string& agency) {
    KafkaClientOptions client;
    client.bootstrap_servers = ssl_bootstrap;
    client.log = log_.Sink();
    client.tls = KafkaTlsOptions{broker_pki + "/ca/ca.crt", absl::StrCat(broker_pki, "/agencies/", agency, "/tls.crt"),
                                 absl::StrCat(broker_pki, "/agencies/", agency, "/tls.key")};
    return client;
  };
  auto group = [&](const std::string& agency) { return absl::StrCat(prefix_, ".", agency, ".reader"); };

  // Its own inbox: every record, published by the gateway over TLS.
  auto own = testing::ConsumeAsGroupMember(ssl("510100.psb"), InboxTopic(prefix_, "510100.psb"), group("510100.psb"),
                                           kCount, absl::Seconds(60));
  ASSERT_TRUE(own.ok()) << own.status() << "\n" << log_.Text();
  EXPECT_EQ(own->size(), static_cast<size_t>(kCount));

  // Another agency's inbox: Kafka itself refuses.
  auto other = testing::ConsumeAsGroupMember(ssl("510100.psb"), InboxTopic(prefix_, "510100.pro"), group("510100.psb"),
                                             kCount, absl::Seconds(30));
  ASSERT_FALSE(other.ok()) << "the PSB read " << other->size() << " records of the PRO's inbox";
  EXPECT_THAT(other.status().message(), HasSubstr("AUTHORIZATION_FAILED"));

  // A group outside the agency's prefix is refused too, even on its own inbox.
  auto foreign_group = testing::ConsumeAsGroupMember(ssl("510100.psb"), InboxTopic(prefix_, "510100.psb"),
                                                     group("510100.pro"), kCount, absl::Seconds(30));
  ASSERT_FALSE(foreign_group.ok());
  EXPECT_THAT(foreign_group.status().message(), HasSubstr("AUTHORIZATION_FAILED"));

  // The procuratorate reads the events topic; the PSB does not.
  auto events = testing::ConsumeAsGroupMember(ssl("510100.pro"), EventsTopic(prefix_), group("510100.pro"), kCount,
                                              absl::Seconds(60));
  ASSERT_TRUE(events.ok()) << events.status();
  EXPECT_EQ(events->size(), static_cast<size_t>(kCount));
  auto psb_events = testing::ConsumeAsGroupMember(ssl("510100.psb"), EventsTopic(prefix_), group("510100.psb"),
                                                  kCount, absl::Seconds(30));
  ASSERT_FALSE(psb_events.ok());
  EXPECT_THAT(psb_events.status().message(), HasSubstr("AUTHORIZATION_FAILED"));

  // Without a certificate the SSL listener does not even complete the handshake.
  KafkaClientOptions anonymous = ssl("510100.psb");
  anonymous.tls->cert_file.clear();
  anonymous.tls->key_file.clear();
  auto nobody = testing::ConsumeFromBeginning(anonymous, InboxTopic(prefix_, "510100.psb"), 1, 1, absl::Seconds(15),
                                              group("510100.psb"));
  EXPECT_TRUE(!nobody.ok() || nobody->empty()) << "a client without a certificate read the inbox";

  // The gateway is no super user: nothing outside its prefix is open to it.
  KafkaClientOptions gateway_identity = ssl("510100.psb");
  gateway_identity.tls->cert_file = broker_pki + "/gateway/kafka.crt";
  gateway_identity.tls->key_file = broker_pki + "/gateway/kafka.key";
  auto outside = TopicAdmin::Create(gateway_identity);
  ASSERT_TRUE(outside.ok());
  absl::Status created = (*outside)->CreateTopics({TopicSpec{testing::UniqueTopic("outside-prefix"), 1, 1}},
                                                   absl::Seconds(15));
  EXPECT_FALSE(created.ok()) << "the gateway created a topic outside " << prefix_;
}

// The audit log on <prefix>.audit: every entry with the leaf hash the store holds, and a signed
// tree head that verifies against the gateway's certificate over the entries read from Kafka.
TEST_F(GatewayRelayTest, AuditEntriesAndSignedTreeHeadsReachTheAuditTopic) {
  testing::TestGatewayOptions options;
  options.configure = [&](v1::GatewayConfig& config) {
    config.mutable_kafka()->set_bootstrap_servers(bootstrap_);
    config.mutable_kafka()->set_topic_prefix(prefix_);
    config.set_tree_head_interval_seconds(1);
  };
  testing::TestGateway gateway(testing::MakeTempDir(), options);
  auto epb = gateway.Client("510100.epb");
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(gateway.Submit(*epb, testing::TransferEnvelope(absl::StrCat("KU-", i))).ok());
  }
  // A refusal is audited too, and so reaches the topic.
  EXPECT_FALSE(gateway.Submit(*epb, testing::TransferEnvelope("KU-0")).ok());
  const uint64_t size = gateway.AuditSize();
  ASSERT_GT(size, 5u);

  // Read until a signed head covering `size` entries arrived (heads follow their entries).
  std::vector<testing::ConsumedRecord> records;
  std::optional<v1::SignedTreeHead> head;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  size_t want = size + 1;
  while (!head.has_value() && absl::Now() < deadline) {
    records = Consume(prefix_ + ".audit", want);
    for (const auto& record : records) {
      if (Header(record, "kind") != "tree-head" || std::stoull(Header(record, "tree-size")) < size) continue;
      head.emplace();
      ASSERT_TRUE(head->ParseFromString(record.value));
    }
    want = records.size() + 1;
  }
  ASSERT_TRUE(head.has_value()) << "no tree head of size >= " << size << " among " << records.size() << " records";

  auto stored = gateway.store().ReadAuditEntries(0, 100000);
  ASSERT_TRUE(stored.ok()) << stored.status();
  v1::AuditLogExport exported;
  *exported.mutable_tree_head() = *head;
  v1::TreeHead contents;
  ASSERT_TRUE(contents.ParseFromString(head->tree_head()));
  std::set<uint64_t> seen;
  for (const auto& record : records) {
    if (Header(record, "kind") != "audit-entry") continue;
    EXPECT_EQ(record.key, "audit");
    v1::AuditEntry entry;
    ASSERT_TRUE(entry.ParseFromString(record.value));
    EXPECT_EQ(Header(record, "audit-index"), absl::StrCat(entry.index()));
    ASSERT_LT(entry.index(), stored->size());
    const v1::AuditEntry& truth = (*stored)[entry.index()];
    EXPECT_EQ(entry.entry_hash(), truth.entry_hash()) << "index " << entry.index();
    EXPECT_EQ(entry.record(), truth.record()) << "index " << entry.index();
    EXPECT_EQ(entry.entry_hash(), AuditTreeHasher().HashLeaf(entry.record()));
    EXPECT_EQ(Header(record, "leaf-hash"), absl::BytesToHexString(truth.entry_hash()));
    // In index order, first arrivals without a gap.
    if (seen.insert(entry.index()).second) {
      EXPECT_EQ(entry.index(), seen.size() - 1) << "audit entries out of order on the topic";
      if (entry.index() < contents.tree_size()) *exported.add_entries() = entry;
    }
  }
  EXPECT_GE(seen.size(), size);
  auto certificate = security::Certificate::FromPem(ReadFile(gateway.pki_dir() + "/gateway/signing.crt"));
  ASSERT_TRUE(certificate.ok());
  auto verifier = (*certificate)->PublicKeyVerifier();
  ASSERT_TRUE(verifier.ok());
  AuditVerification verification = VerifyAuditLog(exported, **verifier);
  EXPECT_TRUE(verification.ok) << verification.message;
  // And a changed entry would not verify: the check above is meaningful.
  exported.mutable_entries(1)->mutable_record()->append("x");
  EXPECT_FALSE(VerifyAuditLog(exported, **verifier).ok);
}

// The broker frozen for 30 s (SIGSTOP: connections stay open but nothing answers, the worst
// case for a client) during a stream of gRPC handoffs: Submit keeps its latency, the backlog
// grows in GetGatewayInfo, and after the broker returns every handoff is on the inbox topic.
TEST_F(GatewayRelayTest, ThirtySecondBrokerOutageLosesNothingAndDoesNotSlowSubmit) {
  const std::string env_file = std::getenv("CASELINK_KAFKA_ENV_FILE");
  const std::string pid_text = ReadFile(std::filesystem::path(env_file).parent_path() / "kafka.pid");
  const pid_t broker = static_cast<pid_t>(std::atol(pid_text.c_str()));
  ASSERT_GT(broker, 0) << "no broker pid next to " << env_file;
  testing::TestGatewayOptions options;
  options.configure = [&](v1::GatewayConfig& config) {
    config.mutable_kafka()->set_bootstrap_servers(bootstrap_);
    config.mutable_kafka()->set_topic_prefix(prefix_);
  };
  testing::TestGateway gateway(testing::MakeTempDir(), options);
  auto epb = gateway.Client("510100.epb");
  auto info_stub = v1::GatewayService::NewStub(epb->channel());
  auto backlog = [&]() -> int64_t {
    grpc::ClientContext context;
    v1::GatewayInfo info;
    if (!info_stub->GetGatewayInfo(&context, v1::GetGatewayInfoRequest(), &info).ok()) return -1;
    return static_cast<int64_t>(info.bus_backlog());
  };

  // Phases: 0 before, 1 during, 2 after the outage. About 40 handoffs a second, one client.
  std::vector<std::vector<double>> latency_ms(3);
  std::set<std::string> accepted;
  int handoff = 0;
  auto stream = [&](int phase, absl::Duration length) {
    const absl::Time end = absl::Now() + length;
    while (absl::Now() < end) {
      const std::string case_id = absl::StrCat("KO-", handoff++);
      const absl::Time start = absl::Now();
      auto response = epb->Submit(testing::TransferEnvelope(case_id), absl::Seconds(10));
      ASSERT_TRUE(response.ok()) << "phase " << phase << ": " << response.status();
      latency_ms[phase].push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
      accepted.insert(case_id);
      absl::SleepFor(absl::Milliseconds(25));
    }
  };
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
  };

  stream(0, absl::Seconds(5));
  // Whatever fails below, the shared broker must not stay frozen.
  struct Resume {
    pid_t pid;
    ~Resume() { ::kill(pid, SIGCONT); }
  } resume{broker};
  ASSERT_EQ(::kill(broker, SIGSTOP), 0);
  const absl::Time stopped = absl::Now();
  stream(1, absl::Seconds(30));
  const int64_t backlog_at_return = backlog();
  ASSERT_EQ(::kill(broker, SIGCONT), 0);
  const absl::Time resumed = absl::Now();
  EXPECT_GE(resumed - stopped, absl::Seconds(30));

  // Drained: the backlog reaches zero.
  int64_t left = backlog();
  while (left != 0 && absl::Now() < resumed + absl::Seconds(180)) {
    absl::SleepFor(absl::Milliseconds(50));
    left = backlog();
  }
  const absl::Duration drain = absl::Now() - resumed;
  EXPECT_EQ(left, 0) << "backlog not drained within 180 s of the broker's return";
  stream(2, absl::Seconds(3));
  std::printf("[ outage ] %d handoffs; Submit median %.1f ms before, %.1f ms during, %.1f ms after the outage; "
              "backlog %lld deliveries when the broker returned; drained %.1f s after it returned "
              "(%.0f deliveries/s, marking included)\n",
              handoff, median(latency_ms[0]), median(latency_ms[1]), median(latency_ms[2]),
              static_cast<long long>(backlog_at_return), absl::ToDoubleSeconds(drain),
              backlog_at_return / std::max(absl::ToDoubleSeconds(drain), 0.001));
  // The outage held back deliveries (two rows per transfer: the PSB and the PRO).
  EXPECT_GE(backlog_at_return, static_cast<int64_t>(latency_ms[1].size()));
  // Accepting does not wait for Kafka: Submit's median stays within noise of the baseline.
  EXPECT_LT(median(latency_ms[1]), 3 * median(latency_ms[0]) + 20) << "Submit slowed down while Kafka was away";

  // Nothing lost: every accepted handoff is on the PSB inbox (deduplicated by envelope id).
  std::set<std::string> cases;
  std::set<std::string> envelopes;
  size_t want = accepted.size();
  for (int attempt = 0; attempt < 5 && cases.size() < accepted.size(); ++attempt) {
    std::vector<testing::ConsumedRecord> records = Consume(InboxTopic(prefix_, "510100.psb"), want);
    for (const auto& record : records) {
      envelopes.insert(Header(record, "envelope-id"));
      cases.insert(record.key);
    }
    want = records.size() + (accepted.size() - cases.size());
  }
  EXPECT_EQ(cases, accepted);
  EXPECT_EQ(envelopes.size(), accepted.size());
}

// Publishes records to a topic and waits until the broker acknowledged every one.
void ProduceAll(const KafkaClientOptions& client, std::vector<BusRecord> records) {
  RdKafkaPublisherOptions options;
  options.client = client;
  auto publisher = RdKafkaPublisher::Create(std::move(options));
  ASSERT_TRUE(publisher.ok()) << publisher.status();
  testing::DeliveryRecorder recorder;
  for (size_t i = 0; i < records.size(); ++i) {
    ASSERT_TRUE((*publisher)->Publish(std::move(records[i]), recorder.Callback(i)).ok());
  }
  ASSERT_EQ((*publisher)->Flush(absl::Seconds(60)), 0u);
  for (const absl::Status& st : recorder.statuses()) ASSERT_TRUE(st.ok()) << st;
}

BusRecord IngressRecord(const std::string& prefix, const std::string& sender, const std::string& key,
                        std::string value) {
  return BusRecord{prefix + ".ingress", key, std::move(value), {{"sender", sender}}};
}

// Kafka ingress: a valid envelope has the effects of gRPC Submit and is answered on the
// sender's inbox; a repeat is answered as a duplicate; forged, malformed and misattributed
// records land in the DLQ with their reason and status, and are audited.
TEST_F(GatewayRelayTest, IngressRunsThePipelineAnswersAndDeadLettersRefusals) {
  testing::TestGatewayOptions options;
  options.configure = [&](v1::GatewayConfig& config) {
    config.mutable_kafka()->set_bootstrap_servers(bootstrap_);
    config.mutable_kafka()->set_topic_prefix(prefix_);
  };
  testing::TestGateway gateway(testing::MakeTempDir(), options);
  auto epb = gateway.Client("510100.epb");
  auto valid = gateway.Sign(*epb, testing::TransferEnvelope("KI-1"));
  auto forged = gateway.Sign(*epb, testing::TransferEnvelope("KI-2"));
  auto misattributed = gateway.Sign(*epb, testing::TransferEnvelope("KI-3"));
  ASSERT_TRUE(valid.ok() && forged.ok() && misattributed.ok());
  std::string forged_signature = forged->signature().value();
  forged_signature[forged_signature.size() / 2] ^= 0x01;
  forged->mutable_signature()->set_value(forged_signature);
  const uint64_t audit_before = gateway.AuditSize();

  ProduceAll(Client(), {IngressRecord(prefix_, "510100.epb", "KI-1", valid->SerializeAsString()),
                        IngressRecord(prefix_, "510100.epb", "KI-2", forged->SerializeAsString()),
                        IngressRecord(prefix_, "510100.epb", "junk", std::string("\xff\xff\x01not an envelope", 19)),
                        IngressRecord(prefix_, "510100.psb", "KI-3", misattributed->SerializeAsString()),
                        IngressRecord(prefix_, "510100.epb", "KI-1", valid->SerializeAsString())});

  // The same effect as gRPC Submit: the case exists and the PSB gets the transfer on Kafka.
  std::vector<testing::ConsumedRecord> dlq = Consume(prefix_ + ".dlq", 3);
  ASSERT_EQ(dlq.size(), 3u) << log_.Text();
  auto the_case = gateway.store().ReadCase("KI-1");
  ASSERT_TRUE(the_case.ok() && the_case->has_value());
  for (const char* refused : {"KI-2", "KI-3"}) {
    auto none = gateway.store().ReadCase(refused);
    ASSERT_TRUE(none.ok());
    EXPECT_FALSE(none->has_value()) << refused << " was refused but exists";
  }
  std::vector<testing::ConsumedRecord> psb = Consume(InboxTopic(prefix_, "510100.psb"), 2);
  std::set<std::string> psb_kinds;
  for (const auto& record : psb) psb_kinds.insert(Header(record, "kind") + "/" + record.key);
  EXPECT_TRUE(psb_kinds.count("envelope/KI-1")) << "the transfer did not reach the PSB's inbox";
  EXPECT_TRUE(psb_kinds.count("ingress-refusal/KI-3")) << "the claimed sender was not told";

  // Dead letters, in ingress order, with status and reason.
  EXPECT_EQ(Header(dlq[0], "status"), "UNAUTHENTICATED");
  EXPECT_THAT(Header(dlq[0], "reason"), HasSubstr("signature"));
  EXPECT_EQ(Header(dlq[1], "status"), "INVALID_ARGUMENT");
  EXPECT_THAT(Header(dlq[1], "reason"), HasSubstr("not a serialized caselink.v1.SignedEnvelope"));
  EXPECT_EQ(Header(dlq[2], "status"), "PERMISSION_DENIED");
  EXPECT_THAT(Header(dlq[2], "reason"), HasSubstr("'sender' header says '510100.psb'"));
  EXPECT_EQ(dlq[0].value, forged->SerializeAsString());

  // Answers on the EPB's inbox: the receipt, two refusals, the duplicate's original receipt.
  std::vector<testing::ConsumedRecord> answers = Consume(InboxTopic(prefix_, "510100.epb"), 4);
  ASSERT_EQ(answers.size(), 4u);
  EXPECT_EQ(Header(answers[0], "kind"), "ingress-receipt");
  EXPECT_EQ(Header(answers[0], "duplicate"), "false");
  v1::SubmitResponse first, repeat;
  ASSERT_TRUE(first.ParseFromString(answers[0].value));
  EXPECT_EQ(Header(answers[1], "kind"), "ingress-refusal");
  EXPECT_EQ(Header(answers[2], "kind"), "ingress-refusal");
  EXPECT_EQ(Header(answers[3], "kind"), "ingress-receipt");
  EXPECT_EQ(Header(answers[3], "duplicate"), "true");
  ASSERT_TRUE(repeat.ParseFromString(answers[3].value));
  EXPECT_TRUE(repeat.duplicate());
  EXPECT_EQ(repeat.receipt().SerializeAsString(), first.receipt().SerializeAsString());

  // Every refusal is in the audit log.
  int refusals = 0;
  std::string reasons;
  for (const v1::AuditRecord& r : gateway.AuditRecordsFrom(audit_before)) {
    if (r.outcome() != v1::AuditRecord::REFUSED) continue;
    ++refusals;
    absl::StrAppend(&reasons, r.status_code(), ": ", r.reason(), "\n");
  }
  EXPECT_EQ(refusals, 3) << reasons;
  EXPECT_THAT(reasons, HasSubstr("not a serialized caselink.v1.SignedEnvelope"));
  EXPECT_THAT(reasons, HasSubstr("'sender' header says"));
}

// kill -9 while the gateway consumes a stream of ingress records, three times: the committed
// offset never runs ahead of the store (every record below it is durable), and in the end
// every record took effect exactly once; replays were answered as duplicates.
TEST_F(GatewayRelayTest, IngressAcrossKill9TakesEveryRecordExactlyOnce) {
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
  const std::string group = prefix_ + ".gateway";
  const std::string ingress = prefix_ + ".ingress";
  constexpr int kRecords = 150;

  std::vector<std::string> envelope_ids;
  std::vector<BusRecord> records;
  auto gateway = std::make_unique<testing::GatewayProcess>(CASELINK_GATEWAY_BINARY, config, dir + "/ready");
  int port = gateway->WaitForPort();
  ASSERT_GT(port, 0);
  {
    auto identity = LoadAgencyIdentity(options.dir, "510100.epb");
    ASSERT_TRUE(identity.ok());
    auto epb = AgencyClient::Create(*identity, "127.0.0.1:" + std::to_string(port));
    ASSERT_TRUE(epb.ok());
    ASSERT_TRUE(testing::UploadStandardDocuments(**epb).ok());
    for (int i = 0; i < kRecords; ++i) {
      const std::string case_id = absl::StrCat("KC-", i);
      auto signed_envelope = (*epb)->Sign(testing::TransferEnvelope(case_id));
      ASSERT_TRUE(signed_envelope.ok());
      v1::Envelope envelope;
      ASSERT_TRUE(envelope.ParseFromString(signed_envelope->envelope()));
      envelope_ids.push_back(envelope.envelope_id());
      records.push_back(IngressRecord(prefix_, "510100.epb", case_id, signed_envelope->SerializeAsString()));
    }
  }
  ProduceAll(Client(), std::move(records));

  // The committed offset against what the store holds, with the gateway dead.
  auto check_offsets = [&](int round) -> int64_t {
    auto committed = testing::CommittedOffset(Client(), group, ingress, 0, absl::Seconds(30));
    EXPECT_TRUE(committed.ok()) << committed.status();
    if (!committed.ok()) return -1;
    SqliteStoreOptions store_options;
    store_options.data_dir = options.data_dir;
    auto store = OpenSqliteStore(store_options);
    EXPECT_TRUE(store.ok()) << store.status();
    if (!store.ok()) return -1;
    for (int64_t offset = 0; offset < *committed && offset < kRecords; ++offset) {
      auto stored = (*store)->ReadEnvelope(envelope_ids[offset]);
      EXPECT_TRUE(stored.ok() && stored->has_value())
          << "round " << round << ": offset " << offset << " is committed but its envelope is not durable";
    }
    (*store)->Shutdown();
    return *committed;
  };

  std::mt19937 random(std::random_device{}());
  std::vector<int64_t> committed_at_kill;
  for (int round = 0; round < 3; ++round) {
    // Mid-stream: once this gateway has settled some records, at a random moment after.
    const int64_t threshold = 30 + 40 * round;
    const absl::Time wait_until = absl::Now() + absl::Seconds(60);
    while (absl::Now() < wait_until) {
      auto now = testing::CommittedOffset(Client(), group, ingress, 0, absl::Seconds(30));
      if (now.ok() && *now >= threshold) break;
      absl::SleepFor(absl::Milliseconds(20));
    }
    absl::SleepFor(absl::Milliseconds(random() % 200));
    gateway->Kill();
    committed_at_kill.push_back(check_offsets(round));
    gateway = std::make_unique<testing::GatewayProcess>(CASELINK_GATEWAY_BINARY, config, dir + "/ready");
    ASSERT_GT(gateway->WaitForPort(), 0);
  }
  // The last gateway finishes the stream.
  const absl::Time last_start = absl::Now();
  int64_t committed = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(180);
  while (committed < kRecords && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(500));
    auto now = testing::CommittedOffset(Client(), group, ingress, 0, absl::Seconds(30));
    if (now.ok()) committed = *now;
  }
  const absl::Duration last_run = absl::Now() - last_start;
  gateway->Kill();
  EXPECT_EQ(check_offsets(3), kRecords);
  std::printf("[ ingress ] the last gateway settled %lld records in %.1f s (joining the group included)\n",
              static_cast<long long>(kRecords - committed_at_kill[2]), absl::ToDoubleSeconds(last_run));
  std::printf("[ ingress ] committed offsets at the three kills: %lld, %lld, %lld of %d\n",
              static_cast<long long>(committed_at_kill[0]), static_cast<long long>(committed_at_kill[1]),
              static_cast<long long>(committed_at_kill[2]), kRecords);

  // Exactly one accepted effect per envelope, none missing.
  SqliteStoreOptions store_options;
  store_options.data_dir = options.data_dir;
  auto store = OpenSqliteStore(store_options);
  ASSERT_TRUE(store.ok());
  auto entries = (*store)->ReadAuditEntries(0, 1000000);
  ASSERT_TRUE(entries.ok());
  std::map<std::string, int> accepted;
  int replays = 0;
  for (const v1::AuditEntry& entry : *entries) {
    v1::AuditRecord r;
    ASSERT_TRUE(r.ParseFromString(entry.record()));
    if (r.outcome() != v1::AuditRecord::ACCEPTED || r.envelope_id().empty()) continue;
    // A replay is audited too, as the retry it is.
    if (absl::StartsWith(r.reason(), "retry of an accepted envelope")) {
      ++replays;
    } else {
      ++accepted[r.envelope_id()];
    }
  }
  for (const std::string& id : envelope_ids) EXPECT_EQ(accepted[id], 1) << id;
  std::printf("[ ingress ] %d records replayed after a kill and answered as duplicates\n", replays);
  (*store)->Shutdown();

  // The audit topic across the same kills: once a gateway runs again, every entry the killed
  // ones wrote is on it (from the cursor on; repeats allowed, gaps not), with the store's hashes.
  gateway = std::make_unique<testing::GatewayProcess>(CASELINK_GATEWAY_BINARY, config, dir + "/ready");
  ASSERT_GT(gateway->WaitForPort(), 0);
  std::set<uint64_t> indexes;
  size_t audit_want = entries->size();
  const absl::Time audit_deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < audit_deadline) {
    std::vector<testing::ConsumedRecord> audit = Consume(prefix_ + ".audit", audit_want);
    indexes.clear();
    for (const auto& record : audit) {
      if (Header(record, "kind") != "audit-entry") continue;
      v1::AuditEntry entry;
      ASSERT_TRUE(entry.ParseFromString(record.value));
      if (entry.index() < entries->size()) {
        EXPECT_EQ(entry.entry_hash(), (*entries)[entry.index()].entry_hash()) << "audit index " << entry.index();
        indexes.insert(entry.index());
      }
    }
    if (indexes.size() >= entries->size()) break;
    audit_want = audit.size() + (entries->size() - indexes.size());
  }
  gateway->Kill();
  EXPECT_EQ(indexes.size(), entries->size()) << "audit entries missing from the audit topic after kill -9";

  // Every envelope answered; at most one first-time receipt each, repeats flagged duplicate.
  // Repeated answers may sit in front of the last first answer: read the topic to its end.
  std::map<std::string, int> originals;
  std::set<std::string> answered;
  std::vector<testing::ConsumedRecord> answers;
  const absl::Time answers_deadline = absl::Now() + absl::Seconds(60);
  for (;;) {
    auto read = testing::ConsumeToEnd(Client(), InboxTopic(prefix_, "510100.epb"), 1, absl::Seconds(60));
    ASSERT_TRUE(read.ok()) << read.status();
    answers = *std::move(read);
    answered.clear();
    for (const auto& a : answers) answered.insert(Header(a, "envelope-id"));
    if (answered.size() >= envelope_ids.size() || absl::Now() >= answers_deadline) break;
    absl::SleepFor(absl::Milliseconds(500));
  }
  for (const auto& a : answers) {
    EXPECT_EQ(Header(a, "kind"), "ingress-receipt") << Header(a, "reason");
    if (Header(a, "duplicate") == "false") ++originals[Header(a, "envelope-id")];
  }
  EXPECT_EQ(answered.size(), envelope_ids.size());
  for (const auto& [id, count] : originals) EXPECT_LE(count, 1) << id << " was answered as new twice";
  std::filesystem::remove_all(dir);
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
  ASSERT_NO_FATAL_FAILURE(WriteProcessPki(dir));
  const std::string config = dir + "/pki/gateway.yaml";
  auto connect = [&](const std::string& agency, int port) { return ConnectProcess(dir, agency, port); };

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
  // Consumers deduplicate by envelope id: then each handoff is seen exactly once. A killed
  // gateway's records that were reported but not yet marked are sent again, so duplicates may
  // sit anywhere after a kill, also in front of the last handoff; a read that waits for a count
  // of records ends before it. Read the whole topic to its end instead, and again until every
  // acknowledged handoff is there or the deadline passes.
  const std::string topic = InboxTopic(prefix_, "510100.psb");
  std::vector<testing::ConsumedRecord> records;
  std::map<std::string, const testing::ConsumedRecord*> first_by_envelope;
  std::set<std::string> found;
  const absl::Time deadline = absl::Now() + absl::Seconds(120);
  for (;;) {
    auto read = testing::ConsumeToEnd(Client(), topic, 1, absl::Seconds(60));
    ASSERT_TRUE(read.ok()) << read.status() << "\n" << log_.Text();
    records = *std::move(read);
    first_by_envelope.clear();
    found.clear();
    for (const auto& record : records) {
      if (first_by_envelope.emplace(Header(record, "envelope-id"), &record).second) found.insert(record.key);
    }
    if (std::includes(found.begin(), found.end(), acknowledged.begin(), acknowledged.end())) break;
    if (absl::Now() >= deadline) break;
    absl::SleepFor(absl::Milliseconds(500));  // the restarted gateway is still relaying
  }
  // A repeat is the same signed envelope of the same case, so deduplicating loses nothing.
  size_t duplicates = 0;
  for (const auto& record : records) {
    const testing::ConsumedRecord& first = *first_by_envelope.at(Header(record, "envelope-id"));
    if (&first == &record) continue;
    ++duplicates;
    EXPECT_EQ(record.key, first.key) << "envelope " << Header(record, "envelope-id") << " at offset " << record.offset;
    EXPECT_EQ(record.value, first.value) << "envelope " << Header(record, "envelope-id") << " at offset "
                                         << record.offset;
  }
  std::printf("[ kill -9 ] %zu records on the inbox topic for %zu handoffs (%zu sent again after a kill)\n",
              records.size(), acknowledged.size(), duplicates);
  std::multiset<std::string> seen;
  for (const auto& [envelope, record] : first_by_envelope) seen.insert(record->key);
  std::string missing;
  for (const std::string& case_id : acknowledged) {
    if (seen.count(case_id) == 0) absl::StrAppend(&missing, " ", case_id);
  }
  EXPECT_EQ(seen.size(), acknowledged.size()) << records.size() << " records, " << duplicates << " duplicates";
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), acknowledged)
      << "acknowledged but not on " << topic << ":" << missing;
  gateway.Kill();
  std::filesystem::remove_all(dir);
}

// The acceptance run: thousands of handoffs from concurrent clients, the gateway killed at
// random moments while requests are in flight, every client retrying the exact envelope it
// was not answered for (a committed one comes back as a duplicate with its receipt).
// Afterwards every acknowledged envelope is on the inbox topic of every agency it is
// addressed to, each exactly once after deduplication by envelope id, and the
// order of each case holds on every inbox (transfer before filing at the procuratorate,
// receipt before filing at the environmental bureau).
TEST_F(GatewayRelayTest, KillsAtRandomMomentsWithRetryingClientsLoseNothingAndKeepCaseOrder) {
  const std::string dir = testing::MakeTempDir();
  ASSERT_NO_FATAL_FAILURE(WriteProcessPki(dir));
  const std::string config = dir + "/pki/gateway.yaml";
  auto connect = [&](const std::string& agency, int port) { return ConnectProcess(dir, agency, port); };

  // Every envelope is signed once, before the run: a retry sends the same bytes.
  constexpr int kCases = 700;  // transfer, receipt and filing each: 2,100 handoffs
  constexpr int kWorkers = 4;
  constexpr int kKills = 5;
  struct CaseEnvelopes {
    std::string case_id;
    v1::SignedEnvelope transfer;
    v1::SignedEnvelope receipt;
    v1::SignedEnvelope filing;
  };
  std::vector<CaseEnvelopes> cases(kCases);
  {
    auto epb = connect("510100.epb", 1);
    auto psb = connect("510100.psb", 1);
    for (int i = 0; i < kCases; ++i) {
      cases[i].case_id = absl::StrCat("KR-", i);
      auto transfer = epb->Sign(testing::TransferEnvelope(cases[i].case_id));
      auto receipt = psb->Sign(testing::ActionEnvelope(cases[i].case_id, v1::Envelope::kReceipt));
      auto filing = psb->Sign(testing::ActionEnvelope(cases[i].case_id, v1::Envelope::kFiling));
      ASSERT_TRUE(transfer.ok() && receipt.ok() && filing.ok());
      cases[i].transfer = *std::move(transfer);
      cases[i].receipt = *std::move(receipt);
      cases[i].filing = *std::move(filing);
    }
  }

  // The clients of the gateway now running; replaced after each restart.
  struct Clients {
    std::shared_ptr<AgencyClient> epb;
    std::shared_ptr<AgencyClient> psb;
  };
  std::mutex mu;
  std::condition_variable restarted;
  uint64_t generation = 0;
  Clients current;
  std::atomic<int> retries{0};
  std::mutex acknowledged_mu;
  std::set<std::string> acknowledged;  // envelope ids answered OK

  auto submit_until_answered = [&](const v1::SignedEnvelope& envelope, bool by_psb) {
    for (;;) {
      Clients clients;
      uint64_t seen = 0;
      {
        std::unique_lock<std::mutex> lock(mu);
        restarted.wait(lock, [&] { return current.epb != nullptr; });
        clients = current;
        seen = generation;
      }
      auto response = (by_psb ? clients.psb : clients.epb)->SubmitSigned(envelope, absl::Seconds(5));
      if (response.ok()) {
        v1::Envelope e;
        e.ParseFromString(envelope.envelope());
        std::lock_guard<std::mutex> lock(acknowledged_mu);
        acknowledged.insert(e.envelope_id());
        return;
      }
      // Not answered: the gateway died or is dying. Send the same envelope to the next one.
      ++retries;
      std::unique_lock<std::mutex> lock(mu);
      restarted.wait_for(lock, std::chrono::seconds(30), [&] { return generation != seen; });
    }
  };
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      for (int i = w; i < kCases; i += kWorkers) {
        submit_until_answered(cases[i].transfer, false);
        submit_until_answered(cases[i].receipt, true);
        submit_until_answered(cases[i].filing, true);
      }
    });
  }

  std::mt19937 random(20261128);
  std::uniform_int_distribution<int> pause_ms(150, 700);
  auto start_gateway = [&]() {
    auto gateway = std::make_unique<testing::GatewayProcess>(CASELINK_GATEWAY_BINARY, config, dir + "/ready");
    const int port = gateway->WaitForPort();
    EXPECT_GT(port, 0) << "gateway did not start";
    Clients next{connect("510100.epb", port), connect("510100.psb", port)};
    {
      std::lock_guard<std::mutex> lock(mu);
      current = next;
      ++generation;
    }
    restarted.notify_all();
    return gateway;
  };
  {
    auto gateway = start_gateway();
    ASSERT_TRUE(testing::UploadStandardDocuments(*current.epb).ok());
    for (int kill = 0; kill < kKills; ++kill) {
      absl::SleepFor(absl::Milliseconds(pause_ms(random)));
      gateway->Kill();  // SIGKILL with requests in flight
      {
        std::lock_guard<std::mutex> lock(mu);
        current = Clients();
      }
      gateway = start_gateway();
    }
    for (auto& worker : workers) worker.join();
    ASSERT_EQ(acknowledged.size(), 3u * kCases);
    std::printf("[ kill -9 ] %d kills, %d requests sent again after no answer\n", kKills, retries.load());

    // Read every inbox to its end, deduplicate by envelope id, until all is there.
    auto read_inbox = [&](const std::string& agency) {
      std::vector<testing::ConsumedRecord> records;
      const absl::Time deadline = absl::Now() + absl::Seconds(120);
      for (;;) {
        auto read = testing::ConsumeToEnd(Client(), InboxTopic(prefix_, agency), 1, absl::Seconds(60),
                                          absl::StrCat(testing::kTestConsumerGroup, ".", agency));
        EXPECT_TRUE(read.ok()) << read.status();
        if (!read.ok()) return records;
        records = *std::move(read);
        std::set<std::string> ids;
        for (const auto& r : records) ids.insert(Header(r, "envelope-id"));
        // PSB: the transfers; PRO: transfers and filings; EPB: receipts and filings.
        const size_t expected = agency == "510100.psb" ? static_cast<size_t>(kCases) : 2u * kCases;
        if (ids.size() >= expected || absl::Now() >= deadline) return records;
        absl::SleepFor(absl::Milliseconds(500));
      }
    };
    auto pro = read_inbox("510100.pro");
    auto psb = read_inbox("510100.psb");
    auto epb = read_inbox("510100.epb");

    // Who must have what: transfers reach PSB and PRO, receipts EPB, filings EPB and PRO.
    auto ids_of = [&](const std::vector<testing::ConsumedRecord>& records) {
      std::map<std::string, int64_t> first;  // envelope id -> first offset
      for (const auto& r : records) first.emplace(Header(r, "envelope-id"), r.offset);
      return first;
    };
    const auto pro_first = ids_of(pro);
    const auto psb_first = ids_of(psb);
    const auto epb_first = ids_of(epb);
    auto id = [](const v1::SignedEnvelope& signed_envelope) {
      v1::Envelope e;
      e.ParseFromString(signed_envelope.envelope());
      return e.envelope_id();
    };
    int missing = 0;
    int out_of_order = 0;
    auto before = [&](const std::map<std::string, int64_t>& first, const std::string& a, const std::string& b) {
      if (first.contains(a) && first.contains(b) && first.at(a) > first.at(b)) ++out_of_order;
    };
    for (const CaseEnvelopes& c : cases) {
      const std::string transfer = id(c.transfer), receipt = id(c.receipt), filing = id(c.filing);
      missing += !pro_first.contains(transfer) + !psb_first.contains(transfer) + !epb_first.contains(receipt) +
                 !epb_first.contains(filing) + !pro_first.contains(filing);
      before(pro_first, transfer, filing);
      before(epb_first, receipt, filing);
    }
    EXPECT_EQ(missing, 0) << "acknowledged envelopes missing from their inbox topics";
    EXPECT_EQ(out_of_order, 0) << "cases whose envelopes reached an inbox out of case order";
    EXPECT_EQ(pro_first.size(), 2u * kCases);
    EXPECT_EQ(psb_first.size(), static_cast<size_t>(kCases));
    EXPECT_EQ(epb_first.size(), 2u * kCases);
    std::printf("[ kill -9 ] inbox records: PRO %zu, PSB %zu, EPB %zu for %d handoffs\n", pro.size(), psb.size(),
                epb.size(), 3 * kCases);
    gateway->Kill();
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace caselink
