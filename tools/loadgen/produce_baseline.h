// The raw Kafka produce rate of this machine and broker, measured by the load
// generator right before a Kafka-mode run: the same record size, partitions and
// producer settings (acks=all, idempotence) as the gateway's relay, without the gateway.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace caselink::loadgen {

struct ProduceBaselineOptions {
  std::string bootstrap_servers;  // PLAINTEXT "host:port[,...]"
  std::string topic;              // created with `partitions` partitions if missing
  int partitions = 3;
  bool create_topic = true;       // false: the topic exists already
  size_t record_bytes = 1024;     // value size; headers like the relay's inbox records
  absl::Duration duration = absl::Seconds(3);
  // Records handed to the producer but not yet acknowledged, as the relay's max_in_flight.
  int max_in_flight = 20000;
  // How long a record may wait for its acknowledgement before it counts as failed.
  absl::Duration delivery_timeout = absl::Seconds(30);
};

struct ProduceBaseline {
  size_t records = 0;         // acknowledged by the broker
  size_t failed = 0;          // delivery reports with an error
  double seconds = 0;         // first produce to last acknowledgement
  double records_per_second = 0;
};

// Produces distinct-key records through RdKafkaPublisher (the gateway's publisher:
// acks=all, enable.idempotence=true, linger 25 ms) for about `duration`, then waits
// for every report. Fails if the topic cannot be created or nothing was acknowledged.
absl::StatusOr<ProduceBaseline> MeasureProduceBaseline(const ProduceBaselineOptions& options);

// How many records the broker holds in the topics whose names start with
// `topic_prefix` (sum of high watermarks over their partitions): what the relay has
// published so far, because an idempotent producer without transactions writes one
// offset per record.
absl::StatusOr<uint64_t> CountTopicRecords(const std::string& bootstrap_servers, const std::string& topic_prefix);

}  // namespace caselink::loadgen
