// The legal procedure as a table: which action may move a case from which
// state, by whom, with which documents, which deadlines it starts and stops,
// and who must be told. The table is the single source for enforcement, the
// generated docs/PROCEDURE.md and the tests.
#pragma once

#include <optional>
#include <string>
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
  kOriginator,  // the agency that opened the case (the transferring EPB)
  kAddressee,   // the agency currently responsible (e.g. the reviewing PSB)
  kCopied,      // copied on the case (e.g. the procuratorate of the same level)
  kCourt,       // the court addressed at prosecution
};

struct Notify {
  Relation who;
  v1::Delivery::Reason reason;
};

// A statutory period, by the name of the duty it measures.
struct DeadlineSpec {
  absl::string_view duty;  // e.g. "psb_filing_decision"
  Relation owed_by;        // resolved to an agency when the deadline starts
  v1::Deadline::Kind kind;
  v1::Deadline::Rule rule;
  uint32_t amount;
  absl::string_view legal_basis;
  absl::string_view description;  // what must happen, for people
};

// What must hold, beyond state and actor, for a row to apply.
enum class Condition {
  kNone,
  // The WINDOW deadline `condition_duty` is open (e.g. reconsideration may be
  // asked within 3 working days of the non-filing).
  kWindowOpen,
  // A DUTY owed by the case's addressee (the PSB) is overdue: the ground for
  // a supervision request without a reconsideration (M2017 Art. 13).
  kAddresseeOverdue,
};

// How a row changes who the case is addressed to.
enum class Routing {
  kNone,
  // The case goes to the PSB of the originator's region, copied to the PRO of
  // that region (same level; M2017 Art. 6).
  kSameLevelTransfer,
  // Opens a case on the EPB's side: originator = actor, PRO of its region copied.
  kOpenAtEnvironmentBureau,
  // The PRO opens a case for an EPB of its region (M2017 Art. 14).
  kRecommendation,
  // Detention track: addressed to the PSB of the originator's region (D2014).
  kSameLevelDetention,
  // The addressee becomes Referral.to_agency, a registered PSB.
  kReferral,
  // Case.court becomes ProsecutionDecision.court, a registered court.
  kCourt,
};

struct Transition {
  v1::Track track;
  v1::CaseState from;  // CASE_STATE_UNSPECIFIED: no case yet (the row opens one)
  v1::Envelope::ActionCase action;
  // The decision the envelope carries (see BranchOf); "" matches any.
  absl::string_view branch = {};
  v1::AgencyKind actor_kind;
  Relation actor;
  v1::CaseState to;  // equal to `from` for actions that do not move the case
  std::vector<v1::DocumentType> documents = {};  // required document types
  std::vector<absl::string_view> starts = {};    // duties whose deadlines start
  std::vector<absl::string_view> stops = {};     // duties met by this action
  std::vector<absl::string_view> cancels = {};   // duties that no longer apply
  Condition condition = Condition::kNone;
  absl::string_view condition_duty = {};  // for kWindowOpen
  // For deadline_extension: the duty whose period is extended to
  // DeadlineExtension.extended_to_days natural days from its start.
  absl::string_view extends = {};
  Routing routing = Routing::kNone;
  std::vector<Notify> notify = {};
  absl::string_view legal_basis = {};
  absl::string_view summary = {};  // one line for people
};

// The whole table, in procedure order.
const std::vector<Transition>& TransitionTable();
// Every statutory period the table refers to.
const std::vector<DeadlineSpec>& DeadlineSpecs();
// The spec of `duty`, or null.
const DeadlineSpec* FindDeadlineSpec(absl::string_view duty);

// The snake_case name of an envelope action, e.g. "transfer".
absl::string_view ActionName(v1::Envelope::ActionCase action);
absl::string_view RelationName(Relation relation);

// Every envelope action, in field order.
std::vector<v1::Envelope::ActionCase> AllActions();
// The branches rows distinguish for `action` ("" when they do not).
std::vector<absl::string_view> BranchesOf(v1::Envelope::ActionCase action);

// The decision an envelope carries, e.g. "upheld" for a reconsideration
// decision that upholds the non-filing; "" for actions without branches.
// INVALID_ARGUMENT when the decision is missing or not one the procedure knows.
absl::StatusOr<absl::string_view> BranchOf(const v1::Envelope& envelope);

// Relations of `agency_id` to an existing case; empty when it is not a party.
std::vector<Relation> RelationsOf(const v1::Case& c, absl::string_view agency_id);

// True if no row leaves `state` on `track`: the case is closed there.
bool IsTerminal(v1::Track track, v1::CaseState state);

// Finds the transition `actor` may take with `action` (carrying `branch`) on
// `existing` (null: no case yet). Refusals:
//   NOT_FOUND           the case does not exist and the action does not open one;
//   FAILED_PRECONDITION the action (or this decision) is not allowed in the
//                       current state (the message names the state and the
//                       allowed actions);
//   PERMISSION_DENIED   the action is allowed, but not for this agency.
absl::StatusOr<const Transition*> FindTransition(const v1::Case* existing, absl::string_view case_id,
                                                 v1::Envelope::ActionCase action, absl::string_view branch,
                                                 const v1::Agency& actor);

// The table as Markdown, the content of docs/PROCEDURE.md.
std::string ProcedureMarkdown();

}  // namespace caselink
