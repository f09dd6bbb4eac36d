// Registry -> Kafka ACLs. Inbox topics are literal names, never prefixes: "510100.ps" must not
// match "510100.psb".
#include "gateway/kafka_acls.h"

#include "absl/strings/str_cat.h"
#include "gateway/kafka_relay.h"

namespace caselink {
namespace {

KafkaAcl Acl(KafkaAcl::Resource resource, std::string name, KafkaAcl::Pattern pattern, const std::string& principal,
             const char* operation) {
  return KafkaAcl{resource, std::move(name), pattern, principal, operation};
}

}  // namespace

std::string AgencyGroupPrefix(const std::string& topic_prefix, const std::string& agency_id) {
  return absl::StrCat(topic_prefix, ".", agency_id, ".");
}

std::string GatewayIngressGroup(const std::string& topic_prefix) { return absl::StrCat(topic_prefix, ".gateway"); }

std::vector<KafkaAcl> KafkaAclsForRegistry(const v1::Registry& registry, const KafkaAclPolicy& policy) {
  using R = KafkaAcl::Resource;
  using P = KafkaAcl::Pattern;
  const std::string& prefix = policy.topic_prefix;
  const std::string events = EventsTopic(prefix);
  const std::string ingress = absl::StrCat(prefix, ".ingress");
  std::vector<KafkaAcl> acls;
  for (const v1::Agency& agency : registry.agencies()) {
    const std::string principal = absl::StrCat("User:", agency.id());
    const std::string inbox = InboxTopic(prefix, agency.id());
    for (const char* op : {"READ", "DESCRIBE"}) acls.push_back(Acl(R::kTopic, inbox, P::kLiteral, principal, op));
    acls.push_back(Acl(R::kGroup, AgencyGroupPrefix(prefix, agency.id()), P::kPrefixed, principal, "READ"));
    if (policy.events_readers.count(agency.kind()) != 0) {
      for (const char* op : {"READ", "DESCRIBE"}) acls.push_back(Acl(R::kTopic, events, P::kLiteral, principal, op));
    }
    for (const char* op : {"WRITE", "DESCRIBE"}) acls.push_back(Acl(R::kTopic, ingress, P::kLiteral, principal, op));
  }
  const std::string& gateway = policy.gateway_principal;
  // Topics it creates at start and checks: every <prefix>.* name.
  for (const char* op : {"CREATE", "DESCRIBE"}) {
    acls.push_back(Acl(R::kTopic, absl::StrCat(prefix, "."), P::kPrefixed, gateway, op));
  }
  acls.push_back(Acl(R::kTopic, absl::StrCat(prefix, ".inbox."), P::kPrefixed, gateway, "WRITE"));
  for (const char* suffix : {".events", ".audit", ".dlq"}) {
    acls.push_back(Acl(R::kTopic, absl::StrCat(prefix, suffix), P::kLiteral, gateway, "WRITE"));
  }
  acls.push_back(Acl(R::kTopic, ingress, P::kLiteral, gateway, "READ"));
  // The audit relay reads back its own last record at start.
  acls.push_back(Acl(R::kTopic, absl::StrCat(prefix, ".audit"), P::kLiteral, gateway, "READ"));
  acls.push_back(Acl(R::kGroup, GatewayIngressGroup(prefix), P::kLiteral, gateway, "READ"));
  acls.push_back(Acl(R::kCluster, "kafka-cluster", P::kLiteral, gateway, "IDEMPOTENT_WRITE"));
  return acls;
}

}  // namespace caselink
