// A Store that hands every call to another one: tests derive from it to
// watch or hold the few calls they care about, e.g. through
// GatewayServerOptions::decorate_store.
#pragma once

#include <memory>
#include <utility>

#include "adapters/store/store.h"

namespace caselink::testing {

class ForwardingStore : public Store {
 public:
  explicit ForwardingStore(std::unique_ptr<Store> inner) : inner_(std::move(inner)) {}

  void Write(Work work, Done done) override { inner_->Write(std::move(work), std::move(done)); }
  absl::StatusOr<std::optional<v1::Case>> ReadCase(std::string_view case_id) override {
    return inner_->ReadCase(case_id);
  }
  absl::StatusOr<std::vector<v1::TimelineEvent>> ReadTimeline(std::string_view case_id) override {
    return inner_->ReadTimeline(case_id);
  }
  absl::StatusOr<std::vector<v1::Case>> ListCases(const CaseFilter& filter) override { return inner_->ListCases(filter); }
  absl::StatusOr<bool> CaseHasDocument(std::string_view case_id, std::string_view digest_hex) override {
    return inner_->CaseHasDocument(case_id, digest_hex);
  }
  absl::StatusOr<std::optional<StoredEnvelope>> ReadEnvelope(std::string_view envelope_id) override {
    return inner_->ReadEnvelope(envelope_id);
  }
  absl::StatusOr<std::vector<v1::Delivery>> ReadPendingDeliveries(std::string_view agency, uint64_t after_sequence,
                                                                 uint32_t limit) override {
    return inner_->ReadPendingDeliveries(agency, after_sequence, limit);
  }
  absl::StatusOr<uint64_t> ReadAcknowledgedThrough(std::string_view agency) override {
    return inner_->ReadAcknowledgedThrough(agency);
  }
  absl::StatusOr<std::vector<v1::AuditEntry>> ReadAuditEntries(uint64_t from_index, uint32_t limit) override {
    return inner_->ReadAuditEntries(from_index, limit);
  }
  absl::StatusOr<uint64_t> ReadAuditSize() override { return inner_->ReadAuditSize(); }
  absl::StatusOr<std::vector<v1::AuditEntry>> QueryAudit(const AuditFilter& filter) override {
    return inner_->QueryAudit(filter);
  }
  absl::StatusOr<std::optional<std::string>> ReadTreeHead(uint64_t tree_size) override {
    return inner_->ReadTreeHead(tree_size);
  }
  absl::StatusOr<std::optional<std::string>> ReadLatestTreeHead() override { return inner_->ReadLatestTreeHead(); }
  absl::StatusOr<std::string> ReadMerkleNode(uint32_t level, uint64_t index) override {
    return inner_->ReadMerkleNode(level, index);
  }
  absl::StatusOr<std::vector<v1::Delivery>> ReadUnpublishedDeliveries(uint64_t after_sequence, uint32_t limit) override {
    return inner_->ReadUnpublishedDeliveries(after_sequence, limit);
  }
  absl::StatusOr<uint64_t> CountUnpublishedDeliveries() override { return inner_->CountUnpublishedDeliveries(); }
  absl::StatusOr<std::vector<RunningDeadline>> ListRunningDeadlines() override { return inner_->ListRunningDeadlines(); }
  absl::StatusOr<std::vector<EventCount>> CountCaseEvents(const EventQuery& query) override {
    return inner_->CountCaseEvents(query);
  }
  absl::StatusOr<std::vector<int64_t>> ReadEventIntervals(const IntervalQuery& query) override {
    return inner_->ReadEventIntervals(query);
  }
  void Shutdown() override { inner_->Shutdown(); }

 private:
  std::unique_ptr<Store> inner_;
};

}  // namespace caselink::testing
