// The request pipeline for one handoff: bounds, signature, replay, authority,
// lifecycle, then one durable commit of state, audit, outbox and receipt.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "adapters/blob/blob_store.h"
#include "adapters/clock/clock.h"
#include "adapters/store/store.h"
#include "caselink/v1/config.pb.h"
#include "caselink/v1/services.pb.h"
#include "gateway/deadline_engine.h"
#include "gateway/crypto_profile.h"
#include "gateway/deadlines/holiday_calendar.h"
#include "gateway/delivery_hub.h"
#include "gateway/document_facts_cache.h"
#include "gateway/gateway_keyring.h"
#include "gateway/lifecycle.h"
#include "gateway/metrics.h"
#include "gateway/receipt_signing_pool.h"
#include "gateway/registry.h"
#include "security/signature.h"

namespace caselink {

// Who is calling, as established by mTLS.
struct Caller {
  const AgencyEntry* agency = nullptr;  // null when the certificate is not registered
  std::string certificate_sha256;

  std::string agency_id() const { return agency ? agency->agency.id() : std::string(); }
};

struct PipelineDeps {
  Store& store;
  const AgencyRegistry& registry;
  const security::Signer& gateway_signer;
  const Clock& clock;
  const BlobStore& blobs;
  DeliveryHub& hub;
  const v1::GatewayConfig& config;
  // China's holiday calendar; null refuses every action that starts a period
  // counted in days.
  const deadlines::HolidayCalendar* calendar = nullptr;
  // Told of deadlines started, moved and stopped once they are durable; null
  // when nothing schedules them (the store still records them).
  DeadlineEngine* deadlines = nullptr;
  // With both set, receipts are signed by the pool with the keyring's key
  // pinned on the writer, and collected just before the group commits;
  // otherwise gateway_signer signs on the writer.
  const GatewayKeyring* keyring = nullptr;
  ReceiptSigningPool* receipt_signing = nullptr;
  // Counts and times every envelope's outcome; null counts nothing.
  GatewayMetrics* metrics = nullptr;
};

class SubmissionPipeline {
 public:
  using SubmitCallback = std::function<void(absl::StatusOr<v1::SubmitResponse>)>;

  explicit SubmissionPipeline(PipelineDeps deps) : deps_(deps) {}

  // Runs the pipeline; `done` is called exactly once, after the outcome (an
  // acceptance or a refusal) is durable in the audit log. Verification runs on
  // the calling thread; the commit on the store's writer.
  void Submit(const Caller& caller, v1::SignedEnvelope signed_envelope, SubmitCallback done);

  // Acknowledges the caller's deliveries through `through_sequence`.
  void Acknowledge(const Caller& caller, uint64_t through_sequence,
                   std::function<void(absl::StatusOr<uint64_t>)> done);

  // Audits a refusal decided outside Submit (e.g. an unregistered peer on any
  // RPC), then calls `done` with that refusal.
  void RecordRefusal(const Caller& caller, std::string action, std::string case_id, absl::Status refusal,
                     std::function<void(absl::Status)> done);

  // Audits a gateway event (start, stop, upload) with outcome SYSTEM or ACCEPTED.
  void RecordEvent(v1::AuditRecord record, std::function<void(absl::Status)> done);
  // The same, inside work that already runs on the store's writer.
  absl::Status RecordEventNow(StoreTransaction& txn, const v1::AuditRecord& record) const;
  // Appends `record` as is (actor, outcome and reason set by the caller) at
  // the clock's time inside running store work; returns its index.
  absl::StatusOr<uint64_t> AppendAudit(StoreTransaction& txn, v1::AuditRecord record) const;

  // Evidence (gateway/evidence.cc): `record` carrying `evidence` signed by the
  // gateway, with the record's time, appended in one write; audited events of
  // acknowledged deliveries and served downloads.
  absl::StatusOr<uint64_t> AppendAuditWithEvidence(StoreTransaction& txn, v1::AuditRecord record,
                                                   v1::Evidence evidence) const;
  void RecordEventWithEvidence(v1::AuditRecord record, v1::Evidence evidence, std::function<void(absl::Status)> done);
  // One ACKNOWLEDGED record with DELIVERY_ACKNOWLEDGED evidence per delivery.
  absl::Status AppendAcknowledgementEvidence(StoreTransaction& txn, const Caller& caller,
                                             const std::vector<v1::Delivery>& deliveries) const;

 private:
  struct Submission;
  absl::Status Precheck(Submission& s) const;
  // Calls the submission's done with its outcome, counted and timed.
  void Answer(Submission& s, absl::StatusOr<v1::SubmitResponse> outcome) const;
  // The audit tree's hasher for the configured profile (SM3 under GM).
  const merkle::TreeHasher& AuditHasher() const { return ProfileTreeHasher(deps_.config.profile()); }
  absl::Status Apply(StoreTransaction& txn, Submission& s) const;
  // Who the case is addressed to after the transition (registry routing).
  absl::Status Route(const Transition& t, const v1::Envelope& e, const v1::Agency& actor,
                     const v1::Case* current, v1::Case& next) const;
  // Starts, stops, cancels and extends the case's deadlines as the row says.
  absl::Status UpdateDeadlines(const Transition& t, const v1::Envelope& e, absl::Time now, v1::Case& next,
                               Submission& s) const;

  PipelineDeps deps_;
  // Facts of referenced documents already found in the blob store, so a Submit on a gRPC
  // thread does not stat or read them again (blobs never change).
  mutable DocumentFactsCache document_facts_;
};

}  // namespace caselink
