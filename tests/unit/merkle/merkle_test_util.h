// Shared by the Merkle tests: the RFC 6962 vector file, hex helpers, and a
// reference tree written straight from the RFC's recursive definitions with
// OpenSSL's one-shot digest, independent of the code under test.
#pragma once

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <bit>
#include <cstdint>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "security/merkle/tree_hasher.h"

namespace caselink::merkle::testing {

inline std::string Hex(const std::string& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

inline std::string Unhex(const std::string& hex) {
  EXPECT_EQ(hex.size() % 2, 0u) << hex;
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

inline std::vector<std::string> UnhexAll(const nlohmann::json& array) {
  std::vector<std::string> out;
  for (const auto& hex : array) out.push_back(Unhex(hex.get<std::string>()));
  return out;
}

// tests/vectors/rfc6962/merkle_vectors.json, parsed once.
inline const nlohmann::json& Vectors() {
  static const nlohmann::json* const vectors = [] {
    const std::string path = std::string(CASELINK_VECTORS_DIR) + "/rfc6962/merkle_vectors.json";
    std::ifstream in(path);
    EXPECT_TRUE(in.good()) << "cannot open " << path;
    std::stringstream text;
    text << in.rdbuf();
    return new nlohmann::json(nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false));
  }();
  return *vectors;
}

inline std::unique_ptr<TreeHasher> MakeHasher(HashAlgorithm algorithm) {
  absl::StatusOr<std::unique_ptr<TreeHasher>> hasher = TreeHasher::Create(algorithm);
  EXPECT_TRUE(hasher.ok()) << hasher.status();
  return hasher.ok() ? *std::move(hasher) : nullptr;
}

// The RFC 6962 tree over a list of leaf inputs, with MTH, PATH and PROOF as
// the RFC defines them (recursively, splitting at the largest power of two
// below n). MTH of each leaf range is memoised: it depends on the leaves only.
class ReferenceTree {
 public:
  explicit ReferenceTree(HashAlgorithm algorithm)
      : md_(algorithm == HashAlgorithm::kSha256 ? EVP_sha256() : EVP_sm3()) {}

  std::string Digest(const std::string& data) const {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EXPECT_EQ(EVP_Digest(data.data(), data.size(), out, &size, md_, nullptr), 1);
    return std::string(reinterpret_cast<char*>(out), size);
  }
  std::string LeafHash(const std::string& input) const { return Digest(std::string(1, '\0') + input); }
  std::string NodeHash(const std::string& l, const std::string& r) const {
    return Digest(std::string(1, '\1') + l + r);
  }

  void Add(const std::string& input) { leaf_hashes_.push_back(LeafHash(input)); }
  uint64_t size() const { return leaf_hashes_.size(); }
  const std::string& leaf_hash(uint64_t i) const { return leaf_hashes_[i]; }

  // MTH(D[a:b]).
  std::string Mth(uint64_t a, uint64_t b) {
    if (b == a) return Digest("");
    if (b - a == 1) return leaf_hashes_[a];
    auto it = memo_.find({a, b});
    if (it != memo_.end()) return it->second;
    const uint64_t k = Split(b - a);
    std::string hash = NodeHash(Mth(a, a + k), Mth(a + k, b));
    memo_.emplace(std::make_pair(a, b), hash);
    return hash;
  }

  // PATH(m, D[a:b]), m relative to a.
  std::vector<std::string> Path(uint64_t m, uint64_t a, uint64_t b) {
    if (b - a <= 1) return {};
    const uint64_t k = Split(b - a);
    std::vector<std::string> path;
    if (m < k) {
      path = Path(m, a, a + k);
      path.push_back(Mth(a + k, b));
    } else {
      path = Path(m - k, a + k, b);
      path.push_back(Mth(a, a + k));
    }
    return path;
  }

  // PROOF(m, D[0:n]) = SUBPROOF(m, D[0:n], true).
  std::vector<std::string> Proof(uint64_t m, uint64_t n) { return Subproof(m, 0, n, true); }

 private:
  // Largest power of two smaller than n (n >= 2).
  static uint64_t Split(uint64_t n) { return std::bit_floor(n - 1); }

  std::vector<std::string> Subproof(uint64_t m, uint64_t a, uint64_t b, bool whole_old_tree) {
    const uint64_t n = b - a;
    if (m == n) {
      if (whole_old_tree) return {};
      return {Mth(a, b)};
    }
    const uint64_t k = Split(n);
    std::vector<std::string> proof;
    if (m <= k) {
      proof = Subproof(m, a, a + k, whole_old_tree);
      proof.push_back(Mth(a + k, b));
    } else {
      proof = Subproof(m - k, a + k, b, false);
      proof.push_back(Mth(a, a + k));
    }
    return proof;
  }

  const EVP_MD* md_;
  std::vector<std::string> leaf_hashes_;
  std::map<std::pair<uint64_t, uint64_t>, std::string> memo_;
};

}  // namespace caselink::merkle::testing
