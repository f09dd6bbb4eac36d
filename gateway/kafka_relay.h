// Relays the store's delivery outbox to Kafka: every delivery row becomes a record on its
// recipient's inbox topic and is marked published only after the broker acknowledged it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "adapters/bus/publisher.h"
#include "adapters/bus/topic_admin.h"
#include "adapters/store/store.h"
#include "caselink/v1/config.pb.h"
#include "gateway/delivery_hub.h"

namespace caselink {

// Topic names of a prefix, e.g. "caselink.inbox.510100.psb".
std::string InboxTopic(const std::string& prefix, const std::string& agency_id);
std::string EventsTopic(const std::string& prefix);

// The topics the gateway needs: one inbox per agency plus events, audit, dlq and ingress.
std::vector<TopicSpec> GatewayTopics(const v1::KafkaConfig& config, const std::vector<std::string>& agency_ids);

// KafkaConfig with defaults applied (prefix "caselink", one partition, replication 1).
v1::KafkaConfig KafkaConfigWithDefaults(v1::KafkaConfig config);

// The client options of the gateway's own Kafka identity.
KafkaClientOptions KafkaClientOptionsFrom(const v1::KafkaConfig& config);

struct KafkaRelayOptions {
  std::string topic_prefix = "caselink";
  // The relay also wakes on this timer, so a lost notification only delays a record.
  absl::Duration poll_interval = absl::Milliseconds(200);
  // Rows read per scan, and the most records handed to the publisher but not yet marked.
  uint32_t batch = 500;
  uint32_t max_in_flight = 20000;
  // Pause after the publisher refused a record (queue full, rebuilding).
  absl::Duration retry_pause = absl::Milliseconds(500);
};

// Record layout. Inbox: key = case id; value = the serialized SignedEnvelope; headers
// kind=envelope, envelope-id, case-id, action, sender, reason, delivery-sequence. A delivery
// without an envelope (a deadline ALERT) carries the serialized Delivery with kind=alert.
// Events: one record per envelope (at least once: after a restart mid-envelope it may
// repeat; consumers deduplicate by envelope-id), key = case id, value = SignedEnvelope.
//
// Per-case order is strict even when a record fails: a case's rows of a later envelope are
// handed to the publisher only once every row of its earlier envelope has a delivery report,
// and after a failed report the case is held until the failed row was handed over again.
// The producer's idempotence keeps order within retried batches; this covers what it cannot
// (message timeouts, a rebuilt producer). Different cases still go out in parallel.
class KafkaRelay final : public DeliveryListener {
 public:
  KafkaRelay(Store& store, Publisher& publisher, KafkaRelayOptions options);
  ~KafkaRelay() override;
  KafkaRelay(const KafkaRelay&) = delete;
  KafkaRelay& operator=(const KafkaRelay&) = delete;

  // Starts the relay thread.
  void Start();
  // Wakes the relay; never blocks (DeliveryHub calls it on its thread).
  void OnDeliveriesAvailable() override;
  // Stops the thread, lets the publisher deliver what it holds for up to `timeout`, marks
  // what was acknowledged, and returns how many deliveries are still unpublished (they
  // are sent after the next start). Call before the store shuts down. Idempotent.
  uint64_t Stop(absl::Duration timeout);

  // Deliveries marked published by this relay so far.
  uint64_t published() const;
  // Rows held back so far because an earlier row of the same case had no report yet or had
  // failed (a measure of how often strict per-case order costs a pass).
  uint64_t held_back() const;

 private:
  struct InFlight;

  void Run();
  // Hands unpublished rows to the publisher; false when the publisher refused one.
  bool PublishBacklog();
  void OnRecordDone(const std::shared_ptr<InFlight>& flight, absl::Status status);
  // Marks acknowledged rows through Store::Write; `wait`: block until durable.
  void MarkAcknowledged(bool wait);

  Store& store_;
  Publisher& publisher_;
  const KafkaRelayOptions options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool wake_ = false;
  bool stopping_ = false;
  bool stopped_ = false;
  // Sequences handed to the publisher whose publication is not yet durable in the store.
  std::set<uint64_t> in_flight_;
  std::vector<uint64_t> acknowledged_;  // reported OK, not yet being marked
  bool rewind_ = false;                 // a record failed: rescan from the start
  uint64_t published_ = 0;
  uint64_t held_back_ = 0;
  std::string last_event_envelope_;  // relay thread only

  // Per case: rows handed to the publisher without a report yet (all of one envelope, see the
  // class comment) and the lowest failed row still to be sent again.
  struct CaseGate {
    int in_flight = 0;
    std::string envelope_id;
    uint64_t failed_from = UINT64_MAX;
  };
  // Whether `row` must wait for an earlier row of its case; guarded by mu_.
  bool MustHold(const v1::Delivery& row) const;
  // A row of `case_id` got its report (or was refused); guarded by mu_.
  void SettleGate(const std::string& case_id, uint64_t sequence, bool failed);
  std::map<std::string, CaseGate> gates_;  // guarded by mu_; only cases with something pending

  std::thread thread_;
};

}  // namespace caselink
