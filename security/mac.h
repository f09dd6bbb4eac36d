// Message authentication codes: HMAC-SHA256 (INTL) and HMAC-SM3 (GM), with constant-time
// verification so a forger learns nothing from how fast a wrong tag is refused.
#pragma once

#include <initializer_list>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "security/digest.h"

namespace caselink::security {

class Mac {
 public:
  virtual ~Mac() = default;
  // The full-length tag of `data`.
  virtual absl::StatusOr<std::string> Compute(absl::string_view data) const = 0;
  // OK when `tag` is the full-length tag of `data` (compared in constant time);
  // UNAUTHENTICATED otherwise, including for a truncated tag.
  virtual absl::Status Verify(absl::string_view tag, absl::string_view data) const = 0;
};

// HMAC (RFC 2104) with SHA-256 or SM3 through EVP_MAC "HMAC". Tags are 32 bytes.
class Hmac : public Mac {
 public:
  // `key` must be non-empty; use at least 32 random bytes. Keys are copied into OpenSSL's
  // context (which wipes them when freed), not kept by this object.
  static absl::StatusOr<std::unique_ptr<Hmac>> Create(DigestAlgorithm digest, absl::string_view key);
  ~Hmac() override;

  absl::StatusOr<std::string> Compute(absl::string_view data) const override;
  absl::Status Verify(absl::string_view tag, absl::string_view data) const override;
  // The tag of the concatenation of `parts`, without building it in memory.
  absl::StatusOr<std::string> ComputeOver(std::initializer_list<absl::string_view> parts) const;
  // Verify() for the concatenation of `parts`.
  absl::Status VerifyOver(absl::string_view tag, std::initializer_list<absl::string_view> parts) const;

  DigestAlgorithm digest() const { return digest_; }
  size_t tag_size() const { return DigestSize(digest_); }

 private:
  struct State;
  Hmac(std::unique_ptr<State> state, DigestAlgorithm digest);
  std::unique_ptr<State> state_;
  DigestAlgorithm digest_;
};

}  // namespace caselink::security
