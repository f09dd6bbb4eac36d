// Receipt signatures off the store's writer thread (see receipt_signing_pool.h).
#include "gateway/receipt_signing_pool.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>

namespace caselink {

ReceiptSigningPool::ReceiptSigningPool(size_t threads, size_t wake_batch)
    : wake_batch_(std::max<size_t>(wake_batch, 1)) {
  const size_t n = std::max<size_t>(threads, 1);
  threads_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    threads_.emplace_back(&ReceiptSigningPool::Run, this);
    pthread_setname_np(threads_.back().native_handle(), "receipt-signer");
  }
}

ReceiptSigningPool::~ReceiptSigningPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  ready_.notify_all();
  for (std::thread& t : threads_) t.join();
}

ReceiptSigningPool::Signature ReceiptSigningPool::Sign(std::shared_ptr<const security::Signer> signer,
                                                       std::string data) {
  Task task{std::move(signer), std::move(data), {}};
  Signature signature = task.result.get_future().share();
  size_t queued = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(task));
    queued = queue_.size();
  }
  // A woken thread signs until the queue is empty, so one wake-up per batch
  // keeps the threads going; what is left below a batch, Collect wakes for.
  if (queued % wake_batch_ == 0) ready_.notify_one();
  return signature;
}

const absl::StatusOr<std::string>& ReceiptSigningPool::Collect(const Signature& signature) {
  if (signature.wait_for(std::chrono::seconds(0)) == std::future_status::ready) return signature.get();
  bool queued;
  {
    std::lock_guard<std::mutex> lock(mu_);
    queued = !queue_.empty();
  }
  if (queued) ready_.notify_all();
  // The caller signs from the queue too instead of sleeping: it would wait for
  // these signatures anyway, and the pool's threads may be waiting for a CPU.
  while (signature.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    std::optional<Task> task;  // empty until taken: a Task's promise allocates
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (queue_.empty()) break;
      task.emplace(std::move(queue_.front()));
      queue_.pop_front();
      ++signed_count_;
    }
    task->result.set_value(task->signer->Sign(task->data));
  }
  return signature.get();
}

uint64_t ReceiptSigningPool::signed_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return signed_count_;
}

void ReceiptSigningPool::Run() {
  for (;;) {
    Task task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued is signed
      task = std::move(queue_.front());
      queue_.pop_front();
      ++signed_count_;
    }
    task.result.set_value(task.signer->Sign(task.data));
  }
}

}  // namespace caselink
