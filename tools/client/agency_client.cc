// Agency client: used by caselinkctl, the demo and the end-to-end tests, so
// all three exercise the same signing and transport code.
#include "tools/client/agency_client.h"

#include <algorithm>
#include <fstream>
#include <random>
#include <thread>

#include <google/protobuf/util/time_util.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "security/digest.h"
#include "security/signer_factory.h"

namespace caselink {
namespace {

constexpr size_t kUploadChunkBytes = 256 * 1024;

absl::StatusOr<std::string> Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::chrono::system_clock::time_point Deadline(absl::Duration d) {
  return std::chrono::system_clock::now() + absl::ToChronoMilliseconds(d);
}

}  // namespace

v1::DigestAlgorithm DocumentDigestOf(v1::CryptoProfile profile) { return profile == v1::GM ? v1::SM3 : v1::SHA256; }

security::DigestAlgorithm DocumentHashOf(v1::CryptoProfile profile) {
  return profile == v1::GM ? security::DigestAlgorithm::kSm3 : security::DigestAlgorithm::kSha256;
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

absl::StatusOr<AgencyIdentity> LoadAgencyIdentity(const std::string& pki_dir, const std::string& agency_id) {
  AgencyIdentity id;
  id.agency_id = agency_id;
  const std::string base = absl::StrCat(pki_dir, "/agencies/", agency_id, "/");
  for (auto [path, out] : {std::pair{pki_dir + "/ca/ca.crt", &id.ca_pem}, std::pair{base + "tls.crt", &id.tls_cert_pem},
                           std::pair{base + "tls.key", &id.tls_key_pem}, std::pair{base + "signing.key", &id.signing_key_pem},
                           std::pair{base + "key_id", &id.signing_key_id}}) {
    auto text = Slurp(path);
    if (!text.ok()) return absl::NotFoundError(absl::StrCat("agency '", agency_id, "': ", text.status().message()));
    *out = std::move(*text);
  }
  while (!id.signing_key_id.empty() && isspace(static_cast<unsigned char>(id.signing_key_id.back()))) id.signing_key_id.pop_back();
  // Older PKI folders have no encryption key; confidential documents then need --key.
  if (auto key = Slurp(base + "encryption.key"); key.ok()) id.encryption_key_pem = std::move(*key);
  if (auto key_id = Slurp(base + "encryption_key_id"); key_id.ok()) {
    id.encryption_key_id = std::string(absl::StripAsciiWhitespace(*key_id));
  }
  return id;
}

namespace {
// Seeded with 256 bits, so that two threads or processes do not share a
// sequence (one 32-bit seed would make that likely among many clients).
std::mt19937_64& IdRandomness() {
  static thread_local std::mt19937_64 rng = [] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device(), device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }();
  return rng;
}
}  // namespace

std::string NewEnvelopeId() {
  const uint64_t millis = static_cast<uint64_t>(absl::ToUnixMillis(absl::Now())) & 0xffff'ffff'ffffULL;
  std::mt19937_64& rng = IdRandomness();
  return absl::StrFormat("%012x%04x%016x", millis, rng() & 0xffff, rng());
}

std::string NewRandomEnvelopeId() {
  std::mt19937_64& rng = IdRandomness();
  return absl::StrFormat("%016x%016x", rng(), rng());
}

absl::StatusOr<std::unique_ptr<AgencyClient>> AgencyClient::Create(const AgencyIdentity& identity, const std::string& target,
                                                                   const std::string& tls_server_name) {
  std::unique_ptr<AgencyClient> c(new AgencyClient());
  c->identity_ = identity;
  // The key's own type decides the algorithm: P-256 under INTL, SM2 under GM.
  auto algorithm = security::SignatureAlgorithmOfPrivateKey(identity.signing_key_pem);
  if (!algorithm.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("agency '", identity.agency_id, "' signing key: ", algorithm.status().message()));
  }
  auto signer = security::CreateSigner(*algorithm, identity.signing_key_pem, identity.signing_key_id);
  if (!signer.ok()) return signer.status();
  c->signer_ = std::move(*signer);
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = identity.ca_pem;
  ssl.pem_cert_chain = identity.tls_cert_pem;
  ssl.pem_private_key = identity.tls_key_pem;
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride(tls_server_name);
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  // A fixed 4 MiB stream window instead of BDP probing: probing let the window (and with it the
  // client's buffered download data) grow with the document, about 90 MiB for 1 GiB; 4 MiB keeps
  // memory flat and still fills a 20 ms link at 200 MB/s.
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 4 << 20);
  c->channel_ = grpc::CreateCustomChannel(target, grpc::SslCredentials(ssl), args);
  c->cases_ = v1::CaseService::NewStub(c->channel_);
  c->deliveries_ = v1::DeliveryService::NewStub(c->channel_);
  c->documents_ = v1::DocumentService::NewStub(c->channel_);
  c->gateway_ = v1::GatewayService::NewStub(c->channel_);
  return c;
}

absl::StatusOr<v1::SignedEnvelope> AgencyClient::Sign(v1::Envelope envelope) const {
  if (envelope.envelope_id().empty()) envelope.set_envelope_id(NewEnvelopeId());
  if (envelope.sender_agency().empty()) envelope.set_sender_agency(identity_.agency_id);
  if (!envelope.has_created_at()) {
    *envelope.mutable_created_at() = google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(absl::Now()));
  }
  v1::SignedEnvelope signed_envelope;
  if (!envelope.SerializeToString(signed_envelope.mutable_envelope())) return absl::InternalError("envelope does not serialize");
  auto sig = signer_->Sign(signed_envelope.envelope());
  if (!sig.ok()) return sig.status();
  switch (signer_->algorithm()) {
    case security::SignatureAlgorithm::kEcdsaP256Sha256:
      signed_envelope.mutable_signature()->set_algorithm(v1::ECDSA_P256_SHA256);
      break;
    case security::SignatureAlgorithm::kEd25519:
      signed_envelope.mutable_signature()->set_algorithm(v1::ED25519);
      break;
    case security::SignatureAlgorithm::kSm2Sm3:
      signed_envelope.mutable_signature()->set_algorithm(v1::SM2_SM3);
      break;
  }
  signed_envelope.mutable_signature()->set_key_id(signer_->key_id());
  signed_envelope.mutable_signature()->set_value(*sig);
  return signed_envelope;
}

absl::StatusOr<v1::SubmitResponse> AgencyClient::Submit(v1::Envelope envelope, absl::Duration timeout) {
  auto signed_envelope = Sign(std::move(envelope));
  if (!signed_envelope.ok()) return signed_envelope.status();
  return SubmitSigned(*signed_envelope, timeout);
}

absl::StatusOr<v1::SubmitResponse> AgencyClient::SubmitSigned(const v1::SignedEnvelope& envelope, absl::Duration timeout) {
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline(timeout));
  v1::SubmitRequest req;
  *req.mutable_envelope() = envelope;
  v1::SubmitResponse resp;
  auto st = cases_->Submit(&ctx, req, &resp);
  if (!st.ok()) return FromGrpcStatus(st);
  return resp;
}

absl::StatusOr<std::vector<v1::SubmitStreamAnswer>> AgencyClient::SubmitStream(
    const std::vector<v1::SignedEnvelope>& envelopes, size_t per_message, absl::Duration timeout) {
  if (per_message == 0) return absl::InvalidArgumentError("SubmitStream: per_message must be at least 1");
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline(timeout));
  auto stream = cases_->SubmitStream(&ctx);
  std::vector<v1::SubmitStreamAnswer> answers(envelopes.size());
  std::vector<bool> answered(envelopes.size(), false);
  size_t unexpected = 0;
  // The gateway stops reading while too many answers wait for us: read as we write.
  std::thread reader([&] {
    v1::SubmitStreamResponse response;
    while (stream->Read(&response)) {
      for (auto& answer : *response.mutable_answers()) {
        if (answer.index() >= answers.size() || answered[answer.index()]) {
          ++unexpected;
          continue;
        }
        answered[answer.index()] = true;
        answers[answer.index()] = std::move(answer);
      }
    }
  });
  bool written = true;
  for (size_t next = 0; written && next < envelopes.size();) {
    v1::SubmitStreamRequest request;
    size_t bytes = 0;
    // At least one envelope; then up to per_message and the message-size bound.
    while (next < envelopes.size() && static_cast<size_t>(request.envelopes_size()) < per_message) {
      const size_t size = envelopes[next].ByteSizeLong();
      if (request.envelopes_size() > 0 && bytes + size > kSubmitStreamMessageBytes) break;
      bytes += size;
      *request.add_envelopes() = envelopes[next++];
    }
    written = stream->Write(request);
  }
  if (written) stream->WritesDone();
  reader.join();
  grpc::Status st = stream->Finish();
  if (!st.ok()) return FromGrpcStatus(st);
  const size_t missing = std::count(answered.begin(), answered.end(), false);
  if (missing > 0 || unexpected > 0) {
    return absl::DataLossError(absl::StrCat("SubmitStream ended with ", missing, " of ", envelopes.size(),
                                            " envelopes unanswered and ", unexpected, " answers unexpected"));
  }
  return answers;
}

absl::StatusOr<v1::DocumentRef> AgencyClient::UploadBytes(const std::string& bytes, v1::DocumentType type,
                                                          const std::string& title, const std::string& media_type) {
  auto profile = Profile();
  if (!profile.ok()) return profile.status();
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline(absl::Minutes(10)));
  v1::UploadResponse resp;
  auto writer = documents_->Upload(&ctx, &resp);
  v1::UploadRequest header;
  header.mutable_header()->set_media_type(media_type);
  header.mutable_header()->set_size_bytes(bytes.size());
  header.mutable_header()->set_digest_algorithm(DocumentDigestOf(*profile));
  bool ok = writer->Write(header);
  for (size_t off = 0; ok && off < bytes.size(); off += kUploadChunkBytes) {
    v1::UploadRequest chunk;
    chunk.set_chunk(bytes.substr(off, kUploadChunkBytes));
    ok = writer->Write(chunk);
  }
  writer->WritesDone();
  auto st = writer->Finish();
  if (!st.ok()) return FromGrpcStatus(st);
  if (resp.digest().algorithm() != DocumentDigestOf(*profile) ||
      resp.digest().value() != security::Digest(DocumentHashOf(*profile), bytes)) {
    return absl::DataLossError("the gateway's digest of the upload differs from the local one");
  }
  v1::DocumentRef ref;
  ref.set_type(type);
  ref.set_title(title);
  ref.set_media_type(media_type);
  ref.set_size_bytes(resp.size_bytes());
  *ref.mutable_digest() = resp.digest();
  return ref;
}

absl::StatusOr<v1::DocumentRef> AgencyClient::UploadFile(const std::string& path, v1::DocumentType type,
                                                         const std::string& title, const std::string& media_type) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  const uint64_t size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  auto profile = Profile();
  if (!profile.ok()) return profile.status();
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline(absl::Hours(1)));
  v1::UploadResponse resp;
  auto writer = documents_->Upload(&ctx, &resp);
  v1::UploadRequest header;
  header.mutable_header()->set_media_type(media_type);
  header.mutable_header()->set_size_bytes(size);
  header.mutable_header()->set_digest_algorithm(DocumentDigestOf(*profile));
  bool ok = writer->Write(header);
  auto hasher = security::NewHasher(DocumentHashOf(*profile));
  std::string buf(kUploadChunkBytes, '\0');
  while (ok && in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto n = static_cast<size_t>(in.gcount());
    if (n == 0) break;
    v1::UploadRequest chunk;
    chunk.set_chunk(buf.substr(0, n));
    hasher->Update(chunk.chunk());
    ok = writer->Write(chunk);
  }
  writer->WritesDone();
  auto st = writer->Finish();
  if (!st.ok()) return FromGrpcStatus(st);
  if (resp.digest().algorithm() != DocumentDigestOf(*profile) || resp.digest().value() != hasher->Finish()) {
    return absl::DataLossError("the gateway's digest of the upload differs from the local one");
  }
  v1::DocumentRef ref;
  ref.set_type(type);
  ref.set_title(title);
  ref.set_media_type(media_type);
  ref.set_size_bytes(resp.size_bytes());
  *ref.mutable_digest() = resp.digest();
  return ref;
}

absl::StatusOr<v1::CryptoProfile> AgencyClient::Profile() {
  if (const int known = profile_.load(); known != v1::CRYPTO_PROFILE_UNSPECIFIED) return static_cast<v1::CryptoProfile>(known);
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline(absl::Seconds(30)));
  v1::GatewayInfo info;
  auto st = gateway_->GetGatewayInfo(&ctx, v1::GetGatewayInfoRequest(), &info);
  if (!st.ok()) return FromGrpcStatus(st);
  const v1::CryptoProfile profile = info.profile() == v1::GM ? v1::GM : v1::INTL;
  profile_.store(profile);
  return profile;
}

absl::StatusOr<v1::GetAgencyCertificatesResponse> AgencyClient::GetAgencyCertificates(const std::vector<std::string>& agency_ids) {
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline(absl::Seconds(30)));
  v1::GetAgencyCertificatesRequest req;
  for (const auto& id : agency_ids) req.add_agency_ids(id);
  v1::GetAgencyCertificatesResponse resp;
  auto st = gateway_->GetAgencyCertificates(&ctx, req, &resp);
  if (!st.ok()) return FromGrpcStatus(st);
  return resp;
}

absl::StatusOr<v1::GetCaseResponse> AgencyClient::GetCase(const std::string& case_id) {
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline(absl::Seconds(30)));
  v1::GetCaseRequest req;
  req.set_case_id(case_id);
  v1::GetCaseResponse resp;
  auto st = cases_->GetCase(&ctx, req, &resp);
  if (!st.ok()) return FromGrpcStatus(st);
  return resp;
}

absl::StatusOr<uint64_t> AgencyClient::Acknowledge(uint64_t through_sequence) {
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline(absl::Seconds(30)));
  v1::AcknowledgeRequest req;
  req.set_through_sequence(through_sequence);
  v1::AcknowledgeResponse resp;
  auto st = deliveries_->Acknowledge(&ctx, req, &resp);
  if (!st.ok()) return FromGrpcStatus(st);
  return resp.acknowledged_through();
}

}  // namespace caselink
