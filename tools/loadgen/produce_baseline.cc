// Raw produce rate through the gateway's own publisher, with a bounded window of
// records in flight, so the relay's figures can be read as a ratio to it.
#include "tools/loadgen/produce_baseline.h"

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <librdkafka/rdkafka.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "adapters/bus/rdkafka_publisher.h"
#include "adapters/bus/topic_admin.h"

namespace caselink::loadgen {

absl::StatusOr<ProduceBaseline> MeasureProduceBaseline(const ProduceBaselineOptions& options) {
  KafkaClientOptions client;
  client.bootstrap_servers = options.bootstrap_servers;
  client.client_id = "caselink-loadgen-baseline";
  if (options.create_topic) {
    absl::StatusOr<std::unique_ptr<TopicAdmin>> admin = TopicAdmin::Create(client);
    if (!admin.ok()) return admin.status();
    const TopicSpec spec{options.topic, options.partitions, 1};
    if (absl::Status s = (*admin)->CreateTopics({spec}, absl::Seconds(15)); !s.ok()) {
      return absl::UnavailableError(absl::StrCat("Kafka at ", options.bootstrap_servers, " could not create topic ",
                                                 options.topic, " for the produce baseline: ", s.message()));
    }
  }
  RdKafkaPublisherOptions publisher_options;
  publisher_options.client = client;
  publisher_options.max_pending_records = options.max_in_flight + 1000;
  publisher_options.delivery_timeout = options.delivery_timeout;
  absl::StatusOr<std::unique_ptr<RdKafkaPublisher>> publisher = RdKafkaPublisher::Create(std::move(publisher_options));
  if (!publisher.ok()) return publisher.status();

  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0;
  size_t acknowledged = 0;
  size_t failed = 0;
  absl::Time last_ack = absl::InfinitePast();
  std::string first_error;
  const std::string value(options.record_bytes, 'v');
  const absl::Time start = absl::Now();
  const absl::Time end = start + options.duration;
  size_t produced = 0;
  while (absl::Now() < end) {
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return in_flight < options.max_in_flight; });
      ++in_flight;
    }
    BusRecord record;
    record.topic = options.topic;
    record.key = absl::StrCat("baseline-case-", produced);
    record.value = value;
    record.headers = {{"kind", "envelope"},
                      {"envelope-id", absl::StrCat("baseline-envelope-", produced)},
                      {"case-id", record.key},
                      {"action", "TRANSFER"},
                      {"sender", "baseline"},
                      {"delivery-sequence", absl::StrCat(produced)}};
    absl::Status s = (*publisher)->Publish(std::move(record), [&](absl::Status status) {
      std::lock_guard<std::mutex> lock(mu);
      --in_flight;
      if (status.ok()) {
        ++acknowledged;
        last_ack = absl::Now();
      } else {
        ++failed;
        if (first_error.empty()) first_error = status.ToString();
      }
      cv.notify_all();
    });
    if (!s.ok()) {
      std::lock_guard<std::mutex> lock(mu);
      --in_flight;
      if (s.code() != absl::StatusCode::kResourceExhausted) return s;
      continue;
    }
    ++produced;
  }
  (*publisher)->Flush(options.delivery_timeout + absl::Seconds(5));
  (*publisher)->Close(absl::Seconds(5));
  std::lock_guard<std::mutex> lock(mu);
  if (acknowledged == 0) {
    return absl::UnavailableError(absl::StrCat("the produce baseline got no acknowledgement from ", options.bootstrap_servers,
                                               first_error.empty() ? "" : absl::StrCat("; first error: ", first_error)));
  }
  ProduceBaseline out;
  out.records = acknowledged;
  out.failed = failed;
  out.seconds = absl::ToDoubleSeconds(last_ack - start);
  out.records_per_second = out.seconds > 0 ? acknowledged / out.seconds : 0;
  return out;
}

absl::StatusOr<uint64_t> CountTopicRecords(const std::string& bootstrap_servers, const std::string& topic_prefix) {
  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap_servers.c_str(), error, sizeof error) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    return absl::InvalidArgumentError(absl::StrCat("bootstrap servers '", bootstrap_servers, "': ", error));
  }
  // rd_kafka_new owns conf from here on, also when it fails.
  std::unique_ptr<rd_kafka_t, void (*)(rd_kafka_t*)> rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error),
                                                         &rd_kafka_destroy);
  if (!rk) return absl::UnavailableError(absl::StrCat("cannot create a Kafka client: ", error));
  const rd_kafka_metadata_t* metadata = nullptr;
  if (rd_kafka_resp_err_t err = rd_kafka_metadata(rk.get(), 1, nullptr, &metadata, 10000); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(absl::StrCat("Kafka at ", bootstrap_servers, " gave no metadata: ", rd_kafka_err2str(err)));
  }
  std::unique_ptr<const rd_kafka_metadata_t, void (*)(const rd_kafka_metadata_t*)> hold(metadata, &rd_kafka_metadata_destroy);
  uint64_t total = 0;
  for (int t = 0; t < metadata->topic_cnt; ++t) {
    const rd_kafka_metadata_topic_t& topic = metadata->topics[t];
    if (!absl::StartsWith(topic.topic, topic_prefix)) continue;
    for (int p = 0; p < topic.partition_cnt; ++p) {
      int64_t low = 0;
      int64_t high = 0;
      if (rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(rk.get(), topic.topic, topic.partitions[p].id, &low,
                                                                     &high, 10000);
          err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return absl::UnavailableError(absl::StrCat("no offsets for ", topic.topic, "[", topic.partitions[p].id,
                                                   "]: ", rd_kafka_err2str(err)));
      }
      total += static_cast<uint64_t>(high);
    }
  }
  return total;
}

}  // namespace caselink::loadgen
