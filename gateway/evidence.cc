// Evidence records: built from deliveries and downloads, signed on the store's writer
// thread (where the gateway key cannot rotate under the signature) and appended as
// audit records, so evidence and audit entry are one durable write.
#include "gateway/evidence.h"

#include <google/protobuf/util/time_util.h>

#include "absl/strings/str_cat.h"
#include "gateway/audit_log.h"
#include "gateway/crypto_profile.h"
#include "gateway/submission_pipeline.h"
#include "security/digest.h"
#include "security/signer_factory.h"

namespace caselink {

absl::StatusOr<v1::SignedEvidence> SignEvidence(const v1::Evidence& evidence, const security::Signer& signer) {
  v1::SignedEvidence out;
  out.set_evidence(SerializeCanonical(evidence));
  auto signature = signer.Sign(out.evidence());
  if (!signature.ok()) return signature.status();
  out.mutable_signature()->set_algorithm(ToProtoAlgorithm(signer.algorithm()));
  out.mutable_signature()->set_key_id(signer.key_id());
  out.mutable_signature()->set_value(*signature);
  return out;
}

absl::StatusOr<v1::Evidence> VerifyEvidence(const v1::SignedEvidence& signed_evidence,
                                            const security::Verifier& gateway_key) {
  if (signed_evidence.signature().algorithm() != ToProtoAlgorithm(gateway_key.algorithm())) {
    return absl::UnauthenticatedError(absl::StrCat("the evidence declares ",
                                                   v1::SignatureAlgorithm_Name(signed_evidence.signature().algorithm()),
                                                   " but the gateway certificate's key is ",
                                                   security::SignatureAlgorithmName(gateway_key.algorithm())));
  }
  if (auto st = gateway_key.Verify(signed_evidence.signature().value(), signed_evidence.evidence()); !st.ok()) {
    return absl::UnauthenticatedError(absl::StrCat("the evidence's signature does not verify with the gateway key '",
                                                   signed_evidence.signature().key_id(), "': it was altered or signed by another key"));
  }
  v1::Evidence evidence;
  if (!evidence.ParseFromString(signed_evidence.evidence())) {
    return absl::InvalidArgumentError("the signed evidence does not parse as caselink.v1.Evidence");
  }
  return evidence;
}

absl::StatusOr<std::vector<v1::Delivery>> PendingDeliveriesThrough(Store& store, absl::string_view agency,
                                                                   uint64_t through) {
  std::vector<v1::Delivery> out;
  uint64_t after = 0;
  for (;;) {
    constexpr uint32_t kPage = 512;
    auto page = store.ReadPendingDeliveries(std::string(agency), after, kPage);
    if (!page.ok()) return page.status();
    for (auto& d : *page) {
      if (d.sequence() > through) return out;
      after = d.sequence();
      out.push_back(std::move(d));
    }
    if (page->size() < kPage) return out;
  }
}

v1::Evidence DownloadEvidence(absl::string_view agency, absl::string_view certificate_sha256,
                              absl::string_view case_id, const v1::Digest& document_digest) {
  v1::Evidence e;
  e.set_kind(v1::Evidence::DOCUMENT_RETRIEVED);
  e.set_agency(std::string(agency));
  e.set_agency_certificate_sha256(std::string(certificate_sha256));
  e.set_case_id(std::string(case_id));
  *e.mutable_document_digest() = document_digest;
  return e;
}

absl::StatusOr<uint64_t> SubmissionPipeline::AppendAuditWithEvidence(StoreTransaction& txn, v1::AuditRecord record,
                                                                     v1::Evidence evidence) const {
  const absl::Time now = deps_.clock.Now();
  *evidence.mutable_time() = google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(now));
  auto signed_evidence = SignEvidence(evidence, deps_.gateway_signer);
  if (!signed_evidence.ok()) return signed_evidence.status();
  *record.mutable_evidence() = std::move(*signed_evidence);
  return AppendAuditRecord(txn, std::move(record), now, AuditHasher());
}

void SubmissionPipeline::RecordEventWithEvidence(v1::AuditRecord record, v1::Evidence evidence,
                                                 std::function<void(absl::Status)> done) {
  deps_.store.Write(
      [this, record = std::move(record), evidence = std::move(evidence)](StoreTransaction& txn) {
        return AppendAuditWithEvidence(txn, record, evidence).status();
      },
      std::move(done));
}

absl::Status SubmissionPipeline::AppendAcknowledgementEvidence(StoreTransaction& txn, const Caller& caller,
                                                               const std::vector<v1::Delivery>& deliveries) const {
  for (const v1::Delivery& d : deliveries) {
    v1::Evidence e;
    e.set_kind(v1::Evidence::DELIVERY_ACKNOWLEDGED);
    e.set_case_id(d.case_id());
    e.set_agency(caller.agency_id());
    e.set_agency_certificate_sha256(caller.certificate_sha256);
    e.set_envelope_id(d.envelope_id());
    e.mutable_envelope_digest()->set_algorithm(v1::SHA256);
    e.mutable_envelope_digest()->set_value(security::Sha256(d.envelope().envelope()));
    e.set_sender_agency(d.sender_agency());
    e.set_delivery_sequence(d.sequence());
    v1::AuditRecord r;
    r.set_actor_agency(caller.agency_id());
    r.set_actor_certificate_sha256(caller.certificate_sha256);
    r.set_action("Acknowledge/delivery");
    r.set_case_id(d.case_id());
    r.set_outcome(v1::AuditRecord::ACKNOWLEDGED);
    r.set_reason(absl::StrCat("delivery ", d.sequence(), " of envelope ", d.envelope_id(), " from ", d.sender_agency(),
                              " acknowledged by ", caller.agency_id()));
    r.set_envelope_id(d.envelope_id());
    *r.mutable_envelope_digest() = e.envelope_digest();
    if (auto st = AppendAuditWithEvidence(txn, std::move(r), std::move(e)); !st.ok()) return st.status();
  }
  return absl::OkStatus();
}

}  // namespace caselink
