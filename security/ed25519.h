// Ed25519 (RFC 8032, pure, no prehash) signing and verification through OpenSSL 3 EVP,
// allowed by the INTL profile next to ECDSA P-256.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "security/signature.h"

namespace caselink::security {

inline constexpr size_t kEd25519PublicKeySize = 32;
inline constexpr size_t kEd25519PrivateKeySize = 32;  // the RFC 8032 seed
inline constexpr size_t kEd25519SignatureSize = 64;

class Ed25519Signer : public Signer {
 public:
  // `private_key_pem`: PKCS#8 PEM of an Ed25519 key; any other key type is INVALID_ARGUMENT.
  static absl::StatusOr<std::unique_ptr<Ed25519Signer>> Create(absl::string_view private_key_pem,
                                                               std::string key_id);
  // From the raw 32-byte RFC 8032 private key (seed).
  static absl::StatusOr<std::unique_ptr<Ed25519Signer>> CreateFromRawPrivateKey(absl::string_view seed,
                                                                                 std::string key_id);
  ~Ed25519Signer() override;

  // Returns the 64-byte signature R || S.
  absl::StatusOr<std::string> Sign(absl::string_view data) const override;
  SignatureAlgorithm algorithm() const override { return SignatureAlgorithm::kEd25519; }
  const std::string& key_id() const override { return key_id_; }

  // The raw 32-byte public key, e.g. to register the key.
  const std::string& raw_public_key() const { return raw_public_key_; }

 private:
  struct Key;
  Ed25519Signer(std::unique_ptr<Key> key, std::string key_id, std::string raw_public_key);
  std::unique_ptr<Key> key_;
  std::string key_id_;
  std::string raw_public_key_;
};

class Ed25519Verifier : public Verifier {
 public:
  // From a SubjectPublicKeyInfo PEM ("BEGIN PUBLIC KEY").
  static absl::StatusOr<std::unique_ptr<Ed25519Verifier>> CreateFromPublicKeyPem(absl::string_view pem);
  // From a SubjectPublicKeyInfo DER.
  static absl::StatusOr<std::unique_ptr<Ed25519Verifier>> CreateFromPublicKeyDer(absl::string_view der);
  // From the raw 32-byte public key (RFC 8032 encoding), as in the Wycheproof vectors.
  static absl::StatusOr<std::unique_ptr<Ed25519Verifier>> CreateFromRawPublicKey(absl::string_view raw);
  ~Ed25519Verifier() override;

  // OK only for a 64-byte signature with S < L that verifies; UNAUTHENTICATED otherwise.
  absl::Status Verify(absl::string_view signature, absl::string_view data) const override;
  SignatureAlgorithm algorithm() const override { return SignatureAlgorithm::kEd25519; }

 private:
  struct Key;
  explicit Ed25519Verifier(std::unique_ptr<Key> key);
  std::unique_ptr<Key> key_;
};

}  // namespace caselink::security
