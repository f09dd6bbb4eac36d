// Group commit of the SQLite store (WAL, synchronous=FULL: every commit is
// fsynced) with N small works kept in flight, next to raw SQLite baselines
// measured in the same run on the same disk: one INSERT + COMMIT per row
// (an fsync per write) and N INSERTs in one transaction (the ideal group).
//
//   store_bench [benchmark flags...]
//
// Each write stores an accepted envelope (1 KiB signed envelope, 300-byte
// receipt) as the gateway does once per handoff.
#include <sqlite3.h>
#include <stdlib.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <semaphore>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "adapters/store/sqlite_store.h"
#include "benchmark/benchmark.h"
#include "tests/bench/bench_support.h"

namespace caselink {
namespace {

using bench::Die;
using bench::RateCollector;
using bench::TempDir;

const std::string& SignedEnvelopeBytes() {
  static const std::string* const bytes = new std::string(1024, 'e');
  return *bytes;
}
const std::string& ReceiptBytes() {
  static const std::string* const bytes = new std::string(300, 'r');
  return *bytes;
}

StoredEnvelope Envelope(uint64_t n) {
  StoredEnvelope e;
  e.envelope_id = absl::StrCat("bench-", n);
  e.envelope_digest = std::string(32, static_cast<char>(n));
  e.sender_agency = "510100.epb";
  e.case_id = absl::StrCat("510100-EPB-BENCH-", n);
  e.signed_envelope = SignedEnvelopeBytes();
  e.signed_receipt = ReceiptBytes();
  return e;
}

// Store::Write with `range(0)` works in flight: each finished write lets the
// next one in, so the writer always finds what queued during its last fsync.
void BM_GroupCommit(benchmark::State& state) {
  const int in_flight = static_cast<int>(state.range(0));
  TempDir dir;
  SqliteStoreOptions options;
  options.data_dir = dir.path();
  options.durable = true;  // synchronous=FULL
  options.max_batch = 256;
  absl::StatusOr<std::unique_ptr<SqliteStore>> opened = SqliteStore::Open(options);
  if (!opened.ok()) Die(opened.status().ToString());
  SqliteStore& store = **opened;
  std::counting_semaphore<1 << 16> slots(in_flight);
  std::atomic<uint64_t> failures{0};
  uint64_t n = 0;
  const uint64_t commits_before = store.CommitCount();
  for (auto _ : state) {
    slots.acquire();
    StoredEnvelope e = Envelope(n++);
    store.Write([e = std::move(e)](StoreTransaction& txn) { return txn.PutEnvelope(e); },
                [&](absl::Status s) {
                  if (!s.ok()) failures.fetch_add(1);
                  slots.release();
                });
  }
  // Drain: what is still in flight belongs to the timed writes.
  for (int i = 0; i < in_flight; ++i) slots.acquire();
  const uint64_t commits = store.CommitCount() - commits_before;
  store.Shutdown();
  if (failures.load() > 0) state.SkipWithError("a write failed");
  state.SetItemsProcessed(state.iterations());
  state.counters["commits_per_s"] = benchmark::Counter(static_cast<double>(commits), benchmark::Counter::kIsRate);
  state.counters["writes_per_commit"] = commits > 0 ? static_cast<double>(state.iterations()) / commits : 0;
}
BENCHMARK(BM_GroupCommit)->Arg(1)->Arg(8)->Arg(64)->Arg(256)->UseRealTime()->Unit(benchmark::kMicrosecond);

// --- Raw SQLite on the same kind of rows. ---

struct Db {
  sqlite3* db = nullptr;
  sqlite3_stmt* insert = nullptr;
  ~Db() {
    sqlite3_finalize(insert);
    sqlite3_close(db);
  }
  void Exec(const char* sql) {
    char* error = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
      std::string message = error ? error : "unknown";
      sqlite3_free(error);
      Die(absl::StrCat(sql, ": ", message));
    }
  }
  void Insert(uint64_t n) {
    const StoredEnvelope e = Envelope(n);
    sqlite3_reset(insert);
    sqlite3_bind_text(insert, 1, e.envelope_id.data(), static_cast<int>(e.envelope_id.size()), SQLITE_TRANSIENT);
    sqlite3_bind_blob(insert, 2, e.envelope_digest.data(), static_cast<int>(e.envelope_digest.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(insert, 3, e.sender_agency.data(), static_cast<int>(e.sender_agency.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(insert, 4, e.case_id.data(), static_cast<int>(e.case_id.size()), SQLITE_TRANSIENT);
    sqlite3_bind_blob(insert, 5, e.signed_envelope.data(), static_cast<int>(e.signed_envelope.size()), SQLITE_STATIC);
    sqlite3_bind_blob(insert, 6, e.signed_receipt.data(), static_cast<int>(e.signed_receipt.size()), SQLITE_STATIC);
    if (sqlite3_step(insert) != SQLITE_DONE) Die(absl::StrCat("insert: ", sqlite3_errmsg(db)));
  }
};

std::unique_ptr<Db> OpenRaw(const std::string& dir) {
  auto d = std::make_unique<Db>();
  if (sqlite3_open((dir + "/raw.db").c_str(), &d->db) != SQLITE_OK) Die("cannot open the raw database");
  d->Exec("PRAGMA journal_mode=WAL");
  d->Exec("PRAGMA synchronous=FULL");
  d->Exec(
      "CREATE TABLE envelopes(envelope_id TEXT PRIMARY KEY, digest BLOB NOT NULL, sender TEXT NOT NULL,"
      " case_id TEXT NOT NULL, signed_envelope BLOB NOT NULL, signed_receipt BLOB NOT NULL)");
  const char* sql = "INSERT INTO envelopes VALUES(?1, ?2, ?3, ?4, ?5, ?6)";
  if (sqlite3_prepare_v2(d->db, sql, -1, &d->insert, nullptr) != SQLITE_OK) Die("prepare failed");
  return d;
}

// One row per transaction: every write pays a WAL fsync.
void BM_RawSqliteCommitPerRow(benchmark::State& state) {
  TempDir dir;
  std::unique_ptr<Db> db = OpenRaw(dir.path());
  uint64_t n = 0;
  for (auto _ : state) {
    db->Exec("BEGIN IMMEDIATE");
    db->Insert(n++);
    db->Exec("COMMIT");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RawSqliteCommitPerRow)->UseRealTime()->Unit(benchmark::kMicrosecond);

// `range(0)` rows per transaction, on one thread: the upper bound of grouping.
void BM_RawSqliteBatch(benchmark::State& state) {
  const int rows = static_cast<int>(state.range(0));
  TempDir dir;
  std::unique_ptr<Db> db = OpenRaw(dir.path());
  uint64_t n = 0;
  for (auto _ : state) {
    db->Exec("BEGIN IMMEDIATE");
    for (int i = 0; i < rows; ++i) db->Insert(n++);
    db->Exec("COMMIT");
  }
  state.SetItemsProcessed(static_cast<int64_t>(n));
}
BENCHMARK(BM_RawSqliteBatch)->Arg(1)->Arg(8)->Arg(64)->Arg(256)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace caselink

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  caselink::bench::RateCollector r;
  benchmark::RunSpecifiedBenchmarks(&r);
  benchmark::Shutdown();
  const double per_row = r.Rate("BM_RawSqliteCommitPerRow/real_time");
  std::printf("\nraw SQLite, one row per COMMIT (an fsync each): %.0f writes/s\n", per_row);
  std::printf("%-10s %12s %12s %14s %14s %16s\n", "in flight", "writes/s", "commits/s", "vs 1 row/txn",
              "raw N rows/s", "vs raw N rows");
  for (int n : {1, 8, 64, 256}) {
    const std::string ours = absl::StrCat("BM_GroupCommit/", n, "/real_time");
    const std::string raw = absl::StrCat("BM_RawSqliteBatch/", n, "/real_time");
    const double w = r.Rate(ours);
    const double b = r.Rate(raw);
    std::printf("%-10d %12.0f %12.0f %14.2f %14.0f %16.3f\n", n, w, r.Counter(ours, "commits_per_s"), per_row > 0 ? w / per_row : 0, b,
                b > 0 ? w / b : 0);
  }
  return 0;
}
