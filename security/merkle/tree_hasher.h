// RFC 6962 §2.1 hashing for the audit log: leaves and interior nodes are hashed
// with distinct prefixes, so a leaf can never be passed off as a node.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace caselink::merkle {

// The hash function under the tree: SHA-256 for the INTL profile, SM3 for GM.
// Both produce 32-byte digests.
enum class HashAlgorithm {
  kSha256,
  kSm3,
};

// Name used in messages and configuration ("SHA-256", "SM3").
absl::string_view HashAlgorithmName(HashAlgorithm algorithm);

// leaf  = H(0x00 || data)
// node  = H(0x01 || left || right)
// empty = H("")
//
// Thread-safe: every method is const and keeps no per-call state in the object.
// The hashing methods cannot fail once Create has succeeded, except when
// OpenSSL cannot allocate memory; they then abort rather than hand out a wrong
// hash that would be written into the log for ever.
class TreeHasher {
 public:
  // Fails (UNAVAILABLE) if this OpenSSL build does not provide the algorithm.
  static absl::StatusOr<std::unique_ptr<TreeHasher>> Create(HashAlgorithm algorithm);

  TreeHasher(const TreeHasher&) = delete;
  TreeHasher& operator=(const TreeHasher&) = delete;
  ~TreeHasher();

  HashAlgorithm algorithm() const { return algorithm_; }
  // Digest length in bytes; every leaf, node and root hash has this size.
  size_t size() const { return size_; }

  // Root of the tree with no leaves: H("").
  const std::string& EmptyRoot() const { return empty_root_; }
  // H(0x00 || leaf): the hash of one log entry.
  std::string HashLeaf(absl::string_view leaf) const;
  // H(0x01 || left || right). Inputs are hashed as given; proofs.h checks
  // their lengths before hashing anything that came from outside.
  std::string HashChildren(absl::string_view left, absl::string_view right) const;

 private:
  struct Md;  // the fetched OpenSSL digest, kept out of this header
  TreeHasher(HashAlgorithm algorithm, std::unique_ptr<Md> md, size_t size);

  // H(prefix || a || b); prefix < 0 means no prefix byte.
  std::string Hash(int prefix, absl::string_view a, absl::string_view b) const;

  const HashAlgorithm algorithm_;
  const std::unique_ptr<Md> md_;
  const size_t size_;
  std::string empty_root_;
};

}  // namespace caselink::merkle
