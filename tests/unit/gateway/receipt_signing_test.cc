// Receipts signed off the store's writer: the pool's signatures verify, and a
// group of submissions (with a retry of one of them in the same group) gets
// receipts signed by the pool, stored with their envelopes and identical on retry,
// also when the store runs the group a second time.
#include "gateway/receipt_signing_pool.h"

#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "adapters/store/sqlite_store.h"
#include "gateway/config.h"
#include "gateway/gateway_keyring.h"
#include "gateway/submission_pipeline.h"
#include "security/certificate.h"
#include "security/ecdsa_p256.h"
#include "security/signer_factory.h"
#include "tests/support/test_gateway.h"
#include "tools/client/agency_client.h"
#include "tools/devpki/dev_pki.h"

namespace caselink {
namespace {

class ReceiptSigningTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto setup = testing::MakeDevPkiSetup();
    ASSERT_TRUE(setup.ok()) << setup.status();
    dir_ = setup->dir;
    config_ = setup->config;
    registry_ = std::move(setup->registry);
    auto keyring = GatewayKeyring::Create(config_);
    ASSERT_TRUE(keyring.ok()) << keyring.status();
    keyring_ = std::move(*keyring);
    auto certificate = security::Certificate::FromPem(keyring_->Current()->certificate_pem);
    ASSERT_TRUE(certificate.ok()) << certificate.status();
    auto verifier = security::CreateVerifierFromCertificate(**certificate);
    ASSERT_TRUE(verifier.ok()) << verifier.status();
    verifier_ = std::move(*verifier);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A pipeline on a real store and blob store whose receipts go through a
  // pool of two signers, and the EPB to sign envelopes for it.
  struct PoolPipeline {
    // Before the store, so it outlives the store's last answers: they notify it.
    DeliveryHub hub;
    std::unique_ptr<SqliteStore> store;
    std::unique_ptr<BlobStore> blobs;
    SystemClock clock;
    ReceiptSigningPool pool{2};
    std::unique_ptr<SubmissionPipeline> pipeline;
    std::unique_ptr<AgencyClient> epb;
    Caller caller;

    v1::SignedEnvelope SignedTransfer(const std::string& case_id) {
      auto signed_envelope = epb->Sign(testing::TransferEnvelope(case_id));
      EXPECT_TRUE(signed_envelope.ok()) << signed_envelope.status();
      return signed_envelope.ok() ? *signed_envelope : v1::SignedEnvelope();
    }
  };
  std::unique_ptr<PoolPipeline> MakePoolPipeline() {
    auto p = std::make_unique<PoolPipeline>();
    SqliteStoreOptions store_options;
    store_options.data_dir = dir_ + "/data";
    auto store = SqliteStore::Open(store_options);
    EXPECT_TRUE(store.ok()) << store.status();
    auto blobs = OpenFileBlobStore(dir_ + "/blobs");
    EXPECT_TRUE(blobs.ok()) << blobs.status();
    auto identity = LoadAgencyIdentity(dir_, "510100.epb");
    EXPECT_TRUE(identity.ok()) << identity.status();
    if (!store.ok() || !blobs.ok() || !identity.ok()) return nullptr;
    p->store = std::move(*store);
    p->blobs = std::move(*blobs);
    EXPECT_TRUE(testing::SeedStandardDocuments(*p->blobs).ok());
    PipelineDeps deps{*p->store, *registry_, *keyring_, p->clock, *p->blobs, p->hub, config_};
    deps.keyring = keyring_.get();
    deps.receipt_signing = &p->pool;
    p->pipeline = std::make_unique<SubmissionPipeline>(deps);
    auto epb = AgencyClient::Create(*identity, "127.0.0.1:1");
    EXPECT_TRUE(epb.ok()) << epb.status();
    if (!epb.ok()) return nullptr;
    p->epb = std::move(*epb);
    p->caller.agency = registry_->Find("510100.epb");
    p->caller.certificate_sha256 = "test";
    return p;
  }

  std::string dir_;
  v1::GatewayConfig config_;
  std::unique_ptr<AgencyRegistry> registry_;
  std::unique_ptr<GatewayKeyring> keyring_;
  std::unique_ptr<security::Verifier> verifier_;
};

std::shared_ptr<const security::Signer> SignerOf(const std::shared_ptr<const GatewaySigningKey>& key) {
  return std::shared_ptr<const security::Signer>(key, key->signer.get());
}

TEST_F(ReceiptSigningTest, PoolSignaturesFromManyThreadsVerifyAndTamperedDataFails) {
  ReceiptSigningPool pool(2);
  std::vector<std::pair<std::string, ReceiptSigningPool::Signature>> pending;
  std::mutex mu;
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        std::string data = absl::StrCat("receipt ", t, "-", i);
        ReceiptSigningPool::Signature signature = pool.Sign(SignerOf(keyring_->Current()), data);
        std::lock_guard<std::mutex> lock(mu);
        pending.emplace_back(std::move(data), std::move(signature));
      }
    });
  }
  for (auto& c : callers) c.join();
  ASSERT_EQ(pending.size(), 100u);
  for (auto& [data, signature] : pending) {
    const absl::StatusOr<std::string>& value = pool.Collect(signature);
    ASSERT_TRUE(value.ok()) << value.status();
    EXPECT_TRUE(verifier_->Verify(*value, data).ok()) << data;
    EXPECT_FALSE(verifier_->Verify(*value, data + "x").ok()) << data;
  }
  EXPECT_EQ(pool.signed_count(), 100u);
}

// Below a batch nothing wakes the threads but Collect: the writer pays one
// wake-up per batch instead of one per receipt.
TEST_F(ReceiptSigningTest, AFullBatchIsSignedUncollectedAndASmallerOneWhenCollected) {
  ReceiptSigningPool pool(2, /*wake_batch=*/8);
  std::vector<ReceiptSigningPool::Signature> batch;
  for (int i = 0; i < 8; ++i) batch.push_back(pool.Sign(SignerOf(keyring_->Current()), absl::StrCat("b", i)));
  for (auto& signature : batch) {
    ASSERT_EQ(signature.wait_for(std::chrono::seconds(30)), std::future_status::ready);
    EXPECT_TRUE(signature.get().ok());
  }
  // Not for synchronisation: it gives the threads time to fall asleep, so
  // that a Collect that did not wake them would hang this test (and fail it
  // at ctest's timeout) instead of passing by luck.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::vector<ReceiptSigningPool::Signature> signatures;
  for (int i = 0; i < 3; ++i) signatures.push_back(pool.Sign(SignerOf(keyring_->Current()), absl::StrCat("q", i)));
  for (int i = 0; i < 3; ++i) {
    const absl::StatusOr<std::string>& value = pool.Collect(signatures[i]);
    ASSERT_TRUE(value.ok()) << value.status();
    EXPECT_TRUE(verifier_->Verify(*value, absl::StrCat("q", i)).ok()) << i;
  }
}

// Signs with `inner`, noting the thread of each signature; data "hold" waits
// until Release(), keeping a pool thread busy.
class RecordingSigner : public security::Signer {
 public:
  explicit RecordingSigner(std::shared_ptr<const security::Signer> inner) : inner_(std::move(inner)) {}
  absl::StatusOr<std::string> Sign(absl::string_view data) const override {
    if (data == "hold") {
      held_.set_value();
      release_.get_future().wait();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      thread_of_[std::string(data)] = std::this_thread::get_id();
    }
    return inner_->Sign(data);
  }
  security::SignatureAlgorithm algorithm() const override { return inner_->algorithm(); }
  const std::string& key_id() const override { return inner_->key_id(); }
  void WaitUntilHeld() const { held_.get_future().wait(); }
  void Release() const { release_.set_value(); }
  std::thread::id ThreadOf(const std::string& data) const {
    std::lock_guard<std::mutex> lock(mu_);
    return thread_of_.at(data);
  }

 private:
  std::shared_ptr<const security::Signer> inner_;
  mutable std::promise<void> held_;
  mutable std::promise<void> release_;
  mutable std::mutex mu_;
  mutable std::map<std::string, std::thread::id> thread_of_;
};

TEST_F(ReceiptSigningTest, CollectSignsFromTheQueueItselfWhileThePoolIsBusy) {
  auto signer = std::make_shared<RecordingSigner>(SignerOf(keyring_->Current()));
  ReceiptSigningPool pool(1, /*wake_batch=*/1);
  ReceiptSigningPool::Signature held = pool.Sign(signer, "hold");
  signer->WaitUntilHeld();
  // The pool's only thread is busy: a Collect that only waited would never return.
  std::vector<ReceiptSigningPool::Signature> queued;
  for (int i = 0; i < 3; ++i) queued.push_back(pool.Sign(signer, absl::StrCat("c", i)));
  std::future<bool> collected = std::async(std::launch::async, [&] {
    for (int i = 0; i < 3; ++i) {
      const absl::StatusOr<std::string>& value = pool.Collect(queued[i]);
      if (!value.ok() || !verifier_->Verify(*value, absl::StrCat("c", i)).ok()) return false;
      if (signer->ThreadOf(absl::StrCat("c", i)) != std::this_thread::get_id()) return false;
    }
    return true;
  });
  const bool in_time = collected.wait_for(std::chrono::seconds(30)) == std::future_status::ready;
  signer->Release();
  ASSERT_TRUE(in_time) << "Collect waited for the busy pool instead of signing";
  EXPECT_TRUE(collected.get()) << "a collected signature does not verify or was not signed by the collector";
  ASSERT_TRUE(pool.Collect(held).ok());
  EXPECT_EQ(pool.signed_count(), 4u);
}

TEST_F(ReceiptSigningTest, DestroyingThePoolSignsWhatWasQueued) {
  std::vector<ReceiptSigningPool::Signature> signatures;
  {
    ReceiptSigningPool pool(1);
    for (int i = 0; i < 50; ++i) signatures.push_back(pool.Sign(SignerOf(keyring_->Current()), absl::StrCat("r", i)));
  }
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(signatures[i].wait_for(std::chrono::seconds(0)), std::future_status::ready) << i;
    ASSERT_TRUE(signatures[i].get().ok());
    EXPECT_TRUE(verifier_->Verify(*signatures[i].get(), absl::StrCat("r", i)).ok()) << i;
  }
}

// Holds the store's writer inside a work until released, so everything
// submitted meanwhile commits as one group. The work holds only what it
// shares with this object: the writer may still be leaving it when the
// object is gone.
class WriterHold {
 public:
  explicit WriterHold(Store& store) {
    auto entered = std::make_shared<std::promise<void>>();
    std::future<void> entered_future = entered->get_future();
    store.Write(
        [entered, released = released_](StoreTransaction&) {
          entered->set_value();
          released.wait();
          return absl::OkStatus();
        },
        [](absl::Status) {});
    entered_future.wait();
  }
  void Release() { release_.set_value(); }

 private:
  std::promise<void> release_;
  std::shared_future<void> released_ = release_.get_future().share();
};

TEST_F(ReceiptSigningTest, OneGroupWithARetryGetsPoolSignedReceiptsStoredWithTheirEnvelopes) {
  std::unique_ptr<PoolPipeline> p = MakePoolPipeline();
  ASSERT_NE(p, nullptr);
  std::vector<v1::SignedEnvelope> envelopes = {p->SignedTransfer("S-1"), p->SignedTransfer("S-2")};
  // S-1, S-2, then S-1 again: all three in one group.
  std::vector<std::promise<absl::StatusOr<v1::SubmitResponse>>> results(3);
  WriterHold hold(*p->store);
  for (int i = 0; i < 3; ++i) {
    p->pipeline->Submit(p->caller, envelopes[i == 2 ? 0 : i],
                        [&results, i](absl::StatusOr<v1::SubmitResponse> r) { results[i].set_value(std::move(r)); });
  }
  hold.Release();
  std::vector<v1::SubmitResponse> responses;
  for (auto& result : results) {
    absl::StatusOr<v1::SubmitResponse> r = result.get_future().get();
    ASSERT_TRUE(r.ok()) << r.status();
    responses.push_back(*r);
  }

  EXPECT_FALSE(responses[0].duplicate());
  EXPECT_FALSE(responses[1].duplicate());
  EXPECT_TRUE(responses[2].duplicate());
  EXPECT_EQ(responses[2].receipt().SerializeAsString(), responses[0].receipt().SerializeAsString());
  EXPECT_EQ(p->pool.signed_count(), 2u);  // the originals; the retry reuses the first
  for (int i = 0; i < 2; ++i) {
    const v1::SignedSubmissionReceipt& receipt = responses[i].receipt();
    EXPECT_EQ(receipt.signature().key_id(), keyring_->key_id());
    EXPECT_TRUE(verifier_->Verify(receipt.signature().value(), receipt.receipt()).ok()) << i;
  }
  // The stored rows carry the same signed receipts the callers got.
  for (int i = 0; i < 2; ++i) {
    v1::Envelope e;
    ASSERT_TRUE(e.ParseFromString(envelopes[i].envelope()));
    auto stored = p->store->ReadEnvelope(e.envelope_id());
    ASSERT_TRUE(stored.ok() && stored->has_value()) << e.envelope_id();
    EXPECT_EQ((*stored)->signed_receipt, responses[i].receipt().SerializeAsString()) << e.envelope_id();
  }
  p->store->Shutdown();
}

// A work that fails after it wrote makes the store roll its group back and
// run it again, each work in a savepoint: the submissions that ran before it
// must come out of the second run whole (receipts, deliveries, audit records),
// not half-remembered from the first.
TEST_F(ReceiptSigningTest, SubmissionsInAGroupRunAgainComeOutWhole) {
  std::unique_ptr<PoolPipeline> p = MakePoolPipeline();
  ASSERT_NE(p, nullptr);
  SqliteStore& store = *p->store;
  auto audit_before = store.ReadAuditSize();
  ASSERT_TRUE(audit_before.ok()) << audit_before.status();
  std::vector<v1::SignedEnvelope> envelopes = {p->SignedTransfer("R-1"), p->SignedTransfer("R-2")};

  std::vector<std::promise<absl::StatusOr<v1::SubmitResponse>>> results(2);
  std::promise<absl::Status> failed;
  {
    WriterHold hold(store);
    for (int i = 0; i < 2; ++i) {
      p->pipeline->Submit(p->caller, envelopes[i],
                          [&results, i](absl::StatusOr<v1::SubmitResponse> r) { results[i].set_value(std::move(r)); });
    }
    // Last in the group: writes a case, then fails.
    store.Write(
        [](StoreTransaction& txn) -> absl::Status {
          v1::Case c;
          c.set_case_id("written-then-failed");
          if (absl::Status s = txn.PutCase(c); !s.ok()) return s;
          return absl::InternalError("fails after writing");
        },
        [&failed](absl::Status st) { failed.set_value(st); });
    hold.Release();
  }
  EXPECT_EQ(failed.get_future().get().message(), "fails after writing");
  EXPECT_EQ(store.RerunCount(), 1u);

  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<v1::SubmitResponse> r = results[i].get_future().get();
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_FALSE(r->duplicate());
    EXPECT_TRUE(verifier_->Verify(r->receipt().signature().value(), r->receipt().receipt()).ok()) << i;
    v1::Envelope e;
    ASSERT_TRUE(e.ParseFromString(envelopes[i].envelope()));
    auto stored = store.ReadEnvelope(e.envelope_id());
    ASSERT_TRUE(stored.ok() && stored->has_value()) << e.envelope_id();
    EXPECT_EQ((*stored)->signed_receipt, r->receipt().SerializeAsString()) << e.envelope_id();
    v1::SubmissionReceipt receipt;
    ASSERT_TRUE(receipt.ParseFromString(r->receipt().receipt()));
    EXPECT_EQ(receipt.audit_index(), *audit_before + i) << "each submission audited once, in order";
  }
  auto audit_after = store.ReadAuditSize();
  ASSERT_TRUE(audit_after.ok()) << audit_after.status();
  EXPECT_EQ(*audit_after, *audit_before + 2);
  auto failed_case = store.ReadCase("written-then-failed");
  ASSERT_TRUE(failed_case.ok()) << failed_case.status();
  EXPECT_FALSE(failed_case->has_value());
  // Each transfer is delivered to the addressee once.
  auto pending = store.ReadPendingDeliveries("510100.psb", 0, 100);
  ASSERT_TRUE(pending.ok()) << pending.status();
  std::vector<std::string> delivered;
  for (const auto& d : *pending) delivered.push_back(d.case_id());
  EXPECT_EQ(delivered, (std::vector<std::string>{"R-1", "R-2"}));
  store.Shutdown();
}

}  // namespace
}  // namespace caselink
