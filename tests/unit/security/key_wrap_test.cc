// AES key wrap against the RFC 3394 / RFC 5649 examples, and content-key transport to a
// recipient: ECDH P-256 (INTL) and SM2 encryption (GM), including wrong recipients and tampering.
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "security/digest.h"
#include "security/ecdh_p256.h"
#include "security/key_wrap.h"
#include "security/pki.h"
#include "security/sm2_encryption.h"

namespace caselink::security {
namespace {

std::string Unhex(absl::string_view hex) {
  absl::StatusOr<std::string> bytes = HexDecode(hex);
  EXPECT_TRUE(bytes.ok());
  return bytes.ok() ? *bytes : "";
}

std::string FlipBit(std::string s, size_t bit) {
  s[bit / 8] = static_cast<char>(s[bit / 8] ^ (1 << (bit % 8)));
  return s;
}

KeyPair MustGenerate(absl::StatusOr<KeyPair> pair) {
  EXPECT_TRUE(pair.ok()) << pair.status();
  return pair.ok() ? *pair : KeyPair();
}

TEST(AesKeyWrapTest, Rfc3394Examples) {
  // Section 4.1: 128-bit key data with a 128-bit KEK.
  absl::StatusOr<std::string> wrapped =
      AesKeyWrap(Unhex("000102030405060708090A0B0C0D0E0F"), Unhex("00112233445566778899AABBCCDDEEFF"));
  ASSERT_TRUE(wrapped.ok()) << wrapped.status();
  EXPECT_EQ(HexEncode(*wrapped), "1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5");
  // Section 4.6: 256-bit key data with a 256-bit KEK.
  const std::string kek = Unhex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");
  const std::string key = Unhex("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F");
  wrapped = AesKeyWrap(kek, key);
  ASSERT_TRUE(wrapped.ok()) << wrapped.status();
  EXPECT_EQ(HexEncode(*wrapped), "28c9f404c4b810f4cbccb35cfb87f8263f5786e2d80ed326cbc7f0e71a99f43bfb988b9b7a02dd21");
  absl::StatusOr<std::string> unwrapped = AesKeyUnwrap(kek, *wrapped);
  ASSERT_TRUE(unwrapped.ok()) << unwrapped.status();
  EXPECT_EQ(*unwrapped, key);
  EXPECT_EQ(AesKeyUnwrap(kek, FlipBit(*wrapped, 100)).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(AesKeyUnwrap(FlipBit(kek, 0), *wrapped).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(AesKeyWrap(kek, std::string(20, 'k')).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AesKeyWrap(std::string(20, 'k'), key).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(AesKeyWrapTest, Rfc5649Examples) {
  const std::string kek = Unhex("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8");
  absl::StatusOr<std::string> wrapped = AesKeyWrapWithPadding(kek, Unhex("c37b7e6492584340bed12207808941155068f738"));
  ASSERT_TRUE(wrapped.ok()) << wrapped.status();
  EXPECT_EQ(HexEncode(*wrapped), "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a");
  wrapped = AesKeyWrapWithPadding(kek, Unhex("466f7250617369"));
  ASSERT_TRUE(wrapped.ok()) << wrapped.status();
  EXPECT_EQ(HexEncode(*wrapped), "afbeb0f07dfbf5419200f2ccb50bb24f");
  absl::StatusOr<std::string> unwrapped = AesKeyUnwrapWithPadding(kek, *wrapped);
  ASSERT_TRUE(unwrapped.ok()) << unwrapped.status();
  EXPECT_EQ(HexEncode(*unwrapped), "466f7250617369");
  EXPECT_EQ(AesKeyUnwrapWithPadding(kek, FlipBit(*wrapped, 3)).status().code(), absl::StatusCode::kUnauthenticated);
}

class RecipientKeyWrapTest : public ::testing::Test {
 protected:
  const std::string content_key_ = std::string("0123456789abcdef0123456789abcdef");
};

TEST_F(RecipientKeyWrapTest, EcdhP256WrapsToTheRecipientOnly) {
  KeyPair recipient = MustGenerate(GenerateEcP256KeyPair());
  KeyPair stranger = MustGenerate(GenerateEcP256KeyPair());
  auto wrapper = EcdhP256KeyWrapper::Create(recipient.public_key_pem);
  ASSERT_TRUE(wrapper.ok()) << wrapper.status();
  EXPECT_EQ((*wrapper)->algorithm(), KeyWrapAlgorithm::kEcdhP256HkdfSha256Aes256Kw);
  absl::StatusOr<std::string> wrapped = (*wrapper)->Wrap(content_key_);
  ASSERT_TRUE(wrapped.ok()) << wrapped.status();
  EXPECT_EQ(wrapped->size(), 65 + content_key_.size() + 8);
  // Fresh ephemeral key each time.
  absl::StatusOr<std::string> again = (*wrapper)->Wrap(content_key_);
  ASSERT_TRUE(again.ok());
  EXPECT_NE(*again, *wrapped);

  auto unwrapper = EcdhP256KeyUnwrapper::Create(recipient.private_key_pem);
  ASSERT_TRUE(unwrapper.ok()) << unwrapper.status();
  absl::StatusOr<std::string> unwrapped = (*unwrapper)->Unwrap(*wrapped);
  ASSERT_TRUE(unwrapped.ok()) << unwrapped.status();
  EXPECT_EQ(*unwrapped, content_key_);

  auto wrong = EcdhP256KeyUnwrapper::Create(stranger.private_key_pem);
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ((*wrong)->Unwrap(*wrapped).status().code(), absl::StatusCode::kUnauthenticated);
  // A modified wrapped key fails; a modified ephemeral point is either off the curve
  // (INVALID_ARGUMENT) or a different point (UNAUTHENTICATED), never a key.
  EXPECT_EQ((*unwrapper)->Unwrap(FlipBit(*wrapped, 8 * 70)).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_FALSE((*unwrapper)->Unwrap(FlipBit(*wrapped, 8 * 10)).ok());
  EXPECT_EQ((*unwrapper)->Unwrap(wrapped->substr(0, 80)).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(RecipientKeyWrapTest, EcdhP256RefusesNonP256Keys) {
  KeyPair sm2 = MustGenerate(GenerateSm2KeyPair());
  EXPECT_EQ(EcdhP256KeyWrapper::Create(sm2.public_key_pem).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EcdhP256KeyUnwrapper::Create(sm2.private_key_pem).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(RecipientKeyWrapTest, Sm2EncryptionWrapsToTheRecipientOnly) {
  KeyPair recipient = MustGenerate(GenerateSm2KeyPair());
  KeyPair stranger = MustGenerate(GenerateSm2KeyPair());
  auto wrapper = Sm2KeyWrapper::Create(recipient.public_key_pem);
  ASSERT_TRUE(wrapper.ok()) << wrapper.status();
  EXPECT_EQ((*wrapper)->algorithm(), KeyWrapAlgorithm::kSm2Encrypt);
  absl::StatusOr<std::string> wrapped = (*wrapper)->Wrap(content_key_);
  ASSERT_TRUE(wrapped.ok()) << wrapped.status();

  auto unwrapper = Sm2KeyUnwrapper::Create(recipient.private_key_pem);
  ASSERT_TRUE(unwrapper.ok()) << unwrapper.status();
  absl::StatusOr<std::string> unwrapped = (*unwrapper)->Unwrap(*wrapped);
  ASSERT_TRUE(unwrapped.ok()) << unwrapped.status();
  EXPECT_EQ(*unwrapped, content_key_);

  auto wrong = Sm2KeyUnwrapper::Create(stranger.private_key_pem);
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ((*wrong)->Unwrap(*wrapped).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ((*unwrapper)->Unwrap(FlipBit(*wrapped, wrapped->size() * 8 - 2)).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ((*unwrapper)->Unwrap("").status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(RecipientKeyWrapTest, Sm2EncryptionRoundTripAndRefusals) {
  KeyPair key = MustGenerate(GenerateSm2KeyPair());
  auto encrypter = Sm2Encrypter::Create(key.public_key_pem);
  auto decrypter = Sm2Decrypter::Create(key.private_key_pem);
  ASSERT_TRUE(encrypter.ok() && decrypter.ok());
  const std::string message = "某化工有限公司涉嫌污染环境案";
  absl::StatusOr<std::string> ciphertext = (*encrypter)->Encrypt(message);
  ASSERT_TRUE(ciphertext.ok()) << ciphertext.status();
  absl::StatusOr<std::string> plaintext = (*decrypter)->Decrypt(*ciphertext);
  ASSERT_TRUE(plaintext.ok()) << plaintext.status();
  EXPECT_EQ(*plaintext, message);
  EXPECT_EQ((*encrypter)->Encrypt("").status().code(), absl::StatusCode::kInvalidArgument);
  KeyPair p256 = MustGenerate(GenerateEcP256KeyPair());
  EXPECT_EQ(Sm2Encrypter::Create(p256.public_key_pem).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Sm2Decrypter::Create(p256.private_key_pem).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace caselink::security
