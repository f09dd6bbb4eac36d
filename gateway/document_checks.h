// Document references checked against the blob store under the deployment's profile: the digest
// algorithm (SHA-256 under INTL, SM3 under GM), the stored size, and for confidential documents
// the plaintext header of the stored ciphertext (suite and recipients), which the gateway can
// read but never decrypt.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "adapters/blob/blob_store.h"
#include "caselink/v1/envelope.pb.h"
#include "gateway/document_facts_cache.h"
#include "gateway/lifecycle.h"
#include "gateway/registry.h"

namespace caselink {

// What the stored header of one confidential document says.
struct ConfidentialDocument {
  std::string title;
  std::vector<std::string> recipient_key_ids;
};

// OK when `digest` is a 32-byte digest of the profile's document algorithm; otherwise
// INVALID_ARGUMENT naming `what`, the profile and the algorithm it expects.
absl::Status CheckDocumentDigest(v1::CryptoProfile profile, const v1::Digest& digest, absl::string_view what);

// Opens the blob a profile digest (hex) names, through the SM3 index under GM.
absl::StatusOr<std::unique_ptr<BlobReader>> OpenDocument(const BlobStore& blobs, v1::CryptoProfile profile,
                                                         absl::string_view digest_hex);

// Every document of `e` must be stored with the size and digest the sender signed; a
// confidential one must be a CaseLink encrypted document of the profile's suite whose stored
// recipients are the ones signed in the envelope. Appends what the stored headers say to
// `confidential`. Reads at most one bounded header per confidential document. With a `cache`,
// a document whose facts are remembered costs no store access, and what the store says is
// remembered (a missing document never is).
absl::Status CheckDocumentRefs(const v1::Envelope& e, const BlobStore& blobs, v1::CryptoProfile profile,
                               std::vector<ConfidentialDocument>* confidential, DocumentFactsCache* cache = nullptr);

// The agencies an accepted envelope is delivered to under `t`, after routing made `next`
// (as the outbox rows of SubmissionPipeline::Apply name them; the actor excluded).
std::vector<std::string> DeliveryRecipients(const Transition& t, const v1::Case& next, const std::string& actor_id);

// FAILED_PRECONDITION naming the document and the agency when a confidential document is not
// encrypted to one of the registered encryption keys of every agency in `recipients`.
absl::Status CheckConfidentialRecipients(const std::vector<ConfidentialDocument>& confidential,
                                         const std::vector<std::string>& recipients, const AgencyRegistry& registry);

}  // namespace caselink
