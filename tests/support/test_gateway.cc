// Test gateway support.
#include "tests/support/test_gateway.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <set>

#include <google/protobuf/util/time_util.h>
#include <sqlite3.h>

#include "absl/strings/str_cat.h"
#include "gateway/config.h"
#include "gateway/deadlines/deadline_rules.h"
#include "gateway/lifecycle.h"
#include "security/digest.h"
#include "security/pki.h"
#include "tools/devpki/dev_pki.h"

namespace caselink::testing {

using google::protobuf::util::TimeUtil;

AgencyIdentity ForeignIdentity(const std::string& pki_dir, const std::string& agency, bool sign_with_dev_ca) {
  auto identity = LoadAgencyIdentity(pki_dir, agency);
  EXPECT_TRUE(identity.ok()) << identity.status();
  if (!identity.ok()) return {};
  auto key = security::GenerateEcP256KeyPair();
  EXPECT_TRUE(key.ok()) << key.status();
  if (!key.ok()) return {};
  security::CertificateRequest req;
  req.common_name = "intruder";
  req.public_key_pem = key->public_key_pem;
  req.profile = security::CertificateProfile::kTlsClient;
  req.not_before = absl::Now() - absl::Hours(1);
  req.not_after = absl::Now() + absl::Hours(1);
  absl::StatusOr<std::string> cert;
  if (sign_with_dev_ca) {
    auto ca_cert = ReadFileToString(pki_dir + "/ca/ca.crt");
    auto ca_key = ReadFileToString(pki_dir + "/ca/ca.key");
    EXPECT_TRUE(ca_cert.ok() && ca_key.ok());
    if (!ca_cert.ok() || !ca_key.ok()) return {};
    cert = security::IssueCertificate(req, *ca_cert, *ca_key);
  } else {
    auto other_ca_key = security::GenerateEcP256KeyPair();
    EXPECT_TRUE(other_ca_key.ok()) << other_ca_key.status();
    if (!other_ca_key.ok()) return {};
    security::CertificateRequest ca_req = req;
    ca_req.common_name = "Other CA";
    ca_req.public_key_pem = other_ca_key->public_key_pem;
    ca_req.profile = security::CertificateProfile::kCa;
    auto other_ca = security::IssueCertificate(ca_req, "", other_ca_key->private_key_pem);
    EXPECT_TRUE(other_ca.ok()) << other_ca.status();
    if (!other_ca.ok()) return {};
    cert = security::IssueCertificate(req, *other_ca, other_ca_key->private_key_pem);
  }
  EXPECT_TRUE(cert.ok()) << cert.status();
  if (!cert.ok()) return {};
  identity->tls_cert_pem = *cert;
  identity->tls_key_pem = key->private_key_pem;
  return *identity;
}

std::string MakeTempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "caselink-test-XXXXXX").string();
  char* dir = mkdtemp(tmpl.data());
  if (dir == nullptr) std::abort();
  return dir;
}

absl::StatusOr<DevPkiSetup> MakeDevPkiSetup(DevPkiOptions options, absl::Time registry_time) {
  DevPkiSetup setup;
  if (options.dir.empty()) options.dir = MakeTempDir();
  setup.dir = options.dir;
  if (absl::Status s = InitDevPki(options); !s.ok()) return s;
  absl::StatusOr<v1::GatewayConfig> config = LoadGatewayConfig(setup.dir + "/gateway.yaml");
  if (!config.ok()) return config.status();
  setup.config = *std::move(config);
  absl::StatusOr<v1::Registry> registry = LoadRegistryFile(setup.config.registry_file());
  if (!registry.ok()) return registry.status();
  absl::StatusOr<std::string> client_ca = ReadFileToString(setup.config.tls().client_ca_file());
  if (!client_ca.ok()) return client_ca.status();
  absl::StatusOr<std::unique_ptr<AgencyRegistry>> agencies =
      AgencyRegistry::Create(*registry, *client_ca, registry_time);
  if (!agencies.ok()) return agencies.status();
  setup.registry = *std::move(agencies);
  return setup;
}

absl::Time ScenarioStart() {
  return absl::FromCivil(absl::CivilHour(2026, 3, 2, 9), deadlines::ChinaTimeZone());
}

TestGateway::TestGateway(std::string dir, TestGatewayOptions options)
    : dir_(std::move(dir)), pki_dir_(dir_ + "/pki"), options_(std::move(options)) {
  DevPkiOptions pki;
  pki.dir = pki_dir_;
  pki.listen_address = "127.0.0.1:0";
  pki.data_dir = dir_ + "/data";
  pki.additional_regions = options_.additional_regions;
  pki.profile = options_.profile;
  if (options_.clock != nullptr) {
    // Certificates must be valid both at the gateway's (fake) time, where
    // signatures are checked, and at the real time of the TLS handshake.
    const absl::Time real = absl::Now();
    const absl::Time fake = options_.clock->Now();
    pki.not_before = std::min(real, fake) - absl::Hours(1);
    pki.validity = std::max(real, fake) - pki.not_before + absl::Hours(24 * 365);
  }
  auto st = InitDevPki(pki);
  if (!st.ok()) ADD_FAILURE() << st;
  auto config = LoadGatewayConfig(pki_dir_ + "/gateway.yaml");
  if (!config.ok()) ADD_FAILURE() << config.status();
  config_ = *config;
  if (options_.configure) options_.configure(config_);
  Start();
}

TestGateway::~TestGateway() {
  Stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void TestGateway::Start() {
  auto server = GatewayServer::Start(config_, options_.clock, options_.server);
  if (!server.ok()) {
    ADD_FAILURE() << "gateway did not start: " << server.status();
    std::abort();
  }
  server_ = std::move(*server);
  auto uploader = Client(DevPkiAgencies("510100").front());
  if (auto uploaded = UploadStandardDocuments(*uploader); !uploaded.ok()) ADD_FAILURE() << uploaded;
}

void TestGateway::Stop() {
  if (server_) server_->Shutdown(absl::Seconds(1));
  server_.reset();
}

std::unique_ptr<AgencyClient> TestGateway::Client(const std::string& agency_id) {
  auto identity = LoadAgencyIdentity(pki_dir_, agency_id);
  EXPECT_TRUE(identity.ok()) << identity.status();
  auto client = AgencyClient::Create(*identity, target());
  EXPECT_TRUE(client.ok()) << client.status();
  return std::move(*client);
}

absl::Time TestGateway::Now() const { return options_.clock ? options_.clock->Now() : absl::Now(); }

absl::StatusOr<v1::SignedEnvelope> TestGateway::Sign(AgencyClient& client, v1::Envelope envelope) const {
  UseProfileDigests(envelope, config_.profile());
  if (!envelope.has_created_at()) {
    *envelope.mutable_created_at() = TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(Now()));
  }
  return client.Sign(std::move(envelope));
}

absl::StatusOr<v1::SubmitResponse> TestGateway::Submit(AgencyClient& client, v1::Envelope envelope) const {
  auto signed_envelope = Sign(client, std::move(envelope));
  if (!signed_envelope.ok()) return signed_envelope.status();
  return client.SubmitSigned(*signed_envelope);
}

std::vector<v1::AuditRecord> TestGateway::AuditRecordsFrom(uint64_t from) {
  std::vector<v1::AuditRecord> out;
  auto entries = store().ReadAuditEntries(from, 100000);
  EXPECT_TRUE(entries.ok()) << entries.status();
  for (const auto& e : *entries) {
    v1::AuditRecord r;
    EXPECT_TRUE(r.ParseFromString(e.record()));
    out.push_back(r);
  }
  return out;
}

uint64_t TestGateway::AuditSize() {
  auto size = store().ReadAuditSize();
  EXPECT_TRUE(size.ok()) << size.status();
  return *size;
}

// ---- Documents ----

std::string StandardDocumentBytes(v1::DocumentType type) {
  return absl::StrCat("CaseLink test document of type ", v1::DocumentType_Name(type), "\n");
}

v1::DocumentRef StandardDocument(v1::DocumentType type) {
  const std::string bytes = StandardDocumentBytes(type);
  v1::DocumentRef ref;
  ref.set_type(type);
  ref.set_title(v1::DocumentType_Name(type));
  ref.set_media_type("text/plain");
  ref.set_size_bytes(bytes.size());
  ref.mutable_digest()->set_algorithm(v1::SHA256);
  ref.mutable_digest()->set_value(security::Sha256(bytes));
  return ref;
}

void UseProfileDigests(v1::Envelope& envelope, v1::CryptoProfile profile) {
  for (auto& doc : *envelope.mutable_documents()) {
    const std::string bytes = StandardDocumentBytes(doc.type());
    const bool standard = doc.digest().value() == security::Sha256(bytes) || doc.digest().value() == security::Sm3(bytes);
    if (!standard) continue;
    doc.mutable_digest()->set_algorithm(profile == v1::GM ? v1::SM3 : v1::SHA256);
    doc.mutable_digest()->set_value(profile == v1::GM ? security::Sm3(bytes) : security::Sha256(bytes));
  }
}

std::vector<v1::DocumentType> RequiredDocumentTypes() {
  std::set<v1::DocumentType> types;
  for (const Transition& t : TransitionTable()) types.insert(t.documents.begin(), t.documents.end());
  return {types.begin(), types.end()};
}

absl::Status UploadStandardDocuments(AgencyClient& client) {
  for (v1::DocumentType type : RequiredDocumentTypes()) {
    auto ref = client.UploadBytes(StandardDocumentBytes(type), type, v1::DocumentType_Name(type), "text/plain");
    if (!ref.ok()) return ref.status();
  }
  return absl::OkStatus();
}

absl::Status SeedStandardDocuments(BlobStore& blobs) {
  for (v1::DocumentType type : RequiredDocumentTypes()) {
    auto writer = blobs.BeginWrite();
    if (!writer.ok()) return writer.status();
    if (auto st = (*writer)->Append(StandardDocumentBytes(type)); !st.ok()) return st;
    if (auto hex = (*writer)->Finish(); !hex.ok()) return hex.status();
  }
  return absl::OkStatus();
}

void AddRequiredDocuments(v1::Envelope& envelope) {
  auto branch = BranchOf(envelope);
  std::set<v1::DocumentType> needed;
  for (const Transition& t : TransitionTable()) {
    if (t.action == envelope.action_case() && (t.branch.empty() || (branch.ok() && t.branch == *branch))) {
      needed.insert(t.documents.begin(), t.documents.end());
    }
  }
  for (v1::DocumentType type : needed) {
    const bool present = std::any_of(envelope.documents().begin(), envelope.documents().end(),
                                     [type](const v1::DocumentRef& d) { return d.type() == type; });
    if (!present) *envelope.add_documents() = StandardDocument(type);
  }
}

// ---- Envelopes ----

v1::Envelope TransferEnvelope(const std::string& case_id) {
  v1::Envelope e;
  e.set_case_id(case_id);
  auto* t = e.mutable_transfer();
  t->set_track(v1::CRIMINAL);
  t->set_case_number("成环罚〔2026〕1号");
  t->set_case_name("某公司涉嫌污染环境案");
  t->set_offence_category("污染环境罪");
  AddRequiredDocuments(e);
  return e;
}

v1::Envelope ActionEnvelope(const std::string& case_id, v1::Envelope::ActionCase action, absl::string_view branch) {
  using E = v1::Envelope;
  if (action == E::kTransfer) return TransferEnvelope(case_id);
  v1::Envelope e;
  e.set_case_id(case_id);
  switch (action) {
    case E::kReceipt: e.mutable_receipt(); break;
    case E::kMaterialsRequest:
      e.mutable_materials_request()->add_requested_types(v1::TEST_REPORT);
      e.mutable_materials_request()->set_reason("缺少检测报告");
      break;
    case E::kMaterialsSupply: e.mutable_materials_supply()->set_explanation("检测报告已补充"); break;
    case E::kReferral:
      e.mutable_referral()->set_to_agency("510104.psb");
      e.mutable_referral()->set_reason("属锦江区管辖");
      break;
    case E::kReturnCase: e.mutable_return_case()->set_reason("不属于公安机关管辖"); break;
    case E::kFiling: e.mutable_filing()->set_filing_number("立案1号"); break;
    case E::kNonFiling: e.mutable_non_filing()->set_reason("不构成犯罪"); break;
    case E::kEvidenceHandover: e.mutable_evidence_handover()->set_handover_record_number("移交1号"); break;
    case E::kReconsiderationRequest: e.mutable_reconsideration_request()->set_grounds("证据足以认定"); break;
    case E::kReconsiderationDecision:
      e.mutable_reconsideration_decision()->set_outcome(branch == "reversed" ? v1::ReconsiderationDecision::REVERSED
                                                                             : v1::ReconsiderationDecision::UPHELD);
      e.mutable_reconsideration_decision()->set_reason("复议决定");
      break;
    case E::kSupervisionRequest: e.mutable_supervision_request()->set_grounds("应当立案而不立案"); break;
    case E::kExplanationDemand: e.mutable_explanation_demand()->set_reason("请说明不立案理由"); break;
    case E::kExplanation: e.mutable_explanation()->set_explanation("证据不足"); break;
    case E::kFilingOrder: e.mutable_filing_order()->set_reason("理由不能成立"); break;
    case E::kTransferRecommendation: e.mutable_transfer_recommendation()->set_opinion("应当移送"); break;
    case E::kArrestRequest: e.mutable_arrest_request()->add_suspect_identifiers("91510100MA6C000000"); break;
    case E::kArrestDecision:
      e.mutable_arrest_decision()->set_approved(branch != "denied");
      e.mutable_arrest_decision()->set_reason("逮捕决定");
      break;
    case E::kProsecutionTransfer: e.mutable_prosecution_transfer()->set_reason("侦查终结"); break;
    case E::kProsecutionDecision:
      if (branch == "not_charge") {
        e.mutable_prosecution_decision()->set_outcome(v1::ProsecutionDecision::NOT_CHARGE);
        e.mutable_prosecution_decision()->set_recommend_administrative_penalty(true);
      } else {
        e.mutable_prosecution_decision()->set_outcome(v1::ProsecutionDecision::CHARGE);
        e.mutable_prosecution_decision()->set_court("510100.court");
      }
      break;
    case E::kReturnForInvestigation: e.mutable_return_for_investigation()->set_outline("补充侦查提纲"); break;
    case E::kJudgment:
      e.mutable_judgment()->set_outcome(branch == "acquitted" ? v1::Judgment::ACQUITTED : v1::Judgment::CONVICTED);
      e.mutable_judgment()->set_judgment_number("（2026）川01刑初1号");
      break;
    case E::kReturnToAdministrativePenalty:
      e.mutable_return_to_administrative_penalty()->set_reason("依法给予行政处罚");
      break;
    case E::kWithdrawal: e.mutable_withdrawal()->set_reason("撤销案件"); break;
    case E::kConsultationQuestion: e.mutable_consultation_question()->set_question("如何认定"); break;
    case E::kConsultationAnswer: e.mutable_consultation_answer()->set_answer("答复"); break;
    case E::kDetentionTransfer:
      e.mutable_detention_transfer()->set_case_number("成环罚〔2026〕2号");
      e.mutable_detention_transfer()->set_case_name("某人违法排污案");
      e.mutable_detention_transfer()->set_penalty_decision_number("成环罚决〔2026〕2号");
      break;
    case E::kDetentionMaterialsRequest: e.mutable_detention_materials_request()->set_reason("缺少材料"); break;
    case E::kDetentionDecision:
      e.mutable_detention_decision()->set_detained(branch != "declined");
      e.mutable_detention_decision()->set_reason("行政拘留决定");
      break;
    case E::kDeadlineExtension:
      e.mutable_deadline_extension()->set_extended_to_days(branch == "30_days" ? 30 : 7);
      e.mutable_deadline_extension()->set_reason(branch == "30_days" ? "重大复杂案件" : "线索需要查证");
      break;
    case E::kTransferProposal:
      e.mutable_transfer_proposal()->set_case_number("成环罚〔2026〕3号");
      e.mutable_transfer_proposal()->set_case_name("某公司涉嫌污染环境案");
      e.mutable_transfer_proposal()->set_offence_category("污染环境罪");
      break;
    case E::kTransferApproval:
      e.mutable_transfer_approval()->set_approved(branch != "refused");
      e.mutable_transfer_approval()->set_reason("负责人审批");
      break;
    case E::kPenaltyDecision:
      e.mutable_penalty_decision()->set_case_number("成环罚〔2026〕2号");
      e.mutable_penalty_decision()->set_case_name("某人违法排污案");
      e.mutable_penalty_decision()->set_penalty_decision_number("成环罚决〔2026〕2号");
      break;
    default:
      ADD_FAILURE() << "no envelope for action " << ActionName(action);
  }
  AddRequiredDocuments(e);
  return e;
}

v1::Envelope ActionEnvelope(const std::string& case_id, const std::string& action, absl::string_view branch) {
  const auto* field = v1::Envelope::descriptor()->FindFieldByName(action);
  if (field == nullptr || field->containing_oneof() == nullptr) {
    ADD_FAILURE() << "no envelope action named " << action;
    return v1::Envelope();
  }
  return ActionEnvelope(case_id, static_cast<v1::Envelope::ActionCase>(field->number()), branch);
}

std::vector<v1::Delivery> ReadDeliveries(AgencyClient& client, size_t max, absl::Duration timeout, uint64_t after_sequence) {
  std::vector<v1::Delivery> out;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
  v1::SubscribeRequest req;
  req.set_after_sequence(after_sequence);
  auto reader = client.deliveries().Subscribe(&ctx, req);
  v1::Delivery d;
  while (out.size() < max && reader->Read(&d)) out.push_back(d);
  ctx.TryCancel();
  reader->Finish();
  return out;
}

int64_t QueryStoreFile(const TestGateway& gateway, const char* sql) {
  const std::string path = gateway.config().data_dir() + "/caselink.db";
  sqlite3* db = nullptr;
  int64_t value = -1;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW) {
      value = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return value;
}

}  // namespace caselink::testing
