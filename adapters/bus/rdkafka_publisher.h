// Publisher on Apache Kafka through librdkafka: an idempotent producer (acks=all) with its
// own poll thread, delivery reports mapped to absl::Status, and recovery from fatal errors
// by rebuilding the producer.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "adapters/bus/kafka_options.h"
#include "adapters/bus/publisher.h"

struct rd_kafka_s;
struct rd_kafka_message_s;

namespace caselink {
namespace kafka_internal {
struct ClientContext;
}

struct RdKafkaPublisherOptions {
  KafkaClientOptions client;
  // How long librdkafka retries a record before reporting it failed (message.timeout.ms).
  absl::Duration delivery_timeout = absl::Seconds(30);
  // How long records wait to be batched (linger.ms). Callers are answered
  // once their handoff is in the store, not once it reaches Kafka, so this
  // only delays consumers; larger batches cost the broker less per record
  // (at ~7,000 handoffs/s on one machine, 25 ms took its CPU per handoff
  // from ~32 to ~25 µs against 5 ms).
  absl::Duration linger = absl::Milliseconds(25);
  // Records accepted but not yet reported, beyond which Publish answers RESOURCE_EXHAUSTED.
  int max_pending_records = 100000;
  // The destructor closes the publisher with this flush budget.
  absl::Duration shutdown_timeout = absl::Seconds(10);
};

class RdKafkaPublisher final : public Publisher {
 public:
  // Validates the options (TLS files must be readable), builds the producer and starts the
  // poll thread. Connecting to the brokers happens in the background.
  static absl::StatusOr<std::unique_ptr<RdKafkaPublisher>> Create(RdKafkaPublisherOptions options);

  ~RdKafkaPublisher() override;
  RdKafkaPublisher(const RdKafkaPublisher&) = delete;
  RdKafkaPublisher& operator=(const RdKafkaPublisher&) = delete;

  absl::Status Publish(BusRecord record, DeliveryCallback on_delivery) override;
  size_t Flush(absl::Duration timeout) override;
  size_t Close(absl::Duration timeout) override;

  // How many times a fatal producer error made the publisher build a new producer.
  int producer_rebuilds() const { return rebuilds_.load(); }

  // Raises a fatal error in the current producer, as a broker could (librdkafka's test hook),
  // so tests can prove that the publisher fails the records in flight and rebuilds.
  absl::Status TriggerFatalErrorForTesting(absl::string_view reason);

 private:
  struct Pending;
  struct ProducerDeleter {
    void operator()(rd_kafka_s* rk) const;
  };
  using ProducerPtr = std::unique_ptr<rd_kafka_s, ProducerDeleter>;

  explicit RdKafkaPublisher(RdKafkaPublisherOptions options);

  absl::StatusOr<ProducerPtr> BuildProducer();
  void PollLoop();
  void RecoverFromFatalError();
  // Purges `producer`, serves its remaining delivery reports, destroys it and fails any
  // record of `generation` that still has no report, with `reason`.
  void Retire(ProducerPtr producer, uint64_t generation, absl::Status reason);
  void Complete(Pending* pending, absl::Status status);

  static void OnDeliveryReport(rd_kafka_s* rk, const rd_kafka_message_s* message, void* opaque);
  static void OnError(rd_kafka_s* rk, int err, const char* reason, void* opaque);

  const RdKafkaPublisherOptions options_;
  const std::unique_ptr<kafka_internal::ClientContext> context_;  // conf opaque of each producer

  // Publish holds it shared while producing; the poll thread holds it exclusively only to
  // swap in a rebuilt producer.
  std::shared_mutex producer_mu_;
  ProducerPtr producer_;
  uint64_t generation_ = 0;  // guarded by producer_mu_

  std::mutex pending_mu_;
  std::condition_variable pending_cv_;
  std::list<Pending*> pending_;  // accepted records without a callback yet
  bool closed_ = false;          // guarded by pending_mu_

  // Why purged records failed; set by whoever purges, before serving the reports.
  absl::Status purge_reason_;

  std::atomic<bool> fatal_raised_{false};
  std::atomic<bool> stop_polling_{false};
  std::atomic<int> rebuilds_{0};
  // Poll thread only: a producer that keeps failing fatally is rebuilt with growing pauses.
  absl::Time last_rebuild_ = absl::InfinitePast();
  absl::Time next_rebuild_ = absl::InfinitePast();
  absl::Duration rebuild_backoff_ = absl::ZeroDuration();
  std::thread poll_thread_;
};

}  // namespace caselink
