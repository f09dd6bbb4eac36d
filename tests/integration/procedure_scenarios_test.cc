// The procedure end to end through a real TLS gateway on a fake clock: whole
// cases on both tracks, who receives what at each step, deadlines on the
// calendar, a missed review that alerts and opens supervision, deadlines
// reloaded after a restart, and case lists and statistics as agencies see them.
#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "gateway/deadline_engine.h"
#include "gateway/deadlines/deadline_rules.h"
#include "gateway/lifecycle.h"
#include "tests/support/test_gateway.h"

namespace caselink {
namespace {

using google::protobuf::util::TimeUtil;
using testing::ActionEnvelope;
using testing::ScenarioStart;

absl::Time China(int m, int d, int h, int min = 0) {
  return absl::FromCivil(absl::CivilMinute(2026, m, d, h, min), deadlines::ChinaTimeZone());
}

class ProcedureScenarioTest : public ::testing::Test {
 protected:
  ProcedureScenarioTest()
      : clock_(std::make_shared<ManualClock>(ScenarioStart())),
        gateway_(testing::MakeTempDir(), {.clock = clock_, .additional_regions = {"510104"}}) {}

  AgencyClient& Agency(const std::string& id) {
    auto& client = clients_[id];
    if (client == nullptr) client = gateway_.Client(id);
    return *client;
  }

  // Submits as `agency`; the action must be accepted.
  v1::CaseState Act(const std::string& agency, const v1::Envelope& envelope) {
    auto result = gateway_.Submit(Agency(agency), envelope);
    EXPECT_TRUE(result.ok()) << ActionName(envelope.action_case()) << " by " << agency << ": " << result.status();
    if (!result.ok()) return v1::CASE_STATE_UNSPECIFIED;
    v1::SubmissionReceipt receipt;
    EXPECT_TRUE(receipt.ParseFromString(result->receipt().receipt()));
    return receipt.resulting_state();
  }
  v1::CaseState Act(const std::string& agency, const std::string& case_id, const std::string& action,
                    absl::string_view branch = "") {
    return Act(agency, ActionEnvelope(case_id, action, branch));
  }

  // Everything pending for `agency`, read from its delivery stream and acknowledged.
  std::vector<v1::Delivery> Receive(const std::string& agency) {
    auto pending = gateway_.store().ReadPendingDeliveries(agency, 0, 1000);
    EXPECT_TRUE(pending.ok());
    if (!pending.ok() || pending->empty()) return {};
    auto received = testing::ReadDeliveries(Agency(agency), pending->size(), absl::Seconds(10));
    EXPECT_EQ(received.size(), pending->size()) << agency;
    if (!received.empty()) {
      EXPECT_TRUE(Agency(agency).Acknowledge(received.back().sequence()).ok());
    }
    return received;
  }

  // `agency` has received exactly one delivery since the last call: `action` for `reason`.
  void ExpectDelivered(const std::string& agency, const std::string& action, v1::Delivery::Reason reason) {
    auto received = Receive(agency);
    ASSERT_EQ(received.size(), 1u) << agency << " expected " << action;
    EXPECT_EQ(received[0].action(), action) << agency;
    EXPECT_EQ(received[0].reason(), reason) << agency << " " << action;
  }

  void ExpectNothingPending() {
    for (const char* agency : {"510100.epb", "510100.psb", "510100.pro", "510100.court"}) {
      auto pending = gateway_.store().ReadPendingDeliveries(agency, 0, 10);
      ASSERT_TRUE(pending.ok());
      EXPECT_TRUE(pending->empty()) << agency << " has " << pending->size() << " unread, first "
                                    << (pending->empty() ? "" : pending->front().action());
    }
  }

  v1::GetCaseResponse CaseAs(const std::string& agency, const std::string& case_id) {
    auto resp = Agency(agency).GetCase(case_id);
    EXPECT_TRUE(resp.ok()) << resp.status();
    return resp.ok() ? *resp : v1::GetCaseResponse();
  }

  static const v1::Deadline* Find(const v1::Case& c, absl::string_view duty) {
    const v1::Deadline* found = nullptr;
    for (const auto& d : c.deadlines()) {
      if (d.duty() == duty) found = &d;
    }
    return found;
  }

  static std::string DueText(const v1::Deadline* d) {
    return d == nullptr ? "none" : FormatChinaTime(absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(d->due_at())));
  }

  std::vector<std::string> List(const std::string& agency, v1::ListCasesRequest req) {
    grpc::ClientContext ctx;
    v1::ListCasesResponse resp;
    auto st = Agency(agency).cases().ListCases(&ctx, req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    std::vector<std::string> ids;
    for (const auto& c : resp.cases()) ids.push_back(c.case_id());
    return ids;
  }

  std::shared_ptr<ManualClock> clock_;
  testing::TestGateway gateway_;
  std::map<std::string, std::unique_ptr<AgencyClient>> clients_;
};

// (a) transfer -> receipt -> materials -> filing -> evidence -> arrest -> prosecution -> judgment.
TEST_F(ProcedureScenarioTest, CriminalCaseFromTransferToJudgment) {
  const std::string id = "A-1";
  EXPECT_EQ(Act("510100.epb", testing::TransferEnvelope(id)), v1::TRANSFERRED);
  ExpectDelivered("510100.psb", "transfer", v1::Delivery::ADDRESSEE);
  ExpectDelivered("510100.pro", "transfer", v1::Delivery::COPY);
  EXPECT_EQ(Act("510100.psb", id, "receipt"), v1::RECEIVED);
  ExpectDelivered("510100.epb", "receipt", v1::Delivery::NOTIFICATION);
  EXPECT_EQ(DueText(Find(CaseAs("510100.psb", id).case_(), "psb_filing_decision")), "2026-03-05 24:00 CST");

  clock_->Advance(absl::Hours(2));
  EXPECT_EQ(Act("510100.psb", id, "materials_request"), v1::MATERIALS_REQUESTED);
  ExpectDelivered("510100.epb", "materials_request", v1::Delivery::ADDRESSEE);
  // The EPB supplies the missing test report within its 3 days.
  auto report = Agency("510100.epb").UploadBytes("监测报告：COD超标12倍", v1::TEST_REPORT, "监测报告", "text/plain");
  ASSERT_TRUE(report.ok()) << report.status();
  v1::Envelope supply = ActionEnvelope(id, "materials_supply");
  *supply.add_documents() = *report;
  clock_->Advance(absl::Hours(20));
  EXPECT_EQ(Act("510100.epb", supply), v1::RECEIVED);
  ExpectDelivered("510100.psb", "materials_supply", v1::Delivery::ADDRESSEE);

  EXPECT_EQ(Act("510100.psb", id, "filing"), v1::FILED);
  ExpectDelivered("510100.epb", "filing", v1::Delivery::NOTIFICATION);
  ExpectDelivered("510100.pro", "filing", v1::Delivery::COPY);
  EXPECT_EQ(Act("510100.epb", id, "evidence_handover"), v1::EVIDENCE_HANDED_OVER);
  ExpectDelivered("510100.psb", "evidence_handover", v1::Delivery::ADDRESSEE);
  ExpectDelivered("510100.pro", "evidence_handover", v1::Delivery::COPY);

  EXPECT_EQ(Act("510100.psb", id, "arrest_request"), v1::ARREST_REQUESTED);
  ExpectDelivered("510100.pro", "arrest_request", v1::Delivery::ADDRESSEE);
  ExpectDelivered("510100.epb", "arrest_request", v1::Delivery::NOTIFICATION);
  EXPECT_EQ(Act("510100.pro", id, "arrest_decision", "approved"), v1::ARREST_APPROVED);
  ExpectDelivered("510100.psb", "arrest_decision", v1::Delivery::ADDRESSEE);
  ExpectDelivered("510100.epb", "arrest_decision", v1::Delivery::NOTIFICATION);
  EXPECT_EQ(Act("510100.psb", id, "prosecution_transfer"), v1::PROSECUTION_TRANSFERRED);
  ExpectDelivered("510100.pro", "prosecution_transfer", v1::Delivery::ADDRESSEE);
  ExpectDelivered("510100.epb", "prosecution_transfer", v1::Delivery::NOTIFICATION);

  // The court is no party until the procuratorate charges and names it.
  EXPECT_EQ(Agency("510100.court").GetCase(id).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Act("510100.pro", id, "prosecution_decision", "charge"), v1::CHARGED);
  ExpectDelivered("510100.court", "prosecution_decision", v1::Delivery::ADDRESSEE);
  ExpectDelivered("510100.epb", "prosecution_decision", v1::Delivery::NOTIFICATION);
  ExpectDelivered("510100.psb", "prosecution_decision", v1::Delivery::NOTIFICATION);
  EXPECT_EQ(CaseAs("510100.court", id).case_().court(), "510100.court");

  EXPECT_EQ(Act("510100.court", id, "judgment", "convicted"), v1::JUDGED);
  ExpectDelivered("510100.epb", "judgment", v1::Delivery::NOTIFICATION);
  ExpectDelivered("510100.psb", "judgment", v1::Delivery::NOTIFICATION);
  ExpectDelivered("510100.pro", "judgment", v1::Delivery::COPY);
  ExpectNothingPending();

  const auto full = CaseAs("510100.pro", id);
  std::vector<std::string> actions;
  for (const auto& e : full.timeline()) actions.push_back(e.action());
  EXPECT_EQ(actions, (std::vector<std::string>{"transfer", "receipt", "materials_request", "materials_supply", "filing",
                                               "evidence_handover", "arrest_request", "arrest_decision",
                                               "prosecution_transfer", "prosecution_decision", "judgment"}));
  EXPECT_EQ(full.case_().state(), v1::JUDGED);
  for (const char* duty : {"psb_filing_decision", "epb_materials_supply", "epb_evidence_handover"}) {
    ASSERT_NE(Find(full.case_(), duty), nullptr) << duty;
    EXPECT_EQ(Find(full.case_(), duty)->status(), v1::Deadline::MET) << duty;
  }
}

// (b) non-filing -> reconsideration upheld -> supervision -> explanation -> filing order -> filing.
TEST_F(ProcedureScenarioTest, SupervisionAfterAnUpheldNonFilingEndsInFiling) {
  const std::string id = "B-1";
  Act("510100.epb", testing::TransferEnvelope(id));
  Act("510100.psb", id, "receipt");
  Receive("510100.psb");
  Receive("510100.pro");
  Receive("510100.epb");
  EXPECT_EQ(Act("510100.psb", id, "non_filing"), v1::NOT_FILED);
  ExpectDelivered("510100.epb", "non_filing", v1::Delivery::NOTIFICATION);
  ExpectDelivered("510100.pro", "non_filing", v1::Delivery::COPY);
  // Declined Monday: reconsideration may be asked until Thursday 24:00 (3 working days).
  EXPECT_EQ(DueText(Find(CaseAs("510100.epb", id).case_(), "epb_reconsideration_window")), "2026-03-05 24:00 CST");

  clock_->Set(China(3, 4, 10));
  EXPECT_EQ(Act("510100.epb", id, "reconsideration_request"), v1::RECONSIDERATION_REQUESTED);
  ExpectDelivered("510100.psb", "reconsideration_request", v1::Delivery::ADDRESSEE);
  ExpectDelivered("510100.pro", "reconsideration_request", v1::Delivery::COPY);
  clock_->Set(China(3, 6, 10));
  EXPECT_EQ(Act("510100.psb", id, "reconsideration_decision", "upheld"), v1::RECONSIDERATION_UPHELD);
  ExpectDelivered("510100.epb", "reconsideration_decision", v1::Delivery::NOTIFICATION);
  ExpectDelivered("510100.pro", "reconsideration_decision", v1::Delivery::COPY);

  clock_->Set(China(3, 7, 10));
  EXPECT_EQ(Act("510100.epb", id, "supervision_request"), v1::SUPERVISION_REQUESTED);
  ExpectDelivered("510100.pro", "supervision_request", v1::Delivery::ADDRESSEE);
  EXPECT_EQ(Act("510100.pro", id, "explanation_demand"), v1::EXPLANATION_DEMANDED);
  ExpectDelivered("510100.psb", "explanation_demand", v1::Delivery::ADDRESSEE);
  ExpectDelivered("510100.epb", "explanation_demand", v1::Delivery::NOTIFICATION);
  clock_->Set(China(3, 12, 10));
  EXPECT_EQ(Act("510100.psb", id, "explanation"), v1::EXPLAINED);
  ExpectDelivered("510100.pro", "explanation", v1::Delivery::ADDRESSEE);
  ExpectDelivered("510100.epb", "explanation", v1::Delivery::NOTIFICATION);
  EXPECT_EQ(Act("510100.pro", id, "filing_order"), v1::FILING_ORDERED);
  ExpectDelivered("510100.psb", "filing_order", v1::Delivery::ADDRESSEE);
  ExpectDelivered("510100.epb", "filing_order", v1::Delivery::NOTIFICATION);
  // Ordered Thursday 03-12: the PSB files within 15 days, by Friday 03-27 24:00.
  EXPECT_EQ(DueText(Find(CaseAs("510100.psb", id).case_(), "psb_filing_after_order")), "2026-03-27 24:00 CST");
  clock_->Set(China(3, 20, 10));
  EXPECT_EQ(Act("510100.psb", id, "filing"), v1::FILED);
  ExpectDelivered("510100.epb", "filing", v1::Delivery::NOTIFICATION);
  ExpectDelivered("510100.pro", "filing", v1::Delivery::COPY);
  ExpectNothingPending();

  const v1::Case c = CaseAs("510100.epb", id).case_();
  EXPECT_EQ(c.state(), v1::FILED);
  for (const char* duty : {"psb_filing_decision", "epb_reconsideration_window", "psb_reconsideration_decision",
                           "epb_supervision_request", "psb_explanation", "psb_filing_after_order"}) {
    ASSERT_NE(Find(c, duty), nullptr) << duty;
    EXPECT_EQ(Find(c, duty)->status(), v1::Deadline::MET) << duty;
  }
  EXPECT_EQ(Find(c, "epb_evidence_handover")->status(), v1::Deadline::RUNNING);
}

// (c) the detention track, counted in working days.
TEST_F(ProcedureScenarioTest, DetentionTrackFromPenaltyToDecision) {
  const std::string id = "C-1";
  EXPECT_EQ(Act("510100.epb", id, "penalty_decision"), v1::PENALTY_DECIDED);
  ExpectDelivered("510100.psb", "penalty_decision", v1::Delivery::NOTIFICATION);
  // Decided Monday 03-02: transfer within 3 working days, by Thursday 24:00.
  EXPECT_EQ(DueText(Find(CaseAs("510100.epb", id).case_(), "epb_detention_transfer")), "2026-03-05 24:00 CST");
  clock_->Set(China(3, 4, 15));
  EXPECT_EQ(Act("510100.epb", id, "detention_transfer"), v1::DETENTION_TRANSFERRED);
  ExpectDelivered("510100.psb", "detention_transfer", v1::Delivery::ADDRESSEE);
  v1::Case c = CaseAs("510100.psb", id).case_();
  EXPECT_EQ(c.track(), v1::DETENTION);
  EXPECT_EQ(c.addressee(), "510100.psb");
  // Accepted Wednesday 03-04: materials may be asked until Monday 03-09, a decline is due by Wednesday 03-11.
  EXPECT_EQ(DueText(Find(c, "psb_detention_materials_window")), "2026-03-09 24:00 CST");
  EXPECT_EQ(DueText(Find(c, "psb_detention_decision")), "2026-03-11 24:00 CST");

  clock_->Set(China(3, 5, 9));
  EXPECT_EQ(Act("510100.psb", id, "detention_materials_request"), v1::DETENTION_MATERIALS_REQUESTED);
  ExpectDelivered("510100.epb", "detention_materials_request", v1::Delivery::ADDRESSEE);
  EXPECT_EQ(Act("510100.epb", id, "materials_supply"), v1::DETENTION_TRANSFERRED);
  ExpectDelivered("510100.psb", "materials_supply", v1::Delivery::ADDRESSEE);
  clock_->Set(China(3, 6, 9));
  EXPECT_EQ(Act("510100.psb", id, "detention_decision", "detained"), v1::DETENTION_DECIDED);
  ExpectDelivered("510100.epb", "detention_decision", v1::Delivery::NOTIFICATION);
  ExpectNothingPending();  // no procuratorate on this track
  c = CaseAs("510100.epb", id).case_();
  EXPECT_EQ(c.state(), v1::DETENTION_DECIDED);
  EXPECT_EQ(Find(c, "psb_detention_decision")->status(), v1::Deadline::MET);
  EXPECT_EQ(Find(c, "epb_detention_transfer")->status(), v1::Deadline::MET);
  // A closed case takes no further decision.
  auto again = gateway_.Submit(Agency("510100.psb"), ActionEnvelope(id, "detention_decision", "declined"));
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
}

// (d) the procuratorate finds an untransferred case; the EPB transfers and so reports back.
TEST_F(ProcedureScenarioTest, ProcuratorateRecommendsTheTransferOfAnUntransferredCase) {
  const std::string id = "D-1";
  EXPECT_EQ(Act("510100.pro", id, "transfer_recommendation"), v1::TRANSFER_RECOMMENDED);
  ExpectDelivered("510100.epb", "transfer_recommendation", v1::Delivery::ADDRESSEE);
  v1::Case c = CaseAs("510100.epb", id).case_();
  EXPECT_EQ(c.originator(), "510100.epb");
  EXPECT_EQ(DueText(Find(c, "epb_transfer_after_opinion")), "2026-03-05 24:00 CST");
  // Only that EPB may answer with the transfer.
  auto other = gateway_.Submit(Agency("510104.epb"), testing::TransferEnvelope(id));
  EXPECT_EQ(other.status().code(), absl::StatusCode::kPermissionDenied);

  clock_->Set(China(3, 4, 11));
  EXPECT_EQ(Act("510100.epb", testing::TransferEnvelope(id)), v1::TRANSFERRED);
  ExpectDelivered("510100.psb", "transfer", v1::Delivery::ADDRESSEE);
  ExpectDelivered("510100.pro", "transfer", v1::Delivery::COPY);
  ExpectNothingPending();
  c = CaseAs("510100.pro", id).case_();
  EXPECT_EQ(c.addressee(), "510100.psb");
  EXPECT_EQ(c.case_name(), "某公司涉嫌污染环境案");
  EXPECT_EQ(Find(c, "epb_transfer_after_opinion")->status(), v1::Deadline::MET);
}

// The EPB head's refusal is visible to the procuratorate, which may recommend the transfer.
TEST_F(ProcedureScenarioTest, RefusedProposalIsTakenUpByTheProcuratorate) {
  const std::string id = "E-1";
  EXPECT_EQ(Act("510100.epb", id, "transfer_proposal"), v1::TRANSFER_PROPOSED);
  ExpectDelivered("510100.pro", "transfer_proposal", v1::Delivery::COPY);
  EXPECT_EQ(Act("510100.epb", id, "transfer_approval", "refused"), v1::TRANSFER_REFUSED);
  ExpectDelivered("510100.pro", "transfer_approval", v1::Delivery::COPY);
  EXPECT_EQ(Act("510100.pro", id, "transfer_recommendation"), v1::TRANSFER_RECOMMENDED);
  ExpectDelivered("510100.epb", "transfer_recommendation", v1::Delivery::ADDRESSEE);
  EXPECT_EQ(Act("510100.epb", testing::TransferEnvelope(id)), v1::TRANSFERRED);
}

// A PSB review run past its deadline on the fake clock.
TEST_F(ProcedureScenarioTest, MissedReviewAlertsTheEpbAndTheProcuratorateAndOpensSupervision) {
  const std::string id = "O-1";
  Act("510100.epb", testing::TransferEnvelope(id));
  Act("510100.psb", id, "receipt");
  for (const char* agency : {"510100.epb", "510100.psb", "510100.pro"}) Receive(agency);
  const uint64_t audit_before = gateway_.AuditSize();
  v1::ListCasesRequest overdue;
  overdue.set_overdue_only(true);

  clock_->Set(China(3, 5, 23, 59));
  gateway_.CheckDeadlines();
  EXPECT_TRUE(List("510100.pro", overdue).empty());
  ExpectNothingPending();

  clock_->Set(China(3, 6, 0, 1));
  gateway_.CheckDeadlines();
  for (const char* agency : {"510100.epb", "510100.pro"}) {
    auto alerts = Receive(agency);
    ASSERT_EQ(alerts.size(), 1u) << agency;
    EXPECT_EQ(alerts[0].reason(), v1::Delivery::ALERT);
    EXPECT_EQ(alerts[0].case_id(), id);
    EXPECT_EQ(alerts[0].deadline().duty(), "psb_filing_decision");
    EXPECT_EQ(alerts[0].deadline().status(), v1::Deadline::OVERDUE);
  }
  EXPECT_TRUE(Receive("510100.psb").empty());
  const auto seen = CaseAs("510100.epb", id);
  EXPECT_EQ(Find(seen.case_(), "psb_filing_decision")->status(), v1::Deadline::OVERDUE);
  EXPECT_EQ(seen.timeline(seen.timeline_size() - 1).action(), "deadline_overdue");
  EXPECT_EQ(List("510100.pro", overdue), std::vector<std::string>{id});
  EXPECT_EQ(List("510100.epb", overdue), std::vector<std::string>{id});
  bool audited = false;
  for (const auto& r : gateway_.AuditRecordsFrom(audit_before)) {
    if (r.action() == "deadline.overdue" && r.case_id() == id && r.outcome() == v1::AuditRecord::SYSTEM) audited = true;
  }
  EXPECT_TRUE(audited);

  clock_->Set(China(3, 6, 10));
  EXPECT_EQ(Act("510100.epb", id, "supervision_request"), v1::SUPERVISION_REQUESTED);
  ExpectDelivered("510100.pro", "supervision_request", v1::Delivery::ADDRESSEE);
  EXPECT_TRUE(List("510100.pro", overdue).empty());
}

TEST_F(ProcedureScenarioTest, RunningDeadlinesSurviveARestart) {
  Act("510100.epb", testing::TransferEnvelope("O-2"));
  Act("510100.psb", "O-2", "receipt");
  Receive("510100.epb");
  clients_.clear();
  gateway_.Stop();
  clock_->Set(China(3, 9, 9));
  gateway_.Start();
  gateway_.CheckDeadlines();
  EXPECT_EQ(Find(CaseAs("510100.epb", "O-2").case_(), "psb_filing_decision")->status(), v1::Deadline::OVERDUE);
  auto alerts = Receive("510100.epb");
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].reason(), v1::Delivery::ALERT);
}

TEST_F(ProcedureScenarioTest, CaseListsByStateTrackRegionAndPage) {
  for (const char* id : {"L-1", "L-2", "L-3"}) Act("510100.epb", testing::TransferEnvelope(id));
  Act("510100.psb", "L-2", "receipt");
  Act("510100.epb", "L-4", "penalty_decision");
  Act("510104.epb", testing::TransferEnvelope("L-5"));

  v1::ListCasesRequest by_state;
  by_state.set_state(v1::RECEIVED);
  EXPECT_EQ(List("510100.psb", by_state), std::vector<std::string>{"L-2"});
  v1::ListCasesRequest by_track;
  by_track.set_track(v1::DETENTION);
  EXPECT_EQ(List("510100.psb", by_track), std::vector<std::string>{"L-4"});
  // The procuratorate is not on the detention track.
  EXPECT_TRUE(List("510100.pro", by_track).empty());
  v1::ListCasesRequest by_region;
  by_region.set_region_prefix("510104");
  EXPECT_EQ(List("510104.psb", by_region), std::vector<std::string>{"L-5"});
  EXPECT_TRUE(List("510100.psb", by_region).empty());

  v1::ListCasesRequest page;
  page.set_page_size(2);
  grpc::ClientContext ctx;
  v1::ListCasesResponse first;
  ASSERT_TRUE(Agency("510100.psb").cases().ListCases(&ctx, page, &first).ok());
  ASSERT_EQ(first.cases_size(), 2);
  EXPECT_EQ(first.cases(0).case_id(), "L-1");
  ASSERT_FALSE(first.next_page_token().empty());
  page.set_page_token(first.next_page_token());
  EXPECT_EQ(List("510100.psb", page), (std::vector<std::string>{"L-3", "L-4"}));

  v1::ListCasesRequest period;
  *period.mutable_updated_from() = TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(China(3, 3, 0)));
  EXPECT_TRUE(List("510100.psb", period).empty());
}

}  // namespace
}  // namespace caselink
