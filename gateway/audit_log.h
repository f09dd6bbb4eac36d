// The audit log: canonical record encoding, RFC 6962 Merkle appends in the
// same commit as the state change they record, signed tree heads, and the
// offline checks an outside verifier runs with only the gateway's public key.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "adapters/store/store.h"
#include "caselink/v1/audit.pb.h"
#include "security/merkle/merkle_log.h"
#include "security/merkle/tree_hasher.h"
#include "security/signature.h"

namespace caselink {

// Deterministic protobuf serialization: the canonical bytes that are hashed and signed.
std::string SerializeCanonical(const google::protobuf::Message& message);

// The tree hasher for the audit log (SHA-256 under INTL, SM3 under GM).
const merkle::TreeHasher& AuditTreeHasher(merkle::HashAlgorithm algorithm = merkle::HashAlgorithm::kSha256);

// Sets the record's index and time, appends it as the next leaf
// (leaf hash = H(0x00 || canonical record bytes)) and stores the new perfect
// subtree hashes; returns the index. Runs inside the caller's store work.
absl::StatusOr<uint64_t> AppendAuditRecord(StoreTransaction& txn, v1::AuditRecord record, absl::Time now,
                                           const merkle::TreeHasher& hasher = AuditTreeHasher());

// Merkle nodes read through the store's read connections.
class StoreMerkleReader : public merkle::MerkleNodeReader {
 public:
  explicit StoreMerkleReader(Store& store) : store_(store) {}
  absl::StatusOr<std::string> GetNode(uint32_t level, uint64_t index) override {
    return store_.ReadMerkleNode(level, index);
  }

 private:
  Store& store_;
};

// Signs the tree head of the current log and stores it (or returns the one
// already stored for that size).
absl::StatusOr<v1::SignedTreeHead> SignCurrentTreeHead(Store& store, const merkle::TreeHasher& hasher,
                                                       const security::Signer& signer, absl::Time now);

// Checks the gateway's signature on a tree head and returns its contents.
absl::StatusOr<v1::TreeHead> VerifyTreeHead(const v1::SignedTreeHead& signed_head, const security::Verifier& gateway_key);

struct AuditVerification {
  bool ok = false;
  // Index of the first entry that is missing, altered, out of place or
  // inserted; -1 when the entries are individually sound but the tree still
  // differs from the signed head.
  int64_t first_bad_index = -1;
  std::string message;
};

// Verifies an exported log against a signed tree head: every entry's index and
// leaf hash, then the root of the first tree_size leaves. Nothing but the
// export, the signed head and the gateway's key is trusted.
AuditVerification VerifyAuditLog(const v1::AuditLogExport& exported, const security::Verifier& gateway_key);

// Builds an export of the whole log in `store` with its latest signed tree head.
absl::StatusOr<v1::AuditLogExport> ExportAuditLog(Store& store);

}  // namespace caselink
