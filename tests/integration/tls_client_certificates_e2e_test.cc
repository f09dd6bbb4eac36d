// Agency TLS client certificates through a real TLS gateway: a certificate revoked by
// rewriting the registry's CRL file while the gateway runs, or expired at gateway time,
// is refused on the next RPC of every kind (unary, submission, stream), audited, and
// changes nothing; lifting the revocation lets the agency back in.
#include <filesystem>
#include <fstream>

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "gateway/config.h"
#include "security/certificate.h"
#include "security/pki.h"
#include "tests/support/test_gateway.h"

namespace caselink {
namespace {

using testing::TestGateway;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void Spit(const std::string& path, const std::string& bytes) {
  // Replaced by rename, as an operator's tooling would, so a reader never sees half a file.
  const std::string tmp = path + ".tmp";
  std::ofstream(tmp, std::ios::binary) << bytes;
  std::filesystem::rename(tmp, path);
}

class TlsClientCertificatesTest : public ::testing::Test {
 protected:
  TlsClientCertificatesTest()
      : clock_(std::make_shared<ManualClock>(testing::ScenarioStart())),
        dir_(testing::MakeTempDir()),
        gateway_(dir_, {.clock = clock_, .configure = [this](v1::GatewayConfig& c) { Configure(c); }}) {}

  std::string Pki() const { return dir_ + "/pki"; }
  std::string CrlFile() const { return Pki() + "/ca/agencies.crl"; }
  std::string PsbTlsSerial() const {
    auto cert = security::Certificate::FromPem(Slurp(Pki() + "/agencies/510100.psb/tls.crt"));
    EXPECT_TRUE(cert.ok());
    return cert.ok() ? (*cert)->SerialHex() : "";
  }

  // The dev PKI's one CA issues TLS and signing certificates, so its CRL covers both.
  void WriteCrl(const std::vector<std::string>& revoked, absl::Time this_update) {
    auto crl = security::IssueCrl(Slurp(Pki() + "/ca/ca.crt"), Slurp(Pki() + "/ca/ca.key"), revoked, this_update,
                                  this_update + absl::Hours(24 * 365 * 5));
    ASSERT_TRUE(crl.ok()) << crl.status();
    Spit(CrlFile(), *crl);
  }

  void Configure(v1::GatewayConfig& config) {
    WriteCrl({}, clock_->Now() - absl::Hours(1));
    auto registry = LoadRegistryFile(config.registry_file());
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry->add_signing_crl_files(CrlFile());
    std::string json;
    ASSERT_TRUE(google::protobuf::util::MessageToJsonString(*registry, &json).ok());
    Spit(config.registry_file(), json);
    // Every request may look at the CRL file: no waiting for a reload.
    config.set_crl_check_interval_ms(1);
  }

  // Lets the 1 ms CRL check interval pass (the gateway stats the file on the next RPC).
  static void PassCheckInterval() {
    for (absl::Time until = absl::Now() + absl::Milliseconds(3); absl::Now() < until;) {
    }
  }

  uint64_t CaseVersion() {
    auto c = gateway_.Client("510100.epb")->GetCase("K-1");
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? c->case_().version() : 0;
  }

  // The REFUSED record of `action` appended from `from` on, waiting up to 5 s for it
  // (stream refusals are audited after the stream has ended).
  v1::AuditRecord RefusalOf(const std::string& action, uint64_t from) {
    for (absl::Time until = absl::Now() + absl::Seconds(5); absl::Now() < until;) {
      for (const auto& r : gateway_.AuditRecordsFrom(from)) {
        if (r.outcome() == v1::AuditRecord::REFUSED && r.action() == action) return r;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    ADD_FAILURE() << "no REFUSED audit record of " << action;
    return {};
  }

  void SetUp() override {
    auto transfer = gateway_.Submit(*gateway_.Client("510100.epb"), testing::TransferEnvelope("K-1"));
    ASSERT_TRUE(transfer.ok()) << transfer.status();
  }

  std::shared_ptr<ManualClock> clock_;
  std::string dir_;
  TestGateway gateway_;
};

// Each kind of RPC: unary (GetGatewayInfo), a submission, a server stream (Subscribe).
struct Outcomes {
  grpc::Status info;
  absl::Status submit;
  grpc::Status subscribe;
  size_t deliveries = 0;
};

Outcomes CallEveryKind(TestGateway& gateway, AgencyClient& psb) {
  Outcomes out;
  {
    grpc::ClientContext ctx;
    v1::GatewayInfo info;
    out.info = psb.gateway().GetGatewayInfo(&ctx, v1::GetGatewayInfoRequest(), &info);
  }
  auto submitted = gateway.Submit(psb, testing::ActionEnvelope("K-1", "receipt"));
  out.submit = submitted.status();
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
    auto reader = psb.deliveries().Subscribe(&ctx, v1::SubscribeRequest());
    v1::Delivery d;
    while (reader->Read(&d)) ++out.deliveries;
    out.subscribe = reader->Finish();
  }
  return out;
}

TEST_F(TlsClientCertificatesTest, RevokedTlsCertificateIsRefusedOnEveryRpcAuditedAndChangesNothing) {
  auto psb = gateway_.Client("510100.psb");
  {
    // Before the revocation the PSB is served (the stream ends at our deadline).
    grpc::ClientContext ctx;
    v1::GatewayInfo info;
    ASSERT_TRUE(psb->gateway().GetGatewayInfo(&ctx, v1::GetGatewayInfoRequest(), &info).ok());
    ASSERT_FALSE(testing::ReadDeliveries(*psb, 1, absl::Seconds(5)).empty());
  }
  const uint64_t version_before = CaseVersion();

  WriteCrl({PsbTlsSerial()}, clock_->Now() - absl::Minutes(5));
  PassCheckInterval();
  const uint64_t audit_before = gateway_.AuditSize();
  const Outcomes refused = CallEveryKind(gateway_, *psb);

  const std::string expected =
      absl::StrCat("TLS client certificate of agency 510100.psb is revoked (serial ", PsbTlsSerial(), ")");
  EXPECT_EQ(refused.info.error_code(), grpc::StatusCode::UNAUTHENTICATED) << refused.info.error_message();
  EXPECT_NE(refused.info.error_message().find(expected), std::string::npos) << refused.info.error_message();
  EXPECT_EQ(refused.submit.code(), absl::StatusCode::kUnauthenticated) << refused.submit;
  EXPECT_NE(std::string(refused.submit.message()).find(expected), std::string::npos) << refused.submit;
  EXPECT_EQ(refused.subscribe.error_code(), grpc::StatusCode::UNAUTHENTICATED) << refused.subscribe.error_message();
  EXPECT_NE(refused.subscribe.error_message().find(expected), std::string::npos) << refused.subscribe.error_message();
  EXPECT_EQ(refused.deliveries, 0u);

  for (const std::string action : {"GetGatewayInfo", "Submit", "Subscribe"}) {
    const v1::AuditRecord r = RefusalOf(action, audit_before);
    EXPECT_EQ(r.actor_agency(), "510100.psb") << action;
    EXPECT_EQ(r.status_code(), "UNAUTHENTICATED") << action;
    EXPECT_NE(r.reason().find(expected), std::string::npos) << action << ": " << r.reason();
    EXPECT_FALSE(r.actor_certificate_sha256().empty()) << action;
  }
  // The CRL reload itself is audited, and the refused receipt changed nothing.
  bool reload_audited = false;
  for (const auto& r : gateway_.AuditRecordsFrom(audit_before)) {
    if (r.action() == "crl.reload") reload_audited = r.reason().find("1 revoked") != std::string::npos;
  }
  EXPECT_TRUE(reload_audited);
  EXPECT_EQ(CaseVersion(), version_before);
  // Other agencies are unaffected.
  auto epb_case = gateway_.Client("510100.epb")->GetCase("K-1");
  EXPECT_TRUE(epb_case.ok()) << epb_case.status();

  // Lifting the revocation (a new CRL) lets the same connection back in.
  WriteCrl({}, clock_->Now() - absl::Minutes(1));
  PassCheckInterval();
  const Outcomes restored = CallEveryKind(gateway_, *psb);
  EXPECT_TRUE(restored.info.ok()) << restored.info.error_message();
  EXPECT_TRUE(restored.submit.ok()) << restored.submit;
  EXPECT_GE(restored.deliveries, 1u);
  EXPECT_EQ(CaseVersion(), version_before + 1);
}

TEST_F(TlsClientCertificatesTest, TlsCertificateExpiredAtGatewayTimeIsRefusedAndAudited) {
  auto psb = gateway_.Client("510100.psb");
  auto cert = security::Certificate::FromPem(Slurp(Pki() + "/agencies/510100.psb/tls.crt"));
  ASSERT_TRUE(cert.ok());
  // The handshake checks wall-clock time; the gateway's own time is past notAfter.
  clock_->Set((*cert)->not_after() + absl::Minutes(1));
  const uint64_t audit_before = gateway_.AuditSize();
  grpc::ClientContext ctx;
  v1::GatewayInfo info;
  const grpc::Status st = psb->gateway().GetGatewayInfo(&ctx, v1::GetGatewayInfoRequest(), &info);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << st.error_message();
  const std::string expected = absl::StrCat("TLS client certificate of agency 510100.psb expired at ",
                                            absl::FormatTime(absl::RFC3339_sec, (*cert)->not_after(), absl::UTCTimeZone()));
  EXPECT_NE(st.error_message().find(expected), std::string::npos) << st.error_message();
  const v1::AuditRecord r = RefusalOf("GetGatewayInfo", audit_before);
  EXPECT_EQ(r.actor_agency(), "510100.psb");
  EXPECT_EQ(r.reason(), st.error_message());
}

}  // namespace
}  // namespace caselink
