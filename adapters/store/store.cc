// Store methods shared by every implementation: the blocking form of Write,
// and the flushes deferred to the end of a group's Dones.
#include "adapters/store/store.h"

#include <future>
#include <memory>
#include <utility>

namespace caselink {

absl::Status Store::WriteAndWait(Work work) {
  // The promise is shared with the callback rather than captured by reference:
  // the writer thread may still be inside set_value when this thread wakes up
  // and returns, so the promise must outlive this frame.
  auto promise = std::make_shared<std::promise<absl::Status>>();
  std::future<absl::Status> result = promise->get_future();
  Write(std::move(work), [promise](absl::Status status) { promise->set_value(std::move(status)); });
  return result.get();
}

namespace {

// The flushes deferred by the Dones running on this thread; null outside a group.
thread_local std::vector<std::function<void()>>* group_flushes = nullptr;

}  // namespace

void AfterGroupDone(std::function<void()> flush) {
  if (group_flushes == nullptr) return flush();
  group_flushes->push_back(std::move(flush));
}

GroupDoneScope::GroupDoneScope() : outer_(group_flushes) { group_flushes = &flushes_; }

GroupDoneScope::~GroupDoneScope() {
  group_flushes = outer_;
  // A flush may defer another (it then runs at once, the scope being closed).
  for (std::function<void()>& flush : flushes_) flush();
}

}  // namespace caselink
