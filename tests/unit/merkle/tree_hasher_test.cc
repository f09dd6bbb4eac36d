// TreeHasher: RFC 6962 domain separation with SHA-256 (published vectors) and
// SM3 (known digests and a reference computation).
#include "security/merkle/tree_hasher.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/unit/merkle/merkle_test_util.h"

namespace caselink::merkle {
namespace {

using testing::Hex;
using testing::MakeHasher;
using testing::ReferenceTree;
using testing::Unhex;
using testing::Vectors;

TEST(TreeHasherTest, Sha256EmptyRootIsPublishedValue) {
  auto hasher = MakeHasher(HashAlgorithm::kSha256);
  ASSERT_NE(hasher, nullptr);
  EXPECT_EQ(hasher->algorithm(), HashAlgorithm::kSha256);
  EXPECT_EQ(hasher->size(), 32u);
  EXPECT_EQ(Hex(hasher->EmptyRoot()), Vectors()["empty_tree_root_hex"].get<std::string>());
  EXPECT_EQ(Hex(hasher->EmptyRoot()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(TreeHasherTest, Sha256LeafHashesArePublishedValues) {
  auto hasher = MakeHasher(HashAlgorithm::kSha256);
  ASSERT_NE(hasher, nullptr);
  const auto& leaves = Vectors()["leaves"];
  ASSERT_EQ(leaves.size(), 8u);
  for (const auto& leaf : leaves) {
    EXPECT_EQ(Hex(hasher->HashLeaf(Unhex(leaf["input_hex"]))), leaf["leaf_hash_hex"])
        << "leaf " << leaf["index"];
  }
}

TEST(TreeHasherTest, Sha256NodeHashIsPublishedParentOfTwoLeaves) {
  auto hasher = MakeHasher(HashAlgorithm::kSha256);
  ASSERT_NE(hasher, nullptr);
  const auto& leaves = Vectors()["leaves"];
  // Node (1, 0) of the vectors is the parent of leaves 0 and 1.
  for (const auto& node : Vectors()["complete_subtree_hashes"]) {
    if (node["level"] != 1 || node["index"] != 0) continue;
    EXPECT_EQ(Hex(hasher->HashChildren(Unhex(leaves[0]["leaf_hash_hex"]),
                                       Unhex(leaves[1]["leaf_hash_hex"]))),
              node["hash_hex"]);
    return;
  }
  FAIL() << "vectors lack node (1, 0)";
}

TEST(TreeHasherTest, LeafAndNodeHashesAreDomainSeparated) {
  auto hasher = MakeHasher(HashAlgorithm::kSha256);
  ASSERT_NE(hasher, nullptr);
  const std::string l(32, 'a'), r(32, 'b');
  // Without the prefixes, H(l || r) as a leaf would equal the node over l, r.
  EXPECT_NE(hasher->HashLeaf(l + r), hasher->HashChildren(l, r));
  EXPECT_NE(hasher->HashLeaf(""), hasher->EmptyRoot());
  EXPECT_NE(hasher->HashChildren(l, r), hasher->HashChildren(r, l));
}

TEST(TreeHasherTest, Sm3EmptyRootIsKnownDigest) {
  auto hasher = MakeHasher(HashAlgorithm::kSm3);
  ASSERT_NE(hasher, nullptr);
  EXPECT_EQ(hasher->algorithm(), HashAlgorithm::kSm3);
  EXPECT_EQ(hasher->size(), 32u);
  // SM3 of the empty string (GB/T 32905-2016).
  EXPECT_EQ(Hex(hasher->EmptyRoot()),
            "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b");
}

TEST(TreeHasherTest, Sm3LeafAndNodeMatchReference) {
  auto hasher = MakeHasher(HashAlgorithm::kSm3);
  ASSERT_NE(hasher, nullptr);
  ReferenceTree reference(HashAlgorithm::kSm3);
  // SM3("abc") from GB/T 32905-2016 Appendix A checks the reference itself.
  EXPECT_EQ(Hex(reference.Digest("abc")),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
  for (const std::string& input : {std::string(), std::string("abc"), std::string(1000, 'x')}) {
    EXPECT_EQ(hasher->HashLeaf(input), reference.LeafHash(input)) << input.size();
  }
  const std::string l = reference.LeafHash("left"), r = reference.LeafHash("right");
  EXPECT_EQ(hasher->HashChildren(l, r), reference.NodeHash(l, r));
  // Different algorithms give different trees.
  auto sha = MakeHasher(HashAlgorithm::kSha256);
  ASSERT_NE(sha, nullptr);
  EXPECT_NE(sha->HashLeaf("abc"), hasher->HashLeaf("abc"));
}

TEST(TreeHasherTest, AlgorithmNames) {
  EXPECT_EQ(HashAlgorithmName(HashAlgorithm::kSha256), "SHA-256");
  EXPECT_EQ(HashAlgorithmName(HashAlgorithm::kSm3), "SM3");
}

TEST(TreeHasherTest, UnknownAlgorithmIsInvalidArgument) {
  EXPECT_EQ(TreeHasher::Create(static_cast<HashAlgorithm>(99)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace caselink::merkle
