// Private to caselink_bus: librdkafka configuration from KafkaClientOptions, log routing,
// and the mapping of librdkafka error codes to absl::Status.
#pragma once

#include <librdkafka/rdkafka.h>

#include <initializer_list>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "adapters/bus/kafka_options.h"

namespace caselink::kafka_internal {

// The conf opaque of every client we build: where its log lines go and who owns it.
struct ClientContext {
  KafkaLogSink log;
  int log_max_severity = 4;
  void* owner = nullptr;
};

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* conf) const { rd_kafka_conf_destroy(conf); }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;

// Checks what librdkafka would only report vaguely: an address, readable PEM files.
absl::Status ValidateClientOptions(const KafkaClientOptions& options);

// A conf with bootstrap servers, client id, TLS, logging and `options.properties` applied.
// `reserved` are properties the caller sets itself; options.properties may not name them.
absl::StatusOr<ConfPtr> NewClientConf(const KafkaClientOptions& options, ClientContext* context,
                                      std::initializer_list<absl::string_view> reserved);

absl::Status SetProperty(rd_kafka_conf_t* conf, absl::string_view name, absl::string_view value);

absl::StatusCode ErrorCode(rd_kafka_resp_err_t err);

// "<context>: <librdkafka's text> (<ERROR_NAME>)" with the code ErrorCode chooses.
absl::Status ErrorStatus(rd_kafka_resp_err_t err, absl::string_view context);

// Sends a line to the client's sink (or stderr) if its severity is wanted.
void Log(const ClientContext& context, int severity, absl::string_view line);

}  // namespace caselink::kafka_internal
