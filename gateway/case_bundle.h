// Court-ready case bundles: every envelope of a case with its signatures and
// receipts, every audit entry with its inclusion proof, and the signed tree
// head, checkable offline years later.
#pragma once

#include <map>
#include <string>

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "adapters/store/store.h"
#include "caselink/v1/services.pb.h"
#include "gateway/registry.h"
#include "security/certificate.h"
#include "security/merkle/tree_hasher.h"
#include "security/signature.h"

namespace caselink {

absl::StatusOr<v1::CaseBundle> BuildCaseBundle(Store& store, const AgencyRegistry& registry,
                                               const merkle::TreeHasher& hasher, const security::Signer& signer,
                                               const std::string& gateway_certificate_pem, const std::string& case_id,
                                               absl::Time now,
                                               const std::map<std::string, std::string>& previous_certificates_pem = {});

// Checks everything in the bundle: the gateway's signature on it and on the
// tree head and receipts, each sender's signature (and, with `agency_ca`,
// that each signing certificate chained to it when the gateway accepted the
// envelope), each audit entry's leaf hash and inclusion proof, and the
// gateway's signature on every evidence record. Receipts and evidence signed
// before a gateway key rotation verify with the previous certificate the bundle
// carries (which, with `agency_ca`, must chain to it at the receipt's time). The error
// names the first thing that does not hold.
absl::Status VerifyCaseBundle(const v1::CaseBundle& bundle, const security::Verifier& gateway_key,
                              const security::ChainValidator* agency_ca);

}  // namespace caselink
