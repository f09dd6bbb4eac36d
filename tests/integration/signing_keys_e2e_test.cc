// Signing keys and certificates through a real TLS gateway: per-request refusals of
// unusable keys (expired, not yet valid, revoked, other CA, no digitalSignature, another
// agency's, retired), Ed25519 keys under INTL, key rotation by acceptance time, CRL reloads while serving,
// gateway key rotation, signed evidence of deliveries and downloads, and
// `caselinkctl verify` run as a program.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <atomic>
#include <map>
#include <set>
#include <thread>

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include "gateway/case_bundle.h"
#include "gateway/config.h"
#include "gateway/evidence.h"
#include "security/certificate.h"
#include "security/digest.h"
#include "security/pki.h"
#include "security/signer_factory.h"
#include "tests/support/gateway_process.h"
#include "tests/support/test_gateway.h"
#include "tools/devpki/dev_pki.h"

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

std::string Rfc3339(absl::Time t) { return absl::FormatTime(absl::RFC3339_sec, t, absl::UTCTimeZone()); }

// Runs a command, returning its exit status and what it printed.
std::pair<int, std::string> RunCommand(const std::string& command) {
  std::string out;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  char buf[512];
  while (pipe && fgets(buf, sizeof buf, pipe)) out += buf;
  const int status = pipe ? pclose(pipe) : -1;
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

struct IssuedKey {
  std::string key_pem;
  std::string cert_pem;
};

class SigningKeysTest : public ::testing::Test {
 protected:
  SigningKeysTest()
      : clock_(std::make_shared<ManualClock>(testing::ScenarioStart())),
        dir_(testing::MakeTempDir()),
        gateway_(dir_, {.clock = clock_, .configure = [this](v1::GatewayConfig& c) { Configure(c); }}) {}

  std::string Pki() const { return dir_ + "/pki"; }
  std::string CrlFile() const { return Pki() + "/ca/signing.crl"; }
  std::string KeyDir() const { return Pki() + "/agencies/510100.psb"; }

  IssuedKey Issue(const std::string& cn, absl::Time not_before, absl::Time not_after,
                  security::CertificateProfile profile = security::CertificateProfile::kSigning,
                  const std::string& ca_cert = "", const std::string& ca_key = "") {
    auto key = security::GenerateEcP256KeyPair();
    EXPECT_TRUE(key.ok());
    security::CertificateRequest req;
    req.common_name = cn;
    req.organization = "test";
    req.public_key_pem = key->public_key_pem;
    req.profile = profile;
    req.not_before = not_before;
    req.not_after = not_after;
    auto cert = security::IssueCertificate(req, ca_cert.empty() ? Slurp(Pki() + "/ca/ca.crt") : ca_cert,
                                           ca_key.empty() ? Slurp(Pki() + "/ca/ca.key") : ca_key);
    EXPECT_TRUE(cert.ok()) << cert.status();
    return {key->private_key_pem, *cert};
  }

  std::string Serial(const std::string& cert_pem) { return (*security::Certificate::FromPem(cert_pem))->SerialHex(); }

  void WriteCrl(const std::vector<std::string>& revoked, absl::Time this_update) {
    auto crl = security::IssueCrl(Slurp(Pki() + "/ca/ca.crt"), Slurp(Pki() + "/ca/ca.key"), revoked, this_update,
                                  this_update + absl::Hours(24 * 30));
    ASSERT_TRUE(crl.ok()) << crl.status();
    Spit(CrlFile(), *crl);
  }

  // Before the gateway starts: extra PSB signing keys of every kind, a CRL, and a registry naming them.
  void Configure(v1::GatewayConfig& config) {
    const absl::Time s = clock_->Now();
    const absl::Duration year = absl::Hours(24 * 365);
    keys_["expired"] = Issue("psb expired", s - year, s - absl::Hours(24));
    keys_["future"] = Issue("psb future", s + absl::Hours(24 * 10), s + year);
    keys_["revoked"] = Issue("psb revoked", s - absl::Hours(24), s + year);
    keys_["nousage"] = Issue("psb no digitalSignature", s - absl::Hours(24), s + year, security::CertificateProfile::kCa);
    keys_["old"] = Issue("psb old", s - year, s + year);
    keys_["new"] = Issue("psb new", s - absl::Hours(24), s + year);
    auto other_ca_key = security::GenerateEcP256KeyPair();
    ASSERT_TRUE(other_ca_key.ok());
    security::CertificateRequest ca_req;
    ca_req.common_name = "Another CA";
    ca_req.public_key_pem = other_ca_key->public_key_pem;
    ca_req.profile = security::CertificateProfile::kCa;
    ca_req.not_before = s - year;
    ca_req.not_after = s + year;
    auto other_ca = security::IssueCertificate(ca_req, "", other_ca_key->private_key_pem);
    ASSERT_TRUE(other_ca.ok());
    keys_["otherca"] = Issue("psb other CA", s - absl::Hours(24), s + year, security::CertificateProfile::kSigning,
                             *other_ca, other_ca_key->private_key_pem);
    // INTL allows Ed25519 beside ECDSA P-256: an Ed25519 signing key from the same CA.
    auto ed_key = security::GenerateEd25519KeyPair();
    ASSERT_TRUE(ed_key.ok());
    security::CertificateRequest ed_req;
    ed_req.common_name = "psb ed25519";
    ed_req.organization = "test";
    ed_req.public_key_pem = ed_key->public_key_pem;
    ed_req.profile = security::CertificateProfile::kSigning;
    ed_req.not_before = s - absl::Hours(24);
    ed_req.not_after = s + year;
    auto ed_cert = security::IssueCertificate(ed_req, Slurp(Pki() + "/ca/ca.crt"), Slurp(Pki() + "/ca/ca.key"));
    ASSERT_TRUE(ed_cert.ok()) << ed_cert.status();
    keys_["ed25519"] = {ed_key->private_key_pem, *ed_cert};
    for (const auto& [name, key] : keys_) {
      Spit(KeyDir() + "/" + name + ".crt", key.cert_pem);
      Spit(KeyDir() + "/" + name + ".key", key.key_pem);
    }
    WriteCrl({Serial(keys_["revoked"].cert_pem)}, s - absl::Hours(1));

    auto registry = LoadRegistryFile(config.registry_file());
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry->add_signing_crl_files(CrlFile());
    for (auto& agency : *registry->mutable_agencies()) {
      if (agency.id() != "510100.psb") continue;
      for (const auto& [name, key] : keys_) {
        v1::AgencySigningKey* k = agency.add_signing_keys();
        k->set_key_id("510100.psb/" + name);
        k->set_certificate_file(KeyDir() + "/" + name + ".crt");
        if (name == "old") k->set_retired_at(Rfc3339(s + absl::Hours(1)));
        if (name == "new") k->set_not_before(Rfc3339(s - absl::Hours(1)));
      }
    }
    std::string json;
    ASSERT_TRUE(google::protobuf::util::MessageToJsonString(*registry, &json).ok());
    Spit(config.registry_file(), json);
    // Every request may look at the CRL file: the reload test needs no waiting.
    config.set_crl_check_interval_ms(1);
  }

  // The PSB over its own TLS identity, signing with key `name` (one of keys_, or the agency's own).
  std::unique_ptr<AgencyClient> PsbSigningWith(const std::string& name) {
    auto identity = LoadAgencyIdentity(Pki(), "510100.psb");
    EXPECT_TRUE(identity.ok());
    identity->signing_key_pem = Slurp(KeyDir() + "/" + name + ".key");
    identity->signing_key_id = "510100.psb/" + name;
    auto client = AgencyClient::Create(*identity, gateway_.target());
    EXPECT_TRUE(client.ok());
    return std::move(*client);
  }

  void SetUp() override {
    auto epb = gateway_.Client("510100.epb");
    auto transfer = gateway_.Submit(*epb, testing::TransferEnvelope("K-1"));
    ASSERT_TRUE(transfer.ok()) << transfer.status();
    transfer_receipt_ = transfer->receipt();
    state_before_ = CaseVersion();
  }

  uint64_t CaseVersion() {
    auto c = gateway_.Client("510100.epb")->GetCase("K-1");
    EXPECT_TRUE(c.ok());
    return c.ok() ? c->case_().version() : 0;
  }

  // Submits a receipt for K-1 signed by `client`; expects a refusal with `code` and
  // `message_part`, audited as REFUSED with the same message, and no state change.
  void ExpectReceiptRefused(AgencyClient& client, grpc::StatusCode code, const std::string& message_part) {
    const uint64_t audit_before = gateway_.AuditSize();
    auto resp = gateway_.Submit(client, testing::ActionEnvelope("K-1", "receipt"));
    ASSERT_FALSE(resp.ok());
    EXPECT_EQ(static_cast<int>(resp.status().code()), static_cast<int>(code)) << resp.status();
    const std::string message(resp.status().message());
    EXPECT_NE(message.find(message_part), std::string::npos) << message;
    const v1::AuditRecord* refusal = nullptr;
    const auto records = gateway_.AuditRecordsFrom(audit_before);
    for (const auto& r : records) {
      if (r.outcome() == v1::AuditRecord::REFUSED) refusal = &r;
    }
    ASSERT_NE(refusal, nullptr);
    EXPECT_EQ(refusal->reason(), message);
    EXPECT_EQ(refusal->status_code(), absl::StatusCodeToString(static_cast<absl::StatusCode>(code)));
    EXPECT_EQ(refusal->actor_agency(), "510100.psb");
    EXPECT_EQ(refusal->action(), "Submit/receipt");
    EXPECT_EQ(CaseVersion(), state_before_);
  }

  std::shared_ptr<ManualClock> clock_;
  std::string dir_;
  std::map<std::string, IssuedKey> keys_;
  TestGateway gateway_;
  v1::SignedSubmissionReceipt transfer_receipt_;
  uint64_t state_before_ = 0;
};

TEST_F(SigningKeysTest, GatewayStartsWithUnusableKeysAndAuditsThem) {
  // The registry loaded although five PSB keys cannot sign; each is on record.
  std::set<std::string> unusable;
  for (const auto& r : gateway_.AuditRecordsFrom(0)) {
    if (r.action() == "registry.signing_key_unusable") {
      for (const char* name : {"expired", "future", "revoked", "nousage", "otherca"}) {
        if (r.reason().find(std::string("510100.psb/") + name + " ") != std::string::npos) unusable.insert(name);
      }
    }
  }
  EXPECT_EQ(unusable, (std::set<std::string>{"expired", "future", "revoked", "nousage", "otherca"}));
  bool crl_loaded = false;
  for (const auto& r : gateway_.AuditRecordsFrom(0)) {
    if (r.action() == "crl.load") crl_loaded = r.reason().find("thisUpdate") != std::string::npos;
  }
  EXPECT_TRUE(crl_loaded);
}

TEST_F(SigningKeysTest, ExpiredSigningCertificateIsRefused) {
  ExpectReceiptRefused(*PsbSigningWith("expired"), grpc::StatusCode::UNAUTHENTICATED, "certificate has expired");
}

TEST_F(SigningKeysTest, NotYetValidSigningCertificateIsRefused) {
  ExpectReceiptRefused(*PsbSigningWith("future"), grpc::StatusCode::UNAUTHENTICATED, "certificate is not yet valid");
}

TEST_F(SigningKeysTest, RevokedSigningCertificateIsRefused) {
  ExpectReceiptRefused(*PsbSigningWith("revoked"), grpc::StatusCode::UNAUTHENTICATED, "is listed as revoked");
}

TEST_F(SigningKeysTest, SigningCertificateOfAnotherCaIsRefused) {
  ExpectReceiptRefused(*PsbSigningWith("otherca"), grpc::StatusCode::UNAUTHENTICATED, "is not a configured trust anchor");
}

TEST_F(SigningKeysTest, SigningCertificateWithoutDigitalSignatureIsRefused) {
  ExpectReceiptRefused(*PsbSigningWith("nousage"), grpc::StatusCode::UNAUTHENTICATED,
                       "keyUsage does not include digitalSignature");
}

TEST_F(SigningKeysTest, KeyOfAnotherAgencyIsRefused) {
  auto identity = LoadAgencyIdentity(Pki(), "510100.psb");
  ASSERT_TRUE(identity.ok());
  auto epb = LoadAgencyIdentity(Pki(), "510100.epb");
  ASSERT_TRUE(epb.ok());
  identity->signing_key_pem = epb->signing_key_pem;
  identity->signing_key_id = epb->signing_key_id;
  auto client = AgencyClient::Create(*identity, gateway_.target());
  ASSERT_TRUE(client.ok());
  ExpectReceiptRefused(**client, grpc::StatusCode::UNAUTHENTICATED,
                       "it belongs to agency '510100.epb'; an agency signs only with its own keys");
}

TEST_F(SigningKeysTest, Ed25519SignedEnvelopeIsAcceptedUnderIntlAndDeliveredVerifiable) {
  const uint64_t audit_before = gateway_.AuditSize();
  auto ed = PsbSigningWith("ed25519");
  auto accepted = gateway_.Submit(*ed, testing::ActionEnvelope("K-1", "receipt"));
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  EXPECT_EQ(CaseVersion(), state_before_ + 1);
  bool audited = false;
  for (const auto& r : gateway_.AuditRecordsFrom(audit_before)) {
    if (r.action() == "Submit/receipt" && r.outcome() == v1::AuditRecord::ACCEPTED) audited = r.actor_agency() == "510100.psb";
  }
  EXPECT_TRUE(audited);

  // The EPB receives the envelope as signed, labelled Ed25519, and verifies it with the
  // PSB's certificate alone; a flipped bit does not verify.
  const v1::Delivery* receipt = nullptr;
  auto deliveries = testing::ReadDeliveries(*gateway_.Client("510100.epb"), 10, absl::Seconds(2));
  for (const auto& d : deliveries) {
    if (d.action() == "receipt") receipt = &d;
  }
  ASSERT_NE(receipt, nullptr);
  EXPECT_EQ(receipt->envelope().signature().algorithm(), v1::ED25519);
  EXPECT_EQ(receipt->envelope().signature().key_id(), "510100.psb/ed25519");
  auto cert = security::Certificate::FromPem(keys_["ed25519"].cert_pem);
  ASSERT_TRUE(cert.ok());
  auto verifier = security::CreateVerifierFromCertificate(**cert, security::SignatureAlgorithm::kEd25519);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  EXPECT_TRUE((*verifier)->Verify(receipt->envelope().signature().value(), receipt->envelope().envelope()).ok());
  std::string flipped = receipt->envelope().envelope();
  flipped[flipped.size() / 2] ^= 0x01;
  EXPECT_FALSE((*verifier)->Verify(receipt->envelope().signature().value(), flipped).ok());
}

TEST_F(SigningKeysTest, RotatedOutKeyIsRefusedAfterItsRetirementAndItsEarlierSignatureStaysVerifiable) {
  // Before retirement the old key signs; the receipt fixes the acceptance time.
  auto old_key = PsbSigningWith("old");
  auto accepted = gateway_.Submit(*old_key, testing::ActionEnvelope("K-1", "receipt"));
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  auto signed_envelope = (*accepted).receipt();
  state_before_ = CaseVersion();

  clock_->Advance(absl::Hours(2));
  ExpectReceiptRefused(*old_key, grpc::StatusCode::UNAUTHENTICATED,
                       absl::StrCat("key 510100.psb/old of agency 510100.psb was retired at ",
                                    Rfc3339(testing::ScenarioStart() + absl::Hours(1))));
  // ... and the message names the keys to use instead.
  auto again = gateway_.Submit(*old_key, testing::ActionEnvelope("K-1", "materials_request"));
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find("sign with a current key (current: 510100.psb/signing-1"), std::string::npos)
      << again.status();
  // The new key is accepted at the same time.
  auto new_key = PsbSigningWith("new");
  auto by_new = gateway_.Submit(*new_key, testing::ActionEnvelope("K-1", "materials_request"));
  EXPECT_TRUE(by_new.ok()) << by_new.status();

  // Offline, the receipt made while the old key was valid still verifies.
  const std::string receipt_file = dir_ + "/old-receipt.pb";
  Spit(receipt_file, accepted->receipt().SerializeAsString());
  auto [status, out] = RunCommand(absl::StrCat(CASELINKCTL_BINARY, " verify ", receipt_file, " --ca ", Pki(), "/ca/ca.crt",
                                        " --gateway-cert ", Pki(), "/gateway/signing.crt"));
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("VALID: gateway receipt"), std::string::npos) << out;
}

TEST_F(SigningKeysTest, RevokingByRewritingTheCrlRefusesTheNextSubmission) {
  auto psb = gateway_.Client("510100.psb");
  auto identity = LoadAgencyIdentity(Pki(), "510100.psb");
  ASSERT_TRUE(identity.ok());
  const std::string own_cert = Slurp(KeyDir() + "/signing.crt");
  // Accepted now (the key is valid, and cached as such).
  auto ok = gateway_.Submit(*psb, testing::ActionEnvelope("K-1", "receipt"));
  ASSERT_TRUE(ok.ok()) << ok.status();
  state_before_ = CaseVersion();

  // The CA revokes the PSB's key while the gateway runs.
  WriteCrl({Serial(keys_["revoked"].cert_pem), Serial(own_cert)}, clock_->Now() - absl::Minutes(5));
  // The gateway stats the file at most every millisecond (crl_check_interval_ms: 1).
  for (absl::Time until = absl::Now() + absl::Milliseconds(3); absl::Now() < until;) {
  }
  const uint64_t audit_before = gateway_.AuditSize();
  ExpectReceiptRefused(*psb, grpc::StatusCode::UNAUTHENTICATED, "is listed as revoked");
  bool reload_audited = false;
  const std::string number = absl::StrCat(absl::Hex(absl::ToUnixSeconds(clock_->Now() - absl::Minutes(5))));
  for (const auto& r : gateway_.AuditRecordsFrom(audit_before)) {
    if (r.action() == "crl.reload") {
      reload_audited = r.reason().find(absl::StrCat("number ", number)) != std::string::npos &&
                       r.reason().find("2 revoked") != std::string::npos;
    }
  }
  EXPECT_TRUE(reload_audited);

  // A CRL file that cannot be used is audited and does not switch revocation off.
  Spit(CrlFile(), "-----BEGIN X509 CRL-----\nnot a CRL\n-----END X509 CRL-----\n");
  for (absl::Time until = absl::Now() + absl::Milliseconds(3); absl::Now() < until;) {
  }
  const uint64_t before_bad = gateway_.AuditSize();
  ExpectReceiptRefused(*psb, grpc::StatusCode::UNAUTHENTICATED, "is listed as revoked");
  bool failure_audited = false;
  for (const auto& r : gateway_.AuditRecordsFrom(before_bad)) {
    if (r.action() == "crl.reload_failed") failure_audited = true;
  }
  EXPECT_TRUE(failure_audited);
}

// ---- the gateway's own key ----

TEST_F(SigningKeysTest, GatewayKeyRotatesWithoutFailingARequestAndPublishesThePreviousKey) {
  auto fresh = Issue("gateway signing 2", clock_->Now() - absl::Hours(24), clock_->Now() + absl::Hours(24 * 365));
  Spit(Pki() + "/gateway/signing-2.key", fresh.key_pem);
  Spit(Pki() + "/gateway/signing-2.crt", fresh.cert_pem);
  v1::GatewayConfig rotated = gateway_.config();
  rotated.mutable_gateway_signing_key()->set_key_id("gateway/signing-2");
  rotated.mutable_gateway_signing_key()->set_private_key_file(Pki() + "/gateway/signing-2.key");
  rotated.mutable_gateway_signing_key()->set_certificate_file(Pki() + "/gateway/signing-2.crt");

  // Submissions run while the key switches; every one must succeed with a receipt
  // that verifies under the key it names.
  std::atomic<bool> stop{false};
  std::vector<v1::SignedSubmissionReceipt> receipts;
  std::vector<absl::Status> failures;
  std::thread submitter([&] {
    auto epb = gateway_.Client("510100.epb");
    for (int i = 0; !stop.load() || i < 4; ++i) {
      auto resp = gateway_.Submit(*epb, testing::TransferEnvelope(absl::StrCat("ROT-", i)));
      if (resp.ok()) {
        receipts.push_back(resp->receipt());
      } else {
        failures.push_back(resp.status());
      }
      if (i > 200) break;
    }
  });
  while (receipts.size() < 2 && failures.empty()) std::this_thread::yield();
  const uint64_t audit_before = gateway_.AuditSize();
  ASSERT_TRUE(gateway_.server().ReloadSigningKeys(rotated).ok());
  stop = true;
  submitter.join();
  EXPECT_TRUE(failures.empty()) << failures.front();

  auto old_cert = security::Certificate::FromPem(Slurp(Pki() + "/gateway/signing.crt"));
  auto new_cert = security::Certificate::FromPem(fresh.cert_pem);
  auto old_verifier = security::CreateVerifierFromCertificate(**old_cert);
  auto new_verifier = security::CreateVerifierFromCertificate(**new_cert);
  int by_old = 0, by_new = 0;
  for (const auto& r : receipts) {
    const bool is_new = r.signature().key_id() == "gateway/signing-2";
    EXPECT_TRUE(is_new || r.signature().key_id() == "gateway/signing-1") << r.signature().key_id();
    EXPECT_TRUE((is_new ? *new_verifier : *old_verifier)->Verify(r.signature().value(), r.receipt()).ok());
    (is_new ? by_new : by_old)++;
  }
  EXPECT_GT(by_old, 0);
  EXPECT_GT(by_new, 0);

  // GetGatewayInfo: the new key current, the old one previous.
  auto gateway_service = v1::GatewayService::NewStub(gateway_.Client("510100.pro")->channel());
  grpc::ClientContext ctx;
  v1::GatewayInfo info;
  ASSERT_TRUE(gateway_service->GetGatewayInfo(&ctx, v1::GetGatewayInfoRequest(), &info).ok());
  ASSERT_EQ(info.keys_size(), 2);
  EXPECT_EQ(info.keys(0).key_id(), "gateway/signing-2");
  EXPECT_TRUE(info.keys(0).current());
  EXPECT_EQ(info.keys(0).certificate_pem(), fresh.cert_pem);
  EXPECT_EQ(info.keys(1).key_id(), "gateway/signing-1");
  EXPECT_FALSE(info.keys(1).current());
  EXPECT_EQ(info.keys(1).certificate_pem(), Slurp(Pki() + "/gateway/signing.crt"));

  bool audited = false;
  for (const auto& r : gateway_.AuditRecordsFrom(audit_before)) {
    if (r.action() == "gateway.signing_key_rotation") {
      audited = r.reason().find("now signed with key gateway/signing-2 (was gateway/signing-1)") != std::string::npos;
    }
  }
  EXPECT_TRUE(audited);

  // A case that spans the rotation: its bundle, signed by the new key, carries the
  // old key's certificate for the receipts made before, and verifies.
  auto psb_receipt = gateway_.Submit(*gateway_.Client("510100.psb"), testing::ActionEnvelope("K-1", "receipt"));
  ASSERT_TRUE(psb_receipt.ok()) << psb_receipt.status();
  EXPECT_EQ(psb_receipt->receipt().signature().key_id(), "gateway/signing-2");
  auto audit = v1::AuditService::NewStub(gateway_.Client("510100.epb")->channel());
  grpc::ClientContext export_ctx;
  v1::ExportCaseRequest export_req;
  export_req.set_case_id("K-1");
  v1::CaseBundle bundle;
  ASSERT_TRUE(audit->ExportCase(&export_ctx, export_req, &bundle).ok());
  EXPECT_EQ(bundle.gateway_signature().key_id(), "gateway/signing-2");
  EXPECT_EQ(bundle.previous_gateway_certificates_pem().count("gateway/signing-1"), 1u);
  auto ca = security::ChainValidator::Create(Slurp(Pki() + "/ca/ca.crt"));
  ASSERT_TRUE(ca.ok());
  EXPECT_TRUE(VerifyCaseBundle(bundle, **new_verifier, ca->get()).ok()) << VerifyCaseBundle(bundle, **new_verifier, ca->get());
  v1::CaseBundle without_previous = bundle;
  without_previous.clear_previous_gateway_certificates_pem();
  EXPECT_FALSE(VerifyCaseBundle(without_previous, **new_verifier, ca->get()).ok());

  // A key the profile does not allow is refused and changes nothing.
  auto ed = security::GenerateEd25519KeyPair();
  ASSERT_TRUE(ed.ok());
  Spit(Pki() + "/gateway/bad.key", ed->private_key_pem);
  v1::GatewayConfig bad = rotated;
  bad.mutable_gateway_signing_key()->set_key_id("gateway/bad");
  bad.mutable_gateway_signing_key()->set_private_key_file(Pki() + "/gateway/missing.key");
  EXPECT_FALSE(gateway_.server().ReloadSigningKeys(bad).ok());
  auto after = gateway_.Submit(*gateway_.Client("510100.epb"), testing::TransferEnvelope("ROT-after"));
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->receipt().signature().key_id(), "gateway/signing-2");
}

// ---- evidence ----

TEST_F(SigningKeysTest, AcknowledgedDeliveryAndRetrievedDocumentAreSignedEvidenceInTheCaseBundle) {
  auto psb = gateway_.Client("510100.psb");
  auto deliveries = testing::ReadDeliveries(*psb, 1, absl::Seconds(10));
  ASSERT_EQ(deliveries.size(), 1u);
  ASSERT_TRUE(psb->Acknowledge(deliveries[0].sequence()).ok());
  v1::Envelope transfer;
  ASSERT_TRUE(transfer.ParseFromString(deliveries[0].envelope().envelope()));
  const v1::DocumentRef doc = transfer.documents(0);
  {
    grpc::ClientContext ctx;
    v1::DownloadRequest req;
    *req.mutable_digest() = doc.digest();
    req.set_case_id("K-1");
    auto reader = psb->documents().Download(&ctx, req);
    v1::DownloadChunk chunk;
    std::string bytes;
    while (reader->Read(&chunk)) bytes += chunk.data();
    ASSERT_TRUE(reader->Finish().ok());
    EXPECT_EQ(security::Sha256(bytes), doc.digest().value());
  }
  // The download's record is written asynchronously; the bundle is read once it is there.
  v1::CaseBundle bundle;
  auto audit = v1::AuditService::NewStub(gateway_.Client("510100.epb")->channel());
  std::vector<v1::SignedEvidence> evidence;
  for (absl::Time deadline = absl::Now() + absl::Seconds(10); evidence.size() < 2 && absl::Now() < deadline;) {
    grpc::ClientContext ctx;
    v1::ExportCaseRequest req;
    req.set_case_id("K-1");
    ASSERT_TRUE(audit->ExportCase(&ctx, req, &bundle).ok());
    evidence.clear();
    for (const auto& entry : bundle.audit_entries()) {
      v1::AuditRecord r;
      ASSERT_TRUE(r.ParseFromString(entry.record()));
      if (r.has_evidence()) evidence.push_back(r.evidence());
    }
  }
  ASSERT_EQ(evidence.size(), 2u);
  auto gateway_cert = security::Certificate::FromPem(Slurp(Pki() + "/gateway/signing.crt"));
  auto verifier = security::CreateVerifierFromCertificate(**gateway_cert);
  v1::SubmissionReceipt transfer_receipt;
  ASSERT_TRUE(transfer_receipt.ParseFromString(transfer_receipt_.receipt()));
  std::set<v1::Evidence::Kind> kinds;
  for (const auto& signed_evidence : evidence) {
    auto e = VerifyEvidence(signed_evidence, **verifier);
    ASSERT_TRUE(e.ok()) << e.status();
    kinds.insert(e->kind());
    EXPECT_EQ(e->agency(), "510100.psb");
    EXPECT_EQ(e->case_id(), "K-1");
    EXPECT_EQ(e->time().seconds(), absl::ToUnixSeconds(clock_->Now()));
    if (e->kind() == v1::Evidence::DELIVERY_ACKNOWLEDGED) {
      EXPECT_EQ(e->envelope_id(), transfer_receipt.envelope_id());
      EXPECT_EQ(e->envelope_digest().value(), transfer_receipt.envelope_digest().value());
      EXPECT_EQ(e->sender_agency(), "510100.epb");
      EXPECT_EQ(e->delivery_sequence(), deliveries[0].sequence());
    } else {
      EXPECT_EQ(e->document_digest().value(), doc.digest().value());
    }
    // A signed statement cannot be edited.
    v1::SignedEvidence forged = signed_evidence;
    forged.mutable_evidence()->back() ^= 1;
    EXPECT_FALSE(VerifyEvidence(forged, **verifier).ok());
  }
  EXPECT_EQ(kinds, (std::set<v1::Evidence::Kind>{v1::Evidence::DELIVERY_ACKNOWLEDGED, v1::Evidence::DOCUMENT_RETRIEVED}));

  // The sender lists what the gateway signed about its case and saves each piece.
  std::filesystem::create_directories(dir_ + "/proof");
  auto [list_status, list_out] = RunCommand(absl::StrCat(CASELINKCTL_BINARY, " --pki ", Pki(), " --agency 510100.epb --gateway ",
                                                         gateway_.target(), " audit evidence K-1 --out-dir ", dir_, "/proof"));
  EXPECT_EQ(list_status, 0) << list_out;
  EXPECT_NE(list_out.find("ACCEPTED"), std::string::npos) << list_out;
  EXPECT_NE(list_out.find("DELIVERY_ACKNOWLEDGED  510100.psb acknowledged envelope"), std::string::npos) << list_out;
  EXPECT_NE(list_out.find("DOCUMENT_RETRIEVED  510100.psb retrieved document"), std::string::npos) << list_out;
  int saved = 0;
  for (const auto& file : std::filesystem::directory_iterator(dir_ + "/proof")) {
    auto [status, out] = RunCommand(absl::StrCat(CASELINKCTL_BINARY, " verify ", file.path().string(), " --ca ", Pki(),
                                                 "/ca/ca.crt --gateway-cert ", Pki(), "/gateway/signing.crt"));
    EXPECT_EQ(status, 0) << file.path() << ": " << out;
    ++saved;
  }
  EXPECT_EQ(saved, 3);  // the transfer's receipt and two pieces of evidence

  // Offline, with the gateway certificate and the CA only.
  for (const auto& signed_evidence : evidence) {
    std::string json;
    ASSERT_TRUE(google::protobuf::util::MessageToJsonString(signed_evidence, &json).ok());
    Spit(dir_ + "/evidence.json", json);
    auto [status, out] = RunCommand(absl::StrCat(CASELINKCTL_BINARY, " verify ", dir_, "/evidence.json --ca ", Pki(),
                                          "/ca/ca.crt --gateway-cert ", Pki(), "/gateway/signing.crt"));
    EXPECT_EQ(status, 0) << out;
    EXPECT_NE(out.find("VALID: evidence: 510100.psb"), std::string::npos) << out;
    v1::SignedEvidence altered = signed_evidence;
    altered.mutable_signature()->mutable_value()->back() ^= 1;
    Spit(dir_ + "/evidence.pb", altered.SerializeAsString());
    auto [bad_status, bad_out] = RunCommand(absl::StrCat(CASELINKCTL_BINARY, " verify ", dir_, "/evidence.pb --ca ", Pki(),
                                                  "/ca/ca.crt --gateway-cert ", Pki(), "/gateway/signing.crt"));
    EXPECT_EQ(bad_status, 1) << bad_out;
    EXPECT_NE(bad_out.find("NOT VALID: the signature does not verify"), std::string::npos) << bad_out;
  }
}

// ---- caselinkctl verify ----

TEST_F(SigningKeysTest, CaselinkctlVerifiesEnvelopesAndReceiptsOfflineAtTheTimeTheyFix) {
  auto psb = gateway_.Client("510100.psb");
  auto signed_envelope = gateway_.Sign(*psb, testing::ActionEnvelope("K-1", "receipt"));
  ASSERT_TRUE(signed_envelope.ok());
  auto resp = psb->SubmitSigned(*signed_envelope);
  ASSERT_TRUE(resp.ok()) << resp.status();
  Spit(dir_ + "/envelope.pb", signed_envelope->SerializeAsString());
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(*resp, &json).ok());
  Spit(dir_ + "/response.json", json);
  const std::string ctl = absl::StrCat(CASELINKCTL_BINARY, " verify ");
  const std::string ca = absl::StrCat(" --ca ", Pki(), "/ca/ca.crt");

  auto [env_status, env_out] = RunCommand(absl::StrCat(ctl, dir_, "/envelope.pb", ca, " --signer-cert ", KeyDir(), "/signing.crt"));
  EXPECT_EQ(env_status, 0) << env_out;
  EXPECT_NE(env_out.find("VALID: envelope"), std::string::npos) << env_out;
  EXPECT_NE(env_out.find("signed by 510100.psb"), std::string::npos) << env_out;

  auto [rec_status, rec_out] = RunCommand(absl::StrCat(ctl, dir_, "/response.json", ca, " --gateway-cert ", Pki(),
                                                "/gateway/signing.crt --envelope ", dir_, "/envelope.pb"));
  EXPECT_EQ(rec_status, 0) << rec_out;
  EXPECT_NE(rec_out.find("matches the envelope"), std::string::npos) << rec_out;

  // The wrong signer, a tampered envelope, a time outside the certificate, a revoked certificate.
  auto [wrong_status, wrong_out] =
      RunCommand(absl::StrCat(ctl, dir_, "/envelope.pb", ca, " --signer-cert ", Pki(), "/agencies/510100.epb/signing.crt"));
  EXPECT_EQ(wrong_status, 1) << wrong_out;
  EXPECT_NE(wrong_out.find("does not verify"), std::string::npos) << wrong_out;

  v1::SignedEnvelope tampered = *signed_envelope;
  tampered.mutable_envelope()->back() ^= 1;
  Spit(dir_ + "/tampered.pb", tampered.SerializeAsString());
  auto [t_status, t_out] = RunCommand(absl::StrCat(ctl, dir_, "/tampered.pb --type envelope", ca, " --signer-cert ", KeyDir(), "/signing.crt"));
  EXPECT_EQ(t_status, 1) << t_out;

  auto [late_status, late_out] = RunCommand(absl::StrCat(ctl, dir_, "/envelope.pb", ca, " --signer-cert ", KeyDir(),
                                                  "/signing.crt --at ", Rfc3339(clock_->Now() + absl::Hours(24 * 800))));
  EXPECT_EQ(late_status, 1) << late_out;
  EXPECT_NE(late_out.find("certificate has expired"), std::string::npos) << late_out;

  // An envelope by the revoked key, checked against the CRL.
  auto revoked = PsbSigningWith("revoked");
  auto by_revoked = gateway_.Sign(*revoked, testing::ActionEnvelope("K-1", "filing"));
  ASSERT_TRUE(by_revoked.ok());
  Spit(dir_ + "/revoked.pb", by_revoked->SerializeAsString());
  auto [r_status, r_out] = RunCommand(absl::StrCat(ctl, dir_, "/revoked.pb", ca, " --signer-cert ", KeyDir(),
                                            "/revoked.crt --crl ", CrlFile()));
  EXPECT_EQ(r_status, 1) << r_out;
  EXPECT_NE(r_out.find("revoked"), std::string::npos) << r_out;

  auto [u_status, u_out] = RunCommand(absl::StrCat(ctl, dir_, "/response.json"));
  EXPECT_NE(u_status, 0) << u_out;
}

// ---- SIGHUP: the operator's rotation path, on the real binary ----

TEST(GatewayProcessKeyRotation, SighupSwitchesTheReceiptKeyAndPublishesTheOldOne) {
  const std::string dir = testing::MakeTempDir();
  const std::string pki = dir + "/pki";
  DevPkiOptions options;
  options.dir = pki;
  options.listen_address = "127.0.0.1:0";
  options.data_dir = dir + "/data";
  ASSERT_TRUE(InitDevPki(options).ok());
  testing::GatewayProcess process(CASELINK_GATEWAY_BINARY, pki + "/gateway.yaml", dir + "/ready");
  const int port = process.WaitForPort();
  ASSERT_GT(port, 0);
  auto identity = LoadAgencyIdentity(pki, "510100.epb");
  ASSERT_TRUE(identity.ok());
  auto epb = AgencyClient::Create(*identity, absl::StrCat("127.0.0.1:", port));
  ASSERT_TRUE(epb.ok());
  ASSERT_TRUE(testing::UploadStandardDocuments(**epb).ok());
  auto first = (*epb)->Submit(testing::TransferEnvelope("H-1"));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->receipt().signature().key_id(), "gateway/signing-1");

  // The operator installs a new key, points the config at it and sends SIGHUP.
  auto key = security::GenerateEcP256KeyPair();
  ASSERT_TRUE(key.ok());
  security::CertificateRequest req;
  req.common_name = "CaseLink gateway signing 2";
  req.public_key_pem = key->public_key_pem;
  req.profile = security::CertificateProfile::kSigning;
  req.not_before = absl::Now() - absl::Hours(1);
  req.not_after = absl::Now() + absl::Hours(24 * 365);
  auto cert = security::IssueCertificate(req, Slurp(pki + "/ca/ca.crt"), Slurp(pki + "/ca/ca.key"));
  ASSERT_TRUE(cert.ok());
  Spit(pki + "/gateway/signing-2.key", key->private_key_pem);
  Spit(pki + "/gateway/signing-2.crt", *cert);
  std::string yaml = Slurp(pki + "/gateway.yaml");
  for (auto [from, to] : {std::pair<std::string, std::string>{"gateway/signing-1", "gateway/signing-2"},
                          {"gateway/signing.key", "gateway/signing-2.key"},
                          {"gateway/signing.crt", "gateway/signing-2.crt"}}) {
    const size_t at = yaml.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    yaml.replace(at, from.size(), to);
  }
  Spit(pki + "/gateway.yaml", yaml);
  ASSERT_EQ(kill(process.pid(), SIGHUP), 0);

  // A signal is asynchronous: poll the published keys until the switch shows.
  auto info_stub = v1::GatewayService::NewStub((*epb)->channel());
  v1::GatewayInfo info;
  for (absl::Time deadline = absl::Now() + absl::Seconds(20); absl::Now() < deadline;) {
    grpc::ClientContext ctx;
    info.Clear();
    ASSERT_TRUE(info_stub->GetGatewayInfo(&ctx, v1::GetGatewayInfoRequest(), &info).ok());
    if (info.keys_size() > 0 && info.keys(0).key_id() == "gateway/signing-2") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(info.keys_size(), 2);
  EXPECT_EQ(info.keys(0).key_id(), "gateway/signing-2");
  EXPECT_TRUE(info.keys(0).current());
  EXPECT_EQ(info.keys(1).key_id(), "gateway/signing-1");
  EXPECT_FALSE(info.keys(1).current());

  auto second = (*epb)->Submit(testing::TransferEnvelope("H-2"));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->receipt().signature().key_id(), "gateway/signing-2");
  auto verifier = security::CreateVerifierFromCertificate(**security::Certificate::FromPem(*cert));
  ASSERT_TRUE(verifier.ok());
  EXPECT_TRUE((*verifier)->Verify(second->receipt().signature().value(), second->receipt().receipt()).ok());
  process.Kill();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace caselink
