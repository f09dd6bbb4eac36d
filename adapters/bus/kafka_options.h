// How CaseLink reaches a Kafka cluster: bootstrap servers, optional mutual TLS with PEM
// files, and where librdkafka's own log lines go. Shared by the publisher and TopicAdmin.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace caselink {

struct KafkaTlsOptions {
  std::string ca_file;    // PEM CA certificate(s) that the broker's certificate must chain to
  std::string cert_file;  // PEM client certificate; empty: connect without one
  std::string key_file;   // PEM private key of cert_file
};

// Receives librdkafka's log lines (syslog severity: 3 error, 4 warning, ...). Called from
// librdkafka's internal threads, so it must be thread-safe.
using KafkaLogSink = std::function<void(int severity, absl::string_view message)>;

struct KafkaClientOptions {
  std::string bootstrap_servers;  // "host:port[,host:port...]"
  std::optional<KafkaTlsOptions> tls;  // set: security.protocol=ssl
  std::string client_id = "caselink";
  // Lines at or below this severity reach `log`; without a sink they go to stderr.
  int log_max_severity = 4;
  KafkaLogSink log;
  // Further librdkafka properties for tuning. The ones that CaseLink's guarantees rest on
  // (idempotence, acks, security, bootstrap) are refused here.
  std::vector<std::pair<std::string, std::string>> properties;
};

}  // namespace caselink
