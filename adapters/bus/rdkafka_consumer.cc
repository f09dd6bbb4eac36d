// RdKafkaConsumer over librdkafka's high-level consumer with auto-commit and auto offset
// store off.
#include "adapters/bus/rdkafka_consumer.h"

#include <librdkafka/rdkafka.h>

#include "absl/strings/str_cat.h"
#include "adapters/bus/rdkafka_client.h"

namespace caselink {

using kafka_internal::ClientContext;

std::optional<std::string> BusMessage::Header(const std::string& name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return std::nullopt;
}

RdKafkaConsumer::RdKafkaConsumer(RdKafkaConsumerOptions options, std::unique_ptr<ClientContext> context)
    : options_(std::move(options)), context_(std::move(context)) {}

absl::StatusOr<std::unique_ptr<RdKafkaConsumer>> RdKafkaConsumer::Create(RdKafkaConsumerOptions options) {
  if (options.group_id.empty()) return absl::InvalidArgumentError("Kafka consumer: a group id is required");
  if (options.topics.empty()) return absl::InvalidArgumentError("Kafka consumer: no topic to subscribe to");
  auto context = std::make_unique<ClientContext>();
  context->log = options.client.log;
  context->log_max_severity = options.client.log_max_severity;
  auto conf = kafka_internal::NewClientConf(options.client, context.get(),
                                            {"group.id", "group.instance.id", "enable.auto.commit",
                                             "enable.auto.offset.store", "session.timeout.ms"});
  if (!conf.ok()) return conf.status();
  for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
           {"group.id", options.group_id},
           // Offsets move only through Commit, after the caller's durable commit.
           {"enable.auto.commit", "false"},
           {"enable.auto.offset.store", "false"},
           {"auto.offset.reset", "earliest"},
           {"enable.partition.eof", "false"},
           {"session.timeout.ms", absl::StrCat(absl::ToInt64Milliseconds(options.session_timeout))},
       }) {
    if (auto s = kafka_internal::SetProperty(conf->get(), name, value); !s.ok()) return s;
  }
  if (!options.instance_id.empty()) {
    if (auto s = kafka_internal::SetProperty(conf->get(), "group.instance.id", options.instance_id); !s.ok()) return s;
  }
  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf->get(), errstr, sizeof(errstr));
  if (rk == nullptr) return absl::InvalidArgumentError(absl::StrCat("cannot create the Kafka consumer: ", errstr));
  (void)conf->release();  // rd_kafka_new took it
  std::unique_ptr<RdKafkaConsumer> consumer(new RdKafkaConsumer(std::move(options), std::move(context)));
  consumer->context_->owner = consumer.get();
  consumer->rk_ = rk;
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* topics =
      rd_kafka_topic_partition_list_new(static_cast<int>(consumer->options_.topics.size()));
  for (const std::string& topic : consumer->options_.topics) {
    rd_kafka_topic_partition_list_add(topics, topic.c_str(), RD_KAFKA_PARTITION_UA);
  }
  rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return kafka_internal::ErrorStatus(err, "Kafka consumer: subscribe");
  return consumer;
}

RdKafkaConsumer::~RdKafkaConsumer() {
  Close();
  if (rk_ != nullptr) rd_kafka_destroy(rk_);
}

void RdKafkaConsumer::Close() {
  if (closed_ || rk_ == nullptr) return;
  closed_ = true;
  rd_kafka_consumer_close(rk_);
}

absl::StatusOr<std::optional<BusMessage>> RdKafkaConsumer::Poll(absl::Duration timeout) {
  if (closed_) return absl::FailedPreconditionError("Kafka consumer is closed");
  rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
  if (m == nullptr) return std::nullopt;
  std::unique_ptr<rd_kafka_message_t, decltype(&rd_kafka_message_destroy)> owned(m, &rd_kafka_message_destroy);
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    switch (m->err) {
      case RD_KAFKA_RESP_ERR__PARTITION_EOF:
      case RD_KAFKA_RESP_ERR__TRANSPORT:
      case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
      case RD_KAFKA_RESP_ERR__TIMED_OUT:
        return std::nullopt;
      default:
        return kafka_internal::ErrorStatus(m->err, absl::StrCat("Kafka consumer: ", rd_kafka_message_errstr(m)));
    }
  }
  BusMessage message;
  message.topic = rd_kafka_topic_name(m->rkt);
  message.partition = m->partition;
  message.offset = m->offset;
  if (m->key != nullptr) message.key.assign(static_cast<const char*>(m->key), m->key_len);
  if (m->payload != nullptr) message.value.assign(static_cast<const char*>(m->payload), m->len);
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name;
    const void* value;
    size_t size;
    for (size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
      message.headers.emplace_back(name, value == nullptr ? std::string() : std::string(static_cast<const char*>(value), size));
    }
  }
  return message;
}

absl::Status RdKafkaConsumer::Commit(const BusMessage& message) {
  rd_kafka_topic_partition_list_t* offsets = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(offsets, message.topic.c_str(), message.partition)->offset = message.offset + 1;
  rd_kafka_resp_err_t err = rd_kafka_commit(rk_, offsets, /*async=*/0);
  rd_kafka_topic_partition_list_destroy(offsets);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return kafka_internal::ErrorStatus(err, absl::StrCat("Kafka consumer: committing offset ", message.offset + 1, " of ",
                                                         message.topic, "[", message.partition, "]"));
  }
  return absl::OkStatus();
}

absl::Status RdKafkaConsumer::Rewind(const BusMessage& message) {
  rd_kafka_topic_partition_list_t* position = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(position, message.topic.c_str(), message.partition)->offset = message.offset;
  rd_kafka_error_t* error = rd_kafka_seek_partitions(rk_, position, 5000);
  rd_kafka_topic_partition_list_destroy(position);
  if (error != nullptr) {
    absl::Status status = kafka_internal::ErrorStatus(rd_kafka_error_code(error), "Kafka consumer: seek");
    rd_kafka_error_destroy(error);
    return status;
  }
  return absl::OkStatus();
}

}  // namespace caselink
