// What an agency system needs to talk to CaseLink: an mTLS channel with its
// certificate, envelope signing with its key, and typed calls.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "caselink/v1/services.grpc.pb.h"
#include "security/digest.h"
#include "security/signature.h"

namespace caselink {

struct AgencyIdentity {
  std::string agency_id;
  std::string ca_pem;           // trust anchor for the gateway's TLS certificate
  std::string tls_cert_pem;
  std::string tls_key_pem;
  std::string signing_key_pem;
  std::string signing_key_id;
  // The document-encryption key (optional: empty when the PKI folder has none).
  std::string encryption_key_pem;
  std::string encryption_key_id;
};

// Reads <pki_dir>/ca/ca.crt and <pki_dir>/agencies/<agency>/{tls.crt,tls.key,signing.key,key_id},
// and encryption.key and encryption_key_id when they are there.
absl::StatusOr<AgencyIdentity> LoadAgencyIdentity(const std::string& pki_dir, const std::string& agency_id);

// The most bytes of envelopes a client puts in one SubmitStreamRequest (one
// envelope larger than this goes alone): well under the gateway's message
// limit, twice its envelope limit plus 64 KiB (2 MiB and more).
inline constexpr size_t kSubmitStreamMessageBytes = 1 << 20;

// A new envelope id, ordered by time: 32 hex digits, the first 12 the Unix
// time in milliseconds and the other 20 random (the layout of a version 7
// UUID, RFC 9562). Ids made later sort later, so the gateway's index of
// envelope ids takes each new one at its right edge; a random id lands on a
// leaf of its own, which made that index the largest part of what a commit
// writes under load (see docs/PERFORMANCE.md). Unique across clients through
// the 80 random bits.
std::string NewEnvelopeId();
// A random envelope id (128 bits, hex), as senders that do not order their
// ids send; the load generator measures the gateway with them too.
std::string NewRandomEnvelopeId();

class AgencyClient {
 public:
  // `target` is host:port; the TLS name checked is "localhost" unless `tls_server_name` says otherwise.
  static absl::StatusOr<std::unique_ptr<AgencyClient>> Create(const AgencyIdentity& identity, const std::string& target,
                                                              const std::string& tls_server_name = "localhost");

  const std::string& agency_id() const { return identity_.agency_id; }
  const AgencyIdentity& identity() const { return identity_; }
  // The gateway's crypto profile (GetGatewayInfo, asked once): it decides the document digest
  // (SHA-256 under INTL, SM3 under GM) and the document-encryption suite.
  absl::StatusOr<v1::CryptoProfile> Profile();
  // The registry's certificates of `agency_ids` (all agencies when empty).
  absl::StatusOr<v1::GetAgencyCertificatesResponse> GetAgencyCertificates(const std::vector<std::string>& agency_ids);

  // Fills sender, id (if empty) and created_at (if unset), serializes and signs.
  absl::StatusOr<v1::SignedEnvelope> Sign(v1::Envelope envelope) const;
  // Signs and submits.
  absl::StatusOr<v1::SubmitResponse> Submit(v1::Envelope envelope, absl::Duration timeout = absl::Seconds(30));
  absl::StatusOr<v1::SubmitResponse> SubmitSigned(const v1::SignedEnvelope& envelope, absl::Duration timeout = absl::Seconds(30));
  // Sends `envelopes` on one SubmitStream call, at most `per_message` (and
  // kSubmitStreamMessageBytes) to a request message, reading answers while it writes; returns one answer per envelope,
  // in the order given (answer i is envelope i's). An error when the call fails
  // or ends with envelopes unanswered.
  absl::StatusOr<std::vector<v1::SubmitStreamAnswer>> SubmitStream(const std::vector<v1::SignedEnvelope>& envelopes,
                                                                   size_t per_message = 64,
                                                                   absl::Duration timeout = absl::Seconds(60));
  // Streams a file to the gateway; returns a DocumentRef ready for an envelope, with the
  // digest of the gateway's profile. (Confidential documents: confidential_documents.h.)
  absl::StatusOr<v1::DocumentRef> UploadFile(const std::string& path, v1::DocumentType type, const std::string& title,
                                             const std::string& media_type);
  absl::StatusOr<v1::DocumentRef> UploadBytes(const std::string& bytes, v1::DocumentType type, const std::string& title,
                                              const std::string& media_type);
  absl::StatusOr<v1::GetCaseResponse> GetCase(const std::string& case_id);
  absl::StatusOr<uint64_t> Acknowledge(uint64_t through_sequence);

  v1::CaseService::Stub& cases() { return *cases_; }
  v1::DeliveryService::Stub& deliveries() { return *deliveries_; }
  v1::DocumentService::Stub& documents() { return *documents_; }
  v1::GatewayService::Stub& gateway() { return *gateway_; }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

 private:
  AgencyClient() = default;
  AgencyIdentity identity_;
  std::unique_ptr<security::Signer> signer_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::CaseService::Stub> cases_;
  std::unique_ptr<v1::DeliveryService::Stub> deliveries_;
  std::unique_ptr<v1::DocumentService::Stub> documents_;
  std::unique_ptr<v1::GatewayService::Stub> gateway_;
  std::atomic<int> profile_{v1::CRYPTO_PROFILE_UNSPECIFIED};  // unset until asked
};

absl::Status FromGrpcStatus(const grpc::Status& status);

// The digest documents are referenced by under `profile`: SHA-256 (INTL) or SM3 (GM).
v1::DigestAlgorithm DocumentDigestOf(v1::CryptoProfile profile);
security::DigestAlgorithm DocumentHashOf(v1::CryptoProfile profile);

}  // namespace caselink
