// The Kafka ACLs derived from the registry: inboxes by literal name (a prefix would let
// "510100.ps" read "510100.psb"), each agency's own group prefix, events for the configured
// kinds only, and the gateway's rights.
#include <algorithm>
#include <string>
#include <vector>

#include "gateway/kafka_acls.h"
#include "gtest/gtest.h"

namespace caselink {
namespace {

using R = KafkaAcl::Resource;
using P = KafkaAcl::Pattern;

v1::Registry TwoAgencies() {
  v1::Registry registry;
  v1::Agency* psb = registry.add_agencies();
  psb->set_id("510100.psb");
  psb->set_kind(v1::PUBLIC_SECURITY);
  v1::Agency* pro = registry.add_agencies();
  pro->set_id("510100.pro");
  pro->set_kind(v1::PROCURATORATE);
  return registry;
}

bool Has(const std::vector<KafkaAcl>& acls, const KafkaAcl& wanted) {
  return std::find(acls.begin(), acls.end(), wanted) != acls.end();
}

std::vector<KafkaAcl> Of(const std::vector<KafkaAcl>& acls, const std::string& principal) {
  std::vector<KafkaAcl> out;
  std::copy_if(acls.begin(), acls.end(), std::back_inserter(out), [&](const KafkaAcl& a) { return a.principal == principal; });
  return out;
}

TEST(KafkaAclsTest, EachAgencyReadsOnlyItsOwnInboxByLiteralName) {
  KafkaAclPolicy policy;
  policy.topic_prefix = "cl";
  const std::vector<KafkaAcl> acls = KafkaAclsForRegistry(TwoAgencies(), policy);
  const std::vector<KafkaAcl> psb = Of(acls, "User:510100.psb");
  EXPECT_TRUE(Has(psb, {R::kTopic, "cl.inbox.510100.psb", P::kLiteral, "User:510100.psb", "READ"}));
  EXPECT_TRUE(Has(psb, {R::kGroup, "cl.510100.psb.", P::kPrefixed, "User:510100.psb", "READ"}));
  EXPECT_TRUE(Has(psb, {R::kTopic, "cl.ingress", P::kLiteral, "User:510100.psb", "WRITE"}));
  for (const KafkaAcl& acl : psb) {
    // Nothing of another agency, no prefixed topic grant, no read of events for the PSB.
    EXPECT_EQ(acl.name.find("510100.pro"), std::string::npos) << DescribeAcl(acl);
    if (acl.resource == R::kTopic) {
      EXPECT_EQ(acl.pattern, P::kLiteral) << DescribeAcl(acl);
    }
    EXPECT_NE(acl.name, "cl.events") << DescribeAcl(acl);
    EXPECT_FALSE(acl.resource == R::kTopic && acl.name == "cl.ingress" && acl.operation == "READ");
  }
}

TEST(KafkaAclsTest, EventsReadersFollowThePolicy) {
  KafkaAclPolicy policy;
  policy.topic_prefix = "cl";
  const KafkaAcl pro_events{R::kTopic, "cl.events", P::kLiteral, "User:510100.pro", "READ"};
  const KafkaAcl psb_events{R::kTopic, "cl.events", P::kLiteral, "User:510100.psb", "READ"};
  EXPECT_TRUE(Has(KafkaAclsForRegistry(TwoAgencies(), policy), pro_events));
  EXPECT_FALSE(Has(KafkaAclsForRegistry(TwoAgencies(), policy), psb_events));
  policy.events_readers = {v1::PUBLIC_SECURITY};
  EXPECT_FALSE(Has(KafkaAclsForRegistry(TwoAgencies(), policy), pro_events));
  EXPECT_TRUE(Has(KafkaAclsForRegistry(TwoAgencies(), policy), psb_events));
  policy.events_readers.clear();
  EXPECT_FALSE(Has(KafkaAclsForRegistry(TwoAgencies(), policy), pro_events));
}

TEST(KafkaAclsTest, TheGatewayWritesOutputsAndReadsIngressUnderItsPrefixOnly) {
  KafkaAclPolicy policy;
  policy.topic_prefix = "cl";
  const std::vector<KafkaAcl> gateway = Of(KafkaAclsForRegistry(TwoAgencies(), policy), "User:caselink-gateway");
  EXPECT_TRUE(Has(gateway, {R::kTopic, "cl.inbox.", P::kPrefixed, "User:caselink-gateway", "WRITE"}));
  for (const char* topic : {"cl.events", "cl.audit", "cl.dlq"}) {
    EXPECT_TRUE(Has(gateway, {R::kTopic, topic, P::kLiteral, "User:caselink-gateway", "WRITE"})) << topic;
  }
  EXPECT_TRUE(Has(gateway, {R::kTopic, "cl.ingress", P::kLiteral, "User:caselink-gateway", "READ"}));
  EXPECT_TRUE(Has(gateway, {R::kGroup, "cl.gateway", P::kLiteral, "User:caselink-gateway", "READ"}));
  EXPECT_TRUE(Has(gateway, {R::kTopic, "cl.", P::kPrefixed, "User:caselink-gateway", "CREATE"}));
  for (const KafkaAcl& acl : gateway) {
    if (acl.resource == R::kTopic) {
      EXPECT_EQ(acl.name.rfind("cl.", 0), 0u) << DescribeAcl(acl);
    }
    // It never reads an agency's inbox.
    EXPECT_FALSE(acl.operation == "READ" && acl.name.rfind("cl.inbox.", 0) == 0) << DescribeAcl(acl);
  }
}

}  // namespace
}  // namespace caselink
