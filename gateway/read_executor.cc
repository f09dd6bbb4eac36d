// Read executor: a mutex-guarded FIFO drained by a fixed set of workers.
#include "gateway/read_executor.h"

#include <pthread.h>

#include "absl/strings/str_cat.h"

namespace caselink {

absl::StatusOr<std::unique_ptr<ReadExecutor>> ReadExecutor::Create(ReadExecutorOptions options) {
  if (options.threads == 0) return absl::InvalidArgumentError("the read executor needs at least one thread");
  if (options.max_queued == 0) return absl::InvalidArgumentError("the read executor's queue must hold at least one task");
  std::unique_ptr<ReadExecutor> executor(new ReadExecutor(std::move(options)));
  for (uint32_t i = 0; i < executor->options_.threads; ++i) {
    executor->workers_.emplace_back([e = executor.get()] { e->Run(); });
    const std::string name = absl::StrCat(executor->options_.name, "-", i).substr(0, 15);
    // Only a name for tools; a failure changes nothing else.
    pthread_setname_np(executor->workers_.back().native_handle(), name.c_str());
  }
  return executor;
}

ReadExecutor::~ReadExecutor() { Shutdown(); }

absl::Status ReadExecutor::Post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      return absl::UnavailableError("the gateway is shutting down and takes no new reads; retry after it restarts");
    }
    if (queue_.size() >= options_.max_queued) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "the gateway's read queue is full (", queue_.size(), " reads waiting for ", options_.threads,
          " read threads); retry after a short backoff, or page with a smaller page_size"));
    }
    queue_.push_back(std::move(task));
  }
  cv_.notify_one();
  return absl::OkStatus();
}

void ReadExecutor::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
}

size_t ReadExecutor::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

void ReadExecutor::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    // Stopping drains: a queued read still answers its call.
    if (queue_.empty()) return;
    std::function<void()> task = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    task();
    lock.lock();
  }
}

}  // namespace caselink
