// Appending audit records: canonical encoding and the hash that chains each
// entry to the one before it.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "adapters/store/store.h"
#include "caselink/v1/audit.pb.h"

namespace caselink {

// Deterministic protobuf serialization: the canonical bytes that are hashed and signed.
std::string SerializeCanonical(const google::protobuf::Message& message);

// entry_hash = SHA-256(previous entry_hash || record bytes); the first entry chains to nothing.
std::string ChainHash(const std::string& previous_hash, const std::string& record_bytes);

// Sets the record's index and time and appends it; returns the index.
absl::StatusOr<uint64_t> AppendAuditRecord(StoreTransaction& txn, v1::AuditRecord record, absl::Time now);

// Re-computes the chain over `entries` starting after `previous_hash`; returns
// the index of the first entry whose hash or index does not match, or -1.
int64_t FirstBrokenAuditEntry(const std::vector<v1::AuditEntry>& entries, uint64_t first_index,
                              std::string previous_hash);

}  // namespace caselink
