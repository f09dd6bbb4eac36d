// The ingress loop: poll, check the sender header, run the pipeline, answer, commit.
#include "gateway/kafka_ingress.h"

#include <condition_variable>
#include <cstdio>
#include <future>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "caselink/v1/envelope.pb.h"
#include "gateway/kafka_acls.h"
#include "gateway/kafka_relay.h"

namespace caselink {

std::string IngressTopic(const std::string& prefix) { return absl::StrCat(prefix, ".ingress"); }
std::string DlqTopic(const std::string& prefix) { return absl::StrCat(prefix, ".dlq"); }

KafkaIngress::KafkaIngress(KafkaIngressOptions options, SubmissionPipeline& pipeline, const AgencyRegistry& registry,
                           Publisher& publisher, std::unique_ptr<RdKafkaConsumer> consumer)
    : options_(std::move(options)),
      pipeline_(pipeline),
      registry_(registry),
      publisher_(publisher),
      consumer_(std::move(consumer)) {}

absl::StatusOr<std::unique_ptr<KafkaIngress>> KafkaIngress::Create(KafkaIngressOptions options,
                                                                   SubmissionPipeline& pipeline,
                                                                   const AgencyRegistry& registry,
                                                                   Publisher& publisher) {
  if (options.group_id.empty()) options.group_id = GatewayIngressGroup(options.topic_prefix);
  RdKafkaConsumerOptions consumer_options;
  consumer_options.client = options.client;
  consumer_options.client.client_id = "caselink-gateway-ingress";
  consumer_options.group_id = options.group_id;
  consumer_options.topics = {IngressTopic(options.topic_prefix)};
  consumer_options.instance_id = options.instance_id;
  auto consumer = RdKafkaConsumer::Create(std::move(consumer_options));
  if (!consumer.ok()) return consumer.status();
  return std::unique_ptr<KafkaIngress>(
      new KafkaIngress(std::move(options), pipeline, registry, publisher, std::move(*consumer)));
}

KafkaIngress::~KafkaIngress() { Stop(); }

void KafkaIngress::Start() { thread_ = std::thread([this] { Run(); }); }

void KafkaIngress::Stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
  consumer_->Close();
}

void KafkaIngress::Run() {
  while (!stopping_) {
    auto polled = consumer_->Poll(absl::Milliseconds(200));
    if (!polled.ok()) {
      std::fprintf(stderr, "caselink: Kafka ingress: %s\n", polled.status().ToString().c_str());
      absl::SleepFor(options_.retry_pause);
      continue;
    }
    if (!polled->has_value()) continue;
    const BusMessage& message = **polled;
    // The same record until it is settled: a later one must not overtake it.
    while (true) {
      absl::Status st = Process(message);
      if (st.ok()) break;
      std::fprintf(stderr, "caselink: Kafka ingress %s[%d]@%lld not settled, retrying: %s\n", message.topic.c_str(),
                   message.partition, static_cast<long long>(message.offset), st.ToString().c_str());
      // Not committed: after a stop the group resumes at this record.
      if (stopping_) return;
      absl::SleepFor(options_.retry_pause);
    }
  }
}

absl::StatusOr<v1::SubmitResponse> KafkaIngress::Submit(const Caller& caller, v1::SignedEnvelope envelope) {
  std::promise<absl::StatusOr<v1::SubmitResponse>> promise;
  auto future = promise.get_future();
  pipeline_.Submit(caller, std::move(envelope),
                   [&promise](absl::StatusOr<v1::SubmitResponse> result) { promise.set_value(std::move(result)); });
  return future.get();
}

absl::Status KafkaIngress::Refuse(const Caller& caller, const std::string& case_id, absl::Status why) {
  std::promise<absl::Status> promise;
  auto future = promise.get_future();
  pipeline_.RecordRefusal(caller, "Kafka/ingress", case_id, why, [&promise](absl::Status st) { promise.set_value(st); });
  return future.get();
}

absl::Status KafkaIngress::PublishAndWait(std::vector<BusRecord> records) {
  struct Wait {
    std::mutex mu;
    std::condition_variable cv;
    size_t left = 0;
    absl::Status status;
  };
  auto wait = std::make_shared<Wait>();
  wait->left = records.size();
  for (BusRecord& record : records) {
    absl::Status st = publisher_.Publish(std::move(record), [wait](absl::Status s) {
      std::lock_guard<std::mutex> lock(wait->mu);
      if (!s.ok() && wait->status.ok()) wait->status = s;
      if (--wait->left == 0) wait->cv.notify_all();
    });
    if (!st.ok()) return st;  // the accepted ones still report into `wait`, which they own
  }
  std::unique_lock<std::mutex> lock(wait->mu);
  if (!wait->cv.wait_for(lock, absl::ToChronoNanoseconds(options_.answer_timeout), [&] { return wait->left == 0; })) {
    return absl::DeadlineExceededError("Kafka did not acknowledge the ingress answer in time");
  }
  return wait->status;
}

absl::Status KafkaIngress::Process(const BusMessage& message) {
  const std::string prefix = options_.topic_prefix;
  const std::string where = absl::StrCat(message.partition, ":", message.offset);
  const std::optional<std::string> sender_header = message.Header("sender");
  v1::SignedEnvelope signed_envelope;
  v1::Envelope envelope;
  absl::Status ingress_refusal;
  const AgencyEntry* sender = nullptr;
  if (!signed_envelope.ParseFromString(message.value) || signed_envelope.envelope().empty() ||
      !envelope.ParseFromString(signed_envelope.envelope())) {
    ingress_refusal = absl::InvalidArgumentError(absl::StrCat(
        "ingress record ", where, " is not a serialized caselink.v1.SignedEnvelope with an Envelope inside"));
  } else if (!sender_header.has_value() || sender_header->empty()) {
    ingress_refusal = absl::InvalidArgumentError(
        absl::StrCat("ingress record ", where, " has no 'sender' header naming the sending agency"));
  } else if (*sender_header != envelope.sender_agency()) {
    ingress_refusal = absl::PermissionDeniedError(absl::StrCat("ingress record ", where, ": the 'sender' header says '",
                                                               *sender_header, "' but the envelope's sender_agency is '",
                                                               envelope.sender_agency(), "'"));
  } else if ((sender = registry_.Find(envelope.sender_agency())) == nullptr) {
    ingress_refusal = absl::UnauthenticatedError(
        absl::StrCat("ingress record ", where, ": agency '", envelope.sender_agency(), "' is not in the registry"));
  }
  if (sender == nullptr && sender_header.has_value()) sender = registry_.Find(*sender_header);

  Caller caller;
  caller.agency = sender;
  absl::StatusOr<v1::SubmitResponse> outcome;
  if (!ingress_refusal.ok()) {
    // Audited like every refusal; the audit write's own failure leaves the record unsettled.
    outcome = ingress_refusal;
    if (absl::Status audited = Refuse(caller, envelope.case_id(), ingress_refusal); audited.code() != ingress_refusal.code()) {
      return audited;
    }
  } else {
    outcome = Submit(caller, std::move(signed_envelope));  // not used below
    // The store could not commit: nothing happened; try the record again.
    if (outcome.status().code() == absl::StatusCode::kUnavailable) return outcome.status();
  }

  std::vector<BusRecord> records;
  const std::string case_id = envelope.case_id();
  const std::string status_name = absl::StatusCodeToString(outcome.status().code());
  if (sender != nullptr) {
    BusRecord answer;
    answer.topic = InboxTopic(prefix, sender->agency.id());
    answer.key = case_id;
    answer.headers = {{"kind", outcome.ok() ? "ingress-receipt" : "ingress-refusal"},
                      {"envelope-id", envelope.envelope_id()},
                      {"case-id", case_id},
                      {"status", status_name},
                      {"reason", std::string(outcome.status().message())},
                      {"duplicate", outcome.ok() && outcome->duplicate() ? "true" : "false"},
                      {"ingress-offset", where}};
    answer.value = outcome.ok() ? outcome->SerializeAsString() : message.value;
    records.push_back(std::move(answer));
  }
  if (!outcome.ok()) {
    BusRecord dlq;
    dlq.topic = DlqTopic(prefix);
    dlq.key = message.key;
    dlq.value = message.value;
    dlq.headers = {{"reason", std::string(outcome.status().message())},
                   {"status", status_name},
                   {"sender", sender_header.value_or("")},
                   {"envelope-id", envelope.envelope_id()},
                   {"ingress-topic", message.topic},
                   {"ingress-partition", absl::StrCat(message.partition)},
                   {"ingress-offset", absl::StrCat(message.offset)}};
    records.push_back(std::move(dlq));
  }
  if (absl::Status st = PublishAndWait(std::move(records)); !st.ok()) return st;
  if (absl::Status st = consumer_->Commit(message); !st.ok()) return st;
  if (outcome.ok()) {
    ++accepted_;
  } else {
    ++refused_;
  }
  return absl::OkStatus();
}

}  // namespace caselink
