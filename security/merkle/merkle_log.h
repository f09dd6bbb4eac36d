// The audit log's RFC 6962 Merkle tree kept as stored hashes of perfect
// subtrees: appends, roots and proofs each touch O(log n) stored nodes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "security/merkle/tree_hasher.h"

namespace caselink::merkle {

// Node (level L, index i) is the root of the perfect subtree over leaves
// [i * 2^L, (i + 1) * 2^L); level 0 holds the leaf hashes. Only perfect
// subtrees are stored, so a node never changes once written: the hashes of
// the tree's imperfect right edge are recomputed from them when needed.
class MerkleNodeReader {
 public:
  virtual ~MerkleNodeReader() = default;
  // The stored hash; NOT_FOUND if the node has not been written.
  virtual absl::StatusOr<std::string> GetNode(uint32_t level, uint64_t index) = 0;
};

class MerkleNodeWriter : public MerkleNodeReader {
 public:
  // Stores a node. Implementations should refuse to overwrite a stored node
  // (ALREADY_EXISTS): an append-only log never rewrites history.
  virtual absl::Status PutNode(uint32_t level, uint64_t index, absl::string_view hash) = 0;
};

// Errors of the functions below:
//   INVALID_ARGUMENT   a bad request: index >= size, size1 > size2, size1 == 0,
//                      a leaf hash that is not hasher.size() bytes.
//   NOT_FOUND          a node the request needs is not stored: the log holds
//                      fewer leaves than the size asked about (or is damaged).
//   DATA_LOSS          a stored node has the wrong length: the storage is damaged.
//   anything else      passed on from the node storage.
// An append that fails may have written some nodes already: run it inside a
// storage transaction that is rolled back on error.

// Appends the leaf with hash `leaf_hash` (see TreeHasher::HashLeaf) as leaf
// number `current_size`, writing node (0, current_size) and every parent that
// it completes (one write amortised, at most log2(n) + 1), and returns the
// root of the tree of size current_size + 1. Reads popcount(current_size)
// nodes: the right-edge subtrees the new leaf merges into.
absl::StatusOr<std::string> AppendLeaf(const TreeHasher& hasher, MerkleNodeWriter& writer,
                                       uint64_t current_size, absl::string_view leaf_hash);

// Appends several leaves at once (e.g. one group commit's audit records) and
// returns the root of the tree of size current_size + leaf_hashes.size().
// Reads as many nodes as one AppendLeaf, whatever the batch size.
absl::StatusOr<std::string> AppendLeaves(const TreeHasher& hasher, MerkleNodeWriter& writer,
                                         uint64_t current_size,
                                         absl::Span<const std::string> leaf_hashes);

// Appends leaves as AppendLeaves does, writing the same nodes, without
// computing the root: for a caller that signs roots separately (the audit
// log). Reads only the complete left siblings the new leaves merge with (one
// on average per leaf) and, to check the store holds `current_size` leaves,
// leaf current_size - 1.
absl::Status WriteLeaves(const TreeHasher& hasher, MerkleNodeWriter& writer, uint64_t current_size,
                         absl::Span<const std::string> leaf_hashes);

// Root of the tree over the first `size` leaves (any size up to the stored
// one, so old tree heads can be re-derived). Reads popcount(size) nodes.
absl::StatusOr<std::string> RootAt(const TreeHasher& hasher, MerkleNodeReader& reader,
                                   uint64_t size);

// RFC 6962 PATH(index, D[size]): the audit path of leaf `index` in the tree of
// `size` leaves, ordered from the leaf upwards. Reads at most 2 * log2(size) nodes.
absl::StatusOr<std::vector<std::string>> InclusionProof(const TreeHasher& hasher,
                                                        MerkleNodeReader& reader, uint64_t index,
                                                        uint64_t size);

// RFC 6962 PROOF(size1, D[size2]), ordered from the old tree's subtree
// upwards; empty when size1 == size2. size1 == 0 is refused, as by
// VerifyConsistency. Reads at most 2 * log2(size2) + 1 nodes.
absl::StatusOr<std::vector<std::string>> ConsistencyProof(const TreeHasher& hasher,
                                                          MerkleNodeReader& reader,
                                                          uint64_t size1, uint64_t size2);

// Node storage in memory, for tests, tools and benchmarks. Nodes of a level
// must be written in index order (as the append functions do) and all have
// the length of the first hash written; they are packed back to back, so a
// million-leaf tree takes about 64 MB. Not thread-safe.
class InMemoryMerkleNodes : public MerkleNodeWriter {
 public:
  absl::StatusOr<std::string> GetNode(uint32_t level, uint64_t index) override;
  // ALREADY_EXISTS for a stored node, FAILED_PRECONDITION for a gap in a
  // level, INVALID_ARGUMENT for a hash of another length than the first.
  absl::Status PutNode(uint32_t level, uint64_t index, absl::string_view hash) override;

  // Number of nodes stored at `level`.
  uint64_t CountAt(uint32_t level) const;

 private:
  size_t hash_size_ = 0;             // 0 until the first PutNode
  std::vector<std::string> levels_;  // levels_[L]: the hashes of level L, concatenated
};

}  // namespace caselink::merkle
