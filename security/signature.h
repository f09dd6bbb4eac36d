// Signing and verification primitives: one small interface each, so the
// gateway never touches OpenSSL directly and algorithms can be added per profile.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace caselink::security {

// The algorithm always travels with a signature, so verification never guesses.
enum class SignatureAlgorithm {
  kEcdsaP256Sha256,  // INTL profile: ECDSA P-256 with SHA-256, ASN.1 DER (r, s)
  kEd25519,          // INTL profile (allowed): RFC 8032 Ed25519, 64 bytes R || S
  kSm2Sm3,           // GM profile: SM2 with SM3 over ZA || M (GB/T 32918.2), ASN.1 DER (r, s)
};

class Signer {
 public:
  virtual ~Signer() = default;
  // Signs `data` (the message, not a digest).
  virtual absl::StatusOr<std::string> Sign(absl::string_view data) const = 0;
  virtual SignatureAlgorithm algorithm() const = 0;
  virtual const std::string& key_id() const = 0;
};

class Verifier {
 public:
  virtual ~Verifier() = default;
  // OK when `signature` is a valid signature of `data`; UNAUTHENTICATED otherwise.
  virtual absl::Status Verify(absl::string_view signature, absl::string_view data) const = 0;
  virtual SignatureAlgorithm algorithm() const = 0;
};

}  // namespace caselink::security
