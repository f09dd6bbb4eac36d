// HKDF (RFC 5869) extract-and-expand key derivation, for content and key-encryption keys.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "security/digest.h"

namespace caselink::security {

// Derives `size` bytes from `ikm` with `salt` and `info` (both may be empty; an empty salt
// means HashLen zero bytes, as RFC 5869 specifies). `size` must be 1..255*HashLen (8160 for
// both SHA-256 and SM3), otherwise INVALID_ARGUMENT. The result is secret: wipe it after use.
absl::StatusOr<std::string> Hkdf(DigestAlgorithm digest, absl::string_view ikm, absl::string_view salt,
                                 absl::string_view info, size_t size);

// Hkdf with SHA-256.
absl::StatusOr<std::string> HkdfSha256(absl::string_view ikm, absl::string_view salt, absl::string_view info,
                                       size_t size);

}  // namespace caselink::security
