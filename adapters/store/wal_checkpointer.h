// Copies most of the store's write-ahead log back into the database on a thread
// of its own, so that checkpoints (page copies and an fsync of the database
// file) mostly stay out of the writer's commits and out of callers' latency.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace caselink::sqlite_internal {

class WalCheckpointer {
 public:
  // Opens a second connection to the database at `path` and takes over
  // checkpointing from `writer`, replacing SQLite's automatic checkpoint (a
  // WAL hook). `durable` gives the checkpoint connection synchronous=FULL, as
  // the writer has: the database file is synced before the log counts as
  // copied. `writer` must outlive this object and must not commit while it is
  // being created or destroyed.
  static absl::StatusOr<std::unique_ptr<WalCheckpointer>> Start(const std::string& path, sqlite3* writer,
                                                                uint32_t threshold_pages, bool durable);

  WalCheckpointer(const WalCheckpointer&) = delete;
  WalCheckpointer& operator=(const WalCheckpointer&) = delete;
  // Stops the thread and unhooks the writer: the store is closing, and
  // closing the last connection checkpoints the log.
  ~WalCheckpointer();

  // On the writer thread, between transactions: copies the tail of a round
  // the checkpoint thread has finished, if a commit since found one. The
  // writer calls it after answering each group and before its next begins.
  void CopyDueTail();

  // Rounds copied by the checkpoint thread, and tails copied by the writer
  // with the writer's time in them.
  uint64_t background_rounds() const { return background_rounds_.load(std::memory_order_relaxed); }
  uint64_t writer_tails() const { return writer_tails_.load(std::memory_order_relaxed); }
  uint64_t writer_tail_micros() const { return writer_tail_micros_.load(std::memory_order_relaxed); }

 private:
  struct DbCloser {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  };
  enum class Phase { kIdle, kCopying, kCopied };

  WalCheckpointer(sqlite3* writer, std::unique_ptr<sqlite3, DbCloser> own, uint32_t threshold_pages);

  // sqlite3_wal_hook callback, on the writer thread after each commit.
  static int OnCommit(void* self, sqlite3* db, const char* schema, int log_pages);
  void Loop();

  sqlite3* const writer_;
  const std::unique_ptr<sqlite3, DbCloser> db_;  // used by the checkpoint thread only
  const int threshold_pages_;

  std::mutex mu_;
  std::condition_variable wake_;
  Phase phase_ = Phase::kIdle;  // guarded by mu_
  bool stopping_ = false;       // guarded by mu_
  bool tail_due_ = false;       // writer thread only: set in OnCommit, cleared by CopyDueTail

  std::atomic<uint64_t> background_rounds_{0};
  std::atomic<uint64_t> writer_tails_{0};
  std::atomic<uint64_t> writer_tail_micros_{0};
  std::thread thread_;
};

}  // namespace caselink::sqlite_internal
