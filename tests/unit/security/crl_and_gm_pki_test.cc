// Revocation through CRLs in ChainValidator, and issuance for the GM profile (SM2 CAs signing
// with SM2-SM3) and for Ed25519 subject keys, checked end to end through ChainValidator.
#include <memory>
#include <string>
#include <vector>

#include <openssl/bio.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "security/certificate.h"
#include "security/ed25519.h"
#include "security/pki.h"
#include "security/signature.h"
#include "security/signer_factory.h"
#include "security/sm2.h"

namespace caselink::security {
namespace {

absl::Time Utc(int year, int month, int day) {
  return absl::FromCivil(absl::CivilDay(year, month, day), absl::UTCTimeZone());
}

// Fixed dates keep the tests independent of the wall clock.
const absl::Time kCaNotBefore = Utc(2024, 1, 1);
const absl::Time kCaNotAfter = Utc(2034, 1, 1);
const absl::Time kLeafNotBefore = Utc(2025, 1, 1);
const absl::Time kLeafNotAfter = Utc(2026, 1, 1);
const absl::Time kCrlThisUpdate = Utc(2025, 6, 1);
const absl::Time kCrlNextUpdate = Utc(2025, 6, 8);
const absl::Time kInsideCrl = Utc(2025, 6, 3);

enum class KeyType { kP256, kSm2, kEd25519 };

KeyPair Generate(KeyType type) {
  absl::StatusOr<KeyPair> key = type == KeyType::kSm2       ? GenerateSm2KeyPair()
                                : type == KeyType::kEd25519 ? GenerateEd25519KeyPair()
                                                            : GenerateEcP256KeyPair();
  EXPECT_TRUE(key.ok()) << key.status();
  return key.ok() ? *key : KeyPair();
}

struct Issued {
  KeyPair key;
  std::string pem;
  std::unique_ptr<Certificate> cert;
};

Issued Issue(const std::string& cn, KeyType type, CertificateProfile profile, const Issued* issuer) {
  Issued out;
  out.key = Generate(type);
  CertificateRequest request;
  request.common_name = cn;
  request.public_key_pem = out.key.public_key_pem;
  request.profile = profile;
  request.not_before = profile == CertificateProfile::kCa ? kCaNotBefore : kLeafNotBefore;
  request.not_after = profile == CertificateProfile::kCa ? kCaNotAfter : kLeafNotAfter;
  absl::StatusOr<std::string> pem = issuer == nullptr
                                        ? IssueCertificate(request, "", out.key.private_key_pem)
                                        : IssueCertificate(request, issuer->pem, issuer->key.private_key_pem);
  EXPECT_TRUE(pem.ok()) << cn << ": " << pem.status();
  out.pem = pem.value_or("");
  auto cert = Certificate::FromPem(out.pem);
  EXPECT_TRUE(cert.ok()) << cn << ": " << cert.status();
  if (cert.ok()) out.cert = *std::move(cert);
  return out;
}

std::string Crl(const Issued& ca, const std::vector<std::string>& serials, absl::Time this_update = kCrlThisUpdate,
                absl::Time next_update = kCrlNextUpdate) {
  absl::StatusOr<std::string> crl = IssueCrl(ca.pem, ca.key.private_key_pem, serials, this_update, next_update);
  EXPECT_TRUE(crl.ok()) << crl.status();
  return crl.value_or("");
}

int SignatureNid(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* x509 = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  const int nid = x509 != nullptr ? X509_get_signature_nid(x509) : NID_undef;
  X509_free(x509);
  return nid;
}

class CrlTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ca_ = new Issued(Issue("CaseLink CRL Root", KeyType::kP256, CertificateProfile::kCa, nullptr));
    revoked_ = new Issued(Issue("revoked agency", KeyType::kP256, CertificateProfile::kSigning, ca_));
    good_ = new Issued(Issue("good agency", KeyType::kP256, CertificateProfile::kSigning, ca_));
    other_ca_ = new Issued(Issue("Other Root", KeyType::kP256, CertificateProfile::kCa, nullptr));
  }
  static void TearDownTestSuite() {
    for (Issued* issued : {ca_, revoked_, good_, other_ca_}) delete issued;
  }

  static Issued* ca_;
  static Issued* revoked_;
  static Issued* good_;
  static Issued* other_ca_;
};

Issued* CrlTest::ca_ = nullptr;
Issued* CrlTest::revoked_ = nullptr;
Issued* CrlTest::good_ = nullptr;
Issued* CrlTest::other_ca_ = nullptr;

TEST_F(CrlTest, RevokedCertificateFailsAndOthersPass) {
  auto validator = ChainValidator::Create(ca_->pem, Crl(*ca_, {revoked_->cert->SerialHex()}));
  ASSERT_TRUE(validator.ok()) << validator.status();
  absl::Status revoked = (*validator)->Validate(*revoked_->cert, kInsideCrl, KeyPurpose::kSigning);
  EXPECT_EQ(revoked.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(absl::StrContains(revoked.message(), "revoked")) << revoked;
  EXPECT_TRUE(absl::StrContains(revoked.message(), revoked_->cert->SerialHex())) << revoked;
  EXPECT_TRUE((*validator)->Validate(*good_->cert, kInsideCrl, KeyPurpose::kSigning).ok());

  // Without CRLs the same certificate passes: revocation is only known from a CRL.
  auto no_crl = ChainValidator::Create(ca_->pem);
  ASSERT_TRUE(no_crl.ok());
  EXPECT_TRUE((*no_crl)->Validate(*revoked_->cert, kInsideCrl, KeyPurpose::kSigning).ok());
}

TEST_F(CrlTest, StaleOrMissingCrlFailsClosed) {
  auto validator = ChainValidator::Create(ca_->pem, Crl(*ca_, {}));
  ASSERT_TRUE(validator.ok()) << validator.status();
  EXPECT_TRUE((*validator)->Validate(*good_->cert, kInsideCrl, KeyPurpose::kSigning).ok());
  absl::Status expired = (*validator)->Validate(*good_->cert, Utc(2025, 7, 1), KeyPurpose::kSigning);
  EXPECT_EQ(expired.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(absl::StrContains(expired.message(), "CRL")) << expired;

  // Two anchors, a CRL for only one of them: the other's leaves cannot be checked.
  Issued foreign = Issue("foreign agency", KeyType::kP256, CertificateProfile::kSigning, other_ca_);
  auto partial = ChainValidator::Create(ca_->pem + other_ca_->pem, Crl(*ca_, {}));
  ASSERT_TRUE(partial.ok()) << partial.status();
  absl::Status missing = (*partial)->Validate(*foreign.cert, kInsideCrl, KeyPurpose::kSigning);
  EXPECT_EQ(missing.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(absl::StrContains(missing.message(), "CRL")) << missing;
}

TEST_F(CrlTest, RefusesCrlsThatAreNotFromAnAnchorOrAreForged) {
  // A CRL from a CA that is not an anchor.
  auto unrelated = ChainValidator::Create(ca_->pem, Crl(*other_ca_, {}));
  EXPECT_EQ(unrelated.status().code(), absl::StatusCode::kInvalidArgument);
  // A CRL naming the anchor as issuer but signed by another key.
  Issued impostor;
  impostor.key = Generate(KeyType::kP256);
  CertificateRequest request;
  request.common_name = "CaseLink CRL Root";  // same name as the real anchor
  request.public_key_pem = impostor.key.public_key_pem;
  request.profile = CertificateProfile::kCa;
  request.not_before = kCaNotBefore;
  request.not_after = kCaNotAfter;
  impostor.pem = IssueCertificate(request, "", impostor.key.private_key_pem).value_or("");
  auto forged = ChainValidator::Create(ca_->pem, Crl(impostor, {good_->cert->SerialHex()}));
  EXPECT_EQ(forged.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(forged.status().message(), "does not verify")) << forged.status();
  // Garbage and empty CRL text.
  EXPECT_EQ(ChainValidator::Create(ca_->pem, "").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ChainValidator::Create(ca_->pem, "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(CrlTest, IssueCrlValidatesItsInputs) {
  EXPECT_EQ(IssueCrl(ca_->pem, ca_->key.private_key_pem, {"xyz"}, kCrlThisUpdate, kCrlNextUpdate).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(IssueCrl(ca_->pem, ca_->key.private_key_pem, {}, kCrlNextUpdate, kCrlThisUpdate).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(IssueCrl(ca_->pem, other_ca_->key.private_key_pem, {}, kCrlThisUpdate, kCrlNextUpdate).status().code(),
            absl::StatusCode::kInvalidArgument);
  // A leaf cannot issue CRLs.
  EXPECT_EQ(IssueCrl(good_->pem, good_->key.private_key_pem, {}, kCrlThisUpdate, kCrlNextUpdate).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CertificateSerialTest, SerialHexIsCanonicalLowercase) {
  Issued ca = Issue("serial root", KeyType::kP256, CertificateProfile::kCa, nullptr);
  const std::string serial = ca.cert->SerialHex();
  ASSERT_FALSE(serial.empty());
  EXPECT_NE(serial[0], '0');
  EXPECT_EQ(serial.find_first_not_of("0123456789abcdef"), std::string::npos) << serial;
}

TEST(GmPkiTest, Sm2CaIssuesSm2CertificatesAndCrlsThatValidate) {
  Issued ca = Issue("GM Root CA", KeyType::kSm2, CertificateProfile::kCa, nullptr);
  Issued leaf = Issue("510100.psb signing", KeyType::kSm2, CertificateProfile::kSigning, &ca);
  Issued revoked = Issue("510100.epb signing", KeyType::kSm2, CertificateProfile::kSigning, &ca);
  EXPECT_EQ(SignatureNid(ca.pem), NID_SM2_with_SM3);
  EXPECT_EQ(SignatureNid(leaf.pem), NID_SM2_with_SM3);

  auto validator = ChainValidator::Create(ca.pem);
  ASSERT_TRUE(validator.ok()) << validator.status();
  absl::Status status = (*validator)->Validate(*leaf.cert, kInsideCrl, KeyPurpose::kSigning);
  EXPECT_TRUE(status.ok()) << status;

  auto with_crl = ChainValidator::Create(ca.pem, Crl(ca, {revoked.cert->SerialHex()}));
  ASSERT_TRUE(with_crl.ok()) << with_crl.status();
  status = (*with_crl)->Validate(*leaf.cert, kInsideCrl, KeyPurpose::kSigning);
  EXPECT_TRUE(status.ok()) << status;
  status = (*with_crl)->Validate(*revoked.cert, kInsideCrl, KeyPurpose::kSigning);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(absl::StrContains(status.message(), "revoked")) << status;

  // The certificate's key yields an SM2 verifier that accepts the subject's signatures; the
  // ECDSA-only PublicKeyVerifier() keeps refusing it, and asking for another algorithm fails.
  EXPECT_EQ(leaf.cert->PublicKeyVerifier().status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(CreateVerifierFromCertificate(*leaf.cert, SignatureAlgorithm::kEcdsaP256Sha256).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto verifier = CreateVerifierFromCertificate(*leaf.cert, SignatureAlgorithm::kSm2Sm3);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  EXPECT_EQ((*verifier)->algorithm(), SignatureAlgorithm::kSm2Sm3);
  auto signer = CreateSigner(SignatureAlgorithm::kSm2Sm3, leaf.key.private_key_pem, "psb-sm2");
  ASSERT_TRUE(signer.ok());
  absl::StatusOr<std::string> signature = (*signer)->Sign("envelope");
  ASSERT_TRUE(signature.ok());
  EXPECT_TRUE((*verifier)->Verify(*signature, "envelope").ok());
  EXPECT_EQ((*verifier)->Verify(*signature, "envelopE").code(), absl::StatusCode::kUnauthenticated);
}

TEST(GmPkiTest, Sm2CertificateSignedByAnotherKeyFails) {
  Issued ca = Issue("GM Root CA", KeyType::kSm2, CertificateProfile::kCa, nullptr);
  Issued impostor_ca = Issue("GM Root CA", KeyType::kSm2, CertificateProfile::kCa, nullptr);
  Issued leaf = Issue("forged leaf", KeyType::kSm2, CertificateProfile::kSigning, &impostor_ca);
  auto validator = ChainValidator::Create(ca.pem);
  ASSERT_TRUE(validator.ok());
  EXPECT_EQ((*validator)->Validate(*leaf.cert, kInsideCrl, KeyPurpose::kSigning).code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(GmPkiTest, Ed25519SubjectUnderP256AndSm2Cas) {
  for (KeyType ca_type : {KeyType::kP256, KeyType::kSm2}) {
    Issued ca = Issue("mixed root", ca_type, CertificateProfile::kCa, nullptr);
    Issued leaf = Issue("ed25519 signer", KeyType::kEd25519, CertificateProfile::kSigning, &ca);
    auto validator = ChainValidator::Create(ca.pem);
    ASSERT_TRUE(validator.ok());
    absl::Status status = (*validator)->Validate(*leaf.cert, kInsideCrl, KeyPurpose::kSigning);
    EXPECT_TRUE(status.ok()) << status;
    auto verifier = CreateVerifierFromCertificate(*leaf.cert);
    ASSERT_TRUE(verifier.ok()) << verifier.status();
    EXPECT_EQ((*verifier)->algorithm(), SignatureAlgorithm::kEd25519);
    EXPECT_EQ(CreateVerifierFromCertificate(*leaf.cert, SignatureAlgorithm::kSm2Sm3).status().code(),
              absl::StatusCode::kInvalidArgument);
    auto ca_verifier = CreateVerifierFromCertificate(*ca.cert);
    ASSERT_TRUE(ca_verifier.ok()) << ca_verifier.status();
    EXPECT_EQ((*ca_verifier)->algorithm(),
              ca_type == KeyType::kSm2 ? SignatureAlgorithm::kSm2Sm3 : SignatureAlgorithm::kEcdsaP256Sha256);
    auto signer = Ed25519Signer::Create(leaf.key.private_key_pem, "ed");
    ASSERT_TRUE(signer.ok());
    absl::StatusOr<std::string> signature = (*signer)->Sign("envelope");
    ASSERT_TRUE(signature.ok());
    EXPECT_TRUE((*verifier)->Verify(*signature, "envelope").ok());
    absl::StatusOr<std::string> public_pem = leaf.cert->PublicKeyPem();
    ASSERT_TRUE(public_pem.ok());
    EXPECT_EQ(*public_pem, leaf.key.public_key_pem);
  }
}

TEST(GmPkiTest, Ed25519CaSignsCertificates) {
  Issued ca = Issue("ed root", KeyType::kEd25519, CertificateProfile::kCa, nullptr);
  Issued leaf = Issue("p256 leaf", KeyType::kP256, CertificateProfile::kSigning, &ca);
  EXPECT_EQ(SignatureNid(leaf.pem), NID_ED25519);
  auto validator = ChainValidator::Create(ca.pem, Crl(ca, {}));
  ASSERT_TRUE(validator.ok()) << validator.status();
  absl::Status status = (*validator)->Validate(*leaf.cert, kInsideCrl, KeyPurpose::kSigning);
  EXPECT_TRUE(status.ok()) << status;
}

}  // namespace
}  // namespace caselink::security
