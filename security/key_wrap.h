// Key wrapping: AES key wrap (RFC 3394 / RFC 5649) under a symmetric key-encryption key, and the
// interfaces that wrap a content key to one recipient's public key (ECDH P-256 for INTL,
// SM2 encryption for GM).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace caselink::security {

enum class KeyWrapAlgorithm {
  // INTL: ephemeral-static ECDH on P-256, HKDF-SHA256, AES-256 key wrap (see ecdh_p256.h).
  kEcdhP256HkdfSha256Aes256Kw,
  // GM: SM2 public-key encryption (GB/T 32918.4) of the content key (see sm2_encryption.h).
  kSm2Encrypt,
};

// Wraps content keys to one recipient; each call uses fresh randomness.
class KeyWrapper {
 public:
  virtual ~KeyWrapper() = default;
  virtual absl::StatusOr<std::string> Wrap(absl::string_view content_key) const = 0;
  virtual KeyWrapAlgorithm algorithm() const = 0;
};

// The recipient's side: recovers a content key, or UNAUTHENTICATED when the wrapped key
// was modified or made for another recipient.
class KeyUnwrapper {
 public:
  virtual ~KeyUnwrapper() = default;
  virtual absl::StatusOr<std::string> Unwrap(absl::string_view wrapped_key) const = 0;
  virtual KeyWrapAlgorithm algorithm() const = 0;
};

// RFC 3394 AES key wrap with the default IV A6A6A6A6A6A6A6A6. `kek` is 16, 24 or 32 bytes;
// `key` a multiple of 8 bytes, at least 16. The output is 8 bytes longer than `key`.
absl::StatusOr<std::string> AesKeyWrap(absl::string_view kek, absl::string_view key);
// Reverses AesKeyWrap; UNAUTHENTICATED when the integrity check fails.
absl::StatusOr<std::string> AesKeyUnwrap(absl::string_view kek, absl::string_view wrapped);

// RFC 5649 AES key wrap with padding: any key length from 1 byte.
absl::StatusOr<std::string> AesKeyWrapWithPadding(absl::string_view kek, absl::string_view key);
absl::StatusOr<std::string> AesKeyUnwrapWithPadding(absl::string_view kek, absl::string_view wrapped);

}  // namespace caselink::security
