// Audit RPCs. Proofs are read from the stored perfect-subtree hashes, O(log n)
// reads each; nothing is rebuilt to answer a request.
#include "gateway/audit_service.h"

#include <google/protobuf/util/time_util.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gateway/audit_log.h"
#include "gateway/case_bundle.h"
#include "gateway/lifecycle.h"
#include "security/merkle/merkle_log.h"

namespace caselink {
namespace {

constexpr uint32_t kDefaultPageSize = 100;
constexpr uint32_t kMaxPageSize = 1000;

bool IsAuditor(const Caller& caller) {
  if (caller.agency == nullptr) return false;
  for (const auto& role : caller.agency->agency.roles()) {
    if (role == "auditor") return true;
  }
  return false;
}

std::string Province(const Caller& caller) { return caller.agency->agency.region().substr(0, 2); }

int64_t Micros(const google::protobuf::Timestamp& t) { return google::protobuf::util::TimeUtil::TimestampToMicroseconds(t); }

// Finishes with a refusal once it is audited.
void Refuse(ServiceContext& ctx, grpc::ServerUnaryReactor* reactor, const Caller& caller, std::string action,
            std::string case_id, absl::Status why) {
  ctx.pipeline.RecordRefusal(caller, std::move(action), std::move(case_id), std::move(why),
                             [reactor](absl::Status st) { reactor->Finish(ToGrpcStatus(st)); });
}

// Whether the caller may see the case's records; the refusal otherwise.
absl::Status MaySeeCase(Store& store, const Caller& caller, const std::string& case_id) {
  auto c = store.ReadCase(case_id);
  if (!c.ok()) return absl::UnavailableError(std::string(c.status().message()));
  if (c->has_value()) {
    if (!RelationsOf(**c, caller.agency_id()).empty()) return absl::OkStatus();
    if (IsAuditor(caller) && (*c)->region().starts_with(Province(caller))) return absl::OkStatus();
  } else if (IsAuditor(caller)) {
    return absl::NotFoundError(absl::StrCat("case '", case_id, "' does not exist"));
  }
  // Non-parties are not told whether the case exists.
  return absl::PermissionDeniedError(absl::StrCat("agency '", caller.agency_id(), "' is not a party to case '", case_id,
                                                  "' and is not an auditor of its province"));
}

}  // namespace

grpc::ServerUnaryReactor* AuditServiceImpl::Query(grpc::CallbackServerContext* context, const v1::AuditQueryRequest* request,
                                                  v1::AuditQueryResponse* response) {
  auto* reactor = context->DefaultReactor();
  Caller caller;
  if (auto st = peers_.Identify(*context, caller); !st.ok()) {
    Refuse(ctx_, reactor, caller, "AuditService/Query", request->case_id(), st);
    return reactor;
  }
  AuditFilter filter;
  filter.case_id = request->case_id();
  filter.actor = request->agency();
  filter.action = request->action();
  filter.outcome = request->outcome();
  if (request->has_from()) filter.from_micros = Micros(request->from());
  if (request->has_to()) filter.to_micros = Micros(request->to());
  filter.limit = request->page_size() == 0 ? kDefaultPageSize : std::min(request->page_size(), kMaxPageSize);
  if (!request->page_token().empty() && !absl::SimpleAtoi(request->page_token(), &filter.from_index)) {
    Refuse(ctx_, reactor, caller, "AuditService/Query", request->case_id(),
           absl::InvalidArgumentError("page_token is not one this gateway issued"));
    return reactor;
  }
  PostRead(ctx_, reactor, caller, "AuditService/Query", request->case_id(),
           [this, reactor, caller, request, response, filter = std::move(filter)]() mutable {
             QueryOnReadThread(reactor, caller, request, std::move(filter), response);
           });
  return reactor;
}

// The visibility checks are cheap, but the first one reads the case, so all run here.
void AuditServiceImpl::QueryOnReadThread(grpc::ServerUnaryReactor* reactor, const Caller& caller,
                                         const v1::AuditQueryRequest* request, AuditFilter filter,
                                         v1::AuditQueryResponse* response) {
  if (!request->case_id().empty()) {
    if (auto st = MaySeeCase(ctx_.store, caller, request->case_id()); !st.ok()) {
      Refuse(ctx_, reactor, caller, "AuditService/Query", request->case_id(), st);
      return;
    }
  }
  if (IsAuditor(caller)) {
    if (!request->agency().empty() && !request->agency().starts_with(Province(caller))) {
      Refuse(ctx_, reactor, caller, "AuditService/Query", request->case_id(),
             absl::PermissionDeniedError(absl::StrCat("auditor '", caller.agency_id(), "' may query agencies of province ",
                                                      Province(caller), " only")));
      return;
    }
    filter.visible_region_prefix = Province(caller);
  } else {
    if (!request->agency().empty() && request->agency() != caller.agency_id()) {
      Refuse(ctx_, reactor, caller, "AuditService/Query", request->case_id(),
             absl::PermissionDeniedError(absl::StrCat("agency '", caller.agency_id(),
                                                      "' may query its own actions and its cases only, not those of '",
                                                      request->agency(), "'")));
      return;
    }
    filter.visible_to_agency = caller.agency_id();
  }
  auto entries = ctx_.store.QueryAudit(filter);
  if (!entries.ok()) {
    reactor->Finish(ToGrpcStatus(absl::UnavailableError(absl::StrCat("querying the audit log: ", entries.status().message()))));
    return;
  }
  for (const auto& entry : *entries) {
    if (!response->add_records()->ParseFromString(entry.record())) {
      reactor->Finish(ToGrpcStatus(absl::DataLossError(absl::StrCat("audit record ", entry.index(), " does not parse"))));
      return;
    }
  }
  if (entries->size() == filter.limit) response->set_next_page_token(absl::StrCat(entries->back().index() + 1));
  // The query itself is part of the trail.
  v1::AuditRecord r;
  r.set_actor_agency(caller.agency_id());
  r.set_actor_certificate_sha256(caller.certificate_sha256);
  r.set_action("AuditService/Query");
  r.set_case_id(request->case_id());
  r.set_outcome(v1::AuditRecord::ACCEPTED);
  r.set_reason(absl::StrCat("filter agency='", request->agency(), "' action='", request->action(), "' outcome=",
                            v1::AuditRecord::Outcome_Name(request->outcome()), "; ", entries->size(), " records"));
  ctx_.pipeline.RecordEvent(std::move(r), [reactor](absl::Status st) {
    reactor->Finish(st.ok() ? grpc::Status::OK
                            : ToGrpcStatus(absl::UnavailableError("the query could not be audited, so no records are returned; retry")));
  });
}

grpc::ServerUnaryReactor* AuditServiceImpl::GetTreeHead(grpc::CallbackServerContext* context,
                                                        const v1::GetTreeHeadRequest* request, v1::SignedTreeHead* response) {
  auto* reactor = context->DefaultReactor();
  Caller caller;
  if (auto st = peers_.Identify(*context, caller); !st.ok()) {
    Refuse(ctx_, reactor, caller, "AuditService/GetTreeHead", "", st);
    return reactor;
  }
  // Signing a new head also waits for its commit: all the more reason to keep it off gRPC's threads.
  PostRead(ctx_, reactor, caller, "AuditService/GetTreeHead", "", [this, reactor, request, response] {
    if (request->tree_size() == 0) {
      auto sth = SignCurrentTreeHead(ctx_.store, hasher_, *keys_.Current()->signer, clock_.Now());
      if (!sth.ok()) {
        reactor->Finish(ToGrpcStatus(absl::UnavailableError(absl::StrCat("signing the tree head: ", sth.status().message()))));
        return;
      }
      *response = std::move(*sth);
      reactor->Finish(grpc::Status::OK);
      return;
    }
    auto stored = ctx_.store.ReadTreeHead(request->tree_size());
    if (!stored.ok()) {
      reactor->Finish(ToGrpcStatus(absl::UnavailableError(std::string(stored.status().message()))));
    } else if (!stored->has_value()) {
      reactor->Finish(ToGrpcStatus(absl::NotFoundError(absl::StrCat(
          "no tree head was signed at size ", request->tree_size(), "; ask with tree_size 0 for the current one"))));
    } else if (!response->ParseFromString(**stored)) {
      reactor->Finish(ToGrpcStatus(absl::DataLossError("the stored tree head does not parse")));
    } else {
      reactor->Finish(grpc::Status::OK);
    }
  });
  return reactor;
}

grpc::ServerUnaryReactor* AuditServiceImpl::GetInclusionProof(grpc::CallbackServerContext* context,
                                                              const v1::InclusionProofRequest* request,
                                                              v1::InclusionProof* response) {
  auto* reactor = context->DefaultReactor();
  Caller caller;
  if (auto st = peers_.Identify(*context, caller); !st.ok()) {
    Refuse(ctx_, reactor, caller, "AuditService/GetInclusionProof", "", st);
    return reactor;
  }
  PostRead(ctx_, reactor, caller, "AuditService/GetInclusionProof", "", [this, reactor, request, response] {
    auto size = ctx_.store.ReadAuditSize();
    if (!size.ok()) {
      reactor->Finish(ToGrpcStatus(absl::UnavailableError(std::string(size.status().message()))));
      return;
    }
    if (request->tree_size() == 0 || request->tree_size() > *size || request->leaf_index() >= request->tree_size()) {
      reactor->Finish(ToGrpcStatus(absl::InvalidArgumentError(
          absl::StrCat("need leaf_index < tree_size <= ", *size, " (the current log size); got leaf_index ",
                       request->leaf_index(), ", tree_size ", request->tree_size()))));
      return;
    }
    StoreMerkleReader store_reader(ctx_.store);
    merkle::CachingNodeReader reader(node_cache_, store_reader);
    auto proof = merkle::InclusionProof(hasher_, reader, request->leaf_index(), request->tree_size());
    if (!proof.ok()) {
      reactor->Finish(ToGrpcStatus(proof.status()));
      return;
    }
    response->set_leaf_index(request->leaf_index());
    response->set_tree_size(request->tree_size());
    for (auto& h : *proof) response->add_audit_path(std::move(h));
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* AuditServiceImpl::GetConsistencyProof(grpc::CallbackServerContext* context,
                                                                const v1::ConsistencyProofRequest* request,
                                                                v1::ConsistencyProof* response) {
  auto* reactor = context->DefaultReactor();
  Caller caller;
  if (auto st = peers_.Identify(*context, caller); !st.ok()) {
    Refuse(ctx_, reactor, caller, "AuditService/GetConsistencyProof", "", st);
    return reactor;
  }
  PostRead(ctx_, reactor, caller, "AuditService/GetConsistencyProof", "", [this, reactor, request, response] {
    auto size = ctx_.store.ReadAuditSize();
    if (!size.ok()) {
      reactor->Finish(ToGrpcStatus(absl::UnavailableError(std::string(size.status().message()))));
      return;
    }
    const uint64_t first = request->first_tree_size(), second = request->second_tree_size();
    if (first == 0 || first > second || second > *size) {
      reactor->Finish(ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat("need 0 < first_tree_size <= second_tree_size <= ",
                                                                           *size, " (the current log size); got ", first,
                                                                           " and ", second))));
      return;
    }
    StoreMerkleReader store_reader(ctx_.store);
    merkle::CachingNodeReader reader(node_cache_, store_reader);
    auto proof = merkle::ConsistencyProof(hasher_, reader, first, second);
    if (!proof.ok()) {
      reactor->Finish(ToGrpcStatus(proof.status()));
      return;
    }
    response->set_first_tree_size(first);
    response->set_second_tree_size(second);
    for (auto& h : *proof) response->add_proof(std::move(h));
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* AuditServiceImpl::ExportCase(grpc::CallbackServerContext* context,
                                                       const v1::ExportCaseRequest* request, v1::CaseBundle* response) {
  auto* reactor = context->DefaultReactor();
  Caller caller;
  if (auto st = peers_.Identify(*context, caller); !st.ok()) {
    Refuse(ctx_, reactor, caller, "AuditService/ExportCase", request->case_id(), st);
    return reactor;
  }
  PostRead(ctx_, reactor, caller, "AuditService/ExportCase", request->case_id(), [this, reactor, caller, request, response] {
    if (auto st = MaySeeCase(ctx_.store, caller, request->case_id()); !st.ok()) {
      Refuse(ctx_, reactor, caller, "AuditService/ExportCase", request->case_id(), st);
      return;
    }
    const auto key = keys_.Current();
    std::map<std::string, std::string> previous;
    for (const GatewayKeyInfo& k : keys_.Published()) previous[k.key_id] = k.certificate_pem;
    auto bundle = BuildCaseBundle(ctx_.store, ctx_.registry, hasher_, *key->signer, key->certificate_pem,
                                  request->case_id(), clock_.Now(), previous);
    if (!bundle.ok()) {
      reactor->Finish(ToGrpcStatus(bundle.status()));
      return;
    }
    *response = std::move(*bundle);
    v1::AuditRecord r;
    r.set_actor_agency(caller.agency_id());
    r.set_actor_certificate_sha256(caller.certificate_sha256);
    r.set_action("AuditService/ExportCase");
    r.set_case_id(request->case_id());
    r.set_outcome(v1::AuditRecord::ACCEPTED);
    r.set_reason(absl::StrCat(response->envelopes_size(), " envelopes, ", response->audit_entries_size(), " audit entries"));
    ctx_.pipeline.RecordEvent(std::move(r), [reactor](absl::Status st) {
      reactor->Finish(st.ok() ? grpc::Status::OK
                              : ToGrpcStatus(absl::UnavailableError("the export could not be audited; retry")));
    });
  });
  return reactor;
}

}  // namespace caselink
