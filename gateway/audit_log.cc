// Audit log appends. The hash chain is the first cut of tamper evidence; the
// Merkle log replaces it without changing what callers append.
#include "gateway/audit_log.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/time_util.h>

#include "security/digest.h"

namespace caselink {

std::string SerializeCanonical(const google::protobuf::Message& message) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream sink(&out);
    google::protobuf::io::CodedOutputStream coded(&sink);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return out;
}

std::string ChainHash(const std::string& previous_hash, const std::string& record_bytes) {
  return security::Sha256(previous_hash + record_bytes);
}

absl::StatusOr<uint64_t> AppendAuditRecord(StoreTransaction& txn, v1::AuditRecord record, absl::Time now) {
  auto head = txn.GetAuditHead();
  if (!head.ok()) return head.status();
  record.set_index(head->size);
  *record.mutable_time() = google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(now));
  v1::AuditEntry entry;
  entry.set_index(head->size);
  entry.set_record(SerializeCanonical(record));
  entry.set_entry_hash(ChainHash(head->last_entry_hash, entry.record()));
  if (auto s = txn.AppendAuditEntry(entry); !s.ok()) return s;
  return head->size;
}

int64_t FirstBrokenAuditEntry(const std::vector<v1::AuditEntry>& entries, uint64_t first_index,
                              std::string previous_hash) {
  uint64_t expected = first_index;
  for (const auto& entry : entries) {
    v1::AuditRecord record;
    if (entry.index() != expected || !record.ParseFromString(entry.record()) || record.index() != expected ||
        ChainHash(previous_hash, entry.record()) != entry.entry_hash()) {
      return static_cast<int64_t>(expected);
    }
    previous_hash = entry.entry_hash();
    ++expected;
  }
  return -1;
}

}  // namespace caselink
