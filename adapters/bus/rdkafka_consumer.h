// A Kafka consumer in a consumer group with manual offset commits: the caller commits a
// record's offset only after it has made the record's effects durable.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "adapters/bus/kafka_options.h"

struct rd_kafka_s;

namespace caselink {
namespace kafka_internal {
struct ClientContext;
}

struct BusMessage {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;

  // The first header named `name`, if any.
  std::optional<std::string> Header(const std::string& name) const;
};

struct RdKafkaConsumerOptions {
  KafkaClientOptions client;
  std::string group_id;
  std::vector<std::string> topics;
  // Static membership (group.instance.id): a restarted consumer with the same id takes its
  // partitions back at once instead of waiting for the old session to expire. Empty: dynamic.
  std::string instance_id;
  // How long the group waits for a silent member before giving its partitions away.
  absl::Duration session_timeout = absl::Seconds(10);
};

class RdKafkaConsumer {
 public:
  // Builds the consumer and subscribes; joining the group happens in Poll. A group without
  // committed offsets starts at the earliest record.
  static absl::StatusOr<std::unique_ptr<RdKafkaConsumer>> Create(RdKafkaConsumerOptions options);
  ~RdKafkaConsumer();
  RdKafkaConsumer(const RdKafkaConsumer&) = delete;
  RdKafkaConsumer& operator=(const RdKafkaConsumer&) = delete;

  // The next record, nullopt when none arrived within `timeout`, or the error the broker
  // reported (authorization, unknown topic, ...). Transient transport errors are nullopt:
  // librdkafka reconnects by itself.
  absl::StatusOr<std::optional<BusMessage>> Poll(absl::Duration timeout);

  // Commits `message.offset + 1` for its partition, synchronously: when this returns OK the
  // group resumes after `message`.
  absl::Status Commit(const BusMessage& message);

  // Rewinds the partition to `message` so that the next Poll returns it again (after a
  // failure that must not skip it).
  absl::Status Rewind(const BusMessage& message);

  // Leaves the group (without committing anything). Idempotent.
  void Close();

 private:
  RdKafkaConsumer(RdKafkaConsumerOptions options, std::unique_ptr<kafka_internal::ClientContext> context);

  const RdKafkaConsumerOptions options_;
  const std::unique_ptr<kafka_internal::ClientContext> context_;
  rd_kafka_s* rk_ = nullptr;
  bool closed_ = false;
};

}  // namespace caselink
