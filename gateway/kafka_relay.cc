// The outbox relay: scans unpublished deliveries in sequence order, produces them, and marks
// them published in group commits once Kafka acknowledged every record of the row.
#include "gateway/kafka_relay.h"

#include <atomic>
#include <utility>

#include "absl/strings/str_cat.h"

namespace caselink {

std::string InboxTopic(const std::string& prefix, const std::string& agency_id) {
  return absl::StrCat(prefix, ".inbox.", agency_id);
}

std::string EventsTopic(const std::string& prefix) { return absl::StrCat(prefix, ".events"); }

v1::KafkaConfig KafkaConfigWithDefaults(v1::KafkaConfig config) {
  if (config.topic_prefix().empty()) config.set_topic_prefix("caselink");
  if (config.partitions() == 0) config.set_partitions(1);
  if (config.replication_factor() == 0) config.set_replication_factor(1);
  return config;
}

std::vector<TopicSpec> GatewayTopics(const v1::KafkaConfig& raw, const std::vector<std::string>& agency_ids) {
  const v1::KafkaConfig config = KafkaConfigWithDefaults(raw);
  const std::string& prefix = config.topic_prefix();
  std::vector<std::string> names;
  for (const std::string& id : agency_ids) names.push_back(InboxTopic(prefix, id));
  for (const char* suffix : {".events", ".audit", ".dlq", ".ingress"}) names.push_back(absl::StrCat(prefix, suffix));
  std::vector<TopicSpec> specs;
  for (std::string& name : names) {
    specs.push_back(TopicSpec{std::move(name), static_cast<int>(config.partitions()),
                              static_cast<int>(config.replication_factor())});
  }
  return specs;
}

KafkaClientOptions KafkaClientOptionsFrom(const v1::KafkaConfig& config) {
  KafkaClientOptions client;
  client.bootstrap_servers = config.bootstrap_servers();
  client.client_id = "caselink-gateway";
  if (!config.ca_file().empty()) {
    client.tls = KafkaTlsOptions{config.ca_file(), config.client_certificate_file(), config.client_private_key_file()};
  }
  return client;
}

// One delivery row on its way: published once all its records are acknowledged.
struct KafkaRelay::InFlight {
  uint64_t sequence = 0;
  std::atomic<int> outstanding{0};
  std::atomic<bool> failed{false};
};

KafkaRelay::KafkaRelay(Store& store, Publisher& publisher, KafkaRelayOptions options)
    : store_(store), publisher_(publisher), options_(std::move(options)) {}

KafkaRelay::~KafkaRelay() { Stop(absl::ZeroDuration()); }

void KafkaRelay::Start() { thread_ = std::thread([this] { Run(); }); }

void KafkaRelay::OnDeliveriesAvailable() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    wake_ = true;
  }
  cv_.notify_one();
}

uint64_t KafkaRelay::published() const {
  std::lock_guard<std::mutex> lock(mu_);
  return published_;
}

void KafkaRelay::Run() {
  uint64_t cursor = 0;  // highest sequence handed to the publisher in this pass
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (rewind_) {
      // A record failed: its row is behind the cursor; rows still in flight are skipped.
      rewind_ = false;
      cursor = 0;
    }
    lock.unlock();
    MarkAcknowledged(false);
    bool refused = false;
    {
      // Reads happen outside the lock: the publisher's callbacks take it.
      absl::StatusOr<std::vector<v1::Delivery>> rows = store_.ReadUnpublishedDeliveries(cursor, options_.batch);
      if (rows.ok()) {
        for (v1::Delivery& row : *rows) {
          {
            std::lock_guard<std::mutex> guard(mu_);
            if (stopping_) break;
            if (in_flight_.size() >= options_.max_in_flight) break;
            if (in_flight_.count(row.sequence()) != 0) {
              cursor = row.sequence();
              continue;
            }
            in_flight_.insert(row.sequence());
          }
          auto flight = std::make_shared<InFlight>();
          flight->sequence = row.sequence();
          std::vector<BusRecord> records;
          BusRecord inbox;
          inbox.topic = InboxTopic(options_.topic_prefix, row.recipient_agency());
          inbox.key = row.case_id();
          const bool alert = !row.has_envelope();
          inbox.headers = {{"kind", alert ? "alert" : "envelope"},
                           {"envelope-id", row.envelope_id()},
                           {"case-id", row.case_id()},
                           {"action", row.action()},
                           {"sender", row.sender_agency()},
                           {"reason", v1::Delivery::Reason_Name(row.reason())},
                           {"delivery-sequence", absl::StrCat(row.sequence())}};
          inbox.value = alert ? row.SerializeAsString() : row.envelope().SerializeAsString();
          if (!alert && row.envelope_id() != last_event_envelope_) {
            // Rows of one envelope are committed together, so they are adjacent.
            BusRecord event;
            event.topic = EventsTopic(options_.topic_prefix);
            event.key = row.case_id();
            event.value = inbox.value;
            event.headers = {{"envelope-id", row.envelope_id()},
                             {"case-id", row.case_id()},
                             {"action", row.action()},
                             {"sender", row.sender_agency()},
                             {"case-state", v1::CaseState_Name(row.case_state())}};
            records.push_back(std::move(event));
          }
          records.push_back(std::move(inbox));
          flight->outstanding = static_cast<int>(records.size());
          bool accepted_all = true;
          int accepted = 0;
          for (BusRecord& record : records) {
            absl::Status st = publisher_.Publish(std::move(record), [this, flight](absl::Status status) {
              OnRecordDone(flight, std::move(status));
            });
            if (!st.ok()) {
              accepted_all = false;
              break;
            }
            ++accepted;
          }
          if (!accepted_all) {
            // Records not accepted never call back: settle them here as failures.
            const int missing = static_cast<int>(records.size()) - accepted;
            flight->failed = true;
            if (flight->outstanding.fetch_sub(missing) == missing) {
              std::lock_guard<std::mutex> guard(mu_);
              in_flight_.erase(flight->sequence);
            }
            refused = true;
            std::lock_guard<std::mutex> guard(mu_);
            rewind_ = true;
            break;
          }
          if (!alert) last_event_envelope_ = row.envelope_id();
          cursor = row.sequence();
        }
      }
    }
    lock.lock();
    const absl::Duration pause = refused ? options_.retry_pause : options_.poll_interval;
    cv_.wait_for(lock, absl::ToChronoNanoseconds(pause), [this] { return stopping_ || wake_; });
    wake_ = false;
  }
}

void KafkaRelay::OnRecordDone(const std::shared_ptr<InFlight>& flight, absl::Status status) {
  if (!status.ok()) flight->failed = true;
  if (flight->outstanding.fetch_sub(1) != 1) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (flight->failed) {
      // Stays unpublished; the relay sends the row again.
      in_flight_.erase(flight->sequence);
      rewind_ = true;
    } else {
      acknowledged_.push_back(flight->sequence);
    }
    wake_ = true;
  }
  cv_.notify_one();
}

void KafkaRelay::MarkAcknowledged(bool wait) {
  std::vector<uint64_t> batch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    batch.swap(acknowledged_);
  }
  if (batch.empty()) return;
  auto work = [batch](StoreTransaction& txn) { return txn.MarkDeliveriesPublished(batch); };
  auto done = [this, batch](absl::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    for (uint64_t seq : batch) in_flight_.erase(seq);
    if (status.ok()) {
      published_ += batch.size();
    } else {
      // Not marked: the rows are sent again (consumers deduplicate by envelope id).
      rewind_ = true;
    }
  };
  if (wait) {
    absl::Status status = store_.WriteAndWait(work);
    done(status);
  } else {
    store_.Write(work, done);
  }
}

uint64_t KafkaRelay::Stop(absl::Duration timeout) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return 0;
    stopped_ = true;
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  publisher_.Flush(timeout);
  MarkAcknowledged(true);
  absl::StatusOr<uint64_t> left = store_.CountUnpublishedDeliveries();
  return left.ok() ? *left : 0;
}

}  // namespace caselink
