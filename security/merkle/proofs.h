// Verification of RFC 6962 inclusion and consistency proofs (the RFC 9162
// §2.1.3.2 / §2.1.4.2 algorithms): pure functions for verifiers and for tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "security/merkle/tree_hasher.h"

namespace caselink::merkle {

// Error codes, for every function below:
//   INVALID_ARGUMENT  the question or the proof is malformed: index >= size,
//                     size1 > size2, size1 == 0, a proof with the wrong number
//                     of hashes, a hash that is not hasher.size() bytes long.
//                     Such a proof can never verify, whatever the tree.
//   UNAUTHENTICATED   the proof is well formed but the hashes do not lead to
//                     the given root(s): the log, the proof or the root is not
//                     what it claims (like a signature that does not verify).
// Proof hashes are ordered as in RFC 6962: from the leaf (or the old tree's
// subtree) upwards to the root.

// Root of a tree of `size` leaves implied by `proof` for the leaf at `index`
// (0-based) with hash `leaf_hash`. Only INVALID_ARGUMENT errors.
absl::StatusOr<std::string> RootFromInclusionProof(const TreeHasher& hasher, uint64_t index,
                                                   uint64_t size, absl::string_view leaf_hash,
                                                   const std::vector<std::string>& proof);

// OK when `proof` shows that the leaf hash `leaf_hash` is at `index` in the
// tree of `size` leaves whose root is `root`.
absl::Status VerifyInclusion(const TreeHasher& hasher, uint64_t index, uint64_t size,
                             absl::string_view leaf_hash, const std::vector<std::string>& proof,
                             absl::string_view root);

// OK when `proof` shows that the tree of `size1` leaves with root `root1` is a
// prefix of the tree of `size2` leaves with root `root2`.
// Edge cases follow transparency-dev/merkle: size1 == 0 is refused even for
// 0 -> 0 (an empty tree is a prefix of everything, so the proof proves
// nothing and a caller asking for it has a bug); size1 == size2 needs an empty
// proof and then only checks that root1 and root2 are the same bytes.
absl::Status VerifyConsistency(const TreeHasher& hasher, uint64_t size1, uint64_t size2,
                               const std::vector<std::string>& proof, absl::string_view root1,
                               absl::string_view root2);

}  // namespace caselink::merkle
