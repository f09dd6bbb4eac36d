// Test gateway support.
#include "tests/support/test_gateway.h"

#include <cstdlib>
#include <filesystem>

#include "gateway/config.h"
#include "tools/devpki/dev_pki.h"

namespace caselink::testing {

std::string MakeTempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "caselink-test-XXXXXX").string();
  char* dir = mkdtemp(tmpl.data());
  if (dir == nullptr) std::abort();
  return dir;
}

TestGateway::TestGateway(std::string dir) : dir_(std::move(dir)), pki_dir_(dir_ + "/pki") {
  DevPkiOptions options;
  options.dir = pki_dir_;
  options.listen_address = "127.0.0.1:0";
  options.data_dir = dir_ + "/data";
  auto st = InitDevPki(options);
  if (!st.ok()) ADD_FAILURE() << st;
  auto config = LoadGatewayConfig(pki_dir_ + "/gateway.yaml");
  if (!config.ok()) ADD_FAILURE() << config.status();
  config_ = *config;
  Start();
}

TestGateway::~TestGateway() {
  Stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void TestGateway::Start() {
  auto server = GatewayServer::Start(config_);
  if (!server.ok()) {
    ADD_FAILURE() << "gateway did not start: " << server.status();
    std::abort();
  }
  server_ = std::move(*server);
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

v1::Envelope TransferEnvelope(const std::string& case_id) {
  v1::Envelope e;
  e.set_case_id(case_id);
  auto* t = e.mutable_transfer();
  t->set_track(v1::CRIMINAL);
  t->set_case_number("成环罚〔2026〕1号");
  t->set_case_name("某公司涉嫌污染环境案");
  t->set_offence_category("污染环境罪");
  return e;
}

v1::Envelope ActionEnvelope(const std::string& case_id, const std::string& action) {
  v1::Envelope e;
  e.set_case_id(case_id);
  if (action == "receipt") {
    e.mutable_receipt();
  } else if (action == "filing") {
    e.mutable_filing()->set_filing_number("立案1号");
  } else if (action == "non_filing") {
    e.mutable_non_filing()->set_reason("不构成犯罪");
  } else if (action == "transfer") {
    return TransferEnvelope(case_id);
  } else {
    ADD_FAILURE() << "no envelope for action " << action;
  }
  return e;
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

}  // namespace caselink::testing
