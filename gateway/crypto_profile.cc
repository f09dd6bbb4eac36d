// Profile tables: one place decides what INTL and GM allow, so the registry, the
// pipeline and the server never disagree.
#include "gateway/crypto_profile.h"

#include "absl/strings/str_cat.h"
#include "gateway/audit_log.h"
#include "security/digest.h"

namespace caselink {

bool SignatureAllowed(v1::CryptoProfile profile, security::SignatureAlgorithm algorithm) {
  if (profile == v1::GM) return algorithm == security::SignatureAlgorithm::kSm2Sm3;
  return algorithm == security::SignatureAlgorithm::kEcdsaP256Sha256 ||
         algorithm == security::SignatureAlgorithm::kEd25519;
}

std::string AllowedSignatureNames(v1::CryptoProfile profile) {
  return profile == v1::GM ? "SM2_SM3" : "ECDSA_P256_SHA256 or ED25519";
}

std::string ProfileName(v1::CryptoProfile profile) { return profile == v1::GM ? "GM" : "INTL"; }

v1::SignatureAlgorithm ToProtoAlgorithm(security::SignatureAlgorithm algorithm) {
  switch (algorithm) {
    case security::SignatureAlgorithm::kEcdsaP256Sha256: return v1::ECDSA_P256_SHA256;
    case security::SignatureAlgorithm::kEd25519: return v1::ED25519;
    case security::SignatureAlgorithm::kSm2Sm3: return v1::SM2_SM3;
  }
  return v1::SIGNATURE_ALGORITHM_UNSPECIFIED;
}

absl::StatusOr<security::SignatureAlgorithm> FromProtoAlgorithm(v1::SignatureAlgorithm algorithm) {
  switch (algorithm) {
    case v1::ECDSA_P256_SHA256: return security::SignatureAlgorithm::kEcdsaP256Sha256;
    case v1::ED25519: return security::SignatureAlgorithm::kEd25519;
    case v1::SM2_SM3: return security::SignatureAlgorithm::kSm2Sm3;
    default: break;
  }
  return absl::InvalidArgumentError(absl::StrCat("signature algorithm ", v1::SignatureAlgorithm_Name(algorithm),
                                                 " is not a signature algorithm this gateway knows"));
}

const merkle::TreeHasher& ProfileTreeHasher(v1::CryptoProfile profile) {
  return AuditTreeHasher(profile == v1::GM ? merkle::HashAlgorithm::kSm3 : merkle::HashAlgorithm::kSha256);
}

v1::DigestAlgorithm DocumentDigestAlgorithm(v1::CryptoProfile profile) { return profile == v1::GM ? v1::SM3 : v1::SHA256; }

std::string ProfileDocumentDigest(v1::CryptoProfile profile, absl::string_view bytes) {
  return profile == v1::GM ? security::Sm3(bytes) : security::Sha256(bytes);
}

security::DigestAlgorithm DocumentHashAlgorithm(v1::CryptoProfile profile) {
  return profile == v1::GM ? security::DigestAlgorithm::kSm3 : security::DigestAlgorithm::kSha256;
}

security::DocumentSuite ProfileDocumentSuite(v1::CryptoProfile profile) {
  return profile == v1::GM ? security::DocumentSuite::kGm : security::DocumentSuite::kIntl;
}

v1::DocumentEncryptionSuite ToProtoSuite(security::DocumentSuite suite) {
  return suite == security::DocumentSuite::kGm ? v1::SM4CTR_HMACSM3_SM2 : v1::AES256GCM_ECDH_P256;
}

}  // namespace caselink
