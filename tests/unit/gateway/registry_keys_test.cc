// Registry and config rules for signing keys: validity periods in RFC 3339, unusable
// certificates reported instead of stopping the load, previous gateway keys; agency TLS
// certificates need clientAuth and are refused by name once revoked or out of date.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

#include "gateway/config.h"
#include "gateway/registry.h"
#include "gateway/tls_client_checks.h"
#include "security/certificate.h"
#include "security/pki.h"
#include "tests/support/test_gateway.h"
#include "tools/devpki/dev_pki.h"

namespace caselink {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class RegistryKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir();
    DevPkiOptions options;
    options.dir = dir_;
    ASSERT_TRUE(InitDevPki(options).ok());
    auto registry = LoadRegistryFile(dir_ + "/registry.yaml");
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = *registry;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  v1::AgencySigningKey* PsbKey() {
    for (auto& agency : *registry_.mutable_agencies()) {
      if (agency.id() == "510100.psb") return agency.mutable_signing_keys(0);
    }
    return nullptr;
  }
  absl::StatusOr<std::unique_ptr<AgencyRegistry>> Load(absl::Time now = absl::Now()) {
    return AgencyRegistry::Create(registry_, Slurp(dir_ + "/ca/ca.crt"), now);
  }

  std::string dir_;
  v1::Registry registry_;
};

TEST_F(RegistryKeysTest, PeriodsAreParsedFromRfc3339) {
  PsbKey()->set_not_before("2026-01-01T00:00:00+08:00");
  PsbKey()->set_retired_at("2026-06-01T00:00:00Z");
  auto registry = Load();
  ASSERT_TRUE(registry.ok()) << registry.status();
  const SigningKey* key = (*registry)->FindSigningKey("510100.psb", "510100.psb/signing-1");
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(key->not_before, absl::FromCivil(absl::CivilSecond(2025, 12, 31, 16, 0, 0), absl::UTCTimeZone()));
  EXPECT_EQ(key->retired_at, absl::FromCivil(absl::CivilSecond(2026, 6, 1, 0, 0, 0), absl::UTCTimeZone()));
  // Unset periods are unbounded.
  const SigningKey* epb = (*registry)->FindSigningKey("510100.epb", "510100.epb/signing-1");
  ASSERT_NE(epb, nullptr);
  EXPECT_EQ(epb->retired_at, absl::InfiniteFuture());
}

TEST_F(RegistryKeysTest, MalformedPeriodStopsTheLoadNamingTheKey) {
  PsbKey()->set_retired_at("next tuesday");
  auto registry = Load();
  ASSERT_FALSE(registry.ok());
  EXPECT_NE(registry.status().message().find("510100.psb/signing-1: retired_at 'next tuesday' is not an RFC 3339 time"),
            std::string::npos)
      << registry.status();
  PsbKey()->set_retired_at("2026-01-01T00:00:00Z");
  PsbKey()->set_not_before("2026-02-01T00:00:00Z");
  registry = Load();
  ASSERT_FALSE(registry.ok());
  EXPECT_NE(registry.status().message().find("retired_at is not after not_before"), std::string::npos) << registry.status();
}

TEST_F(RegistryKeysTest, KeyIdListedTwiceForAnAgencyIsAnError) {
  for (auto& agency : *registry_.mutable_agencies()) {
    if (agency.id() == "510100.psb") *agency.add_signing_keys() = agency.signing_keys(0);
  }
  auto registry = Load();
  ASSERT_FALSE(registry.ok());
  EXPECT_NE(registry.status().message().find("is listed twice for this agency"), std::string::npos) << registry.status();
}

TEST_F(RegistryKeysTest, ExpiredSigningCertificateLoadsWithAWarning) {
  auto key = security::GenerateEcP256KeyPair();
  ASSERT_TRUE(key.ok());
  security::CertificateRequest req;
  req.common_name = "psb expired";
  req.public_key_pem = key->public_key_pem;
  req.profile = security::CertificateProfile::kSigning;
  req.not_before = absl::Now() - absl::Hours(48);
  req.not_after = absl::Now() - absl::Hours(24);
  auto cert = security::IssueCertificate(req, Slurp(dir_ + "/ca/ca.crt"), Slurp(dir_ + "/ca/ca.key"));
  ASSERT_TRUE(cert.ok());
  std::ofstream(dir_ + "/expired.crt") << *cert;
  PsbKey()->set_certificate_file(dir_ + "/expired.crt");
  auto registry = Load();
  ASSERT_TRUE(registry.ok()) << registry.status();
  ASSERT_EQ((*registry)->warnings().size(), 1u);
  EXPECT_NE((*registry)->warnings()[0].find("agency '510100.psb' signing key 510100.psb/signing-1"), std::string::npos)
      << (*registry)->warnings()[0];
  EXPECT_NE((*registry)->warnings()[0].find("certificate has expired"), std::string::npos) << (*registry)->warnings()[0];
  // The key is there, so a request signed with it is refused by name rather than as unknown.
  EXPECT_NE((*registry)->FindSigningKey("510100.psb", "510100.psb/signing-1"), nullptr);
}

TEST_F(RegistryKeysTest, TlsCertificateWithoutClientAuthStopsTheLoadNamingTheAgency) {
  for (auto& agency : *registry_.mutable_agencies()) {
    if (agency.id() == "510100.psb") agency.set_tls_certificate_files(0, dir_ + "/agencies/510100.psb/signing.crt");
  }
  auto registry = Load();
  ASSERT_FALSE(registry.ok());
  EXPECT_NE(registry.status().message().find("agency '510100.psb'"), std::string::npos) << registry.status();
  EXPECT_NE(registry.status().message().find("clientAuth"), std::string::npos) << registry.status();
}

TEST_F(RegistryKeysTest, TlsCertificateRefusalNamesTheAgencyAndTheProblem) {
  auto psb_tls = security::Certificate::FromPem(Slurp(dir_ + "/agencies/510100.psb/tls.crt"));
  ASSERT_TRUE(psb_tls.ok());
  const absl::Time now = absl::Now();
  auto crl = security::IssueCrl(Slurp(dir_ + "/ca/ca.crt"), Slurp(dir_ + "/ca/ca.key"), {(*psb_tls)->SerialHex()},
                                now - absl::Hours(1), now + absl::Hours(24));
  ASSERT_TRUE(crl.ok());
  std::ofstream(dir_ + "/agencies.crl") << *crl;
  registry_.add_signing_crl_files(dir_ + "/agencies.crl");
  auto registry = Load(now);
  ASSERT_TRUE(registry.ok()) << registry.status();
  const security::Certificate* cert = (*registry)->FindTlsCertificate((*psb_tls)->Sha256Fingerprint());
  ASSERT_NE(cert, nullptr);
  auto revoked = CheckTlsClientCertificateAt(**registry, "510100.psb", *cert, now);
  EXPECT_EQ(revoked.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(absl::StartsWith(revoked.message(), absl::StrCat("TLS client certificate of agency 510100.psb is revoked (serial ",
                                                               (*psb_tls)->SerialHex(), ")")))
      << revoked;
  auto early = CheckTlsClientCertificateAt(**registry, "510100.psb", *cert, cert->not_before() - absl::Hours(1));
  EXPECT_NE(early.message().find("TLS client certificate of agency 510100.psb is not valid before"), std::string::npos)
      << early;
  // The EPB's certificate is not on the CRL.
  auto epb_tls = security::Certificate::FromPem(Slurp(dir_ + "/agencies/510100.epb/tls.crt"));
  ASSERT_TRUE(epb_tls.ok());
  const security::Certificate* epb = (*registry)->FindTlsCertificate((*epb_tls)->Sha256Fingerprint());
  ASSERT_NE(epb, nullptr);
  EXPECT_TRUE(CheckTlsClientCertificateAt(**registry, "510100.epb", *epb, now).ok());
}

TEST_F(RegistryKeysTest, PreviousGatewayKeysNeedAnIdAndACertificateOtherThanTheCurrent) {
  std::string yaml = Slurp(dir_ + "/gateway.yaml");
  {
    std::ofstream(dir_ + "/gateway.yaml") << yaml << "previous_gateway_signing_keys:\n"
                                          << "  - {key_id: \"gateway/signing-0\", certificate_file: gateway/signing.crt}\n";
  }
  auto config = LoadGatewayConfig(dir_ + "/gateway.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->previous_gateway_signing_keys_size(), 1);
  EXPECT_EQ(config->previous_gateway_signing_keys(0).certificate_file(), dir_ + "/gateway/signing.crt");
  EXPECT_EQ(config->crl_check_interval_ms(), 1000u);
  {
    std::ofstream(dir_ + "/gateway.yaml") << yaml << "previous_gateway_signing_keys:\n"
                                          << "  - {key_id: \"gateway/signing-1\", certificate_file: gateway/signing.crt}\n";
  }
  config = LoadGatewayConfig(dir_ + "/gateway.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("the current gateway_signing_key.key_id"), std::string::npos) << config.status();
  {
    std::ofstream(dir_ + "/gateway.yaml") << yaml << "previous_gateway_signing_keys:\n  - {key_id: \"gateway/signing-0\"}\n";
  }
  config = LoadGatewayConfig(dir_ + "/gateway.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("needs key_id and certificate_file"), std::string::npos) << config.status();
}

}  // namespace
}  // namespace caselink
