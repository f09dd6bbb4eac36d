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
  std::string case_id;
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

uint64_t KafkaRelay::held_back() const {
  std::lock_guard<std::mutex> lock(mu_);
  return held_back_;
}

bool KafkaRelay::MustHold(const v1::Delivery& row) const {
  auto it = gates_.find(row.case_id());
  if (it == gates_.end()) return false;
  const CaseGate& gate = it->second;
  // An earlier row of the case failed and has not been handed over again yet.
  if (row.sequence() > gate.failed_from) return true;
  // Rows of one envelope go to different topics and may travel together; an alert has no
  // envelope and waits like a later envelope.
  return gate.in_flight > 0 && (row.envelope_id().empty() || row.envelope_id() != gate.envelope_id);
}

void KafkaRelay::Run() {
  uint64_t cursor = 0;  // highest sequence handed to the publisher in this pass
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (rewind_) {
      // A record failed: its row is behind the cursor; rows still in flight are skipped.
      rewind_ = false;
      cursor = 0;
      // The failed row may be the one that carried its envelope's events record.
      last_event_envelope_.clear();
    }
    lock.unlock();
    MarkAcknowledged(false);
    bool refused = false;
    {
      // Reads happen outside the lock: the publisher's callbacks take it.
      absl::StatusOr<std::vector<v1::Delivery>> rows = store_.ReadUnpublishedDeliveries(cursor, options_.batch);
      // Cases with a row held in this pass: their later rows wait too, even if the earlier
      // row's report arrives meanwhile.
      std::set<std::string> held_cases;
      uint64_t held_from = 0;
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
            if (held_cases.count(row.case_id()) != 0 || MustHold(row)) {
              held_cases.insert(row.case_id());
              if (held_from == 0) held_from = row.sequence();
              ++held_back_;
              cursor = row.sequence();
              continue;
            }
            in_flight_.insert(row.sequence());
            CaseGate& gate = gates_[row.case_id()];
            gate.in_flight += 1;
            gate.envelope_id = row.envelope_id();
            if (row.sequence() >= gate.failed_from) gate.failed_from = UINT64_MAX;
          }
          auto flight = std::make_shared<InFlight>();
          flight->sequence = row.sequence();
          flight->case_id = row.case_id();
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
              SettleGate(flight->case_id, flight->sequence, /*failed=*/true);
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
      // The next pass starts again at the first held row.
      if (held_from != 0 && held_from - 1 < cursor) cursor = held_from - 1;
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
    SettleGate(flight->case_id, flight->sequence, flight->failed);
    wake_ = true;
  }
  cv_.notify_one();
}

void KafkaRelay::SettleGate(const std::string& case_id, uint64_t sequence, bool failed) {
  auto it = gates_.find(case_id);
  if (it == gates_.end()) return;
  CaseGate& gate = it->second;
  gate.in_flight -= 1;
  if (failed && sequence < gate.failed_from) gate.failed_from = sequence;
  if (gate.in_flight <= 0 && gate.failed_from == UINT64_MAX) gates_.erase(it);
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
