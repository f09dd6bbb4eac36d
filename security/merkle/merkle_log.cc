// Appends and proofs over stored perfect-subtree hashes. Every function
// derives the node positions it needs from the sizes, then reads just those.
#include "security/merkle/merkle_log.h"

#include <bit>
#include <cstddef>
#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace caselink::merkle {
namespace {

constexpr uint32_t kMaxLevel = 63;  // a level-64 node would cover 2^64 leaves

absl::Status CheckLeafHash(const TreeHasher& hasher, absl::string_view leaf_hash) {
  if (leaf_hash.size() != hasher.size()) {
    return absl::InvalidArgumentError(absl::StrCat("leaf hash is ", leaf_hash.size(),
                                                   " bytes, but ",
                                                   HashAlgorithmName(hasher.algorithm()),
                                                   " hashes are ", hasher.size()));
  }
  return absl::OkStatus();
}

// Whether `leaf_hashes` can be appended to a tree of `current_size` leaves;
// checked before anything is written.
absl::Status CheckAppend(const TreeHasher& hasher, uint64_t current_size, absl::Span<const std::string> leaf_hashes) {
  for (const std::string& leaf_hash : leaf_hashes) {
    if (absl::Status s = CheckLeafHash(hasher, leaf_hash); !s.ok()) return s;
  }
  if (leaf_hashes.size() > std::numeric_limits<uint64_t>::max() - current_size) {
    return absl::InvalidArgumentError("appending would overflow the tree size");
  }
  return absl::OkStatus();
}

// Reads nodes through a MerkleNodeReader, turning its answers into errors
// that say which node and why it matters.
class NodeSource {
 public:
  NodeSource(const TreeHasher& hasher, MerkleNodeReader& reader)
      : hasher_(hasher), reader_(reader) {}

  const TreeHasher& hasher() const { return hasher_; }

  // A stored (perfect) node.
  absl::StatusOr<std::string> Node(uint32_t level, uint64_t index) {
    absl::StatusOr<std::string> hash = reader_.GetNode(level, index);
    if (absl::IsNotFound(hash.status())) {
      return absl::NotFoundError(absl::StrCat(
          "Merkle node (level ", level, ", index ", index,
          ") is not stored: the log is smaller than the tree size asked for, or damaged"));
    }
    if (!hash.ok()) return hash.status();
    if (hash->size() != hasher_.size()) {
      return absl::DataLossError(absl::StrCat("stored Merkle node (level ", level, ", index ",
                                              index, ") is ", hash->size(), " bytes, not ",
                                              hasher_.size()));
    }
    return hash;
  }

  // Appends to `out` the perfect subtrees that make up leaves
  // [start, start + count), largest (leftmost) first. `start` must be a
  // multiple of the largest power of two in `count`, which holds for every
  // range that RFC 6962's recursion produces.
  absl::Status Decompose(uint64_t start, uint64_t count,
                         std::vector<std::pair<uint32_t, std::string>>& out) {
    uint64_t position = start;
    for (int level = std::bit_width(count) - 1; level >= 0; --level) {
      const uint64_t width = uint64_t{1} << level;
      if ((count & width) == 0) continue;
      absl::StatusOr<std::string> hash = Node(static_cast<uint32_t>(level), position >> level);
      if (!hash.ok()) return hash.status();
      out.emplace_back(static_cast<uint32_t>(level), *std::move(hash));
      position += width;
    }
    return absl::OkStatus();
  }

  // MTH of leaves [start, start + count), count >= 1: the decomposition
  // folded from the right, as RFC 6962 splits at the largest power of two.
  absl::StatusOr<std::string> RangeHash(uint64_t start, uint64_t count) {
    std::vector<std::pair<uint32_t, std::string>> parts;
    if (absl::Status s = Decompose(start, count, parts); !s.ok()) return s;
    return Fold(parts);
  }

  // Hash of the subtree at (level, index) in a tree of `size` leaves: stored
  // if it is complete, else rebuilt from the perfect subtrees it holds.
  absl::StatusOr<std::string> SubtreeHash(uint32_t level, uint64_t index, uint64_t size) {
    const uint64_t start = index << level;
    const uint64_t width = uint64_t{1} << level;
    if (size - start >= width) return Node(level, index);
    return RangeHash(start, size - start);
  }

  std::string Fold(const std::vector<std::pair<uint32_t, std::string>>& parts) const {
    std::string hash = parts.back().second;
    for (size_t i = parts.size() - 1; i-- > 0;) hash = hasher_.HashChildren(parts[i].second, hash);
    return hash;
  }

  // Hashes of the siblings on the path from node (from_level, leaf >> from_level)
  // to the root of the tree of `size` leaves, bottom up, appended to `proof`.
  absl::Status AppendPath(uint64_t leaf, uint32_t from_level, uint64_t size,
                          std::vector<std::string>& proof) {
    // Below level `inner` the path to `leaf` and the path to the last leaf
    // differ, so every node on it has a sibling (left or right; a right one
    // may be the single incomplete subtree). Above, the path runs along the
    // right edge: only right children have a sibling, a complete left one.
    const uint32_t inner = static_cast<uint32_t>(std::bit_width(leaf ^ (size - 1)));
    for (uint32_t level = from_level; level < inner; ++level) {
      absl::StatusOr<std::string> hash = SubtreeHash(level, (leaf >> level) ^ 1, size);
      if (!hash.ok()) return hash.status();
      proof.push_back(*std::move(hash));
    }
    for (uint32_t level = inner; level <= kMaxLevel; ++level) {
      if (((leaf >> level) & 1) == 0) continue;
      absl::StatusOr<std::string> hash = Node(level, (leaf >> level) ^ 1);
      if (!hash.ok()) return hash.status();
      proof.push_back(*std::move(hash));
    }
    return absl::OkStatus();
  }

 private:
  const TreeHasher& hasher_;
  MerkleNodeReader& reader_;
};

}  // namespace

absl::StatusOr<std::string> AppendLeaf(const TreeHasher& hasher, MerkleNodeWriter& writer,
                                       uint64_t current_size, absl::string_view leaf_hash) {
  const std::string leaf(leaf_hash);
  return AppendLeaves(hasher, writer, current_size, absl::MakeConstSpan(&leaf, 1));
}

absl::StatusOr<std::string> AppendLeaves(const TreeHasher& hasher, MerkleNodeWriter& writer,
                                         uint64_t current_size,
                                         absl::Span<const std::string> leaf_hashes) {
  if (absl::Status s = CheckAppend(hasher, current_size, leaf_hashes); !s.ok()) return s;
  NodeSource source(hasher, writer);
  // The right edge of the current tree: its perfect subtrees, largest first.
  // Reading them also checks that the store really holds `current_size` leaves.
  std::vector<std::pair<uint32_t, std::string>> edge;
  if (current_size > 0) {
    if (absl::Status s = source.Decompose(0, current_size, edge); !s.ok()) return s;
  }
  uint64_t position = current_size;
  for (const std::string& leaf_hash : leaf_hashes) {
    uint32_t level = 0;
    std::string hash = leaf_hash;
    if (absl::Status s = writer.PutNode(0, position, hash); !s.ok()) return s;
    // Each equal-sized subtree on the edge merges with the new one into its parent.
    while (!edge.empty() && edge.back().first == level) {
      hash = hasher.HashChildren(edge.back().second, hash);
      edge.pop_back();
      ++level;
      if (absl::Status s = writer.PutNode(level, position >> level, hash); !s.ok()) return s;
    }
    edge.emplace_back(level, std::move(hash));
    ++position;
  }
  if (edge.empty()) return hasher.EmptyRoot();
  return source.Fold(edge);
}

absl::Status WriteLeaves(const TreeHasher& hasher, MerkleNodeWriter& writer, uint64_t current_size,
                         absl::Span<const std::string> leaf_hashes) {
  if (absl::Status s = CheckAppend(hasher, current_size, leaf_hashes); !s.ok()) return s;
  NodeSource source(hasher, writer);
  // The complete left subtree that the next right child of each level merges
  // with, where already at hand (written by this batch, or the last leaf read
  // below): taken from here instead of read back.
  std::vector<std::string> written_left(kMaxLevel + 2);
  auto left_sibling = [&](uint32_t level, uint64_t index) -> absl::StatusOr<std::string> {
    if (!written_left[level].empty()) return std::exchange(written_left[level], std::string());
    return source.Node(level, index);
  };
  if (current_size > 0) {
    // Read before anything is written: at an odd size it is also the first
    // leaf's sibling.
    absl::StatusOr<std::string> last = source.Node(0, current_size - 1);
    if (!last.ok()) return last.status();
    if ((current_size & 1) == 1) written_left[0] = *std::move(last);
  }
  uint64_t position = current_size;
  for (const std::string& leaf_hash : leaf_hashes) {
    std::string hash = leaf_hash;
    uint32_t level = 0;
    if (absl::Status s = writer.PutNode(0, position, hash); !s.ok()) return s;
    // A right child (odd index) completes its parent.
    while (((position >> level) & 1) == 1) {
      absl::StatusOr<std::string> left = left_sibling(level, (position >> level) - 1);
      if (!left.ok()) return left.status();
      hash = hasher.HashChildren(*left, hash);
      ++level;
      if (absl::Status s = writer.PutNode(level, position >> level, hash); !s.ok()) return s;
    }
    written_left[level] = std::move(hash);
    ++position;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> RootAt(const TreeHasher& hasher, MerkleNodeReader& reader,
                                   uint64_t size) {
  if (size == 0) return hasher.EmptyRoot();
  return NodeSource(hasher, reader).RangeHash(0, size);
}

absl::StatusOr<std::vector<std::string>> InclusionProof(const TreeHasher& hasher,
                                                        MerkleNodeReader& reader, uint64_t index,
                                                        uint64_t size) {
  if (index >= size) {
    return absl::InvalidArgumentError(
        absl::StrCat("leaf index ", index, " is not in a tree of size ", size));
  }
  std::vector<std::string> proof;
  NodeSource source(hasher, reader);
  if (absl::Status s = source.AppendPath(index, 0, size, proof); !s.ok()) return s;
  return proof;
}

absl::StatusOr<std::vector<std::string>> ConsistencyProof(const TreeHasher& hasher,
                                                          MerkleNodeReader& reader,
                                                          uint64_t size1, uint64_t size2) {
  if (size1 > size2) {
    return absl::InvalidArgumentError(
        absl::StrCat("consistency from tree size ", size1, " to the smaller size ", size2));
  }
  if (size1 == 0) {
    return absl::InvalidArgumentError(
        "consistency from the empty tree proves nothing; start from a tree of size >= 1");
  }
  std::vector<std::string> proof;
  if (size1 == size2) return proof;
  NodeSource source(hasher, reader);
  // The old tree's last perfect subtree ends at leaf size1 - 1; its hash
  // leads the proof unless it is the whole old tree (the verifier has that
  // as root1). Then comes its path up through the new tree.
  const uint32_t level = static_cast<uint32_t>(std::countr_zero(size1));
  if (size1 != (uint64_t{1} << level)) {
    absl::StatusOr<std::string> hash = source.Node(level, (size1 - 1) >> level);
    if (!hash.ok()) return hash.status();
    proof.push_back(*std::move(hash));
  }
  if (absl::Status s = source.AppendPath(size1 - 1, level, size2, proof); !s.ok()) return s;
  return proof;
}

absl::StatusOr<std::string> InMemoryMerkleNodes::GetNode(uint32_t level, uint64_t index) {
  if (level >= levels_.size() || index >= CountAt(level)) {
    return absl::NotFoundError(
        absl::StrCat("Merkle node (level ", level, ", index ", index, ") is not stored"));
  }
  return levels_[level].substr(index * hash_size_, hash_size_);
}

absl::Status InMemoryMerkleNodes::PutNode(uint32_t level, uint64_t index,
                                          absl::string_view hash) {
  if (hash.empty()) return absl::InvalidArgumentError("empty Merkle node hash");
  if (hash_size_ == 0) hash_size_ = hash.size();
  if (hash.size() != hash_size_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Merkle node hash is ", hash.size(), " bytes; this store holds ", hash_size_));
  }
  if (level > kMaxLevel) {
    return absl::InvalidArgumentError(absl::StrCat("Merkle node level ", level, " is too high"));
  }
  if (levels_.size() <= level) levels_.resize(level + 1);
  const uint64_t count = CountAt(level);
  if (index < count) {
    return absl::AlreadyExistsError(
        absl::StrCat("Merkle node (level ", level, ", index ", index, ") is already stored"));
  }
  if (index > count) {
    return absl::FailedPreconditionError(absl::StrCat("Merkle node (level ", level, ", index ",
                                                      index, ") would leave a gap after ",
                                                      count, " nodes"));
  }
  levels_[level].append(hash.data(), hash.size());
  return absl::OkStatus();
}

uint64_t InMemoryMerkleNodes::CountAt(uint32_t level) const {
  if (level >= levels_.size() || hash_size_ == 0) return 0;
  return levels_[level].size() / hash_size_;
}

}  // namespace caselink::merkle
