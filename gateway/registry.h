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
#include "security/certificate.h"
#include "security/signature.h"

namespace caselink {

struct SigningKey {
  std::string key_id;
  std::unique_ptr<security::Certificate> certificate;
  std::unique_ptr<security::Verifier> verifier;
  // What the certificate's key signs with; a signature must declare exactly this.
  security::SignatureAlgorithm algorithm = security::SignatureAlgorithm::kEcdsaP256Sha256;
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
  // Loads every certificate named by the registry and validates it against
  // `tls_ca_pem` (TLS certificates) or the registry's signing CA (signing
  // certificates, and encryption certificates, which must also state the key
  // usage and key family of the profile's document suite) at `now`. Any inconsistency is an error naming the agency,
  // as is a signing key whose algorithm `profile` does not allow (an ECDSA key
  // under GM, an SM2 key under INTL).
  static absl::StatusOr<std::unique_ptr<AgencyRegistry>> Create(const v1::Registry& registry,
                                                                const std::string& tls_ca_pem, absl::Time now,
                                                                v1::CryptoProfile profile = v1::INTL);

  const AgencyEntry* Find(absl::string_view agency_id) const;
  // The agency a TLS client certificate (SHA-256 fingerprint, hex) belongs to.
  const AgencyEntry* FindByTlsFingerprint(absl::string_view fingerprint) const;
  // A signing key of an agency by key id, or null.
  const SigningKey* FindSigningKey(absl::string_view agency_id, absl::string_view key_id) const;
  // The agency of `kind` in `region` (same level), or null.
  const AgencyEntry* FindInRegion(absl::string_view region, v1::AgencyKind kind) const;
  // The agency an encryption key id belongs to, or null.
  const AgencyEntry* FindEncryptionKeyOwner(absl::string_view key_id) const;
  // Every agency, ordered by id.
  std::vector<const AgencyEntry*> All() const;
  // Validates a signing certificate at `at` (expiry, chain, key usage).
  absl::Status ValidateSigningCertificate(const security::Certificate& cert, absl::Time at) const;
  uint32_t version() const { return version_; }

 private:
  AgencyRegistry() = default;
  absl::Status LoadEncryptionKeys(const v1::Agency& agency, AgencyEntry& entry, absl::Time now, v1::CryptoProfile profile);
  uint32_t version_ = 0;
  std::unique_ptr<security::ChainValidator> signing_validator_;
  std::unordered_map<std::string, std::unique_ptr<AgencyEntry>> by_id_;
  std::unordered_map<std::string, const AgencyEntry*> by_tls_fingerprint_;
  std::unordered_map<std::string, const AgencyEntry*> by_encryption_key_id_;
};

absl::string_view AgencyKindName(v1::AgencyKind kind);

}  // namespace caselink
