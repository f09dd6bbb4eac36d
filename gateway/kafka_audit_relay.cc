// The audit relay: a cursor over the audit log index, persisted only over acknowledged entries.
#include "gateway/kafka_audit_relay.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "caselink/v1/audit.pb.h"

namespace caselink {
namespace {

constexpr char kAuditKey[] = "audit";

}  // namespace

std::string AuditTopic(const std::string& prefix) { return absl::StrCat(prefix, ".audit"); }

KafkaAuditRelay::KafkaAuditRelay(Store& store, Publisher& publisher, KafkaAuditRelayOptions options)
    : store_(store), publisher_(publisher), options_(std::move(options)) {}

KafkaAuditRelay::~KafkaAuditRelay() { Stop(absl::ZeroDuration()); }

absl::Status KafkaAuditRelay::Start() {
  // "<topic> <next index>": a cursor of another topic (a changed prefix) does not count.
  std::ifstream in(options_.cursor_file);
  std::string line;
  if (in && std::getline(in, line)) {
    std::vector<std::string> parts = absl::StrSplit(line, ' ');
    uint64_t index = 0;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[1], &index)) {
      return absl::DataLossError(absl::StrCat("the Kafka audit cursor ", options_.cursor_file, " is unreadable ('", line,
                                              "'); delete it to publish the audit log again from index 0"));
    }
    if (parts[0] == options_.topic) {
      next_ = acked_through_ = index;
      saved_cursor_ = index;
    }
  }
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

uint64_t KafkaAuditRelay::acknowledged_through() const {
  std::lock_guard<std::mutex> lock(mu_);
  return acked_through_;
}

void KafkaAuditRelay::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    PublishPending();
    SaveCursor();
    lock.lock();
    cv_.wait_for(lock, absl::ToChronoNanoseconds(options_.poll_interval), [this] { return stopping_; });
  }
}

void KafkaAuditRelay::PublishPending() {
  uint64_t from;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (failed_) {
      // Resend from the first unacknowledged entry, once nothing of the old pass is in flight.
      if (in_flight_ > 0) return;
      failed_ = false;
      next_ = acked_through_;
      acked_.clear();
    }
    if (in_flight_ >= options_.max_in_flight) return;
    from = next_;
  }
  auto entries = store_.ReadAuditEntries(from, options_.batch);
  if (!entries.ok()) return;
  for (v1::AuditEntry& entry : *entries) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (failed_ || entry.index() != next_) return;
      ++in_flight_;
      ++next_;
    }
    BusRecord record;
    record.topic = options_.topic;
    record.key = kAuditKey;
    const uint64_t index = entry.index();
    record.headers = {{"kind", "audit-entry"},
                      {"audit-index", absl::StrCat(index)},
                      {"leaf-hash", absl::BytesToHexString(entry.entry_hash())}};
    record.value = entry.SerializeAsString();
    absl::Status st = publisher_.Publish(std::move(record), [this, index](absl::Status s) { OnEntryDone(index, s); });
    if (!st.ok()) {
      OnEntryDone(index, st);
      return;
    }
  }
  // A signed head once everything it covers is on the topic.
  auto head_bytes = store_.ReadLatestTreeHead();
  if (!head_bytes.ok() || !head_bytes->has_value()) return;
  v1::SignedTreeHead signed_head;
  v1::TreeHead head;
  if (!signed_head.ParseFromString(**head_bytes) || !head.ParseFromString(signed_head.tree_head())) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (head.tree_size() <= head_published_ || acked_through_ < head.tree_size()) return;
    head_published_ = head.tree_size();
  }
  BusRecord record;
  record.topic = options_.topic;
  record.key = kAuditKey;
  record.headers = {{"kind", "tree-head"}, {"tree-size", absl::StrCat(head.tree_size())}};
  record.value = **head_bytes;
  const uint64_t size = head.tree_size();
  absl::Status st = publisher_.Publish(std::move(record), [this, size](absl::Status s) {
    if (s.ok()) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (head_published_ == size) head_published_ = 0;  // sent again on the next pass
  });
  if (!st.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    head_published_ = 0;
  }
}

void KafkaAuditRelay::OnEntryDone(uint64_t index, absl::Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  --in_flight_;
  if (!status.ok()) {
    failed_ = true;
    return;
  }
  if (index < acked_through_) return;  // a duplicate from a resend
  acked_.insert(index);
  while (!acked_.empty() && *acked_.begin() == acked_through_) {
    acked_.erase(acked_.begin());
    ++acked_through_;
  }
}

void KafkaAuditRelay::SaveCursor() {
  uint64_t cursor;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cursor = acked_through_;
  }
  if (cursor == saved_cursor_ || options_.cursor_file.empty()) return;
  // Written aside, synced and renamed: a crash leaves the old cursor or the new one.
  const std::string tmp = options_.cursor_file + ".tmp";
  const std::string text = absl::StrCat(options_.topic, " ", cursor, "\n");
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (written && std::rename(tmp.c_str(), options_.cursor_file.c_str()) == 0) saved_cursor_ = cursor;
}

uint64_t KafkaAuditRelay::Stop(absl::Duration timeout) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return 0;
    stopped_ = true;
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  if (timeout > absl::ZeroDuration()) {
    const absl::Time deadline = absl::Now() + timeout;
    // The stop record and the final head were written after the last pass.
    do {
      PublishPending();
      publisher_.Flush(std::max(absl::ZeroDuration(), std::min(deadline - absl::Now(), absl::Seconds(1))));
      std::lock_guard<std::mutex> lock(mu_);
      if (!failed_ && in_flight_ == 0) break;
    } while (absl::Now() < deadline);
    PublishPending();  // the head, once the entries it covers are acknowledged
    publisher_.Flush(std::max(absl::ZeroDuration(), deadline - absl::Now()));
  }
  SaveCursor();
  auto size = store_.ReadAuditSize();
  std::lock_guard<std::mutex> lock(mu_);
  return size.ok() && *size > acked_through_ ? *size - acked_through_ : 0;
}

}  // namespace caselink
