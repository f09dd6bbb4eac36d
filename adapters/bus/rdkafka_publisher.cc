// RdKafkaPublisher: librdkafka's idempotent producer behind the Publisher interface.
#include "adapters/bus/rdkafka_publisher.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "adapters/bus/rdkafka_client.h"

namespace caselink {
namespace {

using kafka_internal::ClientContext;

int64_t Millis(absl::Duration d) { return std::max<int64_t>(1, absl::ToInt64Milliseconds(d)); }

// How long retiring a producer may wait for the reports of the records it purged; purged
// reports are made locally, so this only bounds a misbehaving library.
constexpr absl::Duration kRetireBudget = absl::Seconds(5);

}  // namespace

struct RdKafkaPublisher::Pending {
  BusRecord record;  // librdkafka points at record.value until the report (no copy)
  DeliveryCallback on_delivery;
  uint64_t generation = 0;
  std::list<Pending*>::iterator position;
};

void RdKafkaPublisher::ProducerDeleter::operator()(rd_kafka_s* rk) const { rd_kafka_destroy(rk); }

RdKafkaPublisher::RdKafkaPublisher(RdKafkaPublisherOptions options)
    : options_(std::move(options)), context_(std::make_unique<ClientContext>()) {
  context_->log = options_.client.log;
  context_->log_max_severity = options_.client.log_max_severity;
  context_->owner = this;
}

absl::StatusOr<std::unique_ptr<RdKafkaPublisher>> RdKafkaPublisher::Create(RdKafkaPublisherOptions options) {
  if (auto s = kafka_internal::ValidateClientOptions(options.client); !s.ok()) return s;
  if (options.delivery_timeout < absl::Milliseconds(1)) {
    return absl::InvalidArgumentError("Kafka publisher: delivery_timeout must be positive");
  }
  if (options.max_pending_records < 1) {
    return absl::InvalidArgumentError("Kafka publisher: max_pending_records must be at least 1");
  }
  std::unique_ptr<RdKafkaPublisher> publisher(new RdKafkaPublisher(std::move(options)));
  auto producer = publisher->BuildProducer();
  if (!producer.ok()) return producer.status();
  publisher->producer_ = std::move(*producer);
  publisher->poll_thread_ = std::thread([p = publisher.get()] { p->PollLoop(); });
  return publisher;
}

RdKafkaPublisher::~RdKafkaPublisher() { Close(options_.shutdown_timeout); }

absl::StatusOr<RdKafkaPublisher::ProducerPtr> RdKafkaPublisher::BuildProducer() {
  auto conf = kafka_internal::NewClientConf(
      options_.client, context_.get(),
      {"enable.idempotence", "acks", "request.required.acks", "message.timeout.ms", "delivery.timeout.ms",
       "linger.ms", "queue.buffering.max.ms", "queue.buffering.max.messages", "dr_msg_cb", "dr_cb", "error_cb",
       "transactional.id"});
  if (!conf.ok()) return conf.status();
  // The outbox relies on these: no duplicates from retries, no loss of an acknowledged record.
  for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
           {"enable.idempotence", "true"},
           {"acks", "all"},
           {"message.timeout.ms", absl::StrCat(Millis(options_.delivery_timeout))},
           {"linger.ms", absl::StrCat(absl::ToInt64Milliseconds(options_.linger))},
           {"queue.buffering.max.messages", absl::StrCat(options_.max_pending_records)},
       }) {
    if (auto s = kafka_internal::SetProperty(conf->get(), name, value); !s.ok()) return s;
  }
  rd_kafka_conf_set_dr_msg_cb(conf->get(), &RdKafkaPublisher::OnDeliveryReport);
  rd_kafka_conf_set_error_cb(conf->get(), &RdKafkaPublisher::OnError);

  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), errstr, sizeof(errstr));
  if (rk == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("cannot create the Kafka producer: ", errstr));
  }
  (void)conf->release();  // rd_kafka_new took it
  return ProducerPtr(rk);
}

absl::Status RdKafkaPublisher::Publish(BusRecord record, DeliveryCallback on_delivery) {
  if (record.topic.empty()) return absl::InvalidArgumentError("Kafka publish: the record has no topic");
  auto pending = std::make_unique<Pending>();
  pending->record = std::move(record);
  pending->on_delivery = std::move(on_delivery);
  const std::string& topic = pending->record.topic;
  {
    std::lock_guard<std::mutex> lock(pending_mu_);
    if (closed_) return absl::FailedPreconditionError("Kafka publish: the publisher is closed");
    if (pending_.size() >= static_cast<size_t>(options_.max_pending_records)) {
      return absl::ResourceExhaustedError(absl::StrCat("Kafka publish: ", pending_.size(),
                                                       " records await delivery reports; retry after Flush"));
    }
    // Registered before producing: the report may arrive before producev returns.
    pending_.push_front(pending.get());
    pending->position = pending_.begin();
  }
  auto unregister = [&] {
    std::lock_guard<std::mutex> lock(pending_mu_);
    pending_.erase(pending->position);
    pending_cv_.notify_all();
  };

  std::shared_lock<std::shared_mutex> producer_lock(producer_mu_);
  if (producer_ == nullptr) {
    unregister();
    return absl::FailedPreconditionError("Kafka publish: the publisher is closed");
  }
  pending->generation = generation_;

  rd_kafka_headers_t* headers = nullptr;
  if (!pending->record.headers.empty()) {
    headers = rd_kafka_headers_new(pending->record.headers.size());
    for (const auto& [name, value] : pending->record.headers) {
      rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                          static_cast<ssize_t>(value.size()));
    }
  }
  const BusRecord& r = pending->record;
  rd_kafka_resp_err_t err = rd_kafka_producev(
      producer_.get(), RD_KAFKA_V_TOPIC(r.topic.c_str()),
      RD_KAFKA_V_KEY(r.key.empty() ? nullptr : r.key.data(), r.key.size()),
      RD_KAFKA_V_VALUE(const_cast<char*>(r.value.data()), r.value.size()), RD_KAFKA_V_MSGFLAGS(0),
      RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(pending.get()), RD_KAFKA_V_END);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    producer_lock.unlock();
    if (headers != nullptr) rd_kafka_headers_destroy(headers);  // still ours on failure
    unregister();
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
      return absl::UnavailableError(
          "Kafka publish: the producer hit a fatal error and is being rebuilt; retry the record");
    }
    return kafka_internal::ErrorStatus(err, absl::StrCat("Kafka publish to topic '", topic, "' refused"));
  }
  (void)pending.release();  // owned by librdkafka's report now
  return absl::OkStatus();
}

void RdKafkaPublisher::Complete(Pending* pending, absl::Status status) {
  if (pending->on_delivery) pending->on_delivery(std::move(status));
  {
    std::lock_guard<std::mutex> lock(pending_mu_);
    pending_.erase(pending->position);
    pending_cv_.notify_all();
  }
  delete pending;
}

void RdKafkaPublisher::OnDeliveryReport(rd_kafka_s* rk, const rd_kafka_message_s* message, void* opaque) {
  auto* self = static_cast<RdKafkaPublisher*>(static_cast<ClientContext*>(opaque)->owner);
  auto* pending = static_cast<Pending*>(message->_private);
  if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    self->Complete(pending, absl::OkStatus());
    return;
  }
  char text[16];
  if (rd_kafka_fatal_error(rk, text, sizeof(text)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    // A fatal producer fails its records itself. Their callbacks wait until the rebuilt
    // producer is in place (Retire runs them), so a retry never meets the dead one.
    self->fatal_raised_ = true;
    return;
  }
  absl::Status status;
  if (message->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || message->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) {
    status = self->purge_reason_.ok() ? kafka_internal::ErrorStatus(message->err, "Kafka record purged before "
                                                                                  "the broker acknowledged it")
                                      : self->purge_reason_;
  } else {
    status = kafka_internal::ErrorStatus(
        message->err, absl::StrCat("Kafka delivery to topic '", pending->record.topic, "' failed"));
  }
  self->Complete(pending, std::move(status));
}

void RdKafkaPublisher::OnError(rd_kafka_s* rk, int err, const char* reason, void* opaque) {
  auto* context = static_cast<ClientContext*>(opaque);
  auto* self = static_cast<RdKafkaPublisher*>(context->owner);
  const auto code = static_cast<rd_kafka_resp_err_t>(err);
  if (code == RD_KAFKA_RESP_ERR__FATAL) {
    // Served on the poll thread, which rebuilds the producer right after this poll.
    self->fatal_raised_ = true;
  }
  kafka_internal::Log(*context, 3,
                      absl::StrCat(rd_kafka_name(rk), " error: ", reason, " (", rd_kafka_err2name(code), ")"));
}

void RdKafkaPublisher::PollLoop() {
  while (!stop_polling_.load()) {
    rd_kafka_poll(producer_.get(), 100);
    if (fatal_raised_.load() && absl::Now() >= next_rebuild_) RecoverFromFatalError();
  }
}

void RdKafkaPublisher::RecoverFromFatalError() {
  char text[512] = "";
  rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(producer_.get(), text, sizeof(text));
  if (fatal == RD_KAFKA_RESP_ERR_NO_ERROR) {
    // Raised by late reports of a producer already retired: the current one is healthy.
    fatal_raised_ = false;
    return;
  }
  const absl::StatusCode fatal_code = kafka_internal::ErrorCode(fatal);
  // Credentials that the cluster refuses stay refused; anything else is worth a retry.
  const absl::StatusCode code =
      (fatal_code == absl::StatusCode::kPermissionDenied || fatal_code == absl::StatusCode::kUnauthenticated)
          ? fatal_code
          : absl::StatusCode::kUnavailable;
  absl::Status reason(code, absl::StrCat("Kafka producer fatal error: ", text, " (", rd_kafka_err2name(fatal),
                                         "); the record was not acknowledged and the producer was rebuilt, "
                                         "retry it"));
  kafka_internal::Log(*context_, 3, reason.message());

  // Each quick repeat doubles the pause before the next rebuild, up to 30 s.
  const absl::Time now = absl::Now();
  rebuild_backoff_ = (now - last_rebuild_ < absl::Seconds(10))
                         ? std::min(absl::Seconds(30), std::max(absl::Milliseconds(200), 2 * rebuild_backoff_))
                         : absl::ZeroDuration();
  auto fresh = BuildProducer();
  if (!fresh.ok()) {
    kafka_internal::Log(*context_, 3, absl::StrCat("cannot rebuild the Kafka producer: ", fresh.status().message()));
    next_rebuild_ = now + std::max(absl::Seconds(1), rebuild_backoff_);
    return;  // fatal_raised_ stays set: try again later
  }
  fatal_raised_ = false;
  last_rebuild_ = now;
  next_rebuild_ = now + rebuild_backoff_;

  ProducerPtr old;
  uint64_t old_generation;
  {
    std::unique_lock<std::shared_mutex> lock(producer_mu_);
    old = std::move(producer_);
    producer_ = std::move(*fresh);
    old_generation = generation_++;
  }
  rebuilds_.fetch_add(1);
  // Retries from the callbacks already go to the new producer.
  Retire(std::move(old), old_generation, std::move(reason));
}

void RdKafkaPublisher::Retire(ProducerPtr producer, uint64_t generation, absl::Status reason) {
  purge_reason_ = std::move(reason);
  rd_kafka_purge(producer.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  const absl::Time deadline = absl::Now() + kRetireBudget;
  while (rd_kafka_outq_len(producer.get()) > 0 && absl::Now() < deadline) rd_kafka_poll(producer.get(), 50);
  producer.reset();

  // Whatever librdkafka did not report is failed here, so every callback runs exactly once.
  std::vector<Pending*> orphans;
  {
    std::lock_guard<std::mutex> lock(pending_mu_);
    for (Pending* p : pending_) {
      if (p->generation == generation) orphans.push_back(p);
    }
  }
  for (Pending* p : orphans) Complete(p, purge_reason_);
}

size_t RdKafkaPublisher::Flush(absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(pending_mu_);
  pending_cv_.wait_for(lock, absl::ToChronoNanoseconds(std::max(timeout, absl::ZeroDuration())),
                       [&] { return pending_.empty(); });
  return pending_.size();
}

size_t RdKafkaPublisher::Close(absl::Duration timeout) {
  {
    std::lock_guard<std::mutex> lock(pending_mu_);
    if (closed_) return 0;
    closed_ = true;
  }
  const size_t left = Flush(timeout);
  stop_polling_ = true;
  if (poll_thread_.joinable()) poll_thread_.join();

  ProducerPtr producer;
  uint64_t generation;
  {
    std::unique_lock<std::shared_mutex> lock(producer_mu_);
    producer = std::move(producer_);
    generation = generation_;
  }
  if (producer != nullptr) {
    Retire(std::move(producer), generation,
           absl::UnavailableError("Kafka publisher closed before the broker acknowledged the record; retry it"));
  }
  return left;
}

absl::Status RdKafkaPublisher::TriggerFatalErrorForTesting(absl::string_view reason) {
  std::shared_lock<std::shared_mutex> lock(producer_mu_);
  if (producer_ == nullptr) return absl::FailedPreconditionError("the publisher is closed");
  std::string text(reason);
  rd_kafka_resp_err_t err =
      rd_kafka_test_fatal_error(producer_.get(), RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, text.c_str());
  return kafka_internal::ErrorStatus(err, "cannot raise a test fatal error");
}

}  // namespace caselink
