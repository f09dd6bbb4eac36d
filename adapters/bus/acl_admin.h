// Kafka ACLs as plain values, and creating them on a cluster (Admin API CreateAcls). Used by
// the ACL tool that derives each agency's rights from the registry.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "adapters/bus/kafka_options.h"

namespace caselink {

// One ALLOW rule: `principal` may do `operation` on the resource from any host.
struct KafkaAcl {
  enum class Resource { kTopic, kGroup, kCluster };
  enum class Pattern { kLiteral, kPrefixed };
  Resource resource = Resource::kTopic;
  std::string name;  // topic or group name (or prefix); "kafka-cluster" for the cluster
  Pattern pattern = Pattern::kLiteral;
  std::string principal;  // "User:510100.psb"
  // Kafka's operation name: READ, WRITE, DESCRIBE, CREATE, IDEMPOTENT_WRITE.
  std::string operation;

  bool operator==(const KafkaAcl&) const = default;
};

// "ALLOW User:510100.psb READ topic caselink.inbox.510100.psb (literal)"
std::string DescribeAcl(const KafkaAcl& acl);

// Creates the ACLs (existing identical ones are kept: creating is idempotent). The client
// must be allowed to alter the cluster's ACLs (a super user). Errors name the first ACL the
// broker refused.
absl::Status CreateKafkaAcls(const KafkaClientOptions& client, absl::Span<const KafkaAcl> acls,
                             absl::Duration timeout);

}  // namespace caselink
