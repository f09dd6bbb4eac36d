// AuditService: compliance queries with explicit visibility rules, signed tree
// heads, inclusion and consistency proofs, and court-ready case bundles.
#pragma once

#include "adapters/clock/clock.h"
#include "caselink/v1/services.grpc.pb.h"
#include "gateway/gateway_keyring.h"
#include "gateway/services.h"
#include "security/merkle/node_cache.h"
#include "security/merkle/tree_hasher.h"
#include "security/signature.h"

namespace caselink {

class AuditServiceImpl final : public v1::AuditService::CallbackService {
 public:
  // Tree heads and bundles are signed by the keyring's key current at the time.
  AuditServiceImpl(ServiceContext ctx, PeerIdentifier& peers, const GatewayKeyring& keys, const Clock& clock,
                   const merkle::TreeHasher& hasher)
      : ctx_(ctx), peers_(peers), keys_(keys), clock_(clock), hasher_(hasher) {}

  // Who sees what: an agency, the records of its own actions and of cases it
  // is party to; an agency with the "auditor" role, every record of its
  // province (the first two digits of its region) and the gateway's own
  // events; anything else is PERMISSION_DENIED. Every query is audited.
  grpc::ServerUnaryReactor* Query(grpc::CallbackServerContext* context, const v1::AuditQueryRequest* request,
                                  v1::AuditQueryResponse* response) override;
  // Size 0: signs the current log (or returns the head already signed for
  // that size). Otherwise the head stored for exactly that size.
  grpc::ServerUnaryReactor* GetTreeHead(grpc::CallbackServerContext* context, const v1::GetTreeHeadRequest* request,
                                        v1::SignedTreeHead* response) override;
  grpc::ServerUnaryReactor* GetInclusionProof(grpc::CallbackServerContext* context,
                                              const v1::InclusionProofRequest* request,
                                              v1::InclusionProof* response) override;
  grpc::ServerUnaryReactor* GetConsistencyProof(grpc::CallbackServerContext* context,
                                                const v1::ConsistencyProofRequest* request,
                                                v1::ConsistencyProof* response) override;
  // For the agencies party to the case and auditors of its province.
  grpc::ServerUnaryReactor* ExportCase(grpc::CallbackServerContext* context, const v1::ExportCaseRequest* request,
                                       v1::CaseBundle* response) override;

 private:
  // Query's visibility checks, read and answer, on the read executor.
  void QueryOnReadThread(grpc::ServerUnaryReactor* reactor, const Caller& caller, const v1::AuditQueryRequest* request,
                         AuditFilter filter, v1::AuditQueryResponse* response);

  ServiceContext ctx_;
  PeerIdentifier& peers_;
  const GatewayKeyring& keys_;
  const Clock& clock_;
  const merkle::TreeHasher& hasher_;
  // Upper-level subtree hashes, shared by all proof requests.
  merkle::MerkleNodeCache node_cache_;
};

}  // namespace caselink
