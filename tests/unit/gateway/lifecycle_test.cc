// The procedure table's enforcement: every (state, action, actor kind,
// relation) combination, and the transitions of the first cut spelled out.
#include "gateway/lifecycle.h"

#include <gtest/gtest.h>

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

// A case in `state` where the actor stands in `relation` (or none).
v1::Case CaseWith(v1::CaseState state, std::optional<Relation> relation) {
  v1::Case c;
  c.set_case_id("C");
  c.set_track(v1::CRIMINAL);
  c.set_state(state);
  c.set_originator("510100.epb");
  c.set_addressee("510100.psb");
  c.add_copied("510100.pro");
  if (relation == Relation::kOriginator) c.set_originator(kActorId);
  if (relation == Relation::kAddressee) c.set_addressee(kActorId);
  if (relation == Relation::kCopied) c.set_copied(0, kActorId);
  return c;
}

std::vector<v1::Envelope::ActionCase> AllActions() {
  std::vector<v1::Envelope::ActionCase> out;
  const auto* oneof = v1::Envelope::descriptor()->FindOneofByName("action");
  for (int i = 0; i < oneof->field_count(); ++i) out.push_back(static_cast<v1::Envelope::ActionCase>(oneof->field(i)->number()));
  return out;
}

TEST(LifecycleTest, EveryCombinationIsDecidedByTheTable) {
  const auto* states = v1::CaseState_descriptor();
  const std::vector<v1::AgencyKind> kinds = {v1::ENVIRONMENT_BUREAU, v1::PUBLIC_SECURITY, v1::PROCURATORATE, v1::COURT};
  const std::vector<std::optional<Relation>> relations = {std::nullopt, Relation::kOriginator, Relation::kAddressee,
                                                          Relation::kCopied};
  int legal = 0, refused = 0;
  for (int s = 0; s < states->value_count(); ++s) {
    const auto state = static_cast<v1::CaseState>(states->value(s)->number());
    for (auto action : AllActions()) {
      bool action_in_state = false;
      for (const auto& t : TransitionTable()) action_in_state |= (t.from == state && t.action == action);
      for (auto kind : kinds) {
        for (auto relation : relations) {
          const bool no_case = state == v1::CASE_STATE_UNSPECIFIED;
          if (no_case && relation.has_value()) continue;  // nobody stands in a relation to a missing case
          v1::Case c = CaseWith(state, relation);
          const Relation effective = no_case ? Relation::kNewCase : relation.value_or(Relation::kNewCase);
          const Transition* expected = nullptr;
          for (const auto& t : TransitionTable()) {
            if (t.from == state && t.action == action && t.actor_kind == kind && t.actor == effective &&
                (no_case || relation.has_value())) {
              expected = &t;
            }
          }
          auto got = FindTransition(no_case ? nullptr : &c, "C", v1::CRIMINAL, action, Actor(kind));
          SCOPED_TRACE(testing::Message() << v1::CaseState_Name(state) << " " << ActionName(action) << " by "
                                          << v1::AgencyKind_Name(kind) << " as "
                                          << (relation ? RelationName(*relation) : "non-party"));
          if (expected != nullptr) {
            ASSERT_TRUE(got.ok()) << got.status();
            EXPECT_EQ(*got, expected);
            ++legal;
          } else {
            ASSERT_FALSE(got.ok());
            ++refused;
            if (action_in_state) {
              EXPECT_EQ(got.status().code(), absl::StatusCode::kPermissionDenied) << got.status();
            } else if (no_case) {
              EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound) << got.status();
            } else {
              EXPECT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition) << got.status();
              EXPECT_NE(got.status().message().find(v1::CaseState_Name(state)), std::string::npos);
            }
          }
        }
      }
    }
  }
  // One legal actor per row, and everything else refused.
  EXPECT_EQ(legal, static_cast<int>(TransitionTable().size()));
  EXPECT_GT(refused, 1000);
}

struct Expectation {
  v1::CaseState from;
  v1::Envelope::ActionCase action;
  v1::AgencyKind kind;
  std::optional<Relation> relation;
  absl::StatusCode code;
  v1::CaseState to;
};

// The transitions this version enforces, written out by hand from the domain
// page rather than derived from the table.
TEST(LifecycleTest, FirstCutTransitionsAsTheProcedureStatesThem) {
  using v1::Envelope;
  const std::vector<Expectation> cases = {
      // 3: the EPB transfers (M2017 Art. 6); nobody else opens a criminal case.
      {v1::CASE_STATE_UNSPECIFIED, Envelope::kTransfer, v1::ENVIRONMENT_BUREAU, std::nullopt, absl::StatusCode::kOk, v1::TRANSFERRED},
      {v1::CASE_STATE_UNSPECIFIED, Envelope::kTransfer, v1::PUBLIC_SECURITY, std::nullopt, absl::StatusCode::kPermissionDenied, {}},
      {v1::CASE_STATE_UNSPECIFIED, Envelope::kReceipt, v1::PUBLIC_SECURITY, std::nullopt, absl::StatusCode::kNotFound, {}},
      // 4: the addressed PSB issues the receipt.
      {v1::TRANSFERRED, Envelope::kReceipt, v1::PUBLIC_SECURITY, Relation::kAddressee, absl::StatusCode::kOk, v1::RECEIVED},
      {v1::TRANSFERRED, Envelope::kReceipt, v1::PUBLIC_SECURITY, std::nullopt, absl::StatusCode::kPermissionDenied, {}},
      {v1::TRANSFERRED, Envelope::kReceipt, v1::ENVIRONMENT_BUREAU, Relation::kOriginator, absl::StatusCode::kPermissionDenied, {}},
      {v1::TRANSFERRED, Envelope::kFiling, v1::PUBLIC_SECURITY, Relation::kAddressee, absl::StatusCode::kFailedPrecondition, {}},
      {v1::TRANSFERRED, Envelope::kTransfer, v1::ENVIRONMENT_BUREAU, Relation::kOriginator, absl::StatusCode::kFailedPrecondition, {}},
      // 5: the PSB files or declines.
      {v1::RECEIVED, Envelope::kFiling, v1::PUBLIC_SECURITY, Relation::kAddressee, absl::StatusCode::kOk, v1::FILED},
      {v1::RECEIVED, Envelope::kNonFiling, v1::PUBLIC_SECURITY, Relation::kAddressee, absl::StatusCode::kOk, v1::NOT_FILED},
      {v1::RECEIVED, Envelope::kFiling, v1::PROCURATORATE, Relation::kCopied, absl::StatusCode::kPermissionDenied, {}},
      {v1::RECEIVED, Envelope::kFiling, v1::ENVIRONMENT_BUREAU, Relation::kOriginator, absl::StatusCode::kPermissionDenied, {}},
      {v1::RECEIVED, Envelope::kReceipt, v1::PUBLIC_SECURITY, Relation::kAddressee, absl::StatusCode::kFailedPrecondition, {}},
      // Decided cases take no second decision in this version.
      {v1::FILED, Envelope::kNonFiling, v1::PUBLIC_SECURITY, Relation::kAddressee, absl::StatusCode::kFailedPrecondition, {}},
      {v1::NOT_FILED, Envelope::kFiling, v1::PUBLIC_SECURITY, Relation::kAddressee, absl::StatusCode::kFailedPrecondition, {}},
  };
  for (const auto& e : cases) {
    const bool no_case = e.from == v1::CASE_STATE_UNSPECIFIED;
    v1::Case c = CaseWith(e.from, e.relation);
    auto got = FindTransition(no_case ? nullptr : &c, "C", v1::CRIMINAL, e.action, Actor(e.kind));
    SCOPED_TRACE(testing::Message() << v1::CaseState_Name(e.from) << " " << ActionName(e.action) << " by "
                                    << v1::AgencyKind_Name(e.kind));
    EXPECT_EQ(got.status().code(), e.code) << got.status();
    if (got.ok()) EXPECT_EQ((*got)->to, e.to);
  }
}

TEST(LifecycleTest, RefusalNamesTheStateAndWhatIsAllowed) {
  v1::Case c = CaseWith(v1::TRANSFERRED, Relation::kAddressee);
  auto got = FindTransition(&c, "C-9", v1::CRIMINAL, v1::Envelope::kFiling, Actor(v1::PUBLIC_SECURITY));
  ASSERT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(got.status().message(),
            "case 'C-9' is in state TRANSFERRED; action 'filing' is not allowed there. Allowed now: receipt (by the "
            "addressee, public security bureau)");
}

TEST(LifecycleTest, EveryRowCitesItsLegalBasis) {
  for (const auto& t : TransitionTable()) {
    EXPECT_FALSE(t.legal_basis.empty()) << ActionName(t.action);
    EXPECT_FALSE(t.notify.empty()) << ActionName(t.action) << " must tell someone";
  }
}

}  // namespace
}  // namespace caselink
