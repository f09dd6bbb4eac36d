// Submission pipeline. Every refusal names what was wrong and is audited
// before the caller hears of it; nothing is acknowledged before it is durable.
// The procedure table decides what is legal; this file applies a row: routing
// by the registry, documents, conditions, deadlines, and the one commit.
#include "gateway/submission_pipeline.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include <google/protobuf/util/time_util.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gateway/audit_log.h"
#include "gateway/document_checks.h"
#include "gateway/evidence.h"
#include "gateway/id_syntax.h"
#include "gateway/lifecycle.h"
#include "gateway/signing_key_checks.h"
#include "security/digest.h"
#include "security/signer_factory.h"

namespace caselink {
namespace {

using google::protobuf::util::TimeUtil;

google::protobuf::Timestamp ToProto(absl::Time t) { return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t)); }

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
  // signed_envelope serialized for its row, here rather than on the writer,
  // the one serial stage (Precheck, once the envelope passed).
  std::string signed_envelope_bytes;
  std::string action_label = "Submit";
  absl::Status refusal;
  v1::SubmitResponse response;
  std::vector<std::string> notify_agencies;
  // Deadline changes for the engine, applied once the commit is durable.
  std::vector<v1::Deadline> schedule;
  std::vector<std::string> unschedule;
  // Confidential documents as their stored headers describe them (Precheck), for Apply.
  std::vector<ConfidentialDocument> confidential;
  SubmitCallback done;
  // When the envelope reached the pipeline, for the metrics' latency.
  std::chrono::steady_clock::time_point arrived;
};

void SubmissionPipeline::Answer(Submission& s, absl::StatusOr<v1::SubmitResponse> outcome) const {
  if (deps_.metrics != nullptr) {
    deps_.metrics->ObserveSubmission(outcome.status().code(), std::chrono::steady_clock::now() - s.arrived);
  }
  s.done(std::move(outcome));
}

void SubmissionPipeline::Submit(const Caller& caller, v1::SignedEnvelope signed_envelope, SubmitCallback done) {
  auto s = std::make_shared<Submission>();
  if (deps_.metrics != nullptr) s->arrived = std::chrono::steady_clock::now();
  s->caller = caller;
  s->signed_envelope = std::move(signed_envelope);
  s->done = std::move(done);
  if (absl::Status refused = Precheck(*s); !refused.ok()) {
    RecordRefusal(caller, s->action_label, s->envelope.case_id(), refused,
                  [this, s](absl::Status st) { Answer(*s, st); });
    return;
  }
  deps_.store.Write([this, s](StoreTransaction& txn) { return Apply(txn, *s); },
                    [this, s](absl::Status st) {
                      if (!st.ok()) return Answer(*s, StoreFailure(st));
                      if (!s->refusal.ok()) return Answer(*s, s->refusal);
                      if (deps_.deadlines != nullptr) {
                        for (const auto& id : s->unschedule) deps_.deadlines->Unschedule(s->envelope.case_id(), id);
                        for (const auto& d : s->schedule) deps_.deadlines->Schedule(s->envelope.case_id(), d);
                      }
                      for (const auto& agency : s->notify_agencies) deps_.hub.Notify(agency);
                      // Nothing reads the response after its answer: handed over, not copied.
                      Answer(*s, std::move(s->response));
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
  if (!IsValidId(e.envelope_id())) {
    return absl::InvalidArgumentError("envelope_id must be 1-128 characters of A-Z a-z 0-9 . _ : -");
  }
  if (!IsValidId(e.case_id())) {
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
  const v1::CryptoProfile profile = deps_.config.profile();
  auto declared = FromProtoAlgorithm(sig.algorithm());
  if (!declared.ok() || !SignatureAllowed(profile, *declared)) {
    return absl::InvalidArgumentError(absl::StrCat("signature algorithm ", v1::SignatureAlgorithm_Name(sig.algorithm()),
                                                   " is not allowed by the ", ProfileName(profile), " profile; use ",
                                                   AllowedSignatureNames(profile)));
  }
  const SigningKey* key = deps_.registry.FindSigningKey(e.sender_agency(), sig.key_id());
  if (key == nullptr) return UnregisteredKeyRefusal(deps_.registry, e.sender_agency(), sig.key_id());
  // Checked under the key's own algorithm only: a signature is never verified
  // under an algorithm other than the one its sender declared.
  if (key->algorithm != *declared) {
    return absl::UnauthenticatedError(absl::StrCat("signature declares ", v1::SignatureAlgorithm_Name(sig.algorithm()),
                                                   " but key '", sig.key_id(), "' of agency '", e.sender_agency(),
                                                   "' is a ", security::SignatureAlgorithmName(key->algorithm),
                                                   " key; declare the algorithm of the key that signed"));
  }
  const absl::Time now = deps_.clock.Now();
  if (auto st = CheckSigningKeyAt(deps_.registry, e.sender_agency(), *key, now); !st.ok()) return st;
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

  // 4. Documents must be stored, with the size and digest (the profile's) the sender signed;
  // confidential ones as ciphertext of the profile's suite (recipients are checked after routing).
  if (auto st = CheckDocumentRefs(e, deps_.blobs, profile, &s.confidential, &document_facts_); !st.ok()) return st;
  s.signed_envelope_bytes = s.signed_envelope.SerializeAsString();
  return absl::OkStatus();
}

namespace {

// The payload rules the table does not express: decisions that must state
// their reasons, and supplies that must carry something.
absl::Status CheckPayload(const v1::Envelope& e) {
  switch (e.action_case()) {
    case v1::Envelope::kTransferApproval:
      if (!e.transfer_approval().approved() && e.transfer_approval().reason().empty()) {
        return absl::InvalidArgumentError(
            "a refused transfer keeps its reasons on record: transfer_approval.reason is required (D310 Art. 5)");
      }
      break;
    case v1::Envelope::kNonFiling:
      if (e.non_filing().reason().empty()) {
        return absl::InvalidArgumentError(
            "non_filing.reason is required: a refusal to file states its reasons (M2017 Art. 9)");
      }
      break;
    case v1::Envelope::kReturnCase:
      if (e.return_case().reason().empty()) {
        return absl::InvalidArgumentError(
            "return_case.reason is required: say why the case is not a police matter (M2017 Art. 9)");
      }
      break;
    case v1::Envelope::kDetentionDecision:
      if (!e.detention_decision().detained() && e.detention_decision().reason().empty()) {
        return absl::InvalidArgumentError(
            "detention_decision.reason is required when detention is declined (D2014 Art. 15)");
      }
      break;
    case v1::Envelope::kMaterialsSupply:
      if (e.documents_size() == 0 && e.materials_supply().explanation().empty()) {
        return absl::InvalidArgumentError(
            "materials_supply carries the materials as documents, or a written explanation of why they cannot be "
            "supplied (M2017 Art. 8)");
      }
      break;
    default:
      break;
  }
  return absl::OkStatus();
}

std::string TypeNames(const std::vector<v1::DocumentType>& types) {
  std::vector<std::string> names;
  for (v1::DocumentType type : types) names.push_back(v1::DocumentType_Name(type));
  return absl::StrJoin(names, ", ");
}

absl::Status CheckDocuments(const Transition& t, const v1::Envelope& e) {
  std::vector<v1::DocumentType> missing;
  for (v1::DocumentType required : t.documents) {
    const bool present = std::any_of(e.documents().begin(), e.documents().end(),
                                     [required](const v1::DocumentRef& d) { return d.type() == required; });
    if (!present) missing.push_back(required);
  }
  if (missing.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat("action '", ActionName(t.action), "' needs documents of type ",
                                                    TypeNames(t.documents), " (", t.legal_basis, "); missing: ",
                                                    TypeNames(missing)));
}

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(t));
}

bool IsOpen(const v1::Deadline& d) {
  return d.status() == v1::Deadline::RUNNING || d.status() == v1::Deadline::OVERDUE;
}

// A duty is missed once its time has passed, even before the engine has marked it.
bool IsMissed(const v1::Deadline& d, absl::Time now) {
  return d.kind() != v1::Deadline::WINDOW &&
         (d.status() == v1::Deadline::OVERDUE || (d.status() == v1::Deadline::RUNNING && now >= FromProto(d.due_at())));
}

absl::Status CheckCondition(const Transition& t, const v1::Case& c, absl::Time now) {
  switch (t.condition) {
    case Condition::kNone:
      return absl::OkStatus();
    case Condition::kWindowOpen: {
      const v1::Deadline* window = nullptr;
      for (const v1::Deadline& d : c.deadlines()) {
        if (d.duty() == t.condition_duty) window = &d;
      }
      const DeadlineSpec* spec = FindDeadlineSpec(t.condition_duty);
      const std::string period =
          spec ? absl::StrCat(DescribePeriod(spec->rule, spec->amount), " (", spec->legal_basis, ")") : "its period";
      if (window == nullptr) {
        return absl::FailedPreconditionError(absl::StrCat("action '", ActionName(t.action), "' is allowed only within ",
                                                          period, ", and that period never started on case '",
                                                          c.case_id(), "'"));
      }
      if (window->status() != v1::Deadline::RUNNING || now >= FromProto(window->due_at())) {
        return absl::FailedPreconditionError(absl::StrCat("action '", ActionName(t.action), "' is allowed only within ",
                                                          period, "; on case '", c.case_id(), "' that period ended at ",
                                                          FormatChinaTime(FromProto(window->due_at()))));
      }
      return absl::OkStatus();
    }
    case Condition::kAddresseeOverdue: {
      std::string running;
      for (const v1::Deadline& d : c.deadlines()) {
        if (d.owed_by() != c.addressee()) continue;
        if (IsMissed(d, now)) return absl::OkStatus();
        if (d.status() == v1::Deadline::RUNNING && d.kind() != v1::Deadline::WINDOW) {
          running = absl::StrCat("; ", d.duty(), " is due at ", FormatChinaTime(FromProto(d.due_at())));
        }
      }
      return absl::FailedPreconditionError(absl::StrCat(
          "action '", ActionName(t.action), "' in state ", v1::CaseState_Name(c.state()),
          " rests on a missed deadline of the addressee (M2017 Art. 13), and no deadline owed by ", c.addressee(),
          " on case '", c.case_id(), "' is overdue", running));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status SubmissionPipeline::Route(const Transition& t, const v1::Envelope& e, const v1::Agency& actor,
                                       const v1::Case* current, v1::Case& next) const {
  auto same_level = [&](absl::string_view region, v1::AgencyKind kind) -> absl::StatusOr<std::string> {
    const AgencyEntry* entry = deps_.registry.FindInRegion(region, kind);
    if (entry == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat("the registry has no ", AgencyKindName(kind), " for region ", region,
                                                        "; this action goes to the agencies of the same level"));
    }
    return entry->agency.id();
  };
  auto add_copied = [&](const std::string& id) {
    if (std::find(next.copied().begin(), next.copied().end(), id) == next.copied().end()) next.add_copied(id);
  };
  auto copies_from_envelope = [&]() -> absl::Status {
    for (const auto& id : e.copied()) {
      if (deps_.registry.Find(id) == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat("copied agency '", id, "' is not in the registry"));
      }
      add_copied(id);
    }
    return absl::OkStatus();
  };
  auto check_addressees = [&](const std::string& expected, absl::string_view what) -> absl::Status {
    if (e.addressees_size() == 0 || (e.addressees_size() == 1 && e.addressees(0) == expected)) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat("a ", ActionName(e.action_case()), " from ", actor.id(),
                                                   " is addressed to ", what, ", ", expected, "; the envelope names [",
                                                   absl::StrJoin(e.addressees(), ", "), "]"));
  };
  auto fill = [&](const std::string& number, const std::string& name, const std::string& offence,
                  const google::protobuf::RepeatedPtrField<v1::Suspect>& suspects) {
    if (!number.empty()) next.set_case_number(number);
    if (!name.empty()) next.set_case_name(name);
    if (!offence.empty()) next.set_offence_category(offence);
    if (!suspects.empty()) *next.mutable_suspects() = suspects;
  };

  switch (t.routing) {
    case Routing::kNone:
      break;
    case Routing::kSameLevelTransfer: {
      if (e.transfer().track() == v1::DETENTION) {
        return absl::InvalidArgumentError(
            "a transfer is on the criminal track; a detention-track case is opened with penalty_decision or "
            "detention_transfer");
      }
      const std::string region = current ? current->region() : actor.region();
      auto psb = same_level(region, v1::PUBLIC_SECURITY);
      if (!psb.ok()) return psb.status();
      auto pro = same_level(region, v1::PROCURATORATE);
      if (!pro.ok()) return pro.status();
      if (auto st = check_addressees(*psb, "the public security bureau of the same region"); !st.ok()) return st;
      if (auto st = copies_from_envelope(); !st.ok()) return st;
      add_copied(*pro);
      if (current == nullptr) {
        next.set_originator(actor.id());
        next.set_region(actor.region());
      }
      next.set_addressee(*psb);
      const v1::Transfer& tr = e.transfer();
      fill(tr.case_number(), tr.case_name(), tr.offence_category(), tr.suspects());
      break;
    }
    case Routing::kOpenAtEnvironmentBureau: {
      auto pro = same_level(actor.region(), v1::PROCURATORATE);
      if (!pro.ok()) return pro.status();
      if (e.addressees_size() > 0) {
        return absl::InvalidArgumentError(
            "a transfer proposal goes to the bureau's own head and addresses no other agency; leave addressees empty");
      }
      if (auto st = copies_from_envelope(); !st.ok()) return st;
      add_copied(*pro);
      next.set_originator(actor.id());
      next.set_region(actor.region());
      const v1::TransferProposal& p = e.transfer_proposal();
      fill(p.case_number(), p.case_name(), p.offence_category(), p.suspects());
      break;
    }
    case Routing::kRecommendation: {
      const v1::TransferRecommendation& rec = e.transfer_recommendation();
      if (current != nullptr) {
        if (!rec.environment_bureau().empty() && rec.environment_bureau() != current->originator()) {
          return absl::InvalidArgumentError(absl::StrCat("case '", current->case_id(), "' belongs to ",
                                                         current->originator(), "; the opinion goes to it, not to ",
                                                         rec.environment_bureau()));
        }
        add_copied(actor.id());
        break;
      }
      std::string epb;
      std::string region = actor.region();
      if (rec.environment_bureau().empty()) {
        auto found = same_level(actor.region(), v1::ENVIRONMENT_BUREAU);
        if (!found.ok()) return found.status();
        epb = *found;
      } else {
        const AgencyEntry* entry = deps_.registry.Find(rec.environment_bureau());
        if (entry == nullptr || entry->agency.kind() != v1::ENVIRONMENT_BUREAU) {
          return absl::InvalidArgumentError(absl::StrCat("transfer_recommendation.environment_bureau '",
                                                         rec.environment_bureau(),
                                                         "' is not a registered environmental bureau"));
        }
        if (entry->agency.region() != actor.region()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "a procuratorate's opinion goes to the environmental bureau of its own region (", actor.region(), "); ",
              rec.environment_bureau(), " is of region ", entry->agency.region()));
        }
        epb = entry->agency.id();
      }
      if (auto st = check_addressees(epb, "the environmental bureau of the same region"); !st.ok()) return st;
      if (auto st = copies_from_envelope(); !st.ok()) return st;
      add_copied(actor.id());
      next.set_originator(epb);
      next.set_region(region);
      break;
    }
    case Routing::kSameLevelDetention: {
      const std::string region = current ? current->region() : actor.region();
      auto psb = same_level(region, v1::PUBLIC_SECURITY);
      if (!psb.ok()) return psb.status();
      if (auto st = check_addressees(*psb, "the public security bureau of the same region"); !st.ok()) return st;
      if (current == nullptr) {
        if (auto st = copies_from_envelope(); !st.ok()) return st;
        next.set_originator(actor.id());
        next.set_region(actor.region());
      }
      next.set_addressee(*psb);
      if (e.has_penalty_decision()) {
        const v1::PenaltyDecision& p = e.penalty_decision();
        fill(p.case_number(), p.case_name(), "", p.suspects());
      } else if (e.has_detention_transfer()) {
        const v1::DetentionTransfer& d = e.detention_transfer();
        fill(d.case_number(), d.case_name(), "", d.suspects());
      }
      break;
    }
    case Routing::kReferral: {
      const std::string& to = e.referral().to_agency();
      const AgencyEntry* entry = deps_.registry.Find(to);
      if (entry == nullptr || entry->agency.kind() != v1::PUBLIC_SECURITY) {
        return absl::InvalidArgumentError(
            absl::StrCat("referral.to_agency '", to, "' is not a registered public security bureau"));
      }
      if (current != nullptr && to == current->addressee()) {
        return absl::InvalidArgumentError(absl::StrCat("referral.to_agency '", to, "' already has the case"));
      }
      next.set_addressee(to);
      break;
    }
    case Routing::kCourt: {
      const std::string& court = e.prosecution_decision().court();
      if (court.empty()) {
        return absl::InvalidArgumentError("a charge names the competent court in prosecution_decision.court");
      }
      const AgencyEntry* entry = deps_.registry.Find(court);
      if (entry == nullptr || entry->agency.kind() != v1::COURT) {
        return absl::InvalidArgumentError(
            absl::StrCat("prosecution_decision.court '", court, "' is not a registered court"));
      }
      next.set_court(court);
      break;
    }
  }
  // Otherwise the case decides the recipients; named addressees must be parties to it.
  if (current != nullptr && t.routing != Routing::kSameLevelTransfer && t.routing != Routing::kSameLevelDetention) {
    for (const auto& id : e.addressees()) {
      if (RelationsOf(next, id).empty()) {
        return absl::InvalidArgumentError(absl::StrCat("addressee '", id, "' is not a party to case '", e.case_id(),
                                                       "'; recipients are derived from the case"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status SubmissionPipeline::UpdateDeadlines(const Transition& t, const v1::Envelope& e, absl::Time now,
                                                 v1::Case& next, Submission& s) const {
  auto close = [&](v1::Deadline& d, v1::Deadline::Status status) {
    if (d.status() == v1::Deadline::RUNNING) s.unschedule.push_back(d.deadline_id());
    d.set_status(status);
    *d.mutable_closed_at() = ToProto(now);
  };
  if (!t.extends.empty()) {
    v1::Deadline* target = nullptr;
    for (v1::Deadline& d : *next.mutable_deadlines()) {
      if (d.duty() == t.extends && IsOpen(d)) target = &d;
    }
    const v1::DeadlineExtension& ext = e.deadline_extension();
    if (!ext.deadline_id().empty() && (target == nullptr || target->deadline_id() != ext.deadline_id())) {
      const std::string running = target ? absl::StrCat(" (", target->deadline_id(), ")") : "";
      return absl::InvalidArgumentError(absl::StrCat("deadline_extension.deadline_id '", ext.deadline_id(),
                                                     "' is not the ", t.extends, " deadline of case '", e.case_id(),
                                                     "'", running));
    }
    if (target == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("case '", e.case_id(), "' has no running ", t.extends, " period to extend"));
    }
    if (IsMissed(*target, now)) {
      return absl::FailedPreconditionError(absl::StrCat("the ", t.extends, " period of case '", e.case_id(),
                                                        "' ended at ", FormatChinaTime(FromProto(target->due_at())),
                                                        "; an overdue period cannot be extended"));
    }
    if (target->rule() == v1::Deadline::NATURAL_DAYS && ext.extended_to_days() <= target->amount()) {
      return absl::FailedPreconditionError(absl::StrCat("the ", t.extends, " period of case '", e.case_id(),
                                                        "' is already ", target->amount(), " days"));
    }
    auto due = ComputeDeadlineDue(v1::Deadline::NATURAL_DAYS, ext.extended_to_days(), FromProto(target->started_at()),
                                  deps_.calendar);
    if (!due.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("extending ", t.extends, " to ", ext.extended_to_days(), " days: ", due.status().message()));
    }
    target->set_rule(v1::Deadline::NATURAL_DAYS);
    target->set_amount(ext.extended_to_days());
    *target->mutable_due_at() = ToProto(*due);
    s.schedule.push_back(*target);
  }
  for (absl::string_view duty : t.stops) {
    for (v1::Deadline& d : *next.mutable_deadlines()) {
      if (d.duty() == duty && IsOpen(d)) close(d, v1::Deadline::MET);
    }
  }
  for (absl::string_view duty : t.cancels) {
    for (v1::Deadline& d : *next.mutable_deadlines()) {
      if (d.duty() == duty && IsOpen(d)) close(d, v1::Deadline::CANCELLED);
    }
  }
  // Nothing is owed on a closed case any more.
  if (IsTerminal(next.track(), t.to)) {
    for (v1::Deadline& d : *next.mutable_deadlines()) {
      if (IsOpen(d)) close(d, v1::Deadline::CANCELLED);
    }
  }
  for (absl::string_view duty : t.starts) {
    const DeadlineSpec* spec = FindDeadlineSpec(duty);
    if (spec == nullptr) return absl::InternalError(absl::StrCat("the procedure table names an unknown duty ", duty));
    // A period started again replaces the one still running.
    for (v1::Deadline& d : *next.mutable_deadlines()) {
      if (d.duty() == duty && d.status() == v1::Deadline::RUNNING) close(d, v1::Deadline::CANCELLED);
    }
    auto due = ComputeDeadlineDue(spec->rule, spec->amount, now, deps_.calendar);
    if (!due.ok()) {
      return absl::FailedPreconditionError(absl::StrCat("action '", ActionName(t.action), "' starts the period ", duty,
                                                        " (", DescribePeriod(spec->rule, spec->amount), ", ",
                                                        spec->legal_basis, "), which cannot be computed: ",
                                                        due.status().message()));
    }
    v1::Deadline* d = next.add_deadlines();
    d->set_deadline_id(absl::StrCat(duty, "-", next.version()));
    d->set_duty(std::string(duty));
    switch (spec->owed_by) {
      case Relation::kOriginator: d->set_owed_by(next.originator()); break;
      case Relation::kAddressee: d->set_owed_by(next.addressee()); break;
      case Relation::kCourt: d->set_owed_by(next.court()); break;
      default: break;
    }
    d->set_kind(spec->kind);
    d->set_rule(spec->rule);
    d->set_amount(spec->amount);
    *d->mutable_started_at() = ToProto(now);
    *d->mutable_due_at() = ToProto(*due);
    d->set_status(v1::Deadline::RUNNING);
    d->set_legal_basis(std::string(spec->legal_basis));
    s.schedule.push_back(*d);
  }
  return absl::OkStatus();
}

absl::Status SubmissionPipeline::Apply(StoreTransaction& txn, Submission& s) const {
  // The store may run a group again (store.h): every output starts afresh.
  s.refusal = absl::OkStatus();
  s.response.Clear();
  s.notify_agencies.clear();
  s.schedule.clear();
  s.unschedule.clear();
  const v1::Envelope& e = s.envelope;
  const absl::Time now = deps_.clock.Now();
  auto refuse = [&](absl::Status why) -> absl::Status {
    s.refusal = why;
    s.schedule.clear();
    s.unschedule.clear();
    v1::AuditRecord r = RefusalRecord(s.caller, s.action_label, e.case_id(), why);
    r.set_envelope_id(e.envelope_id());
    r.mutable_envelope_digest()->set_algorithm(v1::SHA256);
    r.mutable_envelope_digest()->set_value(s.digest);
    return AppendAuditRecord(txn, std::move(r), now, AuditHasher()).status();
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
    if (stored.signed_receipt.empty()) {
      // The original is in this same group and its receipt is still being
      // signed: its step (registered earlier, so run earlier) sets it.
      Submission* retry = &s;  // alive until its done callback, after the commit
      if (auto st = txn.BeforeCommit([retry, id = e.envelope_id()](StoreTransaction& txn) -> absl::Status {
            auto original = txn.GetEnvelope(id);
            if (!original.ok()) return original.status();
            if (!original->has_value() || !retry->response.mutable_receipt()->ParseFromString((**original).signed_receipt)) {
              return absl::InternalError(absl::StrCat("the receipt of envelope ", id, " was not stored"));
            }
            return absl::OkStatus();
          });
          !st.ok()) {
        return st;
      }
    } else if (!s.response.mutable_receipt()->ParseFromString(stored.signed_receipt)) {
      return absl::InternalError("stored receipt does not parse");
    }
    s.response.set_duplicate(true);
    v1::AuditRecord r = BaseRecord(s.caller, s.action_label, e.case_id());
    r.set_outcome(v1::AuditRecord::ACCEPTED);
    r.set_reason("retry of an accepted envelope; the original receipt was returned, nothing changed");
    r.set_envelope_id(e.envelope_id());
    r.mutable_envelope_digest()->set_algorithm(v1::SHA256);
    r.mutable_envelope_digest()->set_value(s.digest);
    return AppendAuditRecord(txn, std::move(r), now, AuditHasher()).status();
  }

  auto existing = txn.GetCase(e.case_id());
  if (!existing.ok()) return existing.status();
  const v1::Case* current = existing->has_value() ? &**existing : nullptr;
  const v1::Agency& actor = s.caller.agency->agency;
  absl::StatusOr<absl::string_view> branch = BranchOf(e);
  if (!branch.ok()) return refuse(branch.status());
  auto transition = FindTransition(current, e.case_id(), e.action_case(), *branch, actor);
  if (!transition.ok()) return refuse(transition.status());
  const Transition& t = **transition;

  // Everything is checked on a copy; nothing is written before the last check.
  v1::Case next = current ? *current : v1::Case();
  if (current == nullptr) {
    next.set_case_id(e.case_id());
    next.set_track(t.track);
    *next.mutable_created_at() = ToProto(now);
  }
  if (auto st = Route(t, e, actor, current, next); !st.ok()) return refuse(st);
  if (auto st = CheckPayload(e); !st.ok()) return refuse(st);
  if (auto st = CheckDocuments(t, e); !st.ok()) return refuse(st);
  if (auto st = CheckCondition(t, next, now); !st.ok()) return refuse(st);
  if (auto st = CheckConfidentialRecipients(s.confidential, DeliveryRecipients(t, next, actor.id()), deps_.registry); !st.ok()) {
    return refuse(st);
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
  if (auto st = UpdateDeadlines(t, e, now, next, s); !st.ok()) return refuse(st);

  v1::AuditRecord record = BaseRecord(s.caller, s.action_label, e.case_id());
  record.set_outcome(v1::AuditRecord::ACCEPTED);
  record.set_reason(absl::StrCat(v1::CaseState_Name(from), " -> ", v1::CaseState_Name(t.to), " (", t.legal_basis, ")"));
  record.set_envelope_id(e.envelope_id());
  record.mutable_envelope_digest()->set_algorithm(v1::SHA256);
  record.mutable_envelope_digest()->set_value(s.digest);
  auto audit_index = AppendAuditRecord(txn, std::move(record), now, AuditHasher());
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
  std::optional<ReceiptSigningPool::Signature> pending_signature;
  if (deps_.receipt_signing != nullptr && deps_.keyring != nullptr) {
    // Pinned here, on the writer, where rotations happen: the key id in the
    // receipt is the key that signs it.
    std::shared_ptr<const GatewaySigningKey> key = deps_.keyring->Current();
    signed_receipt->mutable_signature()->set_algorithm(ToProtoAlgorithm(key->signer->algorithm()));
    signed_receipt->mutable_signature()->set_key_id(key->signer->key_id());
    pending_signature = deps_.receipt_signing->Sign(std::shared_ptr<const security::Signer>(key, key->signer.get()),
                                                    signed_receipt->receipt());
  } else {
    auto gateway_signature = deps_.gateway_signer.Sign(signed_receipt->receipt());
    if (!gateway_signature.ok()) return gateway_signature.status();
    signed_receipt->mutable_signature()->set_algorithm(ToProtoAlgorithm(deps_.gateway_signer.algorithm()));
    signed_receipt->mutable_signature()->set_key_id(deps_.gateway_signer.key_id());
    signed_receipt->mutable_signature()->set_value(*gateway_signature);
  }

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

  // With the signature still pending, the row is written now (a retry later
  // in the group finds it) and its receipt set by the step below.
  StoredEnvelope stored{e.envelope_id(), s.digest, actor.id(), e.case_id(), s.signed_envelope_bytes,
                        pending_signature ? std::string() : signed_receipt->SerializeAsString()};
  if (auto st = txn.PutEnvelope(stored); !st.ok()) return st;
  if (pending_signature) {
    Submission* accepted = &s;  // alive until its done callback, after the commit
    auto finish = [accepted, pool = deps_.receipt_signing, signature = *pending_signature](StoreTransaction& txn) -> absl::Status {
      const absl::StatusOr<std::string>& value = pool->Collect(signature);
      if (!value.ok()) return value.status();
      v1::SignedSubmissionReceipt* r = accepted->response.mutable_receipt();
      r->mutable_signature()->set_value(*value);
      return txn.SetEnvelopeReceipt(accepted->envelope.envelope_id(), r->SerializeAsString());
    };
    if (auto st = txn.BeforeCommit(std::move(finish)); !st.ok()) return st;
  }
  if (auto st = txn.UpdateCase(next, current); !st.ok()) return st;
  if (auto st = txn.AppendTimelineEvent(event); !st.ok()) return st;
  CaseEvent stat{e.case_id(), next.region(), next.track(), std::string(ActionName(e.action_case())), from, t.to,
                 std::string(*branch), absl::ToUnixMicros(now)};
  if (auto st = txn.AppendCaseEvent(stat); !st.ok()) return st;

  for (const Notify& n : t.notify) {
    std::vector<std::string> recipients;
    switch (n.who) {
      case Relation::kOriginator: recipients.push_back(next.originator()); break;
      case Relation::kAddressee: recipients.push_back(next.addressee()); break;
      case Relation::kCopied: recipients.assign(next.copied().begin(), next.copied().end()); break;
      case Relation::kCourt: recipients.push_back(next.court()); break;
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
      // Envelope and receipt are in the envelope's row (PutEnvelope above);
      // the store joins them back when the delivery is read.
      d.set_case_state(t.to);
      *d.mutable_committed_at() = ToProto(now);
      if (auto seq = txn.AddEnvelopeDelivery(d); !seq.ok()) return seq.status();
      s.notify_agencies.push_back(recipient);
    }
  }
  return absl::OkStatus();
}

void SubmissionPipeline::Acknowledge(const Caller& caller, uint64_t through_sequence,
                                     std::function<void(absl::StatusOr<uint64_t>)> done) {
  const std::string agency = caller.agency_id();
  // Each delivery this covers gets a signed evidence record (gateway/evidence.cc).
  auto covered = PendingDeliveriesThrough(deps_.store, agency, through_sequence);
  if (!covered.ok()) return done(StoreFailure(covered.status()));
  deps_.store.Write(
      [this, caller, agency, through_sequence, covered = std::move(*covered)](StoreTransaction& txn) -> absl::Status {
        auto count = txn.AcknowledgeDeliveries(agency, through_sequence);
        if (!count.ok()) return count.status();
        v1::AuditRecord r = BaseRecord(caller, "Acknowledge", "");
        r.set_outcome(v1::AuditRecord::ACKNOWLEDGED);
        r.set_reason(absl::StrCat("deliveries through sequence ", through_sequence, " (", *count, " newly acknowledged)"));
        if (auto st = AppendAuditRecord(txn, std::move(r), deps_.clock.Now(), AuditHasher()); !st.ok()) return st.status();
        return AppendAcknowledgementEvidence(txn, caller, covered);
      },
      [done = std::move(done), through_sequence](absl::Status st) {
        if (!st.ok()) return done(StoreFailure(st));
        done(through_sequence);
      });
}

void SubmissionPipeline::RecordRefusal(const Caller& caller, std::string action, std::string case_id, absl::Status refusal,
                                       std::function<void(absl::Status)> done) {
  v1::AuditRecord r = RefusalRecord(caller, std::move(action), std::move(case_id), refusal);
  deps_.store.Write([this, r](StoreTransaction& txn) { return AppendAuditRecord(txn, r, deps_.clock.Now(), AuditHasher()).status(); },
                    // The caller learns why it was refused even if the audit write failed.
                    [refusal, done = std::move(done)](absl::Status) { done(refusal); });
}

void SubmissionPipeline::RecordEvent(v1::AuditRecord record, std::function<void(absl::Status)> done) {
  deps_.store.Write([this, record](StoreTransaction& txn) { return AppendAuditRecord(txn, record, deps_.clock.Now(), AuditHasher()).status(); },
                    std::move(done));
}

absl::Status SubmissionPipeline::RecordEventNow(StoreTransaction& txn, const v1::AuditRecord& record) const {
  return AppendAuditRecord(txn, record, deps_.clock.Now(), AuditHasher()).status();
}

absl::StatusOr<uint64_t> SubmissionPipeline::AppendAudit(StoreTransaction& txn, v1::AuditRecord record) const {
  return AppendAuditRecord(txn, std::move(record), deps_.clock.Now(), AuditHasher());
}

}  // namespace caselink
