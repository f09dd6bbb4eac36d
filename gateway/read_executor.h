// A small, bounded pool of threads for the store reads behind read RPCs, so a
// slow read holds one of these threads and never a gRPC callback thread.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace caselink {

struct ReadExecutorOptions {
  // Worker threads; each runs one read at a time.
  uint32_t threads = 2;
  // Tasks waiting for a worker (running ones not counted). A full queue refuses
  // new work at once instead of letting latency grow without bound.
  size_t max_queued = 1024;
  // Thread name prefix (the OS keeps 15 characters), for top -H and debuggers.
  std::string name = "caselink-read";
};

class ReadExecutor {
 public:
  // INVALID_ARGUMENT for zero threads or a zero-length queue.
  static absl::StatusOr<std::unique_ptr<ReadExecutor>> Create(ReadExecutorOptions options);
  // Shuts down (see Shutdown).
  ~ReadExecutor();
  ReadExecutor(const ReadExecutor&) = delete;
  ReadExecutor& operator=(const ReadExecutor&) = delete;

  // Queues `task` for a worker; tasks start in the order they were posted.
  // RESOURCE_EXHAUSTED when the queue is full, UNAVAILABLE after Shutdown; the
  // task is then dropped without running and the caller must answer for it.
  absl::Status Post(std::function<void()> task);

  // Refuses new tasks, runs every task already queued, then joins the workers.
  // Idempotent. Must not be called from a task.
  void Shutdown();

  // Tasks waiting for a worker.
  size_t queued() const;

 private:
  explicit ReadExecutor(ReadExecutorOptions options) : options_(std::move(options)) {}
  void Run();

  const ReadExecutorOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace caselink
