// The gRPC services of CaseLink v1 on the callback API. Handlers verify and
// hand work to the pipeline; they never wait for the disk commit.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "adapters/clock/clock.h"
#include "caselink/v1/services.grpc.pb.h"
#include "gateway/submission_pipeline.h"

namespace caselink {

class GatewayKeyring;
class ReadExecutor;

inline constexpr size_t kDefaultSubmitStreamWindow = 512;

struct ServiceContext {
  SubmissionPipeline& pipeline;
  Store& store;
  const AgencyRegistry& registry;
  BlobStore& blobs;
  DeliveryHub& hub;
  const v1::GatewayConfig& config;
  const std::string& gateway_certificate_pem;
  // What the gateway signs receipts and tree heads with (by its key's type).
  security::SignatureAlgorithm gateway_signature_algorithm = security::SignatureAlgorithm::kEcdsaP256Sha256;
  // The gateway's current and previous keys (rotation); when set, GetGatewayInfo
  // publishes these instead of the two fields above.
  const GatewayKeyring* gateway_keys = nullptr;
  // Where read RPCs run their store reads, off gRPC's callback threads (which
  // Submit needs too). Null: on the calling thread, for services built without
  // a GatewayServer.
  ReadExecutor* reads = nullptr;
  // Envelopes of one SubmitStream call the gateway holds before it stops reading
  // that call: enough to keep group commits full from one bulk sender, few
  // enough that a sender that never reads its answers holds little memory.
  size_t submit_stream_window = kDefaultSubmitStreamWindow;
};

// Runs `read` (store reads, the response, the reactor's Finish) on ctx.reads.
// When the executor refuses (queue full, shutting down) the call is refused
// with that reason, audited as `action` on `case_id`, and `read` never runs.
void PostRead(ServiceContext& ctx, grpc::ServerUnaryReactor* reactor, const Caller& caller, std::string action,
              std::string case_id, std::function<void()> read);

// Maps the mTLS peer certificate to a registered agency.
class PeerIdentifier {
 public:
  // `clock`: gateway time for the certificate's validity; null means the system clock.
  explicit PeerIdentifier(const AgencyRegistry& registry, const Clock* clock = nullptr)
      : registry_(registry), clock_(clock) {}
  // UNAUTHENTICATED when the certificate is missing, not registered, or no longer
  // valid (revoked by the CRLs in force, expired; see CheckTlsClientCertificateAt);
  // the returned Caller still carries the fingerprint, and the agency when the
  // certificate is registered, for the audit record.
  absl::Status Identify(const grpc::ServerContextBase& context, Caller& caller);

 private:
  const AgencyRegistry& registry_;
  const Clock* clock_;
  std::mutex mu_;
  std::unordered_map<std::string, std::string> fingerprint_by_pem_;
};

class CaseServiceImpl final : public v1::CaseService::CallbackService {
 public:
  CaseServiceImpl(ServiceContext ctx, PeerIdentifier& peers) : ctx_(ctx), peers_(peers) {}
  grpc::ServerUnaryReactor* Submit(grpc::CallbackServerContext* context, const v1::SubmitRequest* request,
                                   v1::SubmitResponse* response) override;
  // In gateway/submit_stream.cc.
  grpc::ServerBidiReactor<v1::SubmitStreamRequest, v1::SubmitStreamResponse>* SubmitStream(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* GetCase(grpc::CallbackServerContext* context, const v1::GetCaseRequest* request,
                                    v1::GetCaseResponse* response) override;
  grpc::ServerUnaryReactor* ListCases(grpc::CallbackServerContext* context, const v1::ListCasesRequest* request,
                                      v1::ListCasesResponse* response) override;

 private:
  ServiceContext ctx_;
  PeerIdentifier& peers_;
};

class DeliveryServiceImpl final : public v1::DeliveryService::CallbackService {
 public:
  DeliveryServiceImpl(ServiceContext ctx, PeerIdentifier& peers) : ctx_(ctx), peers_(peers) {}
  grpc::ServerWriteReactor<v1::Delivery>* Subscribe(grpc::CallbackServerContext* context,
                                                    const v1::SubscribeRequest* request) override;
  grpc::ServerUnaryReactor* Acknowledge(grpc::CallbackServerContext* context, const v1::AcknowledgeRequest* request,
                                        v1::AcknowledgeResponse* response) override;

 private:
  ServiceContext ctx_;
  PeerIdentifier& peers_;
};

class DocumentServiceImpl final : public v1::DocumentService::CallbackService {
 public:
  DocumentServiceImpl(ServiceContext ctx, PeerIdentifier& peers) : ctx_(ctx), peers_(peers) {}
  grpc::ServerReadReactor<v1::UploadRequest>* Upload(grpc::CallbackServerContext* context,
                                                     v1::UploadResponse* response) override;
  grpc::ServerWriteReactor<v1::DownloadChunk>* Download(grpc::CallbackServerContext* context,
                                                        const v1::DownloadRequest* request) override;

 private:
  ServiceContext ctx_;
  PeerIdentifier& peers_;
};

// StatisticsServiceImpl is in gateway/statistics_service.h.

class GatewayServiceImpl final : public v1::GatewayService::CallbackService {
 public:
  GatewayServiceImpl(ServiceContext ctx, PeerIdentifier& peers) : ctx_(ctx), peers_(peers) {}
  grpc::ServerUnaryReactor* GetGatewayInfo(grpc::CallbackServerContext* context, const v1::GetGatewayInfoRequest*,
                                           v1::GatewayInfo* response) override;
  // In gateway/agency_certificates.cc.
  grpc::ServerUnaryReactor* GetAgencyCertificates(grpc::CallbackServerContext* context,
                                                  const v1::GetAgencyCertificatesRequest* request,
                                                  v1::GetAgencyCertificatesResponse* response) override;

 private:
  ServiceContext ctx_;
  PeerIdentifier& peers_;
};

// absl::Status -> grpc::Status, keeping code and message.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace caselink
