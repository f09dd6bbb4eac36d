// INTL-profile key transport: a content key wrapped to a recipient's P-256 public key with
// ephemeral-static ECDH, HKDF-SHA256 and AES-256 key wrap.
//
// Wrap(content_key), for recipient public key R (uncompressed point, 65 bytes):
//   e, E   = fresh ephemeral P-256 key pair; E uncompressed (65 bytes)
//   Z      = x-coordinate of e * R (32 bytes, EVP_PKEY_derive)
//   KEK    = HKDF-SHA256(ikm = Z, salt = empty, info = kEcdhP256WrapInfo || E || R, L = 32)
//   output = E || AES-256-KW(KEK, content_key)           (RFC 3394; key length multiple of 8, >= 16)
// Binding both points into `info` ties the KEK to this exact sender/recipient pair.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "security/key_wrap.h"

namespace caselink::security {

inline constexpr char kEcdhP256WrapInfo[] = "CaseLink v1 ECDH-P256 HKDF-SHA256 AES-256-KW";

class EcdhP256KeyWrapper : public KeyWrapper {
 public:
  // `recipient_public_key_pem`: SubjectPublicKeyInfo PEM of a P-256 key.
  static absl::StatusOr<std::unique_ptr<EcdhP256KeyWrapper>> Create(absl::string_view recipient_public_key_pem);
  ~EcdhP256KeyWrapper() override;

  absl::StatusOr<std::string> Wrap(absl::string_view content_key) const override;
  KeyWrapAlgorithm algorithm() const override { return KeyWrapAlgorithm::kEcdhP256HkdfSha256Aes256Kw; }

 private:
  struct Key;
  explicit EcdhP256KeyWrapper(std::unique_ptr<Key> key);
  std::unique_ptr<Key> key_;
};

class EcdhP256KeyUnwrapper : public KeyUnwrapper {
 public:
  // `private_key_pem`: PKCS#8 or SEC1 PEM of the recipient's P-256 key.
  static absl::StatusOr<std::unique_ptr<EcdhP256KeyUnwrapper>> Create(absl::string_view private_key_pem);
  ~EcdhP256KeyUnwrapper() override;

  // UNAUTHENTICATED when the wrapped key was modified or wrapped to another recipient;
  // INVALID_ARGUMENT when it is too short or its ephemeral point is not on P-256.
  absl::StatusOr<std::string> Unwrap(absl::string_view wrapped_key) const override;
  KeyWrapAlgorithm algorithm() const override { return KeyWrapAlgorithm::kEcdhP256HkdfSha256Aes256Kw; }

 private:
  struct Key;
  explicit EcdhP256KeyUnwrapper(std::unique_ptr<Key> key);
  std::unique_ptr<Key> key_;
};

}  // namespace caselink::security
