// A cache of stored Merkle nodes. A perfect subtree's hash never changes once
// written, so cached entries never need invalidating; the upper levels are few
// (n / 2^level nodes) and lie on every proof path, which makes them the reads
// worth keeping in memory.
#pragma once

#include <cstdint>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "security/merkle/merkle_log.h"

namespace caselink::merkle {

class MerkleNodeCache {
 public:
  // Caches nodes of `min_level` and above, up to `max_entries` of them (then
  // it stops adding; what is cached stays valid).
  explicit MerkleNodeCache(uint32_t min_level = 8, size_t max_entries = 1 << 20)
      : min_level_(min_level), max_entries_(max_entries) {}

  uint32_t min_level() const { return min_level_; }
  bool Find(uint32_t level, uint64_t index, std::string& hash) const;
  void Insert(uint32_t level, uint64_t index, const std::string& hash);
  size_t size() const;

 private:
  static uint64_t Key(uint32_t level, uint64_t index) { return (static_cast<uint64_t>(level) << 58) | index; }

  const uint32_t min_level_;
  const size_t max_entries_;
  mutable std::shared_mutex mu_;
  std::unordered_map<uint64_t, std::string> nodes_;
};

// Reads through a cache: upper-level nodes from memory, the rest from `base`.
class CachingNodeReader : public MerkleNodeReader {
 public:
  CachingNodeReader(MerkleNodeCache& cache, MerkleNodeReader& base) : cache_(cache), base_(base) {}
  absl::StatusOr<std::string> GetNode(uint32_t level, uint64_t index) override;

 private:
  MerkleNodeCache& cache_;
  MerkleNodeReader& base_;
};

}  // namespace caselink::merkle
