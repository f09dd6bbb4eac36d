// Store methods shared by every implementation: the blocking form of Write.
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

}  // namespace caselink
