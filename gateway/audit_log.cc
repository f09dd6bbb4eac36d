// Audit log appends and checks. The leaf of record i is H(0x00 || bytes of
// record i), with the record's own index inside it, so a verifier holding a
// signed root can tell a changed, missing, reordered or inserted record.
#include "gateway/audit_log.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/time_util.h>

#include "absl/strings/str_cat.h"
#include "gateway/crypto_profile.h"
#include "security/digest.h"

namespace caselink {
namespace {

// Merkle nodes written and read inside the writer's transaction.
class TransactionMerkleNodes : public merkle::MerkleNodeWriter {
 public:
  explicit TransactionMerkleNodes(StoreTransaction& txn) : txn_(txn) {}
  absl::StatusOr<std::string> GetNode(uint32_t level, uint64_t index) override { return txn_.GetMerkleNode(level, index); }
  absl::Status PutNode(uint32_t level, uint64_t index, absl::string_view hash) override {
    return txn_.PutMerkleNode(level, index, std::string_view(hash.data(), hash.size()));
  }

 private:
  StoreTransaction& txn_;
};

v1::DigestAlgorithm DigestOf(const merkle::TreeHasher& hasher) {
  return hasher.algorithm() == merkle::HashAlgorithm::kSm3 ? v1::SM3 : v1::SHA256;
}

}  // namespace

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

const merkle::TreeHasher& AuditTreeHasher(merkle::HashAlgorithm algorithm) {
  static const merkle::TreeHasher* sha256 = merkle::TreeHasher::Create(merkle::HashAlgorithm::kSha256)->release();
  static const merkle::TreeHasher* sm3 = merkle::TreeHasher::Create(merkle::HashAlgorithm::kSm3)->release();
  return algorithm == merkle::HashAlgorithm::kSm3 ? *sm3 : *sha256;
}

absl::StatusOr<uint64_t> AppendAuditRecord(StoreTransaction& txn, v1::AuditRecord record, absl::Time now,
                                           const merkle::TreeHasher& hasher) {
  auto head = txn.GetAuditHead();
  if (!head.ok()) return head.status();
  record.set_index(head->size);
  *record.mutable_time() = google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(now));
  v1::AuditEntry entry;
  entry.set_index(head->size);
  entry.set_record(SerializeCanonical(record));
  entry.set_entry_hash(hasher.HashLeaf(entry.record()));
  if (auto s = txn.AppendAuditEntry(entry, record); !s.ok()) return s;
  TransactionMerkleNodes nodes(txn);
  // Roots are computed when a tree head is signed, not per record.
  if (auto s = merkle::WriteLeaves(hasher, nodes, head->size, {entry.entry_hash()}); !s.ok()) return s;
  return head->size;
}

absl::StatusOr<v1::SignedTreeHead> SignCurrentTreeHead(Store& store, const merkle::TreeHasher& hasher,
                                                       const security::Signer& signer, absl::Time now) {
  auto size = store.ReadAuditSize();
  if (!size.ok()) return size.status();
  if (auto stored = store.ReadTreeHead(*size); !stored.ok()) {
    return stored.status();
  } else if (stored->has_value()) {
    v1::SignedTreeHead sth;
    if (!sth.ParseFromString(**stored)) return absl::DataLossError("stored tree head does not parse");
    return sth;
  }
  StoreMerkleReader reader(store);
  auto root = merkle::RootAt(hasher, reader, *size);
  if (!root.ok()) return root.status();
  v1::TreeHead head;
  head.set_tree_size(*size);
  head.set_root_hash(*root);
  *head.mutable_timestamp() = google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(now));
  head.set_hash_algorithm(DigestOf(hasher));
  v1::SignedTreeHead sth;
  sth.set_tree_head(SerializeCanonical(head));
  auto sig = signer.Sign(sth.tree_head());
  if (!sig.ok()) return sig.status();
  sth.mutable_signature()->set_algorithm(ToProtoAlgorithm(signer.algorithm()));
  sth.mutable_signature()->set_key_id(signer.key_id());
  sth.mutable_signature()->set_value(*sig);
  const std::string bytes = sth.SerializeAsString();
  absl::Status put = store.WriteAndWait([&](StoreTransaction& txn) {
    return txn.PutTreeHead(*size, absl::ToUnixMicros(now), bytes);
  });
  // Another signer may have stored one for this size meanwhile; either is valid.
  if (!put.ok() && !absl::IsAlreadyExists(put)) return put;
  return sth;
}

absl::StatusOr<v1::TreeHead> VerifyTreeHead(const v1::SignedTreeHead& signed_head, const security::Verifier& gateway_key) {
  if (auto s = gateway_key.Verify(signed_head.signature().value(), signed_head.tree_head()); !s.ok()) {
    return absl::UnauthenticatedError("the tree head's signature does not verify with the gateway key");
  }
  v1::TreeHead head;
  if (!head.ParseFromString(signed_head.tree_head())) return absl::InvalidArgumentError("the tree head does not parse");
  return head;
}

AuditVerification VerifyAuditLog(const v1::AuditLogExport& exported, const security::Verifier& gateway_key) {
  AuditVerification out;
  auto head = VerifyTreeHead(exported.tree_head(), gateway_key);
  if (!head.ok()) {
    out.message = std::string(head.status().message());
    return out;
  }
  const merkle::TreeHasher& hasher =
      AuditTreeHasher(head->hash_algorithm() == v1::SM3 ? merkle::HashAlgorithm::kSm3 : merkle::HashAlgorithm::kSha256);
  const uint64_t size = head->tree_size();
  std::vector<std::string> leaves;
  leaves.reserve(size);
  for (int i = 0; i < exported.entries_size() && static_cast<uint64_t>(i) < size; ++i) {
    const v1::AuditEntry& entry = exported.entries(i);
    v1::AuditRecord record;
    const std::string leaf = hasher.HashLeaf(entry.record());
    std::string why;
    if (!record.ParseFromString(entry.record())) {
      why = "its record does not parse";
    } else if (record.index() != static_cast<uint64_t>(i) || entry.index() != static_cast<uint64_t>(i)) {
      why = absl::StrCat("it holds record ", record.index(), " (a record is missing, inserted or out of order)");
    } else if (leaf != entry.entry_hash()) {
      why = "its record bytes do not match their leaf hash (the record was altered)";
    }
    if (!why.empty()) {
      out.first_bad_index = i;
      out.message = absl::StrCat("audit entry ", i, " is bad: ", why);
      return out;
    }
    leaves.push_back(leaf);
  }
  if (leaves.size() < size) {
    out.first_bad_index = static_cast<int64_t>(leaves.size());
    out.message = absl::StrCat("the log has ", leaves.size(), " entries but the signed tree head covers ", size,
                               "; entries from ", leaves.size(), " on are missing");
    return out;
  }
  merkle::InMemoryMerkleNodes nodes;
  auto root = merkle::AppendLeaves(hasher, nodes, 0, leaves);
  if (!root.ok()) {
    out.message = std::string(root.status().message());
    return out;
  }
  const std::string expected = size == 0 ? hasher.EmptyRoot() : *root;
  if (expected != head->root_hash()) {
    // Every entry is self-consistent, so records were rewritten together with
    // their leaf hashes; below the signed root nothing else is trusted, so
    // the position cannot be named, only the fact.
    out.message = absl::StrCat("the root of the ", size, " exported entries does not match the signed tree head: the log was rewritten");
    return out;
  }
  out.ok = true;
  out.message = absl::StrCat("verified ", size, " entries against the signed tree head (root ",
                             security::HexEncode(head->root_hash()), ")");
  return out;
}

absl::StatusOr<v1::AuditLogExport> ExportAuditLog(Store& store) {
  v1::AuditLogExport out;
  auto sth = store.ReadLatestTreeHead();
  if (!sth.ok()) return sth.status();
  if (!sth->has_value()) return absl::FailedPreconditionError("the store has no signed tree head yet");
  if (!out.mutable_tree_head()->ParseFromString(**sth)) return absl::DataLossError("stored tree head does not parse");
  for (uint64_t from = 0;;) {
    auto batch = store.ReadAuditEntries(from, 10000);
    if (!batch.ok()) return batch.status();
    if (batch->empty()) break;
    for (auto& e : *batch) *out.add_entries() = std::move(e);
    from = out.entries(out.entries_size() - 1).index() + 1;
  }
  return out;
}

}  // namespace caselink
