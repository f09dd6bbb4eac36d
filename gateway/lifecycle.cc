// Both tracks of the linkage procedure (D310, M2017, D2014) as one table, the
// lookup that enforces it, and the Markdown rendering of it.
#include "gateway/lifecycle.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "gateway/registry.h"

namespace caselink {

using v1::Deadline;
using v1::Delivery;
using v1::Envelope;

namespace {

// Abbreviations keep each row on a few lines.
constexpr v1::Track kCriminal = v1::CRIMINAL;
constexpr v1::Track kDetention = v1::DETENTION;
constexpr v1::AgencyKind kEpb = v1::ENVIRONMENT_BUREAU;
constexpr v1::AgencyKind kPsb = v1::PUBLIC_SECURITY;
constexpr v1::AgencyKind kPro = v1::PROCURATORATE;
constexpr v1::AgencyKind kCourtKind = v1::COURT;
constexpr v1::CaseState kNoCase = v1::CASE_STATE_UNSPECIFIED;

const Notify kToAddressee{Relation::kAddressee, Delivery::ADDRESSEE};
const Notify kCopyProcuratorate{Relation::kCopied, Delivery::COPY};
const Notify kTellOriginator{Relation::kOriginator, Delivery::NOTIFICATION};
const Notify kToOriginator{Relation::kOriginator, Delivery::ADDRESSEE};
const Notify kTellAddressee{Relation::kAddressee, Delivery::NOTIFICATION};
const Notify kToProcuratorate{Relation::kCopied, Delivery::ADDRESSEE};
const Notify kToCourt{Relation::kCourt, Delivery::ADDRESSEE};

// The criminal transfer package (M2017 Art. 6; D310 Art. 6): items 1, 2 and 4
// are always required; the others exist only for some cases.
const std::vector<v1::DocumentType> kTransferPackage = {v1::TRANSFER_LETTER, v1::INVESTIGATION_REPORT,
                                                        v1::SEIZED_ITEMS_LIST};

std::vector<Transition> BuildTable() {
  std::vector<Transition> t;
  // ---- Criminal track ----
  // 1-2: the EPB's internal decision, on the platform so that the head's
  // 3 days are supervised and a refusal is visible to the procuratorate.
  t.push_back({.track = kCriminal, .from = kNoCase, .action = Envelope::kTransferProposal, .actor_kind = kEpb,
               .actor = Relation::kNewCase, .to = v1::TRANSFER_PROPOSED, .documents = {v1::TRANSFER_REPORT},
               .starts = {"epb_transfer_decision"}, .routing = Routing::kOpenAtEnvironmentBureau,
               .notify = {kCopyProcuratorate},
               .legal_basis = "D310 Art. 5",
               .summary = "the case team reports a suspected crime to the EPB head in writing"});
  t.push_back({.track = kCriminal, .from = v1::TRANSFER_PROPOSED, .action = Envelope::kTransferApproval,
               .branch = "approved", .actor_kind = kEpb, .actor = Relation::kOriginator, .to = v1::TRANSFER_APPROVED,
               .starts = {"epb_transfer"}, .stops = {"epb_transfer_decision"}, .notify = {kCopyProcuratorate},
               .legal_basis = "D310 Art. 5; M2017 Art. 6",
               .summary = "the EPB head approves the transfer; the 24 hours to transfer start"});
  t.push_back({.track = kCriminal, .from = v1::TRANSFER_PROPOSED, .action = Envelope::kTransferApproval,
               .branch = "refused", .actor_kind = kEpb, .actor = Relation::kOriginator, .to = v1::TRANSFER_REFUSED,
               .stops = {"epb_transfer_decision"}, .notify = {kCopyProcuratorate},
               .legal_basis = "D310 Art. 5",
               .summary = "the EPB head refuses the transfer; the reasons stay on record"});
  // 3: the transfer, with the package, to the same-level PSB, copied to the PRO.
  t.push_back({.track = kCriminal, .from = kNoCase, .action = Envelope::kTransfer, .actor_kind = kEpb,
               .actor = Relation::kNewCase, .to = v1::TRANSFERRED, .documents = kTransferPackage,
               .routing = Routing::kSameLevelTransfer, .notify = {kToAddressee, kCopyProcuratorate},
               .legal_basis = "M2017 Art. 6; D310 Art. 6, 8",
               .summary = "the EPB transfers a case approved off the platform"});
  t.push_back({.track = kCriminal, .from = v1::TRANSFER_APPROVED, .action = Envelope::kTransfer, .actor_kind = kEpb,
               .actor = Relation::kOriginator, .to = v1::TRANSFERRED, .documents = kTransferPackage,
               .stops = {"epb_transfer"}, .routing = Routing::kSameLevelTransfer,
               .notify = {kToAddressee, kCopyProcuratorate},
               .legal_basis = "M2017 Art. 6; D310 Art. 6, 8",
               .summary = "the EPB transfers within 24 hours of the approval"});
  t.push_back({.track = kCriminal, .from = v1::TRANSFER_RECOMMENDED, .action = Envelope::kTransfer,
               .actor_kind = kEpb, .actor = Relation::kOriginator, .to = v1::TRANSFERRED,
               .documents = kTransferPackage, .stops = {"epb_transfer_after_opinion"},
               .routing = Routing::kSameLevelTransfer, .notify = {kToAddressee, kCopyProcuratorate},
               .legal_basis = "M2017 Art. 14, Art. 6",
               .summary = "the EPB transfers after the procuratorate's opinion and so reports back"});
  // 4: the receipt (回执); the review period runs from acceptance.
  t.push_back({.track = kCriminal, .from = v1::TRANSFERRED, .action = Envelope::kReceipt, .actor_kind = kPsb,
               .actor = Relation::kAddressee, .to = v1::RECEIVED, .starts = {"psb_filing_decision"},
               .notify = {kTellOriginator},
               .legal_basis = "M2017 Art. 7, Art. 9",
               .summary = "the PSB accepts the case and issues its signed receipt"});
  // 4a: materials.
  t.push_back({.track = kCriminal, .from = v1::RECEIVED, .action = Envelope::kMaterialsRequest, .actor_kind = kPsb,
               .actor = Relation::kAddressee, .to = v1::MATERIALS_REQUESTED,
               .documents = {v1::MATERIALS_REQUEST_NOTICE}, .starts = {"epb_materials_supply"},
               .notify = {kToOriginator},
               .legal_basis = "M2017 Art. 8",
               .summary = "the PSB asks for missing materials (it may not refuse the case for them)"});
  t.push_back({.track = kCriminal, .from = v1::MATERIALS_REQUESTED, .action = Envelope::kMaterialsSupply,
               .actor_kind = kEpb, .actor = Relation::kOriginator, .to = v1::RECEIVED,
               .stops = {"epb_materials_supply"}, .notify = {kToAddressee},
               .legal_basis = "M2017 Art. 8",
               .summary = "the EPB supplies the materials, or explains in writing why it cannot"});
  // 4b: referral and return.
  t.push_back({.track = kCriminal, .from = v1::RECEIVED, .action = Envelope::kReferral, .actor_kind = kPsb,
               .actor = Relation::kAddressee, .to = v1::REFERRED, .cancels = {"psb_filing_decision"},
               .routing = Routing::kReferral, .notify = {kToAddressee, kTellOriginator, kCopyProcuratorate},
               .legal_basis = "M2017 Art. 9",
               .summary = "the PSB refers the case to the competent PSB, which becomes the addressee"});
  t.push_back({.track = kCriminal, .from = v1::REFERRED, .action = Envelope::kReceipt, .actor_kind = kPsb,
               .actor = Relation::kAddressee, .to = v1::RECEIVED, .starts = {"psb_filing_decision"},
               .notify = {kTellOriginator},
               .legal_basis = "M2017 Art. 7, Art. 9",
               .summary = "the competent PSB accepts the referred case"});
  t.push_back({.track = kCriminal, .from = v1::RECEIVED, .action = Envelope::kReturnCase, .actor_kind = kPsb,
               .actor = Relation::kAddressee, .to = v1::RETURNED, .cancels = {"psb_filing_decision"},
               .notify = {kTellOriginator, kCopyProcuratorate},
               .legal_basis = "M2017 Art. 9",
               .summary = "not a police matter: the file goes back to the EPB"});
  // 5: filing decision, and its extensions.
  t.push_back({.track = kCriminal, .from = v1::RECEIVED, .action = Envelope::kFiling, .actor_kind = kPsb,
               .actor = Relation::kAddressee, .to = v1::FILED, .documents = {v1::FILING_NOTICE},
               .starts = {"epb_evidence_handover"}, .stops = {"psb_filing_decision"},
               .notify = {kTellOriginator, kCopyProcuratorate},
               .legal_basis = "M2017 Art. 9; D310 Art. 8",
               .summary = "the PSB files the case (立案)"});
  t.push_back({.track = kCriminal, .from = v1::RECEIVED, .action = Envelope::kNonFiling, .actor_kind = kPsb,
               .actor = Relation::kAddressee, .to = v1::NOT_FILED, .documents = {v1::NON_FILING_NOTICE},
               .starts = {"epb_reconsideration_window"}, .stops = {"psb_filing_decision"},
               .notify = {kTellOriginator, kCopyProcuratorate},
               .legal_basis = "M2017 Art. 9; D310 Art. 8",
               .summary = "the PSB declines to file, with reasons, and returns the file"});
  for (v1::CaseState state : {v1::RECEIVED, v1::MATERIALS_REQUESTED}) {
    t.push_back({.track = kCriminal, .from = state, .action = Envelope::kDeadlineExtension, .branch = "7_days",
                 .actor_kind = kPsb, .actor = Relation::kAddressee, .to = state,
                 .extends = "psb_filing_decision", .notify = {kTellOriginator, kCopyProcuratorate},
                 .legal_basis = "M2017 Art. 9",
                 .summary = "leads need checking: the review period becomes 7 days from acceptance"});
    t.push_back({.track = kCriminal, .from = state, .action = Envelope::kDeadlineExtension, .branch = "30_days",
                 .actor_kind = kPsb, .actor = Relation::kAddressee, .to = state,
                 .documents = {v1::APPROVAL_DOCUMENT}, .extends = "psb_filing_decision",
                 .notify = {kTellOriginator, kCopyProcuratorate},
                 .legal_basis = "M2017 Art. 9",
                 .summary = "major or complex case, approved by a county-level PSB head: 30 days from acceptance"});
  }
  // 6: evidence handover; also possible while an arrest is being decided.
  t.push_back({.track = kCriminal, .from = v1::FILED, .action = Envelope::kEvidenceHandover, .actor_kind = kEpb,
               .actor = Relation::kOriginator, .to = v1::EVIDENCE_HANDED_OVER, .documents = {v1::HANDOVER_RECORD},
               .stops = {"epb_evidence_handover"}, .notify = {kToAddressee, kCopyProcuratorate},
               .legal_basis = "M2017 Art. 10; D310 Art. 12",
               .summary = "the EPB hands over seized items and the remaining materials"});
  for (v1::CaseState state : {v1::ARREST_REQUESTED, v1::ARREST_APPROVED, v1::ARREST_DENIED}) {
    t.push_back({.track = kCriminal, .from = state, .action = Envelope::kEvidenceHandover, .actor_kind = kEpb,
                 .actor = Relation::kOriginator, .to = state, .documents = {v1::HANDOVER_RECORD},
                 .stops = {"epb_evidence_handover"}, .notify = {kToAddressee, kCopyProcuratorate},
                 .legal_basis = "M2017 Art. 10; D310 Art. 12",
                 .summary = "the EPB hands over evidence after the PSB has moved on to arrest"});
  }
  // 7: reconsideration.
  t.push_back({.track = kCriminal, .from = v1::NOT_FILED, .action = Envelope::kReconsiderationRequest,
               .actor_kind = kEpb, .actor = Relation::kOriginator, .to = v1::RECONSIDERATION_REQUESTED,
               .documents = {v1::RECONSIDERATION_APPLICATION}, .starts = {"psb_reconsideration_decision"},
               .stops = {"epb_reconsideration_window"}, .condition = Condition::kWindowOpen,
               .condition_duty = "epb_reconsideration_window", .notify = {kToAddressee, kCopyProcuratorate},
               .legal_basis = "M2017 Art. 11; D310 Art. 9",
               .summary = "the EPB asks the PSB to reconsider (复议) within 3 working days"});
  t.push_back({.track = kCriminal, .from = v1::RECONSIDERATION_REQUESTED, .action = Envelope::kReconsiderationDecision,
               .branch = "upheld", .actor_kind = kPsb, .actor = Relation::kAddressee,
               .to = v1::RECONSIDERATION_UPHELD, .documents = {v1::RECONSIDERATION_DECISION},
               .starts = {"epb_supervision_request"}, .stops = {"psb_reconsideration_decision"},
               .notify = {kTellOriginator, kCopyProcuratorate},
               .legal_basis = "M2017 Art. 11; D310 Art. 9",
               .summary = "the PSB upholds its non-filing"});
  t.push_back({.track = kCriminal, .from = v1::RECONSIDERATION_REQUESTED, .action = Envelope::kReconsiderationDecision,
               .branch = "reversed", .actor_kind = kPsb, .actor = Relation::kAddressee, .to = v1::FILED,
               .documents = {v1::RECONSIDERATION_DECISION}, .starts = {"epb_evidence_handover"},
               .stops = {"psb_reconsideration_decision"}, .notify = {kTellOriginator, kCopyProcuratorate},
               .legal_basis = "M2017 Art. 11; D310 Art. 9",
               .summary = "the PSB reverses itself and files the case"});
  // 8: supervision, after an upheld non-filing or on a missed PSB deadline.
  t.push_back({.track = kCriminal, .from = v1::RECONSIDERATION_UPHELD, .action = Envelope::kSupervisionRequest,
               .actor_kind = kEpb, .actor = Relation::kOriginator, .to = v1::SUPERVISION_REQUESTED,
               .documents = {v1::SUPERVISION_PROPOSAL}, .stops = {"epb_supervision_request"},
               .notify = {kToProcuratorate},
               .legal_basis = "D310 Art. 9; M2017 Art. 12, 13",
               .summary = "the EPB asks the procuratorate to supervise filing (立案监督)"});
  t.push_back({.track = kCriminal, .from = v1::RECEIVED, .action = Envelope::kSupervisionRequest, .actor_kind = kEpb,
               .actor = Relation::kOriginator, .to = v1::SUPERVISION_REQUESTED,
               .documents = {v1::SUPERVISION_PROPOSAL}, .cancels = {"psb_filing_decision"},
               .condition = Condition::kAddresseeOverdue, .notify = {kToProcuratorate},
               .legal_basis = "M2017 Art. 12, 13",
               .summary = "the PSB let its review period pass: the EPB asks for supervision"});
  t.push_back({.track = kCriminal, .from = v1::RECONSIDERATION_REQUESTED, .action = Envelope::kSupervisionRequest,
               .actor_kind = kEpb, .actor = Relation::kOriginator, .to = v1::SUPERVISION_REQUESTED,
               .documents = {v1::SUPERVISION_PROPOSAL}, .cancels = {"psb_reconsideration_decision"},
               .condition = Condition::kAddresseeOverdue, .notify = {kToProcuratorate},
               .legal_basis = "M2017 Art. 12, 13",
               .summary = "the PSB let its reconsideration period pass: the EPB asks for supervision"});
  // 9: the procuratorate's supervision.
  t.push_back({.track = kCriminal, .from = v1::SUPERVISION_REQUESTED, .action = Envelope::kExplanationDemand,
               .actor_kind = kPro, .actor = Relation::kCopied, .to = v1::EXPLANATION_DEMANDED,
               .documents = {v1::EXPLANATION_DEMAND_NOTICE}, .starts = {"psb_explanation"},
               .notify = {kToAddressee, kTellOriginator},
               .legal_basis = "M2017 Art. 13; police procedure rules",
               .summary = "the procuratorate demands the PSB's reasons for not filing"});
  t.push_back({.track = kCriminal, .from = v1::EXPLANATION_DEMANDED, .action = Envelope::kExplanation,
               .actor_kind = kPsb, .actor = Relation::kAddressee, .to = v1::EXPLAINED,
               .documents = {v1::NON_FILING_EXPLANATION}, .stops = {"psb_explanation"},
               .notify = {kToProcuratorate, kTellOriginator},
               .legal_basis = "M2017 Art. 13; police procedure rules",
               .summary = "the PSB explains its non-filing within 7 days"});
  t.push_back({.track = kCriminal, .from = v1::EXPLANATION_DEMANDED, .action = Envelope::kFiling, .actor_kind = kPsb,
               .actor = Relation::kAddressee, .to = v1::FILED, .documents = {v1::FILING_NOTICE},
               .starts = {"epb_evidence_handover"}, .stops = {"psb_explanation"},
               .notify = {kTellOriginator, kCopyProcuratorate},
               .legal_basis = "M2017 Art. 13; police procedure rules",
               .summary = "instead of explaining, the PSB files the case"});
  t.push_back({.track = kCriminal, .from = v1::EXPLAINED, .action = Envelope::kFilingOrder, .actor_kind = kPro,
               .actor = Relation::kCopied, .to = v1::FILING_ORDERED, .documents = {v1::FILING_ORDER_NOTICE},
               .starts = {"psb_filing_after_order"}, .notify = {kToAddressee, kTellOriginator},
               .legal_basis = "M2017 Art. 13; police procedure rules",
               .summary = "the reasons do not hold: the procuratorate orders filing (通知立案)"});
  t.push_back({.track = kCriminal, .from = v1::EXPLAINED, .action = Envelope::kReturnToAdministrativePenalty,
               .actor_kind = kPro, .actor = Relation::kCopied, .to = v1::RETURNED_TO_ADMINISTRATIVE_PENALTY,
               .notify = {kToOriginator, kTellAddressee},
               .legal_basis = "M2017 Art. 17, Art. 16",
               .summary = "the reasons hold: the case goes back to the EPB for an administrative penalty"});
  t.push_back({.track = kCriminal, .from = v1::FILING_ORDERED, .action = Envelope::kFiling, .actor_kind = kPsb,
               .actor = Relation::kAddressee, .to = v1::FILED, .documents = {v1::FILING_NOTICE},
               .starts = {"epb_evidence_handover"}, .stops = {"psb_filing_after_order"},
               .notify = {kTellOriginator, kCopyProcuratorate},
               .legal_basis = "M2017 Art. 13; police procedure rules",
               .summary = "the PSB files within 15 days of the filing order"});
  // 10: the procuratorate finds a case that was not transferred.
  t.push_back({.track = kCriminal, .from = kNoCase, .action = Envelope::kTransferRecommendation, .actor_kind = kPro,
               .actor = Relation::kNewCase, .to = v1::TRANSFER_RECOMMENDED,
               .documents = {v1::PROCURATORIAL_OPINION}, .starts = {"epb_transfer_after_opinion"},
               .routing = Routing::kRecommendation, .notify = {kToOriginator},
               .legal_basis = "M2017 Art. 14",
               .summary = "the procuratorate's opinion (检察意见) that an untransferred case be transferred"});
  t.push_back({.track = kCriminal, .from = v1::TRANSFER_REFUSED, .action = Envelope::kTransferRecommendation,
               .actor_kind = kPro, .actor = Relation::kCopied, .to = v1::TRANSFER_RECOMMENDED,
               .documents = {v1::PROCURATORIAL_OPINION}, .starts = {"epb_transfer_after_opinion"},
               .routing = Routing::kRecommendation, .notify = {kToOriginator},
               .legal_basis = "M2017 Art. 14",
               .summary = "the procuratorate recommends the transfer the EPB head refused"});
  // 11: arrest and prosecution.
  for (v1::CaseState state : {v1::FILED, v1::EVIDENCE_HANDED_OVER}) {
    t.push_back({.track = kCriminal, .from = state, .action = Envelope::kArrestRequest, .actor_kind = kPsb,
                 .actor = Relation::kAddressee, .to = v1::ARREST_REQUESTED,
                 .notify = {kToProcuratorate, kTellOriginator},
                 .legal_basis = "M2017 Art. 33, 34; Criminal Procedure Law Art. 87",
                 .summary = "the PSB asks the procuratorate to approve an arrest"});
  }
  t.push_back({.track = kCriminal, .from = v1::ARREST_REQUESTED, .action = Envelope::kArrestDecision,
               .branch = "approved", .actor_kind = kPro, .actor = Relation::kCopied, .to = v1::ARREST_APPROVED,
               .documents = {v1::ARREST_DECISION}, .notify = {kToAddressee, kTellOriginator},
               .legal_basis = "M2017 Art. 33, 34; Criminal Procedure Law Art. 90",
               .summary = "the procuratorate approves the arrest"});
  t.push_back({.track = kCriminal, .from = v1::ARREST_REQUESTED, .action = Envelope::kArrestDecision,
               .branch = "denied", .actor_kind = kPro, .actor = Relation::kCopied, .to = v1::ARREST_DENIED,
               .documents = {v1::ARREST_DECISION}, .notify = {kToAddressee, kTellOriginator},
               .legal_basis = "M2017 Art. 33, 34; Criminal Procedure Law Art. 90",
               .summary = "the procuratorate denies the arrest"});
  for (v1::CaseState state : {v1::FILED, v1::EVIDENCE_HANDED_OVER, v1::ARREST_APPROVED, v1::ARREST_DENIED}) {
    t.push_back({.track = kCriminal, .from = state, .action = Envelope::kProsecutionTransfer, .actor_kind = kPsb,
                 .actor = Relation::kAddressee, .to = v1::PROSECUTION_TRANSFERRED,
                 .cancels = {"epb_evidence_handover"}, .notify = {kToProcuratorate, kTellOriginator},
                 .legal_basis = "M2017 Art. 33, 34; Criminal Procedure Law Art. 162",
                 .summary = "the PSB transfers the case for prosecution"});
  }
  t.push_back({.track = kCriminal, .from = v1::RETURNED_FOR_INVESTIGATION, .action = Envelope::kProsecutionTransfer,
               .actor_kind = kPsb, .actor = Relation::kAddressee, .to = v1::PROSECUTION_TRANSFERRED,
               .stops = {"psb_supplementary_investigation"}, .notify = {kToProcuratorate, kTellOriginator},
               .legal_basis = "M2017 Art. 19; Criminal Procedure Law Art. 175",
               .summary = "the PSB transfers again after supplementary investigation"});
  t.push_back({.track = kCriminal, .from = v1::PROSECUTION_TRANSFERRED, .action = Envelope::kProsecutionDecision,
               .branch = "charge", .actor_kind = kPro, .actor = Relation::kCopied, .to = v1::CHARGED,
               .documents = {v1::INDICTMENT}, .routing = Routing::kCourt,
               .notify = {kToCourt, kTellOriginator, kTellAddressee},
               .legal_basis = "M2017 Art. 33, 34; Criminal Procedure Law Art. 176",
               .summary = "the procuratorate charges; the competent court is addressed"});
  t.push_back({.track = kCriminal, .from = v1::PROSECUTION_TRANSFERRED, .action = Envelope::kProsecutionDecision,
               .branch = "not_charge", .actor_kind = kPro, .actor = Relation::kCopied, .to = v1::NOT_CHARGED,
               .documents = {v1::NON_PROSECUTION_DECISION}, .notify = {kToOriginator, kTellAddressee},
               .legal_basis = "M2017 Art. 18",
               .summary = "no prosecution: the EPB is told in writing, perhaps with a penalty recommendation"});
  t.push_back({.track = kCriminal, .from = v1::PROSECUTION_TRANSFERRED, .action = Envelope::kReturnForInvestigation,
               .actor_kind = kPro, .actor = Relation::kCopied, .to = v1::RETURNED_FOR_INVESTIGATION,
               .documents = {v1::SUPPLEMENTARY_INVESTIGATION_OUTLINE}, .starts = {"psb_supplementary_investigation"},
               .notify = {kToAddressee, kTellOriginator},
               .legal_basis = "M2017 Art. 19; Criminal Procedure Law Art. 175",
               .summary = "returned for supplementary investigation (补充侦查) with an outline"});
  // 12: the judgment entered into the record.
  t.push_back({.track = kCriminal, .from = v1::CHARGED, .action = Envelope::kJudgment, .branch = "convicted",
               .actor_kind = kCourtKind, .actor = Relation::kCourt, .to = v1::JUDGED, .documents = {v1::JUDGMENT},
               .notify = {kTellOriginator, kTellAddressee, kCopyProcuratorate},
               .legal_basis = "M2017 Art. 34",
               .summary = "the court's judgment (conviction) is entered into the record"});
  t.push_back({.track = kCriminal, .from = v1::CHARGED, .action = Envelope::kJudgment, .branch = "acquitted",
               .actor_kind = kCourtKind, .actor = Relation::kCourt, .to = v1::ACQUITTED, .documents = {v1::JUDGMENT},
               .notify = {kTellOriginator, kTellAddressee, kCopyProcuratorate},
               .legal_basis = "M2017 Art. 34",
               .summary = "the court's judgment (acquittal) is entered into the record"});
  // 13: withdrawal (撤案) and the way back to an administrative penalty.
  for (v1::CaseState state : {v1::FILED, v1::EVIDENCE_HANDED_OVER, v1::ARREST_APPROVED, v1::ARREST_DENIED,
                              v1::RETURNED_FOR_INVESTIGATION}) {
    t.push_back({.track = kCriminal, .from = state, .action = Envelope::kWithdrawal, .actor_kind = kPsb,
                 .actor = Relation::kAddressee, .to = v1::WITHDRAWN, .documents = {v1::WITHDRAWAL_NOTICE},
                 .cancels = {"epb_evidence_handover", "psb_supplementary_investigation"},
                 .notify = {kTellOriginator, kCopyProcuratorate},
                 .legal_basis = "M2017 Art. 17, Art. 33, 34",
                 .summary = "the PSB withdraws the case (撤案)"});
  }
  t.push_back({.track = kCriminal, .from = v1::NOT_FILED, .action = Envelope::kReturnToAdministrativePenalty,
               .actor_kind = kPsb, .actor = Relation::kAddressee, .to = v1::RETURNED_TO_ADMINISTRATIVE_PENALTY,
               .cancels = {"epb_reconsideration_window"}, .notify = {kToOriginator, kCopyProcuratorate},
               .legal_basis = "M2017 Art. 17, Art. 16",
               .summary = "after non-filing, the PSB returns the case for an administrative penalty"});
  t.push_back({.track = kCriminal, .from = v1::WITHDRAWN, .action = Envelope::kReturnToAdministrativePenalty,
               .actor_kind = kPsb, .actor = Relation::kAddressee, .to = v1::RETURNED_TO_ADMINISTRATIVE_PENALTY,
               .notify = {kToOriginator, kCopyProcuratorate},
               .legal_basis = "M2017 Art. 17, Art. 16",
               .summary = "after withdrawal, the PSB returns the case for an administrative penalty"});
  t.push_back({.track = kCriminal, .from = v1::NOT_CHARGED, .action = Envelope::kReturnToAdministrativePenalty,
               .actor_kind = kPro, .actor = Relation::kCopied, .to = v1::RETURNED_TO_ADMINISTRATIVE_PENALTY,
               .notify = {kToOriginator, kTellAddressee},
               .legal_basis = "M2017 Art. 17, Art. 18",
               .summary = "after non-prosecution, the procuratorate returns the case for an administrative penalty"});
  t.push_back({.track = kCriminal, .from = v1::ACQUITTED, .action = Envelope::kReturnToAdministrativePenalty,
               .actor_kind = kPro, .actor = Relation::kCopied, .to = v1::RETURNED_TO_ADMINISTRATIVE_PENALTY,
               .notify = {kToOriginator, kTellAddressee},
               .legal_basis = "M2017 Art. 17, Art. 16",
               .summary = "after an acquittal, the procuratorate returns the case for an administrative penalty"});

  // ---- Detention track (D2014), periods in working days (Art. 19) ----
  t.push_back({.track = kDetention, .from = kNoCase, .action = Envelope::kPenaltyDecision, .actor_kind = kEpb,
               .actor = Relation::kNewCase, .to = v1::PENALTY_DECIDED, .documents = {v1::PENALTY_DECISION},
               .starts = {"epb_detention_transfer"}, .routing = Routing::kSameLevelDetention,
               .notify = {kTellAddressee},
               .legal_basis = "D2014 Art. 12",
               .summary = "the EPB's penalty decision, with its decision to transfer for detention"});
  t.push_back({.track = kDetention, .from = v1::PENALTY_DECIDED, .action = Envelope::kDetentionTransfer,
               .actor_kind = kEpb, .actor = Relation::kOriginator, .to = v1::DETENTION_TRANSFERRED,
               .documents = {v1::TRANSFER_LETTER, v1::INVESTIGATION_REPORT},
               .starts = {"psb_detention_materials_window", "psb_detention_decision"},
               .stops = {"epb_detention_transfer"}, .routing = Routing::kSameLevelDetention,
               .notify = {kToAddressee},
               .legal_basis = "D2014 Art. 11, 12",
               .summary = "the EPB transfers within 3 working days; originals travel, it keeps copies"});
  t.push_back({.track = kDetention, .from = kNoCase, .action = Envelope::kDetentionTransfer, .actor_kind = kEpb,
               .actor = Relation::kNewCase, .to = v1::DETENTION_TRANSFERRED,
               .documents = {v1::TRANSFER_LETTER, v1::INVESTIGATION_REPORT, v1::PENALTY_DECISION},
               .starts = {"psb_detention_materials_window", "psb_detention_decision"},
               .routing = Routing::kSameLevelDetention, .notify = {kToAddressee},
               .legal_basis = "D2014 Art. 11, 12",
               .summary = "the EPB transfers a case whose penalty was decided off the platform"});
  t.push_back({.track = kDetention, .from = v1::DETENTION_TRANSFERRED, .action = Envelope::kDetentionMaterialsRequest,
               .actor_kind = kPsb, .actor = Relation::kAddressee, .to = v1::DETENTION_MATERIALS_REQUESTED,
               .documents = {v1::MATERIALS_REQUEST_NOTICE}, .stops = {"psb_detention_materials_window"},
               .condition = Condition::kWindowOpen, .condition_duty = "psb_detention_materials_window",
               .notify = {kToOriginator},
               .legal_basis = "D2014 Art. 13",
               .summary = "the PSB asks for missing materials within 3 working days of accepting"});
  t.push_back({.track = kDetention, .from = v1::DETENTION_MATERIALS_REQUESTED, .action = Envelope::kMaterialsSupply,
               .actor_kind = kEpb, .actor = Relation::kOriginator, .to = v1::DETENTION_TRANSFERRED,
               .notify = {kToAddressee},
               .legal_basis = "D2014 Art. 13",
               .summary = "the EPB supplies the materials"});
  for (v1::CaseState state : {v1::DETENTION_TRANSFERRED, v1::DETENTION_MATERIALS_REQUESTED}) {
    t.push_back({.track = kDetention, .from = state, .action = Envelope::kDetentionDecision, .branch = "detained",
                 .actor_kind = kPsb, .actor = Relation::kAddressee, .to = v1::DETENTION_DECIDED,
                 .documents = {v1::DETENTION_DECISION}, .stops = {"psb_detention_decision"},
                 .notify = {kTellOriginator},
                 .legal_basis = "D2014 Art. 14",
                 .summary = "the PSB decides on detention; the decision is copied to the EPB"});
    t.push_back({.track = kDetention, .from = state, .action = Envelope::kDetentionDecision, .branch = "declined",
                 .actor_kind = kPsb, .actor = Relation::kAddressee, .to = v1::DETENTION_DECLINED,
                 .stops = {"psb_detention_decision"}, .notify = {kTellOriginator},
                 .legal_basis = "D2014 Art. 15",
                 .summary = "the PSB declines with reasons and returns the file; the EPB closes"});
  }
  return t;
}

std::vector<DeadlineSpec> BuildDeadlineSpecs() {
  using R = Deadline;
  return {
      {"epb_transfer_decision", Relation::kOriginator, R::DUTY, R::NATURAL_DAYS, 3, "D310 Art. 5",
       "the EPB head decides on the transfer report"},
      {"epb_transfer", Relation::kOriginator, R::DUTY, R::HOURS, 24, "M2017 Art. 6",
       "the EPB transfers the approved case"},
      {"epb_transfer_after_opinion", Relation::kOriginator, R::DUTY, R::NATURAL_DAYS, 3, "M2017 Art. 14",
       "the EPB transfers after the procuratorate's opinion"},
      {"psb_filing_decision", Relation::kAddressee, R::DUTY, R::NATURAL_DAYS, 3, "M2017 Art. 9",
       "the PSB files or declines (extendable to 7 or 30 days)"},
      {"epb_materials_supply", Relation::kOriginator, R::DUTY, R::NATURAL_DAYS, 3, "M2017 Art. 8",
       "the EPB supplies the requested materials"},
      {"epb_evidence_handover", Relation::kOriginator, R::DUTY, R::NATURAL_DAYS, 3, "M2017 Art. 10; D310 Art. 12",
       "the EPB hands over seized items and materials"},
      {"epb_reconsideration_window", Relation::kOriginator, R::WINDOW, R::WORKING_DAYS, 3, "M2017 Art. 11",
       "the EPB may ask for reconsideration"},
      {"psb_reconsideration_decision", Relation::kAddressee, R::DUTY, R::WORKING_DAYS, 3, "M2017 Art. 11",
       "the PSB decides on the reconsideration"},
      {"epb_supervision_request", Relation::kOriginator, R::DUTY, R::NATURAL_DAYS, 3, "D310 Art. 9; M2017 Art. 12",
       "the EPB asks the procuratorate to supervise"},
      {"psb_explanation", Relation::kAddressee, R::DUTY, R::NATURAL_DAYS, 7, "police procedure rules",
       "the PSB explains its non-filing"},
      {"psb_filing_after_order", Relation::kAddressee, R::DUTY, R::NATURAL_DAYS, 15, "police procedure rules",
       "the PSB files after the filing order"},
      {"psb_supplementary_investigation", Relation::kAddressee, R::DUTY, R::MONTHS, 1, "M2017 Art. 19",
       "the PSB finishes the supplementary investigation"},
      {"epb_detention_transfer", Relation::kOriginator, R::DUTY, R::WORKING_DAYS, 3, "D2014 Art. 12",
       "the EPB transfers for detention"},
      {"psb_detention_materials_window", Relation::kAddressee, R::WINDOW, R::WORKING_DAYS, 3, "D2014 Art. 13",
       "the PSB may ask for missing materials"},
      {"psb_detention_decision", Relation::kAddressee, R::DUTY, R::WORKING_DAYS, 5, "D2014 Art. 15",
       "the PSB decides, or declines and returns the file"},
  };
}

// "addressee public security bureau"; the court's relation already names it.
std::string ActorText(Relation relation, v1::AgencyKind kind) {
  if (relation == Relation::kCourt) return std::string(RelationName(relation));
  return absl::StrCat(RelationName(relation), " ", AgencyKindName(kind));
}

std::string JoinRelationsAllowed(const std::vector<const Transition*>& rows) {
  std::vector<std::string> allowed;
  for (const Transition* t : rows) {
    std::string entry = std::string(ActionName(t->action));
    if (!t->branch.empty()) absl::StrAppend(&entry, " (", t->branch, ")");
    if (t->actor == Relation::kCourt) {
      absl::StrAppend(&entry, " (by the ", RelationName(t->actor), ")");
    } else {
      absl::StrAppend(&entry, " (by the ", RelationName(t->actor), ", ", AgencyKindName(t->actor_kind), ")");
    }
    if (std::find(allowed.begin(), allowed.end(), entry) == allowed.end()) allowed.push_back(entry);
  }
  return allowed.empty() ? "nothing (the case is closed here)" : absl::StrJoin(allowed, ", ");
}

}  // namespace

const std::vector<Transition>& TransitionTable() {
  static const std::vector<Transition>* table = new std::vector<Transition>(BuildTable());
  return *table;
}

const std::vector<DeadlineSpec>& DeadlineSpecs() {
  static const std::vector<DeadlineSpec>* specs = new std::vector<DeadlineSpec>(BuildDeadlineSpecs());
  return *specs;
}

const DeadlineSpec* FindDeadlineSpec(absl::string_view duty) {
  for (const DeadlineSpec& spec : DeadlineSpecs()) {
    if (spec.duty == duty) return &spec;
  }
  return nullptr;
}

absl::string_view ActionName(Envelope::ActionCase action) {
  if (action == Envelope::ACTION_NOT_SET) return "none";
  const auto* field = Envelope::descriptor()->FindFieldByNumber(static_cast<int>(action));
  return field == nullptr ? absl::string_view("unknown") : absl::string_view(field->name());
}

absl::string_view RelationName(Relation relation) {
  switch (relation) {
    case Relation::kNewCase: return "opening agency";
    case Relation::kOriginator: return "originator";
    case Relation::kAddressee: return "addressee";
    case Relation::kCopied: return "copied agency";
    case Relation::kCourt: return "competent court";
  }
  return "unknown";
}

std::vector<Envelope::ActionCase> AllActions() {
  std::vector<Envelope::ActionCase> out;
  const auto* oneof = Envelope::descriptor()->FindOneofByName("action");
  for (int i = 0; i < oneof->field_count(); ++i) {
    out.push_back(static_cast<Envelope::ActionCase>(oneof->field(i)->number()));
  }
  return out;
}

std::vector<absl::string_view> BranchesOf(Envelope::ActionCase action) {
  switch (action) {
    case Envelope::kTransferApproval: return {"approved", "refused"};
    case Envelope::kReconsiderationDecision: return {"upheld", "reversed"};
    case Envelope::kArrestDecision: return {"approved", "denied"};
    case Envelope::kProsecutionDecision: return {"charge", "not_charge"};
    case Envelope::kJudgment: return {"convicted", "acquitted"};
    case Envelope::kDetentionDecision: return {"detained", "declined"};
    case Envelope::kDeadlineExtension: return {"7_days", "30_days"};
    default: return {""};
  }
}

absl::StatusOr<absl::string_view> BranchOf(const Envelope& e) {
  switch (e.action_case()) {
    case Envelope::kTransferApproval: return e.transfer_approval().approved() ? "approved" : "refused";
    case Envelope::kArrestDecision: return e.arrest_decision().approved() ? "approved" : "denied";
    case Envelope::kDetentionDecision: return e.detention_decision().detained() ? "detained" : "declined";
    case Envelope::kReconsiderationDecision:
      switch (e.reconsideration_decision().outcome()) {
        case v1::ReconsiderationDecision::UPHELD: return "upheld";
        case v1::ReconsiderationDecision::REVERSED: return "reversed";
        default: return absl::InvalidArgumentError("reconsideration_decision.outcome must be UPHELD or REVERSED");
      }
    case Envelope::kProsecutionDecision:
      switch (e.prosecution_decision().outcome()) {
        case v1::ProsecutionDecision::CHARGE: return "charge";
        case v1::ProsecutionDecision::NOT_CHARGE: return "not_charge";
        default: return absl::InvalidArgumentError("prosecution_decision.outcome must be CHARGE or NOT_CHARGE");
      }
    case Envelope::kJudgment:
      switch (e.judgment().outcome()) {
        case v1::Judgment::CONVICTED: return "convicted";
        case v1::Judgment::ACQUITTED: return "acquitted";
        default: return absl::InvalidArgumentError("judgment.outcome must be CONVICTED or ACQUITTED");
      }
    case Envelope::kDeadlineExtension:
      switch (e.deadline_extension().extended_to_days()) {
        case 7: return "7_days";
        case 30: return "30_days";
        default:
          return absl::InvalidArgumentError(absl::StrCat(
              "deadline_extension.extended_to_days is ", e.deadline_extension().extended_to_days(),
              "; the review period may be extended to 7 days (leads need checking) or 30 days (major or "
              "complex case, with an APPROVAL_DOCUMENT) from acceptance (M2017 Art. 9)"));
      }
    default: return "";
  }
}

std::vector<Relation> RelationsOf(const v1::Case& c, absl::string_view agency_id) {
  std::vector<Relation> out;
  if (agency_id.empty()) return out;
  if (c.originator() == agency_id) out.push_back(Relation::kOriginator);
  if (c.addressee() == agency_id) out.push_back(Relation::kAddressee);
  if (std::find(c.copied().begin(), c.copied().end(), agency_id) != c.copied().end()) out.push_back(Relation::kCopied);
  if (c.court() == agency_id) out.push_back(Relation::kCourt);
  return out;
}

bool IsTerminal(v1::Track track, v1::CaseState state) {
  for (const Transition& t : TransitionTable()) {
    if (t.track == track && t.from == state && t.to != state) return false;
  }
  return true;
}

absl::StatusOr<const Transition*> FindTransition(const v1::Case* existing, absl::string_view case_id,
                                                 Envelope::ActionCase action, absl::string_view branch,
                                                 const v1::Agency& actor) {
  const v1::CaseState state = existing ? existing->state() : kNoCase;
  std::vector<const Transition*> in_state;
  for (const Transition& t : TransitionTable()) {
    if (t.from == state && (existing == nullptr || t.track == existing->track())) in_state.push_back(&t);
  }
  std::vector<const Transition*> for_action;
  for (const Transition* t : in_state) {
    if (t->action == action) for_action.push_back(t);
  }
  if (for_action.empty()) {
    if (existing == nullptr) {
      std::vector<std::string> openers;
      for (const Transition* t : in_state) {
        const std::string name(ActionName(t->action));
        if (std::find(openers.begin(), openers.end(), name) == openers.end()) openers.push_back(name);
      }
      return absl::NotFoundError(absl::StrCat("case '", case_id, "' does not exist; a case is opened only by ",
                                              absl::StrJoin(openers, ", ")));
    }
    return absl::FailedPreconditionError(absl::StrCat("case '", case_id, "' is in state ", v1::CaseState_Name(state),
                                                      "; action '", ActionName(action),
                                                      "' is not allowed there. Allowed now: ",
                                                      JoinRelationsAllowed(in_state)));
  }
  std::vector<const Transition*> matching;
  for (const Transition* t : for_action) {
    if (t->branch.empty() || t->branch == branch) matching.push_back(t);
  }
  if (matching.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "case '", case_id, "' is in state ", v1::CaseState_Name(state), "; action '", ActionName(action),
        "' with decision '", branch, "' is not allowed there. Allowed now: ", JoinRelationsAllowed(in_state)));
  }
  const std::vector<Relation> relations =
      existing ? RelationsOf(*existing, actor.id()) : std::vector<Relation>{Relation::kNewCase};
  for (const Transition* t : matching) {
    if (t->actor_kind == actor.kind() && std::find(relations.begin(), relations.end(), t->actor) != relations.end()) {
      return t;
    }
  }
  const Transition* t = matching.front();
  std::string who = "not a party to the case";
  if (!relations.empty()) {
    std::vector<std::string> names;
    for (Relation r : relations) names.push_back(std::string(RelationName(r)));
    who = absl::StrCat("the ", absl::StrJoin(names, " and "));
  }
  std::string named;
  if (existing != nullptr && t->actor == Relation::kAddressee) named = absl::StrCat(" (", existing->addressee(), ")");
  if (existing != nullptr && t->actor == Relation::kOriginator) named = absl::StrCat(" (", existing->originator(), ")");
  if (existing != nullptr && t->actor == Relation::kCourt && !existing->court().empty()) {
    named = absl::StrCat(" (", existing->court(), ")");
  }
  return absl::PermissionDeniedError(absl::StrCat("action '", ActionName(action), "' on case '", case_id, "' in state ",
                                                  v1::CaseState_Name(state), " must be taken by the ",
                                                  ActorText(t->actor, t->actor_kind), named,
                                                  "; ", actor.id(), " (", AgencyKindName(actor.kind()), ") is ", who));
}

// ---- docs/PROCEDURE.md ----

namespace {

std::string Escape(absl::string_view text) { return absl::StrReplaceAll(text, {{"|", "\\|"}}); }

std::string StateCell(v1::CaseState state) {
  return state == kNoCase ? std::string("(no case)") : absl::StrCat("`", v1::CaseState_Name(state), "`");
}

std::string RuleText(const DeadlineSpec& spec) {
  switch (spec.rule) {
    case Deadline::HOURS: return absl::StrCat(spec.amount, " hours");
    case Deadline::NATURAL_DAYS: return absl::StrCat(spec.amount, " days");
    case Deadline::WORKING_DAYS: return absl::StrCat(spec.amount, " working days");
    case Deadline::MONTHS: return absl::StrCat(spec.amount, spec.amount == 1 ? " month" : " months");
    default: return "?";
  }
}

std::string NotifyText(const std::vector<Notify>& notify) {
  std::vector<std::string> out;
  for (const Notify& n : notify) {
    std::string reason;
    switch (n.reason) {
      case Delivery::ADDRESSEE: reason = "addressed"; break;
      case Delivery::COPY: reason = "copy"; break;
      case Delivery::NOTIFICATION: reason = "notice"; break;
      default: reason = Delivery::Reason_Name(n.reason); break;
    }
    out.push_back(absl::StrCat(RelationName(n.who), " (", reason, ")"));
  }
  return out.empty() ? "—" : absl::StrJoin(out, ", ");
}

std::string ListOrDash(const std::vector<std::string>& items) {
  return items.empty() ? "—" : absl::StrJoin(items, ", ");
}

std::string DutiesText(const std::vector<absl::string_view>& duties) {
  std::vector<std::string> out;
  for (absl::string_view d : duties) out.push_back(absl::StrCat("`", d, "`"));
  return ListOrDash(out);
}

std::string RowsMarkdown(v1::Track track) {
  std::string out =
      "| # | from | action | decision | by | to | documents required | deadlines started | deadlines met | "
      "deadlines cancelled | condition | notified | legal basis |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  int n = 0;
  for (const Transition& t : TransitionTable()) {
    if (t.track != track) continue;
    std::vector<std::string> docs;
    for (v1::DocumentType d : t.documents) docs.push_back(v1::DocumentType_Name(d));
    std::string condition = "—";
    if (t.condition == Condition::kWindowOpen) condition = absl::StrCat("`", t.condition_duty, "` still open");
    if (t.condition == Condition::kAddresseeOverdue) condition = "a deadline of the addressee is overdue";
    if (!t.extends.empty()) condition = absl::StrCat("extends `", t.extends, "` (still running)");
    std::string routing;
    switch (t.routing) {
      case Routing::kSameLevelTransfer: routing = "; addressed to the PSB of the region, PRO copied"; break;
      case Routing::kOpenAtEnvironmentBureau: routing = "; PRO of the region copied"; break;
      case Routing::kRecommendation: routing = "; opened for the EPB of the region"; break;
      case Routing::kSameLevelDetention: routing = "; addressed to the PSB of the region"; break;
      case Routing::kReferral: routing = "; the referred PSB becomes the addressee"; break;
      case Routing::kCourt: routing = "; the named court is addressed"; break;
      case Routing::kNone: break;
    }
    absl::StrAppend(&out, "| ", ++n, " | ", StateCell(t.from), " | `", ActionName(t.action), "` | ",
                    t.branch.empty() ? "—" : absl::StrCat("`", t.branch, "`"), " | ",
                    ActorText(t.actor, t.actor_kind), " | ", StateCell(t.to), " | ", ListOrDash(docs), " | ",
                    DutiesText(t.starts), " | ", DutiesText(t.stops), " | ", DutiesText(t.cancels), " | ",
                    Escape(condition), " | ", NotifyText(t.notify), Escape(routing), " | ", Escape(t.legal_basis),
                    " — ", Escape(t.summary), " |\n");
  }
  return out;
}

}  // namespace

std::string ProcedureMarkdown() {
  std::string out =
      "<!-- Generated from the procedure table in gateway/lifecycle.cc by `caselinkctl procedure table`.\n"
      "     Do not edit by hand: a test fails when this file and the table differ. -->\n"
      "# The linkage procedure as CaseLink enforces it\n"
      "\n"
      "Every accepted action is one row below: the case must be in the `from` state, the acting agency must\n"
      "be of the kind and stand in the relation to the case that the row names, the envelope must reference\n"
      "documents of every required type, and the condition must hold. Otherwise the gateway refuses the\n"
      "action (`FAILED_PRECONDITION` for a wrong state, a missing document or an unmet condition,\n"
      "`PERMISSION_DENIED` for a wrong agency) and nothing changes. Sources: D310 (State Council Decree\n"
      "No. 310), M2017 (环环监〔2017〕17号), D2014 (公治〔2014〕853号); see the domain reference.\n"
      "\n"
      "Relations: the *originator* opened the case (the EPB); the *addressee* is the agency now responsible\n"
      "(the reviewing PSB); *copied* agencies are the procuratorate of the same level and any others copied;\n"
      "the *competent court* is the court named when the procuratorate charges. Notices go out as deliveries\n"
      "to the agencies named; alerts for missed deadlines go to the originator and the supervising\n"
      "procuratorate.\n"
      "\n"
      "## Deadlines\n"
      "\n"
      "A *duty* that falls due without the action marks the case overdue and alerts the originator and the\n"
      "supervising procuratorate. A *window* only limits when an optional action may be taken. Days are\n"
      "counted as M2017 Art. 38 says (the start day does not count; a last day that is not a working day\n"
      "moves to the next working day); working days follow the holiday calendar, including make-up working\n"
      "days. A deadline that falls outside the calendar's years cannot be computed, and the action that\n"
      "would start it is refused.\n"
      "\n"
      "| duty | owed by | kind | period | legal basis | what must happen |\n"
      "|---|---|---|---|---|---|\n";
  for (const DeadlineSpec& spec : DeadlineSpecs()) {
    absl::StrAppend(&out, "| `", spec.duty, "` | ", RelationName(spec.owed_by), " | ",
                    spec.kind == Deadline::WINDOW ? "window" : "duty", " | ", RuleText(spec), " | ",
                    Escape(spec.legal_basis), " | ", Escape(spec.description), " |\n");
  }
  absl::StrAppend(&out, "\n## Criminal track (D310, M2017)\n\n", RowsMarkdown(v1::CRIMINAL),
                  "\n## Administrative-detention track (D2014)\n\n", RowsMarkdown(v1::DETENTION));
  return out;
}

}  // namespace caselink
