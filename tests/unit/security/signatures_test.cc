// Ed25519 and SM2 signers/verifiers and the algorithm factory: round trips, tampering, wrong
// keys and user ids, and algorithm confusion between ECDSA, Ed25519 and SM2.
#include <memory>
#include <string>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "security/digest.h"
#include "security/ecdsa_p256.h"
#include "security/ed25519.h"
#include "security/pki.h"
#include "security/signature.h"
#include "security/signer_factory.h"
#include "security/sm2.h"

namespace caselink::security {
namespace {

constexpr char kMessage[] = "510100-EPB-2026-0001 transfer envelope";

std::string FlipBit(std::string s, size_t bit) {
  s[bit / 8] = static_cast<char>(s[bit / 8] ^ (1 << (bit % 8)));
  return s;
}

KeyPair MustGenerate(absl::StatusOr<KeyPair> pair) {
  EXPECT_TRUE(pair.ok()) << pair.status();
  return pair.ok() ? *pair : KeyPair();
}

TEST(Ed25519Test, SignVerifyRoundTripAndTampering) {
  KeyPair key = MustGenerate(GenerateEd25519KeyPair());
  auto signer = Ed25519Signer::Create(key.private_key_pem, "epb-ed-1");
  ASSERT_TRUE(signer.ok()) << signer.status();
  EXPECT_EQ((*signer)->algorithm(), SignatureAlgorithm::kEd25519);
  EXPECT_EQ((*signer)->key_id(), "epb-ed-1");
  absl::StatusOr<std::string> signature = (*signer)->Sign(kMessage);
  ASSERT_TRUE(signature.ok()) << signature.status();
  ASSERT_EQ(signature->size(), kEd25519SignatureSize);

  auto verifier = Ed25519Verifier::CreateFromPublicKeyPem(key.public_key_pem);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  EXPECT_TRUE((*verifier)->Verify(*signature, kMessage).ok());
  auto from_raw = Ed25519Verifier::CreateFromRawPublicKey((*signer)->raw_public_key());
  ASSERT_TRUE(from_raw.ok());
  EXPECT_TRUE((*from_raw)->Verify(*signature, kMessage).ok());

  for (size_t bit : {0u, 7u, 255u, 256u, 511u}) {
    EXPECT_EQ((*verifier)->Verify(FlipBit(*signature, bit), kMessage).code(), absl::StatusCode::kUnauthenticated)
        << "bit " << bit;
  }
  EXPECT_EQ((*verifier)->Verify(*signature, FlipBit(kMessage, 3)).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ((*verifier)->Verify(signature->substr(0, 63), kMessage).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ((*verifier)->Verify(*signature + "x", kMessage).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ((*verifier)->Verify("", kMessage).code(), absl::StatusCode::kUnauthenticated);

  KeyPair other = MustGenerate(GenerateEd25519KeyPair());
  auto wrong = Ed25519Verifier::CreateFromPublicKeyPem(other.public_key_pem);
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ((*wrong)->Verify(*signature, kMessage).code(), absl::StatusCode::kUnauthenticated);
}

TEST(Ed25519Test, Rfc8032TestVector1) {
  // RFC 8032 section 7.1, TEST 1 (empty message).
  auto seed = HexDecode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  ASSERT_TRUE(seed.ok());
  auto signer = Ed25519Signer::CreateFromRawPrivateKey(*seed, "rfc8032");
  ASSERT_TRUE(signer.ok()) << signer.status();
  EXPECT_EQ(HexEncode((*signer)->raw_public_key()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  absl::StatusOr<std::string> signature = (*signer)->Sign("");
  ASSERT_TRUE(signature.ok());
  EXPECT_EQ(HexEncode(*signature),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46b"
            "d25bf5f0595bbe24655141438e7a100b");
}

TEST(Ed25519Test, RefusesOtherKeyTypes) {
  KeyPair p256 = MustGenerate(GenerateEcP256KeyPair());
  auto signer = Ed25519Signer::Create(p256.private_key_pem, "k");
  EXPECT_EQ(signer.status().code(), absl::StatusCode::kInvalidArgument);
  auto verifier = Ed25519Verifier::CreateFromPublicKeyPem(p256.public_key_pem);
  EXPECT_EQ(verifier.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Ed25519Verifier::CreateFromRawPublicKey(std::string(31, 'a')).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Ed25519Signer::CreateFromRawPrivateKey(std::string(33, 'a'), "k").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(Sm2Test, SignVerifyRoundTripAndTampering) {
  KeyPair key = MustGenerate(GenerateSm2KeyPair());
  auto signer = Sm2Signer::Create(key.private_key_pem, "epb-sm2-1");
  ASSERT_TRUE(signer.ok()) << signer.status();
  EXPECT_EQ((*signer)->algorithm(), SignatureAlgorithm::kSm2Sm3);
  EXPECT_EQ((*signer)->user_id(), kSm2DefaultUserId);
  absl::StatusOr<std::string> signature = (*signer)->Sign(kMessage);
  ASSERT_TRUE(signature.ok()) << signature.status();

  auto verifier = Sm2Verifier::CreateFromPublicKeyPem(key.public_key_pem);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  EXPECT_TRUE((*verifier)->Verify(*signature, kMessage).ok());
  EXPECT_EQ((*verifier)->Verify(*signature, FlipBit(kMessage, 0)).code(), absl::StatusCode::kUnauthenticated);
  for (size_t bit = 8 * 6; bit < signature->size() * 8; bit += 61) {
    EXPECT_EQ((*verifier)->Verify(FlipBit(*signature, bit), kMessage).code(), absl::StatusCode::kUnauthenticated)
        << "bit " << bit;
  }
  EXPECT_EQ((*verifier)->Verify(*signature + std::string(1, '\0'), kMessage).code(),
            absl::StatusCode::kUnauthenticated);

  // The signature binds ZA || M, so a verifier of the same key computes the same e.
  absl::StatusOr<std::string> za = (*verifier)->Za();
  ASSERT_TRUE(za.ok());
  EXPECT_TRUE((*verifier)->VerifyPrecomputedDigest(*signature, ComputeSm2E(*za, kMessage)).ok());

  KeyPair other = MustGenerate(GenerateSm2KeyPair());
  auto wrong = Sm2Verifier::CreateFromPublicKeyPem(other.public_key_pem);
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ((*wrong)->Verify(*signature, kMessage).code(), absl::StatusCode::kUnauthenticated);
}

TEST(Sm2Test, UserIdIsPartOfTheSignature) {
  KeyPair key = MustGenerate(GenerateSm2KeyPair());
  auto signer = Sm2Signer::Create(key.private_key_pem, "psb-sm2", "510100.psb@caselink");
  ASSERT_TRUE(signer.ok()) << signer.status();
  absl::StatusOr<std::string> signature = (*signer)->Sign(kMessage);
  ASSERT_TRUE(signature.ok());
  auto same_id = Sm2Verifier::CreateFromPublicKeyPem(key.public_key_pem, "510100.psb@caselink");
  auto default_id = Sm2Verifier::CreateFromPublicKeyPem(key.public_key_pem);
  ASSERT_TRUE(same_id.ok() && default_id.ok());
  EXPECT_TRUE((*same_id)->Verify(*signature, kMessage).ok());
  EXPECT_EQ((*default_id)->Verify(*signature, kMessage).code(), absl::StatusCode::kUnauthenticated);

  EXPECT_EQ(Sm2Signer::Create(key.private_key_pem, "k", "").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Sm2Verifier::CreateFromPublicKeyPem(key.public_key_pem, std::string(kSm2MaxUserIdSize + 1, 'a'))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};

std::string PemOf(EVP_PKEY* pkey, bool private_key) {
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new(BIO_s_mem()));
  const int ok = private_key ? PEM_write_bio_PrivateKey(bio.get(), pkey, nullptr, nullptr, 0, nullptr, nullptr)
                             : PEM_write_bio_PUBKEY(bio.get(), pkey);
  EXPECT_EQ(ok, 1);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

// OpenSSL 3 hands out SM2-curve keys as type "EC" from some paths (EVP_EC_gen, some
// decoders); those must still sign and verify with SM2, not ECDSA.
TEST(Sm2Test, AcceptsEcTypedKeysOnTheSm2Curve) {
  std::unique_ptr<EVP_PKEY, PkeyDeleter> ec_sm2(EVP_EC_gen("SM2"));
  ASSERT_NE(ec_sm2, nullptr);
  ASSERT_EQ(EVP_PKEY_is_a(ec_sm2.get(), "EC"), 1) << "precondition: the key is EC-typed";
  auto signer = Sm2Signer::Create(PemOf(ec_sm2.get(), true), "ec-typed");
  ASSERT_TRUE(signer.ok()) << signer.status();
  absl::StatusOr<std::string> signature = (*signer)->Sign(kMessage);
  ASSERT_TRUE(signature.ok()) << signature.status();
  auto verifier = Sm2Verifier::CreateFromPublicKeyPem(PemOf(ec_sm2.get(), false));
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  EXPECT_TRUE((*verifier)->Verify(*signature, kMessage).ok());
}

TEST(AlgorithmConfusionTest, SignaturesOfOneAlgorithmNeverVerifyUnderAnother) {
  KeyPair p256 = MustGenerate(GenerateEcP256KeyPair());
  KeyPair sm2 = MustGenerate(GenerateSm2KeyPair());
  auto ecdsa_signer = EcdsaP256Signer::Create(p256.private_key_pem, "ecdsa");
  auto sm2_signer = Sm2Signer::Create(sm2.private_key_pem, "sm2");
  ASSERT_TRUE(ecdsa_signer.ok() && sm2_signer.ok());
  absl::StatusOr<std::string> ecdsa_sig = (*ecdsa_signer)->Sign(kMessage);
  absl::StatusOr<std::string> sm2_sig = (*sm2_signer)->Sign(kMessage);
  ASSERT_TRUE(ecdsa_sig.ok() && sm2_sig.ok());

  auto sm2_verifier = Sm2Verifier::CreateFromPublicKeyPem(sm2.public_key_pem);
  auto ecdsa_verifier = EcdsaP256Verifier::CreateFromPublicKeyPem(p256.public_key_pem);
  ASSERT_TRUE(sm2_verifier.ok() && ecdsa_verifier.ok());
  // Both are DER (r, s), so only the key and algorithm tell them apart.
  EXPECT_EQ((*sm2_verifier)->Verify(*ecdsa_sig, kMessage).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ((*ecdsa_verifier)->Verify(*sm2_sig, kMessage).code(), absl::StatusCode::kUnauthenticated);

  // A key of one algorithm is refused by the others' constructors.
  EXPECT_EQ(Sm2Verifier::CreateFromPublicKeyPem(p256.public_key_pem).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Sm2Signer::Create(p256.private_key_pem, "x").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EcdsaP256Verifier::CreateFromPublicKeyPem(sm2.public_key_pem).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EcdsaP256Signer::Create(sm2.private_key_pem, "x").status().code(), absl::StatusCode::kInvalidArgument);

  // The same key bytes under ECDSA semantics (an SM2-curve key signed by ECDSA) must not pass
  // as SM2: sign the message with ECDSA-SM3 over the SM2 key through plain EVP.
  std::unique_ptr<EVP_PKEY, PkeyDeleter> ec_sm2(EVP_EC_gen("SM2"));
  ASSERT_NE(ec_sm2, nullptr);
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  ASSERT_EQ(EVP_DigestSignInit(md, nullptr, EVP_sm3(), nullptr, ec_sm2.get()), 1);
  std::string ecdsa_on_sm2(80, '\0');
  size_t size = ecdsa_on_sm2.size();
  ASSERT_EQ(EVP_DigestSign(md, reinterpret_cast<unsigned char*>(ecdsa_on_sm2.data()), &size,
                           reinterpret_cast<const unsigned char*>(kMessage), sizeof(kMessage) - 1),
            1);
  EVP_MD_CTX_free(md);
  ecdsa_on_sm2.resize(size);
  auto confused = Sm2Verifier::CreateFromPublicKeyPem(PemOf(ec_sm2.get(), false));
  ASSERT_TRUE(confused.ok());
  EXPECT_EQ((*confused)->Verify(ecdsa_on_sm2, kMessage).code(), absl::StatusCode::kUnauthenticated);
}

TEST(SignerFactoryTest, CreatesEachAlgorithmAndRefusesMismatchedKeys) {
  struct Case {
    SignatureAlgorithm algorithm;
    KeyPair key;
    const char* name;
  };
  const Case cases[] = {
      {SignatureAlgorithm::kEcdsaP256Sha256, MustGenerate(GenerateEcP256KeyPair()), "ECDSA_P256_SHA256"},
      {SignatureAlgorithm::kEd25519, MustGenerate(GenerateEd25519KeyPair()), "ED25519"},
      {SignatureAlgorithm::kSm2Sm3, MustGenerate(GenerateSm2KeyPair()), "SM2_SM3"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_STREQ(SignatureAlgorithmName(c.algorithm), c.name);
    auto signer = CreateSigner(c.algorithm, c.key.private_key_pem, "key-1");
    ASSERT_TRUE(signer.ok()) << signer.status();
    EXPECT_EQ((*signer)->algorithm(), c.algorithm);
    EXPECT_EQ((*signer)->key_id(), "key-1");
    auto verifier = CreateVerifier(c.algorithm, c.key.public_key_pem);
    ASSERT_TRUE(verifier.ok()) << verifier.status();
    EXPECT_EQ((*verifier)->algorithm(), c.algorithm);
    absl::StatusOr<std::string> signature = (*signer)->Sign(kMessage);
    ASSERT_TRUE(signature.ok());
    EXPECT_TRUE((*verifier)->Verify(*signature, kMessage).ok());
    for (const Case& other : cases) {
      if (other.algorithm == c.algorithm) continue;
      EXPECT_EQ(CreateSigner(c.algorithm, other.key.private_key_pem, "k").status().code(),
                absl::StatusCode::kInvalidArgument)
          << "key of " << other.name;
      EXPECT_EQ(CreateVerifier(c.algorithm, other.key.public_key_pem).status().code(),
                absl::StatusCode::kInvalidArgument)
          << "key of " << other.name;
    }
  }
}

TEST(EcdsaP1363Test, ConvertsBothWaysAndRefusesWrongLengths) {
  KeyPair p256 = MustGenerate(GenerateEcP256KeyPair());
  auto signer = EcdsaP256Signer::Create(p256.private_key_pem, "k");
  ASSERT_TRUE(signer.ok());
  absl::StatusOr<std::string> der = (*signer)->Sign(kMessage);
  ASSERT_TRUE(der.ok());
  absl::StatusOr<std::string> p1363 = EcdsaSignatureDerToP1363(*der);
  ASSERT_TRUE(p1363.ok());
  EXPECT_EQ(p1363->size(), 64u);
  absl::StatusOr<std::string> back = EcdsaSignatureP1363ToDer(*p1363);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, *der);
  EXPECT_EQ(EcdsaSignatureP1363ToDer(p1363->substr(1)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EcdsaSignatureDerToP1363("not der").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace caselink::security
