// Authenticated encryption with associated data: the one interface payload encryption uses,
// whatever the profile's cipher (AES-256-GCM for INTL, SM4-CTR + HMAC-SM3 for GM).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace caselink::security {

enum class AeadAlgorithm {
  kAes256Gcm,      // INTL profile
  kSm4CtrHmacSm3,  // GM profile, encrypt-then-MAC
};

class Aead {
 public:
  virtual ~Aead() = default;
  // Encrypts under a fresh random nonce and returns nonce || ciphertext || tag.
  virtual absl::StatusOr<std::string> Encrypt(absl::string_view plaintext, absl::string_view aad) const = 0;
  // Reverses Encrypt. A modified ciphertext, nonce, tag or `aad` is UNAUTHENTICATED and no
  // plaintext is returned; input too short to hold nonce and tag is INVALID_ARGUMENT.
  virtual absl::StatusOr<std::string> Decrypt(absl::string_view ciphertext, absl::string_view aad) const = 0;
  virtual AeadAlgorithm algorithm() const = 0;
};

}  // namespace caselink::security
