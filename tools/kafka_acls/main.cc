// caselink-kafka-acls: applies the Kafka ACLs that isolate agencies on the bus, derived from
// the gateway's registry (gateway/kafka_acls.h). Called by ops/kafka-acls.sh.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "adapters/bus/acl_admin.h"
#include "gateway/config.h"
#include "gateway/kafka_acls.h"
#include "gateway/kafka_relay.h"

namespace {

constexpr char kUsage[] =
    "usage: caselink-kafka-acls --config GATEWAY_YAML [options]\n"
    "\n"
    "Creates the Kafka ACLs of every agency in the gateway's registry:\n"
    "  User:<agency>  READ+DESCRIBE topic <prefix>.inbox.<agency> (literal),\n"
    "                 READ group <prefix>.<agency>. (prefixed),\n"
    "                 WRITE+DESCRIBE topic <prefix>.ingress;\n"
    "                 agencies of an events-reader kind also READ+DESCRIBE <prefix>.events;\n"
    "  the gateway    CREATE+DESCRIBE <prefix>.* topics, WRITE the inboxes, events, audit and dlq,\n"
    "                 READ ingress (group <prefix>.gateway) and audit, IDEMPOTENT_WRITE.\n"
    "Creating an ACL that exists is a no-op, so it can run after every registry change.\n"
    "\n"
    "Options:\n"
    "  --config FILE            gateway.yaml: its registry and kafka.topic_prefix\n"
    "  --bootstrap HOST:PORT    where to create the ACLs (default: kafka.bootstrap_servers);\n"
    "                           the client must be a super user (the dev broker's PLAINTEXT listener)\n"
    "  --ca FILE --cert FILE --key FILE   connect over TLS with this identity instead\n"
    "  --prefix PREFIX          topic prefix (default: the config's, else caselink)\n"
    "  --gateway-principal P    default User:caselink-gateway\n"
    "  --events-reader KIND     PROCURATORATE (default), PUBLIC_SECURITY, ENVIRONMENT_BUREAU, COURT;\n"
    "                           repeatable; 'none' for nobody\n"
    "  --timeout SECONDS        default 30\n"
    "  --dry-run                print the ACLs, change nothing\n";

int Fail(const std::string& message) {
  std::fprintf(stderr, "caselink-kafka-acls: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace caselink;
  std::string config_path, bootstrap, prefix, ca, cert, key;
  KafkaAclPolicy policy;
  bool events_readers_given = false, dry_run = false;
  int timeout_seconds = 30;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "caselink-kafka-acls: %s needs a value\n%s", arg.c_str(), kUsage);
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--config") {
      config_path = value();
    } else if (arg == "--bootstrap") {
      bootstrap = value();
    } else if (arg == "--ca") {
      ca = value();
    } else if (arg == "--cert") {
      cert = value();
    } else if (arg == "--key") {
      key = value();
    } else if (arg == "--prefix") {
      prefix = value();
    } else if (arg == "--gateway-principal") {
      policy.gateway_principal = value();
    } else if (arg == "--events-reader") {
      if (!events_readers_given) policy.events_readers.clear();
      events_readers_given = true;
      const std::string kind = value();
      if (kind == "none") continue;
      v1::AgencyKind parsed;
      if (!v1::AgencyKind_Parse(kind, &parsed) || parsed == v1::AGENCY_KIND_UNSPECIFIED) {
        return Fail(absl::StrCat("unknown agency kind '", kind,
                                 "' (PROCURATORATE, PUBLIC_SECURITY, ENVIRONMENT_BUREAU, COURT or none)"));
      }
      policy.events_readers.insert(parsed);
    } else if (arg == "--timeout") {
      if (!absl::SimpleAtoi(value(), &timeout_seconds) || timeout_seconds <= 0) return Fail("--timeout needs whole seconds > 0");
    } else if (arg == "--dry-run") {
      dry_run = true;
    } else if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      std::fprintf(stderr, "caselink-kafka-acls: unknown argument '%s'\n%s", arg.c_str(), kUsage);
      return 2;
    }
  }
  if (config_path.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  auto config = LoadGatewayConfig(config_path);
  if (!config.ok()) return Fail(std::string(config.status().message()));
  auto registry = LoadRegistryFile(config->registry_file());
  if (!registry.ok()) return Fail(std::string(registry.status().message()));
  const v1::KafkaConfig kafka = KafkaConfigWithDefaults(config->kafka());
  policy.topic_prefix = prefix.empty() ? kafka.topic_prefix() : prefix;
  const std::vector<KafkaAcl> acls = KafkaAclsForRegistry(*registry, policy);
  for (const KafkaAcl& acl : acls) std::printf("%s\n", DescribeAcl(acl).c_str());
  if (dry_run) return 0;

  KafkaClientOptions client;
  client.bootstrap_servers = bootstrap.empty() ? kafka.bootstrap_servers() : bootstrap;
  client.client_id = "caselink-kafka-acls";
  if (client.bootstrap_servers.empty()) return Fail("no broker: pass --bootstrap or set kafka.bootstrap_servers in the config");
  if (!ca.empty()) client.tls = KafkaTlsOptions{ca, cert, key};
  if (auto st = CreateKafkaAcls(client, acls, absl::Seconds(timeout_seconds)); !st.ok()) {
    return Fail(absl::StrCat(st.ToString(), " (is the client a super user of the cluster?)"));
  }
  std::printf("applied %zu ACLs for %d agencies at %s (prefix %s)\n", acls.size(), registry->agencies_size(),
              client.bootstrap_servers.c_str(), policy.topic_prefix.c_str());
  return 0;
}
