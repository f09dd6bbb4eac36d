// ECDSA P-256 signer/verifier behaviour: round trips, tamper detection, strict DER and
// refusal of keys that are not EC P-256.
#include "security/ecdsa_p256.h"

#include <memory>
#include <string>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "security/digest.h"
#include "security/pki.h"

namespace caselink::security {
namespace {

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* pkey) const { EVP_PKEY_free(pkey); }
};
struct EncoderCtxDeleter {
  void operator()(OSSL_ENCODER_CTX* ctx) const { OSSL_ENCODER_CTX_free(ctx); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;
using EncoderCtxPtr = std::unique_ptr<OSSL_ENCODER_CTX, EncoderCtxDeleter>;

std::string BioText(BIO* bio) {
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(size));
}

EvpPkeyPtr ReadPrivateKey(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return EvpPkeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

std::string PrivateKeyPem(EVP_PKEY* pkey) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  EXPECT_EQ(PEM_write_bio_PrivateKey(bio.get(), pkey, nullptr, nullptr, 0, nullptr, nullptr), 1);
  return BioText(bio.get());
}

std::string PublicKeyPem(EVP_PKEY* pkey) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  EXPECT_EQ(PEM_write_bio_PUBKEY(bio.get(), pkey), 1);
  return BioText(bio.get());
}

KeyPair NewKeyPair() {
  absl::StatusOr<KeyPair> pair = GenerateEcP256KeyPair();
  EXPECT_TRUE(pair.ok()) << pair.status();
  return *pair;
}

std::unique_ptr<EcdsaP256Signer> NewSigner(const KeyPair& pair) {
  auto signer = EcdsaP256Signer::Create(pair.private_key_pem, "test-key");
  EXPECT_TRUE(signer.ok()) << signer.status();
  return *std::move(signer);
}

std::unique_ptr<EcdsaP256Verifier> NewVerifier(const KeyPair& pair) {
  auto verifier = EcdsaP256Verifier::CreateFromPublicKeyPem(pair.public_key_pem);
  EXPECT_TRUE(verifier.ok()) << verifier.status();
  return *std::move(verifier);
}

class EcdsaP256Test : public ::testing::Test {
 protected:
  void SetUp() override {
    pair_ = NewKeyPair();
    signer_ = NewSigner(pair_);
    verifier_ = NewVerifier(pair_);
    ASSERT_NE(signer_, nullptr);
    ASSERT_NE(verifier_, nullptr);
  }

  KeyPair pair_;
  std::unique_ptr<EcdsaP256Signer> signer_;
  std::unique_ptr<EcdsaP256Verifier> verifier_;
};

TEST_F(EcdsaP256Test, GeneratedKeyPairIsPem) {
  EXPECT_NE(pair_.private_key_pem.find("-----BEGIN PRIVATE KEY-----"), std::string::npos);
  EXPECT_NE(pair_.public_key_pem.find("-----BEGIN PUBLIC KEY-----"), std::string::npos);
}

TEST_F(EcdsaP256Test, SignVerifyRoundTrip) {
  EXPECT_EQ(signer_->key_id(), "test-key");
  EXPECT_EQ(signer_->algorithm(), SignatureAlgorithm::kEcdsaP256Sha256);
  EXPECT_EQ(verifier_->algorithm(), SignatureAlgorithm::kEcdsaP256Sha256);
  const std::string messages[] = {"", "case 2024/17", std::string(100000, 'x')};
  for (const std::string& message : messages) {
    absl::StatusOr<std::string> signature = signer_->Sign(message);
    ASSERT_TRUE(signature.ok()) << signature.status();
    EXPECT_LE(signature->size(), 72u);
    EXPECT_EQ(static_cast<unsigned char>((*signature)[0]), 0x30);  // DER SEQUENCE
    EXPECT_TRUE(verifier_->Verify(*signature, message).ok());
  }
}

TEST_F(EcdsaP256Test, BitFlippedSignatureFails) {
  const std::string message = "transfer case 42 to agency B";
  absl::StatusOr<std::string> signature = signer_->Sign(message);
  ASSERT_TRUE(signature.ok());
  for (size_t i = 0; i < signature->size(); ++i) {
    for (int bit : {0, 7}) {
      std::string tampered = *signature;
      tampered[i] = static_cast<char>(tampered[i] ^ (1 << bit));
      absl::Status status = verifier_->Verify(tampered, message);
      EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated) << "byte " << i << " bit " << bit;
      EXPECT_NE(status.message().find("signature does not verify"), absl::string_view::npos) << status;
    }
  }
}

TEST_F(EcdsaP256Test, ModifiedMessageFails) {
  absl::StatusOr<std::string> signature = signer_->Sign("amount=100");
  ASSERT_TRUE(signature.ok());
  absl::Status status = verifier_->Verify(*signature, "amount=900");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(status.message(), "signature does not verify");
  EXPECT_EQ(verifier_->Verify(*signature, "amount=100 ").code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(verifier_->Verify(*signature, "").code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(EcdsaP256Test, SignatureFromAnotherKeyFails) {
  KeyPair other = NewKeyPair();
  std::unique_ptr<EcdsaP256Signer> other_signer = NewSigner(other);
  absl::StatusOr<std::string> signature = other_signer->Sign("message");
  ASSERT_TRUE(signature.ok());
  EXPECT_EQ(verifier_->Verify(*signature, "message").code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(NewVerifier(other)->Verify(*signature, "message").ok());
}

TEST_F(EcdsaP256Test, NonCanonicalEncodingsFail) {
  absl::StatusOr<std::string> signature = signer_->Sign("m");
  ASSERT_TRUE(signature.ok());
  EXPECT_EQ(verifier_->Verify(*signature + std::string(1, '\0'), "m").code(),
            absl::StatusCode::kUnauthenticated);
  // Same SEQUENCE with a long-form length: valid BER, invalid DER.
  std::string ber = std::string("\x30\x81", 2) + signature->substr(1);
  EXPECT_EQ(verifier_->Verify(ber, "m").code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(verifier_->Verify("", "m").code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(verifier_->Verify("\x30\x00", "m").code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(EcdsaP256Test, VerifierFromDerAndUncompressedPoint) {
  BioPtr bio(BIO_new_mem_buf(pair_.public_key_pem.data(), static_cast<int>(pair_.public_key_pem.size())));
  EvpPkeyPtr pkey(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  ASSERT_NE(pkey, nullptr);
  unsigned char* der = nullptr;
  int der_size = i2d_PUBKEY(pkey.get(), &der);
  ASSERT_GT(der_size, 0);
  std::string spki(reinterpret_cast<char*>(der), static_cast<size_t>(der_size));
  OPENSSL_free(der);
  unsigned char point[65];
  size_t point_size = 0;
  ASSERT_EQ(EVP_PKEY_get_octet_string_param(pkey.get(), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
                                            sizeof(point), &point_size),
            1);
  ASSERT_EQ(point_size, 65u);

  absl::StatusOr<std::string> signature = signer_->Sign("payload");
  ASSERT_TRUE(signature.ok());
  auto from_der = EcdsaP256Verifier::CreateFromPublicKeyDer(spki);
  ASSERT_TRUE(from_der.ok()) << from_der.status();
  EXPECT_TRUE((*from_der)->Verify(*signature, "payload").ok());
  auto from_point = EcdsaP256Verifier::CreateFromUncompressedPoint(
      std::string(reinterpret_cast<char*>(point), point_size));
  ASSERT_TRUE(from_point.ok()) << from_point.status();
  EXPECT_TRUE((*from_point)->Verify(*signature, "payload").ok());

  EXPECT_EQ(EcdsaP256Verifier::CreateFromPublicKeyDer(spki + "x").status().code(),
            absl::StatusCode::kInvalidArgument);
  std::string off_curve(reinterpret_cast<char*>(point), point_size);
  off_curve[64] = static_cast<char>(off_curve[64] ^ 1);
  EXPECT_EQ(EcdsaP256Verifier::CreateFromUncompressedPoint(off_curve).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EcdsaP256Verifier::CreateFromUncompressedPoint(std::string(reinterpret_cast<char*>(point), 33))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(EcdsaP256Test, SignerAcceptsSec1Pem) {
  EvpPkeyPtr pkey = ReadPrivateKey(pair_.private_key_pem);
  ASSERT_NE(pkey, nullptr);
  EncoderCtxPtr encoder(
      OSSL_ENCODER_CTX_new_for_pkey(pkey.get(), EVP_PKEY_KEYPAIR, "PEM", "type-specific", nullptr));
  ASSERT_NE(encoder, nullptr);
  BioPtr bio(BIO_new(BIO_s_mem()));
  ASSERT_EQ(OSSL_ENCODER_to_bio(encoder.get(), bio.get()), 1);
  std::string sec1 = BioText(bio.get());
  ASSERT_NE(sec1.find("BEGIN EC PRIVATE KEY"), std::string::npos);
  auto signer = EcdsaP256Signer::Create(sec1, "sec1");
  ASSERT_TRUE(signer.ok()) << signer.status();
  absl::StatusOr<std::string> signature = (*signer)->Sign("x");
  ASSERT_TRUE(signature.ok());
  EXPECT_TRUE(verifier_->Verify(*signature, "x").ok());
}

TEST(EcdsaP256KeyTypeTest, SignerRejectsEd25519) {
  EvpPkeyPtr ed25519(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  ASSERT_NE(ed25519, nullptr);
  auto signer = EcdsaP256Signer::Create(PrivateKeyPem(ed25519.get()), "ed");
  EXPECT_EQ(signer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(signer.status().message().find("ED25519"), absl::string_view::npos) << signer.status();
  auto verifier = EcdsaP256Verifier::CreateFromPublicKeyPem(PublicKeyPem(ed25519.get()));
  EXPECT_EQ(verifier.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(EcdsaP256KeyTypeTest, SignerRejectsOtherCurve) {
  EvpPkeyPtr p384(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
  ASSERT_NE(p384, nullptr);
  auto signer = EcdsaP256Signer::Create(PrivateKeyPem(p384.get()), "p384");
  EXPECT_EQ(signer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(signer.status().message().find("secp384r1"), absl::string_view::npos) << signer.status();
  EXPECT_EQ(EcdsaP256Verifier::CreateFromPublicKeyPem(PublicKeyPem(p384.get())).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(EcdsaP256KeyTypeTest, SignerRejectsGarbagePem) {
  const char kNotAKey[] = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n";
  EXPECT_EQ(EcdsaP256Signer::Create(kNotAKey, "g").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EcdsaP256Signer::Create("", "empty").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EcdsaP256Signer::Create(absl::string_view(), "null").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EcdsaP256Verifier::CreateFromPublicKeyPem("garbage").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(EcdsaP256KeyTypeTest, SignerRejectsEncryptedKeyWithoutPrompting) {
  KeyPair pair = NewKeyPair();
  EvpPkeyPtr pkey = ReadPrivateKey(pair.private_key_pem);
  ASSERT_NE(pkey, nullptr);
  BioPtr bio(BIO_new(BIO_s_mem()));
  static char kPassword[] = "secret";
  ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(bio.get(), pkey.get(), EVP_aes_256_cbc(), kPassword,
                                          sizeof(kPassword) - 1, nullptr, nullptr),
            1);
  auto signer = EcdsaP256Signer::Create(BioText(bio.get()), "enc");
  EXPECT_EQ(signer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(signer.status().message().find("passphrase"), absl::string_view::npos) << signer.status();
}

}  // namespace
}  // namespace caselink::security
