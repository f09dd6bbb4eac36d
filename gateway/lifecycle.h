// The legal procedure as a table: which action may move a case from which
// state, by whom, and who must be told. The table is the single source for
// enforcement and tests.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "caselink/v1/case.pb.h"
#include "caselink/v1/config.pb.h"
#include "caselink/v1/delivery.pb.h"
#include "caselink/v1/envelope.pb.h"

namespace caselink {

// How an agency stands to a case.
enum class Relation {
  kNewCase,     // no case yet: the agency opens it
  kOriginator,  // the agency that transferred the case
  kAddressee,   // the agency currently responsible (e.g. the reviewing PSB)
  kCopied,      // copied on the case (e.g. the procuratorate of the same level)
};

struct Notify {
  Relation who;
  v1::Delivery::Reason reason;
};

struct Transition {
  v1::Track track;
  v1::CaseState from;
  v1::Envelope::ActionCase action;
  v1::AgencyKind actor_kind;
  Relation actor;
  v1::CaseState to;
  std::vector<Notify> notify;
  absl::string_view legal_basis;
};

// The whole table, in procedure order.
const std::vector<Transition>& TransitionTable();

// The snake_case name of an envelope action, e.g. "transfer".
absl::string_view ActionName(v1::Envelope::ActionCase action);
absl::string_view RelationName(Relation relation);

// Relation of `agency_id` to an existing case; empty when it is not a party.
std::vector<Relation> RelationsOf(const v1::Case& c, absl::string_view agency_id);

// Finds the transition `actor` may take with `action` on `existing` (null for a
// new case on `track`). Refusals:
//   NOT_FOUND           the case does not exist and the action does not open one;
//   FAILED_PRECONDITION the action is not allowed in the current state (the
//                       message names the state and the allowed actions);
//   PERMISSION_DENIED   the action is allowed, but not for this agency.
absl::StatusOr<const Transition*> FindTransition(const v1::Case* existing, absl::string_view case_id,
                                                 v1::Track track, v1::Envelope::ActionCase action,
                                                 const v1::Agency& actor);

}  // namespace caselink
