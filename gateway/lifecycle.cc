// The first part of the criminal track (D310, M2017): transfer, receipt, and
// the PSB's filing decision. Later rows extend the same table.
#include "gateway/lifecycle.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gateway/registry.h"

namespace caselink {

using v1::Delivery;
using v1::Envelope;

const std::vector<Transition>& TransitionTable() {
  static const std::vector<Transition>* table = new std::vector<Transition>{
      {v1::CRIMINAL, v1::CASE_STATE_UNSPECIFIED, Envelope::kTransfer, v1::ENVIRONMENT_BUREAU, Relation::kNewCase,
       v1::TRANSFERRED,
       {{Relation::kAddressee, Delivery::ADDRESSEE}, {Relation::kCopied, Delivery::COPY}},
       "M2017 Art. 6; D310 Art. 8 (transfer within 24 h, letter copied to the procuratorate)"},
      {v1::CRIMINAL, v1::TRANSFERRED, Envelope::kReceipt, v1::PUBLIC_SECURITY, Relation::kAddressee, v1::RECEIVED,
       {{Relation::kOriginator, Delivery::NOTIFICATION}},
       "M2017 Art. 7 (receipt issued on acceptance)"},
      {v1::CRIMINAL, v1::RECEIVED, Envelope::kFiling, v1::PUBLIC_SECURITY, Relation::kAddressee, v1::FILED,
       {{Relation::kOriginator, Delivery::NOTIFICATION}, {Relation::kCopied, Delivery::COPY}},
       "M2017 Art. 9; D310 Art. 8 (filing decision within 3 days, notice to the EPB, copy to the procuratorate)"},
      {v1::CRIMINAL, v1::RECEIVED, Envelope::kNonFiling, v1::PUBLIC_SECURITY, Relation::kAddressee, v1::NOT_FILED,
       {{Relation::kOriginator, Delivery::NOTIFICATION}, {Relation::kCopied, Delivery::COPY}},
       "M2017 Art. 9; D310 Art. 8 (non-filing with reasons, file returned, copy to the procuratorate)"},
  };
  return *table;
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
  }
  return "unknown";
}

std::vector<Relation> RelationsOf(const v1::Case& c, absl::string_view agency_id) {
  std::vector<Relation> out;
  if (c.originator() == agency_id) out.push_back(Relation::kOriginator);
  if (c.addressee() == agency_id) out.push_back(Relation::kAddressee);
  if (std::find(c.copied().begin(), c.copied().end(), agency_id) != c.copied().end()) out.push_back(Relation::kCopied);
  return out;
}

absl::StatusOr<const Transition*> FindTransition(const v1::Case* existing, absl::string_view case_id,
                                                 v1::Track track, Envelope::ActionCase action,
                                                 const v1::Agency& actor) {
  const v1::CaseState state = existing ? existing->state() : v1::CASE_STATE_UNSPECIFIED;
  const v1::Track case_track = existing ? existing->track() : track;
  std::vector<const Transition*> in_state;
  for (const Transition& t : TransitionTable()) {
    if (t.from == state && t.track == case_track) in_state.push_back(&t);
  }
  std::vector<const Transition*> matching;
  for (const Transition* t : in_state) {
    if (t->action == action) matching.push_back(t);
  }
  if (matching.empty()) {
    if (existing == nullptr) {
      return absl::NotFoundError(absl::StrCat("case '", case_id, "' does not exist; only a ",
                                              v1::Track_Name(case_track == v1::TRACK_UNSPECIFIED ? v1::CRIMINAL : case_track),
                                              " transfer can open a case"));
    }
    std::vector<std::string> allowed;
    for (const Transition* t : in_state) {
      allowed.push_back(absl::StrCat(ActionName(t->action), " (by the ", RelationName(t->actor), ", ",
                                     AgencyKindName(t->actor_kind), ")"));
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "case '", case_id, "' is in state ", v1::CaseState_Name(state), "; action '", ActionName(action),
        "' is not allowed there. Allowed now: ", allowed.empty() ? "nothing (the case is closed here)" : absl::StrJoin(allowed, ", ")));
  }
  const std::vector<Relation> relations = existing ? RelationsOf(*existing, actor.id()) : std::vector<Relation>{Relation::kNewCase};
  for (const Transition* t : matching) {
    if (t->actor_kind == actor.kind() &&
        std::find(relations.begin(), relations.end(), t->actor) != relations.end()) {
      return t;
    }
  }
  const Transition* t = matching.front();
  std::string who = "not a party to the case";
  if (!relations.empty()) who = absl::StrCat("the ", RelationName(relations.front()));
  return absl::PermissionDeniedError(absl::StrCat(
      "action '", ActionName(action), "' on case '", case_id, "' in state ", v1::CaseState_Name(state),
      " must be taken by the ", RelationName(t->actor), " ", AgencyKindName(t->actor_kind),
      existing && t->actor == Relation::kAddressee ? absl::StrCat(" (", existing->addressee(), ")") : "",
      "; ", actor.id(), " (", AgencyKindName(actor.kind()), ") is ", who));
}

}  // namespace caselink
