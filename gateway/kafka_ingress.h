// Kafka ingress: agencies that already produce to Kafka publish SignedEnvelopes to
// <prefix>.ingress; the gateway runs each through the same SubmissionPipeline as gRPC Submit,
// answers on the sender's inbox topic, and sends refused records to <prefix>.dlq.
//
// Who sent a record: Kafka does not tell a consumer which principal produced a record, so
// the trust comes from the envelope's signature alone. The record's `sender` header must name
// the envelope's sender_agency (a registered agency), and the pipeline then verifies the
// signature against that agency's registered signing keys exactly as for gRPC; anything that
// does not verify is refused. (ACLs let only agencies write to the ingress topic, but any
// agency could write a record claiming another sender: the signature is what decides.)
//
// Offsets: one record at a time, in partition order; a record's offset is committed only
// after the pipeline's durable commit (acceptance or audited refusal) and after its answer
// and DLQ copy were acknowledged by the broker. A crash in between replays the record: the
// pipeline answers an accepted envelope again as a duplicate (same receipt, no second
// effect), so every record takes effect exactly once.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "adapters/bus/publisher.h"
#include "adapters/bus/rdkafka_consumer.h"
#include "gateway/registry.h"
#include "gateway/submission_pipeline.h"

namespace caselink {

std::string IngressTopic(const std::string& prefix);
std::string DlqTopic(const std::string& prefix);

struct KafkaIngressOptions {
  KafkaClientOptions client;
  std::string topic_prefix = "caselink";
  // Consumer group; default <prefix>.gateway.
  std::string group_id;
  // Static group membership; a gateway restarted with the same id resumes at once. Give
  // each gateway of a group its own (the server derives it from its data directory).
  std::string instance_id;
  // How long the broker may take to acknowledge an answer before it is sent again.
  absl::Duration answer_timeout = absl::Seconds(30);
  // Pause before a record whose processing failed transiently (store or broker) is retried.
  absl::Duration retry_pause = absl::Milliseconds(500);
};

// Records the ingress writes. Answer on <prefix>.inbox.<sender>: key = case id, headers
// kind=ingress-receipt (value = SubmitResponse: the signed receipt, duplicate flag) or
// kind=ingress-refusal (value = the refused record's bytes), envelope-id, status, reason,
// ingress-offset ("<partition>:<offset>"). DLQ on <prefix>.dlq: value = the refused record's
// bytes, headers reason, status, sender, ingress-topic, ingress-partition, ingress-offset.
class KafkaIngress {
 public:
  static absl::StatusOr<std::unique_ptr<KafkaIngress>> Create(KafkaIngressOptions options,
                                                              SubmissionPipeline& pipeline,
                                                              const AgencyRegistry& registry, Publisher& publisher);
  ~KafkaIngress();
  KafkaIngress(const KafkaIngress&) = delete;
  KafkaIngress& operator=(const KafkaIngress&) = delete;

  void Start();
  // Finishes the record in hand (its commit or not), leaves the group. Idempotent.
  void Stop();

  uint64_t accepted() const { return accepted_.load(); }
  uint64_t refused() const { return refused_.load(); }

 private:
  KafkaIngress(KafkaIngressOptions options, SubmissionPipeline& pipeline, const AgencyRegistry& registry,
               Publisher& publisher, std::unique_ptr<RdKafkaConsumer> consumer);

  void Run();
  // OK: the record is settled (committed); otherwise it must be processed again.
  absl::Status Process(const BusMessage& message);
  // Runs the pipeline and waits for its answer.
  absl::StatusOr<v1::SubmitResponse> Submit(const Caller& caller, v1::SignedEnvelope envelope);
  absl::Status Refuse(const Caller& caller, const std::string& case_id, absl::Status why);
  // Publishes the records and waits for all their delivery reports.
  absl::Status PublishAndWait(std::vector<BusRecord> records);

  const KafkaIngressOptions options_;
  SubmissionPipeline& pipeline_;
  const AgencyRegistry& registry_;
  Publisher& publisher_;
  std::unique_ptr<RdKafkaConsumer> consumer_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> refused_{0};
  std::thread thread_;
};

}  // namespace caselink
