// The pipeline against a store that cannot commit: the caller is told to retry
// and nothing is acknowledged; refusals still say what was wrong.
#include "gateway/submission_pipeline.h"

#include <filesystem>
#include <future>

#include <gtest/gtest.h>

#include "gateway/config.h"
#include "security/ecdsa_p256.h"
#include "tests/support/test_gateway.h"
#include "tools/client/agency_client.h"
#include "tools/devpki/dev_pki.h"

namespace caselink {
namespace {

// A store whose every group commit fails, as when the disk is full.
class UncommittableStore : public Store {
 public:
  void Write(Work, Done done) override { done(absl::UnavailableError("disk I/O error")); }
  absl::StatusOr<std::optional<v1::Case>> ReadCase(std::string_view) override { return std::nullopt; }
  absl::StatusOr<std::vector<v1::TimelineEvent>> ReadTimeline(std::string_view) override { return std::vector<v1::TimelineEvent>{}; }
  absl::StatusOr<std::vector<v1::Case>> ListCases(const CaseFilter&) override { return std::vector<v1::Case>{}; }
  absl::StatusOr<bool> CaseHasDocument(std::string_view, std::string_view) override { return false; }
  absl::StatusOr<std::optional<StoredEnvelope>> ReadEnvelope(std::string_view) override { return std::nullopt; }
  absl::StatusOr<std::vector<v1::Delivery>> ReadPendingDeliveries(std::string_view, uint64_t, uint32_t) override {
    return std::vector<v1::Delivery>{};
  }
  absl::StatusOr<uint64_t> ReadAcknowledgedThrough(std::string_view) override { return 0; }
  absl::StatusOr<std::vector<v1::AuditEntry>> ReadAuditEntries(uint64_t, uint32_t) override {
    return std::vector<v1::AuditEntry>{};
  }
  absl::StatusOr<uint64_t> ReadAuditSize() override { return 0; }
  absl::StatusOr<std::string> ReadMerkleNode(uint32_t, uint64_t) override {
    return absl::NotFoundError("no Merkle nodes");
  }
  absl::StatusOr<std::vector<v1::AuditEntry>> QueryAudit(const AuditFilter&) override {
    return std::vector<v1::AuditEntry>{};
  }
  absl::StatusOr<std::optional<std::string>> ReadTreeHead(uint64_t) override { return std::nullopt; }
  absl::StatusOr<std::optional<std::string>> ReadLatestTreeHead() override { return std::nullopt; }
  void Shutdown() override {}
};

class PipelineWithFailingStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto setup = testing::MakeDevPkiSetup();
    ASSERT_TRUE(setup.ok()) << setup.status();
    dir_ = setup->dir;
    config_ = setup->config;
    registry_ = std::move(setup->registry);
    signer_ = std::move(*security::EcdsaP256Signer::Create(*ReadFileToString(config_.gateway_signing_key().private_key_file()),
                                                           "gateway/signing-1"));
    blobs_ = std::move(*OpenFileBlobStore(dir_ + "/blobs"));
    pipeline_ = std::make_unique<SubmissionPipeline>(PipelineDeps{store_, *registry_, *signer_, clock_, *blobs_, hub_, config_});
    auto identity = LoadAgencyIdentity(dir_, "510100.epb");
    epb_ = std::move(*AgencyClient::Create(*identity, "127.0.0.1:1"));
    caller_.agency = registry_->Find("510100.epb");
    caller_.certificate_sha256 = "test";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  absl::StatusOr<v1::SubmitResponse> SubmitAndWait(const v1::SignedEnvelope& envelope) {
    std::promise<absl::StatusOr<v1::SubmitResponse>> result;
    pipeline_->Submit(caller_, envelope, [&](absl::StatusOr<v1::SubmitResponse> r) { result.set_value(std::move(r)); });
    return result.get_future().get();
  }

  std::string dir_;
  v1::GatewayConfig config_;
  UncommittableStore store_;
  SystemClock clock_;
  DeliveryHub hub_;
  std::unique_ptr<AgencyRegistry> registry_;
  std::unique_ptr<security::Signer> signer_;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<SubmissionPipeline> pipeline_;
  std::unique_ptr<AgencyClient> epb_;
  Caller caller_;
};

TEST_F(PipelineWithFailingStoreTest, ValidSubmissionIsNotAcknowledgedWhenTheCommitFails) {
  // The documents' blobs are not stored here; the commit is what fails.
  v1::Envelope transfer = testing::TransferEnvelope("S-1");
  transfer.clear_documents();
  auto envelope = epb_->Sign(transfer);
  ASSERT_TRUE(envelope.ok());
  auto result = SubmitAndWait(*envelope);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(result.status().message().find("nothing was recorded, retry"), std::string::npos) << result.status();
}

TEST_F(PipelineWithFailingStoreTest, RefusalStillNamesWhatWasWrong) {
  auto envelope = epb_->Sign(testing::TransferEnvelope("S-2"));
  ASSERT_TRUE(envelope.ok());
  envelope->mutable_signature()->mutable_value()->back() ^= 0x01;
  auto result = SubmitAndWait(*envelope);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated) << result.status();
}

}  // namespace
}  // namespace caselink
