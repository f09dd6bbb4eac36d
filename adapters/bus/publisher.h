// The bus publisher: records leave asynchronously and the truth about each one arrives
// later in its delivery callback. Implementations: RdKafkaPublisher (Kafka).
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/time/time.h"

namespace caselink {

struct BusRecord {
  std::string topic;
  std::string key;  // records with one key stay in order; empty: no key
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Runs exactly once per accepted record: OK once the broker acknowledged it durably, or the
// error that failed it (the caller keeps the record pending and retries). Called on the
// publisher's poll thread (or in Close()); it must not block and must not call Flush/Close.
using DeliveryCallback = absl::AnyInvocable<void(absl::Status)>;

class Publisher {
 public:
  virtual ~Publisher() = default;

  // Enqueues the record. A non-OK status means it was not accepted (queue full, publisher
  // closed, fatal error being recovered) and `on_delivery` will never run.
  virtual absl::Status Publish(BusRecord record, DeliveryCallback on_delivery) = 0;

  // Waits until every accepted record has had its callback or `timeout` passed; returns how
  // many records are still undelivered.
  virtual size_t Flush(absl::Duration timeout) = 0;

  // Stops accepting records, flushes for up to `timeout`, then fails what is left (their
  // callbacks run with UNAVAILABLE) and returns how many records that was. Idempotent.
  virtual size_t Close(absl::Duration timeout) = 0;
};

}  // namespace caselink
