// gRPC service handlers. Reads are served from the store's read connections;
// every state change and every refusal goes through the pipeline's audit path.
#include "gateway/services.h"

#include <deque>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gateway/audit_log.h"
#include "gateway/crypto_profile.h"
#include "gateway/document_checks.h"
#include "gateway/evidence.h"
#include "gateway/gateway_keyring.h"
#include "gateway/lifecycle.h"
#include "gateway/read_executor.h"
#include "gateway/submit_stream.h"
#include "gateway/tls_client_checks.h"
#include "security/certificate.h"
#include "security/digest.h"

namespace caselink {
namespace {

constexpr size_t kDownloadChunkBytes = 64 * 1024;
constexpr uint32_t kDeliveryBatch = 64;

bool HasRole(const Caller& caller, absl::string_view role) {
  if (caller.agency == nullptr) return false;
  for (const auto& r : caller.agency->agency.roles()) {
    if (r == role) return true;
  }
  return false;
}

// Finishes a unary reactor with a refusal after it is audited.
void RefuseUnary(ServiceContext& ctx, grpc::ServerUnaryReactor* reactor, const Caller& caller, std::string action,
                 std::string case_id, absl::Status why) {
  ctx.pipeline.RecordRefusal(caller, std::move(action), std::move(case_id), std::move(why),
                             [reactor](absl::Status st) { reactor->Finish(ToGrpcStatus(st)); });
}

}  // namespace

void PostRead(ServiceContext& ctx, grpc::ServerUnaryReactor* reactor, const Caller& caller, std::string action,
              std::string case_id, std::function<void()> read) {
  if (ctx.reads == nullptr) return read();
  if (auto st = ctx.reads->Post(std::move(read)); !st.ok()) {
    RefuseUnary(ctx, reactor, caller, std::move(action), std::move(case_id), std::move(st));
  }
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

absl::Status PeerIdentifier::Identify(const grpc::ServerContextBase& context, Caller& caller) {
  auto auth = context.auth_context();
  if (auth == nullptr) return absl::UnauthenticatedError("no TLS client certificate");
  auto values = auth->FindPropertyValues("x509_pem_cert");
  if (values.empty()) return absl::UnauthenticatedError("no TLS client certificate was presented");
  std::string pem(values.front().data(), values.front().size());
  std::string fingerprint;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = fingerprint_by_pem_.find(pem);
    if (it != fingerprint_by_pem_.end()) fingerprint = it->second;
  }
  if (fingerprint.empty()) {
    auto cert = security::Certificate::FromPem(pem);
    if (!cert.ok()) return absl::UnauthenticatedError(absl::StrCat("peer certificate does not parse: ", cert.status().message()));
    fingerprint = (*cert)->Sha256Fingerprint();
    std::lock_guard<std::mutex> lock(mu_);
    if (fingerprint_by_pem_.size() > 10000) fingerprint_by_pem_.clear();
    fingerprint_by_pem_[pem] = fingerprint;
  }
  caller.certificate_sha256 = fingerprint;
  caller.agency = registry_.FindByTlsFingerprint(fingerprint);
  if (caller.agency == nullptr) {
    return absl::UnauthenticatedError(absl::StrCat("TLS client certificate sha256 ", fingerprint,
                                                   " is not bound to any agency in the registry"));
  }
  // The handshake checked the chain at wall-clock time against the CA alone; the CRLs
  // and the gateway's time are checked here, on every RPC (cached per certificate).
  if (const security::Certificate* cert = registry_.FindTlsCertificate(fingerprint); cert != nullptr) {
    const absl::Time now = clock_ != nullptr ? clock_->Now() : absl::Now();
    if (auto st = CheckTlsClientCertificateAt(registry_, caller.agency_id(), *cert, now); !st.ok()) return st;
  }
  return absl::OkStatus();
}

// ---- CaseService ----

grpc::ServerUnaryReactor* CaseServiceImpl::Submit(grpc::CallbackServerContext* context, const v1::SubmitRequest* request,
                                                  v1::SubmitResponse* response) {
  auto* reactor = context->DefaultReactor();
  Caller caller;
  if (auto st = peers_.Identify(*context, caller); !st.ok()) {
    RefuseUnary(ctx_, reactor, caller, "Submit", "", st);
    return reactor;
  }
  if (!request->has_envelope()) {
    RefuseUnary(ctx_, reactor, caller, "Submit", "", absl::InvalidArgumentError("SubmitRequest.envelope is required"));
    return reactor;
  }
  ctx_.pipeline.Submit(caller, request->envelope(), [reactor, response](absl::StatusOr<v1::SubmitResponse> result) {
    if (!result.ok()) return reactor->Finish(ToGrpcStatus(result.status()));
    *response = std::move(*result);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerBidiReactor<v1::SubmitStreamRequest, v1::SubmitStreamResponse>* CaseServiceImpl::SubmitStream(
    grpc::CallbackServerContext* context) {
  return NewSubmitStreamReactor(ctx_, peers_, context);
}

grpc::ServerUnaryReactor* CaseServiceImpl::GetCase(grpc::CallbackServerContext* context, const v1::GetCaseRequest* request,
                                                   v1::GetCaseResponse* response) {
  auto* reactor = context->DefaultReactor();
  Caller caller;
  if (auto st = peers_.Identify(*context, caller); !st.ok()) {
    RefuseUnary(ctx_, reactor, caller, "GetCase", request->case_id(), st);
    return reactor;
  }
  PostRead(ctx_, reactor, caller, "GetCase", request->case_id(), [this, reactor, caller, request, response] {
    auto c = ctx_.store.ReadCase(request->case_id());
    if (!c.ok()) {
      reactor->Finish(ToGrpcStatus(absl::UnavailableError(absl::StrCat("reading case: ", c.status().message()))));
      return;
    }
    if (!c->has_value()) {
      RefuseUnary(ctx_, reactor, caller, "GetCase", request->case_id(),
                  absl::NotFoundError(absl::StrCat("case '", request->case_id(), "' does not exist")));
      return;
    }
    const v1::Case& found = **c;
    const bool party = !RelationsOf(found, caller.agency_id()).empty();
    const bool auditor =
        HasRole(caller, "auditor") && found.region().starts_with(caller.agency->agency.region().substr(0, 2));
    if (!party && !auditor) {
      RefuseUnary(ctx_, reactor, caller, "GetCase", request->case_id(),
                  absl::PermissionDeniedError(absl::StrCat("agency '", caller.agency_id(), "' is not a party to case '",
                                                           request->case_id(), "'")));
      return;
    }
    auto timeline = ctx_.store.ReadTimeline(request->case_id());
    if (!timeline.ok()) {
      reactor->Finish(ToGrpcStatus(absl::UnavailableError(absl::StrCat("reading timeline: ", timeline.status().message()))));
      return;
    }
    *response->mutable_case_() = found;
    for (auto& e : *timeline) *response->add_timeline() = std::move(e);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* CaseServiceImpl::ListCases(grpc::CallbackServerContext* context,
                                                     const v1::ListCasesRequest* request, v1::ListCasesResponse* response) {
  auto* reactor = context->DefaultReactor();
  Caller caller;
  if (auto st = peers_.Identify(*context, caller); !st.ok()) {
    RefuseUnary(ctx_, reactor, caller, "ListCases", "", st);
    return reactor;
  }
  CaseFilter filter;
  filter.overdue_only = request->overdue_only();
  filter.state = request->state();
  filter.track = request->track();
  filter.region_prefix = request->region_prefix();
  filter.after_case_id = request->page_token();
  filter.limit = request->page_size() == 0 ? 50 : std::min<uint32_t>(request->page_size(), 500);
  if (request->has_updated_from()) filter.updated_from_micros = request->updated_from().seconds() * 1000000 + request->updated_from().nanos() / 1000;
  if (request->has_updated_to()) filter.updated_to_micros = request->updated_to().seconds() * 1000000 + request->updated_to().nanos() / 1000;
  // Agencies see their own cases; auditors see their province.
  if (HasRole(caller, "auditor")) {
    filter.agency = request->agency();
    const std::string province = caller.agency->agency.region().substr(0, 2);
    if (!filter.region_prefix.starts_with(province)) {
      if (!filter.region_prefix.empty()) {
        RefuseUnary(ctx_, reactor, caller, "ListCases", "",
                    absl::PermissionDeniedError(absl::StrCat("auditor ", caller.agency_id(), " may list cases of region ", province,
                                                             " only, not ", filter.region_prefix)));
        return reactor;
      }
      filter.region_prefix = province;
    }
  } else {
    if (!request->agency().empty() && request->agency() != caller.agency_id()) {
      RefuseUnary(ctx_, reactor, caller, "ListCases", "",
                  absl::PermissionDeniedError(absl::StrCat("agency '", caller.agency_id(), "' may list only its own cases")));
      return reactor;
    }
    filter.agency = caller.agency_id();
  }
  PostRead(ctx_, reactor, caller, "ListCases", "", [this, reactor, filter = std::move(filter), response] {
    auto cases = ctx_.store.ListCases(filter);
    if (!cases.ok()) {
      reactor->Finish(ToGrpcStatus(absl::UnavailableError(absl::StrCat("listing cases: ", cases.status().message()))));
      return;
    }
    for (auto& c : *cases) *response->add_cases() = std::move(c);
    if (response->cases_size() == static_cast<int>(filter.limit)) {
      response->set_next_page_token(response->cases(response->cases_size() - 1).case_id());
    }
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

// ---- DeliveryService ----

namespace {

// Streams an agency's pending deliveries, then waits for new ones. The outbox
// is read on the read executor; at most one read and one write are in flight.
class SubscribeReactor final : public grpc::ServerWriteReactor<v1::Delivery>, public DeliveryListener {
 public:
  SubscribeReactor(ServiceContext ctx, Caller caller, uint64_t after)
      : ctx_(ctx), caller_(std::move(caller)), agency_(caller_.agency_id()), last_sent_(after) {
    ctx_.hub.AddListener(agency_, this);
    Pump();
  }

  void OnDeliveriesAvailable() override { Pump(); }

  void OnWriteDone(bool ok) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      writing_ = false;
      if (!ok) {
        // The client went away; OnCancel or the transport ends the call.
        FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "stream closed"));
        return;
      }
      last_sent_ = current_.sequence();
      queue_.pop_front();
    }
    Pump();
  }

  void OnCancel() override {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    if (!writing_) FinishLocked(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    ctx_.hub.RemoveListener(agency_, this);
    bool last;
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
      last = reads_pending_ == 0;
    }
    // Otherwise the read in flight deletes the reactor when it has run.
    if (last) delete this;
  }

 private:
  void FinishLocked(grpc::Status status) {
    if (finished_) return;
    finished_ = true;
    Finish(std::move(status));
  }

  void Pump() {
    std::unique_lock<std::mutex> lock(mu_);
    if (finished_ || writing_) return;
    if (cancelled_) {
      // A write that completed after the cancellation: the stream still needs its Finish.
      FinishLocked(grpc::Status::CANCELLED);
      return;
    }
    if (queue_.empty()) {
      if (ctx_.reads != nullptr) return StartReadLocked();
      // Without an executor (services built without a GatewayServer) the read runs here.
      auto batch = ctx_.store.ReadPendingDeliveries(agency_, last_sent_, kDeliveryBatch);
      if (!batch.ok()) {
        FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, absl::StrCat("reading deliveries: ", batch.status().message())));
        return;
      }
      for (auto& d : *batch) queue_.push_back(std::move(d));
      if (queue_.empty()) return;
    }
    StartWriteLocked(lock);
  }

  // Posts the outbox read; when the executor refuses it, the stream ends with the refusal, audited.
  void StartReadLocked() {
    if (reading_) {
      // The read in flight may have missed the rows just notified: read again after it.
      read_again_ = true;
      return;
    }
    if (absl::Status posted = ctx_.reads->Post([this] { ReadPending(); }); !posted.ok()) {
      ctx_.pipeline.RecordRefusal(caller_, "Subscribe", "", posted, [](absl::Status) {});
      FinishLocked(ToGrpcStatus(posted));
      return;
    }
    // Set after Post: the task cannot look before mu_ is released.
    reading_ = true;
    ++reads_pending_;
  }

  void StartWriteLocked(std::unique_lock<std::mutex>& lock) {
    writing_ = true;
    current_ = queue_.front();
    lock.unlock();
    StartWrite(&current_);
  }

  // On the read executor. Reads run only while the queue is empty and no write
  // is in flight, so last_sent_ is the cursor and nothing else fills the queue.
  void ReadPending() {
    uint64_t after;
    {
      std::lock_guard<std::mutex> lock(mu_);
      after = last_sent_;
    }
    auto batch = ctx_.store.ReadPendingDeliveries(agency_, after, kDeliveryBatch);
    std::unique_lock<std::mutex> lock(mu_);
    reading_ = false;
    const bool again = read_again_;
    read_again_ = false;
    if (finished_) {
      // Ended meanwhile (cancelled, or the previous write failed): nothing to send.
    } else if (cancelled_) {
      FinishLocked(grpc::Status::CANCELLED);
    } else if (!batch.ok()) {
      FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, absl::StrCat("reading deliveries: ", batch.status().message())));
    } else {
      for (auto& d : *batch) queue_.push_back(std::move(d));
      if (!queue_.empty()) {
        // Its completion pumps again, which reads once the queue is empty.
        StartWriteLocked(lock);
        lock.lock();
      } else if (again) {
        StartReadLocked();
      }
    }
    const bool delete_now = --reads_pending_ == 0 && done_;
    lock.unlock();
    if (delete_now) delete this;
  }

  ServiceContext ctx_;
  const Caller caller_;
  const std::string agency_;
  std::mutex mu_;
  std::deque<v1::Delivery> queue_;
  v1::Delivery current_;  // must outlive the write in flight
  uint64_t last_sent_;
  bool writing_ = false;
  bool finished_ = false;
  bool cancelled_ = false;
  bool reading_ = false;     // a ReadPending is posted or running
  bool read_again_ = false;  // deliveries were notified while it ran
  int reads_pending_ = 0;    // posted ReadPending tasks not yet returned
  bool done_ = false;        // OnDone ran; the last read deletes the reactor
};

class RefusedStream final : public grpc::ServerWriteReactor<v1::Delivery> {
 public:
  explicit RefusedStream(const absl::Status& why) { Finish(ToGrpcStatus(why)); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerWriteReactor<v1::Delivery>* DeliveryServiceImpl::Subscribe(grpc::CallbackServerContext* context,
                                                                       const v1::SubscribeRequest* request) {
  Caller caller;
  if (auto st = peers_.Identify(*context, caller); !st.ok()) {
    // Audited in the background: the stream ends at once either way.
    ctx_.pipeline.RecordRefusal(caller, "Subscribe", "", st, [](absl::Status) {});
    return new RefusedStream(st);
  }
  return new SubscribeReactor(ctx_, caller, request->after_sequence());
}

grpc::ServerUnaryReactor* DeliveryServiceImpl::Acknowledge(grpc::CallbackServerContext* context,
                                                           const v1::AcknowledgeRequest* request,
                                                           v1::AcknowledgeResponse* response) {
  auto* reactor = context->DefaultReactor();
  Caller caller;
  if (auto st = peers_.Identify(*context, caller); !st.ok()) {
    RefuseUnary(ctx_, reactor, caller, "Acknowledge", "", st);
    return reactor;
  }
  ctx_.pipeline.Acknowledge(caller, request->through_sequence(), [reactor, response](absl::StatusOr<uint64_t> through) {
    if (!through.ok()) return reactor->Finish(ToGrpcStatus(through.status()));
    response->set_acknowledged_through(*through);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

// ---- DocumentService ----

namespace {

class UploadReactor final : public grpc::ServerReadReactor<v1::UploadRequest> {
 public:
  UploadReactor(ServiceContext ctx, Caller caller, v1::UploadResponse* response)
      : ctx_(ctx), caller_(std::move(caller)), response_(response) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) return Complete();
    if (writer_ == nullptr) {
      if (!request_.has_header()) return Refuse(absl::InvalidArgumentError("the first Upload message must carry the header"));
      header_ = request_.header();
      const v1::DigestAlgorithm profile_digest = DocumentDigestAlgorithm(ctx_.config.profile());
      if (header_.digest_algorithm() != profile_digest && header_.digest_algorithm() != v1::DIGEST_ALGORITHM_UNSPECIFIED) {
        return Refuse(absl::InvalidArgumentError(absl::StrCat("documents are addressed by ", v1::DigestAlgorithm_Name(profile_digest),
                                                              " under the ", ProfileName(ctx_.config.profile()), " profile, not ",
                                                              v1::DigestAlgorithm_Name(header_.digest_algorithm()))));
      }
      // The store stays addressed by SHA-256; under GM the SM3 of the same bytes indexes it.
      if (profile_digest != v1::SHA256) profile_hasher_ = security::NewHasher(DocumentHashAlgorithm(ctx_.config.profile()));
      if (header_.size_bytes() > ctx_.config.max_document_bytes()) {
        return Refuse(absl::InvalidArgumentError(absl::StrCat("declared size ", header_.size_bytes(), " exceeds the limit of ",
                                                              ctx_.config.max_document_bytes(), " bytes")));
      }
      auto writer = ctx_.blobs.BeginWrite();
      if (!writer.ok()) return Refuse(absl::UnavailableError(std::string(writer.status().message())));
      writer_ = std::move(*writer);
    } else {
      if (!request_.has_chunk() && request_.part_case() != v1::UploadRequest::kChunk) {
        return Refuse(absl::InvalidArgumentError("only the first Upload message may carry a header"));
      }
      if (writer_->size() + request_.chunk().size() > header_.size_bytes()) {
        return Refuse(absl::InvalidArgumentError(absl::StrCat("more bytes than the declared size ", header_.size_bytes())));
      }
      if (auto st = writer_->Append(request_.chunk()); !st.ok()) return Refuse(st);
      if (profile_hasher_ != nullptr) profile_hasher_->Update(request_.chunk());
    }
    StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  void Complete() {
    if (writer_ == nullptr) return Refuse(absl::InvalidArgumentError("the upload ended before its header"));
    if (writer_->size() != header_.size_bytes()) {
      return Refuse(absl::InvalidArgumentError(absl::StrCat("received ", writer_->size(), " bytes but the header declared ",
                                                            header_.size_bytes())));
    }
    auto hex = writer_->Finish();
    if (!hex.ok()) return Refuse(hex.status());
    auto digest = security::HexDecode(*hex);
    response_->mutable_digest()->set_algorithm(v1::SHA256);
    response_->mutable_digest()->set_value(*digest);
    if (profile_hasher_ != nullptr) {
      const std::string profile_digest = profile_hasher_->Finish();
      if (auto st = ctx_.blobs.AddIndex(profile_hasher_->algorithm(), security::HexEncode(profile_digest), *hex); !st.ok()) {
        return Refuse(st);
      }
      response_->mutable_digest()->set_algorithm(DocumentDigestAlgorithm(ctx_.config.profile()));
      response_->mutable_digest()->set_value(profile_digest);
    }
    response_->set_size_bytes(header_.size_bytes());
    v1::AuditRecord r;
    r.set_actor_agency(caller_.agency_id());
    r.set_actor_certificate_sha256(caller_.certificate_sha256);
    r.set_action("Upload");
    r.set_outcome(v1::AuditRecord::ACCEPTED);
    r.set_reason(absl::StrCat("document sha256 ", *hex, ", ", header_.size_bytes(), " bytes"));
    if (profile_hasher_ != nullptr) {
      absl::StrAppend(r.mutable_reason(), ", ", absl::AsciiStrToLower(v1::DigestAlgorithm_Name(response_->digest().algorithm())), " ",
                      security::HexEncode(response_->digest().value()));
    }
    ctx_.pipeline.RecordEvent(std::move(r), [this](absl::Status st) {
      Finish(st.ok() ? grpc::Status::OK : ToGrpcStatus(absl::UnavailableError("the upload could not be audited; retry")));
    });
  }

  void Refuse(absl::Status why) {
    writer_.reset();
    ctx_.pipeline.RecordRefusal(caller_, "Upload", "", why, [this](absl::Status st) { Finish(ToGrpcStatus(st)); });
  }

  ServiceContext ctx_;
  Caller caller_;
  v1::UploadResponse* response_;
  v1::UploadRequest request_;
  v1::UploadHeader header_;
  std::unique_ptr<BlobWriter> writer_;
  std::unique_ptr<security::Hasher> profile_hasher_;  // the profile's digest when it is not SHA-256
};

class RefusedUpload final : public grpc::ServerReadReactor<v1::UploadRequest> {
 public:
  explicit RefusedUpload(const absl::Status& why) { Finish(ToGrpcStatus(why)); }
  void OnDone() override { delete this; }
};

// Checks the caller's right to the document on the read executor, then streams it.
class DownloadReactor final : public grpc::ServerWriteReactor<v1::DownloadChunk> {
 public:
  DownloadReactor(ServiceContext ctx, Caller caller, const v1::DownloadRequest* request, std::string hex)
      : ctx_(ctx), caller_(std::move(caller)), request_(request), hex_(std::move(hex)) {}

  // Nothing ends the call before Open or Refuse finishes it, so the reactor outlives the posted task.
  void Start() {
    if (ctx_.reads == nullptr) return Open();
    if (auto st = ctx_.reads->Post([this] { Open(); }); !st.ok()) Refuse(st);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) return Finish(grpc::Status(grpc::StatusCode::CANCELLED, "download interrupted"));
    Next();
  }
  void OnDone() override { delete this; }

  void Refuse(absl::Status why) {
    ctx_.pipeline.RecordRefusal(caller_, "Download", request_->case_id(), std::move(why),
                                [this](absl::Status st) { Finish(ToGrpcStatus(st)); });
  }

 private:
  void Open() {
    const std::string& case_id = request_->case_id();
    auto c = ctx_.store.ReadCase(case_id);
    if (!c.ok()) return Refuse(absl::UnavailableError(std::string(c.status().message())));
    if (!c->has_value()) return Refuse(absl::NotFoundError(absl::StrCat("case '", case_id, "' does not exist")));
    if (RelationsOf(**c, caller_.agency_id()).empty()) {
      return Refuse(absl::PermissionDeniedError(
          absl::StrCat("agency '", caller_.agency_id(), "' is not a party to case '", case_id, "'")));
    }
    auto has = ctx_.store.CaseHasDocument(case_id, hex_);
    if (!has.ok()) return Refuse(absl::UnavailableError(std::string(has.status().message())));
    const std::string algorithm = absl::AsciiStrToLower(v1::DigestAlgorithm_Name(request_->digest().algorithm()));
    if (!*has) return Refuse(absl::NotFoundError(absl::StrCat("case '", case_id, "' has no document ", algorithm, " ", hex_)));
    auto opened = OpenDocument(ctx_.blobs, ctx_.config.profile(), hex_);
    if (!opened.ok()) return Refuse(opened.status());
    reader_ = std::move(*opened);
    v1::AuditRecord r;
    r.set_actor_agency(caller_.agency_id());
    r.set_actor_certificate_sha256(caller_.certificate_sha256);
    r.set_action("Download");
    r.set_case_id(case_id);
    r.set_outcome(v1::AuditRecord::ACCEPTED);
    r.set_reason(absl::StrCat("document ", algorithm, " ", hex_));
    ctx_.pipeline.RecordEventWithEvidence(
        std::move(r), DownloadEvidence(caller_.agency_id(), caller_.certificate_sha256, case_id, request_->digest()),
        [](absl::Status) {});
    Next();
  }

  void Next() {
    auto data = reader_->Read(kDownloadChunkBytes);
    if (!data.ok()) return Finish(ToGrpcStatus(data.status()));
    if (data->empty()) return Finish(grpc::Status::OK);
    chunk_.set_offset(offset_);
    offset_ += data->size();
    chunk_.set_data(std::move(*data));
    StartWrite(&chunk_);
  }

  ServiceContext ctx_;
  const Caller caller_;
  const v1::DownloadRequest* request_;  // gRPC keeps it until OnDone
  const std::string hex_;
  std::unique_ptr<BlobReader> reader_;
  v1::DownloadChunk chunk_;
  uint64_t offset_ = 0;
};

}  // namespace

grpc::ServerReadReactor<v1::UploadRequest>* DocumentServiceImpl::Upload(grpc::CallbackServerContext* context,
                                                                        v1::UploadResponse* response) {
  Caller caller;
  if (auto st = peers_.Identify(*context, caller); !st.ok()) {
    ctx_.pipeline.RecordRefusal(caller, "Upload", "", st, [](absl::Status) {});
    return new RefusedUpload(st);
  }
  return new UploadReactor(ctx_, caller, response);
}

grpc::ServerWriteReactor<v1::DownloadChunk>* DocumentServiceImpl::Download(grpc::CallbackServerContext* context,
                                                                           const v1::DownloadRequest* request) {
  Caller caller;
  absl::Status refusal = peers_.Identify(*context, caller);
  if (refusal.ok()) refusal = CheckDocumentDigest(ctx_.config.profile(), request->digest(), "DownloadRequest.digest");
  auto* reactor = new DownloadReactor(ctx_, caller, request, refusal.ok() ? security::HexEncode(request->digest().value()) : "");
  if (refusal.ok()) {
    reactor->Start();
  } else {
    reactor->Refuse(std::move(refusal));
  }
  return reactor;
}

// ---- GatewayService ----

grpc::ServerUnaryReactor* GatewayServiceImpl::GetGatewayInfo(grpc::CallbackServerContext* context, const v1::GetGatewayInfoRequest*,
                                                             v1::GatewayInfo* response) {
  auto* reactor = context->DefaultReactor();
  Caller caller;
  if (auto st = peers_.Identify(*context, caller); !st.ok()) {
    RefuseUnary(ctx_, reactor, caller, "GetGatewayInfo", "", st);
    return reactor;
  }
  response->set_version(CASELINK_VERSION);
  response->set_profile(ctx_.config.profile());
  if (ctx_.gateway_keys != nullptr) {
    AddGatewayKeys(*ctx_.gateway_keys, *response);
  } else {
    auto* key = response->add_keys();
    key->set_key_id(ctx_.config.gateway_signing_key().key_id());
    key->set_algorithm(ToProtoAlgorithm(ctx_.gateway_signature_algorithm));
    key->set_certificate_pem(ctx_.gateway_certificate_pem);
    key->set_current(true);
  }
  response->set_caller_agency(caller.agency_id());
  if (!ctx_.config.kafka().bootstrap_servers().empty()) {
    response->set_bus_enabled(true);
    // The backlog is a store read; without a bus nothing here touches the store.
    PostRead(ctx_, reactor, caller, "GetGatewayInfo", "", [this, reactor, response] {
      if (auto backlog = ctx_.store.CountUnpublishedDeliveries(); backlog.ok()) response->set_bus_backlog(*backlog);
      reactor->Finish(grpc::Status::OK);
    });
    return reactor;
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace caselink
