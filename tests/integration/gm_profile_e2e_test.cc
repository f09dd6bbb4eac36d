// The GM profile end to end through a real TLS gateway: SM2-signed envelopes,
// SM2-signed receipts and tree heads, an SM3 audit tree, and the refusals that
// keep other algorithms out.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "gateway/audit_log.h"
#include "gateway/config.h"
#include "gateway/registry.h"
#include "security/certificate.h"
#include "security/pki.h"
#include "security/signer_factory.h"
#include "tests/support/test_gateway.h"
#include "tools/devpki/dev_pki.h"

namespace caselink {
namespace {

using testing::ReadDeliveries;
using testing::TestGateway;
using testing::TransferEnvelope;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A verifier for the key in `cert_path`, only if that key is for `algorithm`.
std::unique_ptr<security::Verifier> VerifierFor(const std::string& cert_path, security::SignatureAlgorithm algorithm) {
  auto cert = security::Certificate::FromPem(Slurp(cert_path));
  EXPECT_TRUE(cert.ok()) << cert.status();
  if (!cert.ok()) return nullptr;
  auto verifier = security::CreateVerifierFromCertificate(**cert, algorithm);
  EXPECT_TRUE(verifier.ok()) << verifier.status();
  return verifier.ok() ? std::move(*verifier) : nullptr;
}

class GmProfileTest : public ::testing::Test {
 protected:
  GmProfileTest()
      : gateway_(testing::MakeTempDir(),
                 {.clock = std::make_shared<ManualClock>(testing::ScenarioStart()), .profile = "GM"}) {}

  std::string SigningCert(const std::string& who) const {
    return who == "gateway" ? gateway_.pki_dir() + "/gateway/signing.crt"
                            : gateway_.pki_dir() + "/agencies/" + who + "/signing.crt";
  }

  grpc::Status SubmitRaw(AgencyClient& client, const v1::SignedEnvelope& envelope) {
    grpc::ClientContext ctx;
    v1::SubmitRequest req;
    *req.mutable_envelope() = envelope;
    v1::SubmitResponse resp;
    return client.cases().Submit(&ctx, req, &resp);
  }

  TestGateway gateway_;
};

TEST_F(GmProfileTest, TransferReceiptFilingWithSm2AndAnSm3AuditTree) {
  EXPECT_EQ(gateway_.config().profile(), v1::GM);
  auto epb = gateway_.Client("510100.epb");
  auto psb = gateway_.Client("510100.psb");
  auto gateway_key = VerifierFor(SigningCert("gateway"), security::SignatureAlgorithm::kSm2Sm3);
  ASSERT_NE(gateway_key, nullptr);

  // The EPB's client signs with its SM2 key and says so.
  auto signed_transfer = gateway_.Sign(*epb, TransferEnvelope("G-1"));
  ASSERT_TRUE(signed_transfer.ok()) << signed_transfer.status();
  EXPECT_EQ(signed_transfer->signature().algorithm(), v1::SM2_SM3);
  auto accepted = epb->SubmitSigned(*signed_transfer);
  ASSERT_TRUE(accepted.ok()) << accepted.status();

  // The receipt is SM2-signed by the gateway key, under the label SM2_SM3.
  EXPECT_EQ(accepted->receipt().signature().algorithm(), v1::SM2_SM3);
  EXPECT_TRUE(gateway_key->Verify(accepted->receipt().signature().value(), accepted->receipt().receipt()).ok());
  v1::SubmissionReceipt receipt;
  ASSERT_TRUE(receipt.ParseFromString(accepted->receipt().receipt()));
  EXPECT_EQ(receipt.resulting_state(), v1::TRANSFERRED);

  // The PSB gets the EPB's original SM2 signature.
  auto inbox = ReadDeliveries(*psb, 1, absl::Seconds(10));
  ASSERT_EQ(inbox.size(), 1u);
  auto epb_key = VerifierFor(SigningCert("510100.epb"), security::SignatureAlgorithm::kSm2Sm3);
  ASSERT_NE(epb_key, nullptr);
  EXPECT_TRUE(epb_key->Verify(inbox[0].envelope().signature().value(), inbox[0].envelope().envelope()).ok());
  ASSERT_TRUE(psb->Acknowledge(inbox[0].sequence()).ok());

  auto received = gateway_.Submit(*psb, testing::ActionEnvelope("G-1", "receipt"));
  ASSERT_TRUE(received.ok()) << received.status();
  auto filed = gateway_.Submit(*psb, testing::ActionEnvelope("G-1", "filing"));
  ASSERT_TRUE(filed.ok()) << filed.status();
  EXPECT_TRUE(gateway_key->Verify(filed->receipt().signature().value(), filed->receipt().receipt()).ok());
  auto full = psb->GetCase("G-1");
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->case_().state(), v1::FILED);

  // The served tree head is SM2-signed and names SM3.
  auto audit = v1::AuditService::NewStub(psb->channel());
  grpc::ClientContext ctx;
  v1::SignedTreeHead sth;
  ASSERT_TRUE(audit->GetTreeHead(&ctx, v1::GetTreeHeadRequest(), &sth).ok());
  EXPECT_EQ(sth.signature().algorithm(), v1::SM2_SM3);
  auto head = VerifyTreeHead(sth, *gateway_key);
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->hash_algorithm(), v1::SM3);
  EXPECT_GE(head->tree_size(), 4u);

  // The whole log verifies against that head (VerifyAuditLog picks SM3 from it).
  auto exported = ExportAuditLog(gateway_.store());
  ASSERT_TRUE(exported.ok()) << exported.status();
  AuditVerification verification = VerifyAuditLog(*exported, *gateway_key);
  EXPECT_TRUE(verification.ok) << verification.message;

  // The gateway announces its SM2 key.
  auto info_stub = v1::GatewayService::NewStub(psb->channel());
  grpc::ClientContext info_ctx;
  v1::GatewayInfo info;
  ASSERT_TRUE(info_stub->GetGatewayInfo(&info_ctx, v1::GetGatewayInfoRequest(), &info).ok());
  EXPECT_EQ(info.profile(), v1::GM);
  ASSERT_EQ(info.keys_size(), 1);
  EXPECT_EQ(info.keys(0).algorithm(), v1::SM2_SM3);
}

TEST_F(GmProfileTest, EcdsaSignedEnvelopeIsNotAllowedByTheProfile) {
  auto epb = gateway_.Client("510100.epb");
  auto signed_envelope = gateway_.Sign(*epb, TransferEnvelope("G-2"));
  ASSERT_TRUE(signed_envelope.ok()) << signed_envelope.status();
  auto p256 = security::GenerateEcP256KeyPair();
  ASSERT_TRUE(p256.ok());
  auto signer = security::CreateSigner(security::SignatureAlgorithm::kEcdsaP256Sha256, p256->private_key_pem,
                                       signed_envelope->signature().key_id());
  ASSERT_TRUE(signer.ok()) << signer.status();
  auto sig = (*signer)->Sign(signed_envelope->envelope());
  ASSERT_TRUE(sig.ok());
  signed_envelope->mutable_signature()->set_algorithm(v1::ECDSA_P256_SHA256);
  signed_envelope->mutable_signature()->set_value(*sig);
  const uint64_t audit_before = gateway_.AuditSize();

  grpc::Status st = SubmitRaw(*epb, *signed_envelope);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  EXPECT_NE(st.error_message().find("not allowed by the GM profile; use SM2_SM3"), std::string::npos) << st.error_message();
  auto records = gateway_.AuditRecordsFrom(audit_before);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].outcome(), v1::AuditRecord::REFUSED);
  EXPECT_FALSE(epb->GetCase("G-2").ok());
}

TEST_F(GmProfileTest, Sm2LabelledSignatureByAnotherKeyDoesNotVerify) {
  auto epb = gateway_.Client("510100.epb");
  auto signed_envelope = gateway_.Sign(*epb, TransferEnvelope("G-3"));
  ASSERT_TRUE(signed_envelope.ok()) << signed_envelope.status();
  auto other = security::GenerateSm2KeyPair();
  ASSERT_TRUE(other.ok());
  auto signer = security::CreateSigner(security::SignatureAlgorithm::kSm2Sm3, other->private_key_pem,
                                       signed_envelope->signature().key_id());
  ASSERT_TRUE(signer.ok()) << signer.status();
  auto sig = (*signer)->Sign(signed_envelope->envelope());
  ASSERT_TRUE(sig.ok());
  signed_envelope->mutable_signature()->set_value(*sig);
  ASSERT_EQ(signed_envelope->signature().algorithm(), v1::SM2_SM3);

  grpc::Status st = SubmitRaw(*epb, *signed_envelope);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << st.error_message();
  EXPECT_NE(st.error_message().find("does not verify with key"), std::string::npos) << st.error_message();
  EXPECT_FALSE(epb->GetCase("G-3").ok());
}

// A registry of the other family is refused when it is loaded, naming the key.
void ExpectRegistryRefused(const std::string& pki_profile, v1::CryptoProfile gateway_profile, const std::string& message) {
  const std::string dir = testing::MakeTempDir();
  DevPkiOptions pki;
  pki.dir = dir;
  pki.profile = pki_profile;
  ASSERT_TRUE(InitDevPki(pki).ok());
  auto config = LoadGatewayConfig(dir + "/gateway.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  auto registry = LoadRegistryFile(config->registry_file());
  ASSERT_TRUE(registry.ok()) << registry.status();
  auto loaded = AgencyRegistry::Create(*registry, Slurp(dir + "/ca/ca.crt"), absl::Now(), gateway_profile);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(loaded.status().message().find(message), std::string::npos) << loaded.status();
  // The same registry loads under its own profile.
  EXPECT_TRUE(AgencyRegistry::Create(*registry, Slurp(dir + "/ca/ca.crt"), absl::Now(),
                                     pki_profile == "GM" ? v1::GM : v1::INTL)
                  .ok());
  std::filesystem::remove_all(dir);
}

TEST(GmProfileRegistryTest, EcdsaAgencyKeyIsRefusedUnderGm) {
  ExpectRegistryRefused("INTL", v1::GM, "is for ECDSA_P256_SHA256, which the GM profile does not allow");
}

TEST(GmProfileRegistryTest, Sm2AgencyKeyIsRefusedUnderIntl) {
  ExpectRegistryRefused("GM", v1::INTL, "is for SM2_SM3, which the INTL profile does not allow");
}

TEST(GmProfileRegistryTest, GatewayWithAnEcdsaKeyDoesNotStartUnderGm) {
  const std::string dir = testing::MakeTempDir();
  DevPkiOptions pki;
  pki.dir = dir;
  pki.listen_address = "127.0.0.1:0";
  pki.profile = "GM";
  ASSERT_TRUE(InitDevPki(pki).ok());
  auto config = LoadGatewayConfig(dir + "/gateway.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->profile(), v1::GM);
  // Swap in a P-256 gateway signing key.
  auto p256 = security::GenerateEcP256KeyPair();
  ASSERT_TRUE(p256.ok());
  std::ofstream(config->gateway_signing_key().private_key_file(), std::ios::trunc) << p256->private_key_pem;
  auto server = GatewayServer::Start(*config, nullptr);
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.status().message().find("which the GM profile does not allow"), std::string::npos) << server.status();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace caselink
