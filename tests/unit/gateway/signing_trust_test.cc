// SigningTrust: chain validation is cached per certificate and the cache never outlives
// what it depends on (certificate notAfter, CRL nextUpdate, the CRL set); CRL files are
// reloaded when they change, and a broken file keeps the CRLs in force.
#include "gateway/signing_trust.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "security/certificate.h"
#include "security/pki.h"
#include "tests/support/test_gateway.h"

namespace caselink {
namespace {

const absl::Time kT0 = absl::FromCivil(absl::CivilSecond(2026, 3, 2, 9, 0, 0), absl::UTCTimeZone());

void Write(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp";
  std::ofstream(tmp, std::ios::binary) << bytes;
  std::filesystem::rename(tmp, path);
}

class SigningTrustTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir();
    auto ca_key = security::GenerateEcP256KeyPair();
    ASSERT_TRUE(ca_key.ok());
    ca_key_ = ca_key->private_key_pem;
    security::CertificateRequest ca;
    ca.common_name = "Test CA";
    ca.public_key_pem = ca_key->public_key_pem;
    ca.profile = security::CertificateProfile::kCa;
    ca.not_before = kT0 - absl::Hours(24 * 365);
    ca.not_after = kT0 + absl::Hours(24 * 3650);
    auto ca_pem = security::IssueCertificate(ca, "", ca_key_);
    ASSERT_TRUE(ca_pem.ok());
    ca_pem_ = *ca_pem;
    auto leaf_key = security::GenerateEcP256KeyPair();
    ASSERT_TRUE(leaf_key.ok());
    security::CertificateRequest leaf;
    leaf.common_name = "signer";
    leaf.public_key_pem = leaf_key->public_key_pem;
    leaf.profile = security::CertificateProfile::kSigning;
    leaf.not_before = kT0 - absl::Hours(24);
    leaf.not_after = kT0 + absl::Hours(24 * 100);
    auto leaf_pem = security::IssueCertificate(leaf, ca_pem_, ca_key_);
    ASSERT_TRUE(leaf_pem.ok());
    auto cert = security::Certificate::FromPem(*leaf_pem);
    ASSERT_TRUE(cert.ok());
    leaf_ = std::move(*cert);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void WriteCrl(const std::vector<std::string>& revoked, absl::Time this_update, absl::Duration validity) {
    auto crl = security::IssueCrl(ca_pem_, ca_key_, revoked, this_update, this_update + validity);
    ASSERT_TRUE(crl.ok()) << crl.status();
    Write(Crl(), *crl);
  }
  std::string Crl() const { return dir_ + "/ca.crl"; }

  std::string dir_, ca_key_, ca_pem_;
  std::unique_ptr<security::Certificate> leaf_;
};

TEST_F(SigningTrustTest, SuccessIsCachedUntilTheCertificateExpires) {
  auto trust = SigningTrust::Create(ca_pem_, {});
  ASSERT_TRUE(trust.ok()) << trust.status();
  ASSERT_TRUE((*trust)->Validate(*leaf_, kT0).ok());
  ASSERT_TRUE((*trust)->Validate(*leaf_, kT0 + absl::Hours(24 * 50)).ok());
  EXPECT_EQ((*trust)->chain_validations(), 1u);
  // Past notAfter the cached answer does not apply: the chain is built again and fails.
  auto late = (*trust)->Validate(*leaf_, kT0 + absl::Hours(24 * 101));
  EXPECT_FALSE(late.ok());
  EXPECT_NE(late.message().find("certificate has expired"), std::string::npos) << late;
  EXPECT_EQ((*trust)->chain_validations(), 2u);
  // Before notBefore as well.
  EXPECT_FALSE((*trust)->Validate(*leaf_, kT0 - absl::Hours(48)).ok());
}

TEST_F(SigningTrustTest, ChangedCrlFileIsReloadedAndClearsTheCache) {
  WriteCrl({}, kT0 - absl::Hours(1), absl::Hours(24 * 7));
  auto trust = SigningTrust::Create(ca_pem_, {Crl()}, absl::Hours(1));
  ASSERT_TRUE(trust.ok()) << trust.status();
  std::vector<CrlLoadEvent> events;
  (*trust)->SetListener([&](const CrlLoadEvent& e) { events.push_back(e); });
  ASSERT_TRUE((*trust)->Validate(*leaf_, kT0).ok());
  ASSERT_TRUE((*trust)->Validate(*leaf_, kT0).ok());
  EXPECT_EQ((*trust)->chain_validations(), 1u);
  // Nothing changed: no reload.
  EXPECT_FALSE((*trust)->CheckCrlFiles(/*force=*/true));
  const uint64_t generation = (*trust)->generation();

  WriteCrl({leaf_->SerialHex()}, kT0, absl::Hours(24 * 7));
  EXPECT_TRUE((*trust)->CheckCrlFiles(/*force=*/true));
  EXPECT_EQ((*trust)->generation(), generation + 1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(events[0].status.ok());
  ASSERT_EQ(events[0].crls.size(), 1u);
  EXPECT_EQ(events[0].crls[0].revoked_count, 1u);
  EXPECT_EQ(events[0].crls[0].this_update, kT0);
  EXPECT_FALSE(events[0].crls[0].number.empty());
  auto revoked = (*trust)->Validate(*leaf_, kT0 + absl::Minutes(1));
  EXPECT_FALSE(revoked.ok());
  EXPECT_NE(revoked.message().find("revoked"), std::string::npos) << revoked;
}

TEST_F(SigningTrustTest, CacheEndsAtTheCrlsNextUpdate) {
  WriteCrl({}, kT0 - absl::Hours(1), absl::Hours(2));
  auto trust = SigningTrust::Create(ca_pem_, {Crl()});
  ASSERT_TRUE(trust.ok()) << trust.status();
  ASSERT_TRUE((*trust)->Validate(*leaf_, kT0).ok());
  // After nextUpdate revocation status is unknown: a refusal, not the cached pass.
  auto stale = (*trust)->Validate(*leaf_, kT0 + absl::Hours(2));
  EXPECT_FALSE(stale.ok());
  EXPECT_NE(stale.message().find("install a current CRL"), std::string::npos) << stale;
  EXPECT_EQ((*trust)->chain_validations(), 2u);
}

TEST_F(SigningTrustTest, BrokenCrlFileIsReportedAndTheCrlsInForceStay) {
  WriteCrl({leaf_->SerialHex()}, kT0 - absl::Hours(1), absl::Hours(24 * 7));
  auto trust = SigningTrust::Create(ca_pem_, {Crl()});
  ASSERT_TRUE(trust.ok()) << trust.status();
  std::vector<CrlLoadEvent> events;
  (*trust)->SetListener([&](const CrlLoadEvent& e) { events.push_back(e); });
  Write(Crl(), "-----BEGIN X509 CRL-----\ngarbage\n-----END X509 CRL-----\n");
  EXPECT_FALSE((*trust)->CheckCrlFiles(/*force=*/true));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(events[0].status.ok());
  EXPECT_NE(events[0].status.message().find(Crl()), std::string::npos) << events[0].status;
  // Reported once, not on every check.
  EXPECT_FALSE((*trust)->CheckCrlFiles(/*force=*/true));
  EXPECT_EQ(events.size(), 1u);
  EXPECT_FALSE((*trust)->Validate(*leaf_, kT0).ok());
}

TEST_F(SigningTrustTest, MissingCrlFileAtStartIsAnErrorNamingIt) {
  auto trust = SigningTrust::Create(ca_pem_, {dir_ + "/absent.crl"});
  ASSERT_FALSE(trust.ok());
  EXPECT_NE(trust.status().message().find("absent.crl"), std::string::npos) << trust.status();
}

// A CA (self-signed) and a leaf of `profile` issued by it.
struct IssuedPair {
  std::string ca_pem, ca_key;
  std::unique_ptr<security::Certificate> leaf;
};

IssuedPair IssueWithNewCa(const std::string& ca_name, security::CertificateProfile profile) {
  IssuedPair out;
  auto ca_key = security::GenerateEcP256KeyPair();
  EXPECT_TRUE(ca_key.ok());
  out.ca_key = ca_key->private_key_pem;
  security::CertificateRequest ca;
  ca.common_name = ca_name;
  ca.public_key_pem = ca_key->public_key_pem;
  ca.profile = security::CertificateProfile::kCa;
  ca.not_before = kT0 - absl::Hours(24 * 365);
  ca.not_after = kT0 + absl::Hours(24 * 3650);
  auto ca_pem = security::IssueCertificate(ca, "", out.ca_key);
  EXPECT_TRUE(ca_pem.ok());
  out.ca_pem = *ca_pem;
  auto leaf_key = security::GenerateEcP256KeyPair();
  EXPECT_TRUE(leaf_key.ok());
  security::CertificateRequest leaf;
  leaf.common_name = ca_name + " leaf";
  leaf.public_key_pem = leaf_key->public_key_pem;
  leaf.profile = profile;
  leaf.not_before = kT0 - absl::Hours(24);
  leaf.not_after = kT0 + absl::Hours(24 * 100);
  auto leaf_pem = security::IssueCertificate(leaf, out.ca_pem, out.ca_key);
  EXPECT_TRUE(leaf_pem.ok());
  auto cert = security::Certificate::FromPem(*leaf_pem);
  EXPECT_TRUE(cert.ok());
  out.leaf = std::move(*cert);
  return out;
}

TEST_F(SigningTrustTest, TlsClientCertificateOfTheSigningCaIsRevokedByTheSameCrlAndCached) {
  // One CA for both (the dev PKI's layout): its CRL covers TLS certificates too.
  security::CertificateRequest req;
  auto key = security::GenerateEcP256KeyPair();
  ASSERT_TRUE(key.ok());
  req.common_name = "agency tls";
  req.public_key_pem = key->public_key_pem;
  req.profile = security::CertificateProfile::kTlsClient;
  req.not_before = kT0 - absl::Hours(24);
  req.not_after = kT0 + absl::Hours(24 * 100);
  auto pem = security::IssueCertificate(req, ca_pem_, ca_key_);
  ASSERT_TRUE(pem.ok());
  auto tls = security::Certificate::FromPem(*pem);
  ASSERT_TRUE(tls.ok());
  WriteCrl({}, kT0 - absl::Hours(1), absl::Hours(24 * 7));
  auto trust = SigningTrust::Create(ca_pem_, {Crl()}, absl::Hours(1), ca_pem_);
  ASSERT_TRUE(trust.ok()) << trust.status();
  ASSERT_TRUE((*trust)->ValidateTlsClient(**tls, kT0).ok());
  ASSERT_TRUE((*trust)->ValidateTlsClient(**tls, kT0 + absl::Hours(1)).ok());
  EXPECT_EQ((*trust)->chain_validations(), 1u);
  // The signing certificate and the TLS certificate are cached apart, each for its purpose:
  // a signing certificate (no clientAuth) is no TLS identity, and the other way round.
  auto not_tls = (*trust)->ValidateTlsClient(*leaf_, kT0);
  EXPECT_FALSE(not_tls.ok());
  EXPECT_NE(not_tls.message().find("clientAuth"), std::string::npos) << not_tls;
  EXPECT_TRUE((*trust)->Validate(*leaf_, kT0).ok());

  WriteCrl({(*tls)->SerialHex()}, kT0, absl::Hours(24 * 7));
  EXPECT_TRUE((*trust)->CheckCrlFiles(/*force=*/true));
  auto revoked = (*trust)->ValidateTlsClient(**tls, kT0 + absl::Minutes(1));
  EXPECT_FALSE(revoked.ok());
  EXPECT_NE(revoked.message().find("certificate revoked"), std::string::npos) << revoked;
  EXPECT_TRUE((*trust)->Validate(*leaf_, kT0 + absl::Minutes(1)).ok());
  // Expired at the time asked, whatever the cache said before.
  WriteCrl({}, kT0, absl::Hours(24 * 365));
  EXPECT_TRUE((*trust)->CheckCrlFiles(/*force=*/true));
  auto expired = (*trust)->ValidateTlsClient(**tls, kT0 + absl::Hours(24 * 101));
  EXPECT_FALSE(expired.ok());
  EXPECT_NE(expired.message().find("certificate has expired"), std::string::npos) << expired;
}

TEST_F(SigningTrustTest, WithASeparateTlsCaEachCrlAppliesToTheCaThatIssuedIt) {
  IssuedPair tls = IssueWithNewCa("TLS CA", security::CertificateProfile::kTlsClient);
  const std::string tls_crl = dir_ + "/tls.crl";
  auto write_tls_crl = [&](const std::vector<std::string>& revoked, absl::Time this_update) {
    auto crl = security::IssueCrl(tls.ca_pem, tls.ca_key, revoked, this_update, this_update + absl::Hours(24 * 7));
    ASSERT_TRUE(crl.ok()) << crl.status();
    Write(tls_crl, *crl);
  };
  WriteCrl({}, kT0 - absl::Hours(1), absl::Hours(24 * 7));
  write_tls_crl({}, kT0 - absl::Hours(1));
  auto trust = SigningTrust::Create(ca_pem_, {Crl(), tls_crl}, absl::Hours(1), tls.ca_pem);
  ASSERT_TRUE(trust.ok()) << trust.status();
  EXPECT_TRUE((*trust)->ValidateTlsClient(*tls.leaf, kT0).ok());
  EXPECT_TRUE((*trust)->Validate(*leaf_, kT0).ok());
  // Each certificate chains only to its own CA.
  auto wrong_ca = (*trust)->ValidateTlsClient(*leaf_, kT0);
  EXPECT_FALSE(wrong_ca.ok());
  EXPECT_NE(wrong_ca.message().find("not a configured trust anchor"), std::string::npos) << wrong_ca;
  EXPECT_FALSE((*trust)->Validate(*tls.leaf, kT0).ok());

  // The TLS CA's CRL revokes the TLS certificate; the signing certificate is not affected.
  write_tls_crl({tls.leaf->SerialHex()}, kT0);
  EXPECT_TRUE((*trust)->CheckCrlFiles(/*force=*/true));
  auto revoked = (*trust)->ValidateTlsClient(*tls.leaf, kT0 + absl::Minutes(1));
  EXPECT_FALSE(revoked.ok());
  EXPECT_NE(revoked.message().find("certificate revoked"), std::string::npos) << revoked;
  EXPECT_TRUE((*trust)->Validate(*leaf_, kT0 + absl::Minutes(1)).ok());

  // A serial on the signing CA's CRL does not touch a TLS certificate of the other CA.
  write_tls_crl({}, kT0 + absl::Minutes(2));
  WriteCrl({tls.leaf->SerialHex(), leaf_->SerialHex()}, kT0 + absl::Minutes(2), absl::Hours(24 * 7));
  EXPECT_TRUE((*trust)->CheckCrlFiles(/*force=*/true));
  EXPECT_TRUE((*trust)->ValidateTlsClient(*tls.leaf, kT0 + absl::Minutes(3)).ok());
  EXPECT_FALSE((*trust)->Validate(*leaf_, kT0 + absl::Minutes(3)).ok());
}

TEST_F(SigningTrustTest, CrlOfNeitherCaIsAnError) {
  IssuedPair tls = IssueWithNewCa("TLS CA", security::CertificateProfile::kTlsClient);
  IssuedPair other = IssueWithNewCa("Other CA", security::CertificateProfile::kSigning);
  auto crl = security::IssueCrl(other.ca_pem, other.ca_key, {}, kT0 - absl::Hours(1), kT0 + absl::Hours(24));
  ASSERT_TRUE(crl.ok());
  Write(Crl(), *crl);
  auto trust = SigningTrust::Create(ca_pem_, {Crl()}, absl::Hours(1), tls.ca_pem);
  ASSERT_FALSE(trust.ok());
  EXPECT_NE(trust.status().message().find("nor is it a CRL of the TLS client CA"), std::string::npos) << trust.status();
}

}  // namespace
}  // namespace caselink
