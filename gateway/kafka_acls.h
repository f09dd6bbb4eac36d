// The Kafka ACLs that isolate agencies on the bus, derived from the registry: each agency
// reads only its own inbox with its own consumer groups and may write to the ingress topic;
// the gateway principal writes the inboxes, events, audit and dlq topics and reads ingress.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "adapters/bus/acl_admin.h"
#include "caselink/v1/common.pb.h"
#include "caselink/v1/config.pb.h"

namespace caselink {

struct KafkaAclPolicy {
  std::string topic_prefix = "caselink";
  // The gateway's principal: the CN of its Kafka client certificate (gateway/kafka.crt).
  std::string gateway_principal = "User:caselink-gateway";
  // Agencies of these kinds also read <prefix>.events (the procuratorate supervises).
  std::set<v1::AgencyKind> events_readers = {v1::PROCURATORATE};
};

// The consumer group prefix of an agency: "<prefix>.<agency-id>." (groups named e.g.
// "caselink.510100.psb.inbox-reader"). The gateway's ingress group is "<prefix>.gateway".
std::string AgencyGroupPrefix(const std::string& topic_prefix, const std::string& agency_id);
std::string GatewayIngressGroup(const std::string& topic_prefix);

// Agencies are User:<agency id>: the broker maps a certificate's CN to the principal, and
// the registry's TLS certificates carry the agency id as CN.
std::vector<KafkaAcl> KafkaAclsForRegistry(const v1::Registry& registry, const KafkaAclPolicy& policy);

}  // namespace caselink
