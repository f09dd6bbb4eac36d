// What each crypto profile allows and uses: INTL signs with ECDSA P-256 (or Ed25519) and
// hashes with SHA-256; GM signs with SM2-SM3 and hashes with SM3 (GB/T 32918, GB/T 32905).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "caselink/v1/common.pb.h"
#include "security/digest.h"
#include "security/document_crypto.h"
#include "security/merkle/tree_hasher.h"
#include "security/signature.h"

namespace caselink {

// True when envelopes, receipts and tree heads may be signed with `algorithm` under `profile`.
bool SignatureAllowed(v1::CryptoProfile profile, security::SignatureAlgorithm algorithm);
// The algorithms `profile` allows, for messages: "ECDSA_P256_SHA256 or ED25519".
std::string AllowedSignatureNames(v1::CryptoProfile profile);
// "INTL" or "GM" (an unset profile is INTL).
std::string ProfileName(v1::CryptoProfile profile);

// The wire enum of a signature algorithm and back; an unset or unknown wire value is INVALID_ARGUMENT.
v1::SignatureAlgorithm ToProtoAlgorithm(security::SignatureAlgorithm algorithm);
absl::StatusOr<security::SignatureAlgorithm> FromProtoAlgorithm(v1::SignatureAlgorithm algorithm);

// The audit log's Merkle tree hasher: SHA-256 under INTL, SM3 under GM.
const merkle::TreeHasher& ProfileTreeHasher(v1::CryptoProfile profile);

// The digest DocumentRefs carry: SHA256 under INTL, SM3 under GM. The blob store stays
// addressed by SHA-256 whatever the profile; see ProfileDocumentDigest.
v1::DigestAlgorithm DocumentDigestAlgorithm(v1::CryptoProfile profile);
// The document digest of `bytes` under `profile` (32 bytes, raw).
std::string ProfileDocumentDigest(v1::CryptoProfile profile, absl::string_view bytes);
// The same as a security::DigestAlgorithm (for incremental hashing of uploads).
security::DigestAlgorithm DocumentHashAlgorithm(v1::CryptoProfile profile);
// How confidential documents are encrypted under `profile`, and that suite on the wire.
security::DocumentSuite ProfileDocumentSuite(v1::CryptoProfile profile);
v1::DocumentEncryptionSuite ToProtoSuite(security::DocumentSuite suite);

}  // namespace caselink
