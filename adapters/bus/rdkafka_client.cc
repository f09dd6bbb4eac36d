// librdkafka configuration, logging and error mapping shared by the bus adapters.
#include "adapters/bus/rdkafka_client.h"

#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_cat.h"

namespace caselink::kafka_internal {
namespace {

// Properties whose value CaseLink derives from KafkaClientOptions fields.
constexpr absl::string_view kOptionProperties[] = {
    "bootstrap.servers", "metadata.broker.list", "security.protocol", "ssl.ca.location",
    "ssl.certificate.location", "ssl.key.location", "ssl.key.password", "ssl.ca.pem",
    "ssl.certificate.pem", "ssl.key.pem", "client.id", "log_cb", "opaque"};

absl::Status CheckReadable(absl::string_view what, const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat("Kafka TLS: ", what, " file is not set"));
  if (access(path.c_str(), R_OK) != 0) {
    return absl::NotFoundError(absl::StrCat("Kafka TLS: cannot read the ", what, " file '", path, "'"));
  }
  return absl::OkStatus();
}

void LogCallback(const rd_kafka_t* rk, int level, const char* facility, const char* line) {
  const auto* context = static_cast<const ClientContext*>(rd_kafka_opaque(rk));
  if (context == nullptr) return;
  Log(*context, level, absl::StrCat(rd_kafka_name(rk), " ", facility, ": ", line));
}

}  // namespace

absl::Status ValidateClientOptions(const KafkaClientOptions& options) {
  if (options.bootstrap_servers.empty()) {
    return absl::InvalidArgumentError("Kafka bootstrap servers are not set (expected host:port[,host:port])");
  }
  if (options.tls.has_value()) {
    const KafkaTlsOptions& tls = *options.tls;
    if (auto s = CheckReadable("CA certificate", tls.ca_file); !s.ok()) return s;
    if (tls.cert_file.empty() != tls.key_file.empty()) {
      return absl::InvalidArgumentError("Kafka TLS: a client certificate needs its key and a key its certificate");
    }
    if (!tls.cert_file.empty()) {
      if (auto s = CheckReadable("client certificate", tls.cert_file); !s.ok()) return s;
      if (auto s = CheckReadable("client key", tls.key_file); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

absl::Status SetProperty(rd_kafka_conf_t* conf, absl::string_view name, absl::string_view value) {
  char errstr[512];
  std::string n(name), v(value);
  if (rd_kafka_conf_set(conf, n.c_str(), v.c_str(), errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
    return absl::InvalidArgumentError(absl::StrCat("Kafka property ", name, ": ", errstr));
  }
  return absl::OkStatus();
}

absl::StatusOr<ConfPtr> NewClientConf(const KafkaClientOptions& options, ClientContext* context,
                                      std::initializer_list<absl::string_view> reserved) {
  if (auto s = ValidateClientOptions(options); !s.ok()) return s;
  ConfPtr conf(rd_kafka_conf_new());
  for (const auto& [name, value] : options.properties) {
    for (absl::string_view fixed : kOptionProperties) {
      if (name == fixed) {
        return absl::InvalidArgumentError(
            absl::StrCat("Kafka property ", name, " comes from the client options, not from extra properties"));
      }
    }
    for (absl::string_view fixed : reserved) {
      if (name == fixed) {
        return absl::InvalidArgumentError(
            absl::StrCat("Kafka property ", name, " is fixed by CaseLink and cannot be overridden"));
      }
    }
    if (auto s = SetProperty(conf.get(), name, value); !s.ok()) return s;
  }
  if (auto s = SetProperty(conf.get(), "bootstrap.servers", options.bootstrap_servers); !s.ok()) return s;
  if (auto s = SetProperty(conf.get(), "client.id", options.client_id); !s.ok()) return s;
  if (options.tls.has_value()) {
    const KafkaTlsOptions& tls = *options.tls;
    if (auto s = SetProperty(conf.get(), "security.protocol", "ssl"); !s.ok()) return s;
    if (auto s = SetProperty(conf.get(), "ssl.ca.location", tls.ca_file); !s.ok()) return s;
    if (!tls.cert_file.empty()) {
      if (auto s = SetProperty(conf.get(), "ssl.certificate.location", tls.cert_file); !s.ok()) return s;
      if (auto s = SetProperty(conf.get(), "ssl.key.location", tls.key_file); !s.ok()) return s;
    }
  }
  rd_kafka_conf_set_opaque(conf.get(), context);
  rd_kafka_conf_set_log_cb(conf.get(), &LogCallback);
  return conf;
}

absl::StatusCode ErrorCode(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
      return absl::StatusCode::kOk;
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
      return absl::StatusCode::kDeadlineExceeded;
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__SSL:
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
    case RD_KAFKA_RESP_ERR__DESTROY:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_NOT_CONTROLLER:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR:
    case RD_KAFKA_RESP_ERR_THROTTLING_QUOTA_EXCEEDED:
      return absl::StatusCode::kUnavailable;
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
      return absl::StatusCode::kUnauthenticated;
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
      return absl::StatusCode::kPermissionDenied;
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
      return absl::StatusCode::kNotFound;
    case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
      return absl::StatusCode::kAlreadyExists;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
    case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
    case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
      return absl::StatusCode::kInvalidArgument;
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
      return absl::StatusCode::kResourceExhausted;
    case RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER:
    case RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH:
    case RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID:
    case RD_KAFKA_RESP_ERR__GAPLESS_GUARANTEE:
    case RD_KAFKA_RESP_ERR__INCONSISTENT:
      return absl::StatusCode::kAborted;
    case RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION:
      return absl::StatusCode::kFailedPrecondition;
    default:
      return absl::StatusCode::kUnknown;
  }
}

absl::Status ErrorStatus(rd_kafka_resp_err_t err, absl::string_view context) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return absl::OkStatus();
  return absl::Status(ErrorCode(err),
                      absl::StrCat(context, ": ", rd_kafka_err2str(err), " (", rd_kafka_err2name(err), ")"));
}

void Log(const ClientContext& context, int severity, absl::string_view line) {
  if (severity > context.log_max_severity) return;
  if (context.log) {
    context.log(severity, line);
    return;
  }
  // One write per line so concurrent librdkafka threads do not interleave mid-line.
  std::string text = absl::StrCat("kafka[", severity, "] ", line, "\n");
  std::fwrite(text.data(), 1, text.size(), stderr);
}

}  // namespace caselink::kafka_internal
