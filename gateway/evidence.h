// Evidence of what happened to an accepted envelope after its receipt: delivery
// acknowledged by the addressee, document retrieved. Signed by the gateway and
// carried in the audit record of the event (AuditRecord.evidence).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "adapters/store/store.h"
#include "caselink/v1/audit.pb.h"
#include "caselink/v1/delivery.pb.h"
#include "security/signature.h"

namespace caselink {

// Signs the deterministic serialization of `evidence`.
absl::StatusOr<v1::SignedEvidence> SignEvidence(const v1::Evidence& evidence, const security::Signer& signer);

// Checks the gateway's signature (algorithm declared and key's must agree) and parses.
absl::StatusOr<v1::Evidence> VerifyEvidence(const v1::SignedEvidence& signed_evidence,
                                            const security::Verifier& gateway_key);

// The caller's unacknowledged deliveries with sequence <= `through`, from the
// store's readers (every page).
absl::StatusOr<std::vector<v1::Delivery>> PendingDeliveriesThrough(Store& store, absl::string_view agency,
                                                                   uint64_t through);

// DOCUMENT_RETRIEVED evidence (time is set when it is recorded).
v1::Evidence DownloadEvidence(absl::string_view agency, absl::string_view certificate_sha256,
                              absl::string_view case_id, const v1::Digest& document_digest);

}  // namespace caselink
