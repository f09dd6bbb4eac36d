// SM2 public-key encryption (GB/T 32918.4) with SM3 for the GM profile, and the content-key
// wrapper built on it. Ciphertexts are OpenSSL's (and GM/T 0009's) DER form
// SEQUENCE { C1.x INTEGER, C1.y INTEGER, C3 (SM3 hash) OCTET STRING, C2 OCTET STRING }.
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "security/key_wrap.h"

namespace caselink::security {

class Sm2Encrypter {
 public:
  // `public_key_pem`: SubjectPublicKeyInfo PEM of a key on curve SM2.
  static absl::StatusOr<std::unique_ptr<Sm2Encrypter>> Create(absl::string_view public_key_pem);
  ~Sm2Encrypter();

  // Fresh randomness per call; `plaintext` must not be empty.
  absl::StatusOr<std::string> Encrypt(absl::string_view plaintext) const;

 private:
  struct Key;
  explicit Sm2Encrypter(std::unique_ptr<Key> key);
  std::unique_ptr<Key> key_;
};

class Sm2Decrypter {
 public:
  // `private_key_pem`: PKCS#8 or SEC1 PEM of a key on curve SM2.
  static absl::StatusOr<std::unique_ptr<Sm2Decrypter>> Create(absl::string_view private_key_pem);
  ~Sm2Decrypter();

  // UNAUTHENTICATED when the ciphertext is malformed, modified (the C3 check fails) or was
  // made for another key.
  absl::StatusOr<std::string> Decrypt(absl::string_view ciphertext) const;

 private:
  struct Key;
  explicit Sm2Decrypter(std::unique_ptr<Key> key);
  std::unique_ptr<Key> key_;
};

// KeyWrapper for the GM profile: the wrapped key is Sm2Encrypter::Encrypt(content_key).
class Sm2KeyWrapper : public KeyWrapper {
 public:
  static absl::StatusOr<std::unique_ptr<Sm2KeyWrapper>> Create(absl::string_view recipient_public_key_pem);
  absl::StatusOr<std::string> Wrap(absl::string_view content_key) const override;
  KeyWrapAlgorithm algorithm() const override { return KeyWrapAlgorithm::kSm2Encrypt; }

 private:
  explicit Sm2KeyWrapper(std::unique_ptr<Sm2Encrypter> encrypter) : encrypter_(std::move(encrypter)) {}
  std::unique_ptr<Sm2Encrypter> encrypter_;
};

class Sm2KeyUnwrapper : public KeyUnwrapper {
 public:
  static absl::StatusOr<std::unique_ptr<Sm2KeyUnwrapper>> Create(absl::string_view private_key_pem);
  absl::StatusOr<std::string> Unwrap(absl::string_view wrapped_key) const override;
  KeyWrapAlgorithm algorithm() const override { return KeyWrapAlgorithm::kSm2Encrypt; }

 private:
  explicit Sm2KeyUnwrapper(std::unique_ptr<Sm2Decrypter> decrypter) : decrypter_(std::move(decrypter)) {}
  std::unique_ptr<Sm2Decrypter> decrypter_;
};

}  // namespace caselink::security
