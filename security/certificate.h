// X.509 certificates: parsing, fingerprints and chain validation against trust anchors.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "security/signature.h"

namespace caselink::security {

class Certificate {
 public:
  // Parses the first certificate of a PEM text.
  static absl::StatusOr<std::unique_ptr<Certificate>> FromPem(absl::string_view pem);
  static absl::StatusOr<std::unique_ptr<Certificate>> FromDer(absl::string_view der);
  // Every certificate in a PEM bundle (at least one, or INVALID_ARGUMENT).
  static absl::StatusOr<std::vector<std::unique_ptr<Certificate>>> BundleFromPem(absl::string_view pem);
  ~Certificate();

  const std::string& der() const { return der_; }
  std::string Pem() const;
  // SHA-256 of the DER encoding, lowercase hex: how the registry names certificates.
  std::string Sha256Fingerprint() const;
  std::string SubjectCommonName() const;
  absl::Time not_before() const;
  absl::Time not_after() const;
  // Serial number as lowercase hex without leading zeros (what IssueCrl takes).
  std::string SerialHex() const;
  // The subject public key as SubjectPublicKeyInfo PEM (e.g. to wrap a key to this subject)
  // and DER.
  absl::StatusOr<std::string> PublicKeyPem() const;
  absl::StatusOr<std::string> PublicKeyDer() const;
  // A verifier for the certificate's public key, EC P-256 (ECDSA) only: callers that do not
  // check a signature's declared algorithm rely on other key types being refused
  // (UNIMPLEMENTED). For Ed25519 and SM2 keys use CreateVerifierFromCertificate
  // (signer_factory.h), which takes the expected algorithm.
  absl::StatusOr<std::unique_ptr<Verifier>> PublicKeyVerifier() const;

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  Certificate(std::unique_ptr<Impl> impl, std::string der);
  std::unique_ptr<Impl> impl_;
  std::string der_;
};

// What a CRL says about itself: enough to log and audit which CRL is in force.
struct CrlInfo {
  std::string issuer;     // distinguished name
  std::string number;     // cRLNumber extension as lowercase hex; empty when absent
  absl::Time this_update;
  absl::Time next_update;  // InfiniteFuture when absent
  size_t revoked_count = 0;
};

// Parses every CRL of a PEM bundle without checking signatures (ChainValidator::Create
// does that); INVALID_ARGUMENT when a CRL is malformed or there is none.
absl::StatusOr<std::vector<CrlInfo>> InspectCrls(absl::string_view crls_pem);

enum class KeyPurpose {
  kAny,
  kTlsClient,  // extendedKeyUsage clientAuth
  kTlsServer,  // extendedKeyUsage serverAuth
  kSigning,    // keyUsage digitalSignature
  kKeyAgreement,     // keyUsage keyAgreement (ECDH document-encryption keys)
  kKeyEncipherment,  // keyUsage keyEncipherment (SM2 document-encryption keys)
};

// Validates leaf certificates against a fixed set of trust anchors and, optionally, their CRLs.
// SM2-signed certificates and CRLs are verified with the default SM2 user id (GM/T 0015).
class ChainValidator {
 public:
  // `anchors_pem`: one or more CA certificates. No revocation checking.
  static absl::StatusOr<std::unique_ptr<ChainValidator>> Create(absl::string_view anchors_pem);
  // As above, plus revocation checking of every leaf against `crls_pem`, one or more PEM CRLs
  // ("BEGIN X509 CRL"). Each CRL must be issued and correctly signed by one of the anchors
  // (INVALID_ARGUMENT otherwise). With CRLs configured, a leaf whose issuer has no CRL here,
  // or whose issuer's CRL is outside its thisUpdate..nextUpdate window, fails: revocation
  // status that cannot be established is a refusal, not a pass.
  static absl::StatusOr<std::unique_ptr<ChainValidator>> Create(absl::string_view anchors_pem,
                                                                absl::string_view crls_pem);
  ~ChainValidator();

  // OK when `leaf` chains to an anchor, is valid at `at`, is not revoked (when CRLs are
  // configured) and allows `purpose`; otherwise UNAUTHENTICATED with OpenSSL's reason
  // (expired, unknown issuer, "certificate revoked", ...).
  absl::Status Validate(const Certificate& leaf, absl::Time at, KeyPurpose purpose) const;

 private:
  struct Impl;
  explicit ChainValidator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace caselink::security
