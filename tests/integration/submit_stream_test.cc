// SubmitStream through a real TLS gateway: every envelope answered by its
// position, refusals answered and audited while the stream goes on, a window
// smaller than the stream, a caller that is not registered, a caller that
// goes away with envelopes in flight, and the answers of one group commit
// sent in one message.
#include <atomic>
#include <future>
#include <memory>
#include <set>

#include <gtest/gtest.h>

#include "gateway/config.h"
#include "security/certificate.h"
#include "tests/support/forwarding_store.h"
#include "tests/support/test_gateway.h"

namespace caselink {
namespace {

using testing::TestGateway;
using testing::TransferEnvelope;

// The gateway's store, counting the works queued for its writer.
class CountingStore final : public testing::ForwardingStore {
 public:
  CountingStore(std::unique_ptr<Store> inner, std::shared_ptr<std::atomic<int>> writes)
      : ForwardingStore(std::move(inner)), writes_(std::move(writes)) {}

  void Write(Work work, Done done) override {
    writes_->fetch_add(1);
    ForwardingStore::Write(std::move(work), std::move(done));
  }

 private:
  std::shared_ptr<std::atomic<int>> writes_;
};

class SubmitStreamTest : public ::testing::Test {
 protected:
  explicit SubmitStreamTest(size_t window = 0)
      : writes_(std::make_shared<std::atomic<int>>(0)),
        gateway_(testing::MakeTempDir(),
                 {.clock = std::make_shared<ManualClock>(testing::ScenarioStart()),
                  .server = {.decorate_store = [writes = writes_](std::unique_ptr<Store> store) -> std::unique_ptr<Store> {
                               return std::make_unique<CountingStore>(std::move(store), writes);
                             },
                             .submit_stream_window = window}}) {}

  // Transfers of cases `prefix`0 .. `prefix`(count-1), signed by the EPB.
  std::vector<v1::SignedEnvelope> Transfers(AgencyClient& epb, const std::string& prefix, int count) {
    std::vector<v1::SignedEnvelope> out;
    for (int i = 0; i < count; ++i) {
      auto signed_envelope = gateway_.Sign(epb, TransferEnvelope(prefix + std::to_string(i)));
      EXPECT_TRUE(signed_envelope.ok()) << signed_envelope.status();
      if (signed_envelope.ok()) out.push_back(*std::move(signed_envelope));
    }
    return out;
  }

  // The receipt in `answer`, checked against the gateway's signing certificate.
  v1::SubmissionReceipt VerifiedReceipt(const v1::SubmitStreamAnswer& answer) {
    const v1::SignedSubmissionReceipt& signed_receipt = answer.response().receipt();
    auto pem = ReadFileToString(gateway_.pki_dir() + "/gateway/signing.crt");
    EXPECT_TRUE(pem.ok());
    auto cert = security::Certificate::FromPem(*pem);
    EXPECT_TRUE(cert.ok());
    auto verifier = (*cert)->PublicKeyVerifier();
    EXPECT_TRUE(verifier.ok());
    EXPECT_TRUE((*verifier)->Verify(signed_receipt.signature().value(), signed_receipt.receipt()).ok());
    v1::SubmissionReceipt receipt;
    EXPECT_TRUE(receipt.ParseFromString(signed_receipt.receipt()));
    return receipt;
  }

  static std::string EnvelopeId(const v1::SignedEnvelope& signed_envelope) {
    v1::Envelope envelope;
    EXPECT_TRUE(envelope.ParseFromString(signed_envelope.envelope()));
    return envelope.envelope_id();
  }

  bool CaseExists(const std::string& case_id) {
    auto c = gateway_.store().ReadCase(case_id);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() && c->has_value();
  }

  std::shared_ptr<std::atomic<int>> writes_;  // works queued for the store's writer
  TestGateway gateway_;
};

TEST_F(SubmitStreamTest, EveryEnvelopeIsAnsweredByItsPositionWithAReceiptForIt) {
  auto epb = gateway_.Client("510100.epb");
  const std::vector<v1::SignedEnvelope> envelopes = Transfers(*epb, "S-", 50);
  ASSERT_EQ(envelopes.size(), 50u);
  const uint64_t audit_before = gateway_.AuditSize();

  auto answers = epb->SubmitStream(envelopes, /*per_message=*/7);
  ASSERT_TRUE(answers.ok()) << answers.status();
  ASSERT_EQ(answers->size(), envelopes.size());
  std::set<uint64_t> audit_indices;
  for (size_t i = 0; i < envelopes.size(); ++i) {
    const v1::SubmitStreamAnswer& answer = (*answers)[i];
    ASSERT_EQ(answer.code(), 0) << i << ": " << answer.message();
    EXPECT_EQ(answer.index(), i);
    EXPECT_FALSE(answer.response().duplicate());
    const v1::SubmissionReceipt receipt = VerifiedReceipt(answer);
    EXPECT_EQ(receipt.envelope_id(), EnvelopeId(envelopes[i]));
    EXPECT_EQ(receipt.case_id(), "S-" + std::to_string(i));
    EXPECT_EQ(receipt.resulting_state(), v1::TRANSFERRED);
    audit_indices.insert(receipt.audit_index());
    // Answered only once durable: the case is there when the answer is.
    EXPECT_TRUE(CaseExists(receipt.case_id()));
  }
  EXPECT_EQ(audit_indices.size(), envelopes.size());
  EXPECT_GE(*audit_indices.begin(), audit_before);
}

TEST_F(SubmitStreamTest, ARefusedEnvelopeIsAnsweredWithItsRefusalAuditedAndTheStreamGoesOn) {
  auto epb = gateway_.Client("510100.epb");
  std::vector<v1::SignedEnvelope> envelopes = Transfers(*epb, "R-", 2);
  ASSERT_EQ(envelopes.size(), 2u);
  v1::SignedEnvelope flipped = envelopes[1];
  std::string* sig = flipped.mutable_signature()->mutable_value();
  (*sig)[sig->size() / 2] ^= 0x01;
  auto receipt_by_epb = gateway_.Sign(*epb, testing::ActionEnvelope("R-0", "receipt"));
  ASSERT_TRUE(receipt_by_epb.ok());
  const std::vector<v1::SignedEnvelope> stream = {envelopes[0], flipped, envelopes[0], *receipt_by_epb, envelopes[1]};
  const uint64_t audit_before = gateway_.AuditSize();

  auto answers = epb->SubmitStream(stream, /*per_message=*/2);
  ASSERT_TRUE(answers.ok()) << answers.status();
  const auto& a = *answers;
  EXPECT_EQ(a[0].code(), 0) << a[0].message();
  EXPECT_EQ(a[1].code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(a[1].message().find("does not verify"), std::string::npos) << a[1].message();
  // The same envelope again on the same stream: the original receipt.
  EXPECT_EQ(a[2].code(), 0) << a[2].message();
  EXPECT_TRUE(a[2].response().duplicate());
  EXPECT_EQ(a[2].response().receipt().SerializeAsString(), a[0].response().receipt().SerializeAsString());
  EXPECT_EQ(a[3].code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(a[3].message().find("must be taken by the addressee public security bureau"), std::string::npos)
      << a[3].message();
  // The refused envelope's case, sent properly after the refusals, is accepted.
  EXPECT_EQ(a[4].code(), 0) << a[4].message();
  EXPECT_TRUE(CaseExists("R-1"));

  // Each refusal is in the audit log with the reason the caller was given.
  std::vector<std::string> refusal_reasons;
  for (const v1::AuditRecord& r : gateway_.AuditRecordsFrom(audit_before)) {
    if (r.outcome() != v1::AuditRecord::REFUSED) continue;
    EXPECT_EQ(r.actor_agency(), "510100.epb");
    refusal_reasons.push_back(r.reason());
  }
  EXPECT_EQ(refusal_reasons, (std::vector<std::string>{a[1].message(), a[3].message()}));
}

TEST_F(SubmitStreamTest, AnUnregisteredCertificateHasEachEnvelopeRefusedAndAudited) {
  auto client = AgencyClient::Create(testing::ForeignIdentity(gateway_.pki_dir(), "510100.epb", true), gateway_.target());
  ASSERT_TRUE(client.ok()) << client.status();
  std::vector<v1::SignedEnvelope> envelopes;
  for (int i = 0; i < 3; ++i) {
    auto signed_envelope = gateway_.Sign(**client, TransferEnvelope("U-" + std::to_string(i)));
    ASSERT_TRUE(signed_envelope.ok());
    envelopes.push_back(*signed_envelope);
  }
  const uint64_t audit_before = gateway_.AuditSize();

  auto answers = (*client)->SubmitStream(envelopes);
  ASSERT_TRUE(answers.ok()) << answers.status();
  for (const v1::SubmitStreamAnswer& answer : *answers) {
    EXPECT_EQ(answer.code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_NE(answer.message().find("not bound to any agency"), std::string::npos) << answer.message();
  }
  const auto records = gateway_.AuditRecordsFrom(audit_before);
  ASSERT_EQ(records.size(), 3u);
  for (const v1::AuditRecord& r : records) {
    EXPECT_EQ(r.outcome(), v1::AuditRecord::REFUSED);
    EXPECT_EQ(r.action(), "SubmitStream");
    EXPECT_EQ(r.actor_certificate_sha256().size(), 64u);
  }
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(CaseExists("U-" + std::to_string(i)));
}

TEST_F(SubmitStreamTest, ACallerThatGoesAwayLosesNothingItCanNotGetBack) {
  auto epb = gateway_.Client("510100.epb");
  const std::vector<v1::SignedEnvelope> envelopes = Transfers(*epb, "G-", 30);
  ASSERT_EQ(envelopes.size(), 30u);
  {
    grpc::ClientContext ctx;
    auto stream = epb->cases().SubmitStream(&ctx);
    v1::SubmitStreamRequest request;
    for (const auto& e : envelopes) *request.add_envelopes() = e;
    ASSERT_TRUE(stream->Write(request));
    // Gone before any answer: the gateway finishes what it read and drops the answers.
    ctx.TryCancel();
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  // Sent again, every envelope is answered: accepted now, or its original receipt.
  auto answers = epb->SubmitStream(envelopes);
  ASSERT_TRUE(answers.ok()) << answers.status();
  for (size_t i = 0; i < envelopes.size(); ++i) {
    ASSERT_EQ((*answers)[i].code(), 0) << i << ": " << (*answers)[i].message();
    EXPECT_EQ(VerifiedReceipt((*answers)[i]).envelope_id(), EnvelopeId(envelopes[i]));
    EXPECT_TRUE(CaseExists("G-" + std::to_string(i)));
  }
}

TEST_F(SubmitStreamTest, LargeEnvelopesAreSplitAcrossMessagesWithinTheGatewaysLimit) {
  auto epb = gateway_.Client("510100.epb");
  // Each near the envelope limit: three in one message would pass the
  // gateway's message limit (twice the envelope limit plus 64 KiB).
  std::vector<v1::SignedEnvelope> envelopes;
  for (int i = 0; i < 3; ++i) {
    v1::Envelope e = TransferEnvelope("L-" + std::to_string(i));
    e.set_remarks(std::string(gateway_.config().max_envelope_bytes() * 7 / 10, 'x'));
    auto signed_envelope = gateway_.Sign(*epb, e);
    ASSERT_TRUE(signed_envelope.ok()) << signed_envelope.status();
    envelopes.push_back(*signed_envelope);
  }
  auto answers = epb->SubmitStream(envelopes, /*per_message=*/64);
  ASSERT_TRUE(answers.ok()) << answers.status();
  for (size_t i = 0; i < envelopes.size(); ++i) {
    EXPECT_EQ((*answers)[i].code(), 0) << (*answers)[i].message();
    EXPECT_TRUE(CaseExists("L-" + std::to_string(i)));
  }
}

// A window of 3: the gateway pauses and resumes reading many times in one stream.
TEST_F(SubmitStreamTest, TheAnswersOneGroupCommitHoldsForAStreamGoOutInOneMessage) {
  auto epb = gateway_.Client("510100.epb");
  const std::vector<v1::SignedEnvelope> envelopes = Transfers(*epb, "M-", 10);
  ASSERT_EQ(envelopes.size(), 10u);

  // The writer is held inside a work of its own, so the ten envelopes queue
  // up behind it and make up its next group.
  auto entered = std::make_shared<std::promise<void>>();
  auto release = std::make_shared<std::promise<void>>();
  std::shared_future<void> released = release->get_future().share();
  gateway_.store().Write(
      [entered, released](StoreTransaction&) {
        entered->set_value();
        released.wait();
        return absl::OkStatus();
      },
      [](absl::Status) {});
  entered->get_future().wait();
  const int queued_before = writes_->load();

  grpc::ClientContext ctx;
  auto stream = epb->cases().SubmitStream(&ctx);
  v1::SubmitStreamRequest request;
  for (const auto& e : envelopes) *request.add_envelopes() = e;
  ASSERT_TRUE(stream->Write(request));
  ASSERT_TRUE(stream->WritesDone());
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (writes_->load() < queued_before + 10 && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(5));
  ASSERT_EQ(writes_->load(), queued_before + 10) << "the ten envelopes did not reach the store's queue";
  release->set_value();

  // One message with every answer: the first answer waits for the rest of
  // its group instead of going out alone.
  std::vector<v1::SubmitStreamResponse> messages;
  v1::SubmitStreamResponse response;
  while (stream->Read(&response)) messages.push_back(response);
  ASSERT_TRUE(stream->Finish().ok());
  ASSERT_EQ(messages.size(), 1u);
  ASSERT_EQ(messages[0].answers_size(), 10);
  std::set<uint64_t> indexes;
  for (const v1::SubmitStreamAnswer& answer : messages[0].answers()) {
    ASSERT_EQ(answer.code(), 0) << answer.message();
    ASSERT_LT(answer.index(), envelopes.size());
    EXPECT_EQ(VerifiedReceipt(answer).envelope_id(), EnvelopeId(envelopes[answer.index()]));
    indexes.insert(answer.index());
  }
  EXPECT_EQ(indexes.size(), 10u);
}

class SmallWindowSubmitStreamTest : public SubmitStreamTest {
 protected:
  SmallWindowSubmitStreamTest() : SubmitStreamTest(3) {}
};

TEST_F(SmallWindowSubmitStreamTest, AStreamLongerThanTheWindowIsAnsweredWhole) {
  auto epb = gateway_.Client("510100.epb");
  const std::vector<v1::SignedEnvelope> envelopes = Transfers(*epb, "W-", 40);
  ASSERT_EQ(envelopes.size(), 40u);
  for (size_t per_message : {size_t{1}, size_t{5}}) {
    std::vector<v1::SignedEnvelope> batch(envelopes.begin() + (per_message == 1 ? 0 : 20),
                                          envelopes.begin() + (per_message == 1 ? 20 : 40));
    auto answers = epb->SubmitStream(batch, per_message);
    ASSERT_TRUE(answers.ok()) << answers.status();
    for (size_t i = 0; i < batch.size(); ++i) {
      ASSERT_EQ((*answers)[i].code(), 0) << (*answers)[i].message();
      EXPECT_FALSE((*answers)[i].response().duplicate());
      EXPECT_EQ(VerifiedReceipt((*answers)[i]).envelope_id(), EnvelopeId(batch[i]));
    }
  }
}

}  // namespace
}  // namespace caselink
