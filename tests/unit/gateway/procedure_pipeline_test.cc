// The procedure table enforced by the real pipeline: every (state, action,
// decision, actor kind, relation) combination is signed, verified and
// submitted; the legal ones are accepted, every other one is refused with the
// right status and changes nothing. Then the rules beyond state and actor:
// documents, routing, conditions and deadlines.
#include <iostream>

#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "gateway/deadlines/deadline_rules.h"
#include "gateway/lifecycle.h"
#include "tests/unit/gateway/pipeline_fixture.h"

namespace caselink {
namespace {

using google::protobuf::util::TimeUtil;
using testing::ActionEnvelope;
using testing::TransferEnvelope;

google::protobuf::Timestamp Ts(absl::Time t) { return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t)); }

v1::Track TrackOf(v1::CaseState state) { return state >= v1::PENALTY_DECIDED ? v1::DETENTION : v1::CRIMINAL; }

class ProcedurePipelineTest : public testing::PipelineFixture {
 protected:
  // A stored case in `state` in which `actor` stands in `relation` (none: not
  // a party); the other parties are agencies of another region. Deadlines are
  // added so that whatever condition the rows for `action` state holds.
  v1::Case SeedCase(const std::string& case_id, v1::CaseState state, const std::string& actor,
                    std::optional<Relation> relation, v1::Envelope::ActionCase action) {
    v1::Case c;
    c.set_case_id(case_id);
    c.set_track(TrackOf(state));
    c.set_state(state);
    c.set_region("510100");
    c.set_originator(relation == Relation::kOriginator ? actor : "999999.epb");
    c.set_addressee(relation == Relation::kAddressee ? actor : "999999.psb");
    c.add_copied(relation == Relation::kCopied ? actor : "999999.pro");
    c.set_court(relation == Relation::kCourt ? actor : "999999.court");
    c.set_version(1);
    *c.mutable_updated_at() = Ts(clock_.Now());
    const absl::Time now = clock_.Now();
    for (const Transition& t : TransitionTable()) {
      if (t.from != state || t.action != action) continue;
      auto add = [&](absl::string_view duty, v1::Deadline::Status status, absl::Time due) {
        const DeadlineSpec* spec = FindDeadlineSpec(duty);
        v1::Deadline* d = c.add_deadlines();
        d->set_deadline_id(absl::StrCat(duty, "-seed"));
        d->set_duty(std::string(duty));
        d->set_owed_by(spec->owed_by == Relation::kOriginator ? c.originator() : c.addressee());
        d->set_kind(spec->kind);
        d->set_rule(spec->rule);
        d->set_amount(spec->amount);
        *d->mutable_started_at() = Ts(now - absl::Hours(1));
        *d->mutable_due_at() = Ts(due);
        d->set_status(status);
      };
      if (t.condition == Condition::kWindowOpen) add(t.condition_duty, v1::Deadline::RUNNING, now + absl::Hours(24));
      if (t.condition == Condition::kAddresseeOverdue) add("psb_filing_decision", v1::Deadline::OVERDUE, now - absl::Hours(1));
      if (!t.extends.empty()) add(t.extends, v1::Deadline::RUNNING, now + absl::Hours(48));
    }
    EXPECT_TRUE(store_->WriteAndWait([&](StoreTransaction& txn) { return txn.PutCase(c); }).ok());
    return c;
  }
};

TEST_F(ProcedurePipelineTest, EveryCombinationThroughThePipeline) {
  const std::map<v1::AgencyKind, std::string> agencies = {{v1::ENVIRONMENT_BUREAU, "510100.epb"},
                                                          {v1::PUBLIC_SECURITY, "510100.psb"},
                                                          {v1::PROCURATORATE, "510100.pro"},
                                                          {v1::COURT, "510100.court"}};
  const std::vector<std::optional<Relation>> relations = {std::nullopt, Relation::kOriginator, Relation::kAddressee,
                                                          Relation::kCopied, Relation::kCourt};
  const auto* states = v1::CaseState_descriptor();
  int n = 0, accepted = 0, refused = 0;
  std::map<absl::StatusCode, int> codes;
  for (int s = 0; s < states->value_count(); ++s) {
    const auto state = static_cast<v1::CaseState>(states->value(s)->number());
    const bool no_case = state == v1::CASE_STATE_UNSPECIFIED;
    for (auto action : AllActions()) {
      for (absl::string_view branch : BranchesOf(action)) {
        bool branch_in_state = false;
        for (const auto& t : TransitionTable()) {
          if (t.from == state && t.action == action && (no_case || t.track == TrackOf(state)) &&
              (t.branch.empty() || t.branch == branch)) {
            branch_in_state = true;
          }
        }
        for (const auto& [kind, agency] : agencies) {
          for (const auto& relation : relations) {
            if (no_case && relation.has_value()) continue;
            const Relation effective = no_case ? Relation::kNewCase : relation.value_or(Relation::kNewCase);
            const Transition* expected = nullptr;
            for (const auto& t : TransitionTable()) {
              if (t.from == state && t.action == action && (t.branch.empty() || t.branch == branch) &&
                  (no_case || t.track == TrackOf(state)) && t.actor_kind == kind && t.actor == effective &&
                  (no_case || relation.has_value())) {
                expected = &t;
              }
            }
            const std::string case_id = absl::StrCat("X-", ++n);
            SCOPED_TRACE(::testing::Message() << case_id << " " << v1::CaseState_Name(state) << " "
                                              << ActionName(action) << "/" << branch << " by " << agency << " as "
                                              << (relation ? RelationName(*relation) : "non-party"));
            v1::Case before;
            if (!no_case) before = SeedCase(case_id, state, agency, relation, action);
            const uint64_t audit_before = *store_->ReadAuditSize();
            auto result = Submit(agency, ActionEnvelope(case_id, action, branch));
            if (expected != nullptr) {
              ASSERT_TRUE(result.ok()) << result.status();
              v1::SubmissionReceipt receipt;
              ASSERT_TRUE(receipt.ParseFromString(result->receipt().receipt()));
              EXPECT_EQ(receipt.resulting_state(), expected->to);
              EXPECT_EQ(ReadCase(case_id).state(), expected->to);
              ++accepted;
              continue;
            }
            ASSERT_FALSE(result.ok());
            ++refused;
            ++codes[result.status().code()];
            if (branch_in_state) {
              EXPECT_EQ(result.status().code(), absl::StatusCode::kPermissionDenied) << result.status();
            } else if (no_case) {
              EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound) << result.status();
            } else {
              EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition) << result.status();
            }
            // Nothing changed but the audit record of the refusal.
            auto after = store_->ReadCase(case_id);
            ASSERT_TRUE(after.ok());
            if (no_case) {
              EXPECT_FALSE(after->has_value());
            } else {
              ASSERT_TRUE(after->has_value());
              EXPECT_EQ((*after)->SerializeAsString(), before.SerializeAsString());
            }
            EXPECT_TRUE(store_->ReadTimeline(case_id)->empty());
            EXPECT_EQ(*store_->ReadAuditSize(), audit_before + 1);
          }
        }
      }
    }
  }
  std::cout << n << " combinations submitted: " << accepted << " accepted, " << refused << " refused ("
            << codes[absl::StatusCode::kPermissionDenied] << " PERMISSION_DENIED, "
            << codes[absl::StatusCode::kFailedPrecondition] << " FAILED_PRECONDITION, "
            << codes[absl::StatusCode::kNotFound] << " NOT_FOUND)\n";
  EXPECT_EQ(accepted, static_cast<int>(TransitionTable().size()));
  EXPECT_GT(refused, 20000);
  EXPECT_GT(codes[absl::StatusCode::kPermissionDenied], 100);
  EXPECT_GT(codes[absl::StatusCode::kFailedPrecondition], 10000);
  EXPECT_GT(codes[absl::StatusCode::kNotFound], 10);
}

// ---- Documents ----

TEST_F(ProcedurePipelineTest, TransferWithoutTheRequiredDocumentsIsRefusedListingThem) {
  v1::Envelope transfer = TransferEnvelope("D-1");
  transfer.clear_documents();
  *transfer.add_documents() = testing::StandardDocument(v1::TRANSFER_LETTER);
  auto result = Submit("510100.epb", transfer);
  ASSERT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition) << result.status();
  EXPECT_EQ(result.status().message(),
            "action 'transfer' needs documents of type TRANSFER_LETTER, INVESTIGATION_REPORT, SEIZED_ITEMS_LIST "
            "(M2017 Art. 6; D310 Art. 6, 8); missing: INVESTIGATION_REPORT, SEIZED_ITEMS_LIST");
  EXPECT_FALSE(store_->ReadCase("D-1")->has_value());
  transfer.clear_documents();
  testing::AddRequiredDocuments(transfer);
  EXPECT_TRUE(Submit("510100.epb", transfer).ok());
}

TEST_F(ProcedurePipelineTest, ThirtyDayExtensionNeedsTheApprovalDocument) {
  ASSERT_TRUE(Submit("510100.epb", TransferEnvelope("D-2")).ok());
  ASSERT_TRUE(Submit("510100.psb", ActionEnvelope("D-2", "receipt")).ok());
  v1::Envelope extension = ActionEnvelope("D-2", "deadline_extension", "30_days");
  extension.clear_documents();
  auto refused = Submit("510100.psb", extension);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "missing: APPROVAL_DOCUMENT")) << refused.status();
  EXPECT_TRUE(Submit("510100.psb", ActionEnvelope("D-2", "deadline_extension", "30_days")).ok());
}

// ---- Routing ----

TEST_F(ProcedurePipelineTest, TransferIsRoutedToTheSameLevelAndCopiesTheProcuratorate) {
  ASSERT_TRUE(Submit("510104.epb", TransferEnvelope("R-1")).ok());
  const v1::Case c = ReadCase("R-1");
  EXPECT_EQ(c.originator(), "510104.epb");
  EXPECT_EQ(c.addressee(), "510104.psb");
  ASSERT_EQ(c.copied_size(), 1);
  EXPECT_EQ(c.copied(0), "510104.pro");
  EXPECT_EQ(c.region(), "510104");
}

TEST_F(ProcedurePipelineTest, ReferralMovesTheCaseToARegisteredPsb) {
  ASSERT_TRUE(Submit("510100.epb", TransferEnvelope("R-2")).ok());
  ASSERT_TRUE(Submit("510100.psb", ActionEnvelope("R-2", "receipt")).ok());
  v1::Envelope to_court = ActionEnvelope("R-2", "referral");
  to_court.mutable_referral()->set_to_agency("510104.court");
  auto refused = Submit("510100.psb", to_court);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "is not a registered public security bureau"));

  ASSERT_TRUE(Submit("510100.psb", ActionEnvelope("R-2", "referral")).ok());
  v1::Case c = ReadCase("R-2");
  EXPECT_EQ(c.state(), v1::REFERRED);
  EXPECT_EQ(c.addressee(), "510104.psb");
  EXPECT_EQ(FindDeadline(c, "psb_filing_decision")->status(), v1::Deadline::CANCELLED);
  // The referring PSB is no longer the addressee; the referred one accepts.
  EXPECT_EQ(Submit("510100.psb", ActionEnvelope("R-2", "receipt")).status().code(), absl::StatusCode::kPermissionDenied);
  ASSERT_TRUE(Submit("510104.psb", ActionEnvelope("R-2", "receipt")).ok());
  c = ReadCase("R-2");
  EXPECT_EQ(c.state(), v1::RECEIVED);
  EXPECT_EQ(FindDeadline(c, "psb_filing_decision")->owed_by(), "510104.psb");
  EXPECT_EQ(FindDeadline(c, "psb_filing_decision")->status(), v1::Deadline::RUNNING);
}

TEST_F(ProcedurePipelineTest, ChargeAddressesARegisteredCourt) {
  v1::Case c;
  c.set_case_id("R-3");
  c.set_track(v1::CRIMINAL);
  c.set_state(v1::PROSECUTION_TRANSFERRED);
  c.set_region("510100");
  c.set_originator("510100.epb");
  c.set_addressee("510100.psb");
  c.add_copied("510100.pro");
  ASSERT_TRUE(store_->WriteAndWait([&](StoreTransaction& txn) { return txn.PutCase(c); }).ok());
  v1::Envelope charge = ActionEnvelope("R-3", "prosecution_decision", "charge");
  charge.mutable_prosecution_decision()->set_court("510100.psb");
  auto refused = Submit("510100.pro", charge);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "is not a registered court")) << refused.status();
  ASSERT_TRUE(Submit("510100.pro", ActionEnvelope("R-3", "prosecution_decision", "charge")).ok());
  EXPECT_EQ(ReadCase("R-3").court(), "510100.court");
  // Only that court enters the judgment.
  EXPECT_EQ(Submit("510104.court", ActionEnvelope("R-3", "judgment", "convicted")).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Submit("510100.court", ActionEnvelope("R-3", "judgment", "convicted")).ok());
}

TEST_F(ProcedurePipelineTest, RecommendationGoesToTheEnvironmentBureauOfTheSameRegion) {
  v1::Envelope other_region = ActionEnvelope("R-4", "transfer_recommendation");
  other_region.mutable_transfer_recommendation()->set_environment_bureau("510104.epb");
  auto refused = Submit("510100.pro", other_region);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(Submit("510100.pro", ActionEnvelope("R-4", "transfer_recommendation")).ok());
  const v1::Case c = ReadCase("R-4");
  EXPECT_EQ(c.originator(), "510100.epb");
  EXPECT_TRUE(c.addressee().empty());
  EXPECT_EQ(FindDeadline(c, "epb_transfer_after_opinion")->owed_by(), "510100.epb");
}

// ---- Deadlines and conditions ----

TEST_F(ProcedurePipelineTest, ReceiptStartsTheReviewPeriodOnTheCalendar) {
  ASSERT_TRUE(Submit("510100.epb", TransferEnvelope("T-1")).ok());
  ASSERT_TRUE(Submit("510100.psb", ActionEnvelope("T-1", "receipt")).ok());
  const v1::Case d_case = ReadCase("T-1");
  const v1::Deadline* d = FindDeadline(d_case, "psb_filing_decision");
  ASSERT_NE(d, nullptr);
  // Received Monday 2026-03-02: three days end Thursday 03-05 at 24:00 CST.
  EXPECT_EQ(FormatChinaTime(absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(d->due_at()))),
            "2026-03-05 24:00 CST");
  EXPECT_EQ(d->owed_by(), "510100.psb");
  EXPECT_EQ(d->status(), v1::Deadline::RUNNING);
  // Filing meets it.
  ASSERT_TRUE(Submit("510100.psb", ActionEnvelope("T-1", "filing")).ok());
  const v1::Case filed = ReadCase("T-1");
  EXPECT_EQ(FindDeadline(filed, "psb_filing_decision")->status(), v1::Deadline::MET);
  EXPECT_EQ(FindDeadline(filed, "epb_evidence_handover")->status(), v1::Deadline::RUNNING);
}

TEST_F(ProcedurePipelineTest, ExtensionMovesTheDueTimeFromAcceptance) {
  ASSERT_TRUE(Submit("510100.epb", TransferEnvelope("T-2")).ok());
  ASSERT_TRUE(Submit("510100.psb", ActionEnvelope("T-2", "receipt")).ok());
  clock_.Advance(absl::Hours(24));
  ASSERT_TRUE(Submit("510100.psb", ActionEnvelope("T-2", "deadline_extension", "7_days")).ok());
  const v1::Case d_case = ReadCase("T-2");
  const v1::Deadline* d = FindDeadline(d_case, "psb_filing_decision");
  // Seven days from Monday 03-02 end on Monday 03-09 at 24:00.
  EXPECT_EQ(FormatChinaTime(absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(d->due_at()))),
            "2026-03-09 24:00 CST");
  EXPECT_EQ(d->amount(), 7u);
  // Not back to 7 again, and not past the due time.
  EXPECT_EQ(Submit("510100.psb", ActionEnvelope("T-2", "deadline_extension", "7_days")).status().code(),
            absl::StatusCode::kFailedPrecondition);
  clock_.Advance(absl::Hours(24 * 8));
  auto late = Submit("510100.psb", ActionEnvelope("T-2", "deadline_extension", "30_days"));
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(late.status().message(), "cannot be extended")) << late.status();
}

TEST_F(ProcedurePipelineTest, DeadlineBeyondTheCalendarIsRefusedNotGuessed) {
  clock_.Set(absl::FromCivil(absl::CivilHour(2027, 12, 30, 10), deadlines::ChinaTimeZone()));
  // The transfer starts no day-counted period; the receipt's 3 days end in 2028.
  ASSERT_TRUE(Submit("510100.epb", TransferEnvelope("T-3")).ok());
  auto refused = Submit("510100.psb", ActionEnvelope("T-3", "receipt"));
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "psb_filing_decision")) << refused.status();
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "cannot be computed")) << refused.status();
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "2028")) << refused.status();
  EXPECT_EQ(ReadCase("T-3").state(), v1::TRANSFERRED);
}

TEST_F(ProcedurePipelineTest, ReceiptAtTheYearEndCountsOnTheNextYearsCalendar) {
  clock_.Set(absl::FromCivil(absl::CivilHour(2026, 12, 30, 10), deadlines::ChinaTimeZone()));
  // The receipt's 3 days end on 2027-01-02, inside New Year 01-01..01-03: the last day moves to
  // Monday 01-04.
  ASSERT_TRUE(Submit("510100.epb", TransferEnvelope("T-8")).ok());
  auto receipt = Submit("510100.psb", ActionEnvelope("T-8", "receipt"));
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  const v1::Case received = ReadCase("T-8");
  EXPECT_EQ(received.state(), v1::RECEIVED);
  const v1::Deadline* d = FindDeadline(received, "psb_filing_decision");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(FormatChinaTime(absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(d->due_at()))),
            "2027-01-04 24:00 CST");
}

TEST_F(ProcedurePipelineTest, ReconsiderationOnlyWithinThreeWorkingDays) {
  ASSERT_TRUE(Submit("510100.epb", TransferEnvelope("T-4")).ok());
  ASSERT_TRUE(Submit("510100.psb", ActionEnvelope("T-4", "receipt")).ok());
  ASSERT_TRUE(Submit("510100.psb", ActionEnvelope("T-4", "non_filing")).ok());
  // Declined Monday 03-02: three working days end Thursday 03-05 at 24:00.
  clock_.Set(absl::FromCivil(absl::CivilHour(2026, 3, 6, 9), deadlines::ChinaTimeZone()));
  auto late = Submit("510100.epb", ActionEnvelope("T-4", "reconsideration_request"));
  ASSERT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(late.status().message(), "ended at 2026-03-05 24:00 CST")) << late.status();
}

TEST_F(ProcedurePipelineTest, SupervisionWithoutReconsiderationNeedsAMissedDeadline) {
  ASSERT_TRUE(Submit("510100.epb", TransferEnvelope("T-5")).ok());
  ASSERT_TRUE(Submit("510100.psb", ActionEnvelope("T-5", "receipt")).ok());
  auto early = Submit("510100.epb", ActionEnvelope("T-5", "supervision_request"));
  ASSERT_EQ(early.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(early.status().message(), "no deadline owed by 510100.psb")) << early.status();
  clock_.Set(absl::FromCivil(absl::CivilHour(2026, 3, 6, 9), deadlines::ChinaTimeZone()));
  // Missed even before the engine has marked it.
  ASSERT_TRUE(Submit("510100.epb", ActionEnvelope("T-5", "supervision_request")).ok());
  const v1::Case c = ReadCase("T-5");
  EXPECT_EQ(c.state(), v1::SUPERVISION_REQUESTED);
  EXPECT_EQ(FindDeadline(c, "psb_filing_decision")->status(), v1::Deadline::CANCELLED);
}

TEST_F(ProcedurePipelineTest, DecisionsStateTheirReasons) {
  ASSERT_TRUE(Submit("510100.epb", TransferEnvelope("T-6")).ok());
  ASSERT_TRUE(Submit("510100.psb", ActionEnvelope("T-6", "receipt")).ok());
  v1::Envelope no_reason = ActionEnvelope("T-6", "non_filing");
  no_reason.mutable_non_filing()->clear_reason();
  EXPECT_EQ(Submit("510100.psb", no_reason).status().code(), absl::StatusCode::kInvalidArgument);
  v1::Envelope bad_decision = ActionEnvelope("T-6", "deadline_extension", "7_days");
  bad_decision.mutable_deadline_extension()->set_extended_to_days(15);
  EXPECT_EQ(Submit("510100.psb", bad_decision).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadCase("T-6").state(), v1::RECEIVED);
}

TEST_F(ProcedurePipelineTest, ClosingACaseCancelsWhatIsStillOwed) {
  ASSERT_TRUE(Submit("510100.epb", TransferEnvelope("T-7")).ok());
  ASSERT_TRUE(Submit("510100.psb", ActionEnvelope("T-7", "receipt")).ok());
  ASSERT_TRUE(Submit("510100.psb", ActionEnvelope("T-7", "return_case")).ok());
  const v1::Case closed = ReadCase("T-7");
  for (const auto& d : closed.deadlines()) EXPECT_NE(d.status(), v1::Deadline::RUNNING) << d.duty();
  auto running = store_->ListRunningDeadlines();
  ASSERT_TRUE(running.ok());
  for (const auto& d : *running) EXPECT_NE(d.case_id, "T-7");
}

}  // namespace
}  // namespace caselink
