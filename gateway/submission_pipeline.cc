// Submission pipeline. Every refusal names what was wrong and is audited
// before the caller hears of it; nothing is acknowledged before it is durable.
#include "gateway/submission_pipeline.h"

#include <algorithm>
#include <regex>

#include <google/protobuf/util/time_util.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gateway/audit_log.h"
#include "gateway/lifecycle.h"
#include "security/digest.h"

namespace caselink {
namespace {

using google::protobuf::util::TimeUtil;

google::protobuf::Timestamp ToProto(absl::Time t) { return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t)); }

const std::regex& IdPattern() {
  static const std::regex* pattern = new std::regex("^[A-Za-z0-9._:-]{1,128}$");
  return *pattern;
}

v1::AuditRecord BaseRecord(const Caller& caller, std::string action, std::string case_id) {
  v1::AuditRecord r;
  r.set_actor_agency(caller.agency_id());
  r.set_actor_certificate_sha256(caller.certificate_sha256);
  r.set_action(std::move(action));
  r.set_case_id(std::move(case_id));
  return r;
}

v1::AuditRecord RefusalRecord(const Caller& caller, std::string action, std::string case_id, const absl::Status& why) {
  v1::AuditRecord r = BaseRecord(caller, std::move(action), std::move(case_id));
  r.set_outcome(v1::AuditRecord::REFUSED);
  r.set_status_code(absl::StatusCodeToString(why.code()));
  r.set_reason(std::string(why.message()));
  return r;
}

absl::Status StoreFailure(const absl::Status& s) {
  return absl::UnavailableError(
      absl::StrCat("the gateway could not make the request durable; nothing was recorded, retry later (", s.message(), ")"));
}

}  // namespace

struct SubmissionPipeline::Submission {
  Caller caller;
  v1::SignedEnvelope signed_envelope;
  v1::Envelope envelope;
  std::string digest;  // SHA-256 of signed_envelope.envelope()
  std::string action_label = "Submit";
  absl::Status refusal;
  v1::SubmitResponse response;
  std::vector<std::string> notify_agencies;
  SubmitCallback done;
};

void SubmissionPipeline::Submit(const Caller& caller, v1::SignedEnvelope signed_envelope, SubmitCallback done) {
  auto s = std::make_shared<Submission>();
  s->caller = caller;
  s->signed_envelope = std::move(signed_envelope);
  s->done = std::move(done);
  if (absl::Status refused = Precheck(*s); !refused.ok()) {
    RecordRefusal(caller, s->action_label, s->envelope.case_id(), refused,
                  [s](absl::Status st) { s->done(st); });
    return;
  }
  deps_.store.Write([this, s](StoreTransaction& txn) { return Apply(txn, *s); },
                    [this, s](absl::Status st) {
                      if (!st.ok()) return s->done(StoreFailure(st));
                      if (!s->refusal.ok()) return s->done(s->refusal);
                      for (const auto& agency : s->notify_agencies) deps_.hub.Notify(agency);
                      s->done(s->response);
                    });
}

absl::Status SubmissionPipeline::Precheck(Submission& s) const {
  const std::string& bytes = s.signed_envelope.envelope();
  // 1. Bounds and shape.
  if (bytes.empty()) return absl::InvalidArgumentError("envelope.envelope is empty: send the serialized caselink.v1.Envelope");
  if (bytes.size() > deps_.config.max_envelope_bytes()) {
    return absl::InvalidArgumentError(absl::StrCat("envelope is ", bytes.size(), " bytes; the limit is ",
                                                   deps_.config.max_envelope_bytes(),
                                                   " (send documents through DocumentService.Upload and reference them by digest)"));
  }
  if (!s.envelope.ParseFromString(bytes)) {
    return absl::InvalidArgumentError("envelope.envelope does not parse as caselink.v1.Envelope");
  }
  s.digest = security::Sha256(bytes);
  const v1::Envelope& e = s.envelope;
  s.action_label = absl::StrCat("Submit/", ActionName(e.action_case()));
  if (!std::regex_match(e.envelope_id(), IdPattern())) {
    return absl::InvalidArgumentError("envelope_id must be 1-128 characters of A-Z a-z 0-9 . _ : -");
  }
  if (!std::regex_match(e.case_id(), IdPattern())) {
    return absl::InvalidArgumentError("case_id must be 1-128 characters of A-Z a-z 0-9 . _ : -");
  }
  if (e.action_case() == v1::Envelope::ACTION_NOT_SET) return absl::InvalidArgumentError("envelope has no action");
  if (!e.has_created_at()) return absl::InvalidArgumentError("envelope created_at is required");
  if (e.documents_size() > 1000) return absl::InvalidArgumentError("an envelope may reference at most 1000 documents");

  // 2. Who signed: the sender must be the mTLS peer, with one of its registered keys.
  if (e.sender_agency() != s.caller.agency_id()) {
    return absl::PermissionDeniedError(absl::StrCat("envelope sender '", e.sender_agency(),
                                                    "' is not the agency of the TLS client certificate ('",
                                                    s.caller.agency_id(), "'); agencies sign only their own envelopes"));
  }
  const v1::Signature& sig = s.signed_envelope.signature();
  if (sig.algorithm() != v1::ECDSA_P256_SHA256) {
    return absl::InvalidArgumentError(absl::StrCat("signature algorithm ", v1::SignatureAlgorithm_Name(sig.algorithm()),
                                                   " is not allowed by the INTL profile; use ECDSA_P256_SHA256"));
  }
  const SigningKey* key = deps_.registry.FindSigningKey(e.sender_agency(), sig.key_id());
  if (key == nullptr) {
    return absl::UnauthenticatedError(absl::StrCat("key id '", sig.key_id(), "' is not a registered signing key of agency '",
                                                   e.sender_agency(), "'"));
  }
  const absl::Time now = deps_.clock.Now();
  if (auto st = deps_.registry.ValidateSigningCertificate(*key->certificate, now); !st.ok()) {
    return absl::UnauthenticatedError(absl::StrCat("signing certificate of key '", sig.key_id(), "' is not valid now: ", st.message()));
  }
  if (auto st = key->verifier->Verify(sig.value(), bytes); !st.ok()) {
    return absl::UnauthenticatedError(absl::StrCat("signature over envelope '", e.envelope_id(), "' does not verify with key '",
                                                   sig.key_id(), "' of agency '", e.sender_agency(),
                                                   "': sign the exact serialized Envelope bytes that are sent"));
  }

  // 3. Freshness: an old envelope cannot be replayed once its id ages out of memory.
  const absl::Time created = absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(e.created_at()));
  const absl::Duration skew = created - now;
  const absl::Duration window = absl::Seconds(deps_.config.envelope_time_window_seconds());
  if (skew > window || skew < -window) {
    return absl::InvalidArgumentError(absl::StrCat("envelope created_at ", absl::FormatTime(created), " is ",
                                                   absl::ToInt64Seconds(skew), " s from gateway time ", absl::FormatTime(now),
                                                   "; the accepted window is ±", deps_.config.envelope_time_window_seconds(),
                                                   " s (check the sender's clock, or re-sign with a new created_at)"));
  }

  // 4. Documents must be stored, with the size and digest the sender signed.
  for (const auto& doc : e.documents()) {
    if (doc.type() == v1::DOCUMENT_TYPE_UNSPECIFIED) {
      return absl::InvalidArgumentError(absl::StrCat("document '", doc.title(), "' has no type"));
    }
    if (doc.digest().algorithm() != v1::SHA256 || doc.digest().value().size() != 32) {
      return absl::InvalidArgumentError(absl::StrCat("document '", doc.title(), "' needs a 32-byte SHA256 digest under the INTL profile"));
    }
    const std::string hex = security::HexEncode(doc.digest().value());
    auto size = deps_.blobs.Size(hex);
    if (!size.ok()) {
      return absl::FailedPreconditionError(absl::StrCat("document '", doc.title(), "' (sha256 ", hex,
                                                        ") has not been uploaded; upload it with DocumentService.Upload first"));
    }
    if (*size != doc.size_bytes()) {
      return absl::InvalidArgumentError(absl::StrCat("document '", doc.title(), "' is ", *size, " bytes as stored but the envelope says ",
                                                     doc.size_bytes()));
    }
  }
  return absl::OkStatus();
}

absl::Status SubmissionPipeline::Apply(StoreTransaction& txn, Submission& s) const {
  const v1::Envelope& e = s.envelope;
  const absl::Time now = deps_.clock.Now();
  auto refuse = [&](absl::Status why) -> absl::Status {
    s.refusal = why;
    v1::AuditRecord r = RefusalRecord(s.caller, s.action_label, e.case_id(), why);
    r.set_envelope_id(e.envelope_id());
    r.mutable_envelope_digest()->set_algorithm(v1::SHA256);
    r.mutable_envelope_digest()->set_value(s.digest);
    return AppendAuditRecord(txn, std::move(r), now).status();
  };

  // Idempotency: the same envelope again gets the original receipt and no second effect.
  auto prior = txn.GetEnvelope(e.envelope_id());
  if (!prior.ok()) return prior.status();
  if (prior->has_value()) {
    const StoredEnvelope& stored = **prior;
    if (stored.envelope_digest != s.digest) {
      return refuse(absl::AlreadyExistsError(absl::StrCat("envelope id '", e.envelope_id(),
                                                          "' was already used for different content; use a new id for a new envelope")));
    }
    if (!s.response.mutable_receipt()->ParseFromString(stored.signed_receipt)) {
      return absl::InternalError("stored receipt does not parse");
    }
    s.response.set_duplicate(true);
    v1::AuditRecord r = BaseRecord(s.caller, s.action_label, e.case_id());
    r.set_outcome(v1::AuditRecord::ACCEPTED);
    r.set_reason("retry of an accepted envelope; the original receipt was returned, nothing changed");
    r.set_envelope_id(e.envelope_id());
    r.mutable_envelope_digest()->set_algorithm(v1::SHA256);
    r.mutable_envelope_digest()->set_value(s.digest);
    return AppendAuditRecord(txn, std::move(r), now).status();
  }

  auto existing = txn.GetCase(e.case_id());
  if (!existing.ok()) return existing.status();
  const v1::Case* current = existing->has_value() ? &**existing : nullptr;
  const v1::Agency& actor = s.caller.agency->agency;
  v1::Track track = v1::TRACK_UNSPECIFIED;
  if (e.has_transfer()) track = e.transfer().track() == v1::TRACK_UNSPECIFIED ? v1::CRIMINAL : e.transfer().track();
  auto transition = FindTransition(current, e.case_id(), track, e.action_case(), actor);
  if (!transition.ok()) return refuse(transition.status());
  const Transition& t = **transition;

  v1::Case next = current ? *current : v1::Case();
  if (current == nullptr) {
    // A transfer opens the case: "same level" routing from the registry.
    const AgencyEntry* psb = deps_.registry.FindInRegion(actor.region(), v1::PUBLIC_SECURITY);
    const AgencyEntry* pro = deps_.registry.FindInRegion(actor.region(), v1::PROCURATORATE);
    if (psb == nullptr || pro == nullptr) {
      return refuse(absl::FailedPreconditionError(absl::StrCat(
          "the registry has no ", psb == nullptr ? "public security bureau" : "procuratorate", " for region ", actor.region(),
          "; a transfer goes to the agencies of the same level")));
    }
    if (e.addressees_size() > 0 && !(e.addressees_size() == 1 && e.addressees(0) == psb->agency.id())) {
      return refuse(absl::InvalidArgumentError(absl::StrCat(
          "a transfer from ", actor.id(), " is addressed to the public security bureau of the same region, ", psb->agency.id(),
          "; the envelope names [", absl::StrJoin(e.addressees(), ", "), "]")));
    }
    std::vector<std::string> copied(e.copied().begin(), e.copied().end());
    for (const auto& id : copied) {
      if (deps_.registry.Find(id) == nullptr) {
        return refuse(absl::InvalidArgumentError(absl::StrCat("copied agency '", id, "' is not in the registry")));
      }
    }
    if (std::find(copied.begin(), copied.end(), pro->agency.id()) == copied.end()) copied.push_back(pro->agency.id());
    const v1::Transfer& tr = e.transfer();
    next.set_case_id(e.case_id());
    next.set_track(track);
    next.set_originator(actor.id());
    next.set_addressee(psb->agency.id());
    for (const auto& id : copied) next.add_copied(id);
    next.set_region(actor.region());
    next.set_case_number(tr.case_number());
    next.set_case_name(tr.case_name());
    next.set_offence_category(tr.offence_category());
    *next.mutable_suspects() = tr.suspects();
    *next.mutable_created_at() = ToProto(now);
  } else {
    // Later actions are routed by the case; named addressees must be parties to it.
    for (const auto& id : e.addressees()) {
      if (RelationsOf(*current, id).empty()) {
        return refuse(absl::InvalidArgumentError(absl::StrCat("addressee '", id, "' is not a party to case '", e.case_id(),
                                                              "'; recipients are derived from the case")));
      }
    }
  }
  if (e.has_receipt() && !e.receipt().acknowledged_envelope_id().empty()) {
    auto acked = txn.GetEnvelope(e.receipt().acknowledged_envelope_id());
    if (!acked.ok()) return acked.status();
    if (!acked->has_value() || (*acked)->case_id != e.case_id()) {
      return refuse(absl::InvalidArgumentError(absl::StrCat("the receipt acknowledges envelope '", e.receipt().acknowledged_envelope_id(),
                                                            "', which is not part of case '", e.case_id(), "'")));
    }
    if (e.receipt().has_acknowledged_envelope_digest() &&
        e.receipt().acknowledged_envelope_digest().value() != (*acked)->envelope_digest) {
      return refuse(absl::InvalidArgumentError("the receipt's acknowledged_envelope_digest does not match the acknowledged envelope"));
    }
  }

  const v1::CaseState from = current ? current->state() : v1::CASE_STATE_UNSPECIFIED;
  next.set_state(t.to);
  next.set_version(next.version() + 1);
  *next.mutable_updated_at() = ToProto(now);

  v1::AuditRecord record = BaseRecord(s.caller, s.action_label, e.case_id());
  record.set_outcome(v1::AuditRecord::ACCEPTED);
  record.set_reason(absl::StrCat(v1::CaseState_Name(from), " -> ", v1::CaseState_Name(t.to), " (", t.legal_basis, ")"));
  record.set_envelope_id(e.envelope_id());
  record.mutable_envelope_digest()->set_algorithm(v1::SHA256);
  record.mutable_envelope_digest()->set_value(s.digest);
  auto audit_index = AppendAuditRecord(txn, std::move(record), now);
  if (!audit_index.ok()) return audit_index.status();

  v1::SubmissionReceipt receipt;
  receipt.set_envelope_id(e.envelope_id());
  receipt.mutable_envelope_digest()->set_algorithm(v1::SHA256);
  receipt.mutable_envelope_digest()->set_value(s.digest);
  receipt.set_case_id(e.case_id());
  receipt.set_resulting_state(t.to);
  receipt.set_audit_index(*audit_index);
  receipt.set_tree_size(*audit_index + 1);
  *receipt.mutable_gateway_time() = ToProto(now);
  receipt.set_sender_agency(actor.id());
  v1::SignedSubmissionReceipt* signed_receipt = s.response.mutable_receipt();
  signed_receipt->set_receipt(SerializeCanonical(receipt));
  auto gateway_signature = deps_.gateway_signer.Sign(signed_receipt->receipt());
  if (!gateway_signature.ok()) return gateway_signature.status();
  signed_receipt->mutable_signature()->set_algorithm(v1::ECDSA_P256_SHA256);
  signed_receipt->mutable_signature()->set_key_id(deps_.gateway_signer.key_id());
  signed_receipt->mutable_signature()->set_value(*gateway_signature);

  v1::TimelineEvent event;
  event.set_case_id(e.case_id());
  event.set_version(next.version());
  *event.mutable_at() = ToProto(now);
  event.set_actor_agency(actor.id());
  event.set_action(std::string(ActionName(e.action_case())));
  event.set_from_state(from);
  event.set_to_state(t.to);
  event.set_envelope_id(e.envelope_id());
  *event.mutable_envelope_digest() = receipt.envelope_digest();
  *event.mutable_documents() = e.documents();
  event.set_audit_index(*audit_index);
  event.set_remarks(e.remarks());

  StoredEnvelope stored{e.envelope_id(), s.digest, actor.id(), e.case_id(),
                        s.signed_envelope.SerializeAsString(), signed_receipt->SerializeAsString()};
  if (auto st = txn.PutEnvelope(stored); !st.ok()) return st;
  if (auto st = txn.PutCase(next); !st.ok()) return st;
  if (auto st = txn.AppendTimelineEvent(event); !st.ok()) return st;
  for (const auto& doc : e.documents()) {
    if (auto st = txn.AddCaseDocument(e.case_id(), security::HexEncode(doc.digest().value())); !st.ok()) return st;
  }

  for (const Notify& n : t.notify) {
    std::vector<std::string> recipients;
    switch (n.who) {
      case Relation::kOriginator: recipients.push_back(next.originator()); break;
      case Relation::kAddressee: recipients.push_back(next.addressee()); break;
      case Relation::kCopied: recipients.assign(next.copied().begin(), next.copied().end()); break;
      case Relation::kNewCase: break;
    }
    for (const auto& recipient : recipients) {
      if (recipient.empty() || recipient == actor.id()) continue;
      if (std::find(s.notify_agencies.begin(), s.notify_agencies.end(), recipient) != s.notify_agencies.end()) continue;
      v1::Delivery d;
      d.set_recipient_agency(recipient);
      d.set_reason(n.reason);
      d.set_case_id(e.case_id());
      d.set_envelope_id(e.envelope_id());
      d.set_action(std::string(ActionName(e.action_case())));
      d.set_sender_agency(actor.id());
      *d.mutable_envelope() = s.signed_envelope;
      *d.mutable_gateway_receipt() = *signed_receipt;
      d.set_case_state(t.to);
      *d.mutable_committed_at() = ToProto(now);
      if (auto seq = txn.AddDelivery(d); !seq.ok()) return seq.status();
      s.notify_agencies.push_back(recipient);
    }
  }
  return absl::OkStatus();
}

void SubmissionPipeline::Acknowledge(const Caller& caller, uint64_t through_sequence,
                                     std::function<void(absl::StatusOr<uint64_t>)> done) {
  const std::string agency = caller.agency_id();
  deps_.store.Write(
      [this, caller, agency, through_sequence](StoreTransaction& txn) -> absl::Status {
        auto count = txn.AcknowledgeDeliveries(agency, through_sequence);
        if (!count.ok()) return count.status();
        v1::AuditRecord r = BaseRecord(caller, "Acknowledge", "");
        r.set_outcome(v1::AuditRecord::ACKNOWLEDGED);
        r.set_reason(absl::StrCat("deliveries through sequence ", through_sequence, " (", *count, " newly acknowledged)"));
        return AppendAuditRecord(txn, std::move(r), deps_.clock.Now()).status();
      },
      [done = std::move(done), through_sequence](absl::Status st) {
        if (!st.ok()) return done(StoreFailure(st));
        done(through_sequence);
      });
}

void SubmissionPipeline::RecordRefusal(const Caller& caller, std::string action, std::string case_id, absl::Status refusal,
                                       std::function<void(absl::Status)> done) {
  v1::AuditRecord r = RefusalRecord(caller, std::move(action), std::move(case_id), refusal);
  deps_.store.Write([this, r](StoreTransaction& txn) { return AppendAuditRecord(txn, r, deps_.clock.Now()).status(); },
                    // The caller learns why it was refused even if the audit write failed.
                    [refusal, done = std::move(done)](absl::Status) { done(refusal); });
}

void SubmissionPipeline::RecordEvent(v1::AuditRecord record, std::function<void(absl::Status)> done) {
  deps_.store.Write([this, record](StoreTransaction& txn) { return AppendAuditRecord(txn, record, deps_.clock.Now()).status(); },
                    std::move(done));
}

absl::Status SubmissionPipeline::RecordEventNow(StoreTransaction& txn, const v1::AuditRecord& record) const {
  return AppendAuditRecord(txn, record, deps_.clock.Now()).status();
}

}  // namespace caselink
