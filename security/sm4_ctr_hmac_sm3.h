// SM4-CTR + HMAC-SM3 encrypt-then-MAC AEAD, the GM profile's payload cipher (GM/T 0002 SM4,
// GM/T 0004 SM3, RFC 2104 HMAC); OpenSSL 3.0 has no SM4-GCM/CCM through EVP in every build.
//
// Construction (all lengths in bytes, || is concatenation):
//   key        = enc_key (16) || mac_key (32)                         48 bytes, independent halves
//   iv         = 16 bytes, the initial SM4-CTR counter block (random per Encrypt)
//   ciphertext = SM4-CTR(enc_key, iv, plaintext)   (128-bit big-endian counter, no padding)
//   tag        = HMAC-SM3(mac_key, UINT64BE(len(aad)) || aad || iv || ciphertext)   32 bytes
//   output     = iv || ciphertext || tag
// The 8-byte length prefix makes the aad / iv boundary unambiguous. Decrypt checks the tag in
// constant time before decrypting anything.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "security/aead.h"

namespace caselink::security {

class Sm4CtrHmacSm3 : public Aead {
 public:
  static constexpr size_t kEncKeySize = 16;
  static constexpr size_t kMacKeySize = 32;
  static constexpr size_t kKeySize = kEncKeySize + kMacKeySize;
  static constexpr size_t kIvSize = 16;
  static constexpr size_t kTagSize = 32;

  // `key` = enc_key || mac_key, 48 bytes of independent random data.
  static absl::StatusOr<std::unique_ptr<Sm4CtrHmacSm3>> Create(absl::string_view key);
  ~Sm4CtrHmacSm3() override;

  // Random 16-byte IV per call; output iv || ciphertext || tag.
  absl::StatusOr<std::string> Encrypt(absl::string_view plaintext, absl::string_view aad) const override;
  absl::StatusOr<std::string> Decrypt(absl::string_view ciphertext, absl::string_view aad) const override;
  AeadAlgorithm algorithm() const override { return AeadAlgorithm::kSm4CtrHmacSm3; }

  // Explicit-IV forms for formats that derive unique counter blocks themselves. CTR
  // keystream reuse (same key, overlapping counters) reveals plaintext XORs; the caller
  // guarantees the counter ranges never overlap. Returns ciphertext || tag.
  absl::StatusOr<std::string> EncryptWithIv(absl::string_view iv, absl::string_view plaintext,
                                            absl::string_view aad) const;
  absl::StatusOr<std::string> DecryptWithIv(absl::string_view iv, absl::string_view ciphertext_and_tag,
                                            absl::string_view aad) const;

 private:
  struct State;
  explicit Sm4CtrHmacSm3(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace caselink::security
