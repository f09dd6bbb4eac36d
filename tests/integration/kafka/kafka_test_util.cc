// Helpers for the Kafka bus tests (see kafka_test_util.h).
#include "tests/integration/kafka/kafka_test_util.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <memory>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

namespace caselink::testing {
namespace {

struct ClientDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using ClientPtr = std::unique_ptr<rd_kafka_t, ClientDeleter>;

absl::Status Set(rd_kafka_conf_t* conf, const std::string& name, const std::string& value) {
  char errstr[512];
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": ", errstr));
  }
  return absl::OkStatus();
}

void QuietLog(const rd_kafka_t*, int, const char*, const char*) {}

ConsumedRecord ToRecord(const rd_kafka_message_t* m) {
  ConsumedRecord r;
  r.partition = m->partition;
  r.offset = m->offset;
  if (m->key != nullptr) r.key.assign(static_cast<const char*>(m->key), m->key_len);
  if (m->payload != nullptr) r.value.assign(static_cast<const char*>(m->payload), m->len);
  rd_kafka_headers_t* headers = nullptr;
  // The headers belong to the message; a copy is taken.
  if (rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name;
    const void* value;
    size_t size;
    for (size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
      r.headers.emplace_back(name, std::string(static_cast<const char*>(value), size));
    }
  }
  return r;
}

absl::StatusOr<ClientPtr> NewClient(rd_kafka_type_t type, const KafkaClientOptions& client,
                                    const std::vector<std::pair<std::string, std::string>>& extra) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::vector<std::pair<std::string, std::string>> properties = {{"bootstrap.servers", client.bootstrap_servers}};
  if (client.tls.has_value()) {
    properties.push_back({"security.protocol", "ssl"});
    properties.push_back({"ssl.ca.location", client.tls->ca_file});
    if (!client.tls->cert_file.empty()) {
      properties.push_back({"ssl.certificate.location", client.tls->cert_file});
      properties.push_back({"ssl.key.location", client.tls->key_file});
    }
  }
  properties.insert(properties.end(), extra.begin(), extra.end());
  for (const auto& [name, value] : properties) {
    if (auto s = Set(conf, name, value); !s.ok()) {
      rd_kafka_conf_destroy(conf);
      return s;
    }
  }
  rd_kafka_conf_set_log_cb(conf, &QuietLog);
  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return absl::InvalidArgumentError(errstr);
  }
  return ClientPtr(rk);
}

}  // namespace

KafkaLogSink LogCollector::Sink() {
  return [this](int severity, absl::string_view line) {
    std::lock_guard<std::mutex> lock(mu_);
    lines_.push_back(absl::StrCat(severity, " ", line));
  };
}

std::string LogCollector::Text() const {
  std::lock_guard<std::mutex> lock(mu_);
  return absl::StrJoin(lines_, "\n");
}

void DeliveryRecorder::Reserve(size_t count) {
  std::lock_guard<std::mutex> lock(mu_);
  statuses_.resize(count, absl::UnknownError("no delivery callback"));
  done_.resize(count, false);
}

DeliveryCallback DeliveryRecorder::Callback(size_t index) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (index >= statuses_.size()) {
      statuses_.resize(index + 1, absl::UnknownError("no delivery callback"));
      done_.resize(index + 1, false);
    }
  }
  return [this, index](absl::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    // A second callback for one record would be a bug in the publisher: make it visible.
    if (done_[index]) {
      statuses_[index] = absl::InternalError("delivery callback ran twice");
      return;
    }
    done_[index] = true;
    statuses_[index] = std::move(status);
    ++completed_;
  };
}

std::vector<absl::Status> DeliveryRecorder::statuses() const {
  std::lock_guard<std::mutex> lock(mu_);
  return statuses_;
}

size_t DeliveryRecorder::completed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return completed_;
}

absl::StatusOr<std::vector<ConsumedRecord>> ConsumeFromBeginning(const KafkaClientOptions& client,
                                                                 const std::string& topic, int partitions,
                                                                 size_t expected, absl::Duration timeout,
                                                                 const std::string& group) {
  // A group id is required even though partitions are assigned, not subscribed; nothing is
  // committed, so the group never holds state.
  auto consumer = NewClient(RD_KAFKA_CONSUMER, client,
                            {{"group.id", group}, {"enable.auto.commit", "false"}});
  if (!consumer.ok()) return consumer.status();
  rd_kafka_t* rk = consumer->get();
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* assignment = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(assignment, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_resp_err_t err = rd_kafka_assign(rk, assignment);
  rd_kafka_topic_partition_list_destroy(assignment);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return absl::InternalError(rd_kafka_err2str(err));

  std::vector<ConsumedRecord> records;
  absl::Status error;
  const absl::Time deadline = absl::Now() + timeout;
  while (records.size() < expected && absl::Now() < deadline && error.ok()) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 200);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      records.push_back(ToRecord(m));
    } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      error = absl::UnknownError(
          absl::StrCat("consumer error: ", rd_kafka_message_errstr(m), " (", rd_kafka_err2name(m->err), ")"));
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  if (!error.ok()) return error;
  return records;
}

absl::StatusOr<std::vector<ConsumedRecord>> ConsumeToEnd(const KafkaClientOptions& client, const std::string& topic,
                                                         int partitions, absl::Duration timeout,
                                                         const std::string& group) {
  auto consumer = NewClient(RD_KAFKA_CONSUMER, client, {{"group.id", group}, {"enable.auto.commit", "false"}});
  if (!consumer.ok()) return consumer.status();
  rd_kafka_t* rk = consumer->get();
  rd_kafka_poll_set_consumer(rk);
  const absl::Time deadline = absl::Now() + timeout;
  // The end of each partition now; a partition is read once the record before it arrived.
  std::vector<int64_t> end(partitions, 0);
  std::vector<int64_t> next(partitions, 0);
  for (int p = 0; p < partitions; ++p) {
    int64_t low = 0;
    const int wait_ms = static_cast<int>(std::max<int64_t>(1, absl::ToInt64Milliseconds(deadline - absl::Now())));
    rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &low, &end[p], wait_ms);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return absl::UnavailableError(
          absl::StrCat("end offset of ", topic, "[", p, "]: ", rd_kafka_err2str(err)));
    }
    next[p] = low;
  }
  rd_kafka_topic_partition_list_t* assignment = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(assignment, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_resp_err_t err = rd_kafka_assign(rk, assignment);
  rd_kafka_topic_partition_list_destroy(assignment);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return absl::InternalError(rd_kafka_err2str(err));

  auto done = [&] {
    for (int p = 0; p < partitions; ++p) {
      if (next[p] < end[p]) return false;
    }
    return true;
  };
  std::vector<ConsumedRecord> records;
  absl::Status error;
  while (!done() && absl::Now() < deadline && error.ok()) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 200);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (m->partition >= 0 && m->partition < partitions) next[m->partition] = m->offset + 1;
      records.push_back(ToRecord(m));
    } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      error = absl::UnknownError(
          absl::StrCat("consumer error: ", rd_kafka_message_errstr(m), " (", rd_kafka_err2name(m->err), ")"));
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  if (!error.ok()) return error;
  if (!done()) {
    std::vector<std::string> short_by;
    for (int p = 0; p < partitions; ++p) {
      if (next[p] < end[p]) short_by.push_back(absl::StrCat(topic, "[", p, "] at ", next[p], " of ", end[p]));
    }
    return absl::DeadlineExceededError(absl::StrCat("read ", records.size(), " records in ",
                                                    absl::FormatDuration(timeout), " but not to the end: ",
                                                    absl::StrJoin(short_by, ", ")));
  }
  return records;
}

namespace {

// How many ALLOW bindings of `principal` on the topic `topic` the broker's own
// authorizer holds (DescribeAcls is answered from it); -1 on an error.
int CountTopicAcls(rd_kafka_t* rk, const std::string& topic, const std::string& principal) {
  char errstr[512];
  rd_kafka_AclBindingFilter_t* filter = rd_kafka_AclBindingFilter_new(
      RD_KAFKA_RESOURCE_TOPIC, topic.c_str(), RD_KAFKA_RESOURCE_PATTERN_LITERAL, principal.c_str(), nullptr,
      RD_KAFKA_ACL_OPERATION_ANY, RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW, errstr, sizeof(errstr));
  if (filter == nullptr) return -1;
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
  rd_kafka_DescribeAcls(rk, filter, nullptr, queue);
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue, 10000);
  int count = -1;
  if (event != nullptr && rd_kafka_event_error(event) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    size_t n = 0;
    rd_kafka_DescribeAcls_result_acls(rd_kafka_event_DescribeAcls_result(event), &n);
    count = static_cast<int>(n);
  }
  if (event != nullptr) rd_kafka_event_destroy(event);
  rd_kafka_queue_destroy(queue);
  rd_kafka_AclBinding_destroy(filter);
  return count;
}

}  // namespace

absl::Status AllowOnTopic(const KafkaClientOptions& admin_client, const std::string& topic,
                          const std::string& principal, const std::vector<std::string>& operations,
                          absl::Duration timeout) {
  auto admin = NewClient(RD_KAFKA_PRODUCER, admin_client, {});
  if (!admin.ok()) return admin.status();
  rd_kafka_t* rk = admin->get();
  std::vector<rd_kafka_AclBinding_t*> bindings;
  auto cleanup = [&] {
    for (auto* b : bindings) rd_kafka_AclBinding_destroy(b);
  };
  for (const std::string& op : operations) {
    rd_kafka_AclOperation_t operation = op == "WRITE"  ? RD_KAFKA_ACL_OPERATION_WRITE
                                        : op == "READ" ? RD_KAFKA_ACL_OPERATION_READ
                                                       : RD_KAFKA_ACL_OPERATION_DESCRIBE;
    char errstr[512];
    rd_kafka_AclBinding_t* binding = rd_kafka_AclBinding_new(
        RD_KAFKA_RESOURCE_TOPIC, topic.c_str(), RD_KAFKA_RESOURCE_PATTERN_LITERAL, principal.c_str(), "*",
        operation, RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW, errstr, sizeof(errstr));
    if (binding == nullptr) {
      cleanup();
      return absl::InvalidArgumentError(errstr);
    }
    bindings.push_back(binding);
  }
  char errstr[512];
  rd_kafka_AclBinding_t* group = rd_kafka_AclBinding_new(
      RD_KAFKA_RESOURCE_GROUP, kTestConsumerGroup, RD_KAFKA_RESOURCE_PATTERN_LITERAL, principal.c_str(), "*",
      RD_KAFKA_ACL_OPERATION_READ, RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW, errstr, sizeof(errstr));
  if (group == nullptr) {
    cleanup();
    return absl::InvalidArgumentError(errstr);
  }
  bindings.push_back(group);
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
  rd_kafka_CreateAcls(rk, bindings.data(), bindings.size(), nullptr, queue);
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
  absl::Status status;
  if (event == nullptr) {
    status = absl::DeadlineExceededError("CreateAcls: no answer");
  } else if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    status = absl::UnknownError(absl::StrCat("CreateAcls: ", rd_kafka_event_error_string(event)));
  } else {
    size_t count = 0;
    const rd_kafka_acl_result_t** results =
        rd_kafka_CreateAcls_result_acls(rd_kafka_event_CreateAcls_result(event), &count);
    for (size_t i = 0; i < count && status.ok(); ++i) {
      if (const rd_kafka_error_t* e = rd_kafka_acl_result_error(results[i]); e != nullptr) {
        status = absl::UnknownError(absl::StrCat("CreateAcls: ", rd_kafka_error_string(e)));
      }
    }
  }
  if (event != nullptr) rd_kafka_event_destroy(event);
  rd_kafka_queue_destroy(queue);
  cleanup();
  if (!status.ok()) return status;
  // The controller accepts ACLs before the broker's authorizer applies them:
  // a client that connects at once may still be refused. Wait until the broker
  // itself lists them.
  const absl::Time deadline = absl::Now() + timeout;
  int listed = 0;
  while ((listed = CountTopicAcls(rk, topic, principal)) < static_cast<int>(operations.size())) {
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat("the broker listed ", listed, " of the ", operations.size(),
                                                      " ACLs granted to ", principal, " on ", topic, " within ",
                                                      absl::FormatDuration(timeout)));
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ConsumedRecord>> ConsumeAsGroupMember(const KafkaClientOptions& client,
                                                                 const std::string& topic, const std::string& group,
                                                                 size_t expected, absl::Duration timeout) {
  auto consumer = NewClient(RD_KAFKA_CONSUMER, client,
                            {{"group.id", group}, {"enable.auto.commit", "false"}, {"auto.offset.reset", "earliest"}});
  if (!consumer.ok()) return consumer.status();
  rd_kafka_t* rk = consumer->get();
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, topic.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return absl::InternalError(rd_kafka_err2str(err));
  std::vector<ConsumedRecord> records;
  absl::Status error;
  const absl::Time deadline = absl::Now() + timeout;
  while (records.size() < expected && absl::Now() < deadline && error.ok()) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 200);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ConsumedRecord r;
      r.partition = m->partition;
      r.offset = m->offset;
      if (m->key != nullptr) r.key.assign(static_cast<const char*>(m->key), m->key_len);
      if (m->payload != nullptr) r.value.assign(static_cast<const char*>(m->payload), m->len);
      records.push_back(std::move(r));
    } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      error = absl::UnknownError(
          absl::StrCat("consumer error: ", rd_kafka_message_errstr(m), " (", rd_kafka_err2name(m->err), ")"));
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  if (!error.ok()) return error;
  return records;
}

absl::StatusOr<int64_t> CommittedOffset(const KafkaClientOptions& client, const std::string& group,
                                        const std::string& topic, int partition, absl::Duration timeout) {
  // Not subscribed: asking for the group's offsets does not join it.
  auto consumer = NewClient(RD_KAFKA_CONSUMER, client, {{"group.id", group}, {"enable.auto.commit", "false"}});
  if (!consumer.ok()) return consumer.status();
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, topic.c_str(), partition);
  rd_kafka_resp_err_t err =
      rd_kafka_committed(consumer->get(), list, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
  int64_t offset = list->elems[0].offset;
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) err = list->elems[0].err;
  rd_kafka_topic_partition_list_destroy(list);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return absl::UnknownError(absl::StrCat("committed: ", rd_kafka_err2str(err)));
  return offset < 0 ? 0 : offset;
}

std::string UniqueTopic(const std::string& stem) {
  std::random_device device;
  return absl::StrCat("caselink.test.", stem, ".", absl::ToUnixMillis(absl::Now()), ".", device() % 100000);
}

}  // namespace caselink::testing
