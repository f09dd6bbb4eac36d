// SQLite implementation of the CaseLink store: schema, prepared statements, the
// group-committing writer thread and the pool of read-only connections.
#include "adapters/store/sqlite_store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <filesystem>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "adapters/store/coalescing_vfs.h"
#include "adapters/store/wal_checkpointer.h"

namespace caselink {
namespace sqlite_internal {
namespace {

constexpr int kSchemaVersion = 9;
// Readers never block the WAL writer, and there is one writer; a lock wait
// only happens against another process (a tool) on the same file.
constexpr int kBusyTimeoutMs = 10000;

// Version 1 of the schema. Protos are kept whole in `proto` columns; the other
// columns are copies of the fields that queries filter or order on.
constexpr const char kSchemaV1[] = R"sql(
CREATE TABLE cases (
  case_id        TEXT PRIMARY KEY NOT NULL,
  state          INTEGER NOT NULL,
  region         TEXT NOT NULL,
  originator     TEXT NOT NULL,
  addressee      TEXT NOT NULL,
  track          INTEGER NOT NULL,
  updated_micros INTEGER NOT NULL,
  proto          BLOB NOT NULL
);
-- ListCases pages by case_id; each index ends in case_id (or serves a range)
-- so a filtered page is read in order without sorting the whole match.
CREATE INDEX cases_by_state ON cases(state, case_id);
CREATE INDEX cases_by_region ON cases(region, case_id);
CREATE INDEX cases_by_updated ON cases(updated_micros);

-- Every agency party to a case (originator, addressee, copied), for the
-- ListCases agency filter. Rewritten by each PutCase.
CREATE TABLE case_parties (
  case_id TEXT NOT NULL,
  agency  TEXT NOT NULL,
  PRIMARY KEY (case_id, agency)
) WITHOUT ROWID;
CREATE INDEX case_parties_by_agency ON case_parties(agency, case_id);

CREATE TABLE timeline (
  case_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  proto   BLOB NOT NULL,
  PRIMARY KEY (case_id, version)
);

-- Dropped in version 9: the timeline lists each envelope's documents.
CREATE TABLE case_documents (
  case_id    TEXT NOT NULL,
  digest_hex TEXT NOT NULL,
  PRIMARY KEY (case_id, digest_hex)
) WITHOUT ROWID;

CREATE TABLE envelopes (
  envelope_id     TEXT PRIMARY KEY NOT NULL,
  digest          BLOB NOT NULL,
  sender          TEXT NOT NULL,
  case_id         TEXT NOT NULL,
  signed_envelope BLOB NOT NULL,
  signed_receipt  BLOB NOT NULL
);

-- idx is the rowid, so the head and ranges are B-tree seeks.
CREATE TABLE audit (
  idx        INTEGER PRIMARY KEY,
  record     BLOB NOT NULL,
  entry_hash BLOB NOT NULL
);

-- AUTOINCREMENT so a sequence is never reused, even after the newest rows are
-- deleted: recipients acknowledge by sequence. (Version 9 keeps that promise
-- without it.)
CREATE TABLE deliveries (
  seq    INTEGER PRIMARY KEY AUTOINCREMENT,
  agency TEXT NOT NULL,
  acked  INTEGER NOT NULL DEFAULT 0,
  proto  BLOB NOT NULL
);
CREATE INDEX deliveries_by_agency ON deliveries(agency, acked, seq);
)sql";

// Version 3 indexes audit records for compliance queries and keeps the signed
// tree heads. The audit table itself stays the canonical log.
constexpr const char kSchemaV3[] = R"sql(
CREATE TABLE IF NOT EXISTS audit_index (
  idx         INTEGER PRIMARY KEY,
  case_id     TEXT NOT NULL,
  actor       TEXT NOT NULL,
  action      TEXT NOT NULL,
  outcome     INTEGER NOT NULL,
  time_micros INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_case ON audit_index(case_id, idx);
CREATE INDEX IF NOT EXISTS audit_by_actor ON audit_index(actor, idx);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit_index(time_micros);
CREATE TABLE IF NOT EXISTS tree_heads (
  tree_size   INTEGER PRIMARY KEY,
  time_micros INTEGER NOT NULL,
  signed      BLOB NOT NULL
);
)sql";

// Version 4 indexes the deadlines held in each case proto (so the deadline
// engine reloads the running ones and ListCases finds overdue cases) and keeps
// one row per accepted action or deadline event for statistics by region and
// period. Both are filled from the cases and timelines on upgrade.
constexpr const char kSchemaV4[] = R"sql(
CREATE TABLE IF NOT EXISTS case_deadlines (
  case_id     TEXT NOT NULL,
  deadline_id TEXT NOT NULL,
  duty        TEXT NOT NULL,
  owed_by     TEXT NOT NULL,
  status      INTEGER NOT NULL,
  due_micros  INTEGER NOT NULL,
  PRIMARY KEY (case_id, deadline_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS case_deadlines_by_status ON case_deadlines(status, due_micros);
CREATE TABLE IF NOT EXISTS case_events (
  seq         INTEGER PRIMARY KEY,
  case_id     TEXT NOT NULL,
  region      TEXT NOT NULL,
  track       INTEGER NOT NULL,
  action      TEXT NOT NULL,
  from_state  INTEGER NOT NULL,
  to_state    INTEGER NOT NULL,
  detail      TEXT NOT NULL,
  time_micros INTEGER NOT NULL
);
-- Statistics read a region prefix (a range of region codes) over a period.
CREATE INDEX IF NOT EXISTS case_events_by_region ON case_events(region, time_micros);
CREATE INDEX IF NOT EXISTS case_events_by_case ON case_events(case_id, action, time_micros);
)sql";

// Version 5 adds the bus relay's mark, separate from the agency's
// acknowledgement: a delivery is published once Kafka acknowledged it. Rows of
// an upgraded file start unpublished, so enabling Kafka later relays the whole
// outbox. The partial index keeps the relay's scan to the backlog (a store
// opened for a gateway without a bus drops it: ApplyOutboxIndex).
constexpr const char kSchemaV5Column[] =
    "ALTER TABLE deliveries ADD COLUMN published INTEGER NOT NULL DEFAULT 0";
constexpr const char kSchemaV5[] = R"sql(
CREATE INDEX IF NOT EXISTS deliveries_unpublished ON deliveries(seq) WHERE published = 0;
)sql";

// Version 6 lets a delivery refer to the stored envelope instead of carrying
// a copy: a transfer to two agencies stored its 1 KiB signed envelope and the
// signed receipt three times. Rows with envelope_ref set hold the delivery
// without envelope and receipt; reads join them back from `envelopes`. Older
// rows (NULL) carry their own copies and are read as they are.
constexpr const char kSchemaV6Column[] = "ALTER TABLE deliveries ADD COLUMN envelope_ref TEXT";

// Version 7 keeps the agency filter's rows in one B-tree, ordered by agency:
// every read of them asks by agency, and the writer knows a case's parties
// before and after a change, so the second order (by case) cost an index
// write per party of every new case for nothing. Rebuilt under the old name.
constexpr const char kSchemaV7[] = R"sql(
CREATE TABLE case_parties_by_agency_v7 (
  agency  TEXT NOT NULL,
  case_id TEXT NOT NULL,
  PRIMARY KEY (agency, case_id)
) WITHOUT ROWID;
INSERT INTO case_parties_by_agency_v7(agency, case_id) SELECT agency, case_id FROM case_parties;
DROP TABLE case_parties;
ALTER TABLE case_parties_by_agency_v7 RENAME TO case_parties;
)sql";

// Version 8 keys the audit Merkle tree's nodes (hashes of its perfect
// subtrees) by their position in post-order (see MerklePosition), the order an
// append creates them in: a commit's new nodes land together at the end of one
// B-tree. Version 2's table `merkle_nodes`, keyed (level, idx), put them on
// one leaf per level; ApplySchemaV8 moves its rows over.
constexpr const char kSchemaV8[] = R"sql(
CREATE TABLE IF NOT EXISTS merkle_tree (
  pos  INTEGER PRIMARY KEY,
  hash BLOB NOT NULL
);
)sql";

// Version 9 rebuilds `deliveries` without AUTOINCREMENT, which rewrote its
// sqlite_sequence row after every insert: a B-tree write per delivery and a
// page of every commit. The store never deletes a delivery, so one past the
// highest stored sequence is a number never handed out. A file whose
// sqlite_sequence had gone past its highest row (rows deleted by hand) keeps
// that mark in delivery_sequence_floor. See ApplySchemaV9.
//
// It also drops `case_documents`, rows of (case, document digest) written for
// each document of each accepted envelope: the envelope's timeline event has
// listed the same documents since version 1, and the download check reads
// them there (CaseHasDocument), a few rows per case, instead of three index
// writes per transfer.
constexpr const char kSchemaV9[] = R"sql(
CREATE TABLE deliveries_v9 (
  seq          INTEGER PRIMARY KEY,
  agency       TEXT NOT NULL,
  acked        INTEGER NOT NULL DEFAULT 0,
  proto        BLOB NOT NULL,
  published    INTEGER NOT NULL DEFAULT 0,
  envelope_ref TEXT
);
INSERT INTO deliveries_v9(seq, agency, acked, proto, published, envelope_ref)
  SELECT seq, agency, acked, proto, published, envelope_ref FROM deliveries ORDER BY seq;
CREATE TABLE IF NOT EXISTS delivery_sequence_floor (seq INTEGER NOT NULL);
INSERT INTO delivery_sequence_floor(seq)
  SELECT seq FROM sqlite_sequence
  WHERE name = 'deliveries' AND seq > (SELECT coalesce(max(seq), 0) FROM deliveries);
DROP TABLE deliveries;
ALTER TABLE deliveries_v9 RENAME TO deliveries;
CREATE INDEX deliveries_by_agency ON deliveries(agency, acked, seq);
DROP TABLE IF EXISTS case_documents;
)sql";

// The largest tree whose node positions fit SQLite's signed 64-bit integers:
// 2^62 leaves.
constexpr int kMaxMerkleLevel = 62;

// Where node (level, index) comes in the post-order walk of the tree (left
// subtree, right subtree, then the node), counted from 0. The nodes before it
// are the complete subtrees left of its first leaf `start`, one of 2^(k+1) - 1
// nodes per set bit k of start (2 * start - popcount(start) in all), and its
// own subtree below it (2^(level+1) - 2). Empty for a node outside the largest
// tree, which no store can hold.
std::optional<int64_t> MerklePosition(uint32_t level, uint64_t index) {
  if (level > static_cast<uint32_t>(kMaxMerkleLevel) || index >= (uint64_t{1} << (kMaxMerkleLevel - level))) {
    return std::nullopt;
  }
  const uint64_t start = index << level;
  return static_cast<int64_t>(2 * start - static_cast<uint64_t>(std::popcount(start)) +
                              (uint64_t{2} << level) - 2);
}

// Transaction control of the writer.
constexpr const char kBegin[] = "BEGIN IMMEDIATE";
constexpr const char kCommit[] = "COMMIT";
constexpr const char kRollback[] = "ROLLBACK";
constexpr const char kSavepoint[] = "SAVEPOINT work";
constexpr const char kRelease[] = "RELEASE work";
constexpr const char kRollbackTo[] = "ROLLBACK TO work";

constexpr const char kSelectCase[] = "SELECT proto FROM cases WHERE case_id = ?1";
constexpr const char kUpsertCase[] =
    "INSERT INTO cases(case_id, state, region, originator, addressee, track, updated_micros, "
    "proto) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
    "ON CONFLICT(case_id) DO UPDATE SET state = excluded.state, region = excluded.region, "
    "originator = excluded.originator, addressee = excluded.addressee, track = excluded.track, "
    "updated_micros = excluded.updated_micros, proto = excluded.proto";
constexpr const char kDeleteParty[] = "DELETE FROM case_parties WHERE agency = ?1 AND case_id = ?2";
constexpr const char kInsertParty[] =
    "INSERT OR IGNORE INTO case_parties(agency, case_id) VALUES(?1, ?2)";
constexpr const char kDeleteDeadlines[] = "DELETE FROM case_deadlines WHERE case_id = ?1";
constexpr const char kDeleteDeadline[] =
    "DELETE FROM case_deadlines WHERE case_id = ?1 AND deadline_id = ?2";
constexpr const char kInsertDeadline[] =
    "INSERT OR REPLACE INTO case_deadlines(case_id, deadline_id, duty, owed_by, status, due_micros) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6)";
constexpr const char kSelectRunningDeadlines[] =
    "SELECT case_id, deadline_id, due_micros FROM case_deadlines WHERE status = 1 ORDER BY due_micros";
constexpr const char kInsertCaseEvent[] =
    "INSERT INTO case_events(case_id, region, track, action, from_state, to_state, detail, time_micros) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
constexpr const char kInsertTimeline[] =
    "INSERT INTO timeline(case_id, version, proto) VALUES(?1, ?2, ?3)";
constexpr const char kSelectTimeline[] =
    "SELECT proto FROM timeline WHERE case_id = ?1 ORDER BY version";
constexpr const char kSelectEnvelope[] =
    "SELECT envelope_id, digest, sender, case_id, signed_envelope, signed_receipt "
    "FROM envelopes WHERE envelope_id = ?1";
constexpr const char kUpdateEnvelopeReceipt[] =
    "UPDATE envelopes SET signed_receipt = ?2 WHERE envelope_id = ?1";
constexpr const char kEnvelopeExists[] = "SELECT 1 FROM envelopes WHERE envelope_id = ?1";
constexpr const char kInsertEnvelope[] =
    "INSERT INTO envelopes(envelope_id, digest, sender, case_id, signed_envelope, signed_receipt) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6)";
constexpr const char kSelectAuditHead[] =
    "SELECT idx, entry_hash FROM audit ORDER BY idx DESC LIMIT 1";
constexpr const char kSelectAuditSize[] = "SELECT max(idx) FROM audit";
constexpr const char kInsertAudit[] =
    "INSERT INTO audit(idx, record, entry_hash) VALUES(?1, ?2, ?3)";
constexpr const char kInsertAuditIndex[] =
    "INSERT INTO audit_index(idx, case_id, actor, action, outcome, time_micros) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6)";
constexpr const char kInsertTreeHead[] =
    "INSERT INTO tree_heads(tree_size, time_micros, signed) VALUES(?1, ?2, ?3)";
constexpr const char kSelectTreeHead[] = "SELECT signed FROM tree_heads WHERE tree_size = ?1";
constexpr const char kSelectLatestTreeHead[] =
    "SELECT signed FROM tree_heads ORDER BY tree_size DESC LIMIT 1";
constexpr const char kSelectAuditRange[] =
    "SELECT idx, record, entry_hash FROM audit WHERE idx >= ?1 ORDER BY idx LIMIT ?2";
// The stored proto carries its own sequence, so the sequence is taken before
// the insert: one past the highest ever handed out (kSchemaV9), and the row is
// written once, whole.
constexpr const char kNextDeliverySeq[] =
    "SELECT max((SELECT coalesce(max(seq), 0) FROM deliveries), "
    "(SELECT coalesce(max(seq), 0) FROM delivery_sequence_floor)) + 1";
constexpr const char kInsertDelivery[] =
    "INSERT INTO deliveries(seq, agency, acked, proto, envelope_ref) VALUES(?1, ?2, 0, ?3, ?4)";
constexpr const char kAckDeliveries[] =
    "UPDATE deliveries SET acked = 1 WHERE agency = ?1 AND acked = 0 AND seq <= ?2";
// Delivery reads return the stored delivery, and for a row that refers to its
// envelope the envelope's signed bytes and receipt (see CollectDeliveries).
#define CASELINK_DELIVERY_COLUMNS \
  "d.proto, d.envelope_ref, e.signed_envelope, e.signed_receipt FROM deliveries d " \
  "LEFT JOIN envelopes e ON e.envelope_id = d.envelope_ref "
constexpr const char kSelectPending[] =
    "SELECT " CASELINK_DELIVERY_COLUMNS
    "WHERE d.agency = ?1 AND d.acked = 0 AND d.seq > ?2 ORDER BY d.seq LIMIT ?3";
constexpr const char kMarkPublished[] = "UPDATE deliveries SET published = 1 WHERE seq = ?1";
constexpr const char kSelectUnpublished[] =
    "SELECT " CASELINK_DELIVERY_COLUMNS
    "WHERE d.published = 0 AND d.seq > ?1 ORDER BY d.seq LIMIT ?2";
#undef CASELINK_DELIVERY_COLUMNS
constexpr const char kCountUnpublished[] = "SELECT count(*) FROM deliveries WHERE published = 0";
constexpr const char kSelectAckedThrough[] =
    "SELECT max(seq) FROM deliveries WHERE agency = ?1 AND acked = 1";
// Plain INSERT: a taken position is a constraint error, so a stored node is
// never overwritten.
constexpr const char kInsertMerkleNode[] = "INSERT INTO merkle_tree(pos, hash) VALUES(?1, ?2)";
constexpr const char kSelectMerkleNode[] = "SELECT hash FROM merkle_tree WHERE pos = ?1";

// Prepared when a connection opens, so a schema mismatch fails Open rather
// than the first request. (ListCases statements vary with the filter and are
// prepared on first use of each shape.)
constexpr const char* kWriterStatements[] = {
    kBegin,          kCommit,          kRollback,         kSavepoint,       kRelease,
    kRollbackTo,     kSelectCase,      kUpsertCase,       kDeleteParty,     kInsertParty,
    kInsertTimeline, kSelectEnvelope,   kInsertEnvelope,  kSelectAuditHead,
    kInsertAudit,    kNextDeliverySeq, kInsertDelivery, kAckDeliveries,   kInsertMerkleNode,
    kSelectMerkleNode, kInsertAuditIndex, kInsertTreeHead, kDeleteDeadlines, kInsertDeadline,
    kInsertCaseEvent, kMarkPublished, kEnvelopeExists, kUpdateEnvelopeReceipt, kDeleteDeadline,
};
constexpr const char* kReaderStatements[] = {
    kSelectCase,      kSelectTimeline,   kSelectEnvelope,     kSelectAuditSize,
    kSelectAuditRange, kSelectPending,   kSelectAckedThrough, kSelectMerkleNode,
    kSelectTreeHead, kSelectLatestTreeHead, kSelectRunningDeadlines, kSelectUnpublished,
    kCountUnpublished,
};

struct DbCloser {
  // close_v2 rather than close: the connection is released even if a
  // statement were still alive, instead of leaking silently.
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

absl::StatusCode CodeFor(int rc) {
  switch (rc & 0xff) {
    // The environment: another process, the disk, memory. Retrying may help.
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_NOMEM:
    case SQLITE_READONLY:
    case SQLITE_INTERRUPT:
      return absl::StatusCode::kUnavailable;
    case SQLITE_CONSTRAINT:
      // A key already taken (envelope id, timeline version, audit index).
      if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE) {
        return absl::StatusCode::kAlreadyExists;
      }
      return absl::StatusCode::kInternal;
    default:
      // CORRUPT, NOTADB, SCHEMA, MISUSE, ERROR (bad SQL), ...: a bug or a
      // damaged file, not something a retry fixes.
      return absl::StatusCode::kInternal;
  }
}

// This abseil build has its own string_view, which std::string_view does not
// convert to.
absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

absl::Status SqliteStatus(sqlite3* db, int rc, absl::string_view context) {
  const char* message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return absl::Status(CodeFor(rc), absl::StrCat(context, ": ", message));
}

// Statement text shortened for error messages.
absl::string_view Abbrev(std::string_view sql) { return Absl(sql.substr(0, 64)); }

// Sequence numbers and indexes arrive as uint64 but SQLite integers are
// signed; a bound above INT64_MAX means "everything".
int64_t ClampToInt64(uint64_t value) {
  return static_cast<int64_t>(
      std::min<uint64_t>(value, static_cast<uint64_t>(std::numeric_limits<int64_t>::max())));
}

int64_t TimestampMicros(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000000 + t.nanos() / 1000;
}

// One use of a cached prepared statement: binds, steps, reads columns, and
// resets on destruction so the statement drops its read snapshot and can be
// reused. Bind errors are kept and reported by the next Step.
class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Statement(Statement&& other) noexcept
      : db_(other.db_),
        stmt_(std::exchange(other.stmt_, nullptr)),
        bind_status_(std::move(other.bind_status_)) {}
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement& operator=(Statement&&) = delete;
  ~Statement() {
    if (stmt_ != nullptr) {
      // reset's return repeats the last step's error, already reported.
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }

  // Text and blobs are bound without a copy (SQLITE_STATIC; copying every
  // row's protos cost the writer an allocation and a memcpy each): the bytes
  // must stay as they are until this use's last Step. Binding a temporary
  // std::string is refused at compile time.
  Statement& BindText(int index, std::string_view text) {
    // A null pointer would bind SQL NULL; an empty string must stay ''.
    const char* data = text.data() != nullptr ? text.data() : "";
    return Check(sqlite3_bind_text64(stmt_, index, data, text.size(), SQLITE_STATIC, SQLITE_UTF8));
  }
  Statement& BindBlob(int index, std::string_view bytes) {
    if (bytes.empty()) return Check(sqlite3_bind_zeroblob(stmt_, index, 0));
    return Check(sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(), SQLITE_STATIC));
  }
  Statement& BindText(int index, std::string&& text) = delete;
  Statement& BindBlob(int index, std::string&& bytes) = delete;
  Statement& BindNull(int index) { return Check(sqlite3_bind_null(stmt_, index)); }
  Statement& BindInt64(int index, int64_t value) {
    return Check(sqlite3_bind_int64(stmt_, index, value));
  }

  // true: a row is available; false: the statement has finished.
  absl::StatusOr<bool> Step() {
    if (!bind_status_.ok()) return bind_status_;
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return SqliteStatus(db_, rc, Abbrev(sqlite3_sql(stmt_)));
  }
  // For statements run for their effect.
  absl::Status Run() { return Step().status(); }

  bool IsNull(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
  int64_t Int64(int column) const { return sqlite3_column_int64(stmt_, column); }
  std::string Text(int column) const {
    // _text before _bytes, as SQLite documents, so the length matches.
    const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
    int size = sqlite3_column_bytes(stmt_, column);
    return data != nullptr ? std::string(data, size) : std::string();
  }
  std::string Blob(int column) const {
    const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
    int size = sqlite3_column_bytes(stmt_, column);
    return data != nullptr ? std::string(data, size) : std::string();
  }
  // Parses a proto column; a row that does not parse means a damaged file.
  template <typename Message>
  absl::StatusOr<Message> Proto(int column) const {
    Message message;
    const void* data = sqlite3_column_blob(stmt_, column);
    int size = sqlite3_column_bytes(stmt_, column);
    if (size > 0 && !message.ParseFromArray(data, size)) {
      return absl::InternalError(
          absl::StrCat("stored ", Message::descriptor()->name(), " does not parse"));
    }
    return message;
  }

 private:
  Statement& Check(int rc) {
    if (rc != SQLITE_OK && bind_status_.ok()) {
      bind_status_ = SqliteStatus(db_, rc, absl::StrCat("bind ", Abbrev(sqlite3_sql(stmt_))));
    }
    return *this;
  }

  sqlite3* db_;
  sqlite3_stmt* stmt_;
  absl::Status bind_status_;
};

absl::StatusOr<std::string> Serialize(const google::protobuf::MessageLite& message) {
  std::string bytes;
  if (!message.SerializeToString(&bytes)) {
    return absl::InternalError(absl::StrCat("cannot serialize ", message.GetTypeName()));
  }
  return bytes;
}

}  // namespace

// Process-wide SQLite settings, applied before SQLite initializes itself (on
// the first open or VFS lookup). Memory statistics cost a global mutex on
// every allocation SQLite makes (about 80 per handoff on the writer), and
// CaseLink never reads them. If something in the process started SQLite
// first, SQLite refuses the call and keeps its default.
void ConfigureSqliteOnce() {
  static std::once_flag once;
  std::call_once(once, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
}

// SQL text fixed at compile time: a literal or a constexpr array. Reading its
// characters in a constant expression is what a mutable array could not do, so
// its address never holds other text and can stand for it.
class ConstSql {
 public:
  template <size_t N>
  consteval ConstSql(const char (&sql)[N]) : text_(sql, N - 1) {  // NOLINT: converts implicitly on purpose
    if (sql[N - 1] != '\0') throw "SQL text must end with its terminating NUL";
  }
  std::string_view text() const { return text_; }

 private:
  std::string_view text_;
};

// One SQLite connection and its prepared statements. Not thread-safe: the
// writer thread, or one reader lease at a time, owns it.
class Connection {
 public:
  // `vfs`: a registered VFS's name, or null for SQLite's default.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const std::string& path, int flags,
                                                          const char* vfs = nullptr) {
    sqlite3* raw = nullptr;
    // NOMUTEX: each connection is used by one thread at a time, so SQLite's
    // own per-connection mutex would be pure overhead.
    int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, vfs);
    DbPtr db(raw);  // SQLite may return a handle even on failure; it must be closed.
    if (rc != SQLITE_OK) return SqliteStatus(raw, rc, absl::StrCat("open ", path));
    // Extended codes tell a duplicate key (ALREADY_EXISTS) from other constraints.
    rc = sqlite3_extended_result_codes(raw, 1);
    if (rc != SQLITE_OK) return SqliteStatus(raw, rc, "extended_result_codes");
    rc = sqlite3_busy_timeout(raw, kBusyTimeoutMs);
    if (rc != SQLITE_OK) return SqliteStatus(raw, rc, "busy_timeout");
    return std::unique_ptr<Connection>(new Connection(std::move(db)));
  }

  sqlite3* db() const { return db_.get(); }

  // The statement for `sql`, prepared on first use and kept for the life of
  // the connection. Callers must not hold two uses of the same text at once.
  // Found by the address of its text, which ConstSql guarantees is constant:
  // a handoff runs about a dozen statements, and searching by text compared
  // long SQL strings that begin alike several times per call.
  absl::StatusOr<Statement> Get(ConstSql sql) {
    if (auto it = by_address_.find(sql.text().data()); it != by_address_.end()) {
      return Statement(db_.get(), it->second);
    }
    absl::StatusOr<sqlite3_stmt*> stmt = Find(sql.text());
    if (!stmt.ok()) return stmt.status();
    by_address_.emplace(sql.text().data(), *stmt);
    return Statement(db_.get(), *stmt);
  }

  // The same for SQL assembled at run time (a query's filters), found by its text.
  absl::StatusOr<Statement> GetBuilt(std::string_view sql) {
    absl::StatusOr<sqlite3_stmt*> stmt = Find(sql);
    if (!stmt.ok()) return stmt.status();
    return Statement(db_.get(), *stmt);
  }

  absl::Status Prepare(const char* const* sqls, size_t count) {
    for (size_t i = 0; i < count; ++i) {
      absl::StatusOr<sqlite3_stmt*> stmt = Find(sqls[i]);
      if (!stmt.ok()) return stmt.status();
    }
    return absl::OkStatus();
  }

  // Runs a cached statement that takes no parameters.
  absl::Status Run(ConstSql sql) {
    absl::StatusOr<Statement> stmt = Get(sql);
    if (!stmt.ok()) return stmt.status();
    return stmt->Run();
  }

  // One-off setup SQL (pragmas, DDL), possibly several statements; not cached.
  absl::Status ExecScript(const char* sql) {
    char* error = nullptr;
    int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, &error);
    if (rc == SQLITE_OK) return absl::OkStatus();
    absl::Status status(CodeFor(rc), absl::StrCat(Abbrev(sql), ": ",
                                                  error != nullptr ? error : sqlite3_errstr(rc)));
    sqlite3_free(error);
    return status;
  }

  // One-off query returning a single text value (e.g. a pragma's answer).
  absl::StatusOr<std::string> QueryText(const char* sql) {
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(db_.get(), sql, -1, &raw, nullptr);
    StmtPtr stmt(raw);
    if (rc != SQLITE_OK) return SqliteStatus(db_.get(), rc, sql);
    Statement use(db_.get(), stmt.get());
    absl::StatusOr<bool> row = use.Step();
    if (!row.ok()) return row.status();
    if (!*row) return std::string();
    return use.Text(0);
  }

 private:
  explicit Connection(DbPtr db) : db_(std::move(db)) {}

  absl::StatusOr<sqlite3_stmt*> Find(std::string_view sql) {
    auto it = statements_.find(sql);
    if (it == statements_.end()) {
      sqlite3_stmt* raw = nullptr;
      int rc = sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()),
                                  SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
      StmtPtr stmt(raw);
      if (rc != SQLITE_OK) {
        return SqliteStatus(db_.get(), rc, absl::StrCat("prepare ", Abbrev(sql)));
      }
      if (stmt == nullptr) return absl::InternalError(absl::StrCat("empty statement: ", Absl(sql)));
      it = statements_.emplace(std::string(sql), std::move(stmt)).first;
    }
    return it->second.get();
  }

  DbPtr db_;
  // Declared after db_ so the statements are finalized before the close.
  std::map<std::string, StmtPtr, std::less<>> statements_;
  // The same statements by the address of their constant text.
  std::unordered_map<const char*, sqlite3_stmt*> by_address_;
};

// Read-only connections lent to one reader at a time.
class ReaderPool {
 public:
  explicit ReaderPool(std::vector<std::unique_ptr<Connection>> connections)
      : connections_(std::move(connections)) {
    for (auto& c : connections_) free_.push_back(c.get());
  }

  class Lease {
   public:
    Lease(ReaderPool* pool, Connection* connection) : pool_(pool), connection_(connection) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { pool_->Return(connection_); }
    Connection& operator*() const { return *connection_; }

   private:
    ReaderPool* pool_;
    Connection* connection_;
  };

  // Blocks while every connection is lent out.
  Lease Acquire() {
    std::unique_lock<std::mutex> lock(mu_);
    available_.wait(lock, [this] { return !free_.empty(); });
    Connection* connection = free_.back();
    free_.pop_back();
    return Lease(this, connection);
  }

 private:
  void Return(Connection* connection) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      free_.push_back(connection);
    }
    available_.notify_one();
  }

  std::vector<std::unique_ptr<Connection>> connections_;
  std::mutex mu_;
  std::condition_variable available_;
  std::vector<Connection*> free_;  // guarded by mu_
};

namespace {

// Reads shared by the writer's transaction and the read pool.

absl::StatusOr<std::optional<v1::Case>> LoadCase(Connection& db, std::string_view case_id) {
  absl::StatusOr<Statement> stmt = db.Get(kSelectCase);
  if (!stmt.ok()) return stmt.status();
  stmt->BindText(1, case_id);
  absl::StatusOr<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::nullopt;
  absl::StatusOr<v1::Case> c = stmt->Proto<v1::Case>(0);
  if (!c.ok()) return c.status();
  return std::optional<v1::Case>(*std::move(c));
}

absl::StatusOr<std::optional<StoredEnvelope>> LoadEnvelope(Connection& db,
                                                           std::string_view envelope_id) {
  absl::StatusOr<Statement> stmt = db.Get(kSelectEnvelope);
  if (!stmt.ok()) return stmt.status();
  stmt->BindText(1, envelope_id);
  absl::StatusOr<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::nullopt;
  StoredEnvelope envelope;
  envelope.envelope_id = stmt->Text(0);
  envelope.envelope_digest = stmt->Blob(1);
  envelope.sender_agency = stmt->Text(2);
  envelope.case_id = stmt->Text(3);
  envelope.signed_envelope = stmt->Blob(4);
  envelope.signed_receipt = stmt->Blob(5);
  return std::optional<StoredEnvelope>(std::move(envelope));
}

absl::StatusOr<std::string> LoadMerkleNode(Connection& db, uint32_t level, uint64_t index) {
  auto not_found = [&] {
    return absl::NotFoundError(
        absl::StrCat("Merkle node (level ", level, ", index ", index, ") is not stored"));
  };
  // Outside the largest tree a store holds: it cannot have been stored.
  const std::optional<int64_t> pos = MerklePosition(level, index);
  if (!pos.has_value()) return not_found();
  absl::StatusOr<Statement> stmt = db.Get(kSelectMerkleNode);
  if (!stmt.ok()) return stmt.status();
  stmt->BindInt64(1, *pos);
  absl::StatusOr<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return not_found();
  return stmt->Blob(0);
}

// Reads every row of `stmt`, parsing column 0 as `Message`.
template <typename Message>
absl::StatusOr<std::vector<Message>> CollectProtos(Statement& stmt) {
  std::vector<Message> out;
  for (;;) {
    absl::StatusOr<bool> row = stmt.Step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    absl::StatusOr<Message> message = stmt.Proto<Message>(0);
    if (!message.ok()) return message.status();
    out.push_back(*std::move(message));
  }
}

// Reads every row of a delivery select (kSelectPending, kSelectUnpublished):
// a delivery stored by reference gets its envelope and receipt back from the
// envelope's row, so readers always see a whole delivery.
absl::StatusOr<std::vector<v1::Delivery>> CollectDeliveries(Statement& stmt) {
  std::vector<v1::Delivery> out;
  for (;;) {
    absl::StatusOr<bool> row = stmt.Step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    absl::StatusOr<v1::Delivery> delivery = stmt.Proto<v1::Delivery>(0);
    if (!delivery.ok()) return delivery.status();
    if (!stmt.IsNull(1)) {
      if (stmt.IsNull(2)) {
        return absl::InternalError(absl::StrCat("delivery ", delivery->sequence(), " refers to envelope '",
                                                stmt.Text(1), "', which is not stored"));
      }
      absl::StatusOr<v1::SignedEnvelope> envelope = stmt.Proto<v1::SignedEnvelope>(2);
      if (!envelope.ok()) return envelope.status();
      absl::StatusOr<v1::SignedSubmissionReceipt> receipt = stmt.Proto<v1::SignedSubmissionReceipt>(3);
      if (!receipt.ok()) return receipt.status();
      *delivery->mutable_envelope() = *std::move(envelope);
      *delivery->mutable_gateway_receipt() = *std::move(receipt);
    }
    out.push_back(*std::move(delivery));
  }
}

// Smallest string greater than every string starting with `prefix`, or
// nullopt if there is none (the prefix is all 0xff bytes).
std::optional<std::string> PrefixUpperBound(std::string prefix) {
  while (!prefix.empty() && static_cast<unsigned char>(prefix.back()) == 0xff) prefix.pop_back();
  if (prefix.empty()) return std::nullopt;
  prefix.back() = static_cast<char>(static_cast<unsigned char>(prefix.back()) + 1);
  return prefix;
}

// The writer's view of the group transaction handed to each work.
// Copies the queryable fields of an audit record into audit_index.
absl::Status IndexAuditRecord(Connection& db, int64_t index, const v1::AuditRecord& record) {
  absl::StatusOr<Statement> stmt = db.Get(kInsertAuditIndex);
  if (!stmt.ok()) return stmt.status();
  stmt->BindInt64(1, index)
      .BindText(2, record.case_id())
      .BindText(3, record.actor_agency())
      .BindText(4, record.action())
      .BindInt64(5, record.outcome())
      .BindInt64(6, TimestampMicros(record.time()));
  return stmt->Run();
}

absl::Status IndexAuditRecord(Connection& db, int64_t index, std::string_view record_bytes) {
  // The log itself is what verifiers check; a record that does not parse is
  // still stored, and only its query fields stay empty.
  v1::AuditRecord record;
  if (!record.ParseFromArray(record_bytes.data(), static_cast<int>(record_bytes.size()))) record.Clear();
  return IndexAuditRecord(db, index, record);
}

// Writes (or replaces) the index row of one deadline of a case.
absl::Status IndexDeadline(Connection& db, std::string_view case_id, const v1::Deadline& d) {
  absl::StatusOr<Statement> stmt = db.Get(kInsertDeadline);
  if (!stmt.ok()) return stmt.status();
  stmt->BindText(1, case_id)
      .BindText(2, d.deadline_id())
      .BindText(3, d.duty())
      .BindText(4, d.owed_by())
      .BindInt64(5, d.status())
      .BindInt64(6, TimestampMicros(d.due_at()));
  return stmt->Run();
}

absl::Status IndexDeadlines(Connection& db, const v1::Case& c) {
  {
    absl::StatusOr<Statement> stmt = db.Get(kDeleteDeadlines);
    if (!stmt.ok()) return stmt.status();
    stmt->BindText(1, c.case_id());
    if (absl::Status s = stmt->Run(); !s.ok()) return s;
  }
  for (const v1::Deadline& d : c.deadlines()) {
    if (absl::Status s = IndexDeadline(db, c.case_id(), d); !s.ok()) return s;
  }
  return absl::OkStatus();
}

class Transaction : public StoreTransaction {
 public:
  // `remember_writes`: keep what this transaction reads and writes at the
  // growing ends of the store (the Merkle right edge, the audit head, the next
  // delivery sequence) for the group's later works, which read the same, and
  // hold an envelope row whose receipt is still being signed until the group's
  // steps have set it, so the row is written once (WriteHeldEnvelopes). Only
  // where no work's writes are undone alone: a savepoint rollback would leave
  // remembered what the database no longer holds.
  Transaction(Connection& db, bool remember_writes) : db_(db), remember_writes_(remember_writes) {}

  absl::StatusOr<std::optional<v1::Case>> GetCase(std::string_view case_id) override {
    return LoadCase(db_, case_id);
  }

  absl::Status PutCase(const v1::Case& c) override { return WriteCase(c, nullptr, /*known=*/false); }

  absl::Status UpdateCase(const v1::Case& c, const v1::Case* stored) override {
    return WriteCase(c, stored, /*known=*/true);
  }

  absl::Status AppendCaseEvent(const CaseEvent& event) override {
    absl::StatusOr<Statement> stmt = db_.Get(kInsertCaseEvent);
    if (!stmt.ok()) return stmt.status();
    stmt->BindText(1, event.case_id)
        .BindText(2, event.region)
        .BindInt64(3, event.track)
        .BindText(4, event.action)
        .BindInt64(5, event.from_state)
        .BindInt64(6, event.to_state)
        .BindText(7, event.detail)
        .BindInt64(8, event.time_micros);
    return stmt->Run();
  }

  absl::Status AppendTimelineEvent(const v1::TimelineEvent& event) override {
    if (event.version() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return absl::InvalidArgumentError("timeline version out of range");
    }
    absl::StatusOr<std::string> bytes = Serialize(event);
    if (!bytes.ok()) return bytes.status();
    absl::StatusOr<Statement> stmt = db_.Get(kInsertTimeline);
    if (!stmt.ok()) return stmt.status();
    stmt->BindText(1, event.case_id())
        .BindInt64(2, static_cast<int64_t>(event.version()))
        .BindBlob(3, *bytes);
    return stmt->Run();
  }

  absl::StatusOr<std::optional<StoredEnvelope>> GetEnvelope(std::string_view envelope_id) override {
    if (auto held = held_envelopes_.find(envelope_id); held != held_envelopes_.end()) {
      return std::optional<StoredEnvelope>(held->second);
    }
    absl::StatusOr<std::optional<StoredEnvelope>> stored = LoadEnvelope(db_, envelope_id);
    if (stored.ok() && !stored->has_value()) envelope_absent_for_work_ = envelope_id;
    return stored;
  }

  absl::Status PutEnvelope(const StoredEnvelope& envelope) override {
    if (held_envelopes_.contains(envelope.envelope_id)) return EnvelopeTaken(envelope.envelope_id);
    if (remember_writes_ && envelope.signed_receipt.empty()) return HoldEnvelope(envelope);
    return InsertEnvelope(envelope);
  }

  // Writes the envelope rows held for their receipts; before the commit,
  // after the steps that set the receipts.
  absl::Status WriteHeldEnvelopes() {
    for (const auto& [id, envelope] : held_envelopes_) {
      if (absl::Status s = InsertEnvelope(envelope); !s.ok()) return s;
    }
    held_envelopes_.clear();
    return absl::OkStatus();
  }

  absl::Status SetEnvelopeReceipt(std::string_view envelope_id, std::string_view signed_receipt) override {
    if (auto held = held_envelopes_.find(envelope_id); held != held_envelopes_.end()) {
      held->second.signed_receipt = signed_receipt;
      // A change only this transaction holds: a work that fails after it
      // must run its group again, as one that wrote.
      work_held_envelope_ = true;
      return absl::OkStatus();
    }
    absl::StatusOr<Statement> stmt = db_.Get(kUpdateEnvelopeReceipt);
    if (!stmt.ok()) return stmt.status();
    stmt->BindText(1, envelope_id).BindBlob(2, signed_receipt);
    if (absl::Status s = stmt->Run(); !s.ok()) return s;
    if (sqlite3_changes64(db_.db()) != 1) {
      return absl::NotFoundError(absl::StrCat("no stored envelope ", std::string(envelope_id), " to set the receipt of"));
    }
    return absl::OkStatus();
  }

  absl::Status BeforeCommit(Step step) override {
    work_steps_.push_back(std::move(step));
    return absl::OkStatus();
  }

  // Whether the running work holds an envelope row (or set a held row's
  // receipt): a write the database's change count does not show.
  bool WorkHeldEnvelope() const { return work_held_envelope_; }

  // For RunBatch, after each work: the steps it registered. Also forgets what
  // the work wrote, which its savepoint may have rolled back.
  std::vector<Step> TakeWorkSteps() {
    envelope_put_by_work_.clear();
    envelope_absent_for_work_.clear();
    work_held_envelope_ = false;
    return std::exchange(work_steps_, {});
  }

  absl::StatusOr<AuditHead> GetAuditHead() override {
    if (audit_head_.has_value()) return *audit_head_;
    absl::StatusOr<Statement> stmt = db_.Get(kSelectAuditHead);
    if (!stmt.ok()) return stmt.status();
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    AuditHead head;
    if (*row) {
      head.size = static_cast<uint64_t>(stmt->Int64(0)) + 1;
      head.last_entry_hash = stmt->Blob(1);
    }
    if (remember_writes_) audit_head_ = head;
    return head;
  }

  absl::Status AppendAuditEntry(const v1::AuditEntry& entry) override {
    if (absl::Status s = InsertAuditEntry(entry); !s.ok()) return s;
    return IndexAuditRecord(db_, static_cast<int64_t>(entry.index()), entry.record());
  }

  absl::Status AppendAuditEntry(const v1::AuditEntry& entry, const v1::AuditRecord& record) override {
    if (absl::Status s = InsertAuditEntry(entry); !s.ok()) return s;
    return IndexAuditRecord(db_, static_cast<int64_t>(entry.index()), record);
  }

  absl::Status PutTreeHead(uint64_t tree_size, int64_t time_micros, std::string_view signed_tree_head) override {
    absl::StatusOr<Statement> stmt = db_.Get(kInsertTreeHead);
    if (!stmt.ok()) return stmt.status();
    stmt->BindInt64(1, ClampToInt64(tree_size)).BindInt64(2, time_micros).BindBlob(3, signed_tree_head);
    absl::Status status = stmt->Run();
    if (absl::IsAlreadyExists(status)) {
      return absl::AlreadyExistsError(absl::StrCat("a tree head for size ", tree_size, " is already stored"));
    }
    return status;
  }

  absl::StatusOr<uint64_t> AddDelivery(const v1::Delivery& delivery) override {
    if (delivery.recipient_agency().empty()) {
      return absl::InvalidArgumentError("delivery without recipient_agency");
    }
    absl::StatusOr<int64_t> seq = NextDeliverySequence();
    if (!seq.ok()) return seq.status();
    v1::Delivery stored = delivery;
    stored.set_sequence(static_cast<uint64_t>(*seq));
    return InsertDelivery(*seq, stored, /*envelope_ref=*/std::nullopt);
  }

  absl::StatusOr<uint64_t> AddEnvelopeDelivery(const v1::Delivery& delivery) override {
    if (delivery.has_envelope() || delivery.has_gateway_receipt()) {
      return absl::InvalidArgumentError("a delivery of a stored envelope carries neither envelope nor receipt");
    }
    if (delivery.recipient_agency().empty()) {
      return absl::InvalidArgumentError("delivery without recipient_agency");
    }
    // The envelope's row is written in the same transaction before its
    // deliveries; a reference to nothing would fail every later read. The
    // envelope this work has just put, or one the group holds, needs no look-up.
    if (delivery.envelope_id() != envelope_put_by_work_ && !held_envelopes_.contains(delivery.envelope_id())) {
      absl::StatusOr<bool> found = EnvelopeStored(delivery.envelope_id());
      if (!found.ok()) return found.status();
      if (!*found) {
        return absl::FailedPreconditionError(
            absl::StrCat("delivery of envelope '", delivery.envelope_id(), "', which is not stored"));
      }
    }
    absl::StatusOr<int64_t> seq = NextDeliverySequence();
    if (!seq.ok()) return seq.status();
    v1::Delivery stored = delivery;
    stored.set_sequence(static_cast<uint64_t>(*seq));
    return InsertDelivery(*seq, stored, delivery.envelope_id());
  }

  absl::StatusOr<uint64_t> AcknowledgeDeliveries(std::string_view agency,
                                                 uint64_t through) override {
    absl::StatusOr<Statement> stmt = db_.Get(kAckDeliveries);
    if (!stmt.ok()) return stmt.status();
    stmt->BindText(1, agency).BindInt64(2, ClampToInt64(through));
    if (absl::Status s = stmt->Run(); !s.ok()) return s;
    return static_cast<uint64_t>(sqlite3_changes64(db_.db()));
  }

  absl::Status MarkDeliveriesPublished(const std::vector<uint64_t>& sequences) override {
    for (uint64_t seq : sequences) {
      absl::StatusOr<Statement> stmt = db_.Get(kMarkPublished);
      if (!stmt.ok()) return stmt.status();
      stmt->BindInt64(1, ClampToInt64(seq));
      if (absl::Status s = stmt->Run(); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  absl::Status PutMerkleNode(uint32_t level, uint64_t index, std::string_view hash) override {
    const std::optional<int64_t> pos = MerklePosition(level, index);
    if (!pos.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat("Merkle node (level ", level, ", index ", index,
                                                     ") is outside the largest tree a store holds (2^",
                                                     kMaxMerkleLevel, " leaves)"));
    }
    if (hash.empty()) return absl::InvalidArgumentError("empty Merkle node hash");
    absl::StatusOr<Statement> stmt = db_.Get(kInsertMerkleNode);
    if (!stmt.ok()) return stmt.status();
    stmt->BindInt64(1, *pos).BindBlob(2, hash);
    absl::Status status = stmt->Run();
    if (absl::IsAlreadyExists(status)) {
      return absl::AlreadyExistsError(absl::StrCat("Merkle node (level ", level, ", index ",
                                                   index, ") is already stored"));
    }
    if (status.ok() && remember_writes_) merkle_nodes_.emplace(*pos, hash);
    return status;
  }

  absl::StatusOr<std::string> GetMerkleNode(uint32_t level, uint64_t index) override {
    const std::optional<int64_t> pos = MerklePosition(level, index);
    if (!remember_writes_ || !pos.has_value()) return LoadMerkleNode(db_, level, index);
    if (auto it = merkle_nodes_.find(*pos); it != merkle_nodes_.end()) return it->second;
    absl::StatusOr<std::string> hash = LoadMerkleNode(db_, level, index);
    if (hash.ok()) merkle_nodes_.emplace(*pos, *hash);
    return hash;
  }

 private:
  // The audit row of `entry`, at the head of the log.
  absl::Status InsertAuditEntry(const v1::AuditEntry& entry) {
    absl::StatusOr<AuditHead> head = GetAuditHead();
    if (!head.ok()) return head.status();
    if (entry.index() != head->size) {
      return absl::FailedPreconditionError(absl::StrCat(
          "audit entry index ", entry.index(), " is not the next index ", head->size));
    }
    absl::StatusOr<Statement> stmt = db_.Get(kInsertAudit);
    if (!stmt.ok()) return stmt.status();
    stmt->BindInt64(1, static_cast<int64_t>(entry.index()))
        .BindBlob(2, entry.record())
        .BindBlob(3, entry.entry_hash());
    if (absl::Status s = stmt->Run(); !s.ok()) return s;
    if (remember_writes_) audit_head_ = AuditHead{entry.index() + 1, entry.entry_hash()};
    return absl::OkStatus();
  }

  // PutCase and UpdateCase. With `known`, `stored` is the row as it is (null:
  // none); otherwise the row is read first. The parties are touched only
  // where they differ, and the deadline index too with `known` (otherwise it
  // is rewritten).
  absl::Status WriteCase(const v1::Case& c, const v1::Case* stored, bool known) {
    if (c.case_id().empty()) return absl::InvalidArgumentError("case without case_id");
    std::optional<v1::Case> loaded;
    if (!known) {
      absl::StatusOr<std::optional<v1::Case>> row = LoadCase(db_, c.case_id());
      if (!row.ok()) return row.status();
      loaded = *std::move(row);
    }
    const v1::Case* previous = known ? stored : (loaded.has_value() ? &*loaded : nullptr);
    absl::StatusOr<std::string> bytes = Serialize(c);
    if (!bytes.ok()) return bytes.status();
    {
      absl::StatusOr<Statement> stmt = db_.Get(kUpsertCase);
      if (!stmt.ok()) return stmt.status();
      stmt->BindText(1, c.case_id())
          .BindInt64(2, c.state())
          .BindText(3, c.region())
          .BindText(4, c.originator())
          .BindText(5, c.addressee())
          .BindInt64(6, c.track())
          .BindInt64(7, TimestampMicros(c.updated_at()))
          .BindBlob(8, *bytes);
      if (absl::Status s = stmt->Run(); !s.ok()) return s;
    }
    // The party rows are keyed by agency, so those of the case as it was
    // are found from its parties: those that left are deleted, new ones added.
    const std::set<std::string_view> parties = PartiesOf(c);
    const std::set<std::string_view> before = previous != nullptr ? PartiesOf(*previous) : std::set<std::string_view>();
    for (std::string_view agency : before) {
      if (parties.contains(agency)) continue;
      absl::StatusOr<Statement> stmt = db_.Get(kDeleteParty);
      if (!stmt.ok()) return stmt.status();
      stmt->BindText(1, agency).BindText(2, c.case_id());
      if (absl::Status s = stmt->Run(); !s.ok()) return s;
    }
    for (std::string_view agency : parties) {
      if (before.contains(agency)) continue;
      absl::StatusOr<Statement> stmt = db_.Get(kInsertParty);
      if (!stmt.ok()) return stmt.status();
      stmt->BindText(1, agency).BindText(2, c.case_id());
      if (absl::Status s = stmt->Run(); !s.ok()) return s;
    }
    if (!known) return IndexDeadlines(db_, c);
    return UpdateDeadlineIndex(c, stored);
  }

  static std::set<std::string_view> PartiesOf(const v1::Case& c) {
    std::set<std::string_view> parties = {c.originator(), c.addressee(), c.court()};
    parties.insert(c.copied().begin(), c.copied().end());
    parties.erase(std::string_view());
    return parties;
  }

  // Writes the index rows of deadlines that are new or changed since `stored`
  // and deletes those no longer in the case.
  absl::Status UpdateDeadlineIndex(const v1::Case& c, const v1::Case* stored) {
    auto indexed_equal = [](const v1::Deadline& a, const v1::Deadline& b) {
      return a.duty() == b.duty() && a.owed_by() == b.owed_by() && a.status() == b.status() &&
             TimestampMicros(a.due_at()) == TimestampMicros(b.due_at());
    };
    auto find = [](const v1::Case* in, const std::string& id) -> const v1::Deadline* {
      if (in == nullptr) return nullptr;
      for (const v1::Deadline& d : in->deadlines()) {
        if (d.deadline_id() == id) return &d;
      }
      return nullptr;
    };
    for (const v1::Deadline& d : c.deadlines()) {
      const v1::Deadline* before = find(stored, d.deadline_id());
      if (before != nullptr && indexed_equal(*before, d)) continue;
      if (absl::Status s = IndexDeadline(db_, c.case_id(), d); !s.ok()) return s;
    }
    if (stored == nullptr) return absl::OkStatus();
    for (const v1::Deadline& d : stored->deadlines()) {
      if (find(&c, d.deadline_id()) != nullptr) continue;
      absl::StatusOr<Statement> stmt = db_.Get(kDeleteDeadline);
      if (!stmt.ok()) return stmt.status();
      stmt->BindText(1, c.case_id()).BindText(2, d.deadline_id());
      if (absl::Status s = stmt->Run(); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  // The id must be free in the database, as a plain insert would find it
  // (PutEnvelope has checked the held rows), unless this work has just looked
  // it up there (the pipeline's idempotency check) and found nothing.
  absl::Status HoldEnvelope(const StoredEnvelope& envelope) {
    if (envelope.envelope_id != envelope_absent_for_work_) {
      absl::StatusOr<bool> stored = EnvelopeStored(envelope.envelope_id);
      if (!stored.ok()) return stored.status();
      if (*stored) return EnvelopeTaken(envelope.envelope_id);
    }
    held_envelopes_.emplace(envelope.envelope_id, envelope);
    envelope_put_by_work_ = envelope.envelope_id;
    work_held_envelope_ = true;
    return absl::OkStatus();
  }

  absl::StatusOr<bool> EnvelopeStored(std::string_view envelope_id) {
    absl::StatusOr<Statement> exists = db_.Get(kEnvelopeExists);
    if (!exists.ok()) return exists.status();
    exists->BindText(1, envelope_id);
    return exists->Step();
  }

  absl::Status InsertEnvelope(const StoredEnvelope& envelope) {
    absl::StatusOr<Statement> stmt = db_.Get(kInsertEnvelope);
    if (!stmt.ok()) return stmt.status();
    stmt->BindText(1, envelope.envelope_id)
        .BindBlob(2, envelope.envelope_digest)
        .BindText(3, envelope.sender_agency)
        .BindText(4, envelope.case_id)
        .BindBlob(5, envelope.signed_envelope)
        .BindBlob(6, envelope.signed_receipt);
    absl::Status status = stmt->Run();
    if (absl::IsAlreadyExists(status)) return EnvelopeTaken(envelope.envelope_id);
    if (status.ok()) {
      envelope_put_by_work_ = envelope.envelope_id;
      // Looked up absent, now stored: a later put must look again.
      if (envelope_absent_for_work_ == envelope.envelope_id) envelope_absent_for_work_.clear();
    }
    return status;
  }

  static absl::Status EnvelopeTaken(std::string_view envelope_id) {
    return absl::AlreadyExistsError(absl::StrCat("envelope ", std::string(envelope_id), " is already stored"));
  }

  absl::StatusOr<int64_t> NextDeliverySequence() {
    if (next_delivery_seq_ != 0) return next_delivery_seq_;
    absl::StatusOr<Statement> next = db_.Get(kNextDeliverySeq);
    if (!next.ok()) return next.status();
    absl::StatusOr<bool> row = next->Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::InternalError("no next delivery sequence");
    return next->Int64(0);
  }

  absl::StatusOr<uint64_t> InsertDelivery(int64_t seq, const v1::Delivery& stored,
                                          std::optional<std::string_view> envelope_ref) {
    absl::StatusOr<std::string> bytes = Serialize(stored);
    if (!bytes.ok()) return bytes.status();
    absl::StatusOr<Statement> stmt = db_.Get(kInsertDelivery);
    if (!stmt.ok()) return stmt.status();
    stmt->BindInt64(1, seq).BindText(2, stored.recipient_agency()).BindBlob(3, *bytes);
    if (envelope_ref.has_value()) stmt->BindText(4, *envelope_ref);
    else stmt->BindNull(4);
    if (absl::Status s = stmt->Run(); !s.ok()) return s;
    // The next is one past the highest ever inserted: this one.
    if (remember_writes_) next_delivery_seq_ = seq + 1;
    return static_cast<uint64_t>(seq);
  }

  Connection& db_;
  std::vector<Step> work_steps_;
  std::string envelope_put_by_work_;      // by the running work, so surely stored
  std::string envelope_absent_for_work_;  // looked up by the running work and not stored
  bool work_held_envelope_ = false;
  const bool remember_writes_;
  std::unordered_map<int64_t, std::string> merkle_nodes_;  // by MerklePosition
  std::optional<AuditHead> audit_head_;
  int64_t next_delivery_seq_ = 0;  // 0: not known yet
  // Keyed by envelope id; written by WriteHeldEnvelopes in id order.
  std::map<std::string, StoredEnvelope, std::less<>> held_envelopes_;
};

// Fills the version 4 tables from the cases and timelines already stored.
absl::Status UpgradeToV4(Connection& db) {
  std::vector<v1::Case> cases;
  {
    absl::StatusOr<Statement> rows = db.Get("SELECT proto FROM cases");
    if (!rows.ok()) return rows.status();
    absl::StatusOr<std::vector<v1::Case>> loaded = CollectProtos<v1::Case>(*rows);
    if (!loaded.ok()) return loaded.status();
    cases = *std::move(loaded);
  }
  for (const v1::Case& c : cases) {
    if (absl::Status s = IndexDeadlines(db, c); !s.ok()) return s;
  }
  std::vector<CaseEvent> events;
  {
    absl::StatusOr<Statement> rows = db.Get(
        "SELECT t.proto, c.region, c.track FROM timeline t JOIN cases c ON c.case_id = t.case_id "
        "ORDER BY t.rowid");
    if (!rows.ok()) return rows.status();
    for (;;) {
      absl::StatusOr<bool> row = rows->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      absl::StatusOr<v1::TimelineEvent> e = rows->Proto<v1::TimelineEvent>(0);
      if (!e.ok()) return e.status();
      events.push_back(CaseEvent{e->case_id(), rows->Text(1), static_cast<v1::Track>(rows->Int64(2)), e->action(),
                                 e->from_state(), e->to_state(), "", TimestampMicros(e->at())});
    }
  }
  for (const CaseEvent& e : events) {
    absl::StatusOr<Statement> stmt = db.Get(kInsertCaseEvent);
    if (!stmt.ok()) return stmt.status();
    stmt->BindText(1, e.case_id)
        .BindText(2, e.region)
        .BindInt64(3, e.track)
        .BindText(4, e.action)
        .BindInt64(5, e.from_state)
        .BindInt64(6, e.to_state)
        .BindText(7, e.detail)
        .BindInt64(8, e.time_micros);
    if (absl::Status s = stmt->Run(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// ALTER TABLE has no IF NOT EXISTS, and a file may already carry the column.
absl::Status ApplySchemaV5(Connection& db) {
  absl::StatusOr<std::string> has = db.QueryText(
      "SELECT count(*) FROM pragma_table_info('deliveries') WHERE name = 'published'");
  if (!has.ok()) return has.status();
  if (*has == "0") {
    if (absl::Status s = db.ExecScript(kSchemaV5Column); !s.ok()) return s;
  }
  return db.ExecScript(kSchemaV5);
}

absl::Status ApplySchemaV6(Connection& db) {
  absl::StatusOr<std::string> has = db.QueryText(
      "SELECT count(*) FROM pragma_table_info('deliveries') WHERE name = 'envelope_ref'");
  if (!has.ok()) return has.status();
  if (*has != "0") return absl::OkStatus();
  return db.ExecScript(kSchemaV6Column);
}

// The rows of version 2's table, keyed (level, idx), at their positions.
absl::Status CopyMerkleNodesToPositions(Connection& db) {
  absl::StatusOr<Statement> rows = db.Get("SELECT level, idx, hash FROM merkle_nodes");
  if (!rows.ok()) return rows.status();
  for (;;) {
    absl::StatusOr<bool> row = rows->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    const int64_t level = rows->Int64(0), index = rows->Int64(1);
    const std::optional<int64_t> pos =
        level < 0 || level > kMaxMerkleLevel || index < 0
            ? std::nullopt
            : MerklePosition(static_cast<uint32_t>(level), static_cast<uint64_t>(index));
    if (!pos.has_value()) {
      return absl::DataLossError(absl::StrCat("stored Merkle node (level ", level, ", index ", index,
                                              ") is outside any tree a store holds"));
    }
    const std::string hash = rows->Blob(2);
    absl::StatusOr<Statement> insert = db.Get(kInsertMerkleNode);
    if (!insert.ok()) return insert.status();
    insert->BindInt64(1, *pos).BindBlob(2, hash);
    if (absl::Status s = insert->Run(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// Moves the nodes of a version 7 file (and of older ones, which gained the
// table on the way) to their post-order positions.
absl::Status ApplySchemaV8(Connection& db) {
  if (absl::Status s = db.ExecScript(kSchemaV8); !s.ok()) return s;
  absl::StatusOr<std::string> has =
      db.QueryText("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'merkle_nodes'");
  if (!has.ok()) return has.status();
  if (*has == "0") return absl::OkStatus();
  if (absl::Status s = CopyMerkleNodesToPositions(db); !s.ok()) return s;
  return db.ExecScript("DROP TABLE merkle_nodes");
}

// Builds or drops the relay's outbox index (SqliteStoreOptions::outbox_index).
// The relay's reads stay correct without it, as scans.
absl::Status ApplyOutboxIndex(Connection& db, SqliteStoreOptions::OutboxIndex outbox) {
  switch (outbox) {
    case SqliteStoreOptions::OutboxIndex::kAsFound:
      return absl::OkStatus();
    case SqliteStoreOptions::OutboxIndex::kKeep:
      return db.ExecScript(kSchemaV5);
    case SqliteStoreOptions::OutboxIndex::kDrop:
      return db.ExecScript("DROP INDEX IF EXISTS deliveries_unpublished");
  }
  return absl::InvalidArgumentError("unknown outbox index option");
}

// Rebuilds `deliveries` without AUTOINCREMENT (kSchemaV9), with its indexes:
// the relay's outbox index only if the file had it.
absl::Status ApplySchemaV9(Connection& db) {
  absl::StatusOr<std::string> outbox = db.QueryText(
      "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'deliveries_unpublished'");
  if (!outbox.ok()) return outbox.status();
  if (absl::Status s = db.ExecScript(kSchemaV9); !s.ok()) return s;
  if (*outbox == "0") return absl::OkStatus();
  return db.ExecScript(kSchemaV5);
}

absl::Status CreateOrCheckSchema(Connection& db) {
  // IMMEDIATE: two processes opening a new file must not both create it.
  if (absl::Status s = db.ExecScript("BEGIN IMMEDIATE"); !s.ok()) return s;
  auto body = [&db]() -> absl::Status {
    if (absl::Status s =
            db.ExecScript("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
        !s.ok()) {
      return s;
    }
    absl::StatusOr<std::string> version = db.QueryText("SELECT max(version) FROM schema_version");
    if (!version.ok()) return version.status();
    if (version->empty()) {
      if (absl::Status s = db.ExecScript(kSchemaV1); !s.ok()) return s;
      if (absl::Status s = db.ExecScript(kSchemaV3); !s.ok()) return s;
      if (absl::Status s = db.ExecScript(kSchemaV4); !s.ok()) return s;
      if (absl::Status s = ApplySchemaV5(db); !s.ok()) return s;
      if (absl::Status s = ApplySchemaV6(db); !s.ok()) return s;
      if (absl::Status s = db.ExecScript(kSchemaV7); !s.ok()) return s;
      if (absl::Status s = db.ExecScript(kSchemaV8); !s.ok()) return s;
      if (absl::Status s = ApplySchemaV9(db); !s.ok()) return s;
      return db.ExecScript("INSERT INTO schema_version(version) VALUES(9)");
    }
    if (*version == "1" || *version == "2") {
      // Upgrade in place, in the same transaction: version 3 only adds tables
      // (version 2's Merkle table comes as version 8's); the audit index is
      // filled from the records already stored.
      if (absl::Status s = db.ExecScript(kSchemaV3); !s.ok()) return s;
      absl::StatusOr<Statement> rows = db.Get("SELECT idx, record FROM audit ORDER BY idx");
      if (!rows.ok()) return rows.status();
      std::vector<std::pair<int64_t, std::string>> records;
      for (;;) {
        absl::StatusOr<bool> row = rows->Step();
        if (!row.ok()) return row.status();
        if (!*row) break;
        records.emplace_back(rows->Int64(0), rows->Blob(1));
      }
      for (const auto& [idx, record] : records) {
        if (absl::Status s = IndexAuditRecord(db, idx, record); !s.ok()) return s;
      }
      *version = "3";
    }
    if (*version == "3") {
      // Version 4 adds tables filled from what is stored: the deadlines of
      // each case and one event per timeline entry.
      if (absl::Status s = db.ExecScript(kSchemaV4); !s.ok()) return s;
      if (absl::Status s = UpgradeToV4(db); !s.ok()) return s;
      *version = "4";
    }
    if (*version == "4") {
      if (absl::Status s = ApplySchemaV5(db); !s.ok()) return s;
      *version = "5";
    }
    if (*version == "5") {
      if (absl::Status s = ApplySchemaV6(db); !s.ok()) return s;
      *version = "6";
    }
    if (*version == "6") {
      if (absl::Status s = db.ExecScript(kSchemaV7); !s.ok()) return s;
      *version = "7";
    }
    if (*version == "7") {
      if (absl::Status s = ApplySchemaV8(db); !s.ok()) return s;
      *version = "8";
    }
    if (*version == "8") {
      if (absl::Status s = ApplySchemaV9(db); !s.ok()) return s;
      return db.ExecScript("UPDATE schema_version SET version = 9");
    }
    if (*version != std::to_string(kSchemaVersion)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "database schema version ", *version, " is not the supported ", kSchemaVersion));
    }
    return absl::OkStatus();
  };
  absl::Status status = body();
  if (status.ok()) status = db.ExecScript("COMMIT");
  if (!status.ok() && !sqlite3_get_autocommit(db.db())) {
    // Best effort: the open fails with `status` either way.
    (void)db.ExecScript("ROLLBACK");
  }
  return status;
}

}  // namespace
}  // namespace sqlite_internal

using sqlite_internal::Connection;
using sqlite_internal::ReaderPool;
using sqlite_internal::WalCheckpointer;
using sqlite_internal::Statement;

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const SqliteStoreOptions& options) {
  if (options.data_dir.empty()) return absl::InvalidArgumentError("store data_dir is empty");
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot create store directory ", options.data_dir, ": ", ec.message()));
  }
  const std::string path = (std::filesystem::path(options.data_dir) / "caselink.db").string();

  sqlite_internal::ConfigureSqliteOnce();
  // A durable writer gathers each commit's WAL frames into a few large writes
  // (see coalescing_vfs.h); that VFS is only safe under synchronous=FULL.
  const char* writer_vfs = nullptr;
  if (options.durable) {
    if (absl::Status s = sqlite_internal::RegisterCoalescingVfs(); !s.ok()) return s;
    writer_vfs = sqlite_internal::kCoalescingVfsName;
  }
  absl::StatusOr<std::unique_ptr<Connection>> writer =
      Connection::Open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, writer_vfs);
  if (!writer.ok()) return writer.status();
  Connection& w = **writer;
  // WAL: readers work on snapshots while the writer commits, and a commit is
  // one append (plus fsync) to the log.
  absl::StatusOr<std::string> mode = w.QueryText("PRAGMA journal_mode=WAL");
  if (!mode.ok()) return mode.status();
  if (*mode != "wal") {
    return absl::UnavailableError(absl::StrCat("cannot put ", path, " in WAL mode: ", *mode));
  }
  // FULL makes every commit fsync the WAL, so a done callback means durable.
  if (absl::Status s = w.ExecScript(options.durable ? "PRAGMA synchronous=FULL"
                                                    : "PRAGMA synchronous=NORMAL");
      !s.ok()) {
    return s;
  }
  // Each work runs in its own savepoint; SQLite journals the pages a savepoint
  // touches in a statement journal, which by default is a temporary file. In
  // memory it costs no system calls, and it holds one group's pages at most.
  // A larger page cache keeps the B-tree interiors of the hot tables resident.
  if (absl::Status s = w.ExecScript("PRAGMA temp_store=MEMORY; PRAGMA cache_size=-32768"); !s.ok()) return s;
  if (absl::Status s = sqlite_internal::CreateOrCheckSchema(w); !s.ok()) return s;
  if (absl::Status s = sqlite_internal::ApplyOutboxIndex(w, options.outbox_index); !s.ok()) return s;
  if (absl::Status s = w.Prepare(sqlite_internal::kWriterStatements,
                                 std::size(sqlite_internal::kWriterStatements));
      !s.ok()) {
    return s;
  }

  // Readers open after the schema exists, read-only so a bug in a read path
  // can never write.
  std::vector<std::unique_ptr<Connection>> readers;
  const uint32_t reader_count = std::max<uint32_t>(options.read_connections, 1);
  for (uint32_t i = 0; i < reader_count; ++i) {
    absl::StatusOr<std::unique_ptr<Connection>> reader =
        Connection::Open(path, SQLITE_OPEN_READONLY);
    if (!reader.ok()) return reader.status();
    if (absl::Status s = (*reader)->Prepare(sqlite_internal::kReaderStatements,
                                            std::size(sqlite_internal::kReaderStatements));
        !s.ok()) {
      return s;
    }
    readers.push_back(*std::move(reader));
  }

  std::unique_ptr<WalCheckpointer> checkpointer;
  if (options.checkpoint_pages > 0) {
    absl::StatusOr<std::unique_ptr<WalCheckpointer>> started =
        WalCheckpointer::Start(path, w.db(), options.checkpoint_pages, options.durable);
    if (!started.ok()) return started.status();
    checkpointer = *std::move(started);
  }
  return std::unique_ptr<SqliteStore>(new SqliteStore(options, *std::move(writer),
                                                      std::make_unique<ReaderPool>(std::move(readers)),
                                                      std::move(checkpointer)));
}

SqliteStore::SqliteStore(const SqliteStoreOptions& options, std::unique_ptr<Connection> writer,
                         std::unique_ptr<ReaderPool> readers,
                         std::unique_ptr<WalCheckpointer> checkpointer)
    : max_batch_(std::max<uint32_t>(options.max_batch, 1)),
      writer_nice_(options.writer_nice),
      writer_nice_actual_(getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()))),
      writer_(std::move(writer)),
      readers_(std::move(readers)),
      checkpointer_(std::move(checkpointer)) {
  // Started last: the threads use every member above.
  completion_thread_ = std::thread(&SqliteStore::CompletionLoop, this);
  completion_id_ = completion_thread_.get_id();
  writer_thread_ = std::thread(&SqliteStore::WriterLoop, this);
  writer_id_ = writer_thread_.get_id();
  // Names show in top -H and perf, where the writer is the thread to watch.
  pthread_setname_np(writer_thread_.native_handle(), "store-writer");
  pthread_setname_np(completion_thread_.native_handle(), "store-done");
}

SqliteStore::~SqliteStore() {
  Shutdown();
  // Only when the store is destroyed from one of its own callbacks: the
  // completion thread cannot join itself.
  if (completion_thread_.joinable()) completion_thread_.detach();
}

void SqliteStore::Write(Work work, Done done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      queue_.push_back(Item{std::move(work), std::move(done)});
      // Notified under the lock so the writer cannot finish, and the store be
      // destroyed, between the unlock and the notify.
      work_ready_.notify_one();
      return;
    }
  }
  if (done) done(absl::UnavailableError("store is shut down"));
}

void SqliteStore::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  // A done callback may call Shutdown (on the completion thread), and neither
  // of the store's threads can join itself.
  const std::thread::id self = std::this_thread::get_id();
  if (self == writer_id_) return;
  // call_once also makes concurrent callers wait until the writer has drained.
  std::call_once(writer_joined_, [this] {
    if (writer_thread_.joinable()) writer_thread_.join();
  });
  if (self == completion_id_) return;
  // Every callback of every committed group has run once this returns.
  std::call_once(completion_joined_, [this] {
    if (completion_thread_.joinable()) completion_thread_.join();
  });
}

uint64_t SqliteStore::CommitCount() const { return commit_count_.load(std::memory_order_relaxed); }

uint64_t SqliteStore::RerunCount() const { return rerun_count_.load(std::memory_order_relaxed); }

uint64_t SqliteStore::BackgroundCheckpoints() const {
  return checkpointer_ ? checkpointer_->background_rounds() : 0;
}

uint64_t SqliteStore::WriterCheckpointTails() const {
  return checkpointer_ ? checkpointer_->writer_tails() : 0;
}

SqliteStore::WriterActivity SqliteStore::Activity() const {
  WriterActivity activity;
  activity.commits = commit_count_.load(std::memory_order_relaxed);
  activity.group_micros = group_micros_.load(std::memory_order_relaxed);
  activity.slow_groups = slow_groups_.load(std::memory_order_relaxed);
  activity.slow_group_micros = slow_group_micros_.load(std::memory_order_relaxed);
  activity.slow_tails = slow_tails_.load(std::memory_order_relaxed);
  activity.slow_tail_micros = slow_tail_micros_.load(std::memory_order_relaxed);
  if (checkpointer_) {
    activity.tails = checkpointer_->writer_tails();
    activity.tail_micros = checkpointer_->writer_tail_micros();
    activity.background_rounds = checkpointer_->background_rounds();
  }
  return activity;
}

int SqliteStore::WriterNice() const { return writer_nice_actual_.load(); }

void SqliteStore::WriterLoop() {
  // On Linux a nice value belongs to a thread: this changes the writer alone.
  // Where the asked value is not allowed, the lowest RLIMIT_NICE allows (20 -
  // its value); without any right to lower it, the writer stays as it was.
  const id_t tid = static_cast<id_t>(gettid());
  errno = 0;
  const int current = getpriority(PRIO_PROCESS, tid);
  if (errno == 0 && writer_nice_ < current && setpriority(PRIO_PROCESS, tid, writer_nice_) != 0) {
    rlimit limit{};
    if (getrlimit(RLIMIT_NICE, &limit) == 0) {
      const int floor = limit.rlim_cur == RLIM_INFINITY ? -20 : 20 - static_cast<int>(std::min<rlim_t>(limit.rlim_cur, 40));
      if (floor < current) setpriority(PRIO_PROCESS, tid, std::max(floor, writer_nice_));
    }
  }
  errno = 0;
  if (const int now = getpriority(PRIO_PROCESS, tid); errno == 0) writer_nice_actual_.store(now);
  std::vector<Item> batch;
  std::vector<absl::Status> results;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) {  // stopping, and everything queued is committed
        lock.unlock();
        std::lock_guard<std::mutex> done_lock(completion_mu_);
        writer_done_ = true;
        completion_ready_.notify_all();
        return;
      }
      // Whatever queued up during the previous commit forms this group.
      const size_t n = std::min<size_t>(queue_.size(), max_batch_);
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    results.assign(batch.size(), absl::OkStatus());
    const auto group_start = std::chrono::steady_clock::now();
    const absl::Status group = RunBatch(batch, results);
    const auto group_time = std::chrono::steady_clock::now() - group_start;
    const auto group_us =
        static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(group_time).count());
    group_micros_.fetch_add(group_us, std::memory_order_relaxed);
    if (group_us > WriterActivity::kSlowMicros) {
      slow_groups_.fetch_add(1, std::memory_order_relaxed);
      slow_group_micros_.fetch_add(group_us, std::memory_order_relaxed);
    }
    // Released before their done runs: a caller may return as soon as done
    // is called, and a work may have captured what it owns by reference.
    for (Item& item : batch) item.work = nullptr;
    // Only now is the group durable (or known lost). Its callbacks answer
    // callers (gRPC writes, notifications); the completion thread runs them
    // while this thread commits the next group.
    Completion completion;
    completion.done.reserve(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      completion.done.push_back(std::move(batch[i].done));
      if (!group.ok()) results[i] = group;
    }
    completion.results = std::move(results);
    {
      std::lock_guard<std::mutex> lock(completion_mu_);
      completions_.push_back(std::move(completion));
      completion_ready_.notify_one();
    }
    if (checkpointer_) {
      // Timed here rather than in the checkpointer: a call with no tail due
      // returns at once, far under the slow mark.
      const auto tail_start = std::chrono::steady_clock::now();
      checkpointer_->CopyDueTail();
      const auto tail_us = static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - tail_start).count());
      if (tail_us > WriterActivity::kSlowMicros) {
        slow_tails_.fetch_add(1, std::memory_order_relaxed);
        slow_tail_micros_.fetch_add(tail_us, std::memory_order_relaxed);
      }
    }
    batch.clear();
    results.clear();
  }
}

void SqliteStore::CompletionLoop() {
  for (;;) {
    Completion completion;
    {
      std::unique_lock<std::mutex> lock(completion_mu_);
      completion_ready_.wait(lock, [this] { return writer_done_ || !completions_.empty(); });
      if (completions_.empty()) return;  // the writer has exited and every group is answered
      completion = std::move(completions_.front());
      completions_.pop_front();
    }
    GroupDoneScope scope;
    for (size_t i = 0; i < completion.done.size(); ++i) {
      if (completion.done[i]) completion.done[i](completion.results[i]);
    }
  }
}

absl::Status SqliteStore::RunBatch(std::vector<Item>& batch, std::vector<absl::Status>& results) {
  // Savepoints cost a copy of every page a work touches first, and almost no
  // work fails after it wrote (a refusal is a successful work that records
  // it), so a group first runs without them.
  absl::StatusOr<bool> committed = TryGroup(batch, results, /*savepoints=*/false);
  if (!committed.ok()) return committed.status();
  if (*committed) return absl::OkStatus();
  rerun_count_.fetch_add(1, std::memory_order_relaxed);
  committed = TryGroup(batch, results, /*savepoints=*/true);
  if (!committed.ok()) return committed.status();
  return absl::OkStatus();
}

absl::StatusOr<bool> SqliteStore::TryGroup(std::vector<Item>& batch, std::vector<absl::Status>& results,
                                           bool savepoints) {
  Connection& db = *writer_;
  auto group_failed = [&db](const absl::Status& cause) {
    // Some errors (I/O, disk full) already rolled the transaction back; only
    // roll back what is still open. Nothing of the group is kept either way.
    if (!sqlite3_get_autocommit(db.db())) (void)db.Run(sqlite_internal::kRollback);
    return absl::UnavailableError(absl::StrCat("store commit failed: ", cause.message()));
  };

  if (absl::Status s = db.Run(sqlite_internal::kBegin); !s.ok()) return group_failed(s);
  // Without savepoints nothing is undone short of the whole transaction, so
  // the transaction may remember what it wrote.
  sqlite_internal::Transaction txn(db, /*remember_writes=*/!savepoints);
  std::vector<StoreTransaction::Step> steps;  // of the works that succeeded, in order
  for (size_t i = 0; i < batch.size(); ++i) {
    if (savepoints) {
      if (absl::Status s = db.Run(sqlite_internal::kSavepoint); !s.ok()) return group_failed(s);
    }
    // Rows changed by completed statements; a failed statement undoes its own.
    const int64_t changes_before = sqlite3_total_changes64(db.db());
    results[i] = batch[i].work ? batch[i].work(txn) : absl::OkStatus();
    const bool held_envelope = txn.WorkHeldEnvelope();
    std::vector<StoreTransaction::Step> work_steps = txn.TakeWorkSteps();
    absl::Status s;
    if (results[i].ok()) {
      for (auto& step : work_steps) steps.push_back(std::move(step));
      if (savepoints) s = db.Run(sqlite_internal::kRelease);
    } else if (savepoints) {
      // Undo exactly this work; the savepoint must still be released to
      // leave the group transaction at its outer level.
      s = db.Run(sqlite_internal::kRollbackTo);
      if (s.ok()) s = db.Run(sqlite_internal::kRelease);
    } else if ((sqlite3_total_changes64(db.db()) != changes_before || held_envelope) &&
               !sqlite3_get_autocommit(db.db())) {
      // It wrote, and only a savepoint undoes one work's writes: the group
      // runs again from its start, each work in a savepoint.
      if (absl::Status rolled_back = db.Run(sqlite_internal::kRollback); !rolled_back.ok()) {
        return group_failed(rolled_back);
      }
      return false;
    }
    if (!s.ok()) return group_failed(s);
    if (sqlite3_get_autocommit(db.db())) {
      // An error inside the work rolled back the whole group transaction.
      return group_failed(absl::InternalError("group transaction rolled back during a work"));
    }
  }
  for (StoreTransaction::Step& step : steps) {
    if (absl::Status s = step(txn); !s.ok()) return group_failed(s);
    if (sqlite3_get_autocommit(db.db())) {
      return group_failed(absl::InternalError("group transaction rolled back during a step"));
    }
  }
  if (absl::Status s = txn.WriteHeldEnvelopes(); !s.ok()) return group_failed(s);
  if (absl::Status s = db.Run(sqlite_internal::kCommit); !s.ok()) return group_failed(s);
  commit_count_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

absl::StatusOr<std::optional<v1::Case>> SqliteStore::ReadCase(std::string_view case_id) {
  ReaderPool::Lease db = readers_->Acquire();
  return sqlite_internal::LoadCase(*db, case_id);
}

absl::StatusOr<std::vector<v1::TimelineEvent>> SqliteStore::ReadTimeline(std::string_view case_id) {
  ReaderPool::Lease db = readers_->Acquire();
  absl::StatusOr<Statement> stmt = (*db).Get(sqlite_internal::kSelectTimeline);
  if (!stmt.ok()) return stmt.status();
  stmt->BindText(1, case_id);
  return sqlite_internal::CollectProtos<v1::TimelineEvent>(*stmt);
}

absl::StatusOr<std::vector<v1::Case>> SqliteStore::ListCases(const CaseFilter& filter) {
  // The text depends only on which filters are set, so each shape is
  // prepared once per connection and the planner can pick the index that
  // fits it (agency -> case_parties, state -> cases_by_state, ...).
  const bool by_agency = !filter.agency.empty();
  const bool by_state = filter.state != v1::CASE_STATE_UNSPECIFIED;
  const bool by_track = filter.track != v1::TRACK_UNSPECIFIED;
  const bool by_region = !filter.region_prefix.empty();
  const std::optional<std::string> region_end =
      by_region ? sqlite_internal::PrefixUpperBound(filter.region_prefix) : std::nullopt;
  const bool by_from = filter.updated_from_micros != 0;
  const bool by_to = filter.updated_to_micros != 0;

  std::string sql = "SELECT c.proto FROM ";
  if (by_agency) {
    sql += "case_parties p JOIN cases c ON c.case_id = p.case_id WHERE p.agency = ?1 AND "
           "p.case_id > ?2";
  } else {
    sql += "cases c WHERE c.case_id > ?2";
  }
  if (by_state) sql += " AND c.state = ?3";
  if (by_track) sql += " AND c.track = ?4";
  if (by_region) sql += " AND c.region >= ?5";
  if (region_end) sql += " AND c.region < ?6";
  if (by_from) sql += " AND c.updated_micros >= ?7";
  if (by_to) sql += " AND c.updated_micros < ?8";
  if (filter.overdue_only) {
    sql += " AND c.case_id IN (SELECT case_id FROM case_deadlines WHERE status = 3)";
  }
  sql += by_agency ? " ORDER BY p.case_id LIMIT ?9" : " ORDER BY c.case_id LIMIT ?9";

  ReaderPool::Lease db = readers_->Acquire();
  absl::StatusOr<Statement> stmt = (*db).GetBuilt(sql);
  if (!stmt.ok()) return stmt.status();
  if (by_agency) stmt->BindText(1, filter.agency);
  stmt->BindText(2, filter.after_case_id);
  if (by_state) stmt->BindInt64(3, filter.state);
  if (by_track) stmt->BindInt64(4, filter.track);
  if (by_region) stmt->BindText(5, filter.region_prefix);
  if (region_end) stmt->BindText(6, *region_end);
  if (by_from) stmt->BindInt64(7, filter.updated_from_micros);
  if (by_to) stmt->BindInt64(8, filter.updated_to_micros);
  stmt->BindInt64(9, filter.limit);
  return sqlite_internal::CollectProtos<v1::Case>(*stmt);
}

absl::StatusOr<bool> SqliteStore::CaseHasDocument(std::string_view case_id,
                                                  std::string_view digest_hex) {
  absl::StatusOr<std::vector<v1::TimelineEvent>> timeline = ReadTimeline(case_id);
  if (!timeline.ok()) return timeline.status();
  for (const v1::TimelineEvent& event : *timeline) {
    for (const v1::DocumentRef& document : event.documents()) {
      if (absl::BytesToHexString(document.digest().value()) == digest_hex) return true;
    }
  }
  return false;
}

absl::StatusOr<std::optional<StoredEnvelope>> SqliteStore::ReadEnvelope(
    std::string_view envelope_id) {
  ReaderPool::Lease db = readers_->Acquire();
  return sqlite_internal::LoadEnvelope(*db, envelope_id);
}

absl::StatusOr<std::vector<v1::Delivery>> SqliteStore::ReadPendingDeliveries(
    std::string_view agency, uint64_t after_sequence, uint32_t limit) {
  ReaderPool::Lease db = readers_->Acquire();
  absl::StatusOr<Statement> stmt = (*db).Get(sqlite_internal::kSelectPending);
  if (!stmt.ok()) return stmt.status();
  stmt->BindText(1, agency)
      .BindInt64(2, sqlite_internal::ClampToInt64(after_sequence))
      .BindInt64(3, limit);
  return sqlite_internal::CollectDeliveries(*stmt);
}

absl::StatusOr<std::vector<v1::Delivery>> SqliteStore::ReadUnpublishedDeliveries(
    uint64_t after_sequence, uint32_t limit) {
  ReaderPool::Lease db = readers_->Acquire();
  absl::StatusOr<Statement> stmt = (*db).Get(sqlite_internal::kSelectUnpublished);
  if (!stmt.ok()) return stmt.status();
  stmt->BindInt64(1, sqlite_internal::ClampToInt64(after_sequence)).BindInt64(2, limit);
  return sqlite_internal::CollectDeliveries(*stmt);
}

absl::StatusOr<uint64_t> SqliteStore::CountUnpublishedDeliveries() {
  ReaderPool::Lease db = readers_->Acquire();
  absl::StatusOr<Statement> stmt = (*db).Get(sqlite_internal::kCountUnpublished);
  if (!stmt.ok()) return stmt.status();
  absl::StatusOr<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return uint64_t{0};
  return static_cast<uint64_t>(stmt->Int64(0));
}

absl::StatusOr<uint64_t> SqliteStore::ReadAcknowledgedThrough(std::string_view agency) {
  ReaderPool::Lease db = readers_->Acquire();
  absl::StatusOr<Statement> stmt = (*db).Get(sqlite_internal::kSelectAckedThrough);
  if (!stmt.ok()) return stmt.status();
  stmt->BindText(1, agency);
  absl::StatusOr<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  // max() over no rows is one NULL row.
  if (!*row || stmt->IsNull(0)) return uint64_t{0};
  return static_cast<uint64_t>(stmt->Int64(0));
}

absl::StatusOr<std::vector<v1::AuditEntry>> SqliteStore::ReadAuditEntries(uint64_t from_index,
                                                                          uint32_t limit) {
  ReaderPool::Lease db = readers_->Acquire();
  absl::StatusOr<Statement> stmt = (*db).Get(sqlite_internal::kSelectAuditRange);
  if (!stmt.ok()) return stmt.status();
  stmt->BindInt64(1, sqlite_internal::ClampToInt64(from_index)).BindInt64(2, limit);
  std::vector<v1::AuditEntry> entries;
  for (;;) {
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return entries;
    v1::AuditEntry& entry = entries.emplace_back();
    entry.set_index(static_cast<uint64_t>(stmt->Int64(0)));
    entry.set_record(stmt->Blob(1));
    entry.set_entry_hash(stmt->Blob(2));
  }
}

absl::StatusOr<uint64_t> SqliteStore::ReadAuditSize() {
  ReaderPool::Lease db = readers_->Acquire();
  absl::StatusOr<Statement> stmt = (*db).Get(sqlite_internal::kSelectAuditSize);
  if (!stmt.ok()) return stmt.status();
  absl::StatusOr<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row || stmt->IsNull(0)) return uint64_t{0};
  return static_cast<uint64_t>(stmt->Int64(0)) + 1;
}

absl::StatusOr<std::string> SqliteStore::ReadMerkleNode(uint32_t level, uint64_t index) {
  ReaderPool::Lease db = readers_->Acquire();
  return sqlite_internal::LoadMerkleNode(*db, level, index);
}

absl::StatusOr<std::vector<v1::AuditEntry>> SqliteStore::QueryAudit(const AuditFilter& filter) {
  // As for ListCases: the text depends only on which filters are set.
  const bool by_case = !filter.case_id.empty();
  const bool by_actor = !filter.actor.empty();
  const bool by_action = !filter.action.empty();
  const bool by_outcome = filter.outcome != 0;
  const bool by_from = filter.from_micros != 0;
  const bool by_to = filter.to_micros != 0;
  const bool by_agency = !filter.visible_to_agency.empty();
  const bool by_region = !filter.visible_region_prefix.empty();
  const std::optional<std::string> region_end =
      by_region ? sqlite_internal::PrefixUpperBound(filter.visible_region_prefix) : std::nullopt;
  std::string sql =
      "SELECT a.idx, a.record, a.entry_hash FROM audit_index i JOIN audit a ON a.idx = i.idx WHERE i.idx >= ?1";
  if (by_case) sql += " AND i.case_id = ?2";
  if (by_actor) sql += " AND i.actor = ?3";
  if (by_action) sql += " AND i.action = ?4";
  if (by_outcome) sql += " AND i.outcome = ?5";
  if (by_from) sql += " AND i.time_micros >= ?6";
  if (by_to) sql += " AND i.time_micros < ?7";
  if (by_agency) {
    sql += " AND (i.actor = ?8 OR i.case_id IN (SELECT case_id FROM case_parties WHERE agency = ?8))";
  }
  if (by_region) {
    const std::string upper = region_end ? " AND region < ?10" : "";
    const std::string actor_upper = region_end ? " AND i.actor < ?10" : "";
    sql += " AND (i.actor = '' OR (i.actor >= ?9" + actor_upper +
           ") OR i.case_id IN (SELECT case_id FROM cases WHERE region >= ?9" + upper + "))";
  }
  sql += " ORDER BY i.idx LIMIT ?11";
  ReaderPool::Lease db = readers_->Acquire();
  absl::StatusOr<Statement> stmt = (*db).GetBuilt(sql);
  if (!stmt.ok()) return stmt.status();
  stmt->BindInt64(1, sqlite_internal::ClampToInt64(filter.from_index));
  if (by_case) stmt->BindText(2, filter.case_id);
  if (by_actor) stmt->BindText(3, filter.actor);
  if (by_action) stmt->BindText(4, filter.action);
  if (by_outcome) stmt->BindInt64(5, filter.outcome);
  if (by_from) stmt->BindInt64(6, filter.from_micros);
  if (by_to) stmt->BindInt64(7, filter.to_micros);
  if (by_agency) stmt->BindText(8, filter.visible_to_agency);
  if (by_region) stmt->BindText(9, filter.visible_region_prefix);
  if (region_end) stmt->BindText(10, *region_end);
  stmt->BindInt64(11, filter.limit);
  std::vector<v1::AuditEntry> entries;
  for (;;) {
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return entries;
    v1::AuditEntry& entry = entries.emplace_back();
    entry.set_index(static_cast<uint64_t>(stmt->Int64(0)));
    entry.set_record(stmt->Blob(1));
    entry.set_entry_hash(stmt->Blob(2));
  }
}

absl::StatusOr<std::optional<std::string>> SqliteStore::ReadTreeHead(uint64_t tree_size) {
  ReaderPool::Lease db = readers_->Acquire();
  absl::StatusOr<Statement> stmt = (*db).Get(sqlite_internal::kSelectTreeHead);
  if (!stmt.ok()) return stmt.status();
  stmt->BindInt64(1, sqlite_internal::ClampToInt64(tree_size));
  absl::StatusOr<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(stmt->Blob(0));
}

absl::StatusOr<std::optional<std::string>> SqliteStore::ReadLatestTreeHead() {
  ReaderPool::Lease db = readers_->Acquire();
  absl::StatusOr<Statement> stmt = (*db).Get(sqlite_internal::kSelectLatestTreeHead);
  if (!stmt.ok()) return stmt.status();
  absl::StatusOr<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(stmt->Blob(0));
}

absl::StatusOr<std::vector<RunningDeadline>> SqliteStore::ListRunningDeadlines() {
  ReaderPool::Lease db = readers_->Acquire();
  absl::StatusOr<Statement> stmt = (*db).Get(sqlite_internal::kSelectRunningDeadlines);
  if (!stmt.ok()) return stmt.status();
  std::vector<RunningDeadline> out;
  for (;;) {
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    out.push_back(RunningDeadline{stmt->Text(0), stmt->Text(1), stmt->Int64(2)});
  }
}

namespace {

// The WHERE clause shared by the event queries, over alias `e`; parameters
// ?1..?4 are bound by BindEventQuery.
std::string EventWhere(const EventQuery& query, bool has_region_end) {
  std::string sql = " WHERE 1";
  if (!query.region_prefix.empty()) sql += " AND e.region >= ?1";
  if (has_region_end) sql += " AND e.region < ?2";
  if (query.from_micros != 0) sql += " AND e.time_micros >= ?3";
  if (query.to_micros != 0) sql += " AND e.time_micros < ?4";
  return sql;
}

void BindEventQuery(Statement& stmt, const EventQuery& query, const std::optional<std::string>& region_end) {
  if (!query.region_prefix.empty()) stmt.BindText(1, query.region_prefix);
  if (region_end) stmt.BindText(2, *region_end);
  if (query.from_micros != 0) stmt.BindInt64(3, query.from_micros);
  if (query.to_micros != 0) stmt.BindInt64(4, query.to_micros);
}

}  // namespace

absl::StatusOr<std::vector<EventCount>> SqliteStore::CountCaseEvents(const EventQuery& query) {
  const std::optional<std::string> region_end =
      query.region_prefix.empty() ? std::nullopt : sqlite_internal::PrefixUpperBound(query.region_prefix);
  const std::string sql = "SELECT e.action, e.to_state, e.detail, count(*) FROM case_events e" +
                          EventWhere(query, region_end.has_value()) + " GROUP BY e.action, e.to_state, e.detail";
  ReaderPool::Lease db = readers_->Acquire();
  absl::StatusOr<Statement> stmt = (*db).GetBuilt(sql);
  if (!stmt.ok()) return stmt.status();
  BindEventQuery(*stmt, query, region_end);
  std::vector<EventCount> out;
  for (;;) {
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    out.push_back(EventCount{stmt->Text(0), static_cast<v1::CaseState>(stmt->Int64(1)), stmt->Text(2),
                             static_cast<uint64_t>(stmt->Int64(3))});
  }
}

absl::StatusOr<std::vector<int64_t>> SqliteStore::ReadEventIntervals(const IntervalQuery& query) {
  if (query.end_actions.empty() || query.end_actions.size() > 16) {
    return absl::InvalidArgumentError("an interval query names 1 to 16 end actions");
  }
  const std::optional<std::string> region_end =
      query.events.region_prefix.empty() ? std::nullopt
                                         : sqlite_internal::PrefixUpperBound(query.events.region_prefix);
  // ?5 start action, ?6 end from_state, ?10.. end actions.
  std::string in;
  for (size_t i = 0; i < query.end_actions.size(); ++i) absl::StrAppend(&in, i ? ", " : "", "?", 10 + i);
  std::string sql =
      "SELECT e.time_micros - (SELECT min(s.time_micros) FROM case_events s WHERE s.case_id = e.case_id AND "
      "s.action = ?5) FROM case_events e" +
      EventWhere(query.events, region_end.has_value()) + " AND e.action IN (" + in + ")";
  if (query.end_from_state != v1::CASE_STATE_UNSPECIFIED) sql += " AND e.from_state = ?6";
  ReaderPool::Lease db = readers_->Acquire();
  absl::StatusOr<Statement> stmt = (*db).GetBuilt(sql);
  if (!stmt.ok()) return stmt.status();
  BindEventQuery(*stmt, query.events, region_end);
  stmt->BindText(5, query.start_action);
  if (query.end_from_state != v1::CASE_STATE_UNSPECIFIED) stmt->BindInt64(6, query.end_from_state);
  for (size_t i = 0; i < query.end_actions.size(); ++i) {
    stmt->BindText(static_cast<int>(10 + i), query.end_actions[i]);
  }
  std::vector<int64_t> out;
  for (;;) {
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    // A case whose start event is missing has no interval.
    if (!stmt->IsNull(0)) out.push_back(stmt->Int64(0));
  }
}

absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const SqliteStoreOptions& options) {
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(options);
  if (!store.ok()) return store.status();
  return std::unique_ptr<Store>(*std::move(store));
}

}  // namespace caselink
