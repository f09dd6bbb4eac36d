// Deadline engine: due-time arithmetic on the holiday calendar, and the
// scheduler callback that turns a missed duty into an overdue case, alerts and
// an audit record in one durable commit.
#include "gateway/deadline_engine.h"

#include <algorithm>

#include <google/protobuf/util/time_util.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/civil_time.h"
#include "gateway/deadlines/deadline_rules.h"

namespace caselink {
namespace {

using google::protobuf::util::TimeUtil;

google::protobuf::Timestamp ToProto(absl::Time t) { return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t)); }
absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(t));
}

// Case ids never contain '/', so the first one separates the two parts.
constexpr char kKeySeparator = '/';

int DaysInMonth(absl::CivilMonth month) { return static_cast<int>((absl::CivilDay(month + 1) - 1).day()); }

// Criminal Procedure Law Art. 105 and its interpretation: a month runs to the
// same day of the next month (the last day when there is no such day, or when
// it starts on a month's last day); a last day that is not a working day moves on.
absl::StatusOr<absl::Time> MonthsDue(absl::Time start, uint32_t amount, const deadlines::HolidayCalendar& calendar) {
  const absl::TimeZone tz = deadlines::ChinaTimeZone();
  const absl::CivilDay start_day = absl::ToCivilDay(start, tz);
  const absl::CivilMonth start_month(start_day);
  const absl::CivilMonth end_month = start_month + amount;
  const bool starts_on_last_day = start_day.day() == DaysInMonth(start_month);
  const int day = starts_on_last_day ? DaysInMonth(end_month)
                                     : std::min(static_cast<int>(start_day.day()), DaysInMonth(end_month));
  absl::CivilDay last(end_month.year(), end_month.month(), day);
  while (true) {
    absl::StatusOr<bool> working = calendar.IsWorkingDay(last);
    if (!working.ok()) return working.status();
    if (*working) break;
    ++last;
  }
  return absl::FromCivil(last + 1, tz);
}

}  // namespace

std::string DescribePeriod(v1::Deadline::Rule rule, uint32_t amount) {
  switch (rule) {
    case v1::Deadline::HOURS: return absl::StrCat(amount, amount == 1 ? " hour" : " hours");
    case v1::Deadline::NATURAL_DAYS: return absl::StrCat(amount, amount == 1 ? " day" : " days");
    case v1::Deadline::WORKING_DAYS: return absl::StrCat(amount, amount == 1 ? " working day" : " working days");
    case v1::Deadline::MONTHS: return absl::StrCat(amount, amount == 1 ? " month" : " months");
    default: return absl::StrCat(amount, " units of an unknown rule");
  }
}

std::string FormatChinaTime(absl::Time t) {
  const absl::TimeZone tz = deadlines::ChinaTimeZone();
  const absl::CivilSecond cs = absl::ToCivilSecond(t, tz);
  // Deadlines end at midnight; "24:00 of the last day" is how the law reads.
  if (cs.hour() == 0 && cs.minute() == 0 && cs.second() == 0) {
    return absl::StrCat(absl::FormatCivilTime(absl::CivilDay(cs) - 1), " 24:00 CST");
  }
  return absl::FormatTime("%Y-%m-%d %H:%M CST", t, tz);
}

absl::StatusOr<absl::Time> ComputeDeadlineDue(v1::Deadline::Rule rule, uint32_t amount, absl::Time start,
                                              const deadlines::HolidayCalendar* calendar) {
  if (amount == 0 || amount > static_cast<uint32_t>(deadlines::kMaxDeadlineAmount)) {
    return absl::InvalidArgumentError(absl::StrCat("a period of ", amount, " is not allowed"));
  }
  if (rule == v1::Deadline::HOURS) return start + absl::Hours(amount);
  if (calendar == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("a period of ", DescribePeriod(rule, amount),
                     " needs the holiday calendar, and none is configured (GatewayConfig.holiday_calendar_file)"));
  }
  absl::StatusOr<absl::Time> due;
  switch (rule) {
    case v1::Deadline::NATURAL_DAYS:
      due = deadlines::ComputeDue(start, deadlines::DeadlineRule::kNaturalDays, static_cast<int>(amount), *calendar);
      break;
    case v1::Deadline::WORKING_DAYS:
      due = deadlines::ComputeDue(start, deadlines::DeadlineRule::kWorkingDays, static_cast<int>(amount), *calendar);
      break;
    case v1::Deadline::MONTHS:
      due = MonthsDue(start, amount, *calendar);
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("unknown deadline rule ", static_cast<int>(rule)));
  }
  if (!due.ok()) {
    // Outside the calendar's years the answer would be a guess; the action waits for the data.
    return absl::FailedPreconditionError(absl::StrCat("a period of ", DescribePeriod(rule, amount), " from ",
                                                      FormatChinaTime(start), " cannot be computed: ",
                                                      due.status().message()));
  }
  return due;
}

DeadlineEngine::DeadlineEngine(DeadlineEngineDeps deps, Options options)
    : deps_(std::move(deps)), run_thread_(options.run_thread) {
  deadlines::DeadlineScheduler::Options scheduler_options;
  scheduler_options.run_thread = options.run_thread;
  scheduler_options.max_wait = options.max_wait;
  scheduler_ = std::make_unique<deadlines::DeadlineScheduler>(
      deps_.clock, [this](const std::string& key) { OnDue(key); }, scheduler_options);
}

DeadlineEngine::~DeadlineEngine() { Stop(); }

absl::Status DeadlineEngine::LoadRunning() {
  absl::StatusOr<std::vector<RunningDeadline>> running = deps_.store.ListRunningDeadlines();
  if (!running.ok()) return running.status();
  for (const RunningDeadline& d : *running) {
    const std::string key = absl::StrCat(d.case_id, std::string(1, kKeySeparator), d.deadline_id);
    // A restart without a Stop in between would schedule twice; keep the first.
    absl::Status added = scheduler_->Add(key, absl::FromUnixMicros(d.due_micros));
    if (!added.ok() && !absl::IsAlreadyExists(added)) return added;
  }
  return absl::OkStatus();
}

void DeadlineEngine::Schedule(absl::string_view case_id, const v1::Deadline& deadline) {
  const std::string key = absl::StrCat(case_id, std::string(1, kKeySeparator), deadline.deadline_id());
  scheduler_->Cancel(key);
  // Fails only after Stop, when the store keeps the deadline for the next start.
  scheduler_->Add(key, FromProto(deadline.due_at())).IgnoreError();
}

void DeadlineEngine::Unschedule(absl::string_view case_id, absl::string_view deadline_id) {
  scheduler_->Cancel(absl::StrCat(case_id, std::string(1, kKeySeparator), deadline_id));
}

void DeadlineEngine::CheckNow() {
  if (run_thread_) {
    scheduler_->Poke();
  } else {
    scheduler_->RunDue();
  }
}

void DeadlineEngine::Stop() { scheduler_->Stop(); }

int DeadlineEngine::pending() const { return scheduler_->pending(); }

void DeadlineEngine::OnDue(const std::string& key) {
  const size_t sep = key.find(kKeySeparator);
  if (sep == std::string::npos) return;
  const std::string case_id = key.substr(0, sep);
  const std::string deadline_id = key.substr(sep + 1);
  std::vector<std::string> recipients;
  absl::Status written = deps_.store.WriteAndWait([&](StoreTransaction& txn) {
    recipients.clear();
    return MarkDue(txn, case_id, deadline_id, recipients);
  });
  if (!written.ok()) {
    // The deadline is still RUNNING in the store: try again shortly (and in
    // any case at the next start). Fails harmlessly once stopped.
    scheduler_->Add(key, deps_.clock.Now() + absl::Seconds(30)).IgnoreError();
    return;
  }
  for (const std::string& agency : recipients) deps_.hub.Notify(agency);
}

absl::Status DeadlineEngine::MarkDue(StoreTransaction& txn, const std::string& case_id,
                                     const std::string& deadline_id, std::vector<std::string>& recipients) {
  absl::StatusOr<std::optional<v1::Case>> loaded = txn.GetCase(case_id);
  if (!loaded.ok()) return loaded.status();
  if (!loaded->has_value()) return absl::OkStatus();
  v1::Case c = **loaded;
  v1::Deadline* d = nullptr;
  for (v1::Deadline& candidate : *c.mutable_deadlines()) {
    if (candidate.deadline_id() == deadline_id) d = &candidate;
  }
  const absl::Time now = deps_.clock.Now();
  // Met, cancelled or moved since it was scheduled: the store is the truth.
  if (d == nullptr || d->status() != v1::Deadline::RUNNING || FromProto(d->due_at()) > now) return absl::OkStatus();

  const bool duty = d->kind() != v1::Deadline::WINDOW;
  const std::string what = absl::StrCat(d->duty(), " (", DescribePeriod(d->rule(), d->amount()), ", ",
                                        d->legal_basis(), ")");
  std::string reason;
  if (duty) {
    d->set_status(v1::Deadline::OVERDUE);
    *d->mutable_overdue_at() = ToProto(now);
    // The originator and the procuratorate that supervises the region (and any
    // procuratorate copied on the case) are told.
    auto add = [&](const std::string& agency) {
      if (!agency.empty() && std::find(recipients.begin(), recipients.end(), agency) == recipients.end()) {
        recipients.push_back(agency);
      }
    };
    add(c.originator());
    if (const AgencyEntry* pro = deps_.registry.FindInRegion(c.region(), v1::PROCURATORATE); pro != nullptr) {
      add(pro->agency.id());
    }
    for (const std::string& id : c.copied()) {
      const AgencyEntry* entry = deps_.registry.Find(id);
      if (entry != nullptr && entry->agency.kind() == v1::PROCURATORATE) add(id);
    }
    reason = absl::StrCat(what, " owed by ", d->owed_by(), " was due at ", FormatChinaTime(FromProto(d->due_at())),
                          " and is overdue; alerted ", absl::StrJoin(recipients, ", "));
  } else {
    d->set_status(v1::Deadline::EXPIRED);
    *d->mutable_closed_at() = ToProto(now);
    reason = absl::StrCat(what, " for ", d->owed_by(), " closed at ", FormatChinaTime(FromProto(d->due_at())),
                          " without being used");
  }
  const v1::Deadline marked = *d;
  const std::string action = duty ? "deadline_overdue" : "deadline_expired";
  c.set_version(c.version() + 1);
  *c.mutable_updated_at() = ToProto(now);

  v1::AuditRecord record;
  record.set_action(duty ? "deadline.overdue" : "deadline.expired");
  record.set_case_id(case_id);
  record.set_outcome(v1::AuditRecord::SYSTEM);
  record.set_reason(reason);
  absl::StatusOr<uint64_t> audit_index = deps_.audit(txn, std::move(record));
  if (!audit_index.ok()) return audit_index.status();

  v1::TimelineEvent event;
  event.set_case_id(case_id);
  event.set_version(c.version());
  *event.mutable_at() = ToProto(now);
  event.set_action(action);
  event.set_from_state(c.state());
  event.set_to_state(c.state());
  event.set_audit_index(*audit_index);
  event.set_remarks(reason);
  if (absl::Status s = txn.UpdateCase(c, &**loaded); !s.ok()) return s;
  if (absl::Status s = txn.AppendTimelineEvent(event); !s.ok()) return s;
  CaseEvent stat{case_id, c.region(), c.track(), action, c.state(), c.state(), marked.duty(), absl::ToUnixMicros(now)};
  if (absl::Status s = txn.AppendCaseEvent(stat); !s.ok()) return s;

  for (const std::string& recipient : recipients) {
    v1::Delivery alert;
    alert.set_recipient_agency(recipient);
    alert.set_reason(v1::Delivery::ALERT);
    alert.set_case_id(case_id);
    alert.set_action(action);
    alert.set_case_state(c.state());
    *alert.mutable_committed_at() = ToProto(now);
    *alert.mutable_deadline() = marked;
    if (absl::StatusOr<uint64_t> seq = txn.AddDelivery(alert); !seq.ok()) return seq.status();
  }
  return absl::OkStatus();
}

}  // namespace caselink
