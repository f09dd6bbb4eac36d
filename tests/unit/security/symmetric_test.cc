// HMAC, HKDF, AES-GCM and SM4-CTR + HMAC-SM3: known answers where standards give them, and
// refusal of every modified ciphertext, IV, tag, associated data and wrong key.
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "security/aes_gcm.h"
#include "security/digest.h"
#include "security/hkdf.h"
#include "security/mac.h"
#include "security/sm4_ctr_hmac_sm3.h"

namespace caselink::security {
namespace {

std::string FlipBit(std::string s, size_t bit) {
  s[bit / 8] = static_cast<char>(s[bit / 8] ^ (1 << (bit % 8)));
  return s;
}

std::string Unhex(absl::string_view hex) {
  absl::StatusOr<std::string> bytes = HexDecode(hex);
  EXPECT_TRUE(bytes.ok());
  return bytes.ok() ? *bytes : "";
}

TEST(DigestTest, GenericInterfaceMatchesOneShotFunctions) {
  EXPECT_EQ(Digest(DigestAlgorithm::kSha256, "abc"), Sha256("abc"));
  EXPECT_EQ(Digest(DigestAlgorithm::kSm3, "abc"), Sm3("abc"));
  EXPECT_NE(Sha256("abc"), Sm3("abc"));
  EXPECT_EQ(DigestSize(DigestAlgorithm::kSm3), 32u);
  EXPECT_STREQ(DigestAlgorithmName(DigestAlgorithm::kSm3), "SM3");
  std::unique_ptr<Hasher> hasher = NewHasher(DigestAlgorithm::kSha256);
  EXPECT_EQ(hasher->algorithm(), DigestAlgorithm::kSha256);
  hasher->Update("a");
  hasher->Update("bc");
  EXPECT_EQ(HexEncode(hasher->Finish()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(HmacTest, Sha256Rfc4231Case2AndConstantTimeVerify) {
  auto mac = Hmac::Create(DigestAlgorithm::kSha256, "Jefe");
  ASSERT_TRUE(mac.ok()) << mac.status();
  absl::StatusOr<std::string> tag = (*mac)->Compute("what do ya want for nothing?");
  ASSERT_TRUE(tag.ok());
  EXPECT_EQ(HexEncode(*tag), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_TRUE((*mac)->Verify(*tag, "what do ya want for nothing?").ok());
  EXPECT_TRUE((*mac)->VerifyOver(*tag, {"what do ya ", "want for nothing?"}).ok());
  EXPECT_EQ((*mac)->Verify(FlipBit(*tag, 255), "what do ya want for nothing?").code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ((*mac)->Verify(*tag, "what do ya want for nothing!").code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ((*mac)->Verify("", "what do ya want for nothing?").code(), absl::StatusCode::kUnauthenticated);

  auto other_key = Hmac::Create(DigestAlgorithm::kSha256, "Jeff");
  ASSERT_TRUE(other_key.ok());
  EXPECT_EQ((*other_key)->Verify(*tag, "what do ya want for nothing?").code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Hmac::Create(DigestAlgorithm::kSm3, "").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(HkdfTest, Rfc5869Case1AndLimits) {
  absl::StatusOr<std::string> okm = HkdfSha256(Unhex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"),
                                               Unhex("000102030405060708090a0b0c"), Unhex("f0f1f2f3f4f5f6f7f8f9"), 42);
  ASSERT_TRUE(okm.ok()) << okm.status();
  EXPECT_EQ(HexEncode(*okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
  EXPECT_TRUE(HkdfSha256("ikm", "", "", 8160).ok());
  EXPECT_EQ(HkdfSha256("ikm", "", "", 8161).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HkdfSha256("ikm", "", "", 0).status().code(), absl::StatusCode::kInvalidArgument);
  // HKDF-SM3 is a different function of the same inputs.
  absl::StatusOr<std::string> sm3 = Hkdf(DigestAlgorithm::kSm3, "ikm", "salt", "info", 32);
  absl::StatusOr<std::string> sha = Hkdf(DigestAlgorithm::kSha256, "ikm", "salt", "info", 32);
  ASSERT_TRUE(sm3.ok() && sha.ok());
  EXPECT_NE(*sm3, *sha);
}

TEST(AesGcmTest, RoundTripAndEveryModificationFails) {
  const std::string key(32, '\x42');
  auto aead = AesGcm::Create(key);
  ASSERT_TRUE(aead.ok()) << aead.status();
  const std::string plaintext = "案件移送书 — transfer letter";
  const std::string aad = "case 510100-EPB-2026-0001";
  absl::StatusOr<std::string> sealed = (*aead)->Encrypt(plaintext, aad);
  ASSERT_TRUE(sealed.ok()) << sealed.status();
  ASSERT_EQ(sealed->size(), AesGcm::kIvSize + plaintext.size() + AesGcm::kTagSize);
  absl::StatusOr<std::string> opened = (*aead)->Decrypt(*sealed, aad);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(*opened, plaintext);

  // Two encryptions of the same plaintext differ (fresh IV).
  absl::StatusOr<std::string> again = (*aead)->Encrypt(plaintext, aad);
  ASSERT_TRUE(again.ok());
  EXPECT_NE(*again, *sealed);

  for (size_t bit : {size_t{0}, size_t{95}, size_t{96}, size_t{8 * 12 + 40}, sealed->size() * 8 - 1}) {
    EXPECT_EQ((*aead)->Decrypt(FlipBit(*sealed, bit), aad).status().code(), absl::StatusCode::kUnauthenticated)
        << "bit " << bit;
  }
  EXPECT_EQ((*aead)->Decrypt(*sealed, aad + "x").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ((*aead)->Decrypt(sealed->substr(0, sealed->size() - 1), aad).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ((*aead)->Decrypt(sealed->substr(0, 27), aad).status().code(), absl::StatusCode::kInvalidArgument);

  auto wrong_key = AesGcm::Create(std::string(32, '\x43'));
  ASSERT_TRUE(wrong_key.ok());
  EXPECT_EQ((*wrong_key)->Decrypt(*sealed, aad).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(AesGcmTest, RefusesBadKeysAndIvs) {
  EXPECT_EQ(AesGcm::Create(std::string(16, 'k')).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(AesGcm::CreateAnyKeySize(std::string(16, 'k')).ok());
  EXPECT_EQ(AesGcm::CreateAnyKeySize(std::string(20, 'k')).status().code(), absl::StatusCode::kInvalidArgument);
  auto aead = AesGcm::Create(std::string(32, 'k'));
  ASSERT_TRUE(aead.ok());
  EXPECT_EQ((*aead)->EncryptWithIv(std::string(16, 'i'), "p", "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*aead)->EncryptWithIv("", "p", "").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(AesGcmTest, EmptyPlaintextStillAuthenticatesAad) {
  auto aead = AesGcm::Create(std::string(32, 'k'));
  ASSERT_TRUE(aead.ok());
  absl::StatusOr<std::string> sealed = (*aead)->Encrypt("", "header");
  ASSERT_TRUE(sealed.ok());
  absl::StatusOr<std::string> opened = (*aead)->Decrypt(*sealed, "header");
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(*opened, "");
  EXPECT_EQ((*aead)->Decrypt(*sealed, "headex").status().code(), absl::StatusCode::kUnauthenticated);
}

// GB/T 32907-2016 (SM4) example 1: key = plaintext = 0123456789abcdeffedcba9876543210 gives
// 681edf34d206965e86b3e94f536e4246. In CTR mode the first keystream block is SM4(key, IV), so
// with IV = that plaintext, encrypting 16 zero bytes must yield exactly that block.
TEST(Sm4CtrHmacSm3Test, CtrKeystreamMatchesTheSm4StandardExample) {
  const std::string enc_key = Unhex("0123456789abcdeffedcba9876543210");
  const std::string mac_key(32, '\x07');
  auto aead = Sm4CtrHmacSm3::Create(enc_key + mac_key);
  ASSERT_TRUE(aead.ok()) << aead.status();
  const std::string iv = Unhex("0123456789abcdeffedcba9876543210");
  absl::StatusOr<std::string> sealed = (*aead)->EncryptWithIv(iv, std::string(16, '\0'), "aad");
  ASSERT_TRUE(sealed.ok()) << sealed.status();
  ASSERT_EQ(sealed->size(), 16 + Sm4CtrHmacSm3::kTagSize);
  EXPECT_EQ(HexEncode(sealed->substr(0, 16)), "681edf34d206965e86b3e94f536e4246");

  // The tag is exactly the documented HMAC-SM3(mac_key, UINT64BE(len(aad)) || aad || iv || ct).
  auto mac = Hmac::Create(DigestAlgorithm::kSm3, mac_key);
  ASSERT_TRUE(mac.ok());
  const std::string length_prefix("\0\0\0\0\0\0\0\x03", 8);
  absl::StatusOr<std::string> tag = (*mac)->Compute(length_prefix + "aad" + iv + sealed->substr(0, 16));
  ASSERT_TRUE(tag.ok());
  EXPECT_EQ(HexEncode(sealed->substr(16)), HexEncode(*tag));
}

TEST(Sm4CtrHmacSm3Test, RoundTripAndEveryModificationFails) {
  std::string key(Sm4CtrHmacSm3::kKeySize, '\0');
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<char>(i * 7 + 1);
  auto aead = Sm4CtrHmacSm3::Create(key);
  ASSERT_TRUE(aead.ok()) << aead.status();
  EXPECT_EQ((*aead)->algorithm(), AeadAlgorithm::kSm4CtrHmacSm3);
  const std::string plaintext(1000, 'p');
  absl::StatusOr<std::string> sealed = (*aead)->Encrypt(plaintext, "aad");
  ASSERT_TRUE(sealed.ok());
  ASSERT_EQ(sealed->size(), Sm4CtrHmacSm3::kIvSize + plaintext.size() + Sm4CtrHmacSm3::kTagSize);
  absl::StatusOr<std::string> opened = (*aead)->Decrypt(*sealed, "aad");
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(*opened, plaintext);
  for (size_t bit : {size_t{0}, size_t{127}, size_t{128}, size_t{8 * 500}, sealed->size() * 8 - 1}) {
    EXPECT_EQ((*aead)->Decrypt(FlipBit(*sealed, bit), "aad").status().code(), absl::StatusCode::kUnauthenticated)
        << "bit " << bit;
  }
  EXPECT_EQ((*aead)->Decrypt(*sealed, "aae").status().code(), absl::StatusCode::kUnauthenticated);
  // Moving bytes between aad and ciphertext is caught by the length prefix.
  EXPECT_EQ((*aead)->Decrypt(*sealed, "").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ((*aead)->Decrypt(sealed->substr(0, 47), "aad").status().code(), absl::StatusCode::kInvalidArgument);

  std::string other_mac_key = key;
  other_mac_key[40] ^= 1;
  auto wrong = Sm4CtrHmacSm3::Create(other_mac_key);
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ((*wrong)->Decrypt(*sealed, "aad").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Sm4CtrHmacSm3::Create(std::string(32, 'k')).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace caselink::security
