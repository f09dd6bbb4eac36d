// Registry loading: every certificate is parsed and checked once at start, so
// the request path only does map lookups and signature checks.
#include "gateway/registry.h"

#include <algorithm>
#include <regex>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "gateway/config.h"
#include "gateway/crypto_profile.h"
#include "security/document_keys.h"
#include "security/signer_factory.h"

namespace caselink {

absl::string_view AgencyKindName(v1::AgencyKind kind) {
  switch (kind) {
    case v1::ENVIRONMENT_BUREAU: return "environmental bureau";
    case v1::PUBLIC_SECURITY: return "public security bureau";
    case v1::PROCURATORATE: return "procuratorate";
    case v1::COURT: return "court";
    default: return "unknown agency kind";
  }
}

absl::StatusOr<std::unique_ptr<AgencyRegistry>> AgencyRegistry::Create(const v1::Registry& registry,
                                                                       const std::string& tls_ca_pem,
                                                                       absl::Time now,
                                                                       v1::CryptoProfile profile,
                                                                       absl::Duration crl_check_interval) {
  std::unique_ptr<AgencyRegistry> r(new AgencyRegistry());
  r->version_ = registry.version();
  if (registry.signing_ca_file().empty()) {
    return absl::InvalidArgumentError("registry: field 'signing_ca_file' is required");
  }
  auto signing_ca = ReadFileToString(registry.signing_ca_file());
  if (!signing_ca.ok()) return signing_ca.status();
  auto trust = SigningTrust::Create(*signing_ca,
                                    std::vector<std::string>(registry.signing_crl_files().begin(),
                                                             registry.signing_crl_files().end()),
                                    crl_check_interval, tls_ca_pem);
  if (!trust.ok()) return trust.status();
  r->signing_trust_ = std::move(*trust);
  // Encryption certificates come from the same CA; they are checked once, at load.
  auto encryption_validator = security::ChainValidator::Create(*signing_ca);
  if (!encryption_validator.ok()) return encryption_validator.status();
  r->encryption_validator_ = std::move(*encryption_validator);
  auto tls_validator = security::ChainValidator::Create(tls_ca_pem);
  if (!tls_validator.ok()) return tls_validator.status();

  static const std::regex kIdPattern("^[0-9]{6}\\.[a-z][a-z0-9_-]{0,31}$");
  static const std::regex kRegionPattern("^[0-9]{6}$");
  for (const v1::Agency& agency : registry.agencies()) {
    auto fail = [&](const std::string& why) {
      return absl::InvalidArgumentError(absl::StrCat("registry: agency '", agency.id(), "': ", why));
    };
    if (!std::regex_match(agency.id(), kIdPattern)) return fail("id must look like 510100.psb");
    if (!std::regex_match(agency.region(), kRegionPattern)) return fail("region must be a six-digit GB/T 2260 code");
    if (agency.id().substr(0, 6) != agency.region()) return fail("id must start with the agency's region code");
    if (agency.kind() == v1::AGENCY_KIND_UNSPECIFIED) return fail("kind is required");
    if (r->by_id_.contains(agency.id())) return fail("id is listed twice");
    auto entry = std::make_unique<AgencyEntry>();
    entry->agency = agency;
    for (const std::string& file : agency.tls_certificate_files()) {
      auto pem = ReadFileToString(file);
      if (!pem.ok()) return fail(std::string(pem.status().message()));
      auto cert = security::Certificate::FromPem(*pem);
      if (!cert.ok()) return fail(absl::StrCat(file, ": ", cert.status().message()));
      if (auto s = (*tls_validator)->Validate(**cert, now, security::KeyPurpose::kTlsClient); !s.ok()) {
        return fail(absl::StrCat("TLS certificate ", file, ": ", s.message()));
      }
      std::string fp = (*cert)->Sha256Fingerprint();
      if (r->by_tls_fingerprint_.contains(fp)) return fail(absl::StrCat("TLS certificate ", file, " is already bound to another agency"));
      r->by_tls_fingerprint_[fp] = TlsIdentity{entry.get(), std::move(*cert)};
    }
    for (const v1::AgencySigningKey& key : agency.signing_keys()) {
      if (key.key_id().empty()) return fail("a signing key has no key_id");
      auto pem = ReadFileToString(key.certificate_file());
      if (!pem.ok()) return fail(std::string(pem.status().message()));
      auto cert = security::Certificate::FromPem(*pem);
      if (!cert.ok()) return fail(absl::StrCat(key.certificate_file(), ": ", cert.status().message()));
      if (std::any_of(entry->signing_keys.begin(), entry->signing_keys.end(),
                      [&](const auto& k) { return k->key_id == key.key_id(); })) {
        return fail(absl::StrCat("signing key id '", key.key_id(), "' is listed twice for this agency"));
      }
      auto sk = std::make_unique<SigningKey>();
      for (auto [text, field, out] : {std::tuple{&key.not_before(), "not_before", &sk->not_before},
                                      std::tuple{&key.retired_at(), "retired_at", &sk->retired_at}}) {
        if (text->empty()) continue;
        std::string err;
        if (!absl::ParseTime(absl::RFC3339_full, *text, out, &err)) {
          return fail(absl::StrCat("signing key ", key.key_id(), ": ", field, " '", *text,
                                   "' is not an RFC 3339 time (e.g. 2026-03-01T00:00:00+08:00): ", err));
        }
      }
      if (sk->retired_at <= sk->not_before) {
        return fail(absl::StrCat("signing key ", key.key_id(), ": retired_at is not after not_before"));
      }
      // One unusable key must not take the gateway down: requests signed with it
      // are refused one by one with the reason, and the start-up log says so.
      if (auto s = r->signing_trust_->Validate(**cert, now); !s.ok()) {
        r->warnings_.push_back(absl::StrCat("agency '", agency.id(), "' signing key ", key.key_id(), " (",
                                            key.certificate_file(), ") is not valid now; envelopes signed with it are refused: ",
                                            s.message()));
      } else if (now >= sk->retired_at) {
        r->warnings_.push_back(absl::StrCat("agency '", agency.id(), "' signing key ", key.key_id(), " was retired at ",
                                            key.retired_at(), "; kept only to verify what it signed before"));
      }
      // Built from the key's own type, so Ed25519 and SM2 keys verify as well as P-256 ones.
      auto verifier = security::CreateVerifierFromCertificate(**cert);
      if (!verifier.ok()) return fail(absl::StrCat("signing key ", key.key_id(), ": ", verifier.status().message()));
      const security::SignatureAlgorithm algorithm = (*verifier)->algorithm();
      if (!SignatureAllowed(profile, algorithm)) {
        return fail(absl::StrCat("signing key ", key.key_id(), " (", key.certificate_file(), ") is for ",
                                 security::SignatureAlgorithmName(algorithm), ", which the ", ProfileName(profile),
                                 " profile does not allow; issue the agency a ", AllowedSignatureNames(profile),
                                 " signing certificate"));
      }
      sk->algorithm = algorithm;
      sk->key_id = key.key_id();
      sk->certificate = std::move(*cert);
      sk->verifier = std::move(*verifier);
      entry->signing_keys.push_back(std::move(sk));
    }
    if (auto st = r->LoadEncryptionKeys(agency, *entry, now, profile); !st.ok()) return fail(std::string(st.message()));
    r->by_id_[agency.id()] = std::move(entry);
  }
  return r;
}

absl::Status AgencyRegistry::LoadEncryptionKeys(const v1::Agency& agency, AgencyEntry& entry, absl::Time now,
                                                v1::CryptoProfile profile) {
  const security::DocumentSuite suite = ProfileDocumentSuite(profile);
  for (const v1::AgencyEncryptionKey& key : agency.encryption_keys()) {
    if (key.key_id().empty() || key.key_id().size() > 255) return absl::InvalidArgumentError("an encryption key needs a key_id of 1-255 bytes");
    if (by_encryption_key_id_.contains(key.key_id())) {
      return absl::InvalidArgumentError(absl::StrCat("encryption key id '", key.key_id(), "' is listed twice in the registry"));
    }
    auto pem = ReadFileToString(key.certificate_file());
    if (!pem.ok()) return pem.status();
    auto cert = security::Certificate::FromPem(*pem);
    if (!cert.ok()) return absl::InvalidArgumentError(absl::StrCat(key.certificate_file(), ": ", cert.status().message()));
    if (auto st = encryption_validator_->Validate(**cert, now, security::DocumentKeyPurpose(suite)); !st.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("encryption key ", key.key_id(), ": ", st.message()));
    }
    // The wrapper is built once here only to prove the key is of the suite's family.
    if (auto wrapper = security::DocumentKeyWrapper(suite, **cert); !wrapper.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("encryption key ", key.key_id(), " (", key.certificate_file(), ") under the ",
                                                     ProfileName(profile), " profile: ", wrapper.status().message()));
    }
    auto ek = std::make_unique<EncryptionKey>();
    ek->key_id = key.key_id();
    ek->certificate_pem = (*cert)->Pem();
    ek->certificate = std::move(*cert);
    by_encryption_key_id_[key.key_id()] = &entry;
    entry.encryption_keys.push_back(std::move(ek));
  }
  return absl::OkStatus();
}

const AgencyEntry* AgencyRegistry::FindEncryptionKeyOwner(absl::string_view key_id) const {
  auto it = by_encryption_key_id_.find(std::string(key_id));
  return it == by_encryption_key_id_.end() ? nullptr : it->second;
}

std::vector<const AgencyEntry*> AgencyRegistry::All() const {
  std::vector<const AgencyEntry*> all;
  for (const auto& [id, entry] : by_id_) all.push_back(entry.get());
  std::sort(all.begin(), all.end(), [](const AgencyEntry* a, const AgencyEntry* b) { return a->agency.id() < b->agency.id(); });
  return all;
}

const AgencyEntry* AgencyRegistry::Find(absl::string_view agency_id) const {
  auto it = by_id_.find(std::string(agency_id));
  return it == by_id_.end() ? nullptr : it->second.get();
}

const AgencyEntry* AgencyRegistry::FindByTlsFingerprint(absl::string_view fingerprint) const {
  auto it = by_tls_fingerprint_.find(std::string(fingerprint));
  return it == by_tls_fingerprint_.end() ? nullptr : it->second.agency;
}

const security::Certificate* AgencyRegistry::FindTlsCertificate(absl::string_view fingerprint) const {
  auto it = by_tls_fingerprint_.find(std::string(fingerprint));
  return it == by_tls_fingerprint_.end() ? nullptr : it->second.certificate.get();
}

const SigningKey* AgencyRegistry::FindSigningKey(absl::string_view agency_id, absl::string_view key_id) const {
  const AgencyEntry* entry = Find(agency_id);
  if (entry == nullptr) return nullptr;
  for (const auto& key : entry->signing_keys) {
    if (key->key_id == key_id) return key.get();
  }
  return nullptr;
}

const AgencyEntry* AgencyRegistry::FindInRegion(absl::string_view region, v1::AgencyKind kind) const {
  for (const auto& [id, entry] : by_id_) {
    if (entry->agency.region() == region && entry->agency.kind() == kind) return entry.get();
  }
  return nullptr;
}

const AgencyEntry* AgencyRegistry::FindSigningKeyOwner(absl::string_view key_id) const {
  for (const auto& [id, entry] : by_id_) {
    for (const auto& key : entry->signing_keys) {
      if (key->key_id == key_id) return entry.get();
    }
  }
  return nullptr;
}

absl::Status AgencyRegistry::ValidateSigningCertificate(const security::Certificate& cert, absl::Time at) const {
  return signing_trust_->Validate(cert, at);
}

absl::Status AgencyRegistry::ValidateTlsCertificate(const security::Certificate& cert, absl::Time at) const {
  return signing_trust_->ValidateTlsClient(cert, at);
}

}  // namespace caselink
