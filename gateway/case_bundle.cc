// Case bundle export and offline verification.
#include "gateway/case_bundle.h"

#include <google/protobuf/util/time_util.h>

#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "gateway/audit_log.h"
#include "gateway/crypto_profile.h"
#include "security/digest.h"
#include "security/merkle/merkle_log.h"
#include "security/merkle/proofs.h"
#include "security/signer_factory.h"

namespace caselink {
namespace {

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixMicros(google::protobuf::util::TimeUtil::TimestampToMicroseconds(t));
}

}  // namespace

absl::StatusOr<v1::CaseBundle> BuildCaseBundle(Store& store, const AgencyRegistry& registry,
                                               const merkle::TreeHasher& hasher, const security::Signer& signer,
                                               const std::string& gateway_certificate_pem, const std::string& case_id,
                                               absl::Time now,
                                               const std::map<std::string, std::string>& previous_certificates_pem) {
  v1::CaseBundle bundle;
  bundle.set_case_id(case_id);
  bundle.set_gateway_certificate_pem(gateway_certificate_pem);
  auto sth = SignCurrentTreeHead(store, hasher, signer, now);
  if (!sth.ok()) return sth.status();
  v1::TreeHead head;
  if (!head.ParseFromString(sth->tree_head())) return absl::InternalError("own tree head does not parse");
  *bundle.mutable_tree_head() = *sth;

  AuditFilter filter;
  filter.case_id = case_id;
  filter.limit = 1000000;
  auto entries = store.QueryAudit(filter);
  if (!entries.ok()) return entries.status();
  StoreMerkleReader reader(store);
  for (const auto& entry : *entries) {
    if (entry.index() >= head.tree_size()) break;
    auto proof = merkle::InclusionProof(hasher, reader, entry.index(), head.tree_size());
    if (!proof.ok()) return proof.status();
    *bundle.add_audit_entries() = entry;
    auto* p = bundle.add_inclusion_proofs();
    p->set_leaf_index(entry.index());
    p->set_tree_size(head.tree_size());
    for (auto& h : *proof) p->add_audit_path(std::move(h));
  }

  auto timeline = store.ReadTimeline(case_id);
  if (!timeline.ok()) return timeline.status();
  for (const auto& event : *timeline) {
    auto stored = store.ReadEnvelope(event.envelope_id());
    if (!stored.ok()) return stored.status();
    if (!stored->has_value()) return absl::DataLossError(absl::StrCat("envelope ", event.envelope_id(), " of the timeline is missing"));
    v1::SignedEnvelope* envelope = bundle.add_envelopes();
    v1::SignedSubmissionReceipt* receipt = bundle.add_receipts();
    if (!envelope->ParseFromString((*stored)->signed_envelope) || !receipt->ParseFromString((*stored)->signed_receipt)) {
      return absl::DataLossError(absl::StrCat("stored envelope ", event.envelope_id(), " does not parse"));
    }
    const std::string& key_id = envelope->signature().key_id();
    if (!bundle.signing_certificates_pem().contains(key_id)) {
      const SigningKey* key = registry.FindSigningKey((*stored)->sender_agency, key_id);
      if (key == nullptr) {
        return absl::FailedPreconditionError(absl::StrCat("signing key ", key_id, " is no longer in the registry"));
      }
      (*bundle.mutable_signing_certificates_pem())[key_id] = key->certificate->Pem();
    }
  }
  // Receipts and evidence by keys the gateway has since rotated away from.
  auto add_previous = [&](const v1::Signature& sig) {
    if (sig.key_id() == signer.key_id()) return;
    auto it = previous_certificates_pem.find(sig.key_id());
    if (it != previous_certificates_pem.end()) (*bundle.mutable_previous_gateway_certificates_pem())[it->first] = it->second;
  };
  for (const auto& receipt : bundle.receipts()) add_previous(receipt.signature());
  for (const auto& entry : bundle.audit_entries()) {
    v1::AuditRecord record;
    if (record.ParseFromString(entry.record()) && record.has_evidence()) add_previous(record.evidence().signature());
  }
  // The signature's algorithm and key id are signed with the rest.
  bundle.mutable_gateway_signature()->set_algorithm(ToProtoAlgorithm(signer.algorithm()));
  bundle.mutable_gateway_signature()->set_key_id(signer.key_id());
  auto sig = signer.Sign(SerializeCanonical(bundle));
  if (!sig.ok()) return sig.status();
  bundle.mutable_gateway_signature()->set_value(*sig);
  return bundle;
}

absl::Status VerifyCaseBundle(const v1::CaseBundle& bundle, const security::Verifier& gateway_key,
                              const security::ChainValidator* agency_ca) {
  v1::CaseBundle unsigned_bundle = bundle;
  unsigned_bundle.mutable_gateway_signature()->clear_value();
  const v1::SignatureAlgorithm gateway_algorithm = ToProtoAlgorithm(gateway_key.algorithm());
  if (bundle.gateway_signature().algorithm() != gateway_algorithm ||
      !gateway_key.Verify(bundle.gateway_signature().value(), SerializeCanonical(unsigned_bundle)).ok()) {
    return absl::UnauthenticatedError("the bundle's gateway signature does not verify: the bundle was altered");
  }
  // Every gateway signature inside must be by the key that signed the bundle, or by
  // a previous gateway key whose certificate the bundle carries.
  const std::string& gateway_key_id = bundle.gateway_signature().key_id();
  auto by_gateway = [&](const v1::Signature& s) {
    return s.algorithm() == gateway_algorithm && s.key_id() == gateway_key_id;
  };
  if (!by_gateway(bundle.tree_head().signature())) {
    return absl::UnauthenticatedError("the tree head names another signing key or algorithm than the bundle");
  }
  // Verifies a gateway signature made at `at` over `data`.
  auto verify_gateway = [&](const v1::Signature& s, const std::string& data, absl::Time at,
                            absl::string_view what) -> absl::Status {
    if (by_gateway(s)) {
      if (gateway_key.Verify(s.value(), data).ok()) return absl::OkStatus();
      return absl::UnauthenticatedError(absl::StrCat(what, " does not verify with the gateway key"));
    }
    auto pem = bundle.previous_gateway_certificates_pem().find(s.key_id());
    if (pem == bundle.previous_gateway_certificates_pem().end()) {
      return absl::UnauthenticatedError(absl::StrCat(what, " names gateway key '", s.key_id(),
                                                     "', which neither signed the bundle nor is among its previous keys"));
    }
    auto cert = security::Certificate::FromPem(pem->second);
    if (!cert.ok()) return cert.status();
    if (agency_ca != nullptr) {
      if (auto st = agency_ca->Validate(**cert, at, security::KeyPurpose::kSigning); !st.ok()) {
        return absl::UnauthenticatedError(absl::StrCat("previous gateway key '", s.key_id(), "' was not valid when it signed ",
                                                       what, ": ", st.message()));
      }
    }
    auto declared = FromProtoAlgorithm(s.algorithm());
    if (!declared.ok()) return absl::UnauthenticatedError(absl::StrCat(what, " names an unknown signature algorithm"));
    auto verifier = security::CreateVerifierFromCertificate(**cert, *declared);
    if (!verifier.ok() || !(*verifier)->Verify(s.value(), data).ok()) {
      return absl::UnauthenticatedError(absl::StrCat(what, " does not verify with previous gateway key '", s.key_id(), "'"));
    }
    return absl::OkStatus();
  };
  auto head = VerifyTreeHead(bundle.tree_head(), gateway_key);
  if (!head.ok()) return head.status();
  const merkle::TreeHasher& hasher =
      AuditTreeHasher(head->hash_algorithm() == v1::SM3 ? merkle::HashAlgorithm::kSm3 : merkle::HashAlgorithm::kSha256);
  if (bundle.audit_entries_size() != bundle.inclusion_proofs_size()) {
    return absl::InvalidArgumentError("the bundle has a different number of audit entries and inclusion proofs");
  }
  std::map<uint64_t, v1::AuditRecord> records;
  for (int i = 0; i < bundle.audit_entries_size(); ++i) {
    const v1::AuditEntry& entry = bundle.audit_entries(i);
    const v1::InclusionProof& proof = bundle.inclusion_proofs(i);
    v1::AuditRecord record;
    if (!record.ParseFromString(entry.record()) || record.index() != entry.index()) {
      return absl::DataLossError(absl::StrCat("audit entry ", entry.index(), " does not parse or names another index"));
    }
    if (record.case_id() != bundle.case_id()) {
      return absl::DataLossError(absl::StrCat("audit entry ", entry.index(), " is about another case"));
    }
    const std::string leaf = hasher.HashLeaf(entry.record());
    if (proof.leaf_index() != entry.index() || proof.tree_size() != head->tree_size()) {
      return absl::DataLossError(absl::StrCat("the inclusion proof for entry ", entry.index(), " is for another leaf or size"));
    }
    std::vector<std::string> path(proof.audit_path().begin(), proof.audit_path().end());
    if (auto st = merkle::VerifyInclusion(hasher, entry.index(), head->tree_size(), leaf, path, head->root_hash()); !st.ok()) {
      return absl::DataLossError(absl::StrCat("audit entry ", entry.index(), " is not in the signed log: ", st.message()));
    }
    if (record.has_evidence()) {
      v1::Evidence evidence;
      if (!evidence.ParseFromString(record.evidence().evidence()) || evidence.case_id() != bundle.case_id()) {
        return absl::DataLossError(absl::StrCat("the evidence in audit entry ", entry.index(), " does not parse or is about another case"));
      }
      if (auto st = verify_gateway(record.evidence().signature(), record.evidence().evidence(), FromProto(evidence.time()),
                                   absl::StrCat("the evidence in audit entry ", entry.index()));
          !st.ok()) {
        return st;
      }
    }
    records[entry.index()] = record;
  }
  if (bundle.envelopes_size() != bundle.receipts_size()) {
    return absl::InvalidArgumentError("the bundle has a different number of envelopes and receipts");
  }
  for (int i = 0; i < bundle.envelopes_size(); ++i) {
    const v1::SignedEnvelope& signed_envelope = bundle.envelopes(i);
    v1::Envelope envelope;
    if (!envelope.ParseFromString(signed_envelope.envelope()) || envelope.case_id() != bundle.case_id()) {
      return absl::DataLossError(absl::StrCat("envelope ", i, " does not parse or is about another case"));
    }
    v1::SubmissionReceipt receipt;
    const v1::SignedSubmissionReceipt& signed_receipt = bundle.receipts(i);
    if (!receipt.ParseFromString(signed_receipt.receipt())) {
      return absl::DataLossError(absl::StrCat("the gateway receipt for envelope ", envelope.envelope_id(), " does not parse"));
    }
    if (auto st = verify_gateway(signed_receipt.signature(), signed_receipt.receipt(), FromProto(receipt.gateway_time()),
                                 absl::StrCat("the gateway receipt for envelope ", envelope.envelope_id()));
        !st.ok()) {
      return st;
    }
    if (receipt.envelope_digest().value() != security::Sha256(signed_envelope.envelope()) ||
        receipt.envelope_id() != envelope.envelope_id()) {
      return absl::DataLossError(absl::StrCat("the receipt for envelope ", envelope.envelope_id(), " is for other bytes"));
    }
    auto record = records.find(receipt.audit_index());
    if (record == records.end() || record->second.envelope_id() != envelope.envelope_id() ||
        record->second.outcome() != v1::AuditRecord::ACCEPTED) {
      return absl::DataLossError(absl::StrCat("the acceptance of envelope ", envelope.envelope_id(), " (audit index ",
                                              receipt.audit_index(), ") is not among the proven audit entries"));
    }
    auto declared = FromProtoAlgorithm(signed_envelope.signature().algorithm());
    if (!declared.ok()) {
      return absl::UnauthenticatedError(absl::StrCat("envelope ", envelope.envelope_id(), " names a signature algorithm this verifier does not allow"));
    }
    auto pem = bundle.signing_certificates_pem().find(signed_envelope.signature().key_id());
    if (pem == bundle.signing_certificates_pem().end()) {
      return absl::NotFoundError(absl::StrCat("no certificate for signing key ", signed_envelope.signature().key_id()));
    }
    auto cert = security::Certificate::FromPem(pem->second);
    if (!cert.ok()) return cert.status();
    if (agency_ca != nullptr) {
      if (auto st = agency_ca->Validate(**cert, FromProto(receipt.gateway_time()), security::KeyPurpose::kSigning); !st.ok()) {
        return absl::UnauthenticatedError(absl::StrCat("signing certificate ", signed_envelope.signature().key_id(),
                                                       " was not valid when the envelope was accepted: ", st.message()));
      }
    }
    // Only under the algorithm the sender declared, which must be its key's.
    auto verifier = security::CreateVerifierFromCertificate(**cert, *declared);
    if (!verifier.ok()) {
      return absl::UnauthenticatedError(absl::StrCat("envelope ", envelope.envelope_id(), ": ", verifier.status().message()));
    }
    if (!(*verifier)->Verify(signed_envelope.signature().value(), signed_envelope.envelope()).ok()) {
      return absl::UnauthenticatedError(absl::StrCat("the sender's signature on envelope ", envelope.envelope_id(), " does not verify"));
    }
  }
  return absl::OkStatus();
}

}  // namespace caselink
