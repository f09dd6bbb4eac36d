// Signs submission receipts on a few threads of their own, so the store's single
// writer hands the signature over and collects it just before its group commits
// instead of spending a fifth of its time in ECDSA.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "security/signature.h"

namespace caselink {

class ReceiptSigningPool {
 public:
  using Signature = std::shared_future<absl::StatusOr<std::string>>;

  // `threads` is at least 1. The threads are woken once `wake_batch` tasks
  // have queued up (at least 1), not for each: a wake-up is a system call on
  // the caller, the store's writer, and costs about a third of a signature.
  explicit ReceiptSigningPool(size_t threads, size_t wake_batch = 8);
  ReceiptSigningPool(const ReceiptSigningPool&) = delete;
  ReceiptSigningPool& operator=(const ReceiptSigningPool&) = delete;
  // Signs everything already queued, then joins the threads.
  ~ReceiptSigningPool();

  // Queues `data` to be signed by `signer`, which the pool keeps alive until it
  // has signed (a rotated key can still finish what was pinned to it). The
  // signature may wait in the queue for others to join it: take it with Collect.
  Signature Sign(std::shared_ptr<const security::Signer> signer, std::string data);

  // Waits for `signature`, waking the threads for whatever is still queued and
  // signing from the queue itself meanwhile (so it never sleeps while work it
  // waits for sits in the queue).
  const absl::StatusOr<std::string>& Collect(const Signature& signature);

  // Signatures handed out so far (tests check that receipts went through the pool).
  uint64_t signed_count() const;

 private:
  struct Task {
    std::shared_ptr<const security::Signer> signer;
    std::string data;
    std::promise<absl::StatusOr<std::string>> result;
  };

  void Run();

  mutable std::mutex mu_;
  std::condition_variable ready_;
  std::deque<Task> queue_;  // guarded by mu_
  bool stopping_ = false;   // guarded by mu_
  uint64_t signed_count_ = 0;  // guarded by mu_
  const size_t wake_batch_;
  std::vector<std::thread> threads_;
};

}  // namespace caselink
