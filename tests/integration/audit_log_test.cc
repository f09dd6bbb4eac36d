// The audit trail through a real gateway: signed tree heads, proofs, who may
// query what, offline verification of an exported log (and of a tampered
// SQLite file), and court-ready case bundles.
#include <sqlite3.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "gateway/audit_log.h"
#include "gateway/case_bundle.h"
#include "security/certificate.h"
#include "security/ecdsa_p256.h"
#include "security/merkle/merkle_log.h"
#include "security/merkle/proofs.h"
#include "security/pki.h"
#include "tests/support/test_gateway.h"

namespace caselink {
namespace {

using testing::TestGateway;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::unique_ptr<security::Verifier> GatewayKey(const TestGateway& gateway) {
  auto cert = security::Certificate::FromPem(Slurp(gateway.pki_dir() + "/gateway/signing.crt"));
  EXPECT_TRUE(cert.ok());
  return std::move(*(*cert)->PublicKeyVerifier());
}

// Runs SQL directly against the gateway's database file, as an intruder would.
void Tamper(const std::string& data_dir, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((data_dir + "/caselink.db").c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK) << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

class AuditLogTest : public ::testing::Test {
 protected:
  AuditLogTest() : gateway_(testing::MakeTempDir()) {}

  v1::SignedTreeHead TreeHead(AgencyClient& client, uint64_t size = 0) {
    auto audit = v1::AuditService::NewStub(client.channel());
    grpc::ClientContext ctx;
    v1::GetTreeHeadRequest req;
    req.set_tree_size(size);
    v1::SignedTreeHead sth;
    auto st = audit->GetTreeHead(&ctx, req, &sth);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return sth;
  }

  grpc::Status Query(AgencyClient& client, const v1::AuditQueryRequest& req, v1::AuditQueryResponse& resp) {
    auto audit = v1::AuditService::NewStub(client.channel());
    grpc::ClientContext ctx;
    return audit->Query(&ctx, req, &resp);
  }

  // Transfer, a refused attempt, receipt and filing on one case.
  void PlayCase(const std::string& case_id) {
    auto epb = gateway_.Client("510100.epb");
    auto psb = gateway_.Client("510100.psb");
    ASSERT_TRUE(epb->Submit(testing::TransferEnvelope(case_id)).ok());
    EXPECT_FALSE(epb->Submit(testing::ActionEnvelope(case_id, "filing")).ok());
    ASSERT_TRUE(psb->Submit(testing::ActionEnvelope(case_id, "receipt")).ok());
    ASSERT_TRUE(psb->Submit(testing::ActionEnvelope(case_id, "filing")).ok());
  }

  std::string DataDir() const { return gateway_.config().data_dir(); }

  // Asks the gateway for a consistency proof between two signed heads and checks it.
  void ExpectConsistent(AgencyClient& client, const v1::TreeHead& first, const v1::TreeHead& second) {
    auto audit = v1::AuditService::NewStub(client.channel());
    grpc::ClientContext ctx;
    v1::ConsistencyProofRequest req;
    req.set_first_tree_size(first.tree_size());
    req.set_second_tree_size(second.tree_size());
    v1::ConsistencyProof proof;
    ASSERT_TRUE(audit->GetConsistencyProof(&ctx, req, &proof).ok());
    std::vector<std::string> path(proof.proof().begin(), proof.proof().end());
    EXPECT_TRUE(merkle::VerifyConsistency(AuditTreeHasher(), first.tree_size(), second.tree_size(), path, first.root_hash(),
                                          second.root_hash())
                    .ok());
  }

  TestGateway gateway_;
};

TEST_F(AuditLogTest, TreeHeadsAreSignedAndProofsVerify) {
  PlayCase("A-1");
  auto pro = gateway_.Client("510100.pro");
  const v1::SignedTreeHead first = TreeHead(*pro);
  auto key = GatewayKey(gateway_);
  auto head = VerifyTreeHead(first, *key);
  ASSERT_TRUE(head.ok()) << head.status();
  ASSERT_GE(head->tree_size(), 5u);  // start, transfer, refusal, receipt, filing

  // Every record is included in the signed tree: proof from the gateway, leaf from the store.
  auto entries = gateway_.store().ReadAuditEntries(0, 1000);
  ASSERT_TRUE(entries.ok());
  auto audit = v1::AuditService::NewStub(pro->channel());
  for (uint64_t i = 0; i < head->tree_size(); ++i) {
    grpc::ClientContext ctx;
    v1::InclusionProofRequest req;
    req.set_leaf_index(i);
    req.set_tree_size(head->tree_size());
    v1::InclusionProof proof;
    ASSERT_TRUE(audit->GetInclusionProof(&ctx, req, &proof).ok());
    std::vector<std::string> path(proof.audit_path().begin(), proof.audit_path().end());
    EXPECT_TRUE(merkle::VerifyInclusion(AuditTreeHasher(), i, head->tree_size(), AuditTreeHasher().HashLeaf((*entries)[i].record()),
                                        path, head->root_hash())
                    .ok())
        << "leaf " << i;
  }

  // The log grows; the later head is consistent with the earlier one.
  PlayCase("A-2");
  const v1::SignedTreeHead second = TreeHead(*pro);
  auto later = VerifyTreeHead(second, *key);
  ASSERT_TRUE(later.ok());
  ASSERT_GT(later->tree_size(), head->tree_size());
  ExpectConsistent(*pro, *head, *later);
  // A stored head can be fetched again by its size.
  EXPECT_EQ(TreeHead(*pro, head->tree_size()).SerializeAsString(), first.SerializeAsString());
}

TEST_F(AuditLogTest, TreeHeadsBeforeARestartAreConsistentWithThoseAfter) {
  PlayCase("R-1");
  auto key = GatewayKey(gateway_);
  auto before = VerifyTreeHead(TreeHead(*gateway_.Client("510100.epb")), *key);
  ASSERT_TRUE(before.ok());
  gateway_.Stop();
  gateway_.Start();
  PlayCase("R-2");
  auto epb = gateway_.Client("510100.epb");
  auto after = VerifyTreeHead(TreeHead(*epb), *key);
  ASSERT_TRUE(after.ok());
  ExpectConsistent(*epb, *before, *after);
}

TEST_F(AuditLogTest, RefusalsAndQueriesAreRecorded) {
  PlayCase("Q-1");
  auto epb = gateway_.Client("510100.epb");
  v1::AuditQueryRequest req;
  req.set_case_id("Q-1");
  req.set_outcome(v1::AuditRecord::REFUSED);
  v1::AuditQueryResponse resp;
  ASSERT_TRUE(Query(*epb, req, resp).ok());
  ASSERT_EQ(resp.records_size(), 1);
  EXPECT_EQ(resp.records(0).actor_agency(), "510100.epb");
  EXPECT_EQ(resp.records(0).status_code(), "FAILED_PRECONDITION");
  EXPECT_NE(resp.records(0).reason().find("is in state TRANSFERRED"), std::string::npos);
  // The query itself is now in the trail.
  v1::AuditQueryRequest mine;
  mine.set_agency("510100.epb");
  mine.set_action("AuditService/Query");
  v1::AuditQueryResponse queries;
  ASSERT_TRUE(Query(*epb, mine, queries).ok());
  EXPECT_EQ(queries.records_size(), 1);
}

TEST_F(AuditLogTest, AgenciesSeeTheirOwnActionsAndTheirCasesOnly) {
  PlayCase("V-1");
  auto court = gateway_.Client("510100.court");
  v1::AuditQueryRequest by_case;
  by_case.set_case_id("V-1");
  v1::AuditQueryResponse resp;
  EXPECT_EQ(Query(*court, by_case, resp).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  v1::AuditQueryRequest others;
  others.set_agency("510100.epb");
  EXPECT_EQ(Query(*court, others, resp).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  // Unfiltered, the court sees only its own records (its refused queries above).
  v1::AuditQueryResponse own;
  ASSERT_TRUE(Query(*court, v1::AuditQueryRequest(), own).ok());
  ASSERT_FALSE(own.records().empty());
  for (const auto& r : own.records()) EXPECT_EQ(r.actor_agency(), "510100.court") << r.action();
  // The copied procuratorate sees the whole case, including the EPB's refused attempt.
  auto pro = gateway_.Client("510100.pro");
  v1::AuditQueryResponse pro_view;
  ASSERT_TRUE(Query(*pro, by_case, pro_view).ok());
  EXPECT_GE(pro_view.records_size(), 4);
}

TEST_F(AuditLogTest, AnAuditorSeesItsProvinceOnly) {
  // Register a provincial procuratorate with the auditor role, and one of another province.
  gateway_.Stop();
  const std::string pki = gateway_.pki_dir();
  auto add_agency = [&](const std::string& id, const std::string& region) {
    auto key = security::GenerateEcP256KeyPair();
    security::CertificateRequest req;
    req.common_name = id;
    req.public_key_pem = key->public_key_pem;
    req.profile = security::CertificateProfile::kTlsClient;
    req.not_before = absl::Now() - absl::Hours(1);
    req.not_after = absl::Now() + absl::Hours(24);
    auto cert = security::IssueCertificate(req, Slurp(pki + "/ca/ca.crt"), Slurp(pki + "/ca/ca.key"));
    ASSERT_TRUE(cert.ok());
    const std::string dir = pki + "/agencies/" + id;
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/tls.crt") << *cert;
    std::ofstream(dir + "/tls.key") << key->private_key_pem;
    // An auditor only reads, but the client library wants a signing key: reuse the TLS key.
    std::ofstream(dir + "/signing.key") << key->private_key_pem;
    std::ofstream(dir + "/key_id") << id << "/none\n";
    std::ofstream(pki + "/registry.yaml", std::ios::app)
        << "  - id: \"" << id << "\"\n    kind: PROCURATORATE\n    region: \"" << region
        << "\"\n    level: PROVINCE\n    name: \"audit\"\n    roles: [auditor]\n    tls_certificate_files: [\"agencies/" << id
        << "/tls.crt\"]\n";
  };
  add_agency("510000.pro", "510000");
  add_agency("440000.pro", "440000");
  gateway_.Start();
  PlayCase("AU-1");
  auto sichuan = gateway_.Client("510000.pro");
  v1::AuditQueryRequest by_case;
  by_case.set_case_id("AU-1");
  v1::AuditQueryResponse resp;
  ASSERT_TRUE(Query(*sichuan, by_case, resp).ok());
  EXPECT_GE(resp.records_size(), 4);
  auto guangdong = gateway_.Client("440000.pro");
  EXPECT_EQ(Query(*guangdong, by_case, resp).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  v1::AuditQueryRequest agency;
  agency.set_agency("510100.psb");
  EXPECT_EQ(Query(*guangdong, agency, resp).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  v1::AuditQueryResponse all;
  ASSERT_TRUE(Query(*guangdong, v1::AuditQueryRequest(), all).ok());
  for (const auto& r : all.records()) {
    EXPECT_TRUE(r.actor_agency().empty() || r.actor_agency().starts_with("44")) << r.actor_agency() << " " << r.action();
  }
}

// ---- Offline verification of the exported log, and tampering with the file ----

class TamperTest : public AuditLogTest {
 protected:
  void SetUp() override {
    PlayCase("T-1");
    PlayCase("T-2");
    earlier_ = TreeHead(*gateway_.Client("510100.epb"));
    gateway_.Stop();  // signs a final tree head covering everything
    key_ = GatewayKey(gateway_);
  }

  AuditVerification VerifyDataDir() {
    SqliteStoreOptions options;
    options.data_dir = DataDir();
    auto store = OpenSqliteStore(options);
    EXPECT_TRUE(store.ok()) << store.status();
    auto exported = ExportAuditLog(**store);
    EXPECT_TRUE(exported.ok()) << exported.status();
    return VerifyAuditLog(*exported, *key_);
  }

  v1::SignedTreeHead earlier_;
  std::unique_ptr<security::Verifier> key_;
};

TEST_F(TamperTest, UntouchedLogVerifies) {
  AuditVerification result = VerifyDataDir();
  EXPECT_TRUE(result.ok) << result.message;
}

TEST_F(TamperTest, ChangedRecordByteIsFoundAtItsIndex) {
  Tamper(DataDir(), "UPDATE audit SET record = CAST(substr(record, 1, 10) || 'X' || substr(record, 12) AS BLOB) WHERE idx = 7");
  AuditVerification result = VerifyDataDir();
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.first_bad_index, 7) << result.message;
}

// The operator's tool says the same: non-zero exit and the first bad index.
TEST_F(TamperTest, CaselinkctlAuditVerifyNamesTheFirstBadIndex) {
  const std::string command = std::string(CASELINKCTL_BINARY) + " audit verify --data-dir " + DataDir() +
                              " --gateway-cert " + gateway_.pki_dir() + "/gateway/signing.crt 2>&1";
  auto run = [&](int& status) {
    std::string out;
    FILE* pipe = popen(command.c_str(), "r");
    char buf[512];
    while (pipe && fgets(buf, sizeof buf, pipe)) out += buf;
    status = pipe ? pclose(pipe) : -1;
    return out;
  };
  int status = -1;
  std::string out = run(status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("verified"), std::string::npos) << out;
  Tamper(DataDir(), "UPDATE audit SET record = CAST(substr(record, 1, 10) || 'X' || substr(record, 12) AS BLOB) WHERE idx = 9");
  out = run(status);
  EXPECT_NE(status, 0) << out;
  EXPECT_NE(out.find("first bad index: 9"), std::string::npos) << out;
}

TEST_F(TamperTest, DeletedRecordIsFoundAtItsIndex) {
  Tamper(DataDir(), "DELETE FROM audit WHERE idx = 5");
  AuditVerification result = VerifyDataDir();
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.first_bad_index, 5) << result.message;
}

TEST_F(TamperTest, SwappedRecordsAreFoundAtTheFirst) {
  Tamper(DataDir(),
         "UPDATE audit SET idx = -1 WHERE idx = 4; UPDATE audit SET idx = 4 WHERE idx = 6; UPDATE audit SET idx = 6 WHERE idx = -1;");
  AuditVerification result = VerifyDataDir();
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.first_bad_index, 4) << result.message;
}

TEST_F(TamperTest, InsertedRecordIsFoundAtItsIndex) {
  // Shift entries 3.. up by one (from the top, so the key stays unique) and put a copy of entry 1 at 3.
  Tamper(DataDir(),
         "UPDATE audit SET idx = -(idx + 1) WHERE idx >= 3; UPDATE audit SET idx = -idx WHERE idx < 0;"
         "INSERT INTO audit(idx, record, entry_hash) SELECT 3, record, entry_hash FROM audit WHERE idx = 1;");
  AuditVerification result = VerifyDataDir();
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.first_bad_index, 3) << result.message;
}

TEST_F(TamperTest, RewrittenLogCannotBeProvenConsistentWithAnEarlierHead) {
  // The intruder alters a record and rebuilds every hash so the file is
  // self-consistent; the earlier signed head no longer fits.
  SqliteStoreOptions options;
  options.data_dir = DataDir();
  auto store = OpenSqliteStore(options);
  ASSERT_TRUE(store.ok());
  auto exported = ExportAuditLog(**store);
  ASSERT_TRUE(exported.ok());
  (*store)->Shutdown();
  auto head = VerifyTreeHead(earlier_, *key_);
  ASSERT_TRUE(head.ok());
  std::vector<std::string> leaves;
  for (int i = 0; i < exported->entries_size(); ++i) {
    v1::AuditRecord record;
    ASSERT_TRUE(record.ParseFromString(exported->entries(i).record()));
    if (i == 2) record.set_reason("nothing happened here");
    leaves.push_back(AuditTreeHasher().HashLeaf(SerializeCanonical(record)));
  }
  merkle::InMemoryMerkleNodes rebuilt;
  auto new_root = merkle::AppendLeaves(AuditTreeHasher(), rebuilt, 0, leaves);
  ASSERT_TRUE(new_root.ok());
  auto proof = merkle::ConsistencyProof(AuditTreeHasher(), rebuilt, head->tree_size(), leaves.size());
  ASSERT_TRUE(proof.ok());
  EXPECT_FALSE(merkle::VerifyConsistency(AuditTreeHasher(), head->tree_size(), leaves.size(), *proof, head->root_hash(), *new_root)
                   .ok());
  // And the rewritten log does not verify against the final signed head either.
  v1::AuditLogExport rewritten = *exported;
  v1::AuditRecord record;
  ASSERT_TRUE(record.ParseFromString(rewritten.entries(2).record()));
  record.set_reason("nothing happened here");
  rewritten.mutable_entries(2)->set_record(SerializeCanonical(record));
  rewritten.mutable_entries(2)->set_entry_hash(AuditTreeHasher().HashLeaf(rewritten.entries(2).record()));
  AuditVerification result = VerifyAuditLog(rewritten, *key_);
  EXPECT_FALSE(result.ok);
  EXPECT_NE(result.message.find("does not match the signed tree head"), std::string::npos) << result.message;
}

TEST_F(TamperTest, ForgedTreeHeadIsRefused) {
  SqliteStoreOptions options;
  options.data_dir = DataDir();
  auto store = OpenSqliteStore(options);
  ASSERT_TRUE(store.ok());
  auto exported = ExportAuditLog(**store);
  ASSERT_TRUE(exported.ok());
  v1::TreeHead head;
  ASSERT_TRUE(head.ParseFromString(exported->tree_head().tree_head()));
  head.set_tree_size(head.tree_size() - 1);
  exported->mutable_tree_head()->set_tree_head(SerializeCanonical(head));
  AuditVerification result = VerifyAuditLog(*exported, *key_);
  EXPECT_FALSE(result.ok);
  EXPECT_NE(result.message.find("signature"), std::string::npos) << result.message;
}

// ---- Case bundles ----

TEST_F(AuditLogTest, CaseBundleVerifiesOfflineAndAnyAlterationFails) {
  PlayCase("B-1");
  PlayCase("B-2");
  auto pro = gateway_.Client("510100.pro");
  auto audit = v1::AuditService::NewStub(pro->channel());
  grpc::ClientContext ctx;
  v1::ExportCaseRequest req;
  req.set_case_id("B-1");
  v1::CaseBundle bundle;
  ASSERT_TRUE(audit->ExportCase(&ctx, req, &bundle).ok());
  EXPECT_EQ(bundle.envelopes_size(), 3);
  EXPECT_GE(bundle.audit_entries_size(), 4);  // three acceptances and the refused attempt

  auto key = GatewayKey(gateway_);
  auto ca = security::ChainValidator::Create(Slurp(gateway_.pki_dir() + "/ca/ca.crt"));
  ASSERT_TRUE(ca.ok());
  ASSERT_TRUE(VerifyCaseBundle(bundle, *key, ca->get()).ok());

  // Flip each byte position class: any single-byte change of the file fails.
  const std::string bytes = bundle.SerializeAsString();
  int checked = 0;
  for (size_t pos = 0; pos < bytes.size(); pos += 37) {
    std::string altered = bytes;
    altered[pos] ^= 0x01;
    v1::CaseBundle parsed;
    if (!parsed.ParseFromString(altered)) continue;  // unreadable is refused too
    EXPECT_FALSE(VerifyCaseBundle(parsed, *key, ca->get()).ok()) << "byte " << pos;
    ++checked;
  }
  EXPECT_GT(checked, 20);

  // A bundle re-signed by someone else's key is refused.
  auto other = security::GenerateEcP256KeyPair();
  auto other_verifier = security::EcdsaP256Verifier::CreateFromPublicKeyPem(other->public_key_pem);
  EXPECT_FALSE(VerifyCaseBundle(bundle, **other_verifier, ca->get()).ok());

  // A non-party cannot export it.
  auto court = gateway_.Client("510100.court");
  auto court_audit = v1::AuditService::NewStub(court->channel());
  grpc::ClientContext court_ctx;
  v1::CaseBundle denied;
  EXPECT_EQ(court_audit->ExportCase(&court_ctx, req, &denied).error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

}  // namespace
}  // namespace caselink
