// Key, certificate and CRL issuance for development PKIs and tests (CaseLink's
// `pki init`); production deployments bring certificates from their own CA.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace caselink::security {

struct KeyPair {
  std::string private_key_pem;  // PKCS#8
  std::string public_key_pem;   // SubjectPublicKeyInfo
};

absl::StatusOr<KeyPair> GenerateEcP256KeyPair();
// An SM2 key on sm2p256v1 (GM profile).
absl::StatusOr<KeyPair> GenerateSm2KeyPair();
absl::StatusOr<KeyPair> GenerateEd25519KeyPair();

// The SubjectPublicKeyInfo PEM of a PKCS#8 or SEC1 PEM private key.
absl::StatusOr<std::string> PublicKeyPemFromPrivateKey(absl::string_view private_key_pem);

enum class CertificateProfile {
  kCa,          // basicConstraints CA:TRUE, keyCertSign + cRLSign
  kTlsServer,   // digitalSignature, serverAuth, subjectAltName from dns_names/ip_addresses
  kTlsClient,   // digitalSignature, clientAuth
  kSigning,     // digitalSignature + nonRepudiation, no EKU
  kKeyAgreement,     // keyAgreement: an INTL document-encryption (ECDH P-256) key
  kKeyEncipherment,  // keyEncipherment + dataEncipherment: a GM document-encryption (SM2) key
};

struct CertificateRequest {
  std::string common_name;
  std::string organization;
  std::string public_key_pem;
  CertificateProfile profile = CertificateProfile::kTlsClient;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  absl::Time not_before;
  absl::Time not_after;
};

// Issues a certificate signed by the issuer with the algorithm of its key: ECDSA-SHA256 for
// P-256, SM2-SM3 (default user id, as GM/T 0015 requires) for SM2, Ed25519 for Ed25519.
// The subject key may be any of the three. With an empty
// `issuer_certificate_pem` the certificate is self-signed with `issuer_private_key_pem`,
// which must then match `request.public_key_pem`. Returns PEM.
absl::StatusOr<std::string> IssueCertificate(const CertificateRequest& request,
                                             const std::string& issuer_certificate_pem,
                                             const std::string& issuer_private_key_pem);

// Issues a v2 CRL signed by the CA (same algorithms as IssueCertificate) listing
// `revoked_serials_hex` (hex serial numbers, e.g. Certificate::SerialHex()) as revoked at
// `this_update`, valid until `next_update`. Returns PEM ("BEGIN X509 CRL").
absl::StatusOr<std::string> IssueCrl(const std::string& issuer_certificate_pem,
                                     const std::string& issuer_private_key_pem,
                                     const std::vector<std::string>& revoked_serials_hex, absl::Time this_update,
                                     absl::Time next_update);

}  // namespace caselink::security
