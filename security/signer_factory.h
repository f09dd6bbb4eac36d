// Builds the Signer or Verifier for a SignatureAlgorithm, so callers that read the algorithm
// from configuration or from a signed message never switch over key types themselves.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "security/certificate.h"
#include "security/signature.h"

namespace caselink::security {

// "ECDSA_P256_SHA256", "ED25519", "SM2_SM3": stable names for messages and configuration.
const char* SignatureAlgorithmName(SignatureAlgorithm algorithm);

// A signer for `algorithm` from a PKCS#8 (or SEC1) PEM private key; a key that does not fit
// the algorithm is INVALID_ARGUMENT. SM2 signers use kSm2DefaultUserId.
absl::StatusOr<std::unique_ptr<Signer>> CreateSigner(SignatureAlgorithm algorithm,
                                                     absl::string_view private_key_pem, std::string key_id);

// A verifier for `algorithm` from a SubjectPublicKeyInfo PEM; a key that does not fit the
// algorithm is INVALID_ARGUMENT. SM2 verifiers use kSm2DefaultUserId.
absl::StatusOr<std::unique_ptr<Verifier>> CreateVerifier(SignatureAlgorithm algorithm,
                                                         absl::string_view public_key_pem);

// The signature algorithm a public key (SubjectPublicKeyInfo DER) is used with: P-256 keys
// sign ECDSA-SHA256, Ed25519 keys Ed25519, SM2 keys (type "SM2" or "EC" on curve SM2) SM2-SM3.
// UNIMPLEMENTED for any other key.
absl::StatusOr<SignatureAlgorithm> SignatureAlgorithmOfPublicKey(absl::string_view spki_der);
// The same for a PKCS#8 (or SEC1) PEM private key, so a signer can be built for whatever key a
// configuration names: CreateSigner(*SignatureAlgorithmOfPrivateKey(pem), pem, key_id).
absl::StatusOr<SignatureAlgorithm> SignatureAlgorithmOfPrivateKey(absl::string_view private_key_pem);

// The verifier for the certificate's key, whichever of the three algorithms it is for. SM2
// verifiers use kSm2DefaultUserId.
absl::StatusOr<std::unique_ptr<Verifier>> CreateVerifierFromCertificate(const Certificate& certificate);
// As above, but only when the key is for `expected`; otherwise INVALID_ARGUMENT. Use this form
// when the algorithm comes with the signature, so a signature can never be checked under an
// algorithm other than the one its sender declared.
absl::StatusOr<std::unique_ptr<Verifier>> CreateVerifierFromCertificate(const Certificate& certificate,
                                                                        SignatureAlgorithm expected);

}  // namespace caselink::security
