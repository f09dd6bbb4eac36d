// Merkle node cache.
#include "security/merkle/node_cache.h"

#include <mutex>

namespace caselink::merkle {

bool MerkleNodeCache::Find(uint32_t level, uint64_t index, std::string& hash) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = nodes_.find(Key(level, index));
  if (it == nodes_.end()) return false;
  hash = it->second;
  return true;
}

void MerkleNodeCache::Insert(uint32_t level, uint64_t index, const std::string& hash) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (nodes_.size() >= max_entries_) return;
  nodes_.emplace(Key(level, index), hash);
}

size_t MerkleNodeCache::size() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return nodes_.size();
}

absl::StatusOr<std::string> CachingNodeReader::GetNode(uint32_t level, uint64_t index) {
  if (level < cache_.min_level()) return base_.GetNode(level, index);
  std::string hash;
  if (cache_.Find(level, index, hash)) return hash;
  auto read = base_.GetNode(level, index);
  if (read.ok()) cache_.Insert(level, index, *read);
  return read;
}

}  // namespace caselink::merkle
