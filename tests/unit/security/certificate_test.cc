// Issuance (pki) and validation (certificate) together: a dev CA issues each profile,
// and ChainValidator must accept exactly the right certificate for each purpose.
#include "security/certificate.h"

#include <memory>
#include <string>
#include <vector>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/status/status.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "security/digest.h"
#include "security/ecdsa_p256.h"
#include "security/pki.h"

namespace caselink::security {
namespace {

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Deleter {
  void operator()(X509* x509) const { X509_free(x509); }
};
struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* pkey) const { EVP_PKEY_free(pkey); }
};
struct GeneralNamesDeleter {
  void operator()(GENERAL_NAMES* names) const { GENERAL_NAMES_free(names); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, GeneralNamesDeleter>;

absl::Time Utc(int year, int month, int day) {
  return absl::FromCivil(absl::CivilDay(year, month, day), absl::UTCTimeZone());
}

// Fixed dates keep the tests independent of the wall clock.
const absl::Time kCaNotBefore = Utc(2024, 1, 1);
const absl::Time kCaNotAfter = Utc(2034, 1, 1);
const absl::Time kLeafNotBefore = Utc(2025, 1, 1);
const absl::Time kLeafNotAfter = Utc(2026, 1, 1);
const absl::Time kInsideValidity = Utc(2025, 6, 1);

struct Issued {
  KeyPair key;
  std::string pem;
  std::unique_ptr<Certificate> cert;
};

Issued Issue(const std::string& cn, CertificateProfile profile, const Issued* issuer,
             std::vector<std::string> dns = {}, std::vector<std::string> ips = {}) {
  Issued out;
  absl::StatusOr<KeyPair> key = GenerateEcP256KeyPair();
  EXPECT_TRUE(key.ok()) << key.status();
  out.key = *key;
  CertificateRequest request;
  request.common_name = cn;
  request.organization = "CaseLink Test Agency";
  request.public_key_pem = out.key.public_key_pem;
  request.profile = profile;
  request.dns_names = std::move(dns);
  request.ip_addresses = std::move(ips);
  request.not_before = profile == CertificateProfile::kCa ? kCaNotBefore : kLeafNotBefore;
  request.not_after = profile == CertificateProfile::kCa ? kCaNotAfter : kLeafNotAfter;
  absl::StatusOr<std::string> pem =
      issuer == nullptr ? IssueCertificate(request, "", out.key.private_key_pem)
                        : IssueCertificate(request, issuer->pem, issuer->key.private_key_pem);
  EXPECT_TRUE(pem.ok()) << cn << ": " << pem.status();
  out.pem = pem.value_or("");
  absl::StatusOr<std::unique_ptr<Certificate>> cert = Certificate::FromPem(out.pem);
  EXPECT_TRUE(cert.ok()) << cn << ": " << cert.status();
  if (cert.ok()) out.cert = *std::move(cert);
  return out;
}

X509Ptr ParseX509(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

bool ExtensionIsCritical(X509* x509, int nid) {
  int index = X509_get_ext_by_NID(x509, nid, -1);
  EXPECT_GE(index, 0) << "missing " << OBJ_nid2sn(nid);
  return index >= 0 && X509_EXTENSION_get_critical(X509_get_ext(x509, index)) == 1;
}

class CertificateTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ca_ = new Issued(Issue("CaseLink Test Root", CertificateProfile::kCa, nullptr));
    server_ = new Issued(
        Issue("gateway.test", CertificateProfile::kTlsServer, ca_, {"localhost"}, {"127.0.0.1"}));
    client_ = new Issued(Issue("agency-b", CertificateProfile::kTlsClient, ca_));
    signing_ = new Issued(Issue("agency-b signing", CertificateProfile::kSigning, ca_));
    other_ca_ = new Issued(Issue("Other Root", CertificateProfile::kCa, nullptr));
    foreign_ = new Issued(Issue("agency-x", CertificateProfile::kTlsClient, other_ca_));
    auto validator = ChainValidator::Create(ca_->pem);
    ASSERT_TRUE(validator.ok()) << validator.status();
    validator_ = validator->release();
  }
  static void TearDownTestSuite() {
    for (Issued* issued : {ca_, server_, client_, signing_, other_ca_, foreign_}) delete issued;
    delete validator_;
  }

  static Issued* ca_;
  static Issued* server_;
  static Issued* client_;
  static Issued* signing_;
  static Issued* other_ca_;
  static Issued* foreign_;
  static ChainValidator* validator_;
};

Issued* CertificateTest::ca_ = nullptr;
Issued* CertificateTest::server_ = nullptr;
Issued* CertificateTest::client_ = nullptr;
Issued* CertificateTest::signing_ = nullptr;
Issued* CertificateTest::other_ca_ = nullptr;
Issued* CertificateTest::foreign_ = nullptr;
ChainValidator* CertificateTest::validator_ = nullptr;

TEST_F(CertificateTest, AcceptsEachCertificateForItsPurpose) {
  EXPECT_TRUE(validator_->Validate(*server_->cert, kInsideValidity, KeyPurpose::kTlsServer).ok());
  EXPECT_TRUE(validator_->Validate(*client_->cert, kInsideValidity, KeyPurpose::kTlsClient).ok());
  EXPECT_TRUE(validator_->Validate(*signing_->cert, kInsideValidity, KeyPurpose::kSigning).ok());
  EXPECT_TRUE(validator_->Validate(*client_->cert, kInsideValidity, KeyPurpose::kSigning).ok());
  for (const Issued* issued : {ca_, server_, client_, signing_}) {
    absl::Status status = validator_->Validate(*issued->cert, kInsideValidity, KeyPurpose::kAny);
    EXPECT_TRUE(status.ok()) << issued->cert->SubjectCommonName() << ": " << status;
  }
}

TEST_F(CertificateTest, RefusesCertificateFromAnotherCa) {
  absl::Status status = validator_->Validate(*foreign_->cert, kInsideValidity, KeyPurpose::kTlsClient);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(status.message().find("agency-x"), absl::string_view::npos) << status;
  EXPECT_NE(status.message().find("issuer"), absl::string_view::npos) << status;
  EXPECT_EQ(validator_->Validate(*other_ca_->cert, kInsideValidity, KeyPurpose::kAny).code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(CertificateTest, RefusesExpiredCertificate) {
  absl::Status status = validator_->Validate(*client_->cert, Utc(2026, 6, 1), KeyPurpose::kTlsClient);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(status.message().find("expired"), absl::string_view::npos) << status;
  EXPECT_NE(status.message().find("notAfter 2026-01-01T00:00:00Z"), absl::string_view::npos) << status;
}

TEST_F(CertificateTest, RefusesNotYetValidCertificate) {
  absl::Status status = validator_->Validate(*server_->cert, Utc(2024, 6, 1), KeyPurpose::kTlsServer);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(status.message().find("not yet valid"), absl::string_view::npos) << status;
  EXPECT_NE(status.message().find("notBefore 2025-01-01T00:00:00Z"), absl::string_view::npos) << status;
}

TEST_F(CertificateTest, RefusesWrongPurpose) {
  absl::Status signing_as_client =
      validator_->Validate(*signing_->cert, kInsideValidity, KeyPurpose::kTlsClient);
  EXPECT_EQ(signing_as_client.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(signing_as_client.message().find("clientAuth"), absl::string_view::npos) << signing_as_client;
  absl::Status client_as_server =
      validator_->Validate(*client_->cert, kInsideValidity, KeyPurpose::kTlsServer);
  EXPECT_EQ(client_as_server.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(validator_->Validate(*server_->cert, kInsideValidity, KeyPurpose::kTlsClient).code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(validator_->Validate(*ca_->cert, kInsideValidity, KeyPurpose::kSigning).code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(CertificateTest, AnchorBundleWithTwoCas) {
  auto validator = ChainValidator::Create(ca_->pem + other_ca_->pem);
  ASSERT_TRUE(validator.ok()) << validator.status();
  EXPECT_TRUE((*validator)->Validate(*client_->cert, kInsideValidity, KeyPurpose::kTlsClient).ok());
  EXPECT_TRUE((*validator)->Validate(*foreign_->cert, kInsideValidity, KeyPurpose::kTlsClient).ok());
}

TEST_F(CertificateTest, RefusesBadAnchors) {
  EXPECT_EQ(ChainValidator::Create(client_->pem).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ChainValidator::Create("not a certificate").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ChainValidator::Create("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ChainValidator::Create(absl::string_view()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CertificateTest, FingerprintIsHexSha256OfDer) {
  std::string fingerprint = server_->cert->Sha256Fingerprint();
  EXPECT_EQ(fingerprint.size(), 64u);
  EXPECT_EQ(fingerprint.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(fingerprint, HexEncode(Sha256(server_->cert->der())));
  EXPECT_NE(fingerprint, client_->cert->Sha256Fingerprint());
}

TEST_F(CertificateTest, AccessorsReflectTheRequest) {
  EXPECT_EQ(server_->cert->SubjectCommonName(), "gateway.test");
  EXPECT_EQ(ca_->cert->SubjectCommonName(), "CaseLink Test Root");
  EXPECT_EQ(server_->cert->not_before(), kLeafNotBefore);
  EXPECT_EQ(server_->cert->not_after(), kLeafNotAfter);
  EXPECT_EQ(ca_->cert->not_after(), kCaNotAfter);
}

TEST_F(CertificateTest, PemAndDerRoundTrip) {
  auto from_pem = Certificate::FromPem(server_->cert->Pem());
  ASSERT_TRUE(from_pem.ok()) << from_pem.status();
  EXPECT_EQ((*from_pem)->der(), server_->cert->der());
  auto from_der = Certificate::FromDer(server_->cert->der());
  ASSERT_TRUE(from_der.ok()) << from_der.status();
  EXPECT_EQ((*from_der)->Sha256Fingerprint(), server_->cert->Sha256Fingerprint());
  EXPECT_EQ(Certificate::FromDer(server_->cert->der() + "x").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Certificate::FromPem("garbage").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CertificateTest, BundleFromPemParsesConcatenatedCertificates) {
  auto bundle = Certificate::BundleFromPem(ca_->pem + server_->pem);
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  ASSERT_EQ(bundle->size(), 2u);
  EXPECT_EQ((*bundle)[0]->SubjectCommonName(), "CaseLink Test Root");
  EXPECT_EQ((*bundle)[1]->SubjectCommonName(), "gateway.test");
  EXPECT_EQ((*bundle)[1]->der(), server_->cert->der());
  EXPECT_EQ(Certificate::BundleFromPem("").status().code(), absl::StatusCode::kInvalidArgument);
  std::string damaged = ca_->pem + "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
  EXPECT_EQ(Certificate::BundleFromPem(damaged).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CertificateTest, PublicKeyVerifierChecksSignaturesOfTheKeyHolder) {
  auto signer = EcdsaP256Signer::Create(signing_->key.private_key_pem, "agency-b-signing");
  ASSERT_TRUE(signer.ok()) << signer.status();
  absl::StatusOr<std::string> signature = (*signer)->Sign("envelope");
  ASSERT_TRUE(signature.ok());
  auto verifier = signing_->cert->PublicKeyVerifier();
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  EXPECT_TRUE((*verifier)->Verify(*signature, "envelope").ok());
  EXPECT_EQ((*verifier)->Verify(*signature, "envelope2").code(), absl::StatusCode::kUnauthenticated);
  auto other = client_->cert->PublicKeyVerifier();
  ASSERT_TRUE(other.ok());
  EXPECT_EQ((*other)->Verify(*signature, "envelope").code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(CertificateTest, PublicKeyVerifierRefusesOtherKeyTypes) {
  EvpPkeyPtr ed25519(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  ASSERT_NE(ed25519, nullptr);
  BioPtr bio(BIO_new(BIO_s_mem()));
  ASSERT_EQ(PEM_write_bio_PUBKEY(bio.get(), ed25519.get()), 1);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  CertificateRequest request;
  request.common_name = "ed25519 holder";
  request.public_key_pem = std::string(data, static_cast<size_t>(size));
  request.profile = CertificateProfile::kSigning;
  request.not_before = kLeafNotBefore;
  request.not_after = kLeafNotAfter;
  absl::StatusOr<std::string> pem = IssueCertificate(request, ca_->pem, ca_->key.private_key_pem);
  ASSERT_TRUE(pem.ok()) << pem.status();
  auto cert = Certificate::FromPem(*pem);
  ASSERT_TRUE(cert.ok());
  auto verifier = (*cert)->PublicKeyVerifier();
  EXPECT_EQ(verifier.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(verifier.status().message().find("ED25519"), absl::string_view::npos) << verifier.status();
}

TEST_F(CertificateTest, ProfilesCarryTheirExtensions) {
  X509Ptr ca = ParseX509(ca_->pem);
  X509Ptr server = ParseX509(server_->pem);
  X509Ptr client = ParseX509(client_->pem);
  X509Ptr signing = ParseX509(signing_->pem);
  ASSERT_TRUE(ca && server && client && signing);

  EXPECT_TRUE(ExtensionIsCritical(ca.get(), NID_basic_constraints));
  EXPECT_TRUE(ExtensionIsCritical(ca.get(), NID_key_usage));
  EXPECT_EQ(X509_check_ca(ca.get()), 1);
  EXPECT_EQ(X509_get_key_usage(ca.get()), static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  EXPECT_EQ(X509_check_issued(ca.get(), ca.get()), X509_V_OK);

  for (X509* leaf : {server.get(), client.get(), signing.get()}) {
    EXPECT_TRUE(ExtensionIsCritical(leaf, NID_basic_constraints));
    EXPECT_TRUE(ExtensionIsCritical(leaf, NID_key_usage));
    EXPECT_EQ(X509_check_ca(leaf), 0);
    EXPECT_GE(X509_get_ext_by_NID(leaf, NID_subject_key_identifier, -1), 0);
    EXPECT_GE(X509_get_ext_by_NID(leaf, NID_authority_key_identifier, -1), 0);
    EXPECT_EQ(X509_check_issued(ca.get(), leaf), X509_V_OK);
    EXPECT_EQ(X509_get_version(leaf), X509_VERSION_3);
    const ASN1_INTEGER* serial = X509_get0_serialNumber(leaf);
    EXPECT_LE(serial->length, 17);
    EXPECT_GE(serial->length, 8);  // random 128-bit: fewer than 8 bytes has odds 2^-64
  }
  EXPECT_EQ(X509_get_extended_key_usage(server.get()), static_cast<uint32_t>(XKU_SSL_SERVER));
  EXPECT_EQ(X509_get_extended_key_usage(client.get()), static_cast<uint32_t>(XKU_SSL_CLIENT));
  EXPECT_EQ(X509_get_key_usage(signing.get()),
            static_cast<uint32_t>(KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION));
  EXPECT_EQ(X509_get_ext_by_NID(signing.get(), NID_ext_key_usage, -1), -1);
  EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(client.get()), X509_get0_serialNumber(signing.get())), 0);

  EXPECT_EQ(X509_check_host(server.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(server.get(), "127.0.0.1", 0), 1);
  EXPECT_NE(X509_check_host(server.get(), "example.org", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_get_ext_by_NID(client.get(), NID_subject_alt_name, -1), -1);
}

TEST_F(CertificateTest, IssuanceRefusesBadRequests) {
  absl::StatusOr<KeyPair> key = GenerateEcP256KeyPair();
  ASSERT_TRUE(key.ok());
  CertificateRequest request;
  request.common_name = "bad";
  request.public_key_pem = key->public_key_pem;
  request.profile = CertificateProfile::kTlsServer;
  request.dns_names = {"bad.test"};
  request.not_before = kLeafNotBefore;
  request.not_after = kLeafNotAfter;

  // Self-signed with a key that is not the subject's.
  EXPECT_EQ(IssueCertificate(request, "", ca_->key.private_key_pem).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Issuer that is not a CA.
  EXPECT_EQ(IssueCertificate(request, client_->pem, client_->key.private_key_pem).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Issuer key that does not match the issuer certificate.
  EXPECT_EQ(IssueCertificate(request, ca_->pem, other_ca_->key.private_key_pem).status().code(),
            absl::StatusCode::kInvalidArgument);

  CertificateRequest no_names = request;
  no_names.dns_names.clear();
  EXPECT_EQ(IssueCertificate(no_names, ca_->pem, ca_->key.private_key_pem).status().code(),
            absl::StatusCode::kInvalidArgument);
  CertificateRequest bad_ip = request;
  bad_ip.ip_addresses = {"127.0.0.256"};
  EXPECT_EQ(IssueCertificate(bad_ip, ca_->pem, ca_->key.private_key_pem).status().code(),
            absl::StatusCode::kInvalidArgument);
  CertificateRequest reversed = request;
  reversed.not_before = kLeafNotAfter;
  reversed.not_after = kLeafNotBefore;
  EXPECT_EQ(IssueCertificate(reversed, ca_->pem, ca_->key.private_key_pem).status().code(),
            absl::StatusCode::kInvalidArgument);
  CertificateRequest no_cn = request;
  no_cn.common_name.clear();
  EXPECT_EQ(IssueCertificate(no_cn, ca_->pem, ca_->key.private_key_pem).status().code(),
            absl::StatusCode::kInvalidArgument);

  EXPECT_TRUE(IssueCertificate(request, ca_->pem, ca_->key.private_key_pem).ok());
}

}  // namespace
}  // namespace caselink::security
