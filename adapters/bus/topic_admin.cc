// TopicAdmin on librdkafka's Admin API (CreateTopics) and metadata requests.
#include "adapters/bus/topic_admin.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "adapters/bus/rdkafka_client.h"

namespace caselink {
namespace {

using kafka_internal::ClientContext;

struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* md) const { rd_kafka_metadata_destroy(md); }
};
struct NewTopicDeleter {
  void operator()(rd_kafka_NewTopic_t* t) const { rd_kafka_NewTopic_destroy(t); }
};
struct AdminOptionsDeleter {
  void operator()(rd_kafka_AdminOptions_t* o) const { rd_kafka_AdminOptions_destroy(o); }
};
struct QueueDeleter {
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
};
struct EventDeleter {
  void operator()(rd_kafka_event_t* e) const { rd_kafka_event_destroy(e); }
};

// A slice of the remaining time in milliseconds, at least 1 (0 means "forever" to some calls).
int RemainingMillis(absl::Time deadline) {
  return static_cast<int>(std::clamp<int64_t>(absl::ToInt64Milliseconds(deadline - absl::Now()), 1, 1 << 30));
}

// librdkafka's own timeouts end the wait; this message says what to check.
absl::Status Unreachable(const std::string& bootstrap, absl::string_view what, rd_kafka_resp_err_t err,
                         absl::Duration timeout) {
  return absl::UnavailableError(absl::StrCat(
      "Kafka cluster at ", bootstrap, " did not answer ", what, " within ",
      absl::FormatDuration(absl::Trunc(timeout, absl::Milliseconds(1))), ": ", rd_kafka_err2str(err), " (",
      rd_kafka_err2name(err),
      "); check that the broker runs and is reachable and, over TLS, that it accepts this client's certificate"));
}

}  // namespace

void TopicAdmin::ClientDeleter::operator()(rd_kafka_s* rk) const { rd_kafka_destroy(rk); }

TopicAdmin::TopicAdmin(KafkaClientOptions options, std::unique_ptr<ClientContext> context)
    : options_(std::move(options)), context_(std::move(context)) {}

TopicAdmin::~TopicAdmin() = default;

absl::StatusOr<std::unique_ptr<TopicAdmin>> TopicAdmin::Create(KafkaClientOptions options) {
  auto context = std::make_unique<ClientContext>();
  context->log = options.log;
  context->log_max_severity = options.log_max_severity;
  auto conf = kafka_internal::NewClientConf(options, context.get(), {});
  if (!conf.ok()) return conf.status();
  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), errstr, sizeof(errstr));
  if (rk == nullptr) return absl::InvalidArgumentError(absl::StrCat("cannot create the Kafka admin client: ", errstr));
  (void)conf->release();  // rd_kafka_new took it
  std::unique_ptr<TopicAdmin> admin(new TopicAdmin(std::move(options), std::move(context)));
  admin->context_->owner = admin.get();
  admin->client_.reset(rk);
  return admin;
}

absl::StatusOr<std::vector<std::string>> TopicAdmin::Missing(absl::Span<const std::string> topics,
                                                             absl::Time deadline, absl::Duration timeout) {
  const rd_kafka_metadata_t* raw = nullptr;
  // All topics: asking for one by name could make a permissive broker auto-create it.
  rd_kafka_resp_err_t err = rd_kafka_metadata(client_.get(), 1, nullptr, &raw, RemainingMillis(deadline));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Unreachable(options_.bootstrap_servers, "a metadata request", err, timeout);
  }
  std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter> md(raw);
  std::vector<std::string> missing;
  for (const std::string& name : topics) {
    const rd_kafka_metadata_topic_t* found = nullptr;
    for (int i = 0; i < md->topic_cnt; ++i) {
      if (name == md->topics[i].topic) found = &md->topics[i];
    }
    bool ready = found != nullptr && found->err == RD_KAFKA_RESP_ERR_NO_ERROR && found->partition_cnt > 0;
    if (found != nullptr && found->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
      return kafka_internal::ErrorStatus(found->err, absl::StrCat("Kafka topic '", name, "'"));
    }
    for (int p = 0; ready && p < found->partition_cnt; ++p) {
      if (found->partitions[p].leader < 0 || found->partitions[p].err != RD_KAFKA_RESP_ERR_NO_ERROR) ready = false;
    }
    if (!ready) missing.push_back(name);
  }
  return missing;
}

absl::Status TopicAdmin::CreateTopics(absl::Span<const TopicSpec> topics, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::vector<std::string> names;
  for (const TopicSpec& spec : topics) {
    if (spec.name.empty()) return absl::InvalidArgumentError("Kafka topic: empty name");
    if (spec.partitions < 1 || spec.replication_factor < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("Kafka topic '", spec.name, "': partitions and replication factor must be at least 1"));
    }
    names.push_back(spec.name);
  }
  auto missing = Missing(names, deadline, timeout);
  if (!missing.ok()) return missing.status();
  if (missing->empty()) return absl::OkStatus();

  std::vector<std::unique_ptr<rd_kafka_NewTopic_t, NewTopicDeleter>> owned;
  std::vector<rd_kafka_NewTopic_t*> requests;
  for (const TopicSpec& spec : topics) {
    if (std::find(missing->begin(), missing->end(), spec.name) == missing->end()) continue;
    char errstr[512];
    rd_kafka_NewTopic_t* t =
        rd_kafka_NewTopic_new(spec.name.c_str(), spec.partitions, spec.replication_factor, errstr, sizeof(errstr));
    if (t == nullptr) return absl::InvalidArgumentError(absl::StrCat("Kafka topic '", spec.name, "': ", errstr));
    owned.emplace_back(t);
    requests.push_back(t);
  }

  std::unique_ptr<rd_kafka_AdminOptions_t, AdminOptionsDeleter> admin_options(
      rd_kafka_AdminOptions_new(client_.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS));
  char errstr[512];
  const int budget_ms = RemainingMillis(deadline);
  // The broker waits up to the operation timeout for the topics to be created.
  if (rd_kafka_AdminOptions_set_request_timeout(admin_options.get(), budget_ms, errstr, sizeof(errstr)) ||
      rd_kafka_AdminOptions_set_operation_timeout(admin_options.get(), budget_ms, errstr, sizeof(errstr))) {
    return absl::InternalError(absl::StrCat("Kafka admin options: ", errstr));
  }
  std::unique_ptr<rd_kafka_queue_t, QueueDeleter> queue(rd_kafka_queue_new(client_.get()));
  rd_kafka_CreateTopics(client_.get(), requests.data(), requests.size(), admin_options.get(), queue.get());
  // The request timeout ends the call; the extra second only absorbs scheduling.
  std::unique_ptr<rd_kafka_event_t, EventDeleter> event(rd_kafka_queue_poll(queue.get(), budget_ms + 1000));
  if (event == nullptr) {
    return Unreachable(options_.bootstrap_servers, "a CreateTopics request", RD_KAFKA_RESP_ERR__TIMED_OUT, timeout);
  }
  if (rd_kafka_resp_err_t err = rd_kafka_event_error(event.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (kafka_internal::ErrorCode(err) == absl::StatusCode::kUnavailable ||
        kafka_internal::ErrorCode(err) == absl::StatusCode::kDeadlineExceeded) {
      return Unreachable(options_.bootstrap_servers, "a CreateTopics request", err, timeout);
    }
    return kafka_internal::ErrorStatus(
        err, absl::StrCat("Kafka CreateTopics failed: ", rd_kafka_event_error_string(event.get())));
  }
  const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event.get());
  if (result == nullptr) return absl::InternalError("Kafka CreateTopics: unexpected result event");
  size_t count = 0;
  const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(result, &count);
  absl::Status first_error;
  std::vector<std::string> errors;
  for (size_t i = 0; i < count; ++i) {
    rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) continue;
    const char* detail = rd_kafka_topic_result_error_string(results[i]);
    errors.push_back(absl::StrCat("'", rd_kafka_topic_result_name(results[i]), "': ",
                                  detail != nullptr ? detail : rd_kafka_err2str(err), " (", rd_kafka_err2name(err),
                                  ")"));
    if (first_error.ok()) first_error = absl::Status(kafka_internal::ErrorCode(err), "");
  }
  if (!errors.empty()) {
    return absl::Status(first_error.code(), absl::StrCat("Kafka CreateTopics refused ", absl::StrJoin(errors, "; ")));
  }

  // Creation is acknowledged by the controller; wait until this broker serves the topics.
  while (true) {
    auto not_ready = Missing(names, deadline, timeout);
    if (!not_ready.ok()) return not_ready.status();
    if (not_ready->empty()) return absl::OkStatus();
    if (absl::Now() >= deadline) {
      return absl::UnavailableError(absl::StrCat("Kafka topics created but without partition leaders after ",
                                                 absl::FormatDuration(timeout), ": ",
                                                 absl::StrJoin(*not_ready, ", ")));
    }
    absl::SleepFor(std::min(absl::Milliseconds(100), deadline - absl::Now()));
  }
}

absl::Status TopicAdmin::VerifyTopics(absl::Span<const std::string> topics, absl::Duration timeout) {
  auto missing = Missing(topics, absl::Now() + timeout, timeout);
  if (!missing.ok()) return missing.status();
  if (missing->empty()) return absl::OkStatus();
  return absl::NotFoundError(absl::StrCat("Kafka topics missing (or without a partition leader) at ",
                                          options_.bootstrap_servers, ": ", absl::StrJoin(*missing, ", "),
                                          "; create them with TopicAdmin::CreateTopics"));
}

absl::StatusOr<int> TopicAdmin::PartitionCount(const std::string& topic, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  const rd_kafka_metadata_t* raw = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(client_.get(), 1, nullptr, &raw, RemainingMillis(deadline));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Unreachable(options_.bootstrap_servers, "a metadata request", err, timeout);
  }
  std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter> md(raw);
  for (int i = 0; i < md->topic_cnt; ++i) {
    if (topic == md->topics[i].topic) return md->topics[i].partition_cnt;
  }
  return absl::NotFoundError(absl::StrCat("Kafka topic '", topic, "' does not exist at ", options_.bootstrap_servers));
}

}  // namespace caselink
