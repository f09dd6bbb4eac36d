// Key and certificate issuance for development PKIs and tests (CaseLink's
// `pki init`); production deployments bring certificates from their own CA.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace caselink::security {

struct KeyPair {
  std::string private_key_pem;  // PKCS#8
  std::string public_key_pem;   // SubjectPublicKeyInfo
};

absl::StatusOr<KeyPair> GenerateEcP256KeyPair();

enum class CertificateProfile {
  kCa,          // basicConstraints CA:TRUE, keyCertSign + cRLSign
  kTlsServer,   // digitalSignature, serverAuth, subjectAltName from dns_names/ip_addresses
  kTlsClient,   // digitalSignature, clientAuth
  kSigning,     // digitalSignature + nonRepudiation, no EKU
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

// Issues a certificate signed by the issuer (ECDSA-SHA256). With an empty
// `issuer_certificate_pem` the certificate is self-signed with `issuer_private_key_pem`,
// which must then match `request.public_key_pem`. Returns PEM.
absl::StatusOr<std::string> IssueCertificate(const CertificateRequest& request,
                                             const std::string& issuer_certificate_pem,
                                             const std::string& issuer_private_key_pem);

}  // namespace caselink::security
