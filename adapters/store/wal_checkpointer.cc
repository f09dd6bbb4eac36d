// Checkpoints of the store's WAL, mostly on their own thread and connection.
//
// SQLite's automatic checkpoint runs inside the COMMIT that crossed the
// threshold, on the writer: that group's callers wait for ~1,000 page copies
// and an fsync of the database file, and the next group waits behind them. A
// PASSIVE checkpoint from another connection needs no lock the writer holds
// (it takes the checkpoint lock, the writer the write lock), so the bulk of
// the copying runs beside the writer's commits.
//
// The log only starts again from its beginning when a transaction begins with
// all of it copied, and the writer keeps appending while the thread copies. So
// a round ends with the writer copying the tail its own commits added during
// the round before its next transaction begins: the last few groups' pages
// instead of the whole log. It copies them after it has handed the group's
// answers on, so the group that found the round finished is not answered a
// page copy and a database fsync late.
#include "adapters/store/wal_checkpointer.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"

namespace caselink::sqlite_internal {

absl::StatusOr<std::unique_ptr<WalCheckpointer>> WalCheckpointer::Start(const std::string& path, sqlite3* writer,
                                                                        uint32_t threshold_pages, bool durable) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  std::unique_ptr<sqlite3, DbCloser> db(raw);
  auto failed = [&](absl::string_view what, int code) {
    return absl::UnavailableError(absl::StrCat("WAL checkpoint connection to ", path, ": ", what, ": ",
                                               raw ? sqlite3_errmsg(raw) : sqlite3_errstr(code)));
  };
  if (rc != SQLITE_OK) return failed("open", rc);
  const int sync = sqlite3_exec(raw, durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL", nullptr,
                                nullptr, nullptr);
  if (sync != SQLITE_OK) return failed("synchronous", sync);
  return std::unique_ptr<WalCheckpointer>(
      new WalCheckpointer(writer, std::move(db), std::max<uint32_t>(threshold_pages, 1)));
}

WalCheckpointer::WalCheckpointer(sqlite3* writer, std::unique_ptr<sqlite3, DbCloser> own, uint32_t threshold_pages)
    : writer_(writer), db_(std::move(own)), threshold_pages_(static_cast<int>(threshold_pages)) {
  thread_ = std::thread(&WalCheckpointer::Loop, this);
  pthread_setname_np(thread_.native_handle(), "store-ckpt");
  sqlite3_wal_hook(writer_, &WalCheckpointer::OnCommit, this);
}

WalCheckpointer::~WalCheckpointer() {
  sqlite3_wal_hook(writer_, nullptr, nullptr);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

int WalCheckpointer::OnCommit(void* self, sqlite3* db, const char* schema, int log_pages) {
  auto* checkpointer = static_cast<WalCheckpointer*>(self);
  Phase phase;
  {
    std::lock_guard<std::mutex> lock(checkpointer->mu_);
    phase = checkpointer->phase_;
    if (phase == Phase::kCopied) {
      checkpointer->phase_ = Phase::kIdle;
    } else if (phase == Phase::kIdle && log_pages >= checkpointer->threshold_pages_) {
      checkpointer->phase_ = Phase::kCopying;
    }
  }
  if (phase == Phase::kCopied) {
    // The hook runs inside the COMMIT, before the group is answered: the
    // tail waits for CopyDueTail, after the answers.
    checkpointer->tail_due_ = true;
  } else if (phase == Phase::kIdle && log_pages >= checkpointer->threshold_pages_) {
    checkpointer->wake_.notify_one();
  }
  return SQLITE_OK;
}

void WalCheckpointer::CopyDueTail() {
  if (!tail_due_) return;
  tail_due_ = false;
  const auto start = std::chrono::steady_clock::now();
  // What it cannot copy (a reader still on an old snapshot) the next round
  // takes. A failure leaves the log as it was, and no commit depends on it.
  (void)sqlite3_wal_checkpoint_v2(writer_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  const auto took = std::chrono::steady_clock::now() - start;
  writer_tail_micros_.fetch_add(
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(took).count()),
      std::memory_order_relaxed);
  writer_tails_.fetch_add(1, std::memory_order_relaxed);
}

void WalCheckpointer::Loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [this] { return stopping_ || phase_ == Phase::kCopying; });
      if (stopping_) return;
    }
    // PASSIVE never waits for a lock, so it holds up neither the writer nor
    // a reader. An error (another process checkpointing, an I/O error) leaves
    // the log as it was; the writer's tail and the next round go on from there.
    (void)sqlite3_wal_checkpoint_v2(db_.get(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    background_rounds_.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(mu_);
    phase_ = Phase::kCopied;
  }
}

}  // namespace caselink::sqlite_internal
