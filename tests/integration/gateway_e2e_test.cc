// End-to-end tests through a real gateway: mTLS with certificates made at test
// time, signed envelopes, durable commits, deliveries and receipts.
#include <filesystem>
#include <fstream>
#include <future>

#include <google/protobuf/util/time_util.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include "gateway/config.h"
#include "security/certificate.h"
#include "security/digest.h"
#include "security/pki.h"
#include "tests/support/test_gateway.h"

namespace caselink {
namespace {

using testing::ReadDeliveries;
using testing::TestGateway;
using testing::TransferEnvelope;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

absl::Status VerifyWithCertificate(const std::string& cert_path, const std::string& signature, const std::string& data) {
  auto cert = security::Certificate::FromPem(Slurp(cert_path));
  if (!cert.ok()) return cert.status();
  auto verifier = (*cert)->PublicKeyVerifier();
  if (!verifier.ok()) return verifier.status();
  return (*verifier)->Verify(signature, data);
}

class GatewayE2eTest : public ::testing::Test {
 protected:
  // Gateway time is fixed in 2026 so that deadlines always fall inside the
  // holiday calendar's years; envelopes are signed with that time.
  GatewayE2eTest()
      : gateway_(testing::MakeTempDir(), {.clock = std::make_shared<ManualClock>(testing::ScenarioStart())}) {}

  // Transfers `case_id` from the EPB and returns the response.
  v1::SubmitResponse Transfer(const std::string& case_id) {
    auto epb = gateway_.Client("510100.epb");
    auto resp = gateway_.Submit(*epb, TransferEnvelope(case_id));
    EXPECT_TRUE(resp.ok()) << resp.status();
    return resp.ok() ? *resp : v1::SubmitResponse();
  }

  v1::Case CaseAsSeenBy(const std::string& agency, const std::string& case_id) {
    auto resp = gateway_.Client(agency)->GetCase(case_id);
    EXPECT_TRUE(resp.ok()) << resp.status();
    return resp.ok() ? resp->case_() : v1::Case();
  }

  // Downloads a document of a case as `client`; `bytes` gets what arrived.
  static grpc::Status Download(AgencyClient& client, const v1::Digest& digest, const std::string& case_id,
                               std::string* bytes) {
    grpc::ClientContext ctx;
    v1::DownloadRequest req;
    *req.mutable_digest() = digest;
    req.set_case_id(case_id);
    auto reader = client.documents().Download(&ctx, req);
    bytes->clear();
    v1::DownloadChunk chunk;
    while (reader->Read(&chunk)) *bytes += chunk.data();
    return reader->Finish();
  }

  TestGateway gateway_;
};

TEST_F(GatewayE2eTest, TransferReceiptFilingReachEveryAgencyWithVerifiableSignatures) {
  auto epb = gateway_.Client("510100.epb");
  auto psb = gateway_.Client("510100.psb");
  auto pro = gateway_.Client("510100.pro");

  auto letter = epb->UploadBytes("案件移送书全文", v1::TRANSFER_LETTER, "案件移送书", "text/plain");
  ASSERT_TRUE(letter.ok()) << letter.status();
  EXPECT_EQ(letter->digest().value(), security::Sha256("案件移送书全文"));
  v1::Envelope transfer = TransferEnvelope("C-1");
  transfer.clear_documents();
  *transfer.add_documents() = *letter;
  testing::AddRequiredDocuments(transfer);  // the investigation report and the list of seized items
  auto accepted = gateway_.Submit(*epb, transfer);
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  EXPECT_FALSE(accepted->duplicate());

  // The gateway's receipt is signed by the gateway key and names the outcome.
  const std::string gateway_cert = gateway_.pki_dir() + "/gateway/signing.crt";
  ASSERT_TRUE(VerifyWithCertificate(gateway_cert, accepted->receipt().signature().value(), accepted->receipt().receipt()).ok());
  v1::SubmissionReceipt receipt;
  ASSERT_TRUE(receipt.ParseFromString(accepted->receipt().receipt()));
  EXPECT_EQ(receipt.case_id(), "C-1");
  EXPECT_EQ(receipt.resulting_state(), v1::TRANSFERRED);
  EXPECT_EQ(receipt.tree_size(), receipt.audit_index() + 1);
  EXPECT_EQ(receipt.sender_agency(), "510100.epb");

  // PSB (addressee) and PRO (copied) receive the original signed envelope.
  auto psb_inbox = ReadDeliveries(*psb, 1, absl::Seconds(10));
  ASSERT_EQ(psb_inbox.size(), 1u);
  EXPECT_EQ(psb_inbox[0].reason(), v1::Delivery::ADDRESSEE);
  EXPECT_EQ(psb_inbox[0].action(), "transfer");
  EXPECT_TRUE(VerifyWithCertificate(gateway_.pki_dir() + "/agencies/510100.epb/signing.crt",
                                    psb_inbox[0].envelope().signature().value(), psb_inbox[0].envelope().envelope())
                  .ok());
  v1::Envelope delivered;
  ASSERT_TRUE(delivered.ParseFromString(psb_inbox[0].envelope().envelope()));
  ASSERT_EQ(delivered.documents_size(), 3);
  EXPECT_EQ(delivered.documents(0).digest().value(), letter->digest().value());
  auto pro_inbox = ReadDeliveries(*pro, 1, absl::Seconds(10));
  ASSERT_EQ(pro_inbox.size(), 1u);
  EXPECT_EQ(pro_inbox[0].reason(), v1::Delivery::COPY);
  ASSERT_TRUE(psb->Acknowledge(psb_inbox[0].sequence()).ok());
  ASSERT_TRUE(pro->Acknowledge(pro_inbox[0].sequence()).ok());

  // The PSB may fetch the transfer's document; the court, not a party, may not;
  // and a stored document that no envelope of the case referred to is not the case's.
  std::string bytes;
  EXPECT_TRUE(Download(*psb, letter->digest(), "C-1", &bytes).ok());
  EXPECT_EQ(bytes, "案件移送书全文");
  EXPECT_EQ(Download(*gateway_.Client("510100.court"), letter->digest(), "C-1", &bytes).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  const grpc::Status not_the_case =
      Download(*psb, testing::StandardDocument(v1::FILING_NOTICE).digest(), "C-1", &bytes);
  EXPECT_EQ(not_the_case.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(not_the_case.error_message().find("case 'C-1' has no document"), std::string::npos)
      << not_the_case.error_message();

  // The PSB's receipt (回执) reaches the EPB.
  v1::Envelope ack = testing::ActionEnvelope("C-1", "receipt");
  ack.mutable_receipt()->set_acknowledged_envelope_id(delivered.envelope_id());
  *ack.mutable_receipt()->mutable_acknowledged_envelope_digest() = receipt.envelope_digest();
  auto received = gateway_.Submit(*psb, ack);
  ASSERT_TRUE(received.ok()) << received.status();
  auto epb_inbox = ReadDeliveries(*epb, 1, absl::Seconds(10));
  ASSERT_EQ(epb_inbox.size(), 1u);
  EXPECT_EQ(epb_inbox[0].action(), "receipt");
  EXPECT_EQ(epb_inbox[0].sender_agency(), "510100.psb");
  EXPECT_TRUE(VerifyWithCertificate(gateway_.pki_dir() + "/agencies/510100.psb/signing.crt",
                                    epb_inbox[0].envelope().signature().value(), epb_inbox[0].envelope().envelope())
                  .ok());
  ASSERT_TRUE(epb->Acknowledge(epb_inbox[0].sequence()).ok());

  // The filing decision reaches the EPB and the copied PRO.
  auto filed = gateway_.Submit(*psb, testing::ActionEnvelope("C-1", "filing"));
  ASSERT_TRUE(filed.ok()) << filed.status();
  epb_inbox = ReadDeliveries(*epb, 1, absl::Seconds(10));
  ASSERT_EQ(epb_inbox.size(), 1u);
  EXPECT_EQ(epb_inbox[0].action(), "filing");
  EXPECT_EQ(epb_inbox[0].case_state(), v1::FILED);
  pro_inbox = ReadDeliveries(*pro, 1, absl::Seconds(10));
  ASSERT_EQ(pro_inbox.size(), 1u);
  EXPECT_EQ(pro_inbox[0].action(), "filing");

  auto full = pro->GetCase("C-1");
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->case_().state(), v1::FILED);
  EXPECT_EQ(full->case_().originator(), "510100.epb");
  EXPECT_EQ(full->case_().addressee(), "510100.psb");
  ASSERT_EQ(full->timeline_size(), 3);
  EXPECT_EQ(full->timeline(0).action(), "transfer");
  EXPECT_EQ(full->timeline(1).action(), "receipt");
  EXPECT_EQ(full->timeline(2).action(), "filing");
  EXPECT_EQ(full->timeline(2).from_state(), v1::RECEIVED);
  EXPECT_EQ(full->timeline(0).documents_size(), 3);
}

// Without a bus nothing reads the relay's outbox index, so the gateway's store
// does not keep one (SqliteStoreOptions::outbox_index), while the deliveries
// themselves are stored as always.
TEST_F(GatewayE2eTest, AGatewayWithoutABusKeepsNoOutboxIndex) {
  Transfer("C-OUTBOX");
  EXPECT_EQ(testing::QueryStoreFile(gateway_, "SELECT count(*) FROM sqlite_master WHERE name = 'deliveries_unpublished'"),
            0);
  // The PSB's and the procuratorate's.
  EXPECT_EQ(testing::QueryStoreFile(gateway_, "SELECT count(*) FROM deliveries WHERE envelope_ref IS NOT NULL"), 2);
}

TEST_F(GatewayE2eTest, NonFilingIsTheOtherLegalDecision) {
  Transfer("C-2");
  auto psb = gateway_.Client("510100.psb");
  ASSERT_TRUE(gateway_.Submit(*psb, testing::ActionEnvelope("C-2", "receipt")).ok());
  auto declined = gateway_.Submit(*psb, testing::ActionEnvelope("C-2", "non_filing"));
  ASSERT_TRUE(declined.ok()) << declined.status();
  EXPECT_EQ(CaseAsSeenBy("510100.epb", "C-2").state(), v1::NOT_FILED);
}

TEST_F(GatewayE2eTest, RetriedEnvelopeGetsTheOriginalReceiptAndNoSecondEffect) {
  auto epb = gateway_.Client("510100.epb");
  auto signed_envelope = gateway_.Sign(*epb, TransferEnvelope("C-3"));
  ASSERT_TRUE(signed_envelope.ok());
  auto first = epb->SubmitSigned(*signed_envelope);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = epb->SubmitSigned(*signed_envelope);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->duplicate());
  EXPECT_EQ(second->receipt().SerializeAsString(), first->receipt().SerializeAsString());
  EXPECT_EQ(CaseAsSeenBy("510100.epb", "C-3").version(), 1u);
  auto psb = gateway_.Client("510100.psb");
  EXPECT_EQ(ReadDeliveries(*psb, 10, absl::Milliseconds(700)).size(), 1u);
}

TEST_F(GatewayE2eTest, UnacknowledgedDeliveriesAreSentAgainAfterReconnectAndRestart) {
  Transfer("C-4");
  auto psb = gateway_.Client("510100.psb");
  auto first = ReadDeliveries(*psb, 1, absl::Seconds(10));
  ASSERT_EQ(first.size(), 1u);
  auto again = ReadDeliveries(*psb, 1, absl::Seconds(10));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].sequence(), first[0].sequence());

  gateway_.Stop();
  gateway_.Start();
  psb = gateway_.Client("510100.psb");
  auto after_restart = ReadDeliveries(*psb, 1, absl::Seconds(10));
  ASSERT_EQ(after_restart.size(), 1u);
  EXPECT_EQ(after_restart[0].envelope_id(), first[0].envelope_id());

  ASSERT_TRUE(psb->Acknowledge(after_restart[0].sequence()).ok());
  EXPECT_TRUE(ReadDeliveries(*psb, 1, absl::Milliseconds(500)).empty());
}

TEST_F(GatewayE2eTest, NewDeliveriesArriveOnAnOpenStream) {
  auto psb = gateway_.Client("510100.psb");
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto reader = psb->deliveries().Subscribe(&ctx, v1::SubscribeRequest());
  Transfer("C-5");
  v1::Delivery d;
  ASSERT_TRUE(reader->Read(&d));
  EXPECT_EQ(d.case_id(), "C-5");
  ctx.TryCancel();
  reader->Finish();
}

TEST_F(GatewayE2eTest, HealthIsServingAndReflectionListsTheServices) {
  auto client = gateway_.Client("510100.epb");
  grpc::GenericStub service(client->channel());
  auto call = [&](const std::string& method, const std::string& request_bytes) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Slice slice(request_bytes);
    grpc::ByteBuffer request(&slice, 1), response;
    std::promise<grpc::Status> done;
    service.UnaryCall(&ctx, method, grpc::StubOptions(), &request, &response,
                   [&done](grpc::Status status) { done.set_value(std::move(status)); });
    auto st = done.get_future().get();
    EXPECT_TRUE(st.ok()) << st.error_message();
    std::vector<grpc::Slice> slices;
    (void)response.Dump(&slices);
    std::string out;
    for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
    return out;
  };
  // HealthCheckRequest{service: ""} is empty; HealthCheckResponse{status: SERVING} is field 1 = 1.
  EXPECT_EQ(call("/grpc.health.v1.Health/Check", ""), std::string("\x08\x01", 2));

  // Reflection is a bidi stream: ask for list_services (field 7, empty string).
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::CompletionQueue cq;
  auto stream = service.PrepareCall(&ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag;
  bool ok;
  stream->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  grpc::Slice req_slice(std::string("\x3a\x00", 2));
  grpc::ByteBuffer req(&req_slice, 1);
  stream->Write(req, reinterpret_cast<void*>(2));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  grpc::ByteBuffer resp;
  stream->Read(&resp, reinterpret_cast<void*>(3));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  std::vector<grpc::Slice> slices;
  (void)resp.Dump(&slices);
  std::string listing;
  for (const auto& s : slices) listing.append(reinterpret_cast<const char*>(s.begin()), s.size());
  for (const char* service : {"caselink.v1.CaseService", "caselink.v1.DeliveryService", "caselink.v1.DocumentService",
                              "caselink.v1.AuditService", "caselink.v1.StatisticsService", "caselink.v1.GatewayService",
                              "grpc.health.v1.Health"}) {
    EXPECT_NE(listing.find(service), std::string::npos) << service;
  }
  ctx.TryCancel();
  grpc::Status st;
  stream->Finish(&st, reinterpret_cast<void*>(4));
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

TEST_F(GatewayE2eTest, TreeHeadIsServedAndSignedByTheGateway) {
  auto client = gateway_.Client("510100.epb");
  auto service = v1::AuditService::NewStub(client->channel());
  grpc::ClientContext ctx;
  v1::SignedTreeHead head;
  ASSERT_TRUE(service->GetTreeHead(&ctx, v1::GetTreeHeadRequest(), &head).ok());
  EXPECT_TRUE(VerifyWithCertificate(gateway_.pki_dir() + "/gateway/signing.crt", head.signature().value(), head.tree_head()).ok());
}

// ---- Refusals: clear status, an audit record, and no state change ----

struct RefusalCase {
  std::string name;
  grpc::StatusCode code;
  std::string message_part;
};

class RefusalTest : public GatewayE2eTest {
 protected:
  void SetUp() override {
    Transfer("R-1");
    epb_ = gateway_.Client("510100.epb");
    psb_ = gateway_.Client("510100.psb");
    state_before_ = CaseAsSeenBy("510100.epb", "R-1");
    audit_before_ = gateway_.AuditSize();
  }

  // Submits, expects the refusal, and checks the audit record and that nothing changed.
  void ExpectRefused(AgencyClient& client, const v1::SignedEnvelope& envelope, grpc::StatusCode code,
                     const std::string& message_part) {
    grpc::ClientContext ctx;
    v1::SubmitRequest req;
    *req.mutable_envelope() = envelope;
    v1::SubmitResponse resp;
    auto st = client.cases().Submit(&ctx, req, &resp);
    EXPECT_EQ(st.error_code(), code) << st.error_message();
    EXPECT_NE(st.error_message().find(message_part), std::string::npos) << st.error_message();
    auto records = gateway_.AuditRecordsFrom(audit_before_);
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].outcome(), v1::AuditRecord::REFUSED);
    EXPECT_EQ(records[0].status_code(), absl::StatusCodeToString(static_cast<absl::StatusCode>(code)));
    EXPECT_EQ(records[0].reason(), st.error_message());
    EXPECT_EQ(records[0].actor_agency(), client.agency_id());
    auto after = CaseAsSeenBy("510100.epb", "R-1");
    EXPECT_EQ(after.SerializeAsString(), state_before_.SerializeAsString());
    audit_before_ = gateway_.AuditSize();
  }

  std::unique_ptr<AgencyClient> epb_, psb_;
  v1::Case state_before_;
  uint64_t audit_before_ = 0;
};

TEST_F(RefusalTest, EnvelopeSignedByAnotherAgencyThanThePeer) {
  // The PSB's channel carries an envelope that names and is signed by the EPB.
  auto signed_by_epb = gateway_.Sign(*epb_, testing::ActionEnvelope("R-1", "receipt"));
  ASSERT_TRUE(signed_by_epb.ok());
  ExpectRefused(*psb_, *signed_by_epb, grpc::StatusCode::PERMISSION_DENIED, "not the agency of the TLS client certificate");
}

TEST_F(RefusalTest, BitFlippedSignature) {
  auto signed_envelope = gateway_.Sign(*psb_, testing::ActionEnvelope("R-1", "receipt"));
  ASSERT_TRUE(signed_envelope.ok());
  std::string* sig = signed_envelope->mutable_signature()->mutable_value();
  (*sig)[sig->size() / 2] ^= 0x01;
  ExpectRefused(*psb_, *signed_envelope, grpc::StatusCode::UNAUTHENTICATED, "does not verify");
}

TEST_F(RefusalTest, BitFlippedEnvelopeBytes) {
  auto signed_envelope = gateway_.Sign(*psb_, testing::ActionEnvelope("R-1", "receipt"));
  ASSERT_TRUE(signed_envelope.ok());
  std::string* bytes = signed_envelope->mutable_envelope();
  (*bytes)[bytes->size() - 1] ^= 0x01;
  // Either it no longer parses or the signature no longer covers it; both are refusals.
  grpc::ClientContext ctx;
  v1::SubmitRequest req;
  *req.mutable_envelope() = *signed_envelope;
  v1::SubmitResponse resp;
  auto st = psb_->cases().Submit(&ctx, req, &resp);
  EXPECT_TRUE(st.error_code() == grpc::StatusCode::UNAUTHENTICATED || st.error_code() == grpc::StatusCode::INVALID_ARGUMENT)
      << st.error_message();
  EXPECT_EQ(CaseAsSeenBy("510100.epb", "R-1").version(), state_before_.version());
}

TEST_F(RefusalTest, UnknownSigningKeyId) {
  auto signed_envelope = gateway_.Sign(*psb_, testing::ActionEnvelope("R-1", "receipt"));
  ASSERT_TRUE(signed_envelope.ok());
  signed_envelope->mutable_signature()->set_key_id("510100.psb/signing-9");
  ExpectRefused(*psb_, *signed_envelope, grpc::StatusCode::UNAUTHENTICATED, "not a registered signing key");
}

TEST_F(RefusalTest, EnvelopeOutsideTheTimeWindow) {
  v1::Envelope e = testing::ActionEnvelope("R-1", "receipt");
  *e.mutable_created_at() = google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(gateway_.Now() - absl::Minutes(10)));
  auto signed_envelope = gateway_.Sign(*psb_, e);
  ASSERT_TRUE(signed_envelope.ok());
  ExpectRefused(*psb_, *signed_envelope, grpc::StatusCode::INVALID_ARGUMENT, "accepted window is ±300 s");
}

TEST_F(RefusalTest, EnvelopeIdReusedWithDifferentContent) {
  v1::Envelope e = testing::ActionEnvelope("R-1", "receipt");
  e.set_envelope_id("reused-id");
  auto first = gateway_.Submit(*psb_, e);
  ASSERT_TRUE(first.ok()) << first.status();
  state_before_ = CaseAsSeenBy("510100.epb", "R-1");
  audit_before_ = gateway_.AuditSize();
  v1::Envelope other = testing::ActionEnvelope("R-1", "filing");
  other.set_envelope_id("reused-id");
  auto signed_other = gateway_.Sign(*psb_, other);
  ASSERT_TRUE(signed_other.ok());
  ExpectRefused(*psb_, *signed_other, grpc::StatusCode::ALREADY_EXISTS, "already used for different content");
}

TEST_F(RefusalTest, UnknownCase) {
  auto signed_envelope = gateway_.Sign(*psb_, testing::ActionEnvelope("NO-SUCH-CASE", "receipt"));
  ASSERT_TRUE(signed_envelope.ok());
  ExpectRefused(*psb_, *signed_envelope, grpc::StatusCode::NOT_FOUND, "case 'NO-SUCH-CASE' does not exist");
}

TEST_F(RefusalTest, ActionIllegalInTheCurrentState) {
  auto signed_envelope = gateway_.Sign(*psb_, testing::ActionEnvelope("R-1", "filing"));
  ASSERT_TRUE(signed_envelope.ok());
  ExpectRefused(*psb_, *signed_envelope, grpc::StatusCode::FAILED_PRECONDITION,
                "is in state TRANSFERRED; action 'filing' is not allowed there. Allowed now: receipt");
}

TEST_F(RefusalTest, ActionByTheWrongAgency) {
  auto epb_receipt = gateway_.Sign(*epb_, testing::ActionEnvelope("R-1", "receipt"));
  ASSERT_TRUE(epb_receipt.ok());
  ExpectRefused(*epb_, *epb_receipt, grpc::StatusCode::PERMISSION_DENIED, "must be taken by the addressee public security bureau");
}

TEST_F(RefusalTest, TransferOpeningAnExistingCase) {
  auto again = gateway_.Sign(*epb_, TransferEnvelope("R-1"));
  ASSERT_TRUE(again.ok());
  ExpectRefused(*epb_, *again, grpc::StatusCode::FAILED_PRECONDITION, "is in state TRANSFERRED");
}

TEST_F(RefusalTest, TransferAddressedOutsideTheSameLevel) {
  v1::Envelope e = TransferEnvelope("R-2");
  e.add_addressees("510100.court");
  auto signed_envelope = gateway_.Sign(*epb_, e);
  ASSERT_TRUE(signed_envelope.ok());
  ExpectRefused(*epb_, *signed_envelope, grpc::StatusCode::INVALID_ARGUMENT, "public security bureau of the same region, 510100.psb");
}

TEST_F(RefusalTest, DocumentThatWasNeverUploaded) {
  v1::Envelope e = TransferEnvelope("R-3");
  auto* doc = e.add_documents();
  doc->set_type(v1::TRANSFER_LETTER);
  doc->set_title("案件移送书");
  doc->set_size_bytes(5);
  doc->mutable_digest()->set_algorithm(v1::SHA256);
  doc->mutable_digest()->set_value(security::Sha256("never uploaded"));
  auto signed_envelope = gateway_.Sign(*epb_, e);
  ASSERT_TRUE(signed_envelope.ok());
  ExpectRefused(*epb_, *signed_envelope, grpc::StatusCode::FAILED_PRECONDITION, "has not been uploaded");
}

// The gateway remembers the documents it found in the blob store, never one it did not find: a
// document uploaded after a refusal is accepted on the next attempt, and a later envelope naming
// it (answered from memory) still has its signed size checked.
TEST_F(RefusalTest, DocumentUploadedAfterARefusalIsAcceptedNextTime) {
  const std::string bytes = "案件移送书, uploaded after the first attempt";
  v1::Envelope e = TransferEnvelope("R-4");
  auto* doc = e.add_documents();
  doc->set_type(v1::TRANSFER_LETTER);
  doc->set_title("late letter");
  doc->set_media_type("text/plain");
  doc->set_size_bytes(bytes.size());
  doc->mutable_digest()->set_algorithm(v1::SHA256);
  doc->mutable_digest()->set_value(security::Sha256(bytes));
  auto first = gateway_.Sign(*epb_, e);
  ASSERT_TRUE(first.ok());
  ExpectRefused(*epb_, *first, grpc::StatusCode::FAILED_PRECONDITION, "has not been uploaded");

  auto uploaded = epb_->UploadBytes(bytes, v1::TRANSFER_LETTER, "late letter", "text/plain");
  ASSERT_TRUE(uploaded.ok()) << uploaded.status();
  ASSERT_EQ(uploaded->digest().value(), doc->digest().value());
  e.set_envelope_id(e.envelope_id() + "-retry");
  auto retry = gateway_.Sign(*epb_, e);
  ASSERT_TRUE(retry.ok());
  auto accepted = epb_->SubmitSigned(*retry);
  ASSERT_TRUE(accepted.ok()) << accepted.status();

  v1::Envelope other = TransferEnvelope("R-5");
  *other.add_documents() = *doc;
  other.mutable_documents(other.documents_size() - 1)->set_size_bytes(bytes.size() + 1);
  auto other_signed = gateway_.Sign(*epb_, other);
  ASSERT_TRUE(other_signed.ok());
  auto wrong_size = epb_->SubmitSigned(*other_signed);
  EXPECT_EQ(wrong_size.status().code(), absl::StatusCode::kInvalidArgument) << wrong_size.status();
  EXPECT_NE(wrong_size.status().message().find("bytes as stored but the envelope says"), std::string::npos)
      << wrong_size.status();
}

TEST_F(RefusalTest, OversizedEnvelope) {
  v1::Envelope e = testing::ActionEnvelope("R-1", "receipt");
  e.set_remarks(std::string(gateway_.config().max_envelope_bytes() + 1, 'x'));
  auto signed_envelope = gateway_.Sign(*psb_, e);
  ASSERT_TRUE(signed_envelope.ok());
  ExpectRefused(*psb_, *signed_envelope, grpc::StatusCode::INVALID_ARGUMENT, "the limit is 1048576");
}

TEST_F(RefusalTest, MalformedEnvelopeBytes) {
  v1::SignedEnvelope garbage;
  garbage.set_envelope(std::string("\xff\xff\xff\xff\x0f", 5));
  garbage.mutable_signature()->set_algorithm(v1::ECDSA_P256_SHA256);
  ExpectRefused(*psb_, garbage, grpc::StatusCode::INVALID_ARGUMENT, "does not parse as caselink.v1.Envelope");
}

TEST_F(RefusalTest, MissingEnvelopeId) {
  v1::Envelope e = testing::ActionEnvelope("R-1", "receipt");
  e.set_envelope_id("bad id with spaces");
  auto signed_envelope = gateway_.Sign(*psb_, e);
  ASSERT_TRUE(signed_envelope.ok());
  ExpectRefused(*psb_, *signed_envelope, grpc::StatusCode::INVALID_ARGUMENT, "envelope_id must be");
}

TEST_F(RefusalTest, AlgorithmNotAllowedByTheProfile) {
  auto signed_envelope = gateway_.Sign(*psb_, testing::ActionEnvelope("R-1", "receipt"));
  ASSERT_TRUE(signed_envelope.ok());
  signed_envelope->mutable_signature()->set_algorithm(v1::SM2_SM3);
  ExpectRefused(*psb_, *signed_envelope, grpc::StatusCode::INVALID_ARGUMENT, "not allowed by the INTL profile");
}

// ---- Channel identity ----

TEST_F(GatewayE2eTest, ClientWithoutCertificateCannotConnect) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = Slurp(gateway_.pki_dir() + "/ca/ca.crt");
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  auto channel = grpc::CreateCustomChannel(gateway_.target(), grpc::SslCredentials(ssl), args);
  auto service = v1::CaseService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::GetCaseResponse resp;
  v1::GetCaseRequest req;
  req.set_case_id("x");
  auto st = service->GetCase(&ctx, req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
}

TEST_F(GatewayE2eTest, CertificateFromAnotherCaCannotConnect) {
  auto client = AgencyClient::Create(testing::ForeignIdentity(gateway_.pki_dir(), "510100.epb", false), gateway_.target());
  ASSERT_TRUE(client.ok());
  auto resp = (*client)->Submit(TransferEnvelope("F-1"), absl::Seconds(5));
  EXPECT_EQ(resp.status().code(), absl::StatusCode::kUnavailable) << resp.status();
}

TEST_F(GatewayE2eTest, UnregisteredCertificateOfTheRightCaIsUnauthenticatedAndAudited) {
  const uint64_t before = gateway_.AuditSize();
  auto client = AgencyClient::Create(testing::ForeignIdentity(gateway_.pki_dir(), "510100.epb", true), gateway_.target());
  ASSERT_TRUE(client.ok());
  auto resp = (*client)->Submit(TransferEnvelope("F-2"));
  EXPECT_EQ(resp.status().code(), absl::StatusCode::kUnauthenticated) << resp.status();
  EXPECT_NE(resp.status().message().find("not bound to any agency"), std::string::npos);
  auto records = gateway_.AuditRecordsFrom(before);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].outcome(), v1::AuditRecord::REFUSED);
  EXPECT_EQ(records[0].actor_certificate_sha256().size(), 64u);
  auto c = gateway_.store().ReadCase("F-2");
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->has_value());
}

TEST_F(GatewayE2eTest, AgenciesSeeOnlyTheirOwnCases) {
  Transfer("P-1");
  auto court = gateway_.Client("510100.court");
  auto resp = court->GetCase("P-1");
  EXPECT_EQ(resp.status().code(), absl::StatusCode::kPermissionDenied);
  grpc::ClientContext ctx;
  v1::ListCasesRequest req;
  v1::ListCasesResponse list;
  ASSERT_TRUE(court->cases().ListCases(&ctx, req, &list).ok());
  EXPECT_EQ(list.cases_size(), 0);
  grpc::ClientContext ctx2;
  ASSERT_TRUE(gateway_.Client("510100.pro")->cases().ListCases(&ctx2, req, &list).ok());
  ASSERT_EQ(list.cases_size(), 1);
  EXPECT_EQ(list.cases(0).case_id(), "P-1");
}

}  // namespace
}  // namespace caselink
