// ECDSA over P-256 with SHA-256, DER-encoded signatures, through OpenSSL 3 EVP.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "security/signature.h"

namespace caselink::security {

class EcdsaP256Signer : public Signer {
 public:
  // `private_key_pem`: PKCS#8 or SEC1 PEM of a P-256 key. Any other curve or
  // key type is INVALID_ARGUMENT.
  static absl::StatusOr<std::unique_ptr<EcdsaP256Signer>> Create(absl::string_view private_key_pem,
                                                                 std::string key_id);
  ~EcdsaP256Signer() override;

  absl::StatusOr<std::string> Sign(absl::string_view data) const override;
  SignatureAlgorithm algorithm() const override { return SignatureAlgorithm::kEcdsaP256Sha256; }
  const std::string& key_id() const override { return key_id_; }

 private:
  struct Key;
  EcdsaP256Signer(std::unique_ptr<Key> key, std::string key_id);
  std::unique_ptr<Key> key_;
  std::string key_id_;
};

class EcdsaP256Verifier : public Verifier {
 public:
  // From a SubjectPublicKeyInfo PEM.
  static absl::StatusOr<std::unique_ptr<EcdsaP256Verifier>> CreateFromPublicKeyPem(absl::string_view pem);
  // From a SubjectPublicKeyInfo DER.
  static absl::StatusOr<std::unique_ptr<EcdsaP256Verifier>> CreateFromPublicKeyDer(absl::string_view der);
  // From an uncompressed SEC1 point (0x04 || X || Y), as in the Wycheproof vectors.
  static absl::StatusOr<std::unique_ptr<EcdsaP256Verifier>> CreateFromUncompressedPoint(absl::string_view point);
  ~EcdsaP256Verifier() override;

  // Strict DER only: BER variants, trailing bytes and out-of-range r or s fail.
  absl::Status Verify(absl::string_view signature, absl::string_view data) const override;
  SignatureAlgorithm algorithm() const override { return SignatureAlgorithm::kEcdsaP256Sha256; }

 private:
  struct Key;
  // Adds the prepared verification context to a key holding only the public key.
  static absl::StatusOr<std::unique_ptr<EcdsaP256Verifier>> FromKey(std::unique_ptr<Key> key);
  explicit EcdsaP256Verifier(std::unique_ptr<Key> key);
  std::unique_ptr<Key> key_;
};

// Signature encodings for ECDSA and SM2: IEEE P1363 r || s (each `scalar_size` bytes, as
// WebCrypto and JOSE use) to the DER SEQUENCE { r, s } the verifiers take, and back.
// Wrong lengths and malformed DER are INVALID_ARGUMENT.
absl::StatusOr<std::string> EcdsaSignatureP1363ToDer(absl::string_view p1363, size_t scalar_size = 32);
absl::StatusOr<std::string> EcdsaSignatureDerToP1363(absl::string_view der, size_t scalar_size = 32);

}  // namespace caselink::security
