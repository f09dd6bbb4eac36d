// Helpers for the Kafka bus tests: a log sink that keeps librdkafka quiet, a recorder of
// delivery callbacks, a consumer that reads a topic back, and ACL grants for the SSL tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "adapters/bus/kafka_options.h"
#include "adapters/bus/publisher.h"

namespace caselink::testing {

// Keeps librdkafka's log lines for failure messages instead of printing them.
class LogCollector {
 public:
  KafkaLogSink Sink();
  std::string Text() const;

 private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
};

// Collects the status of every delivery callback, by the order the records were published.
class DeliveryRecorder {
 public:
  DeliveryCallback Callback(size_t index);
  void Reserve(size_t count);
  std::vector<absl::Status> statuses() const;
  size_t completed() const;

 private:
  mutable std::mutex mu_;
  std::vector<absl::Status> statuses_;
  std::vector<bool> done_;
  size_t completed_ = 0;
};

struct ConsumedRecord {
  int partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
};

// The group id ConsumeFromBeginning uses (nothing is committed under it).
inline constexpr char kTestConsumerGroup[] = "caselink-test-reader";

// Reads partitions [0, partitions) of `topic` from the beginning until `expected` records
// arrived or `timeout` passed (then returns what it has); an error the broker sends (e.g.
// authorization) is returned as a status.
// `group` is the consumer group id (nothing is committed under it).
absl::StatusOr<std::vector<ConsumedRecord>> ConsumeFromBeginning(const KafkaClientOptions& client,
                                                                 const std::string& topic, int partitions,
                                                                 size_t expected, absl::Duration timeout,
                                                                 const std::string& group = kTestConsumerGroup);

// Reads partitions [0, partitions) of `topic` from the beginning up to their end offsets as
// the broker reports them when the read starts: every record written before the call, however
// many that is. DEADLINE_EXCEEDED if they did not all arrive within `timeout`.
absl::StatusOr<std::vector<ConsumedRecord>> ConsumeToEnd(const KafkaClientOptions& client, const std::string& topic,
                                                         int partitions, absl::Duration timeout,
                                                         const std::string& group = kTestConsumerGroup);

// Lets `principal` (e.g. "User:510100.psb") perform `operations` ("WRITE", "READ", "DESCRIBE")
// on `topic` and read as kTestConsumerGroup, through a client that may create ACLs (the
// PLAINTEXT super user).
absl::Status AllowOnTopic(const KafkaClientOptions& admin_client, const std::string& topic,
                          const std::string& principal, const std::vector<std::string>& operations,
                          absl::Duration timeout);

// Reads `topic` as a member of `group` (subscribe, from the earliest offset, nothing
// committed) until `expected` records arrived or `timeout` passed; authorization errors for
// the topic or the group come back as a status.
absl::StatusOr<std::vector<ConsumedRecord>> ConsumeAsGroupMember(const KafkaClientOptions& client,
                                                                 const std::string& topic, const std::string& group,
                                                                 size_t expected, absl::Duration timeout);

// The offset `group` committed for `topic`[partition] (0 when it committed none).
absl::StatusOr<int64_t> CommittedOffset(const KafkaClientOptions& client, const std::string& group,
                                        const std::string& topic, int partition, absl::Duration timeout);

// A name no earlier run used: tests share one broker.
std::string UniqueTopic(const std::string& stem);

}  // namespace caselink::testing
