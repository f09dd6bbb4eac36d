// CreateAcls through librdkafka's Admin API.
#include "adapters/bus/acl_admin.h"

#include <librdkafka/rdkafka.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "adapters/bus/rdkafka_client.h"

namespace caselink {
namespace {

using kafka_internal::ClientContext;

absl::StatusOr<rd_kafka_AclOperation_t> Operation(const std::string& name) {
  if (name == "READ") return RD_KAFKA_ACL_OPERATION_READ;
  if (name == "WRITE") return RD_KAFKA_ACL_OPERATION_WRITE;
  if (name == "DESCRIBE") return RD_KAFKA_ACL_OPERATION_DESCRIBE;
  if (name == "CREATE") return RD_KAFKA_ACL_OPERATION_CREATE;
  if (name == "IDEMPOTENT_WRITE") return RD_KAFKA_ACL_OPERATION_IDEMPOTENT_WRITE;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown Kafka ACL operation '", name, "' (READ, WRITE, DESCRIBE, CREATE, IDEMPOTENT_WRITE)"));
}

const char* ResourceName(KafkaAcl::Resource r) {
  switch (r) {
    case KafkaAcl::Resource::kTopic:
      return "topic";
    case KafkaAcl::Resource::kGroup:
      return "group";
    case KafkaAcl::Resource::kCluster:
      return "cluster";
  }
  return "?";
}

}  // namespace

std::string DescribeAcl(const KafkaAcl& acl) {
  return absl::StrCat("ALLOW ", acl.principal, " ", acl.operation, " ", ResourceName(acl.resource), " ", acl.name,
                      acl.pattern == KafkaAcl::Pattern::kPrefixed ? " (prefixed)" : " (literal)");
}

absl::Status CreateKafkaAcls(const KafkaClientOptions& client, absl::Span<const KafkaAcl> acls,
                             absl::Duration timeout) {
  ClientContext context;
  context.log = client.log;
  context.log_max_severity = client.log_max_severity;
  auto conf = kafka_internal::NewClientConf(client, &context, {});
  if (!conf.ok()) return conf.status();
  char errstr[512];
  rd_kafka_t* raw = rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), errstr, sizeof(errstr));
  if (raw == nullptr) return absl::InvalidArgumentError(absl::StrCat("cannot create the Kafka admin client: ", errstr));
  (void)conf->release();  // rd_kafka_new took it
  std::unique_ptr<rd_kafka_t, decltype(&rd_kafka_destroy)> rk(raw, &rd_kafka_destroy);

  std::vector<rd_kafka_AclBinding_t*> bindings;
  auto cleanup = [&] {
    for (auto* b : bindings) rd_kafka_AclBinding_destroy(b);
  };
  for (const KafkaAcl& acl : acls) {
    auto operation = Operation(acl.operation);
    if (!operation.ok()) {
      cleanup();
      return operation.status();
    }
    const rd_kafka_ResourceType_t type = acl.resource == KafkaAcl::Resource::kTopic   ? RD_KAFKA_RESOURCE_TOPIC
                                         : acl.resource == KafkaAcl::Resource::kGroup ? RD_KAFKA_RESOURCE_GROUP
                                                                                      : RD_KAFKA_RESOURCE_BROKER;
    const rd_kafka_ResourcePatternType_t pattern = acl.pattern == KafkaAcl::Pattern::kPrefixed
                                                       ? RD_KAFKA_RESOURCE_PATTERN_PREFIXED
                                                       : RD_KAFKA_RESOURCE_PATTERN_LITERAL;
    rd_kafka_AclBinding_t* binding =
        rd_kafka_AclBinding_new(type, acl.name.c_str(), pattern, acl.principal.c_str(), "*", *operation,
                                RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW, errstr, sizeof(errstr));
    if (binding == nullptr) {
      cleanup();
      return absl::InvalidArgumentError(absl::StrCat(DescribeAcl(acl), ": ", errstr));
    }
    bindings.push_back(binding);
  }
  if (bindings.empty()) return absl::OkStatus();

  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk.get());
  rd_kafka_AdminOptions_t* options = rd_kafka_AdminOptions_new(rk.get(), RD_KAFKA_ADMIN_OP_CREATEACLS);
  rd_kafka_AdminOptions_set_request_timeout(options, static_cast<int>(absl::ToInt64Milliseconds(timeout)), errstr,
                                            sizeof(errstr));
  rd_kafka_CreateAcls(rk.get(), bindings.data(), bindings.size(), options, queue);
  // The request timeout bounds the answer; a little more for the local queue.
  rd_kafka_event_t* event =
      rd_kafka_queue_poll(queue, static_cast<int>(absl::ToInt64Milliseconds(timeout + absl::Seconds(2))));
  absl::Status status;
  if (event == nullptr) {
    status = absl::DeadlineExceededError(absl::StrCat("Kafka at ", client.bootstrap_servers,
                                                      " did not answer CreateAcls within ", absl::FormatDuration(timeout)));
  } else if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    status = kafka_internal::ErrorStatus(rd_kafka_event_error(event),
                                         absl::StrCat("CreateAcls at ", client.bootstrap_servers));
  } else {
    size_t count = 0;
    const rd_kafka_acl_result_t** results =
        rd_kafka_CreateAcls_result_acls(rd_kafka_event_CreateAcls_result(event), &count);
    for (size_t i = 0; i < count && status.ok(); ++i) {
      if (const rd_kafka_error_t* e = rd_kafka_acl_result_error(results[i]); e != nullptr) {
        status = kafka_internal::ErrorStatus(rd_kafka_error_code(e),
                                             absl::StrCat("the broker refused ", DescribeAcl(acls[i])));
      }
    }
  }
  if (event != nullptr) rd_kafka_event_destroy(event);
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_queue_destroy(queue);
  cleanup();
  return status;
}

}  // namespace caselink
