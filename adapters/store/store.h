// The durable store behind CaseLink: cases, timelines, envelope ids, the audit
// log and the delivery outbox. One writer applies work in group commits; reads
// use their own connections. No storage-engine type appears in this interface.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "caselink/v1/audit.pb.h"
#include "caselink/v1/case.pb.h"
#include "caselink/v1/delivery.pb.h"

namespace caselink {

// An accepted envelope, kept so a retry gets the original receipt.
struct StoredEnvelope {
  std::string envelope_id;
  std::string envelope_digest;  // raw digest bytes of SignedEnvelope.envelope
  std::string sender_agency;
  std::string case_id;
  std::string signed_envelope;  // serialized SignedEnvelope
  std::string signed_receipt;   // serialized SignedSubmissionReceipt
};

struct AuditHead {
  uint64_t size = 0;            // number of entries; the next index
  std::string last_entry_hash;  // empty when size == 0
};

struct CaseFilter {
  v1::CaseState state = v1::CASE_STATE_UNSPECIFIED;  // unspecified: any
  std::string agency;         // party to the case: originator, addressee or copied
  std::string region_prefix;  // prefix of Case.region
  v1::Track track = v1::TRACK_UNSPECIFIED;
  int64_t updated_from_micros = 0;  // 0: unbounded
  int64_t updated_to_micros = 0;    // 0: unbounded
  std::string after_case_id;        // paging: cases ordered by id, strictly after this
  uint32_t limit = 100;
  // Only cases with a deadline in status OVERDUE (a duty missed and not yet met).
  bool overdue_only = false;
};

// One accepted action, or deadline event, of a case: the rows statistics are
// counted from. Written in the same commit as the change it records.
struct CaseEvent {
  std::string case_id;
  std::string region;  // the case's region code
  v1::Track track = v1::TRACK_UNSPECIFIED;
  // The envelope action ("transfer", "filing", ...) or a gateway event
  // ("deadline_overdue", "deadline_expired").
  std::string action;
  v1::CaseState from_state = v1::CASE_STATE_UNSPECIFIED;
  v1::CaseState to_state = v1::CASE_STATE_UNSPECIFIED;
  // The decision carried ("upheld", "charge", ...) or, for a deadline event, the duty.
  std::string detail;
  int64_t time_micros = 0;
};

// Events of cases whose region starts with `region_prefix`, in [from, to).
struct EventQuery {
  std::string region_prefix;
  int64_t from_micros = 0;  // 0: unbounded
  int64_t to_micros = 0;    // 0: unbounded
};

struct EventCount {
  std::string action;
  v1::CaseState to_state = v1::CASE_STATE_UNSPECIFIED;
  std::string detail;
  uint64_t count = 0;
};

// For each event matched by `events` whose action is one of `end_actions`
// (and, if set, whose from_state is `end_from_state`): the time since the
// same case's first `start_action` event.
struct IntervalQuery {
  EventQuery events;
  std::string start_action;
  std::vector<std::string> end_actions;
  v1::CaseState end_from_state = v1::CASE_STATE_UNSPECIFIED;  // unspecified: any
};

// A deadline in status RUNNING, as the deadline engine schedules it.
struct RunningDeadline {
  std::string case_id;
  std::string deadline_id;
  int64_t due_micros = 0;
};

// Which audit records a query returns. Visibility limits are applied by the
// store so a page is never short because of records the caller may not see.
struct AuditFilter {
  std::string case_id;
  std::string actor;  // exact actor agency
  std::string action;
  int outcome = 0;  // v1::AuditRecord::Outcome; 0: any
  int64_t from_micros = 0;  // inclusive; 0: unbounded
  int64_t to_micros = 0;    // exclusive; 0: unbounded
  // Records by this agency, or about cases it is party to. Empty: no limit.
  std::string visible_to_agency;
  // Records by agencies of this region prefix, about cases of it, or by the
  // gateway itself. Empty: no limit.
  std::string visible_region_prefix;
  uint64_t from_index = 0;  // paging: inclusive
  uint32_t limit = 100;
};

// Operations available to work running on the writer thread. Every write is
// part of the current group transaction and becomes durable with it.
class StoreTransaction {
 public:
  virtual ~StoreTransaction() = default;

  virtual absl::StatusOr<std::optional<v1::Case>> GetCase(std::string_view case_id) = 0;
  // Inserts or replaces the case row (and the index of its deadlines).
  virtual absl::Status PutCase(const v1::Case& c) = 0;
  // The same when the caller holds what is stored (GetCase in this
  // transaction; null when there is no row yet): only the parties and
  // deadlines that changed are rewritten.
  virtual absl::Status UpdateCase(const v1::Case& c, const v1::Case* stored) { return PutCase(c); }
  virtual absl::Status AppendTimelineEvent(const v1::TimelineEvent& event) = 0;

  virtual absl::StatusOr<std::optional<StoredEnvelope>> GetEnvelope(std::string_view envelope_id) = 0;
  // ALREADY_EXISTS if the id is taken.
  virtual absl::Status PutEnvelope(const StoredEnvelope& envelope) = 0;
  // Replaces the signed receipt of an envelope stored earlier (NOT_FOUND if
  // there is none): for receipts signed after their envelope row was written.
  virtual absl::Status SetEnvelopeReceipt(std::string_view envelope_id, std::string_view signed_receipt) = 0;

  // Work finished at the end of the group: `step` runs after every work of
  // the current group has run, in the order registered, just before the
  // group commits, with no savepoint of its own; a step that fails fails the
  // whole group. The steps of a work that fails are dropped. So the writer
  // can hand computation that needs no store state (a receipt signature) to
  // other threads and collect it before the commit. The default runs `step`
  // at once.
  using Step = std::function<absl::Status(StoreTransaction&)>;
  virtual absl::Status BeforeCommit(Step step) { return step(*this); }

  virtual absl::StatusOr<AuditHead> GetAuditHead() = 0;
  // `entry.index()` must equal the current head size (FAILED_PRECONDITION
  // otherwise). The record is also indexed for QueryAudit.
  virtual absl::Status AppendAuditEntry(const v1::AuditEntry& entry) = 0;
  // The same for a caller that holds the record `entry.record()` was
  // serialized from: the index takes its fields from `record` instead of
  // parsing the bytes again.
  virtual absl::Status AppendAuditEntry(const v1::AuditEntry& entry, const v1::AuditRecord& record) = 0;
  // Keeps a signed tree head (serialized SignedTreeHead) for `tree_size`;
  // ALREADY_EXISTS if one is stored for that size.
  virtual absl::Status PutTreeHead(uint64_t tree_size, int64_t time_micros, std::string_view signed_tree_head) = 0;

  // Adds a pending delivery; assigns and returns its sequence (monotonic over
  // the whole store, so per recipient too). `delivery.sequence()` is ignored.
  virtual absl::StatusOr<uint64_t> AddDelivery(const v1::Delivery& delivery) = 0;
  // Adds a pending delivery of the envelope stored under
  // `delivery.envelope_id()` (PutEnvelope, earlier in the same transaction),
  // given without envelope and receipt: the store keeps the envelope once and
  // readers get the delivery whole. FAILED_PRECONDITION if no such envelope
  // is stored.
  virtual absl::StatusOr<uint64_t> AddEnvelopeDelivery(const v1::Delivery& delivery) = 0;
  // Marks the agency's deliveries with sequence <= `through` acknowledged;
  // returns how many were newly acknowledged.
  virtual absl::StatusOr<uint64_t> AcknowledgeDeliveries(std::string_view agency, uint64_t through) = 0;

  // Hashes of the audit Merkle tree's perfect subtrees (level L, index i covers
  // leaves [i * 2^L, (i + 1) * 2^L); see security/merkle/merkle_log.h). A node
  // never changes once written: ALREADY_EXISTS if (level, index) is taken.
  // A store holds trees of up to 2^62 leaves; INVALID_ARGUMENT beyond them.
  virtual absl::Status PutMerkleNode(uint32_t level, uint64_t index, std::string_view hash) = 0;
  // NOT_FOUND if the node is not stored.
  virtual absl::StatusOr<std::string> GetMerkleNode(uint32_t level, uint64_t index) = 0;

  // Marks these deliveries published on the bus (Kafka acknowledged them);
  // independent of the agency's acknowledgement. Unknown sequences are
  // ignored. (Not pure so that older test doubles keep compiling.)
  virtual absl::Status MarkDeliveriesPublished(const std::vector<uint64_t>& sequences) {
    return absl::UnimplementedError("this store does not track publication");
  }

  // Records an event for statistics. (Not pure so that test doubles written
  // before it keep compiling; they report UNIMPLEMENTED.)
  virtual absl::Status AppendCaseEvent(const CaseEvent& event) {
    return absl::UnimplementedError("this store does not keep case events");
  }
};

class Store {
 public:
  // Runs on the writer thread as part of the group transaction. An error
  // return rolls back exactly this work's writes. A work may run more than
  // once: when another work of its group fails after writing, the whole group
  // is rolled back and run again from its start (each work in a savepoint
  // then). So a work takes what it does from the transaction and what it
  // captured, and sets its outputs afresh each time it runs; an effect outside
  // the store belongs in a BeforeCommit step (run once per commit attempt) or
  // in Done.
  using Work = std::function<absl::Status(StoreTransaction&)>;
  // Runs after the group is durable, in commit order, on a thread that is not
  // the writer (so a Done must not wait for another write): the work's own
  // status, or UNAVAILABLE if the group could not be committed (nothing of it
  // was written).
  using Done = std::function<void(absl::Status)>;

  virtual ~Store() = default;

  // Queues work for the writer. Never blocks on disk. After Shutdown, `done`
  // is called at once with UNAVAILABLE.
  virtual void Write(Work work, Done done) = 0;

  // Blocking form of Write, for tools, tests and start-up.
  absl::Status WriteAndWait(Work work);

  virtual absl::StatusOr<std::optional<v1::Case>> ReadCase(std::string_view case_id) = 0;
  // Timeline of a case in version order.
  virtual absl::StatusOr<std::vector<v1::TimelineEvent>> ReadTimeline(std::string_view case_id) = 0;
  virtual absl::StatusOr<std::vector<v1::Case>> ListCases(const CaseFilter& filter) = 0;
  // Whether an accepted envelope of the case referred to the document (by the
  // lowercase hex of its digest): its timeline event lists the documents.
  virtual absl::StatusOr<bool> CaseHasDocument(std::string_view case_id, std::string_view digest_hex) = 0;
  virtual absl::StatusOr<std::optional<StoredEnvelope>> ReadEnvelope(std::string_view envelope_id) = 0;
  // Unacknowledged deliveries of `agency` with sequence > `after_sequence`, in sequence order.
  virtual absl::StatusOr<std::vector<v1::Delivery>> ReadPendingDeliveries(std::string_view agency,
                                                                         uint64_t after_sequence,
                                                                         uint32_t limit) = 0;
  // Highest acknowledged sequence of `agency` (0 if none).
  virtual absl::StatusOr<uint64_t> ReadAcknowledgedThrough(std::string_view agency) = 0;
  virtual absl::StatusOr<std::vector<v1::AuditEntry>> ReadAuditEntries(uint64_t from_index, uint32_t limit) = 0;
  virtual absl::StatusOr<uint64_t> ReadAuditSize() = 0;
  virtual absl::StatusOr<std::vector<v1::AuditEntry>> QueryAudit(const AuditFilter& filter) = 0;
  // The stored signed tree head for a size, or nullopt.
  virtual absl::StatusOr<std::optional<std::string>> ReadTreeHead(uint64_t tree_size) = 0;
  // The newest stored signed tree head (largest size), or nullopt.
  virtual absl::StatusOr<std::optional<std::string>> ReadLatestTreeHead() = 0;
  // A committed Merkle node; NOT_FOUND if absent. Nodes are immutable, so the
  // reads behind one proof need no common snapshot.
  virtual absl::StatusOr<std::string> ReadMerkleNode(uint32_t level, uint64_t index) = 0;

  // Deliveries of every recipient not yet published on the bus, with
  // sequence > `after_sequence`, in sequence order: the relay's backlog.
  virtual absl::StatusOr<std::vector<v1::Delivery>> ReadUnpublishedDeliveries(uint64_t after_sequence,
                                                                             uint32_t limit) {
    return absl::UnimplementedError("this store does not track publication");
  }
  // How many deliveries are not yet published (the outbox backlog).
  virtual absl::StatusOr<uint64_t> CountUnpublishedDeliveries() {
    return absl::UnimplementedError("this store does not track publication");
  }

  // Deadlines in status RUNNING over all cases, earliest due first. (The
  // methods below are not pure so that older test doubles keep compiling.)
  virtual absl::StatusOr<std::vector<RunningDeadline>> ListRunningDeadlines() {
    return absl::UnimplementedError("this store does not index deadlines");
  }
  // Counts of the events matched, grouped by (action, to_state, detail).
  virtual absl::StatusOr<std::vector<EventCount>> CountCaseEvents(const EventQuery& query) {
    return absl::UnimplementedError("this store does not keep case events");
  }
  // Durations in microseconds, in no particular order; see IntervalQuery.
  virtual absl::StatusOr<std::vector<int64_t>> ReadEventIntervals(const IntervalQuery& query) {
    return absl::UnimplementedError("this store does not keep case events");
  }

  // Stops accepting work, commits what is queued, and joins the writer.
  virtual void Shutdown() = 0;
};

// Runs `flush` once every Done of the group being answered on this thread has
// been called, or at once when this thread is not calling a group's Dones. A
// Done that answers a caller over a stream can so gather the answers a group
// has for that stream into one message instead of sending the first at once
// and the rest after it. The flushes run in the order they were deferred.
void AfterGroupDone(std::function<void()> flush);

// For store implementations: opened around the calls of one group's Dones;
// runs the flushes they deferred when it closes.
class GroupDoneScope {
 public:
  GroupDoneScope();
  GroupDoneScope(const GroupDoneScope&) = delete;
  GroupDoneScope& operator=(const GroupDoneScope&) = delete;
  ~GroupDoneScope();

 private:
  std::vector<std::function<void()>> flushes_;
  std::vector<std::function<void()>>* outer_;
};

struct SqliteStoreOptions {
  // Directory holding caselink.db (created if missing).
  std::string data_dir;
  // Most queued works committed by one fsync.
  uint32_t max_batch = 256;
  // true: synchronous=FULL (durable at commit). false: NORMAL, for benchmarks only.
  bool durable = true;
  // Read connections kept for concurrent readers.
  uint32_t read_connections = 4;
  // Once the write-ahead log holds this many pages, a thread of the store
  // copies it back into the database, and the writer only the pages its own
  // commits added meanwhile. 0: the writer copies all of it inside a commit,
  // as SQLite does by default (at 1,000 pages).
  uint32_t checkpoint_pages = 1000;
  // The nice value the writer thread asks for when it starts. The writer is
  // the one serial stage: when every CPU is busy, each moment it waits for one
  // holds up its whole group, while the parallel stages only queue more work
  // for it. Going below the process's own value needs CAP_SYS_NICE or an
  // RLIMIT_NICE that allows it; without, the writer keeps the process's value
  // (WriterNice() says which). Never raised above the process's value.
  int writer_nice = -10;
  // The index of the deliveries not yet published to a bus, which the Kafka
  // relay reads its outbox by. It costs a write per delivery stored and per
  // delivery published, and without a bus nothing reads it and every delivery
  // stays in it. A gateway with a bus keeps it (building it once, from a scan
  // of the deliveries, if it was dropped); one without drops it. Tools that
  // open a gateway's file leave it as they find it. A new file has it.
  enum class OutboxIndex { kAsFound, kKeep, kDrop };
  OutboxIndex outbox_index = OutboxIndex::kAsFound;
};

absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const SqliteStoreOptions& options);

}  // namespace caselink
