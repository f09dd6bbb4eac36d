// Bounded, thread-safe memory of stored document facts; see document_facts_cache.h.
#include "gateway/document_facts_cache.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace caselink {

std::shared_ptr<const StoredDocumentFacts> DocumentFactsCache::Find(absl::string_view key) const {
  absl::MutexLock lock(&mu_);
  auto it = facts_.find(key);
  return it == facts_.end() ? nullptr : it->second;
}

void DocumentFactsCache::Remember(absl::string_view key, std::shared_ptr<const StoredDocumentFacts> facts) {
  if (capacity_ == 0 || facts == nullptr) return;
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = facts_.insert_or_assign(std::string(key), std::move(facts));
  if (!inserted) return;  // already counted in order_
  order_.push_back(it->first);
  while (facts_.size() > capacity_) {
    facts_.erase(order_.front());
    order_.pop_front();
  }
}

size_t DocumentFactsCache::size() const {
  absl::MutexLock lock(&mu_);
  return facts_.size();
}

std::string DocumentFactsCache::Key(absl::string_view algorithm, absl::string_view digest) {
  return absl::StrCat(algorithm, ":", digest);
}

}  // namespace caselink
