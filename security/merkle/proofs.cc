// Inclusion and consistency proof verification by chaining hashes along the
// path; the shape of a proof is derived from the sizes alone, before hashing.
#include "security/merkle/proofs.h"

#include <bit>
#include <cstddef>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"

namespace caselink::merkle {
namespace {

using Proof = absl::Span<const std::string>;

// An inclusion path for `index` in a tree of `size` leaves has `inner` hashes
// below the point where the paths to `index` and to the last leaf meet (their
// siblings may be on either side), then `border` hashes of left siblings on
// the tree's right border.
struct PathShape {
  size_t inner;
  size_t border;
};

PathShape ShapeOf(uint64_t index, uint64_t size) {
  const size_t inner = static_cast<size_t>(std::bit_width(index ^ (size - 1)));
  const size_t border = static_cast<size_t>(std::popcount(index >> inner));
  return {inner, border};
}

absl::Status CheckHashSize(const TreeHasher& hasher, absl::string_view hash,
                           absl::string_view what) {
  if (hash.size() != hasher.size()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is ", hash.size(), " bytes, but ",
                                                   HashAlgorithmName(hasher.algorithm()),
                                                   " hashes are ", hasher.size()));
  }
  return absl::OkStatus();
}

absl::Status CheckProofHashes(const TreeHasher& hasher, Proof proof) {
  for (size_t i = 0; i < proof.size(); ++i) {
    if (proof[i].size() != hasher.size()) {
      return absl::InvalidArgumentError(absl::StrCat("proof hash ", i, " is ", proof[i].size(),
                                                     " bytes, but ",
                                                     HashAlgorithmName(hasher.algorithm()),
                                                     " hashes are ", hasher.size()));
    }
  }
  return absl::OkStatus();
}

// Climbs `proof.size()` levels from `seed`; bit i of `index` says whether the
// node at level i is a right child (sibling on the left).
std::string ChainInner(const TreeHasher& hasher, std::string seed, Proof proof, uint64_t index) {
  for (size_t i = 0; i < proof.size(); ++i) {
    seed = ((index >> i) & 1) == 0 ? hasher.HashChildren(seed, proof[i])
                                   : hasher.HashChildren(proof[i], seed);
  }
  return seed;
}

// Like ChainInner, but only folds in left siblings: rebuilds the old tree's
// root, which has no nodes to the right of its last leaf.
std::string ChainInnerRight(const TreeHasher& hasher, std::string seed, Proof proof,
                            uint64_t index) {
  for (size_t i = 0; i < proof.size(); ++i) {
    if (((index >> i) & 1) == 1) seed = hasher.HashChildren(proof[i], seed);
  }
  return seed;
}

// Border hashes are always left siblings.
std::string ChainBorderRight(const TreeHasher& hasher, std::string seed, Proof proof) {
  for (const std::string& hash : proof) seed = hasher.HashChildren(hash, seed);
  return seed;
}

absl::Status CheckRoot(absl::string_view computed, absl::string_view expected,
                       absl::string_view what) {
  if (computed != expected) {
    return absl::UnauthenticatedError(
        absl::StrCat(what, " does not match the root computed from the proof"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> RootFromInclusionProof(const TreeHasher& hasher, uint64_t index,
                                                   uint64_t size, absl::string_view leaf_hash,
                                                   const std::vector<std::string>& proof) {
  if (index >= size) {
    return absl::InvalidArgumentError(absl::StrCat("leaf index ", index,
                                                   " is not in a tree of size ", size));
  }
  if (absl::Status s = CheckHashSize(hasher, leaf_hash, "leaf hash"); !s.ok()) return s;
  const PathShape shape = ShapeOf(index, size);
  if (proof.size() != shape.inner + shape.border) {
    return absl::InvalidArgumentError(absl::StrCat(
        "inclusion proof for leaf ", index, " in a tree of size ", size, " must have ",
        shape.inner + shape.border, " hashes, not ", proof.size()));
  }
  if (absl::Status s = CheckProofHashes(hasher, proof); !s.ok()) return s;
  const Proof all(proof);
  std::string root =
      ChainInner(hasher, std::string(leaf_hash), all.subspan(0, shape.inner), index);
  return ChainBorderRight(hasher, std::move(root), all.subspan(shape.inner));
}

absl::Status VerifyInclusion(const TreeHasher& hasher, uint64_t index, uint64_t size,
                             absl::string_view leaf_hash, const std::vector<std::string>& proof,
                             absl::string_view root) {
  if (absl::Status s = CheckHashSize(hasher, root, "root"); !s.ok()) return s;
  absl::StatusOr<std::string> computed =
      RootFromInclusionProof(hasher, index, size, leaf_hash, proof);
  if (!computed.ok()) return computed.status();
  return CheckRoot(*computed, root,
                   absl::StrCat("root of the tree of size ", size, " (leaf ", index, ")"));
}

absl::Status VerifyConsistency(const TreeHasher& hasher, uint64_t size1, uint64_t size2,
                               const std::vector<std::string>& proof, absl::string_view root1,
                               absl::string_view root2) {
  if (size1 > size2) {
    return absl::InvalidArgumentError(absl::StrCat("consistency from tree size ", size1,
                                                   " to the smaller size ", size2));
  }
  if (size1 == 0) {
    return absl::InvalidArgumentError(
        "consistency from the empty tree proves nothing; start from a tree of size >= 1");
  }
  if (size1 == size2) {
    if (!proof.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "consistency between equal sizes ", size1, " must have an empty proof, not ",
          proof.size(), " hashes"));
    }
    if (root1 != root2) {
      return absl::UnauthenticatedError(
          absl::StrCat("two different roots for the same tree size ", size1));
    }
    return absl::OkStatus();
  }
  if (absl::Status s = CheckHashSize(hasher, root1, "root1"); !s.ok()) return s;
  if (absl::Status s = CheckHashSize(hasher, root2, "root2"); !s.ok()) return s;

  // The proof is the inclusion path of the old tree's last perfect subtree
  // (level `shift`, ending at leaf size1 - 1) in the new tree, preceded by that
  // subtree's hash unless it is the whole old tree (size1 a power of two),
  // whose hash the verifier already has as root1.
  PathShape shape = ShapeOf(size1 - 1, size2);
  const size_t shift = static_cast<size_t>(std::countr_zero(size1));
  shape.inner -= shift;  // shift < inner whenever size1 < size2
  const bool seed_is_root1 = size1 == (uint64_t{1} << shift);
  const size_t start = seed_is_root1 ? 0 : 1;
  const size_t want = start + shape.inner + shape.border;
  if (proof.size() != want) {
    return absl::InvalidArgumentError(
        absl::StrCat("consistency proof from size ", size1, " to ", size2, " must have ", want,
                     " hashes, not ", proof.size()));
  }
  if (absl::Status s = CheckProofHashes(hasher, proof); !s.ok()) return s;

  const Proof all(proof);
  const std::string seed(seed_is_root1 ? root1 : absl::string_view(proof[0]));
  const Proof path = all.subspan(start);
  const uint64_t mask = (size1 - 1) >> shift;  // chaining starts at level `shift`

  std::string hash1 = ChainInnerRight(hasher, seed, path.subspan(0, shape.inner), mask);
  hash1 = ChainBorderRight(hasher, std::move(hash1), path.subspan(shape.inner));
  if (absl::Status s = CheckRoot(hash1, root1, absl::StrCat("root1 (tree size ", size1, ")"));
      !s.ok()) {
    return s;
  }
  std::string hash2 = ChainInner(hasher, seed, path.subspan(0, shape.inner), mask);
  hash2 = ChainBorderRight(hasher, std::move(hash2), path.subspan(shape.inner));
  return CheckRoot(hash2, root2, absl::StrCat("root2 (tree size ", size2, ")"));
}

}  // namespace caselink::merkle
