// Builds the load run's requests: realistic transfers with suspects and the
// transfer package, and for a mixed run the PSB's receipt and filing of each
// case, all signed with the agencies' real keys ahead of time.
#include "tools/loadgen/workload.h"

#include <algorithm>
#include <array>
#include <memory>
#include <thread>
#include <utility>

#include <google/protobuf/util/time_util.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "security/digest.h"
#include "security/ecdsa_p256.h"

namespace caselink::loadgen {
namespace {

using google::protobuf::util::TimeUtil;

google::protobuf::Timestamp ToProto(absl::Time t) { return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t)); }

// Every character is three bytes in UTF-8, so cutting at a multiple of three
// always leaves valid UTF-8 (the gateway refuses invalid strings when it parses).
constexpr char kFiller[] =
    "经现场检查，该公司通过暗管向河道排放含镍、铬等重金属的生产废水，监测报告显示总镍浓度超过排放标准十倍以上，"
    "执法人员当场制作笔录并提取水样，涉案设备已依法查封扣押。";
static_assert((sizeof(kFiller) - 1) % 3 == 0, "the filler must be made of three-byte characters");

// Pads remarks so the serialized envelope is about `target` bytes.
void PadRemarks(v1::Envelope& e, size_t target) {
  const size_t size = e.ByteSizeLong();
  if (size >= target) return;
  const std::string_view filler(kFiller, sizeof(kFiller) - 1);
  size_t need = target - size;
  std::string* remarks = e.mutable_remarks();
  // A longer string may need a longer length prefix; leave room for it.
  if (need > 2) need -= 2;
  while (need >= 3) {
    const size_t take = std::min(filler.size(), need - need % 3);
    remarks->append(filler.substr(0, take));
    need -= take;
  }
  remarks->append(need, ' ');
}

absl::Status Sign(const security::Signer& signer, const v1::Envelope& envelope, v1::SubmitRequest& request) {
  v1::SignedEnvelope* signed_envelope = request.mutable_envelope();
  if (!envelope.SerializeToString(signed_envelope->mutable_envelope())) {
    return absl::InternalError("envelope does not serialize");
  }
  absl::StatusOr<std::string> signature = signer.Sign(signed_envelope->envelope());
  if (!signature.ok()) return signature.status();
  signed_envelope->mutable_signature()->set_algorithm(v1::ECDSA_P256_SHA256);
  signed_envelope->mutable_signature()->set_key_id(signer.key_id());
  signed_envelope->mutable_signature()->set_value(*std::move(signature));
  return absl::OkStatus();
}

struct Agencies {
  std::string epb;
  std::string psb;
  std::string region;
  std::string (*new_envelope_id)() = NewEnvelopeId;
};

v1::Envelope Transfer(const Agencies& agencies, const std::string& case_id, size_t n, const WorkloadDocuments& docs) {
  const absl::Time now = absl::Now();
  v1::Envelope e;
  e.set_envelope_id(agencies.new_envelope_id());
  e.set_sender_agency(agencies.epb);
  *e.mutable_created_at() = ToProto(now);
  e.set_case_id(case_id);
  e.add_addressees(agencies.psb);
  for (const v1::DocumentRef& doc : docs.transfer_package) *e.add_documents() = doc;
  v1::Transfer* t = e.mutable_transfer();
  t->set_track(v1::CRIMINAL);
  t->set_case_number(absl::StrCat("成环罚〔2026〕", n + 1, "号"));
  t->set_case_name("某化工有限公司涉嫌污染环境案");
  t->set_offence_category("污染环境罪");
  t->set_legal_basis("《中华人民共和国刑法》第三百三十八条；《环境保护法》第六十三条");
  v1::Suspect* company = t->add_suspects();
  company->set_kind(v1::Suspect::COMPANY);
  company->set_name("某化工有限公司");
  company->set_identifier(absl::StrFormat("91%sMA6C%06d", agencies.region, n % 1000000));
  v1::Suspect* manager = t->add_suspects();
  manager->set_kind(v1::Suspect::PERSON);
  manager->set_name("王某某");
  manager->set_identifier(absl::StrFormat("%s1980%08d", agencies.region, n % 100000000));
  t->set_place("成都市某工业园区雨水排放口下游约两百米处");
  *t->mutable_offence_time() = ToProto(now - absl::Hours(24 * 30));
  t->set_amount_involved_fen(12'345'600);
  t->set_lead_officer("李某");
  t->set_contact("028-0000-0000");
  *t->mutable_decided_at() = ToProto(now - absl::Hours(2));
  e.set_remarks("案情摘要：");
  return e;
}

v1::Envelope Receipt(const Agencies& agencies, const std::string& case_id, const v1::SubmitRequest& transfer) {
  v1::Envelope acknowledged;
  // Parsing back our own bytes cannot fail; the id is needed for the receipt.
  (void)acknowledged.ParseFromString(transfer.envelope().envelope());
  v1::Envelope e;
  e.set_envelope_id(agencies.new_envelope_id());
  e.set_sender_agency(agencies.psb);
  *e.mutable_created_at() = ToProto(absl::Now());
  e.set_case_id(case_id);
  v1::Receipt* r = e.mutable_receipt();
  r->set_acknowledged_envelope_id(acknowledged.envelope_id());
  r->mutable_acknowledged_envelope_digest()->set_algorithm(v1::SHA256);
  r->mutable_acknowledged_envelope_digest()->set_value(security::Sha256(transfer.envelope().envelope()));
  e.set_remarks("已收到移送材料，经审查材料齐全，予以接收。");
  return e;
}

v1::Envelope Filing(const Agencies& agencies, const std::string& case_id, size_t n, const WorkloadDocuments& docs) {
  const absl::Time now = absl::Now();
  v1::Envelope e;
  e.set_envelope_id(agencies.new_envelope_id());
  e.set_sender_agency(agencies.psb);
  *e.mutable_created_at() = ToProto(now);
  e.set_case_id(case_id);
  for (const v1::DocumentRef& doc : docs.filing) *e.add_documents() = doc;
  v1::Filing* f = e.mutable_filing();
  f->set_filing_number(absl::StrCat("成公立〔2026〕", n + 1, "号"));
  *f->mutable_decided_at() = ToProto(now - absl::Minutes(10));
  e.set_remarks("认为有犯罪事实需要追究刑事责任，决定立案侦查。");
  return e;
}

// Position of each (case, stage) in the send order; see WorkloadOptions::mixed_lag_cases.
std::vector<std::array<int64_t, 3>> MixedOrder(size_t cases, size_t lag) {
  std::vector<std::array<int64_t, 3>> position(cases, {-1, -1, -1});
  int64_t next = 0;
  for (size_t step = 0; step < cases + 2 * lag; ++step) {
    for (size_t stage = 0; stage < 3; ++stage) {
      const size_t offset = stage * lag;
      if (step >= offset && step - offset < cases) position[step - offset][stage] = next++;
    }
  }
  return position;
}

absl::StatusOr<v1::DocumentRef> Upload(AgencyClient& client, v1::DocumentType type, const std::string& title,
                                       const std::string& body) {
  return client.UploadBytes(body, type, title, "text/plain; charset=utf-8");
}

}  // namespace

absl::StatusOr<WorkloadDocuments> UploadWorkloadDocuments(AgencyClient& epb, AgencyClient& psb) {
  WorkloadDocuments docs;
  const std::string note = "（负载测试文书，内容为合成数据）\n";
  const std::pair<v1::DocumentType, const char*> package[] = {
      {v1::TRANSFER_LETTER, "案件移送书"},
      {v1::INVESTIGATION_REPORT, "案件调查报告"},
      {v1::SEIZED_ITEMS_LIST, "涉案物品清单"},
  };
  for (const auto& [type, title] : package) {
    absl::StatusOr<v1::DocumentRef> ref = Upload(epb, type, title, absl::StrCat(title, note, std::string(512, '.')));
    if (!ref.ok()) return ref.status();
    docs.transfer_package.push_back(*std::move(ref));
  }
  absl::StatusOr<v1::DocumentRef> notice =
      Upload(psb, v1::FILING_NOTICE, "立案通知书", absl::StrCat("立案通知书", note, std::string(256, '.')));
  if (!notice.ok()) return notice.status();
  docs.filing.push_back(*std::move(notice));
  return docs;
}

absl::StatusOr<Workload> BuildWorkload(const WorkloadOptions& options, const std::vector<AgencyIdentity>& identities,
                                       const WorkloadDocuments& documents) {
  const bool mixed = options.kind == WorkloadKind::kMixed;
  if (identities.size() < (mixed ? 2u : 1u)) {
    return absl::InvalidArgumentError("the workload needs the EPB's identity (and the PSB's for a mixed run)");
  }
  Agencies agencies;
  agencies.epb = identities[0].agency_id;
  agencies.region = agencies.epb.substr(0, agencies.epb.find('.'));
  agencies.psb = mixed ? identities[1].agency_id : absl::StrCat(agencies.region, ".psb");
  if (options.random_envelope_ids) agencies.new_envelope_id = NewRandomEnvelopeId;

  Workload out;
  out.agencies.push_back(agencies.epb);
  if (mixed) out.agencies.push_back(agencies.psb);

  const size_t cases = mixed ? (options.requests + 2) / 3 : options.requests;
  std::vector<std::array<int64_t, 3>> position;
  if (mixed) {
    position = MixedOrder(cases, options.mixed_lag_cases);
  } else {
    position.resize(cases);
    for (size_t i = 0; i < cases; ++i) position[i] = {static_cast<int64_t>(i), -1, -1};
  }
  out.submits.resize(mixed ? 3 * cases : cases);

  const int threads = std::max(1, options.threads);
  std::vector<absl::Status> results(threads);
  std::vector<size_t> bytes(threads, 0);
  auto build = [&](int thread) -> absl::Status {
    std::vector<std::unique_ptr<security::EcdsaP256Signer>> signers;
    for (size_t a = 0; a < out.agencies.size(); ++a) {
      auto signer = security::EcdsaP256Signer::Create(identities[a].signing_key_pem, identities[a].signing_key_id);
      if (!signer.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("signing key of ", identities[a].agency_id, ": ", signer.status().message()));
      }
      signers.push_back(*std::move(signer));
    }
    for (size_t n = static_cast<size_t>(thread); n < cases; n += threads) {
      const std::string case_id = absl::StrFormat("%s-EPB-LG%s-%07d", agencies.region, options.run_tag, n);
      PreparedSubmit& transfer = out.submits[position[n][0]];
      v1::Envelope e = Transfer(agencies, case_id, n, documents);
      PadRemarks(e, options.envelope_bytes);
      if (absl::Status s = Sign(*signers[0], e, transfer.request); !s.ok()) return s;
      transfer.agency = 0;
      bytes[thread] += transfer.request.envelope().envelope().size();
      if (!mixed) continue;

      PreparedSubmit& receipt = out.submits[position[n][1]];
      e = Receipt(agencies, case_id, transfer.request);
      PadRemarks(e, options.envelope_bytes);
      if (absl::Status s = Sign(*signers[1], e, receipt.request); !s.ok()) return s;
      receipt.agency = 1;
      receipt.predecessor = position[n][0];
      transfer.has_dependent = true;
      bytes[thread] += receipt.request.envelope().envelope().size();

      PreparedSubmit& filing = out.submits[position[n][2]];
      e = Filing(agencies, case_id, n, documents);
      PadRemarks(e, options.envelope_bytes);
      if (absl::Status s = Sign(*signers[1], e, filing.request); !s.ok()) return s;
      filing.agency = 1;
      filing.predecessor = position[n][1];
      receipt.has_dependent = true;
      bytes[thread] += filing.request.envelope().envelope().size();
    }
    return absl::OkStatus();
  };
  std::vector<std::thread> workers;
  for (int t = 1; t < threads; ++t) workers.emplace_back([&, t] { results[t] = build(t); });
  results[0] = build(0);
  for (std::thread& w : workers) w.join();
  size_t total_bytes = 0;
  for (int t = 0; t < threads; ++t) {
    if (!results[t].ok()) return results[t];
    total_bytes += bytes[t];
  }
  if (!out.submits.empty()) out.mean_envelope_bytes = static_cast<double>(total_bytes) / out.submits.size();
  return out;
}

}  // namespace caselink::loadgen
