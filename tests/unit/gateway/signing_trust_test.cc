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

}  // namespace
}  // namespace caselink
