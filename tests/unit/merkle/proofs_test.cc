// Proof verification: the published RFC 6962 proofs verify, every upstream
// probe gets upstream's verdict, and corrupted proofs fail with the right code.
#include "security/merkle/proofs.h"

#include <gtest/gtest.h>

#include <bit>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "tests/unit/merkle/merkle_test_util.h"

namespace caselink::merkle {
namespace {

using testing::MakeHasher;
using testing::ReferenceTree;
using testing::Unhex;
using testing::UnhexAll;
using testing::Vectors;

std::string FlipBit(std::string bytes, size_t bit) {
  bytes[bit / 8] = static_cast<char>(bytes[bit / 8] ^ (1 << (bit % 8)));
  return bytes;
}

bool Refused(const absl::Status& status) {
  return status.code() == absl::StatusCode::kInvalidArgument ||
         status.code() == absl::StatusCode::kUnauthenticated;
}

class ProofsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    hasher_ = MakeHasher(HashAlgorithm::kSha256);
    ASSERT_NE(hasher_, nullptr);
  }

  absl::Status Inclusion(uint64_t index, uint64_t size, const std::string& leaf,
                         const std::vector<std::string>& proof, const std::string& root) {
    return VerifyInclusion(*hasher_, index, size, leaf, proof, root);
  }
  absl::Status Consistency(uint64_t size1, uint64_t size2, const std::vector<std::string>& proof,
                           const std::string& root1, const std::string& root2) {
    return VerifyConsistency(*hasher_, size1, size2, proof, root1, root2);
  }

  std::unique_ptr<TreeHasher> hasher_;
};

TEST_F(ProofsTest, PublishedInclusionProofsVerify) {
  const auto& proofs = Vectors()["inclusion_proofs"];
  ASSERT_EQ(proofs.size(), 5u);
  for (const auto& p : proofs) {
    const std::vector<std::string> path = UnhexAll(p["path_hex"]);
    EXPECT_TRUE(Inclusion(p["leaf_index"], p["tree_size"], Unhex(p["leaf_hash_hex"]), path,
                          Unhex(p["root_hex"]))
                    .ok())
        << p["upstream_file"];
    absl::StatusOr<std::string> root = RootFromInclusionProof(
        *hasher_, p["leaf_index"], p["tree_size"], Unhex(p["leaf_hash_hex"]), path);
    ASSERT_TRUE(root.ok()) << root.status();
    EXPECT_EQ(*root, Unhex(p["root_hex"]));
  }
}

TEST_F(ProofsTest, PublishedConsistencyProofsVerify) {
  const auto& proofs = Vectors()["consistency_proofs"];
  ASSERT_EQ(proofs.size(), 5u);
  for (const auto& p : proofs) {
    EXPECT_TRUE(Consistency(p["size1"], p["size2"], UnhexAll(p["path_hex"]),
                            Unhex(p["root1_hex"]), Unhex(p["root2_hex"]))
                    .ok())
        << p["upstream_file"];
  }
}

TEST_F(ProofsTest, UpstreamInclusionProbesGetUpstreamVerdict) {
  int valid = 0, invalid = 0;
  for (const auto& p : Vectors()["probes"]["inclusion"]) {
    const absl::Status status = Inclusion(p["leaf_index"], p["tree_size"],
                                          Unhex(p["leaf_hash_hex"]), UnhexAll(p["path_hex"]),
                                          Unhex(p["root_hex"]));
    if (p["expected_valid"].get<bool>()) {
      ++valid;
      EXPECT_TRUE(status.ok()) << p["upstream_file"] << ": " << status;
    } else {
      ++invalid;
      EXPECT_TRUE(Refused(status)) << p["upstream_file"] << " (" << p["desc"] << "): " << status;
    }
  }
  EXPECT_EQ(valid, 6);
  EXPECT_EQ(invalid, 92);
}

TEST_F(ProofsTest, UpstreamConsistencyProbesGetUpstreamVerdict) {
  int valid = 0, invalid = 0;
  for (const auto& p : Vectors()["probes"]["consistency"]) {
    const absl::Status status = Consistency(p["size1"], p["size2"], UnhexAll(p["path_hex"]),
                                            Unhex(p["root1_hex"]), Unhex(p["root2_hex"]));
    if (p["expected_valid"].get<bool>()) {
      ++valid;
      EXPECT_TRUE(status.ok()) << p["upstream_file"] << ": " << status;
    } else {
      ++invalid;
      EXPECT_TRUE(Refused(status)) << p["upstream_file"] << " (" << p["desc"] << "): " << status;
    }
  }
  EXPECT_EQ(valid, 6);
  EXPECT_EQ(invalid, 92);
}

TEST_F(ProofsTest, MalformedInclusionRequestsAreInvalidArgument) {
  const auto& p = Vectors()["inclusion_proofs"][2];  // leaf 5 of 8: three hashes
  const std::string leaf = Unhex(p["leaf_hash_hex"]), root = Unhex(p["root_hex"]);
  const std::vector<std::string> path = UnhexAll(p["path_hex"]);
  ASSERT_EQ(path.size(), 3u);
  ASSERT_TRUE(Inclusion(p["leaf_index"], 8, leaf, path, root).ok());
  const auto code = [&](uint64_t index, uint64_t size, const std::string& l,
                        const std::vector<std::string>& proof, const std::string& r) {
    return Inclusion(index, size, l, proof, r).code();
  };
  constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;
  EXPECT_EQ(code(8, 8, leaf, path, root), kInvalid);    // index == size
  EXPECT_EQ(code(0, 0, leaf, {}, root), kInvalid);      // empty tree has no leaves
  EXPECT_EQ(code(5, 8, leaf.substr(1), path, root), kInvalid);
  EXPECT_EQ(code(5, 8, leaf, path, root + "x"), kInvalid);
  EXPECT_EQ(code(5, 8, leaf, {path[0], path[1]}, root), kInvalid);                // truncated
  EXPECT_EQ(code(5, 8, leaf, {path[0], path[1], path[2], path[2]}, root), kInvalid);  // extended
  EXPECT_EQ(code(5, 8, leaf, {path[0], path[1], path[2].substr(0, 31)}, root), kInvalid);
  EXPECT_EQ(code(5, 8, leaf, {path[0], path[1] + "x", path[2]}, root), kInvalid);
  EXPECT_EQ(RootFromInclusionProof(*hasher_, 5, 4, leaf, path).status().code(), kInvalid);
}

TEST_F(ProofsTest, MalformedConsistencyRequestsAreInvalidArgument) {
  const auto& p = Vectors()["consistency_proofs"][2];  // 6 -> 8
  ASSERT_EQ(p["size1"], 6);
  const std::string r1 = Unhex(p["root1_hex"]), r2 = Unhex(p["root2_hex"]);
  const std::vector<std::string> path = UnhexAll(p["path_hex"]);
  ASSERT_TRUE(Consistency(6, 8, path, r1, r2).ok());
  constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;
  EXPECT_EQ(Consistency(8, 6, path, r2, r1).code(), kInvalid);  // size1 > size2
  EXPECT_EQ(Consistency(0, 8, path, hasher_->EmptyRoot(), r2).code(), kInvalid);
  EXPECT_EQ(Consistency(0, 0, {}, hasher_->EmptyRoot(), hasher_->EmptyRoot()).code(), kInvalid);
  EXPECT_EQ(Consistency(8, 8, {path[0]}, r2, r2).code(), kInvalid);  // equal sizes, proof given
  EXPECT_EQ(Consistency(6, 8, {}, r1, r2).code(), kInvalid);
  EXPECT_EQ(Consistency(6, 8, {path[0], path[1]}, r1, r2).code(), kInvalid);
  EXPECT_EQ(Consistency(6, 8, {path[0], path[1], path[2], path[0]}, r1, r2).code(), kInvalid);
  EXPECT_EQ(Consistency(6, 8, {path[0], path[1].substr(0, 31), path[2]}, r1, r2).code(),
            kInvalid);
  EXPECT_EQ(Consistency(6, 8, path, r1.substr(0, 31), r2).code(), kInvalid);
  EXPECT_EQ(Consistency(6, 8, path, r1, r2 + "x").code(), kInvalid);
  // Equal sizes only compare the roots.
  EXPECT_TRUE(Consistency(8, 8, {}, r2, r2).ok());
  EXPECT_EQ(Consistency(8, 8, {}, r2, r1).code(), absl::StatusCode::kUnauthenticated);
}

// A reference tree of 17 leaves: every inclusion proof of every size, with
// every corruption, must fail; the uncorrupted proof must pass.
class CorruptedProofsTest : public ProofsTest {
 protected:
  void SetUp() override {
    ProofsTest::SetUp();
    for (int i = 0; i < kLeaves; ++i) reference_.Add("leaf " + std::to_string(i));
  }
  static constexpr int kLeaves = 17;
  ReferenceTree reference_{HashAlgorithm::kSha256};
};

TEST_F(CorruptedProofsTest, CorruptedInclusionProofsFail) {
  constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;
  constexpr auto kMismatch = absl::StatusCode::kUnauthenticated;
  for (uint64_t size = 1; size <= kLeaves; ++size) {
    const std::string root = reference_.Mth(0, size);
    for (uint64_t index = 0; index < size; ++index) {
      SCOPED_TRACE(::testing::Message() << "leaf " << index << " of " << size);
      const std::string leaf = reference_.leaf_hash(index);
      const std::vector<std::string> path = reference_.Path(index, 0, size);
      ASSERT_TRUE(Inclusion(index, size, leaf, path, root).ok());

      for (size_t i = 0; i < path.size(); ++i) {
        for (size_t bit : {size_t{0}, size_t{7}, size_t{255}}) {
          std::vector<std::string> bad = path;
          bad[i] = FlipBit(bad[i], bit);
          EXPECT_EQ(Inclusion(index, size, leaf, bad, root).code(), kMismatch) << i;
        }
      }
      EXPECT_EQ(Inclusion(index, size, FlipBit(leaf, 3), path, root).code(), kMismatch);
      EXPECT_EQ(Inclusion(index, size, leaf, path, FlipBit(root, 200)).code(), kMismatch);
      // The path names its leaf: in a tree of fixed size, the left/right turns
      // identify the position.
      for (uint64_t other = 0; other < size; ++other) {
        if (other == index) continue;
        EXPECT_FALSE(Inclusion(other, size, leaf, path, root).ok()) << "as leaf " << other;
        EXPECT_FALSE(Inclusion(index, size, reference_.leaf_hash(other), path, root).ok());
      }
      EXPECT_EQ(Inclusion(size, size, leaf, path, root).code(), kInvalid);
      if (!path.empty()) {
        std::vector<std::string> truncated(path.begin(), path.end() - 1);
        EXPECT_EQ(Inclusion(index, size, leaf, truncated, root).code(), kInvalid);
        std::vector<std::string> dropped_first(path.begin() + 1, path.end());
        EXPECT_EQ(Inclusion(index, size, leaf, dropped_first, root).code(), kInvalid);
      }
      std::vector<std::string> extended = path;
      extended.push_back(root);
      EXPECT_EQ(Inclusion(index, size, leaf, extended, root).code(), kInvalid);
      std::vector<std::string> prefixed = path;
      prefixed.insert(prefixed.begin(), leaf);
      EXPECT_EQ(Inclusion(index, size, leaf, prefixed, root).code(), kInvalid);
      if (path.size() >= 2 && path[0] != path[1]) {
        std::vector<std::string> swapped = path;
        std::swap(swapped[0], swapped[1]);
        EXPECT_EQ(Inclusion(index, size, leaf, swapped, root).code(), kMismatch);
      }
    }
  }
}

// The verifier learns the tree size from the caller, not from the proof:
// a proof also "verifies" for another size that gives the path the same
// shape (e.g. leaf 0 in sizes 3 and 4). That is why signed tree heads sign
// the size with the root. Any other size is refused.
TEST_F(CorruptedProofsTest, WrongSizeFailsUnlessPathShapeIsTheSame) {
  const auto shape = [](uint64_t index, uint64_t size) {
    const int inner = std::bit_width(index ^ (size - 1));
    return std::make_pair(inner, std::popcount(index >> inner));
  };
  int same_shape = 0, refused = 0;
  for (uint64_t size = 1; size <= kLeaves; ++size) {
    const std::string root = reference_.Mth(0, size);
    for (uint64_t index = 0; index < size; ++index) {
      const std::string leaf = reference_.leaf_hash(index);
      const std::vector<std::string> path = reference_.Path(index, 0, size);
      for (uint64_t other = index + 1; other <= 2 * kLeaves; ++other) {
        if (other == size) continue;
        const absl::Status status = Inclusion(index, other, leaf, path, root);
        if (shape(index, other) == shape(index, size)) {
          ++same_shape;
          EXPECT_TRUE(status.ok()) << index << " in " << size << " as " << other;
        } else {
          ++refused;
          EXPECT_TRUE(Refused(status)) << index << " in " << size << " as " << other;
        }
      }
    }
  }
  EXPECT_GT(same_shape, 0);
  EXPECT_GT(refused, same_shape);
}

// What the consistency verifier computes depends on the sizes only through
// this: whether root1 seeds the chains, the numbers of inner and border
// hashes, and the left/right turns of the inner ones.
std::tuple<bool, int, int, uint64_t> ConsistencyShape(uint64_t size1, uint64_t size2) {
  if (size1 == size2) return {true, -1, -1, 0};
  const int shift = std::countr_zero(size1);
  const int inner = std::bit_width((size1 - 1) ^ (size2 - 1));
  const int border = std::popcount((size1 - 1) >> inner);
  const uint64_t turns = ((size1 - 1) >> shift) & ((uint64_t{1} << (inner - shift)) - 1);
  return {size1 == (uint64_t{1} << shift), inner - shift, border, turns};
}

TEST_F(CorruptedProofsTest, CorruptedConsistencyProofsFail) {
  constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;
  constexpr auto kMismatch = absl::StatusCode::kUnauthenticated;
  for (uint64_t size2 = 1; size2 <= kLeaves; ++size2) {
    const std::string root2 = reference_.Mth(0, size2);
    for (uint64_t size1 = 1; size1 < size2; ++size1) {
      SCOPED_TRACE(::testing::Message() << size1 << " -> " << size2);
      const std::string root1 = reference_.Mth(0, size1);
      const std::vector<std::string> proof = reference_.Proof(size1, size2);
      ASSERT_TRUE(Consistency(size1, size2, proof, root1, root2).ok());

      for (size_t i = 0; i < proof.size(); ++i) {
        std::vector<std::string> bad = proof;
        bad[i] = FlipBit(bad[i], 9);
        EXPECT_EQ(Consistency(size1, size2, bad, root1, root2).code(), kMismatch) << i;
      }
      EXPECT_EQ(Consistency(size1, size2, proof, FlipBit(root1, 0), root2).code(), kMismatch);
      EXPECT_EQ(Consistency(size1, size2, proof, root1, FlipBit(root2, 0)).code(), kMismatch);
      EXPECT_EQ(Consistency(size1, size2, proof, root2, root1).code(), kMismatch);
      std::vector<std::string> truncated(proof.begin(), proof.end() - 1);
      EXPECT_EQ(Consistency(size1, size2, truncated, root1, root2).code(), kInvalid);
      std::vector<std::string> extended = proof;
      extended.push_back(root2);
      EXPECT_EQ(Consistency(size1, size2, extended, root1, root2).code(), kInvalid);
      std::vector<std::string> prefixed = proof;
      prefixed.insert(prefixed.begin(), root1);
      EXPECT_EQ(Consistency(size1, size2, prefixed, root1, root2).code(), kInvalid);
      // As with inclusion, other sizes fail unless the proof has the same shape.
      for (uint64_t other1 = 1; other1 <= size2; ++other1) {
        if (other1 == size1) continue;
        const absl::Status status = Consistency(other1, size2, proof, root1, root2);
        EXPECT_EQ(status.ok(), ConsistencyShape(other1, size2) == ConsistencyShape(size1, size2))
            << "size1 " << other1 << ": " << status;
      }
      for (uint64_t other2 = size1; other2 <= 2 * kLeaves; ++other2) {
        if (other2 == size2) continue;
        const absl::Status status = Consistency(size1, other2, proof, root1, root2);
        EXPECT_EQ(status.ok(), ConsistencyShape(size1, other2) == ConsistencyShape(size1, size2))
            << "size2 " << other2 << ": " << status;
      }
    }
  }
}

}  // namespace
}  // namespace caselink::merkle
