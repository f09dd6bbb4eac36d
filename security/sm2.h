// SM2 signatures with SM3 (GB/T 32918.2, GM/T 0003.2) for the GM profile, through OpenSSL 3
// EVP with the distinguishing user id set explicitly, plus the ZA / e helpers of the standard.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "security/signature.h"

namespace caselink::security {

// The distinguishing identifier GM/T 0009-2012 prescribes when parties agree on no other;
// certificates and CRLs (GM/T 0015) are always signed with it.
inline constexpr char kSm2DefaultUserId[] = "1234567812345678";
// OpenSSL (and ENTL, a 16-bit bit length) limit the user id to this many bytes.
inline constexpr size_t kSm2MaxUserIdSize = 8190;

// Signs with SM2-SM3: e = SM3(ZA || M), ZA = SM3(ENTL || ID || a || b || xG || yG || xA || yA);
// signatures are DER SEQUENCE { r INTEGER, s INTEGER }.
class Sm2Signer : public Signer {
 public:
  // `private_key_pem`: PKCS#8 or SEC1 PEM of a key on curve SM2 (sm2p256v1), whether OpenSSL
  // reads it as type "SM2" or as "EC" on curve SM2. Other keys are INVALID_ARGUMENT, as is a
  // `user_id` that is empty or longer than kSm2MaxUserIdSize.
  static absl::StatusOr<std::unique_ptr<Sm2Signer>> Create(absl::string_view private_key_pem, std::string key_id,
                                                           absl::string_view user_id = kSm2DefaultUserId);
  ~Sm2Signer() override;

  // Signs `data` (the message M; ZA is prepended internally).
  absl::StatusOr<std::string> Sign(absl::string_view data) const override;
  SignatureAlgorithm algorithm() const override { return SignatureAlgorithm::kSm2Sm3; }
  const std::string& key_id() const override { return key_id_; }
  const std::string& user_id() const { return user_id_; }

 private:
  struct Key;
  Sm2Signer(std::unique_ptr<Key> key, std::string key_id, std::string user_id);
  std::unique_ptr<Key> key_;
  std::string key_id_;
  std::string user_id_;
};

class Sm2Verifier : public Verifier {
 public:
  // From a SubjectPublicKeyInfo PEM or DER of a key on curve SM2, or an uncompressed SEC1
  // point (0x04 || X || Y) on sm2p256v1. The signer's `user_id` must be the one it signed with.
  static absl::StatusOr<std::unique_ptr<Sm2Verifier>> CreateFromPublicKeyPem(
      absl::string_view pem, absl::string_view user_id = kSm2DefaultUserId);
  static absl::StatusOr<std::unique_ptr<Sm2Verifier>> CreateFromPublicKeyDer(
      absl::string_view der, absl::string_view user_id = kSm2DefaultUserId);
  static absl::StatusOr<std::unique_ptr<Sm2Verifier>> CreateFromUncompressedPoint(
      absl::string_view point, absl::string_view user_id = kSm2DefaultUserId);
  ~Sm2Verifier() override;

  // Strict DER only (like EcdsaP256Verifier): BER variants, trailing bytes and out-of-range
  // r or s fail with UNAUTHENTICATED, as does a signature made with another user id.
  absl::Status Verify(absl::string_view signature, absl::string_view data) const override;
  SignatureAlgorithm algorithm() const override { return SignatureAlgorithm::kSm2Sm3; }

  // Verifies against an already computed e = SM3(ZA || M) (32 bytes), for interoperating
  // with signers that hash outside (smart cards, published vectors). Prefer Verify(): it
  // binds the signature to this verifier's key and user id by computing ZA itself.
  absl::Status VerifyPrecomputedDigest(absl::string_view signature, absl::string_view e) const;

  // ZA of this key and user id (32 bytes).
  absl::StatusOr<std::string> Za() const;
  const std::string& user_id() const { return user_id_; }

 private:
  struct Key;
  Sm2Verifier(std::unique_ptr<Key> key, std::string user_id);
  std::unique_ptr<Key> key_;
  std::string user_id_;
};

// Curve and key values that enter ZA, each a 32-byte big-endian field element.
struct Sm2ZaInput {
  std::string a;
  std::string b;
  std::string gx;
  std::string gy;
  std::string public_x;
  std::string public_y;
};

// ZA = SM3(ENTL || ID || a || b || xG || yG || xA || yA) for any 256-bit curve (the standard's
// examples use a test curve as well as sm2p256v1).
absl::StatusOr<std::string> ComputeSm2Za(absl::string_view user_id, const Sm2ZaInput& input);
// ZA for a public key on sm2p256v1, given as an uncompressed SEC1 point.
absl::StatusOr<std::string> ComputeSm2Za(absl::string_view user_id, absl::string_view uncompressed_point);
// e = SM3(ZA || M), the value SM2 signs.
std::string ComputeSm2E(absl::string_view za, absl::string_view message);

}  // namespace caselink::security
