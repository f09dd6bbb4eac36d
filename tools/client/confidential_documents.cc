// Streaming encryption on upload and all-or-nothing decryption to files.
#include "tools/client/confidential_documents.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "security/certificate.h"
#include "security/digest.h"
#include "security/document_crypto.h"
#include "security/document_keys.h"

namespace caselink {
namespace {

constexpr size_t kReadBytes = 256 * 1024;

security::DocumentSuite SuiteOf(v1::CryptoProfile profile) {
  return profile == v1::GM ? security::DocumentSuite::kGm : security::DocumentSuite::kIntl;
}

v1::DocumentEncryptionSuite ProtoSuiteOf(security::DocumentSuite suite) {
  return suite == security::DocumentSuite::kGm ? v1::SM4CTR_HMACSM3_SM2 : v1::AES256GCM_ECDH_P256;
}

std::chrono::system_clock::time_point Deadline(absl::Duration d) {
  return std::chrono::system_clock::now() + absl::ToChronoMilliseconds(d);
}

struct Recipient {
  std::string key_id;
  std::unique_ptr<security::KeyWrapper> wrapper;
};

// One validated encryption key per agency: the first whose certificate chains to the CA, is
// valid now, states the suite's key usage and holds a key of the suite's family.
absl::StatusOr<std::vector<Recipient>> FetchRecipients(AgencyClient& client, const std::vector<std::string>& agencies,
                                                       security::DocumentSuite suite) {
  if (agencies.empty()) return absl::InvalidArgumentError("a confidential document needs at least one recipient agency");
  auto certs = client.GetAgencyCertificates(agencies);
  if (!certs.ok()) return certs.status();
  auto validator = security::ChainValidator::Create(client.identity().ca_pem);
  if (!validator.ok()) return validator.status();
  std::vector<Recipient> out;
  for (const auto& agency : certs->agencies()) {
    std::vector<std::string> problems;
    bool found = false;
    for (const auto& key : agency.encryption_keys()) {
      auto cert = security::Certificate::FromPem(key.certificate_pem());
      if (!cert.ok()) {
        problems.push_back(absl::StrCat(key.key_id(), ": ", cert.status().message()));
        continue;
      }
      if (auto st = (*validator)->Validate(**cert, absl::Now(), security::DocumentKeyPurpose(suite)); !st.ok()) {
        problems.push_back(absl::StrCat(key.key_id(), ": ", st.message()));
        continue;
      }
      auto wrapper = security::DocumentKeyWrapper(suite, **cert);
      if (!wrapper.ok()) {
        problems.push_back(absl::StrCat(key.key_id(), ": ", wrapper.status().message()));
        continue;
      }
      out.push_back({key.key_id(), std::move(*wrapper)});
      found = true;
      break;
    }
    if (!found) {
      return absl::FailedPreconditionError(absl::StrCat(
          "agency '", agency.agency_id(), "' has no usable encryption certificate",
          problems.empty() ? std::string(" in the registry") : absl::StrCat(": ", absl::StrJoin(problems, "; "))));
    }
  }
  return out;
}

// Writes a file under a temporary name in the output's folder and renames it into place only
// on Commit; otherwise the temporary file is removed.
class AtomicFile {
 public:
  static absl::StatusOr<std::unique_ptr<AtomicFile>> Create(const std::string& path) {
    std::filesystem::path target(path);
    std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
    std::string tmpl = (dir / absl::StrCat(".", target.filename().string(), ".partial-XXXXXX")).string();
    int fd = mkstemp(tmpl.data());
    if (fd < 0) return absl::UnavailableError(absl::StrCat("cannot create a file in ", dir.string(), ": ", strerror(errno)));
    return std::unique_ptr<AtomicFile>(new AtomicFile(fd, tmpl, path));
  }
  ~AtomicFile() {
    if (fd_ >= 0) close(fd_);
    if (!committed_) unlink(tmp_.c_str());
  }
  absl::Status Write(absl::string_view data) {
    while (!data.empty()) {
      ssize_t n = write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return absl::UnavailableError(absl::StrCat("writing ", tmp_, ": ", strerror(errno)));
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return absl::OkStatus();
  }
  absl::Status Commit() {
    if (fsync(fd_) != 0) return absl::UnavailableError(absl::StrCat("fsync of ", tmp_, ": ", strerror(errno)));
    close(fd_);
    fd_ = -1;
    if (rename(tmp_.c_str(), path_.c_str()) != 0) {
      return absl::UnavailableError(absl::StrCat("renaming into ", path_, ": ", strerror(errno)));
    }
    committed_ = true;
    return absl::OkStatus();
  }

 private:
  AtomicFile(int fd, std::string tmp, std::string path) : fd_(fd), tmp_(std::move(tmp)), path_(std::move(path)) {}
  int fd_;
  std::string tmp_;
  std::string path_;
  bool committed_ = false;
};

// Consumes a document's bytes in pieces and writes what they yield: the plaintext (with a key,
// after the header told the suite) or the bytes as they are.
class DocumentSink {
 public:
  static absl::StatusOr<std::unique_ptr<DocumentSink>> Create(const std::string& out_path, const DecryptionKey* key,
                                                              const v1::DocumentRef* expected) {
    auto file = AtomicFile::Create(out_path);
    if (!file.ok()) return file.status();
    auto sink = std::unique_ptr<DocumentSink>(new DocumentSink());
    sink->file_ = std::move(*file);
    if (key != nullptr) sink->key_ = *key;
    sink->decrypt_ = key != nullptr;
    if (expected != nullptr) sink->expected_ = *expected;
    sink->check_ = expected != nullptr;
    const v1::Digest& digest = sink->decrypt_ ? sink->expected_.plaintext_digest() : sink->expected_.digest();
    if (sink->check_ && digest.value().size() == 32) {
      sink->hasher_ = security::NewHasher(digest.algorithm() == v1::SM3 ? security::DigestAlgorithm::kSm3
                                                                         : security::DigestAlgorithm::kSha256);
    }
    return sink;
  }

  absl::Status Feed(absl::string_view bytes) {
    if (!decrypt_) return Emit(bytes);
    if (decryptor_ == nullptr) {
      // Hold the header until it is whole: it names the suite, hence the key type to load.
      pending_.append(bytes.data(), bytes.size());
      if (pending_.size() < 10) return absl::OkStatus();
      auto size = security::DocumentHeaderSize(pending_);
      if (!size.ok()) return size.status();
      if (pending_.size() < *size) return absl::OkStatus();
      auto header = security::ParseDocumentHeader(pending_);
      if (!header.ok()) return header.status();
      auto unwrapper = security::DocumentKeyUnwrapper(header->suite, key_.private_key_pem);
      if (!unwrapper.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("the document is encrypted with the ", security::DocumentSuiteName(header->suite),
                                                       " suite; the key given does not fit it: ", unwrapper.status().message()));
      }
      unwrapper_ = std::move(*unwrapper);
      auto decryptor = security::DocumentDecryptor::Create(key_.key_id, *unwrapper_);
      if (!decryptor.ok()) return decryptor.status();
      decryptor_ = std::move(*decryptor);
      std::string held = std::move(pending_);
      pending_.clear();
      return Decrypt(held);
    }
    return Decrypt(bytes);
  }

  absl::Status Finish() {
    if (decrypt_) {
      if (decryptor_ == nullptr) return absl::InvalidArgumentError("the document ends inside its header");
      if (auto st = decryptor_->Finish(); !st.ok()) return st;
    }
    if (check_) {
      const uint64_t want_size = decrypt_ ? expected_.plaintext_size_bytes() : expected_.size_bytes();
      if (written_ != want_size) {
        return absl::DataLossError(absl::StrCat("the document has ", written_, " bytes but its DocumentRef says ", want_size));
      }
      if (hasher_ != nullptr && hasher_->Finish() != (decrypt_ ? expected_.plaintext_digest() : expected_.digest()).value()) {
        return absl::DataLossError("the document's digest differs from the one in its DocumentRef");
      }
    }
    return file_->Commit();
  }

 private:
  DocumentSink() = default;

  absl::Status Decrypt(absl::string_view ciphertext) {
    auto plaintext = decryptor_->Update(ciphertext);
    if (!plaintext.ok()) return plaintext.status();
    return Emit(*plaintext);
  }

  absl::Status Emit(absl::string_view bytes) {
    if (hasher_ != nullptr) hasher_->Update(bytes);
    written_ += bytes.size();
    return file_->Write(bytes);
  }

  std::unique_ptr<AtomicFile> file_;
  bool decrypt_ = false;
  DecryptionKey key_;
  bool check_ = false;
  v1::DocumentRef expected_;
  std::unique_ptr<security::Hasher> hasher_;
  std::unique_ptr<security::KeyUnwrapper> unwrapper_;
  std::unique_ptr<security::DocumentDecryptor> decryptor_;
  std::string pending_;
  uint64_t written_ = 0;
};

}  // namespace

absl::StatusOr<DecryptionKey> DecryptionKeyOf(const AgencyIdentity& identity) {
  if (identity.encryption_key_pem.empty() || identity.encryption_key_id.empty()) {
    return absl::NotFoundError(absl::StrCat("agency '", identity.agency_id,
                                            "' has no encryption key in its PKI folder (encryption.key, encryption_key_id)"));
  }
  return DecryptionKey{identity.encryption_key_id, identity.encryption_key_pem};
}

absl::StatusOr<v1::DocumentRef> UploadConfidentialFile(AgencyClient& client, const std::string& path, v1::DocumentType type,
                                                       const std::string& title, const std::string& media_type,
                                                       const std::vector<std::string>& recipient_agencies) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  const uint64_t plaintext_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  auto profile = client.Profile();
  if (!profile.ok()) return profile.status();
  const security::DocumentSuite suite = SuiteOf(*profile);
  auto recipients = FetchRecipients(client, recipient_agencies, suite);
  if (!recipients.ok()) return recipients.status();
  std::vector<security::DocumentRecipient> wrap_to;
  for (const auto& r : *recipients) wrap_to.push_back({r.key_id, r.wrapper.get()});
  auto encryptor = security::DocumentEncryptor::Create(suite, wrap_to);
  if (!encryptor.ok()) return encryptor.status();
  const uint64_t ciphertext_size = security::EncryptedDocumentSize(suite, (*encryptor)->header().size(),
                                                                   security::kDefaultDocumentChunkSize, plaintext_size);

  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline(absl::Hours(1)));
  v1::UploadResponse resp;
  auto writer = client.documents().Upload(&ctx, &resp);
  v1::UploadRequest message;
  message.mutable_header()->set_media_type(media_type);
  message.mutable_header()->set_size_bytes(ciphertext_size);
  message.mutable_header()->set_digest_algorithm(DocumentDigestOf(*profile));
  message.mutable_header()->set_confidential(true);
  bool ok = writer->Write(message);
  auto plaintext_hasher = security::NewHasher(DocumentHashOf(*profile));
  auto ciphertext_hasher = security::NewHasher(DocumentHashOf(*profile));
  uint64_t sent = 0;
  absl::Status failure;
  auto send = [&](std::string bytes) {
    if (bytes.empty() || !ok) return;
    ciphertext_hasher->Update(bytes);
    sent += bytes.size();
    v1::UploadRequest chunk;
    chunk.set_chunk(std::move(bytes));
    ok = writer->Write(chunk);
  };
  send((*encryptor)->header());
  std::string buf(kReadBytes, '\0');
  while (ok && failure.ok()) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto n = static_cast<size_t>(in.gcount());
    if (n == 0) break;
    const absl::string_view piece(buf.data(), n);
    plaintext_hasher->Update(piece);
    auto frames = (*encryptor)->Update(piece);
    if (!frames.ok()) {
      failure = frames.status();
      break;
    }
    send(std::move(*frames));
  }
  if (failure.ok() && ok) {
    auto last = (*encryptor)->Finish();
    if (!last.ok()) failure = last.status();
    else send(std::move(*last));
  }
  if (!failure.ok()) ctx.TryCancel();
  writer->WritesDone();
  auto st = writer->Finish();
  if (!failure.ok()) return failure;
  if (!st.ok()) return FromGrpcStatus(st);
  if (sent != ciphertext_size) {
    return absl::DataLossError(absl::StrCat(path, " changed while it was encrypted (", sent, " bytes sent, ", ciphertext_size, " expected)"));
  }
  if (resp.digest().algorithm() != DocumentDigestOf(*profile) || resp.digest().value() != ciphertext_hasher->Finish()) {
    return absl::DataLossError("the gateway's digest of the upload differs from the local one");
  }
  v1::DocumentRef ref;
  ref.set_type(type);
  ref.set_title(title);
  ref.set_media_type(media_type);
  ref.set_size_bytes(resp.size_bytes());
  *ref.mutable_digest() = resp.digest();
  ref.set_confidential(true);
  ref.set_encryption_suite(ProtoSuiteOf(suite));
  for (const auto& r : *recipients) ref.add_recipient_key_ids(r.key_id);
  ref.mutable_plaintext_digest()->set_algorithm(DocumentDigestOf(*profile));
  ref.mutable_plaintext_digest()->set_value(plaintext_hasher->Finish());
  ref.set_plaintext_size_bytes(plaintext_size);
  return ref;
}

absl::Status DecryptFile(const std::string& in_path, const std::string& out_path, const DecryptionKey& key,
                         const v1::DocumentRef* expected) {
  std::ifstream in(in_path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", in_path));
  auto sink = DocumentSink::Create(out_path, &key, expected);
  if (!sink.ok()) return sink.status();
  std::string buf(kReadBytes, '\0');
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto n = static_cast<size_t>(in.gcount());
    if (n == 0) break;
    if (auto st = (*sink)->Feed(absl::string_view(buf.data(), n)); !st.ok()) return st;
  }
  if (in.bad()) return absl::UnavailableError(absl::StrCat("reading ", in_path, " failed"));
  return (*sink)->Finish();
}

absl::Status DownloadDocument(AgencyClient& client, const std::string& case_id, const v1::Digest& digest,
                              const std::string& out_path, const DecryptionKey* key, const v1::DocumentRef* expected) {
  auto sink = DocumentSink::Create(out_path, key, expected);
  if (!sink.ok()) return sink.status();
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline(absl::Hours(1)));
  v1::DownloadRequest req;
  req.set_case_id(case_id);
  *req.mutable_digest() = digest;
  auto reader = client.documents().Download(&ctx, req);
  v1::DownloadChunk chunk;
  absl::Status failure;
  while (reader->Read(&chunk)) {
    failure = (*sink)->Feed(chunk.data());
    if (!failure.ok()) {
      ctx.TryCancel();
      break;
    }
  }
  auto st = reader->Finish();
  if (!failure.ok()) return failure;
  if (!st.ok()) return FromGrpcStatus(st);
  return (*sink)->Finish();
}

}  // namespace caselink
