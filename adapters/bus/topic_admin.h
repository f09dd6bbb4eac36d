// Creates and checks Kafka topics before the relay publishes to them. Every call is bounded
// by its timeout: an unreachable cluster answers UNAVAILABLE, never a hang.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "adapters/bus/kafka_options.h"

struct rd_kafka_s;

namespace caselink {
namespace kafka_internal {
struct ClientContext;
}

struct TopicSpec {
  std::string name;
  int partitions = 1;
  int replication_factor = 1;
};

class TopicAdmin {
 public:
  static absl::StatusOr<std::unique_ptr<TopicAdmin>> Create(KafkaClientOptions options);
  ~TopicAdmin();
  TopicAdmin(const TopicAdmin&) = delete;
  TopicAdmin& operator=(const TopicAdmin&) = delete;

  // Creates the topics that do not exist yet (existing ones are kept as they are) and waits
  // until every partition of each has a leader.
  absl::Status CreateTopics(absl::Span<const TopicSpec> topics, absl::Duration timeout);

  // OK when every topic exists and all its partitions have a leader; NOT_FOUND naming the
  // missing ones otherwise.
  absl::Status VerifyTopics(absl::Span<const std::string> topics, absl::Duration timeout);

  // The partition count of an existing topic.
  absl::StatusOr<int> PartitionCount(const std::string& topic, absl::Duration timeout);

 private:
  struct ClientDeleter {
    void operator()(rd_kafka_s* rk) const;
  };

  TopicAdmin(KafkaClientOptions options, std::unique_ptr<kafka_internal::ClientContext> context);

  // Names of the requested topics that are missing or not ready, or an error status.
  // `timeout` is what the caller granted, for messages.
  absl::StatusOr<std::vector<std::string>> Missing(absl::Span<const std::string> topics, absl::Time deadline,
                                                   absl::Duration timeout);

  const KafkaClientOptions options_;
  const std::unique_ptr<kafka_internal::ClientContext> context_;
  std::unique_ptr<rd_kafka_s, ClientDeleter> client_;
};

}  // namespace caselink
