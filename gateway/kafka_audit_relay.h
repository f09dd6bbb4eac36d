// Publishes the audit log to Kafka: every audit entry in index order, then each newly signed
// tree head, on <prefix>.audit. Never loses an entry: a cursor file in the data directory
// advances only over entries the broker acknowledged without a gap, so after a crash or a
// failed record the relay resends from there (consumers deduplicate by the audit-index header).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "adapters/bus/publisher.h"
#include "adapters/store/store.h"

namespace caselink {

std::string AuditTopic(const std::string& prefix);

struct KafkaAuditRelayOptions {
  std::string topic;        // <prefix>.audit
  std::string cursor_file;  // <data dir>/kafka-audit.cursor
  // The audit log has no change notification: the relay looks this often.
  absl::Duration poll_interval = absl::Milliseconds(200);
  uint32_t batch = 500;
  uint32_t max_in_flight = 5000;
};

// Record layout, all with key "audit" (one partition, so order holds whatever the topic's
// partition count). Entries: value = serialized AuditEntry (index, canonical record, leaf
// hash), headers kind=audit-entry, audit-index, leaf-hash (hex). Tree heads: value =
// serialized SignedTreeHead, headers kind=tree-head, tree-size; published only after every
// entry below tree-size was acknowledged.
class KafkaAuditRelay {
 public:
  KafkaAuditRelay(Store& store, Publisher& publisher, KafkaAuditRelayOptions options);
  ~KafkaAuditRelay();
  KafkaAuditRelay(const KafkaAuditRelay&) = delete;
  KafkaAuditRelay& operator=(const KafkaAuditRelay&) = delete;

  // Reads the cursor file (absent: from index 0) and starts the relay thread.
  absl::Status Start();
  // Publishes what the log holds now (the stop record, the final head), waits up to
  // `timeout` for the reports and saves the cursor; returns how many entries are still
  // unacknowledged (they go out after the next start). Idempotent.
  uint64_t Stop(absl::Duration timeout);

  // Every entry below this index is acknowledged by the broker.
  uint64_t acknowledged_through() const;

 private:
  void Run();
  // One pass: hands entries (and a due tree head) to the publisher. Relay thread or Stop.
  void PublishPending();
  void OnEntryDone(uint64_t index, absl::Status status);
  void SaveCursor();

  Store& store_;
  Publisher& publisher_;
  const KafkaAuditRelayOptions options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool stopped_ = false;
  uint64_t next_ = 0;           // next index to hand to the publisher
  uint64_t acked_through_ = 0;  // contiguous acknowledged prefix
  std::set<uint64_t> acked_;    // acknowledged beyond the prefix
  uint64_t in_flight_ = 0;
  bool failed_ = false;          // a record failed: resend from acked_through_ once settled
  uint64_t head_published_ = 0;  // tree size of the last head handed over
  uint64_t saved_cursor_ = UINT64_MAX;

  std::thread thread_;
};

}  // namespace caselink
