// Private header of the SQLite store: the concrete class, visible to the store's
// own tests (for CommitCount); the rest of CaseLink uses store.h only.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "adapters/store/store.h"

namespace caselink {

// Defined in sqlite_store.cc; only pointers to them appear here.
namespace sqlite_internal {
class Connection;
class ReaderPool;
class WalCheckpointer;
}  // namespace sqlite_internal

// A Store on one SQLite database in WAL mode. A single writer thread owns the
// write connection and commits queued works in groups (one fsync per group);
// a completion thread runs the groups' done callbacks in commit order, so the
// writer starts the next group instead of answering callers; readers borrow
// connections from a small read-only pool. SQLite types stay inside
// sqlite_store.cc: the nested classes are only declared here.
class SqliteStore : public Store {
 public:
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const SqliteStoreOptions& options);

  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;
  ~SqliteStore() override;

  void Write(Work work, Done done) override;

  absl::StatusOr<std::optional<v1::Case>> ReadCase(std::string_view case_id) override;
  absl::StatusOr<std::vector<v1::TimelineEvent>> ReadTimeline(std::string_view case_id) override;
  absl::StatusOr<std::vector<v1::Case>> ListCases(const CaseFilter& filter) override;
  absl::StatusOr<bool> CaseHasDocument(std::string_view case_id,
                                       std::string_view digest_hex) override;
  absl::StatusOr<std::optional<StoredEnvelope>> ReadEnvelope(std::string_view envelope_id) override;
  absl::StatusOr<std::vector<v1::Delivery>> ReadPendingDeliveries(std::string_view agency,
                                                                 uint64_t after_sequence,
                                                                 uint32_t limit) override;
  absl::StatusOr<uint64_t> ReadAcknowledgedThrough(std::string_view agency) override;
  absl::StatusOr<std::vector<v1::Delivery>> ReadUnpublishedDeliveries(uint64_t after_sequence,
                                                                     uint32_t limit) override;
  absl::StatusOr<uint64_t> CountUnpublishedDeliveries() override;
  absl::StatusOr<std::vector<v1::AuditEntry>> ReadAuditEntries(uint64_t from_index,
                                                               uint32_t limit) override;
  absl::StatusOr<uint64_t> ReadAuditSize() override;
  absl::StatusOr<std::string> ReadMerkleNode(uint32_t level, uint64_t index) override;
  absl::StatusOr<std::vector<v1::AuditEntry>> QueryAudit(const AuditFilter& filter) override;
  absl::StatusOr<std::optional<std::string>> ReadTreeHead(uint64_t tree_size) override;
  absl::StatusOr<std::optional<std::string>> ReadLatestTreeHead() override;
  absl::StatusOr<std::vector<RunningDeadline>> ListRunningDeadlines() override;
  absl::StatusOr<std::vector<EventCount>> CountCaseEvents(const EventQuery& query) override;
  absl::StatusOr<std::vector<int64_t>> ReadEventIntervals(const IntervalQuery& query) override;

  void Shutdown() override;

  // Number of group transactions committed so far (tests check that
  // concurrent writes share commits).
  virtual uint64_t CommitCount() const;
  // Groups run a second time, with a savepoint per work, because a work
  // failed after it wrote.
  uint64_t RerunCount() const;
  // Checkpoint rounds of the checkpoint thread, and tails of them the writer
  // copied (both 0 when the writer checkpoints by itself).
  uint64_t BackgroundCheckpoints() const;
  uint64_t WriterCheckpointTails() const;
  // Where the writer thread's time went, in monotonic microseconds since the
  // store opened: running groups (BEGIN to COMMIT), and copying checkpoint
  // tails between them. Benchmarks read it before and after a run; the rest of
  // the writer's time it waits for work. Groups and tails that took longer
  // than kSlowMicros are also counted apart: every answer waits for them, so
  // they are where a latency tail can come from.
  struct WriterActivity {
    static constexpr uint64_t kSlowMicros = 10'000;
    uint64_t commits = 0;
    uint64_t group_micros = 0;
    uint64_t slow_groups = 0;
    uint64_t slow_group_micros = 0;
    uint64_t tails = 0;
    uint64_t tail_micros = 0;
    uint64_t slow_tails = 0;
    uint64_t slow_tail_micros = 0;
    uint64_t background_rounds = 0;
  };
  WriterActivity Activity() const;
  // The writer thread's nice value as it runs, once it has started (see
  // SqliteStoreOptions::writer_nice).
  int WriterNice() const;

 private:
  struct Item {
    Work work;
    Done done;
  };

  SqliteStore(const SqliteStoreOptions& options,
              std::unique_ptr<sqlite_internal::Connection> writer,
              std::unique_ptr<sqlite_internal::ReaderPool> readers,
              std::unique_ptr<sqlite_internal::WalCheckpointer> checkpointer);

  // One committed (or failed) group's callbacks with their results.
  struct Completion {
    std::vector<Done> done;
    std::vector<absl::Status> results;
  };

  void WriterLoop();
  void CompletionLoop();
  // Runs one group: BEGIN, the works, their steps, COMMIT. Fills `results`
  // with each work's own status; returns non-OK if the group as a whole failed.
  absl::Status RunBatch(std::vector<Item>& batch, std::vector<absl::Status>& results);
  // One attempt at a group, with or without a savepoint around each work.
  // Without them it returns false, having rolled back, when a work failed
  // after it wrote.
  absl::StatusOr<bool> TryGroup(std::vector<Item>& batch, std::vector<absl::Status>& results,
                                bool savepoints);

  const uint32_t max_batch_;
  const int writer_nice_;
  // What the writer runs at: the opening thread's value until the writer has
  // started and set its own.
  std::atomic<int> writer_nice_actual_;
  std::unique_ptr<sqlite_internal::Connection> writer_;  // used by the writer thread only
  std::unique_ptr<sqlite_internal::ReaderPool> readers_;
  // After writer_, so it is stopped (and unhooked) before the writer closes.
  std::unique_ptr<sqlite_internal::WalCheckpointer> checkpointer_;

  std::mutex mu_;
  std::condition_variable work_ready_;
  std::deque<Item> queue_;  // guarded by mu_
  bool stopping_ = false;   // guarded by mu_

  std::mutex completion_mu_;
  std::condition_variable completion_ready_;
  std::deque<Completion> completions_;  // guarded by completion_mu_
  bool writer_done_ = false;            // guarded by completion_mu_

  std::atomic<uint64_t> commit_count_{0};
  std::atomic<uint64_t> rerun_count_{0};
  std::atomic<uint64_t> group_micros_{0};
  std::atomic<uint64_t> slow_groups_{0};
  std::atomic<uint64_t> slow_group_micros_{0};
  std::atomic<uint64_t> slow_tails_{0};
  std::atomic<uint64_t> slow_tail_micros_{0};
  std::once_flag writer_joined_;
  std::once_flag completion_joined_;
  std::thread writer_thread_;
  std::thread completion_thread_;
  // Copied at start: the std::thread objects change when joined, and Shutdown
  // may be called concurrently.
  std::thread::id writer_id_;
  std::thread::id completion_id_;
};

}  // namespace caselink
