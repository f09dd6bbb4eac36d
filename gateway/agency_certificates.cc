// GatewayService.GetAgencyCertificates: the registry's public certificates, so a sender can
// encrypt documents to the agencies it addresses. The registry is public to registered agencies;
// the caller must still be one of them.
#include <set>

#include "absl/strings/str_cat.h"
#include "gateway/services.h"

namespace caselink {
namespace {

constexpr int kMaxRequestedAgencies = 1000;

void Describe(const AgencyEntry& entry, v1::AgencyCertificates& out) {
  out.set_agency_id(entry.agency.id());
  out.set_kind(entry.agency.kind());
  out.set_region(entry.agency.region());
  out.set_level(entry.agency.level());
  for (const auto& key : entry.encryption_keys) {
    auto* c = out.add_encryption_keys();
    c->set_key_id(key->key_id);
    c->set_certificate_pem(key->certificate_pem);
  }
  for (const auto& key : entry.signing_keys) {
    auto* c = out.add_signing_keys();
    c->set_key_id(key->key_id);
    c->set_certificate_pem(key->certificate->Pem());
  }
}

}  // namespace

grpc::ServerUnaryReactor* GatewayServiceImpl::GetAgencyCertificates(grpc::CallbackServerContext* context,
                                                                    const v1::GetAgencyCertificatesRequest* request,
                                                                    v1::GetAgencyCertificatesResponse* response) {
  auto* reactor = context->DefaultReactor();
  Caller caller;
  absl::Status refusal = peers_.Identify(*context, caller);
  if (refusal.ok() && request->agency_ids_size() > kMaxRequestedAgencies) {
    refusal = absl::InvalidArgumentError(absl::StrCat("at most ", kMaxRequestedAgencies, " agency ids per request"));
  }
  if (refusal.ok()) {
    if (request->agency_ids().empty()) {
      for (const AgencyEntry* entry : ctx_.registry.All()) Describe(*entry, *response->add_agencies());
    } else {
      std::set<std::string> seen;
      for (const std::string& id : request->agency_ids()) {
        if (!seen.insert(id).second) continue;
        const AgencyEntry* entry = ctx_.registry.Find(id);
        if (entry == nullptr) {
          refusal = absl::NotFoundError(absl::StrCat("agency '", id, "' is not in the registry"));
          break;
        }
        Describe(*entry, *response->add_agencies());
      }
    }
  }
  if (!refusal.ok()) {
    response->Clear();
    ctx_.pipeline.RecordRefusal(caller, "GetAgencyCertificates", "", refusal,
                                [reactor](absl::Status st) { reactor->Finish(ToGrpcStatus(st)); });
    return reactor;
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace caselink
