// Algorithm-to-implementation dispatch for signatures.
#include "security/signer_factory.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "security/ecdsa_p256.h"
#include "security/ed25519.h"
#include "security/openssl_util.h"
#include "security/sm2.h"

namespace caselink::security {
namespace {

template <typename T>
absl::StatusOr<std::unique_ptr<Signer>> AsSigner(absl::StatusOr<std::unique_ptr<T>> s) {
  if (!s.ok()) return s.status();
  return std::unique_ptr<Signer>(*std::move(s));
}

template <typename T>
absl::StatusOr<std::unique_ptr<Verifier>> AsVerifier(absl::StatusOr<std::unique_ptr<T>> v) {
  if (!v.ok()) return v.status();
  return std::unique_ptr<Verifier>(*std::move(v));
}

}  // namespace

const char* SignatureAlgorithmName(SignatureAlgorithm algorithm) {
  switch (algorithm) {
    case SignatureAlgorithm::kEcdsaP256Sha256:
      return "ECDSA_P256_SHA256";
    case SignatureAlgorithm::kEd25519:
      return "ED25519";
    case SignatureAlgorithm::kSm2Sm3:
      return "SM2_SM3";
  }
  return "UNKNOWN";
}

absl::StatusOr<std::unique_ptr<Signer>> CreateSigner(SignatureAlgorithm algorithm,
                                                     absl::string_view private_key_pem, std::string key_id) {
  switch (algorithm) {
    case SignatureAlgorithm::kEcdsaP256Sha256:
      return AsSigner(EcdsaP256Signer::Create(private_key_pem, std::move(key_id)));
    case SignatureAlgorithm::kEd25519:
      return AsSigner(Ed25519Signer::Create(private_key_pem, std::move(key_id)));
    case SignatureAlgorithm::kSm2Sm3:
      return AsSigner(Sm2Signer::Create(private_key_pem, std::move(key_id)));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown signature algorithm ", static_cast<int>(algorithm), " for key '", key_id, "'"));
}

absl::StatusOr<std::unique_ptr<Verifier>> CreateVerifier(SignatureAlgorithm algorithm,
                                                         absl::string_view public_key_pem) {
  switch (algorithm) {
    case SignatureAlgorithm::kEcdsaP256Sha256:
      return AsVerifier(EcdsaP256Verifier::CreateFromPublicKeyPem(public_key_pem));
    case SignatureAlgorithm::kEd25519:
      return AsVerifier(Ed25519Verifier::CreateFromPublicKeyPem(public_key_pem));
    case SignatureAlgorithm::kSm2Sm3:
      return AsVerifier(Sm2Verifier::CreateFromPublicKeyPem(public_key_pem));
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown signature algorithm ", static_cast<int>(algorithm)));
}

namespace {

// The signature algorithm a parsed key signs with; `what` names the key in the error.
absl::StatusOr<SignatureAlgorithm> SignatureAlgorithmOfKey(EVP_PKEY* pkey, absl::string_view what) {
  switch (internal::KindOf(pkey)) {
    case internal::KeyKind::kP256:
      return SignatureAlgorithm::kEcdsaP256Sha256;
    case internal::KeyKind::kEd25519:
      return SignatureAlgorithm::kEd25519;
    case internal::KeyKind::kSm2:
      return SignatureAlgorithm::kSm2Sm3;
    case internal::KeyKind::kOther:
      break;
  }
  return absl::UnimplementedError(absl::StrCat(what, " is ", internal::KeyDescription(pkey),
                                               "; only EC P-256, Ed25519 and SM2 keys are supported"));
}

}  // namespace

absl::StatusOr<SignatureAlgorithm> SignatureAlgorithmOfPublicKey(absl::string_view spki_der) {
  absl::StatusOr<internal::EvpPkeyPtr> pkey = internal::ParsePublicKeyDer(spki_der, "public key");
  if (!pkey.ok()) return pkey.status();
  return SignatureAlgorithmOfKey(pkey->get(), "public key");
}

absl::StatusOr<SignatureAlgorithm> SignatureAlgorithmOfPrivateKey(absl::string_view private_key_pem) {
  absl::StatusOr<internal::EvpPkeyPtr> pkey = internal::ParsePrivateKeyPem(private_key_pem, "private key");
  if (!pkey.ok()) return pkey.status();
  return SignatureAlgorithmOfKey(pkey->get(), "private key");
}

absl::StatusOr<std::unique_ptr<Verifier>> CreateVerifierFromCertificate(const Certificate& certificate) {
  absl::StatusOr<std::string> spki = certificate.PublicKeyDer();
  if (!spki.ok()) return spki.status();
  absl::StatusOr<SignatureAlgorithm> algorithm = SignatureAlgorithmOfPublicKey(*spki);
  if (!algorithm.ok()) {
    return absl::Status(algorithm.status().code(), absl::StrCat("certificate '", certificate.SubjectCommonName(),
                                                                "': ", algorithm.status().message()));
  }
  switch (*algorithm) {
    case SignatureAlgorithm::kEcdsaP256Sha256:
      return AsVerifier(EcdsaP256Verifier::CreateFromPublicKeyDer(*spki));
    case SignatureAlgorithm::kEd25519:
      return AsVerifier(Ed25519Verifier::CreateFromPublicKeyDer(*spki));
    case SignatureAlgorithm::kSm2Sm3:
      return AsVerifier(Sm2Verifier::CreateFromPublicKeyDer(*spki));
  }
  return absl::InternalError("unhandled signature algorithm");
}

absl::StatusOr<std::unique_ptr<Verifier>> CreateVerifierFromCertificate(const Certificate& certificate,
                                                                        SignatureAlgorithm expected) {
  absl::StatusOr<std::unique_ptr<Verifier>> verifier = CreateVerifierFromCertificate(certificate);
  if (!verifier.ok()) return verifier.status();
  if ((*verifier)->algorithm() != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        "certificate '", certificate.SubjectCommonName(), "' has a key for ",
        SignatureAlgorithmName((*verifier)->algorithm()), ", not for ", SignatureAlgorithmName(expected)));
  }
  return verifier;
}

}  // namespace caselink::security
