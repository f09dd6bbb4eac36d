// Document reference checks for Submit and Download; see document_checks.h.
#include "gateway/document_checks.h"

#include <algorithm>
#include <memory>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gateway/crypto_profile.h"
#include "security/digest.h"
#include "security/document_crypto.h"
#include "security/document_keys.h"

namespace caselink {
namespace {

std::string LowerName(v1::DigestAlgorithm algorithm) { return absl::AsciiStrToLower(v1::DigestAlgorithm_Name(algorithm)); }

// Reads the header at the start of a stored blob, never more than its declared (bounded) size.
absl::StatusOr<security::DocumentHeaderInfo> ReadStoredHeader(BlobReader& reader) {
  std::string bytes;
  size_t wanted = 10;  // the fixed part, which holds the body length
  bool sized = false;
  while (bytes.size() < wanted) {
    auto more = reader.Read(wanted - bytes.size());
    if (!more.ok()) return more.status();
    if (more->empty()) return absl::InvalidArgumentError("the stored bytes end inside the header");
    bytes.append(*more);
    if (!sized && bytes.size() >= wanted) {
      auto size = security::DocumentHeaderSize(bytes);
      if (!size.ok()) return size.status();
      wanted = *size;
      sized = true;
    }
  }
  return security::ParseDocumentHeader(bytes);
}

// `header`: the stored header as read (or remembered), or why it could not be parsed.
absl::Status CheckConfidential(const v1::DocumentRef& doc, v1::CryptoProfile profile,
                               absl::StatusOr<security::DocumentHeaderInfo> header, ConfidentialDocument& out) {
  const security::DocumentSuite suite = ProfileDocumentSuite(profile);
  auto refuse = [&](const std::string& why) {
    return absl::FailedPreconditionError(absl::StrCat("confidential document '", doc.title(), "' ", why));
  };
  if (doc.encryption_suite() != ToProtoSuite(suite)) {
    return refuse(absl::StrCat("declares encryption suite ", v1::DocumentEncryptionSuite_Name(doc.encryption_suite()), ", but the ",
                               ProfileName(profile), " profile requires ", v1::DocumentEncryptionSuite_Name(ToProtoSuite(suite))));
  }
  if (auto st = CheckDocumentDigest(profile, doc.plaintext_digest(), "its plaintext_digest"); !st.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("confidential document '", doc.title(), "': ", st.message()));
  }
  if (!header.ok()) {
    return refuse(absl::StrCat("is not stored as a CaseLink encrypted document (", header.status().message(),
                               "); encrypt it before upload, the gateway stores only ciphertext of confidential documents"));
  }
  if (header->suite != suite) {
    return refuse(absl::StrCat("is stored encrypted with the ", security::DocumentSuiteName(header->suite), " suite, but the ",
                               ProfileName(profile), " profile requires ", security::DocumentSuiteName(suite)));
  }
  const std::set<std::string> stored(header->recipient_key_ids.begin(), header->recipient_key_ids.end());
  const std::set<std::string> signed_ids(doc.recipient_key_ids().begin(), doc.recipient_key_ids().end());
  if (stored != signed_ids) {
    return refuse(absl::StrCat("is stored encrypted to key ids [", absl::StrJoin(stored, ", "),
                               "] but the envelope names recipient_key_ids [", absl::StrJoin(signed_ids, ", "), "]"));
  }
  out.title = doc.title();
  out.recipient_key_ids = std::move(header->recipient_key_ids);
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckDocumentDigest(v1::CryptoProfile profile, const v1::Digest& digest, absl::string_view what) {
  const v1::DigestAlgorithm expected = DocumentDigestAlgorithm(profile);
  if (digest.algorithm() != expected || digest.value().size() != 32) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " is ", digest.value().size(), " bytes of ", v1::DigestAlgorithm_Name(digest.algorithm()), ", but under the ",
        ProfileName(profile), " profile documents are referenced by their 32-byte ", v1::DigestAlgorithm_Name(expected),
        " digest (the one DocumentService.Upload returns)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<BlobReader>> OpenDocument(const BlobStore& blobs, v1::CryptoProfile profile,
                                                         absl::string_view digest_hex) {
  // Under INTL the digest is the blob's name already (Open checks that it exists).
  if (DocumentHashAlgorithm(profile) == security::DigestAlgorithm::kSha256) return blobs.Open(digest_hex);
  auto sha = blobs.Resolve(DocumentHashAlgorithm(profile), digest_hex);
  if (!sha.ok()) return sha.status();
  return blobs.Open(*sha);
}

absl::Status CheckDocumentRefs(const v1::Envelope& e, const BlobStore& blobs, v1::CryptoProfile profile,
                               std::vector<ConfidentialDocument>* confidential, DocumentFactsCache* cache) {
  for (const auto& doc : e.documents()) {
    if (doc.type() == v1::DOCUMENT_TYPE_UNSPECIFIED) {
      return absl::InvalidArgumentError(absl::StrCat("document '", doc.title(), "' has no type"));
    }
    if (auto st = CheckDocumentDigest(profile, doc.digest(), absl::StrCat("the digest of document '", doc.title(), "'")); !st.ok()) {
      return st;
    }
    const std::string name = LowerName(doc.digest().algorithm());
    const std::string key = DocumentFactsCache::Key(name, doc.digest().value());
    std::shared_ptr<const StoredDocumentFacts> facts = cache != nullptr ? cache->Find(key) : nullptr;
    if (facts == nullptr) {
      // Only a stat for a plain document; a confidential one is opened to read its header.
      const std::string hex = security::HexEncode(doc.digest().value());
      absl::StatusOr<std::string> sha = hex;
      if (DocumentHashAlgorithm(profile) != security::DigestAlgorithm::kSha256) {
        sha = blobs.Resolve(DocumentHashAlgorithm(profile), hex);
      }
      absl::StatusOr<uint64_t> size = sha.ok() ? blobs.Size(*sha) : absl::StatusOr<uint64_t>(sha.status());
      if (!size.ok()) {
        if (size.status().code() != absl::StatusCode::kNotFound) {
          return absl::UnavailableError(absl::StrCat("document '", doc.title(), "': ", size.status().message()));
        }
        return absl::FailedPreconditionError(absl::StrCat("document '", doc.title(), "' (", name, " ", hex,
                                                          ") has not been uploaded; upload it with DocumentService.Upload first"));
      }
      auto fresh = std::make_shared<StoredDocumentFacts>();
      fresh->sha256_hex = *std::move(sha);
      fresh->size = *size;
      facts = std::move(fresh);
      if (cache != nullptr) cache->Remember(key, facts);
    }
    if (facts->size != doc.size_bytes()) {
      return absl::InvalidArgumentError(absl::StrCat("document '", doc.title(), "' is ", facts->size,
                                                     " bytes as stored but the envelope says ", doc.size_bytes()));
    }
    if (!doc.confidential()) {
      if (doc.recipient_key_ids_size() > 0 || doc.encryption_suite() != v1::DOCUMENT_ENCRYPTION_SUITE_UNSPECIFIED) {
        return absl::InvalidArgumentError(absl::StrCat("document '", doc.title(),
                                                       "' names an encryption suite or recipients but is not marked confidential"));
      }
      continue;
    }
    absl::StatusOr<security::DocumentHeaderInfo> header;
    if (facts->header.has_value()) {
      header = *facts->header;
    } else {
      auto reader = blobs.Open(facts->sha256_hex);
      if (!reader.ok()) return absl::UnavailableError(absl::StrCat("document '", doc.title(), "': ", reader.status().message()));
      header = ReadStoredHeader(**reader);
      // Only a header that parses is remembered: the stored bytes cannot change, but a read
      // error may be the disk's and not the blob's.
      if (header.ok() && cache != nullptr) {
        auto with_header = std::make_shared<StoredDocumentFacts>(*facts);
        with_header->header = *header;
        cache->Remember(key, std::move(with_header));
      }
    }
    ConfidentialDocument found;
    if (auto st = CheckConfidential(doc, profile, std::move(header), found); !st.ok()) return st;
    if (confidential != nullptr) confidential->push_back(std::move(found));
  }
  return absl::OkStatus();
}

std::vector<std::string> DeliveryRecipients(const Transition& t, const v1::Case& next, const std::string& actor_id) {
  std::vector<std::string> out;
  auto add = [&](const std::string& id) {
    if (id.empty() || id == actor_id || std::find(out.begin(), out.end(), id) != out.end()) return;
    out.push_back(id);
  };
  for (const Notify& n : t.notify) {
    switch (n.who) {
      case Relation::kOriginator: add(next.originator()); break;
      case Relation::kAddressee: add(next.addressee()); break;
      case Relation::kCopied:
        for (const auto& id : next.copied()) add(id);
        break;
      case Relation::kCourt: add(next.court()); break;
      case Relation::kNewCase: break;
    }
  }
  return out;
}

absl::Status CheckConfidentialRecipients(const std::vector<ConfidentialDocument>& confidential,
                                         const std::vector<std::string>& recipients, const AgencyRegistry& registry) {
  for (const ConfidentialDocument& doc : confidential) {
    for (const std::string& agency : recipients) {
      const bool covered = std::any_of(doc.recipient_key_ids.begin(), doc.recipient_key_ids.end(), [&](const std::string& id) {
        const AgencyEntry* owner = registry.FindEncryptionKeyOwner(id);
        return owner != nullptr && owner->agency.id() == agency;
      });
      if (covered) continue;
      const AgencyEntry* entry = registry.Find(agency);
      std::vector<std::string> keys;
      if (entry != nullptr) {
        for (const auto& k : entry->encryption_keys) keys.push_back(k->key_id);
      }
      return absl::FailedPreconditionError(absl::StrCat(
          "confidential document '", doc.title, "' is not encrypted to agency '", agency,
          "', to which this envelope is delivered; ",
          keys.empty() ? "that agency has no encryption key in the registry, so it cannot receive confidential documents"
                       : absl::StrCat("encrypt it also to one of its keys [", absl::StrJoin(keys, ", "),
                                      "] (GatewayService.GetAgencyCertificates)")));
    }
  }
  return absl::OkStatus();
}

}  // namespace caselink
