// AES-GCM (NIST SP 800-38D) with 96-bit IVs and 128-bit tags, the INTL profile's payload cipher.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "security/aead.h"

namespace caselink::security {

class AesGcm : public Aead {
 public:
  static constexpr size_t kIvSize = 12;   // the only IV length accepted: no GHASH-derived counters
  static constexpr size_t kTagSize = 16;  // never truncated
  static constexpr size_t kKeySize = 32;  // AES-256, what the INTL profile uses

  // `key` must be 32 bytes (AES-256), as the INTL profile requires.
  static absl::StatusOr<std::unique_ptr<AesGcm>> Create(absl::string_view key);
  // Also accepts 16- and 24-byte keys (AES-128/192), for interoperability and published test
  // vectors only; algorithm() then still names the profile's AEAD family, key_size() the truth.
  static absl::StatusOr<std::unique_ptr<AesGcm>> CreateAnyKeySize(absl::string_view key);
  ~AesGcm() override;

  // Random 96-bit IV per call; output IV || ciphertext || tag. With random IVs a key must not
  // encrypt more than 2^32 messages (SP 800-38D section 8.3); rotate content keys well before.
  absl::StatusOr<std::string> Encrypt(absl::string_view plaintext, absl::string_view aad) const override;
  absl::StatusOr<std::string> Decrypt(absl::string_view ciphertext, absl::string_view aad) const override;
  AeadAlgorithm algorithm() const override { return AeadAlgorithm::kAes256Gcm; }

  // Explicit-IV forms for formats that derive unique IVs themselves (e.g. a chunk counter
  // under a one-time key) and for known-answer tests. Reusing an (key, IV) pair destroys
  // both confidentiality and integrity; the caller guarantees uniqueness.
  // Returns ciphertext || tag.
  absl::StatusOr<std::string> EncryptWithIv(absl::string_view iv, absl::string_view plaintext,
                                            absl::string_view aad) const;
  // `ciphertext_and_tag` as returned by EncryptWithIv.
  absl::StatusOr<std::string> DecryptWithIv(absl::string_view iv, absl::string_view ciphertext_and_tag,
                                            absl::string_view aad) const;

  size_t key_size() const;

 private:
  struct State;
  explicit AesGcm(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace caselink::security
