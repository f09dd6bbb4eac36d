// The agency registry in memory: who an mTLS peer is, which keys an agency
// signs with, and who the "same level" agencies of a region are.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "caselink/v1/config.pb.h"
#include "gateway/signing_trust.h"
#include "security/certificate.h"
#include "security/signature.h"

namespace caselink {

struct SigningKey {
  std::string key_id;
  std::unique_ptr<security::Certificate> certificate;
  std::unique_ptr<security::Verifier> verifier;
  // What the certificate's key signs with; a signature must declare exactly this.
  security::SignatureAlgorithm algorithm = security::SignatureAlgorithm::kEcdsaP256Sha256;
  // When the registry lets the key sign (AgencySigningKey.not_before / retired_at),
  // besides its certificate's validity.
  absl::Time not_before = absl::InfinitePast();
  absl::Time retired_at = absl::InfiniteFuture();
};

// A certificate senders encrypt confidential documents to.
struct EncryptionKey {
  std::string key_id;
  std::unique_ptr<security::Certificate> certificate;
  std::string certificate_pem;
};

struct AgencyEntry {
  v1::Agency agency;
  std::vector<std::unique_ptr<SigningKey>> signing_keys;
  std::vector<std::unique_ptr<EncryptionKey>> encryption_keys;
};

class AgencyRegistry {
 public:
  // Loads every certificate named by the registry and validates TLS certificates
  // against `tls_ca_pem` (at load without CRLs; on every RPC with the CRLs of the
  // TLS CA among signing_crl_files, see SigningTrust), and encryption certificates against the registry's
  // signing CA with the key usage and key family of the profile's document
  // suite, at `now`. Any inconsistency is an error naming the agency,
  // as is a signing key whose algorithm `profile` does not allow (an ECDSA key
  // under GM, an SM2 key under INTL) or a malformed validity period. A signing
  // certificate that is not valid at `now` (expired, not yet valid, revoked,
  // another CA, no digitalSignature) does not stop the load: each request signed
  // with it is refused, and warnings() says so for the start-up log.
  static absl::StatusOr<std::unique_ptr<AgencyRegistry>> Create(const v1::Registry& registry,
                                                                const std::string& tls_ca_pem, absl::Time now,
                                                                v1::CryptoProfile profile = v1::INTL,
                                                                absl::Duration crl_check_interval = absl::Seconds(1));

  const AgencyEntry* Find(absl::string_view agency_id) const;
  // The agency a TLS client certificate (SHA-256 fingerprint, hex) belongs to.
  const AgencyEntry* FindByTlsFingerprint(absl::string_view fingerprint) const;
  // The registered TLS client certificate of this fingerprint, or null; it lives as
  // long as the registry (what the per-certificate validation cache keys on).
  const security::Certificate* FindTlsCertificate(absl::string_view fingerprint) const;
  // A signing key of an agency by key id, or null.
  const SigningKey* FindSigningKey(absl::string_view agency_id, absl::string_view key_id) const;
  // The agency of `kind` in `region` (same level), or null.
  const AgencyEntry* FindInRegion(absl::string_view region, v1::AgencyKind kind) const;
  // The agency that has a signing key of this id, or null (to say whose key it is).
  const AgencyEntry* FindSigningKeyOwner(absl::string_view key_id) const;
  // The agency an encryption key id belongs to, or null.
  const AgencyEntry* FindEncryptionKeyOwner(absl::string_view key_id) const;
  // Every agency, ordered by id.
  std::vector<const AgencyEntry*> All() const;
  // Validates a signing certificate at `at` (expiry, chain, key usage, the CRLs in
  // force); cached per certificate, see SigningTrust.
  absl::Status ValidateSigningCertificate(const security::Certificate& cert, absl::Time at) const;
  // Validates a registered TLS client certificate at `at` against the TLS client CA
  // (expiry, clientAuth, the CRLs in force); cached per certificate, see SigningTrust.
  absl::Status ValidateTlsCertificate(const security::Certificate& cert, absl::Time at) const;
  // The signing and TLS client CAs and their CRLs (reloaded when the files change).
  SigningTrust& signing_trust() const { return *signing_trust_; }
  // Signing keys that are unusable at load time, one line each, for the start-up log.
  const std::vector<std::string>& warnings() const { return warnings_; }
  uint32_t version() const { return version_; }

 private:
  AgencyRegistry() = default;
  absl::Status LoadEncryptionKeys(const v1::Agency& agency, AgencyEntry& entry, absl::Time now, v1::CryptoProfile profile);
  uint32_t version_ = 0;
  std::unique_ptr<SigningTrust> signing_trust_;
  std::unique_ptr<security::ChainValidator> encryption_validator_;
  std::vector<std::string> warnings_;
  std::unordered_map<std::string, std::unique_ptr<AgencyEntry>> by_id_;
  struct TlsIdentity {
    const AgencyEntry* agency = nullptr;
    std::unique_ptr<security::Certificate> certificate;
  };
  std::unordered_map<std::string, TlsIdentity> by_tls_fingerprint_;
  std::unordered_map<std::string, const AgencyEntry*> by_encryption_key_id_;
};

absl::string_view AgencyKindName(v1::AgencyKind kind);

}  // namespace caselink
