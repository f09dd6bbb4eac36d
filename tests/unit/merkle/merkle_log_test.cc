// The Merkle log over stored perfect subtrees: published roots, nodes and
// proofs; agreement with the RFC's recursive definitions on random logs; the
// O(log n) bound on node reads; and errors for bad requests and bad storage.
#include "security/merkle/merkle_log.h"
#include "security/merkle/node_cache.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "security/merkle/proofs.h"
#include "tests/unit/merkle/merkle_test_util.h"

namespace caselink::merkle {
namespace {

using testing::Hex;
using testing::MakeHasher;
using testing::ReferenceTree;
using testing::Unhex;
using testing::UnhexAll;
using testing::Vectors;

// Counts the reads that go through it to the wrapped storage.
class CountingReader : public MerkleNodeReader {
 public:
  explicit CountingReader(MerkleNodeReader& inner) : inner_(inner) {}
  absl::StatusOr<std::string> GetNode(uint32_t level, uint64_t index) override {
    ++reads_;
    return inner_.GetNode(level, index);
  }
  uint64_t TakeReads() { return std::exchange(reads_, 0); }

 private:
  MerkleNodeReader& inner_;
  uint64_t reads_ = 0;
};

class CountingWriter : public MerkleNodeWriter {
 public:
  explicit CountingWriter(MerkleNodeWriter& inner) : inner_(inner) {}
  absl::StatusOr<std::string> GetNode(uint32_t level, uint64_t index) override {
    ++reads_;
    return inner_.GetNode(level, index);
  }
  absl::Status PutNode(uint32_t level, uint64_t index, absl::string_view hash) override {
    ++writes_;
    return inner_.PutNode(level, index, hash);
  }
  uint64_t TakeReads() { return std::exchange(reads_, 0); }
  uint64_t TakeWrites() { return std::exchange(writes_, 0); }

 private:
  MerkleNodeWriter& inner_;
  uint64_t reads_ = 0;
  uint64_t writes_ = 0;
};

// Returns a stored hash one byte short, as a damaged store would.
class TruncatingReader : public MerkleNodeReader {
 public:
  explicit TruncatingReader(MerkleNodeReader& inner) : inner_(inner) {}
  absl::StatusOr<std::string> GetNode(uint32_t level, uint64_t index) override {
    absl::StatusOr<std::string> hash = inner_.GetNode(level, index);
    if (hash.ok()) hash->pop_back();
    return hash;
  }

 private:
  MerkleNodeReader& inner_;
};

class MerkleLogVectorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    hasher_ = MakeHasher(HashAlgorithm::kSha256);
    ASSERT_NE(hasher_, nullptr);
    const auto& roots = Vectors()["roots"];
    ASSERT_EQ(roots.size(), 9u);
    ASSERT_EQ(Hex(*RootAt(*hasher_, nodes_, 0)), roots[0]["root_hex"]);
    // Appended one by one; each append returns the published root.
    uint64_t size = 0;
    for (const auto& leaf : Vectors()["leaves"]) {
      absl::StatusOr<std::string> root =
          AppendLeaf(*hasher_, nodes_, size, hasher_->HashLeaf(Unhex(leaf["input_hex"])));
      ASSERT_TRUE(root.ok()) << root.status();
      ++size;
      EXPECT_EQ(Hex(*root), roots[size]["root_hex"]) << "size " << size;
    }
  }

  std::unique_ptr<TreeHasher> hasher_;
  InMemoryMerkleNodes nodes_;
};

TEST_F(MerkleLogVectorsTest, RootsOfEverySizeArePublishedValues) {
  for (const auto& root : Vectors()["roots"]) {
    absl::StatusOr<std::string> got = RootAt(*hasher_, nodes_, root["tree_size"]);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(Hex(*got), root["root_hex"]) << "size " << root["tree_size"];
  }
}

TEST_F(MerkleLogVectorsTest, StoresExactlyThePublishedCompleteSubtrees) {
  const auto& subtrees = Vectors()["complete_subtree_hashes"];
  ASSERT_EQ(subtrees.size(), 15u);
  uint64_t stored = 0;
  for (uint32_t level = 0; level < 8; ++level) stored += nodes_.CountAt(level);
  EXPECT_EQ(stored, 15u);  // 8 leaves + 4 + 2 + 1, nothing imperfect
  for (const auto& node : subtrees) {
    absl::StatusOr<std::string> hash = nodes_.GetNode(node["level"], node["index"]);
    ASSERT_TRUE(hash.ok()) << hash.status();
    EXPECT_EQ(Hex(*hash), node["hash_hex"]) << node["level"] << "/" << node["index"];
  }
}

TEST_F(MerkleLogVectorsTest, GeneratesThePublishedInclusionProofs) {
  for (const auto& p : Vectors()["inclusion_proofs"]) {
    absl::StatusOr<std::vector<std::string>> proof =
        InclusionProof(*hasher_, nodes_, p["leaf_index"], p["tree_size"]);
    ASSERT_TRUE(proof.ok()) << proof.status();
    EXPECT_EQ(*proof, UnhexAll(p["path_hex"])) << p["upstream_file"];
    EXPECT_TRUE(VerifyInclusion(*hasher_, p["leaf_index"], p["tree_size"],
                                Unhex(p["leaf_hash_hex"]), *proof, Unhex(p["root_hex"]))
                    .ok());
  }
}

TEST_F(MerkleLogVectorsTest, GeneratesThePublishedConsistencyProofs) {
  for (const auto& p : Vectors()["consistency_proofs"]) {
    absl::StatusOr<std::vector<std::string>> proof =
        ConsistencyProof(*hasher_, nodes_, p["size1"], p["size2"]);
    ASSERT_TRUE(proof.ok()) << proof.status();
    EXPECT_EQ(*proof, UnhexAll(p["path_hex"])) << p["upstream_file"];
    EXPECT_TRUE(VerifyConsistency(*hasher_, p["size1"], p["size2"], *proof,
                                  Unhex(p["root1_hex"]), Unhex(p["root2_hex"]))
                    .ok());
  }
}

TEST_F(MerkleLogVectorsTest, ValidUpstreamProbesAreWhatTheLogGenerates) {
  int inclusion = 0, consistency = 0;
  for (const auto& p : Vectors()["probes"]["inclusion"]) {
    if (!p["expected_valid"].get<bool>() || p["tree_size"] > 8) continue;
    // Only the probes over the reference leaves (some use made-up hashes).
    if (Unhex(p["root_hex"]) != *RootAt(*hasher_, nodes_, p["tree_size"])) continue;
    EXPECT_EQ(*InclusionProof(*hasher_, nodes_, p["leaf_index"], p["tree_size"]),
              UnhexAll(p["path_hex"]))
        << p["upstream_file"];
    ++inclusion;
  }
  for (const auto& p : Vectors()["probes"]["consistency"]) {
    if (!p["expected_valid"].get<bool>() || p["size2"] > 8) continue;
    if (Unhex(p["root2_hex"]) != *RootAt(*hasher_, nodes_, p["size2"])) continue;
    EXPECT_EQ(*ConsistencyProof(*hasher_, nodes_, p["size1"], p["size2"]),
              UnhexAll(p["path_hex"]))
        << p["upstream_file"];
    ++consistency;
  }
  EXPECT_EQ(inclusion, 5);    // the sixth valid probe uses a made-up leaf and root
  EXPECT_EQ(consistency, 5);  // likewise
}

// Random logs against the RFC's recursive definitions.
class MerkleLogPropertyTest : public ::testing::TestWithParam<HashAlgorithm> {};

TEST_P(MerkleLogPropertyTest, AgreesWithReferenceTreeOnRandomLogs) {
  auto hasher = MakeHasher(GetParam());
  ASSERT_NE(hasher, nullptr);
  ReferenceTree reference(GetParam());
  InMemoryMerkleNodes nodes;
  std::mt19937_64 rng(6962);
  constexpr uint64_t kLeaves = 600;

  // Appended in random batch sizes (1 to 40), checking every root returned.
  uint64_t size = 0;
  while (size < kLeaves) {
    const uint64_t batch = std::min<uint64_t>(1 + rng() % 40, kLeaves - size);
    std::vector<std::string> hashes;
    for (uint64_t i = 0; i < batch; ++i) {
      std::string input(rng() % 64, '\0');
      for (char& c : input) c = static_cast<char>(rng());
      reference.Add(input);
      hashes.push_back(hasher->HashLeaf(input));
    }
    absl::StatusOr<std::string> root =
        batch == 1 ? AppendLeaf(*hasher, nodes, size, hashes[0])
                   : AppendLeaves(*hasher, nodes, size, hashes);
    ASSERT_TRUE(root.ok()) << root.status();
    size += batch;
    ASSERT_EQ(*root, reference.Mth(0, size)) << "size " << size;
  }

  std::vector<std::string> roots(kLeaves + 1);
  for (uint64_t n = 0; n <= kLeaves; ++n) {
    absl::StatusOr<std::string> root = RootAt(*hasher, nodes, n);
    ASSERT_TRUE(root.ok()) << root.status();
    ASSERT_EQ(*root, reference.Mth(0, n)) << "size " << n;
    roots[n] = *root;
  }

  // Every inclusion proof at the small sizes, around powers of two, and at
  // random sizes.
  std::vector<uint64_t> sizes;
  for (uint64_t n = 1; n <= 70; ++n) sizes.push_back(n);
  for (uint64_t p : {127, 128, 129, 255, 256, 257, 511, 512, 513, 599, 600}) sizes.push_back(p);
  for (int i = 0; i < 12; ++i) sizes.push_back(1 + rng() % kLeaves);
  uint64_t proofs = 0;
  for (uint64_t n : sizes) {
    for (uint64_t index = 0; index < n; ++index) {
      absl::StatusOr<std::vector<std::string>> proof = InclusionProof(*hasher, nodes, index, n);
      ASSERT_TRUE(proof.ok()) << proof.status();
      ASSERT_EQ(*proof, reference.Path(index, 0, n)) << "leaf " << index << " of " << n;
      ASSERT_TRUE(
          VerifyInclusion(*hasher, index, n, reference.leaf_hash(index), *proof, roots[n]).ok())
          << "leaf " << index << " of " << n;
      ++proofs;
    }
  }
  EXPECT_GT(proofs, 5000u);

  // Consistency between all pairs up to 64, and random pairs up to 600.
  std::vector<std::pair<uint64_t, uint64_t>> pairs;
  for (uint64_t n2 = 1; n2 <= 64; ++n2) {
    for (uint64_t n1 = 1; n1 <= n2; ++n1) pairs.emplace_back(n1, n2);
  }
  for (int i = 0; i < 2000; ++i) {
    uint64_t a = 1 + rng() % kLeaves, b = 1 + rng() % kLeaves;
    pairs.emplace_back(std::min(a, b), std::max(a, b));
  }
  for (auto [n1, n2] : pairs) {
    absl::StatusOr<std::vector<std::string>> proof = ConsistencyProof(*hasher, nodes, n1, n2);
    ASSERT_TRUE(proof.ok()) << proof.status();
    ASSERT_EQ(*proof, reference.Proof(n1, n2)) << n1 << " -> " << n2;
    ASSERT_TRUE(VerifyConsistency(*hasher, n1, n2, *proof, roots[n1], roots[n2]).ok())
        << n1 << " -> " << n2;
    if (n1 < n2) {
      // And not between roots of other sizes.
      ASSERT_FALSE(VerifyConsistency(*hasher, n1, n2, *proof, roots[n1 - 1 == 0 ? n2 : n1 - 1],
                                     roots[n2])
                       .ok());
    }
  }
}

// WriteLeaves stores exactly what AppendLeaves stores, in batches of other
// sizes, and the roots of every size come out as the RFC defines them.
TEST_P(MerkleLogPropertyTest, WritingLeavesWithoutRootsStoresTheSameNodes) {
  auto hasher = MakeHasher(GetParam());
  ASSERT_NE(hasher, nullptr);
  ReferenceTree reference(GetParam());
  InMemoryMerkleNodes appended, written;
  std::mt19937_64 rng(2962);
  constexpr uint64_t kLeaves = 700;
  std::vector<std::string> hashes;
  for (uint64_t i = 0; i < kLeaves; ++i) {
    const std::string input = absl::StrCat("record ", i, " ", rng());
    reference.Add(input);
    hashes.push_back(hasher->HashLeaf(input));
  }
  for (uint64_t i = 0; i < kLeaves; ++i) ASSERT_TRUE(AppendLeaf(*hasher, appended, i, hashes[i]).ok());
  for (uint64_t size = 0; size < kLeaves;) {
    const uint64_t batch = std::min<uint64_t>(1 + rng() % 70, kLeaves - size);
    absl::Status s = WriteLeaves(*hasher, written, size, absl::MakeConstSpan(hashes).subspan(size, batch));
    ASSERT_TRUE(s.ok()) << s << " at size " << size;
    size += batch;
  }
  for (uint32_t level = 0; level < 11; ++level) {
    ASSERT_EQ(written.CountAt(level), appended.CountAt(level)) << "level " << level;
    for (uint64_t index = 0; index < appended.CountAt(level); ++index) {
      ASSERT_EQ(*written.GetNode(level, index), *appended.GetNode(level, index)) << level << "/" << index;
    }
  }
  for (uint64_t n = 1; n <= kLeaves; n += 1 + rng() % 9) {
    ASSERT_EQ(*RootAt(*hasher, written, n), reference.Mth(0, n)) << "size " << n;
  }
}

INSTANTIATE_TEST_SUITE_P(BothAlgorithms, MerkleLogPropertyTest,
                         ::testing::Values(HashAlgorithm::kSha256, HashAlgorithm::kSm3),
                         [](const ::testing::TestParamInfo<HashAlgorithm>& info) {
                           return info.param == HashAlgorithm::kSha256 ? "Sha256" : "Sm3";
                         });

TEST(MerkleLogSm3Test, EmptyAndSmallRootsMatchSm3Reference) {
  auto hasher = MakeHasher(HashAlgorithm::kSm3);
  ASSERT_NE(hasher, nullptr);
  ReferenceTree reference(HashAlgorithm::kSm3);
  InMemoryMerkleNodes nodes;
  EXPECT_EQ(Hex(*RootAt(*hasher, nodes, 0)),
            "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b");
  for (uint64_t n = 0; n < 8; ++n) {
    const std::string input = Unhex(Vectors()["leaves"][n]["input_hex"]);
    reference.Add(input);
    absl::StatusOr<std::string> root = AppendLeaf(*hasher, nodes, n, hasher->HashLeaf(input));
    ASSERT_TRUE(root.ok()) << root.status();
    EXPECT_EQ(*root, reference.Mth(0, n + 1));
    // SM3 trees differ from the published SHA-256 ones.
    EXPECT_NE(Hex(*root), Vectors()["roots"][n + 1]["root_hex"]);
  }
}

// A million-leaf log: appends and proofs read O(log n) nodes, never the tree.
TEST(MerkleLogCostTest, ProofsReadLogarithmicallyManyNodes) {
  auto hasher = MakeHasher(HashAlgorithm::kSha256);
  ASSERT_NE(hasher, nullptr);
  constexpr uint64_t kSize = 1'000'003;
  const uint64_t bound = 4 * static_cast<uint64_t>(std::log2(static_cast<double>(kSize))) + 4;
  InMemoryMerkleNodes nodes;
  CountingWriter counted(nodes);
  auto leaf_hash = [&](uint64_t i) { return hasher->HashLeaf(std::to_string(i)); };

  // Batched appends (the fast path) read only the right edge once per batch.
  uint64_t size = 0;
  std::string root;
  while (size < kSize - 3) {
    std::vector<std::string> batch;
    for (uint64_t i = size; i < std::min<uint64_t>(size + 65536, kSize - 3); ++i) {
      batch.push_back(leaf_hash(i));
    }
    root = *AppendLeaves(*hasher, counted, size, batch);
    EXPECT_LE(counted.TakeReads(), 64u);
    EXPECT_LT(counted.TakeWrites(), 2 * batch.size() + 64);
    size += batch.size();
  }
  // Single appends: popcount(size) reads, at most log2(n) + 1 writes.
  for (; size < kSize; ++size) {
    root = *AppendLeaf(*hasher, counted, size, leaf_hash(size));
    EXPECT_EQ(counted.TakeReads(), static_cast<uint64_t>(std::popcount(size)));
    EXPECT_LE(counted.TakeWrites(), 21u);
  }
  // Nodes stored: one per leaf plus one per completed parent, < 2n.
  uint64_t stored = 0;
  for (uint32_t level = 0; level < 64; ++level) stored += nodes.CountAt(level);
  EXPECT_LT(stored, 2 * kSize);

  CountingReader reader(nodes);
  ASSERT_EQ(*RootAt(*hasher, reader, kSize), root);
  EXPECT_LE(reader.TakeReads(), static_cast<uint64_t>(std::popcount(kSize)));

  std::mt19937_64 rng(1);
  std::vector<uint64_t> indexes = {0, 1, kSize / 2, kSize - 3, kSize - 2, kSize - 1, 999'999,
                                   (uint64_t{1} << 19) - 1, uint64_t{1} << 19};
  for (int i = 0; i < 200; ++i) indexes.push_back(rng() % kSize);
  uint64_t max_reads = 0;
  for (uint64_t index : indexes) {
    absl::StatusOr<std::vector<std::string>> proof = InclusionProof(*hasher, reader, index, kSize);
    ASSERT_TRUE(proof.ok()) << proof.status();
    const uint64_t reads = reader.TakeReads();
    EXPECT_LE(reads, bound) << "leaf " << index;
    max_reads = std::max(max_reads, reads);
    EXPECT_TRUE(VerifyInclusion(*hasher, index, kSize, leaf_hash(index), *proof, root).ok())
        << "leaf " << index;
  }
  EXPECT_GE(max_reads, 20u);  // the bound is not met by reading nothing

  std::vector<std::pair<uint64_t, uint64_t>> pairs = {
      {1, kSize}, {kSize - 1, kSize}, {uint64_t{1} << 19, kSize}, {999'999, 1'000'001}};
  for (int i = 0; i < 100; ++i) {
    uint64_t a = 1 + rng() % kSize, b = 1 + rng() % kSize;
    pairs.emplace_back(std::min(a, b), std::max(a, b));
  }
  for (auto [n1, n2] : pairs) {
    absl::StatusOr<std::vector<std::string>> proof = ConsistencyProof(*hasher, reader, n1, n2);
    ASSERT_TRUE(proof.ok()) << proof.status();
    EXPECT_LE(reader.TakeReads(), bound) << n1 << " -> " << n2;
    const std::string root1 = *RootAt(*hasher, reader, n1);
    const std::string root2 = *RootAt(*hasher, reader, n2);
    reader.TakeReads();
    EXPECT_TRUE(VerifyConsistency(*hasher, n1, n2, *proof, root1, root2).ok())
        << n1 << " -> " << n2;
  }
}

class MerkleLogErrorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    hasher_ = MakeHasher(HashAlgorithm::kSha256);
    ASSERT_NE(hasher_, nullptr);
    for (uint64_t i = 0; i < 5; ++i) {
      ASSERT_TRUE(AppendLeaf(*hasher_, nodes_, i, Leaf(i)).ok());
    }
  }
  std::string Leaf(uint64_t i) const { return hasher_->HashLeaf(std::to_string(i)); }

  std::unique_ptr<TreeHasher> hasher_;
  InMemoryMerkleNodes nodes_;
};

TEST_F(MerkleLogErrorsTest, BadRequestsAreInvalidArgument) {
  constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;
  EXPECT_EQ(AppendLeaf(*hasher_, nodes_, 5, "short").status().code(), kInvalid);
  EXPECT_EQ(AppendLeaves(*hasher_, nodes_, 5, {Leaf(5), ""}).status().code(), kInvalid);
  EXPECT_EQ(nodes_.CountAt(0), 5u) << "a refused batch writes nothing";
  EXPECT_EQ(InclusionProof(*hasher_, nodes_, 5, 5).status().code(), kInvalid);
  EXPECT_EQ(InclusionProof(*hasher_, nodes_, 0, 0).status().code(), kInvalid);
  EXPECT_EQ(ConsistencyProof(*hasher_, nodes_, 3, 2).status().code(), kInvalid);
  EXPECT_EQ(ConsistencyProof(*hasher_, nodes_, 0, 5).status().code(), kInvalid);
  EXPECT_EQ(ConsistencyProof(*hasher_, nodes_, 0, 0).status().code(), kInvalid);
  EXPECT_TRUE(ConsistencyProof(*hasher_, nodes_, 5, 5).value().empty());
}

TEST_F(MerkleLogErrorsTest, SizesBeyondTheStoredLogAreNotFound) {
  constexpr auto kNotFound = absl::StatusCode::kNotFound;
  EXPECT_EQ(RootAt(*hasher_, nodes_, 6).status().code(), kNotFound);
  EXPECT_EQ(InclusionProof(*hasher_, nodes_, 0, 6).status().code(), kNotFound);
  EXPECT_EQ(ConsistencyProof(*hasher_, nodes_, 2, 7).status().code(), kNotFound);
  // Appending as if the log were longer than it is.
  EXPECT_EQ(AppendLeaf(*hasher_, nodes_, 7, Leaf(7)).status().code(), kNotFound);
  EXPECT_EQ(nodes_.CountAt(0), 5u);
}

TEST_F(MerkleLogErrorsTest, AppendingOverStoredLeavesIsRefused) {
  // As if the log were shorter than it is: node (0, 4) exists.
  EXPECT_EQ(AppendLeaf(*hasher_, nodes_, 4, Leaf(9)).status().code(),
            absl::StatusCode::kAlreadyExists);
  // The stored tree is unchanged and still extends.
  ReferenceTree reference(HashAlgorithm::kSha256);
  for (uint64_t i = 0; i < 6; ++i) reference.Add(std::to_string(i));
  absl::StatusOr<std::string> root = AppendLeaf(*hasher_, nodes_, 5, Leaf(5));
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(*root, reference.Mth(0, 6));
}

TEST_F(MerkleLogErrorsTest, WritingLeavesChecksAsAppendingDoes) {
  EXPECT_EQ(WriteLeaves(*hasher_, nodes_, 5, {Leaf(5), "short"}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(nodes_.CountAt(0), 5u) << "a refused batch writes nothing";
  // As if the log were longer than it is, at an odd and an even size.
  EXPECT_EQ(WriteLeaves(*hasher_, nodes_, 7, {Leaf(7)}).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(WriteLeaves(*hasher_, nodes_, 6, {Leaf(6)}).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(nodes_.CountAt(0), 5u);
  // As if it were shorter: node (0, 4) exists.
  EXPECT_EQ(WriteLeaves(*hasher_, nodes_, 4, {Leaf(9)}).code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(WriteLeaves(*hasher_, nodes_, 5, {Leaf(5), Leaf(6), Leaf(7)}).ok());
  ReferenceTree reference(HashAlgorithm::kSha256);
  for (uint64_t i = 0; i < 8; ++i) reference.Add(std::to_string(i));
  EXPECT_EQ(*RootAt(*hasher_, nodes_, 8), reference.Mth(0, 8));
}

TEST_F(MerkleLogErrorsTest, DamagedNodesAreDataLoss) {
  TruncatingReader damaged(nodes_);
  EXPECT_EQ(RootAt(*hasher_, damaged, 5).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(InclusionProof(*hasher_, damaged, 1, 5).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(ConsistencyProof(*hasher_, damaged, 3, 5).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(InMemoryMerkleNodesTest, LevelsAreDenseAndImmutable) {
  InMemoryMerkleNodes nodes;
  const std::string a(32, 'a'), b(32, 'b');
  EXPECT_EQ(nodes.GetNode(0, 0).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(nodes.PutNode(0, 0, a).ok());
  EXPECT_EQ(nodes.PutNode(0, 0, b).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(nodes.PutNode(0, 2, b).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(nodes.PutNode(0, 1, "short").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(nodes.PutNode(64, 0, b).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(nodes.PutNode(0, 1, b).ok());
  ASSERT_TRUE(nodes.PutNode(3, 0, b).ok());
  EXPECT_EQ(*nodes.GetNode(0, 0), a);
  EXPECT_EQ(*nodes.GetNode(0, 1), b);
  EXPECT_EQ(*nodes.GetNode(3, 0), b);
  EXPECT_EQ(nodes.GetNode(1, 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(nodes.CountAt(0), 2u);
  EXPECT_EQ(nodes.CountAt(9), 0u);
}

}  // namespace
}  // namespace caselink::merkle

namespace caselink::merkle {
namespace {

// Cached upper levels give the same proofs with fewer reads of the storage.
TEST(MerkleNodeCacheTest, SameProofsFewerStorageReads) {
  auto hasher = TreeHasher::Create(HashAlgorithm::kSha256);
  ASSERT_TRUE(hasher.ok());
  InMemoryMerkleNodes nodes;
  std::vector<std::string> leaves;
  for (int i = 0; i < 5000; ++i) leaves.push_back((*hasher)->HashLeaf(std::to_string(i)));
  ASSERT_TRUE(AppendLeaves(**hasher, nodes, 0, leaves).ok());
  CountingReader storage(nodes);
  MerkleNodeCache cache(/*min_level=*/4);
  CachingNodeReader cached(cache, storage);
  for (uint64_t index : {0u, 17u, 2500u, 4999u, 17u}) {
    auto plain = InclusionProof(**hasher, nodes, index, leaves.size());
    auto through_cache = InclusionProof(**hasher, cached, index, leaves.size());
    ASSERT_TRUE(plain.ok() && through_cache.ok());
    EXPECT_EQ(*plain, *through_cache);
  }
  const uint64_t cold = storage.TakeReads();
  // Warm now: the same proofs read only levels below 4 from storage.
  for (uint64_t index : {0u, 17u, 2500u, 4999u}) ASSERT_TRUE(InclusionProof(**hasher, cached, index, leaves.size()).ok());
  EXPECT_LT(storage.TakeReads(), cold);
  auto consistency = ConsistencyProof(**hasher, cached, 1234, leaves.size());
  ASSERT_TRUE(consistency.ok());
  EXPECT_EQ(*consistency, *ConsistencyProof(**hasher, nodes, 1234, leaves.size()));
  EXPECT_GT(cache.size(), 0u);
  // A failed read is not cached.
  std::string ignored;
  EXPECT_FALSE(cached.GetNode(20, 0).ok());
  EXPECT_FALSE(cache.Find(20, 0, ignored));
}

}  // namespace
}  // namespace caselink::merkle
