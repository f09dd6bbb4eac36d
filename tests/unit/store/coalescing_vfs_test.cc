// Tests of the coalescing WAL VFS: through the store (durability, fewer real
// writes per commit) and on raw connections (readers on the default VFS,
// spilled frames read back, a failed flush failing the commit).
#include "adapters/store/coalescing_vfs.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <future>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "adapters/store/sqlite_store.h"
#include "adapters/store/store.h"

namespace caselink {
namespace {

using sqlite_internal::CoalescingVfsCounters;
using sqlite_internal::GetCoalescingVfsCounters;
using sqlite_internal::kCoalescingVfsName;
using sqlite_internal::RegisterCoalescingVfs;

// A fresh directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "caselink-vfs-test-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return (std::filesystem::path(path_) / name).string(); }

 private:
  std::string path_;
};

// Bytes that depend on the key and the position, so a page from another row,
// another version or a torn write does not match.
std::string Pattern(int64_t key, size_t size, int version = 0) {
  std::string bytes(size, '\0');
  uint32_t x = static_cast<uint32_t>(key) * 2654435761u + static_cast<uint32_t>(version) * 40503u + 1;
  for (size_t i = 0; i < size; ++i) {
    x = x * 1664525u + 1013904223u;
    bytes[i] = static_cast<char>(x >> 24);
  }
  return bytes;
}

CoalescingVfsCounters Delta(const CoalescingVfsCounters& before) {
  CoalescingVfsCounters now = GetCoalescingVfsCounters();
  CoalescingVfsCounters d;
  d.writes = now.writes - before.writes;
  d.flushes = now.flushes - before.flushes;
  d.flushed_bytes = now.flushed_bytes - before.flushed_bytes;
  d.reads = now.reads - before.reads;
  return d;
}

StoredEnvelope MakeEnvelope(int n, size_t payload) {
  StoredEnvelope e;
  e.envelope_id = absl::StrCat("env-", n);
  e.envelope_digest = Pattern(n, 32, 1);
  e.sender_agency = "510100.epb";
  e.case_id = absl::StrCat("510100-EPB-2026-", n);
  e.signed_envelope = Pattern(n, payload);
  e.signed_receipt = Pattern(n, 200, 2);
  return e;
}

std::unique_ptr<SqliteStore> OpenStore(const std::string& dir, bool durable = true) {
  SqliteStoreOptions options;
  options.data_dir = dir;
  options.durable = durable;
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(options);
  if (!store.ok()) {
    ADD_FAILURE() << "open " << dir << ": " << store.status();
    return nullptr;
  }
  return *std::move(store);
}

// Writes envelopes [first, first + count) as ONE group: a first work holds the
// writer until every other work is queued behind it.
void WriteGroup(Store& store, int first, int count, size_t payload) {
  std::promise<void> entered;
  std::latch release(1);
  std::vector<std::promise<absl::Status>> results(count + 1);
  store.Write(
      [&](StoreTransaction&) {
        entered.set_value();
        release.wait();
        return absl::OkStatus();
      },
      [&](absl::Status s) { results[0].set_value(s); });
  entered.get_future().wait();
  for (int i = 0; i < count; ++i) {
    store.Write([n = first + i, payload](StoreTransaction& txn) { return txn.PutEnvelope(MakeEnvelope(n, payload)); },
                [&results, i](absl::Status s) { results[i + 1].set_value(s); });
  }
  release.count_down();
  for (auto& result : results) {
    absl::Status s = result.get_future().get();
    EXPECT_TRUE(s.ok()) << s;
  }
}

void ExpectEnvelopes(Store& store, int first, int count, size_t payload) {
  for (int n = first; n < first + count; ++n) {
    absl::StatusOr<std::optional<StoredEnvelope>> read = store.ReadEnvelope(absl::StrCat("env-", n));
    ASSERT_TRUE(read.ok()) << read.status();
    ASSERT_TRUE(read->has_value()) << "env-" << n << " missing";
    const StoredEnvelope expected = MakeEnvelope(n, payload);
    EXPECT_EQ((*read)->case_id, expected.case_id);
    EXPECT_TRUE((*read)->signed_envelope == expected.signed_envelope) << "env-" << n << " payload differs";
    EXPECT_TRUE((*read)->signed_receipt == expected.signed_receipt) << "env-" << n << " receipt differs";
  }
}

TEST(CoalescingStoreTest, GroupsAndACacheSpillingGroupSurviveReopen) {
  TempDir dir;
  constexpr int kGroups = 20;
  constexpr int kPerGroup = 30;
  constexpr size_t kSmall = 3000;
  // 40 MiB in one transaction: more than the writer's 32 MiB page cache, so
  // SQLite spills frames to the WAL before the commit.
  constexpr int kBig = 40;
  constexpr size_t kBigPayload = size_t{1} << 20;
  const CoalescingVfsCounters before = GetCoalescingVfsCounters();
  {
    std::unique_ptr<SqliteStore> store = OpenStore(dir.path());
    ASSERT_NE(store, nullptr);
    for (int g = 0; g < kGroups; ++g) WriteGroup(*store, g * kPerGroup, kPerGroup, kSmall);
    WriteGroup(*store, 100000, kBig, kBigPayload);
    // Readers (the default VFS) see the groups before the close.
    ExpectEnvelopes(*store, 0, kGroups * kPerGroup, kSmall);
  }
  const CoalescingVfsCounters d = Delta(before);
  EXPECT_GT(d.writes, 0u) << "the durable store's writer does not use the coalescing VFS";
  EXPECT_GE(d.flushed_bytes, kBig * kBigPayload);

  std::unique_ptr<SqliteStore> store = OpenStore(dir.path());
  ASSERT_NE(store, nullptr);
  ExpectEnvelopes(*store, 0, kGroups * kPerGroup, kSmall);
  ExpectEnvelopes(*store, 100000, kBig, kBigPayload);
}

TEST(CoalescingStoreTest, AGroupCommitIsWrittenInAFewLargeWrites) {
  TempDir dir;
  std::unique_ptr<SqliteStore> store = OpenStore(dir.path());
  ASSERT_NE(store, nullptr);
  WriteGroup(*store, 0, 1, 100);  // the WAL and its header exist before we count

  const uint64_t commits_before = store->CommitCount();
  const CoalescingVfsCounters before = GetCoalescingVfsCounters();
  // 60 works of 8 KiB: about 150 pages, each a frame SQLite writes as a
  // header and a page.
  WriteGroup(*store, 1, 60, 8192);
  const CoalescingVfsCounters d = Delta(before);
  const uint64_t commits = store->CommitCount() - commits_before;

  EXPECT_EQ(commits, 2u);  // the holding work's group, then the 60
  EXPECT_GE(d.writes, 2u * 120u);
  EXPECT_GE(d.flushed_bytes, 60u * 8192u);
  // Each commit's run goes out at the sync in pieces of about 124 KiB (one
  // more per commit if a WAL restart starts a new run at the header), where
  // SQLite made two writes per 4 KiB page.
  EXPECT_LE(d.flushes, 2 * commits + d.flushed_bytes / (120 * 1024)) << d.writes << " writes from SQLite";
  EXPECT_LE(10 * d.flushes, d.writes);
  ExpectEnvelopes(*store, 1, 60, 8192);
}

TEST(CoalescingStoreTest, NotUsedWhenCommitsAreNotSynced) {
  // Under synchronous=NORMAL a commit is published without a sync, when
  // frames could still be buffered: such a store must write directly.
  TempDir dir;
  const CoalescingVfsCounters before = GetCoalescingVfsCounters();
  {
    std::unique_ptr<SqliteStore> store = OpenStore(dir.path(), /*durable=*/false);
    ASSERT_NE(store, nullptr);
    WriteGroup(*store, 0, 20, 5000);
    ExpectEnvelopes(*store, 0, 20, 5000);
  }
  EXPECT_EQ(Delta(before).writes, 0u);
}

// A raw connection with helpers that fail the test on any SQLite error.
class Db {
 public:
  Db(const std::string& path, int flags, const char* vfs) {
    sqlite3* raw = nullptr;
    rc_ = sqlite3_open_v2(path.c_str(), &raw, flags, vfs);
    db_ = raw;
    EXPECT_EQ(rc_, SQLITE_OK) << "open " << path << ": " << sqlite3_errstr(rc_);
    if (db_ != nullptr) sqlite3_busy_timeout(db_, 10000);
  }
  ~Db() { sqlite3_close_v2(db_); }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  sqlite3* get() const { return db_; }

  // Runs SQL; returns SQLite's code so a test can expect failures.
  int Exec(const std::string& sql) {
    char* error = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
    if (error != nullptr) last_error_ = error;
    sqlite3_free(error);
    return rc;
  }
  void MustExec(const std::string& sql) { ASSERT_EQ(Exec(sql), SQLITE_OK) << sql << ": " << last_error_; }

  int64_t Int(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sqlite3_errmsg(db_);
    int64_t value = -1;
    const int rc = sqlite3_step(stmt);
    EXPECT_EQ(rc, SQLITE_ROW) << sql << ": " << sqlite3_errmsg(db_);
    if (rc == SQLITE_ROW) value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return value;
  }
  std::string Text(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sqlite3_errmsg(db_);
    std::string value;
    if (sqlite3_step(stmt) == SQLITE_ROW) value = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    return value;
  }

  // Inserts (or replaces) row `id` with Pattern(id, size, version).
  int Put(int64_t id, size_t size, int version) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v2(db_, "INSERT OR REPLACE INTO t(id, version, payload) VALUES(?1, ?2, ?3)", -1,
                                &stmt, nullptr);
    if (rc != SQLITE_OK) return rc;
    const std::string payload = Pattern(id, size, version);
    sqlite3_bind_int64(stmt, 1, id);
    sqlite3_bind_int(stmt, 2, version);
    sqlite3_bind_blob(stmt, 3, payload.data(), static_cast<int>(payload.size()), SQLITE_TRANSIENT);
    rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
  }

  // Checks every row of t against its pattern; returns the row count, or -1
  // (with a failure) when a row is wrong.
  int64_t CheckRows(size_t size) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, "SELECT id, version, payload FROM t ORDER BY id", -1, &stmt, nullptr),
              SQLITE_OK);
    int64_t rows = 0;
    bool whole = true;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      const int64_t id = sqlite3_column_int64(stmt, 0);
      const int version = sqlite3_column_int(stmt, 1);
      const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt, 2));
      const std::string payload(data == nullptr ? "" : std::string(data, sqlite3_column_bytes(stmt, 2)));
      if (payload != Pattern(id, size, version)) {
        ADD_FAILURE() << "row " << id << " (version " << version << ") is not what was written";
        whole = false;
      }
      ++rows;
    }
    EXPECT_EQ(rc, SQLITE_DONE) << sqlite3_errmsg(db_);
    sqlite3_finalize(stmt);
    return whole ? rows : -1;
  }

  const std::string& last_error() const { return last_error_; }

 private:
  sqlite3* db_ = nullptr;
  int rc_ = SQLITE_OK;
  std::string last_error_;
};

constexpr int kWriterFlags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;

// A writer through the shim with the store's settings: WAL, synchronous=FULL.
std::unique_ptr<Db> OpenWriter(const std::string& path) {
  EXPECT_TRUE(RegisterCoalescingVfs().ok());
  auto db = std::make_unique<Db>(path, kWriterFlags, kCoalescingVfsName);
  EXPECT_EQ(db->Text("PRAGMA journal_mode=WAL"), "wal");
  db->MustExec("PRAGMA synchronous=FULL");
  return db;
}

TEST(CoalescingVfsTest, RegistersOnceUnderItsOwnNameAndNotAsDefault) {
  ASSERT_TRUE(RegisterCoalescingVfs().ok());
  ASSERT_TRUE(RegisterCoalescingVfs().ok());
  sqlite3_vfs* shim = sqlite3_vfs_find(kCoalescingVfsName);
  ASSERT_NE(shim, nullptr);
  sqlite3_vfs* fallback = sqlite3_vfs_find(nullptr);
  ASSERT_NE(fallback, nullptr);
  EXPECT_NE(fallback, shim);
  EXPECT_STREQ(fallback->zName, "unix");
}

TEST(CoalescingVfsTest, ReaderOnTheDefaultVfsSeesEveryCommitWhole) {
  TempDir dir;
  const std::string path = dir.File("t.db");
  std::unique_ptr<Db> writer = OpenWriter(path);
  writer->MustExec(
      "CREATE TABLE t(id INTEGER PRIMARY KEY, version INTEGER NOT NULL, payload BLOB NOT NULL);"
      "CREATE TABLE meta(k INTEGER PRIMARY KEY, commits INTEGER NOT NULL);"
      "INSERT INTO meta VALUES(1, 0);");

  constexpr int kCommits = 150;
  constexpr int kRowsPerCommit = 4;
  constexpr size_t kPayload = 5000;  // two pages a row: frames span several writes
  std::atomic<bool> writer_done{false};
  std::atomic<int> writer_errors{0};
  std::thread writing([&] {
    for (int c = 1; c <= kCommits; ++c) {
      bool ok = writer->Exec("BEGIN IMMEDIATE") == SQLITE_OK;
      for (int r = 0; ok && r < kRowsPerCommit; ++r) {
        ok = writer->Put((c - 1) * kRowsPerCommit + r, kPayload, 0) == SQLITE_OK;
      }
      ok = ok && writer->Exec(absl::StrCat("UPDATE meta SET commits = ", c)) == SQLITE_OK;
      ok = ok && writer->Exec("COMMIT") == SQLITE_OK;
      if (!ok) ++writer_errors;
    }
    writer_done = true;
  });

  Db reader(path, SQLITE_OPEN_READONLY, nullptr);
  int64_t last_seen = 0;
  int passes = 0;
  bool final_pass = false;
  while (!final_pass) {
    // Read after the writer finished once more, so the last commit is checked too.
    final_pass = writer_done.load();
    ASSERT_EQ(reader.Exec("BEGIN"), SQLITE_OK) << reader.last_error();
    const int64_t commits = reader.Int("SELECT commits FROM meta");
    const int64_t rows = reader.CheckRows(kPayload);
    ASSERT_EQ(reader.Exec("COMMIT"), SQLITE_OK) << reader.last_error();
    ASSERT_EQ(rows, commits * kRowsPerCommit) << "a commit is partly visible";
    ASSERT_GE(commits, last_seen) << "a committed row disappeared";
    last_seen = commits;
    ++passes;
  }
  writing.join();
  EXPECT_EQ(writer_errors.load(), 0);
  EXPECT_EQ(last_seen, kCommits);
  EXPECT_EQ(reader.Text("PRAGMA integrity_check"), "ok");
  RecordProperty("reader_passes", passes);
}

TEST(CoalescingVfsTest, SpilledAndRewrittenFramesAreReadBackAndDurable) {
  TempDir dir;
  const std::string path = dir.File("t.db");
  constexpr int kRows = 300;
  constexpr size_t kPayload = 2000;
  {
    std::unique_ptr<Db> writer = OpenWriter(path);
    // A page cache of a few pages forces SQLite to write frames to the WAL
    // mid-transaction and read them back when it changes those pages again.
    writer->MustExec("PRAGMA cache_size=8");
    writer->MustExec("CREATE TABLE t(id INTEGER PRIMARY KEY, version INTEGER NOT NULL, payload BLOB NOT NULL)");
    const CoalescingVfsCounters before = GetCoalescingVfsCounters();
    writer->MustExec("BEGIN");
    for (int i = 0; i < kRows; ++i) ASSERT_EQ(writer->Put(i, kPayload, 1), SQLITE_OK);
    for (int i = 0; i < kRows; ++i) ASSERT_EQ(writer->Put(i, kPayload, 2), SQLITE_OK);
    const CoalescingVfsCounters mid = Delta(before);
    EXPECT_GT(mid.reads, 0u) << "the transaction did not read spilled frames back";
    EXPECT_GT(mid.flushes, 0u);
    writer->MustExec("COMMIT");

    Db reader(path, SQLITE_OPEN_READONLY, nullptr);
    EXPECT_EQ(reader.Int("SELECT count(*) FROM t WHERE version = 2"), kRows);
    EXPECT_EQ(reader.CheckRows(kPayload), kRows);
    EXPECT_EQ(reader.Text("PRAGMA integrity_check"), "ok");
  }
  Db reopened(path, kWriterFlags, nullptr);
  EXPECT_EQ(reopened.Int("SELECT count(*) FROM t WHERE version = 2"), kRows);
  EXPECT_EQ(reopened.CheckRows(kPayload), kRows);
  EXPECT_EQ(reopened.Text("PRAGMA integrity_check"), "ok");
}

// Lowers the process's file size limit so writes past `bytes` fail with EFBIG
// (SIGXFSZ ignored); restores both on destruction.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    old_handler_ = signal(SIGXFSZ, SIG_IGN);
    EXPECT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit_), 0);
    rlimit limit = old_limit_;
    limit.rlim_cur = bytes;
    EXPECT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &old_limit_);
    signal(SIGXFSZ, old_handler_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit old_limit_{};
  sighandler_t old_handler_ = SIG_DFL;
};

TEST(CoalescingVfsTest, AFailedFlushFailsTheCommitAndLosesNothingCommitted) {
  TempDir dir;
  const std::string path = dir.File("t.db");
  const std::string wal = path + "-wal";
  constexpr size_t kPayload = 3000;
  std::unique_ptr<Db> writer = OpenWriter(path);
  // No checkpoint moves frames into the database file behind the test's back.
  writer->MustExec("PRAGMA wal_autocheckpoint=0");
  writer->MustExec("CREATE TABLE t(id INTEGER PRIMARY KEY, version INTEGER NOT NULL, payload BLOB NOT NULL)");
  writer->MustExec("BEGIN");
  for (int i = 0; i < 10; ++i) ASSERT_EQ(writer->Put(i, kPayload, 0), SQLITE_OK);
  writer->MustExec("COMMIT");
  const uintmax_t wal_size = std::filesystem::file_size(wal);
  ASSERT_GT(wal_size, 0u);

  const CoalescingVfsCounters before = GetCoalescingVfsCounters();
  int commit_rc;
  {
    // Room for less than one more frame: the commit's flush hits the limit.
    FileSizeLimit limit(wal_size + 2048);
    ASSERT_EQ(writer->Exec("BEGIN"), SQLITE_OK);
    for (int i = 10; i < 30; ++i) ASSERT_EQ(writer->Put(i, kPayload, 0), SQLITE_OK);
    commit_rc = writer->Exec("COMMIT");
  }
  const CoalescingVfsCounters d = Delta(before);
  EXPECT_NE(commit_rc, SQLITE_OK) << "the commit succeeded although its frames could not be written";
  EXPECT_TRUE((commit_rc & 0xff) == SQLITE_IOERR || (commit_rc & 0xff) == SQLITE_FULL)
      << sqlite3_errstr(commit_rc);
  EXPECT_GT(d.writes, d.flushes) << "the frames were not buffered, so this tested no deferred flush";
  EXPECT_GE(d.flushes, 1u);
  if (!sqlite3_get_autocommit(writer->get())) writer->MustExec("ROLLBACK");

  {
    Db reader(path, SQLITE_OPEN_READONLY, nullptr);
    EXPECT_EQ(reader.CheckRows(kPayload), 10);
    EXPECT_EQ(reader.Text("PRAGMA integrity_check"), "ok");
  }
  // With room again the same connection commits, over the failed attempt's frames.
  writer->MustExec("BEGIN");
  for (int i = 10; i < 30; ++i) ASSERT_EQ(writer->Put(i, kPayload, 1), SQLITE_OK);
  writer->MustExec("COMMIT");
  writer.reset();

  Db reopened(path, kWriterFlags, nullptr);
  EXPECT_EQ(reopened.CheckRows(kPayload), 30);
  EXPECT_EQ(reopened.Int("SELECT count(*) FROM t WHERE version = 1"), 20);
  EXPECT_EQ(reopened.Text("PRAGMA integrity_check"), "ok");
}

}  // namespace
}  // namespace caselink
