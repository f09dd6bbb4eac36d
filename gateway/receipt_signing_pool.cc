// Receipt signatures off the store's writer thread (see receipt_signing_pool.h).
#include "gateway/receipt_signing_pool.h"

#include <pthread.h>

#include <algorithm>
#include <utility>

namespace caselink {

ReceiptSigningPool::ReceiptSigningPool(size_t threads) {
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
  // A woken thread signs until the queue is empty, so a wake-up (a system call
  // on the writer, the caller) is needed only when the queue was empty or has
  // grown past what the threads already awake are working through.
  if (queued == 1 || queued % (2 * threads_.size()) == 0) ready_.notify_one();
  return signature;
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
