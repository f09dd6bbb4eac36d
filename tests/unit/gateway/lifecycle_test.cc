// The procedure table's enforcement: every (state, action, decision, actor
// kind, relation) combination at the lookup level, the transitions spelled
// out by hand from the domain reference, and the table's own consistency.
#include "gateway/lifecycle.h"

#include <set>

#include <gtest/gtest.h>

#include "absl/strings/match.h"

namespace caselink {
namespace {

constexpr const char* kActorId = "510100.actor";

v1::Agency Actor(v1::AgencyKind kind) {
  v1::Agency a;
  a.set_id(kActorId);
  a.set_kind(kind);
  a.set_region("510100");
  return a;
}

v1::Track TrackOf(v1::CaseState state) { return state >= v1::PENALTY_DECIDED ? v1::DETENTION : v1::CRIMINAL; }

// A case in `state` where the actor stands in `relation` (or none).
v1::Case CaseWith(v1::CaseState state, std::optional<Relation> relation) {
  v1::Case c;
  c.set_case_id("C");
  c.set_track(TrackOf(state));
  c.set_state(state);
  c.set_originator("510100.epb");
  c.set_addressee("510100.psb");
  c.add_copied("510100.pro");
  c.set_court("510100.court");
  if (relation == Relation::kOriginator) c.set_originator(kActorId);
  if (relation == Relation::kAddressee) c.set_addressee(kActorId);
  if (relation == Relation::kCopied) c.set_copied(0, kActorId);
  if (relation == Relation::kCourt) c.set_court(kActorId);
  return c;
}

const std::vector<v1::AgencyKind> kKinds = {v1::ENVIRONMENT_BUREAU, v1::PUBLIC_SECURITY, v1::PROCURATORATE, v1::COURT};
const std::vector<std::optional<Relation>> kRelations = {std::nullopt, Relation::kOriginator, Relation::kAddressee,
                                                         Relation::kCopied, Relation::kCourt};

TEST(LifecycleTest, EveryCombinationIsDecidedByTheTable) {
  const auto* states = v1::CaseState_descriptor();
  int legal = 0, refused = 0;
  for (int s = 0; s < states->value_count(); ++s) {
    const auto state = static_cast<v1::CaseState>(states->value(s)->number());
    const bool no_case = state == v1::CASE_STATE_UNSPECIFIED;
    for (auto action : AllActions()) {
      for (absl::string_view branch : BranchesOf(action)) {
        bool action_in_state = false, branch_in_state = false;
        for (const auto& t : TransitionTable()) {
          if (t.from != state || t.action != action || (!no_case && t.track != TrackOf(state))) continue;
          action_in_state = true;
          branch_in_state |= t.branch.empty() || t.branch == branch;
        }
        for (auto kind : kKinds) {
          for (auto relation : kRelations) {
            if (no_case && relation.has_value()) continue;  // nobody stands in a relation to a missing case
            v1::Case c = CaseWith(state, relation);
            const Relation effective = no_case ? Relation::kNewCase : relation.value_or(Relation::kNewCase);
            const Transition* expected = nullptr;
            for (const auto& t : TransitionTable()) {
              if (t.from == state && t.action == action && (t.branch.empty() || t.branch == branch) &&
                  (no_case || t.track == TrackOf(state)) && t.actor_kind == kind && t.actor == effective &&
                  (no_case || relation.has_value())) {
                ASSERT_EQ(expected, nullptr) << "two rows match";
                expected = &t;
              }
            }
            auto got = FindTransition(no_case ? nullptr : &c, "C", action, branch, Actor(kind));
            SCOPED_TRACE(::testing::Message() << v1::CaseState_Name(state) << " " << ActionName(action) << "/" << branch
                                              << " by " << v1::AgencyKind_Name(kind) << " as "
                                              << (relation ? RelationName(*relation) : "non-party"));
            if (expected != nullptr) {
              ASSERT_TRUE(got.ok()) << got.status();
              EXPECT_EQ(*got, expected);
              ++legal;
            } else {
              ASSERT_FALSE(got.ok());
              ++refused;
              if (branch_in_state) {
                EXPECT_EQ(got.status().code(), absl::StatusCode::kPermissionDenied) << got.status();
              } else if (no_case) {
                EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound) << got.status();
              } else {
                EXPECT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition) << got.status();
                EXPECT_TRUE(absl::StrContains(got.status().message(), v1::CaseState_Name(state)));
                EXPECT_EQ(action_in_state, absl::StrContains(got.status().message(), "with decision"));
              }
            }
          }
        }
      }
    }
  }
  // One legal actor per row, and everything else refused.
  EXPECT_EQ(legal, static_cast<int>(TransitionTable().size()));
  EXPECT_GT(refused, 20000);
}

struct Expectation {
  v1::CaseState from;
  v1::Envelope::ActionCase action;
  absl::string_view branch;
  v1::AgencyKind kind;
  std::optional<Relation> relation;
  absl::StatusCode code;
  v1::CaseState to;
};

// Transitions written out by hand from the domain reference rather than
// derived from the table.
TEST(LifecycleTest, TransitionsAsTheProcedureStatesThem) {
  using v1::Envelope;
  constexpr auto kOk = absl::StatusCode::kOk;
  constexpr auto kDenied = absl::StatusCode::kPermissionDenied;
  constexpr auto kState = absl::StatusCode::kFailedPrecondition;
  constexpr auto kNone = v1::CASE_STATE_UNSPECIFIED;
  const std::vector<Expectation> cases = {
      // 1-3: the EPB proposes, its head decides, the EPB transfers; nobody else opens a criminal case.
      {kNone, Envelope::kTransferProposal, "", v1::ENVIRONMENT_BUREAU, std::nullopt, kOk, v1::TRANSFER_PROPOSED},
      {v1::TRANSFER_PROPOSED, Envelope::kTransferApproval, "approved", v1::ENVIRONMENT_BUREAU, Relation::kOriginator, kOk, v1::TRANSFER_APPROVED},
      {v1::TRANSFER_PROPOSED, Envelope::kTransferApproval, "refused", v1::ENVIRONMENT_BUREAU, Relation::kOriginator, kOk, v1::TRANSFER_REFUSED},
      {v1::TRANSFER_PROPOSED, Envelope::kTransfer, "", v1::ENVIRONMENT_BUREAU, Relation::kOriginator, kState, {}},
      {v1::TRANSFER_APPROVED, Envelope::kTransfer, "", v1::ENVIRONMENT_BUREAU, Relation::kOriginator, kOk, v1::TRANSFERRED},
      {kNone, Envelope::kTransfer, "", v1::ENVIRONMENT_BUREAU, std::nullopt, kOk, v1::TRANSFERRED},
      {kNone, Envelope::kTransfer, "", v1::PUBLIC_SECURITY, std::nullopt, kDenied, {}},
      {kNone, Envelope::kReceipt, "", v1::PUBLIC_SECURITY, std::nullopt, absl::StatusCode::kNotFound, {}},
      // 4: the addressed PSB issues the receipt.
      {v1::TRANSFERRED, Envelope::kReceipt, "", v1::PUBLIC_SECURITY, Relation::kAddressee, kOk, v1::RECEIVED},
      {v1::TRANSFERRED, Envelope::kReceipt, "", v1::PUBLIC_SECURITY, std::nullopt, kDenied, {}},
      {v1::TRANSFERRED, Envelope::kReceipt, "", v1::ENVIRONMENT_BUREAU, Relation::kOriginator, kDenied, {}},
      {v1::TRANSFERRED, Envelope::kFiling, "", v1::PUBLIC_SECURITY, Relation::kAddressee, kState, {}},
      {v1::TRANSFERRED, Envelope::kTransfer, "", v1::ENVIRONMENT_BUREAU, Relation::kOriginator, kState, {}},
      // 4a/4b.
      {v1::RECEIVED, Envelope::kMaterialsRequest, "", v1::PUBLIC_SECURITY, Relation::kAddressee, kOk, v1::MATERIALS_REQUESTED},
      {v1::MATERIALS_REQUESTED, Envelope::kMaterialsSupply, "", v1::ENVIRONMENT_BUREAU, Relation::kOriginator, kOk, v1::RECEIVED},
      {v1::MATERIALS_REQUESTED, Envelope::kMaterialsSupply, "", v1::PUBLIC_SECURITY, Relation::kAddressee, kDenied, {}},
      {v1::RECEIVED, Envelope::kReferral, "", v1::PUBLIC_SECURITY, Relation::kAddressee, kOk, v1::REFERRED},
      {v1::REFERRED, Envelope::kReceipt, "", v1::PUBLIC_SECURITY, Relation::kAddressee, kOk, v1::RECEIVED},
      {v1::RECEIVED, Envelope::kReturnCase, "", v1::PUBLIC_SECURITY, Relation::kAddressee, kOk, v1::RETURNED},
      // 5: the PSB files or declines, and may extend its period.
      {v1::RECEIVED, Envelope::kFiling, "", v1::PUBLIC_SECURITY, Relation::kAddressee, kOk, v1::FILED},
      {v1::RECEIVED, Envelope::kNonFiling, "", v1::PUBLIC_SECURITY, Relation::kAddressee, kOk, v1::NOT_FILED},
      {v1::RECEIVED, Envelope::kFiling, "", v1::PROCURATORATE, Relation::kCopied, kDenied, {}},
      {v1::RECEIVED, Envelope::kFiling, "", v1::ENVIRONMENT_BUREAU, Relation::kOriginator, kDenied, {}},
      {v1::RECEIVED, Envelope::kReceipt, "", v1::PUBLIC_SECURITY, Relation::kAddressee, kState, {}},
      {v1::RECEIVED, Envelope::kDeadlineExtension, "7_days", v1::PUBLIC_SECURITY, Relation::kAddressee, kOk, v1::RECEIVED},
      {v1::RECEIVED, Envelope::kDeadlineExtension, "30_days", v1::PUBLIC_SECURITY, Relation::kAddressee, kOk, v1::RECEIVED},
      {v1::FILED, Envelope::kDeadlineExtension, "7_days", v1::PUBLIC_SECURITY, Relation::kAddressee, kState, {}},
      // 6: evidence handover by the EPB.
      {v1::FILED, Envelope::kEvidenceHandover, "", v1::ENVIRONMENT_BUREAU, Relation::kOriginator, kOk, v1::EVIDENCE_HANDED_OVER},
      {v1::FILED, Envelope::kNonFiling, "", v1::PUBLIC_SECURITY, Relation::kAddressee, kState, {}},
      // 7: reconsideration.
      {v1::NOT_FILED, Envelope::kReconsiderationRequest, "", v1::ENVIRONMENT_BUREAU, Relation::kOriginator, kOk, v1::RECONSIDERATION_REQUESTED},
      {v1::NOT_FILED, Envelope::kFiling, "", v1::PUBLIC_SECURITY, Relation::kAddressee, kState, {}},
      {v1::RECONSIDERATION_REQUESTED, Envelope::kReconsiderationDecision, "upheld", v1::PUBLIC_SECURITY, Relation::kAddressee, kOk, v1::RECONSIDERATION_UPHELD},
      {v1::RECONSIDERATION_REQUESTED, Envelope::kReconsiderationDecision, "reversed", v1::PUBLIC_SECURITY, Relation::kAddressee, kOk, v1::FILED},
      // 8: supervision goes to the procuratorate at the EPB's request.
      {v1::RECONSIDERATION_UPHELD, Envelope::kSupervisionRequest, "", v1::ENVIRONMENT_BUREAU, Relation::kOriginator, kOk, v1::SUPERVISION_REQUESTED},
      {v1::RECEIVED, Envelope::kSupervisionRequest, "", v1::ENVIRONMENT_BUREAU, Relation::kOriginator, kOk, v1::SUPERVISION_REQUESTED},
      {v1::NOT_FILED, Envelope::kSupervisionRequest, "", v1::ENVIRONMENT_BUREAU, Relation::kOriginator, kState, {}},
      {v1::RECONSIDERATION_UPHELD, Envelope::kSupervisionRequest, "", v1::PROCURATORATE, Relation::kCopied, kDenied, {}},
      // 9: explanation, filing order, filing.
      {v1::SUPERVISION_REQUESTED, Envelope::kExplanationDemand, "", v1::PROCURATORATE, Relation::kCopied, kOk, v1::EXPLANATION_DEMANDED},
      {v1::SUPERVISION_REQUESTED, Envelope::kExplanationDemand, "", v1::ENVIRONMENT_BUREAU, Relation::kOriginator, kDenied, {}},
      {v1::EXPLANATION_DEMANDED, Envelope::kExplanation, "", v1::PUBLIC_SECURITY, Relation::kAddressee, kOk, v1::EXPLAINED},
      {v1::EXPLAINED, Envelope::kFilingOrder, "", v1::PROCURATORATE, Relation::kCopied, kOk, v1::FILING_ORDERED},
      {v1::FILING_ORDERED, Envelope::kFiling, "", v1::PUBLIC_SECURITY, Relation::kAddressee, kOk, v1::FILED},
      // 10: the procuratorate's opinion on an untransferred case.
      {kNone, Envelope::kTransferRecommendation, "", v1::PROCURATORATE, std::nullopt, kOk, v1::TRANSFER_RECOMMENDED},
      {v1::TRANSFER_RECOMMENDED, Envelope::kTransfer, "", v1::ENVIRONMENT_BUREAU, Relation::kOriginator, kOk, v1::TRANSFERRED},
      {v1::TRANSFER_REFUSED, Envelope::kTransferRecommendation, "", v1::PROCURATORATE, Relation::kCopied, kOk, v1::TRANSFER_RECOMMENDED},
      // 11: arrest and prosecution.
      {v1::FILED, Envelope::kArrestRequest, "", v1::PUBLIC_SECURITY, Relation::kAddressee, kOk, v1::ARREST_REQUESTED},
      {v1::ARREST_REQUESTED, Envelope::kArrestDecision, "approved", v1::PROCURATORATE, Relation::kCopied, kOk, v1::ARREST_APPROVED},
      {v1::ARREST_REQUESTED, Envelope::kArrestDecision, "denied", v1::PROCURATORATE, Relation::kCopied, kOk, v1::ARREST_DENIED},
      {v1::ARREST_REQUESTED, Envelope::kArrestDecision, "approved", v1::COURT, Relation::kCourt, kDenied, {}},
      {v1::ARREST_APPROVED, Envelope::kProsecutionTransfer, "", v1::PUBLIC_SECURITY, Relation::kAddressee, kOk, v1::PROSECUTION_TRANSFERRED},
      {v1::PROSECUTION_TRANSFERRED, Envelope::kProsecutionDecision, "charge", v1::PROCURATORATE, Relation::kCopied, kOk, v1::CHARGED},
      {v1::PROSECUTION_TRANSFERRED, Envelope::kProsecutionDecision, "not_charge", v1::PROCURATORATE, Relation::kCopied, kOk, v1::NOT_CHARGED},
      {v1::PROSECUTION_TRANSFERRED, Envelope::kReturnForInvestigation, "", v1::PROCURATORATE, Relation::kCopied, kOk, v1::RETURNED_FOR_INVESTIGATION},
      {v1::RETURNED_FOR_INVESTIGATION, Envelope::kProsecutionTransfer, "", v1::PUBLIC_SECURITY, Relation::kAddressee, kOk, v1::PROSECUTION_TRANSFERRED},
      // 12: the competent court's judgment.
      {v1::CHARGED, Envelope::kJudgment, "convicted", v1::COURT, Relation::kCourt, kOk, v1::JUDGED},
      {v1::CHARGED, Envelope::kJudgment, "acquitted", v1::COURT, Relation::kCourt, kOk, v1::ACQUITTED},
      {v1::CHARGED, Envelope::kJudgment, "convicted", v1::COURT, std::nullopt, kDenied, {}},
      {v1::JUDGED, Envelope::kJudgment, "convicted", v1::COURT, Relation::kCourt, kState, {}},
      // 13: withdrawal and the way back to an administrative penalty.
      {v1::FILED, Envelope::kWithdrawal, "", v1::PUBLIC_SECURITY, Relation::kAddressee, kOk, v1::WITHDRAWN},
      {v1::WITHDRAWN, Envelope::kReturnToAdministrativePenalty, "", v1::PUBLIC_SECURITY, Relation::kAddressee, kOk, v1::RETURNED_TO_ADMINISTRATIVE_PENALTY},
      {v1::NOT_FILED, Envelope::kReturnToAdministrativePenalty, "", v1::PUBLIC_SECURITY, Relation::kAddressee, kOk, v1::RETURNED_TO_ADMINISTRATIVE_PENALTY},
      {v1::NOT_CHARGED, Envelope::kReturnToAdministrativePenalty, "", v1::PROCURATORATE, Relation::kCopied, kOk, v1::RETURNED_TO_ADMINISTRATIVE_PENALTY},
      {v1::ACQUITTED, Envelope::kReturnToAdministrativePenalty, "", v1::PROCURATORATE, Relation::kCopied, kOk, v1::RETURNED_TO_ADMINISTRATIVE_PENALTY},
      {v1::JUDGED, Envelope::kReturnToAdministrativePenalty, "", v1::PROCURATORATE, Relation::kCopied, kState, {}},
      // Detention track.
      {kNone, Envelope::kPenaltyDecision, "", v1::ENVIRONMENT_BUREAU, std::nullopt, kOk, v1::PENALTY_DECIDED},
      {v1::PENALTY_DECIDED, Envelope::kDetentionTransfer, "", v1::ENVIRONMENT_BUREAU, Relation::kOriginator, kOk, v1::DETENTION_TRANSFERRED},
      {v1::DETENTION_TRANSFERRED, Envelope::kDetentionMaterialsRequest, "", v1::PUBLIC_SECURITY, Relation::kAddressee, kOk, v1::DETENTION_MATERIALS_REQUESTED},
      {v1::DETENTION_MATERIALS_REQUESTED, Envelope::kMaterialsSupply, "", v1::ENVIRONMENT_BUREAU, Relation::kOriginator, kOk, v1::DETENTION_TRANSFERRED},
      {v1::DETENTION_TRANSFERRED, Envelope::kDetentionDecision, "detained", v1::PUBLIC_SECURITY, Relation::kAddressee, kOk, v1::DETENTION_DECIDED},
      {v1::DETENTION_TRANSFERRED, Envelope::kDetentionDecision, "declined", v1::PUBLIC_SECURITY, Relation::kAddressee, kOk, v1::DETENTION_DECLINED},
      {v1::DETENTION_TRANSFERRED, Envelope::kFiling, "", v1::PUBLIC_SECURITY, Relation::kAddressee, kState, {}},
      {v1::DETENTION_DECIDED, Envelope::kDetentionDecision, "declined", v1::PUBLIC_SECURITY, Relation::kAddressee, kState, {}},
  };
  for (const auto& e : cases) {
    const bool no_case = e.from == v1::CASE_STATE_UNSPECIFIED;
    v1::Case c = CaseWith(e.from, e.relation);
    auto got = FindTransition(no_case ? nullptr : &c, "C", e.action, e.branch, Actor(e.kind));
    SCOPED_TRACE(::testing::Message() << v1::CaseState_Name(e.from) << " " << ActionName(e.action) << "/" << e.branch
                                      << " by " << v1::AgencyKind_Name(e.kind));
    EXPECT_EQ(got.status().code(), e.code) << got.status();
    if (got.ok()) {
      EXPECT_EQ((*got)->to, e.to);
    }
  }
}

TEST(LifecycleTest, RefusalNamesTheStateAndWhatIsAllowed) {
  v1::Case c = CaseWith(v1::TRANSFERRED, Relation::kAddressee);
  auto got = FindTransition(&c, "C-9", v1::Envelope::kFiling, "", Actor(v1::PUBLIC_SECURITY));
  ASSERT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(got.status().message(),
            "case 'C-9' is in state TRANSFERRED; action 'filing' is not allowed there. Allowed now: receipt (by the "
            "addressee, public security bureau)");
}

TEST(LifecycleTest, WrongAgencyIsToldWhoMustAct) {
  v1::Case c = CaseWith(v1::CHARGED, Relation::kCopied);
  auto got = FindTransition(&c, "C-9", v1::Envelope::kJudgment, "convicted", Actor(v1::PROCURATORATE));
  ASSERT_EQ(got.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(got.status().message(),
            "action 'judgment' on case 'C-9' in state CHARGED must be taken by the competent court (510100.court); "
            "510100.actor (procuratorate) is the copied agency");
}

TEST(LifecycleTest, BranchesAreReadFromTheDecision) {
  v1::Envelope e;
  e.mutable_reconsideration_decision()->set_outcome(v1::ReconsiderationDecision::REVERSED);
  EXPECT_EQ(*BranchOf(e), "reversed");
  e.mutable_reconsideration_decision()->set_outcome(v1::ReconsiderationDecision::OUTCOME_UNSPECIFIED);
  EXPECT_EQ(BranchOf(e).status().code(), absl::StatusCode::kInvalidArgument);
  e.mutable_deadline_extension()->set_extended_to_days(15);
  EXPECT_EQ(BranchOf(e).status().code(), absl::StatusCode::kInvalidArgument);
  e.mutable_deadline_extension()->set_extended_to_days(30);
  EXPECT_EQ(*BranchOf(e), "30_days");
  e.mutable_filing();
  EXPECT_EQ(*BranchOf(e), "");
  // Every branch a row names is one BranchesOf lists for its action.
  for (const auto& t : TransitionTable()) {
    const auto branches = BranchesOf(t.action);
    if (t.branch.empty()) continue;
    EXPECT_NE(std::find(branches.begin(), branches.end(), t.branch), branches.end()) << ActionName(t.action);
  }
}

TEST(LifecycleTest, EveryRowIsComplete) {
  std::set<std::string> duties;
  for (const auto& spec : DeadlineSpecs()) {
    EXPECT_TRUE(duties.insert(std::string(spec.duty)).second) << spec.duty << " twice";
    EXPECT_FALSE(spec.legal_basis.empty()) << spec.duty;
  }
  for (const auto& t : TransitionTable()) {
    SCOPED_TRACE(ActionName(t.action));
    EXPECT_FALSE(t.legal_basis.empty());
    EXPECT_FALSE(t.summary.empty());
    EXPECT_FALSE(t.notify.empty()) << "an accepted action must tell someone";
    for (auto duty : t.starts) EXPECT_NE(FindDeadlineSpec(duty), nullptr) << duty;
    for (auto duty : t.stops) EXPECT_NE(FindDeadlineSpec(duty), nullptr) << duty;
    for (auto duty : t.cancels) EXPECT_NE(FindDeadlineSpec(duty), nullptr) << duty;
    if (!t.extends.empty()) {
      EXPECT_NE(FindDeadlineSpec(t.extends), nullptr);
    }
    if (t.condition == Condition::kWindowOpen) {
      ASSERT_NE(FindDeadlineSpec(t.condition_duty), nullptr);
      EXPECT_EQ(FindDeadlineSpec(t.condition_duty)->kind, v1::Deadline::WINDOW);
    }
    // A row that opens a case cannot be taken by a party to it.
    EXPECT_EQ(t.from == v1::CASE_STATE_UNSPECIFIED, t.actor == Relation::kNewCase);
  }
  // Every duty is started by some row, and every state but the first is reachable.
  for (const auto& spec : DeadlineSpecs()) {
    bool started = false;
    for (const auto& t : TransitionTable()) started |= std::find(t.starts.begin(), t.starts.end(), spec.duty) != t.starts.end();
    EXPECT_TRUE(started) << spec.duty;
  }
  const auto* states = v1::CaseState_descriptor();
  for (int s = 0; s < states->value_count(); ++s) {
    const auto state = static_cast<v1::CaseState>(states->value(s)->number());
    if (state == v1::CASE_STATE_UNSPECIFIED || state == v1::INVESTIGATING) continue;  // the EPB's own investigation
    bool reached = false;
    for (const auto& t : TransitionTable()) reached |= t.to == state;
    EXPECT_TRUE(reached) << v1::CaseState_Name(state) << " is never reached";
  }
}

TEST(LifecycleTest, ClosedStatesAreTheEndsOfTheProcedure) {
  for (auto state : {v1::RETURNED, v1::JUDGED, v1::RETURNED_TO_ADMINISTRATIVE_PENALTY}) {
    EXPECT_TRUE(IsTerminal(v1::CRIMINAL, state)) << v1::CaseState_Name(state);
  }
  for (auto state : {v1::DETENTION_DECIDED, v1::DETENTION_DECLINED}) EXPECT_TRUE(IsTerminal(v1::DETENTION, state));
  for (auto state : {v1::TRANSFERRED, v1::RECEIVED, v1::NOT_FILED, v1::FILED, v1::ACQUITTED}) {
    EXPECT_FALSE(IsTerminal(v1::CRIMINAL, state)) << v1::CaseState_Name(state);
  }
}

}  // namespace
}  // namespace caselink
