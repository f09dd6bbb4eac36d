// A submission pipeline on a real SQLite store, blob store and registry (dev
// PKI with regions 510100 and 510104), the shipped holiday calendar and a
// ManualClock at ScenarioStart(); agencies sign their envelopes here.
#pragma once

#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <string>

#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include "gateway/config.h"
#include "gateway/deadline_engine.h"
#include "gateway/deadlines/holiday_calendar.h"
#include "gateway/submission_pipeline.h"
#include "security/ecdsa_p256.h"
#include "tests/support/test_gateway.h"
#include "tools/client/agency_client.h"
#include "tools/devpki/dev_pki.h"

namespace caselink::testing {

class PipelineFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    DevPkiOptions options;
    options.additional_regions = {"510104"};
    options.not_before = std::min(absl::Now(), ScenarioStart()) - absl::Hours(24);
    // Three years ahead: a test moves the clock to the end of the holiday calendar's last year,
    // which is more than a year away once the next year's notice is in.
    options.validity = absl::Now() - options.not_before + absl::Hours(24 * 365 * 3);
    auto setup = MakeDevPkiSetup(options, clock_.Now());
    ASSERT_TRUE(setup.ok()) << setup.status();
    dir_ = setup->dir;
    config_ = setup->config;
    registry_ = std::move(setup->registry);
    signer_ = std::move(*security::EcdsaP256Signer::Create(
        *ReadFileToString(config_.gateway_signing_key().private_key_file()), "gateway/signing-1"));
    blobs_ = std::move(*OpenFileBlobStore(dir_ + "/blobs"));
    ASSERT_TRUE(SeedStandardDocuments(*blobs_).ok());
    SqliteStoreOptions store_options;
    store_options.data_dir = dir_ + "/data";
    store_options.durable = false;  // nothing here survives a crash on purpose
    store_ = std::move(*OpenSqliteStore(store_options));
    auto calendar = deadlines::HolidayCalendar::LoadFromFile(config_.holiday_calendar_file());
    ASSERT_TRUE(calendar.ok()) << calendar.status();
    calendar_ = std::move(*calendar);
    DeadlineEngine::Options engine_options;
    engine_options.run_thread = false;
    engine_ = std::make_unique<DeadlineEngine>(
        DeadlineEngineDeps{*store_, *registry_, clock_, hub_,
                           [this](StoreTransaction& txn, v1::AuditRecord r) { return pipeline_->AppendAudit(txn, std::move(r)); }},
        engine_options);
    pipeline_ = std::make_unique<SubmissionPipeline>(
        PipelineDeps{*store_, *registry_, *signer_, clock_, *blobs_, hub_, config_, calendar_.get(), engine_.get()});
  }

  void TearDown() override {
    engine_->Stop();
    store_->Shutdown();
    std::filesystem::remove_all(dir_);
  }

  AgencyClient& Signer(const std::string& agency) {
    auto& client = clients_[agency];
    if (client == nullptr) {
      auto identity = LoadAgencyIdentity(dir_, agency);
      EXPECT_TRUE(identity.ok()) << identity.status();
      client = std::move(*AgencyClient::Create(*identity, "127.0.0.1:1"));
    }
    return *client;
  }

  // Signs `e` as `agency` at the clock's time and runs it through the pipeline.
  absl::StatusOr<v1::SubmitResponse> Submit(const std::string& agency, v1::Envelope e) {
    *e.mutable_created_at() = google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(clock_.Now()));
    auto signed_envelope = Signer(agency).Sign(e);
    if (!signed_envelope.ok()) return signed_envelope.status();
    Caller caller;
    caller.agency = registry_->Find(agency);
    caller.certificate_sha256 = "test";
    std::promise<absl::StatusOr<v1::SubmitResponse>> result;
    pipeline_->Submit(caller, *signed_envelope, [&](absl::StatusOr<v1::SubmitResponse> r) { result.set_value(std::move(r)); });
    return result.get_future().get();
  }

  v1::Case ReadCase(const std::string& case_id) {
    auto c = store_->ReadCase(case_id);
    EXPECT_TRUE(c.ok() && c->has_value()) << case_id;
    return c.ok() && c->has_value() ? **c : v1::Case();
  }

  const v1::Deadline* FindDeadline(const v1::Case& c, absl::string_view duty) {
    const v1::Deadline* found = nullptr;
    for (const auto& d : c.deadlines()) {
      if (d.duty() == duty) found = &d;
    }
    return found;
  }

  std::string dir_;
  v1::GatewayConfig config_;
  ManualClock clock_{ScenarioStart()};
  DeliveryHub hub_;
  std::unique_ptr<AgencyRegistry> registry_;
  std::unique_ptr<security::Signer> signer_;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<deadlines::HolidayCalendar> calendar_;
  std::unique_ptr<DeadlineEngine> engine_;
  std::unique_ptr<SubmissionPipeline> pipeline_;
  std::map<std::string, std::unique_ptr<AgencyClient>> clients_;
};

}  // namespace caselink::testing
