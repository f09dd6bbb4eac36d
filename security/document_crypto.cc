// Chunked document encryption and decryption; the format is specified in the header. Both sides
// hold at most one chunk (plus the header) in memory, whatever the document size.
#include "security/document_crypto.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "security/aes_gcm.h"
#include "security/digest.h"
#include "security/openssl_util.h"
#include "security/sm4_ctr_hmac_sm3.h"

namespace caselink::security {
namespace {

constexpr char kMagic[] = "CLDF";
constexpr size_t kMagicSize = 4;
constexpr uint8_t kVersion = 1;
constexpr size_t kFixedHeaderSize = kMagicSize + 1 + 1 + 4;  // magic, version, suite, body length
constexpr size_t kMaxHeaderBody = 1 << 20;                   // bounds decryptor memory
constexpr size_t kFrameHeaderSize = 1 + 4;                   // flags, sealed length
constexpr uint8_t kFinalFlag = 0x01;
constexpr size_t kMaxKeyIdSize = 255;
constexpr size_t kMaxWrappedKeySize = 0xffff;

void PutU16(std::string* out, uint16_t v) {
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v & 0xff));
}

void PutU32(std::string* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>((v >> shift) & 0xff));
}

void PutU64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>((v >> shift) & 0xff));
}

uint32_t GetU32(absl::string_view in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

uint16_t GetU16(absl::string_view in) {
  return static_cast<uint16_t>((static_cast<unsigned char>(in[0]) << 8) | static_cast<unsigned char>(in[1]));
}

DigestAlgorithm SuiteDigest(DocumentSuite suite) {
  return suite == DocumentSuite::kGm ? DigestAlgorithm::kSm3 : DigestAlgorithm::kSha256;
}

KeyWrapAlgorithm SuiteWrap(DocumentSuite suite) {
  return suite == DocumentSuite::kGm ? KeyWrapAlgorithm::kSm2Encrypt
                                     : KeyWrapAlgorithm::kEcdhP256HkdfSha256Aes256Kw;
}

size_t SuiteKeySize(DocumentSuite suite) {
  return suite == DocumentSuite::kGm ? Sm4CtrHmacSm3::kKeySize : AesGcm::kKeySize;
}

size_t SuiteTagSize(DocumentSuite suite) {
  return suite == DocumentSuite::kGm ? Sm4CtrHmacSm3::kTagSize : AesGcm::kTagSize;
}

const char* SuiteName(DocumentSuite suite) { return suite == DocumentSuite::kGm ? "GM" : "INTL"; }

bool IsKnownSuite(uint8_t value) {
  return value == static_cast<uint8_t>(DocumentSuite::kIntl) || value == static_cast<uint8_t>(DocumentSuite::kGm);
}

// Seals and opens chunk i with its counter-derived nonce.
class ChunkCipher {
 public:
  static absl::StatusOr<std::unique_ptr<ChunkCipher>> Create(DocumentSuite suite, absl::string_view content_key) {
    auto cipher = std::unique_ptr<ChunkCipher>(new ChunkCipher(suite));
    if (suite == DocumentSuite::kGm) {
      absl::StatusOr<std::unique_ptr<Sm4CtrHmacSm3>> sm4 = Sm4CtrHmacSm3::Create(content_key);
      if (!sm4.ok()) return sm4.status();
      cipher->sm4_ = *std::move(sm4);
    } else {
      absl::StatusOr<std::unique_ptr<AesGcm>> gcm = AesGcm::Create(content_key);
      if (!gcm.ok()) return gcm.status();
      cipher->gcm_ = *std::move(gcm);
    }
    return cipher;
  }

  absl::StatusOr<std::string> Seal(uint64_t index, absl::string_view plaintext, absl::string_view aad) const {
    return gcm_ != nullptr ? gcm_->EncryptWithIv(Nonce(index), plaintext, aad)
                           : sm4_->EncryptWithIv(Nonce(index), plaintext, aad);
  }

  absl::StatusOr<std::string> Open(uint64_t index, absl::string_view sealed, absl::string_view aad) const {
    return gcm_ != nullptr ? gcm_->DecryptWithIv(Nonce(index), sealed, aad)
                           : sm4_->DecryptWithIv(Nonce(index), sealed, aad);
  }

 private:
  explicit ChunkCipher(DocumentSuite suite) : suite_(suite) {}

  std::string Nonce(uint64_t index) const {
    std::string nonce;
    if (suite_ == DocumentSuite::kGm) {
      PutU64(&nonce, index);
      PutU64(&nonce, 0);
    } else {
      PutU32(&nonce, 0);
      PutU64(&nonce, index);
    }
    return nonce;
  }

  DocumentSuite suite_;
  std::unique_ptr<AesGcm> gcm_;
  std::unique_ptr<Sm4CtrHmacSm3> sm4_;
};

std::string ChunkAad(absl::string_view header_digest, uint64_t index, uint8_t flags) {
  std::string aad(header_digest);
  PutU64(&aad, index);
  aad.push_back(static_cast<char>(flags));
  return aad;
}

}  // namespace

struct DocumentEncryptor::State {
  DocumentSuite suite;
  size_t chunk_size = 0;
  std::string header;
  std::string header_digest;
  std::unique_ptr<ChunkCipher> cipher;
  std::string buffer;  // plaintext not yet sealed, < chunk_size bytes between calls
  uint64_t next_index = 0;
  bool finished = false;

  ~State() { internal::WipeString(buffer); }

  absl::StatusOr<std::string> SealChunk(absl::string_view plaintext, bool final) {
    const uint8_t flags = final ? kFinalFlag : 0;
    absl::StatusOr<std::string> sealed = cipher->Seal(next_index, plaintext, ChunkAad(header_digest, next_index, flags));
    if (!sealed.ok()) return sealed.status();
    ++next_index;
    std::string frame;
    frame.push_back(static_cast<char>(flags));
    PutU32(&frame, static_cast<uint32_t>(sealed->size()));
    frame.append(*sealed);
    return frame;
  }
};

absl::StatusOr<std::unique_ptr<DocumentEncryptor>> DocumentEncryptor::Create(
    DocumentSuite suite, const std::vector<DocumentRecipient>& recipients, size_t chunk_size) {
  if (!IsKnownSuite(static_cast<uint8_t>(suite))) {
    return absl::InvalidArgumentError(absl::StrCat("unknown document suite ", static_cast<int>(suite)));
  }
  if (chunk_size < kMinDocumentChunkSize || chunk_size > kMaxDocumentChunkSize) {
    return absl::InvalidArgumentError(absl::StrCat("document chunk size ", chunk_size, " must be ",
                                                   kMinDocumentChunkSize, " to ", kMaxDocumentChunkSize, " bytes"));
  }
  if (recipients.empty()) return absl::InvalidArgumentError("a document needs at least one recipient");
  if (recipients.size() > 0xffff) return absl::InvalidArgumentError("a document has at most 65535 recipients");
  std::set<std::string> seen;
  for (const DocumentRecipient& r : recipients) {
    if (r.key_id.empty() || r.key_id.size() > kMaxKeyIdSize) {
      return absl::InvalidArgumentError(
          absl::StrCat("recipient key id '", r.key_id, "' must be 1 to ", kMaxKeyIdSize, " bytes"));
    }
    if (!seen.insert(r.key_id).second) {
      return absl::InvalidArgumentError(absl::StrCat("recipient key id '", r.key_id, "' appears twice"));
    }
    if (r.wrapper == nullptr || r.wrapper->algorithm() != SuiteWrap(suite)) {
      return absl::InvalidArgumentError(absl::StrCat("recipient '", r.key_id, "' has a key wrapper that does not fit the ",
                                                     SuiteName(suite), " suite"));
    }
  }

  std::string content_key;
  if (absl::Status s = internal::RandomBytes(SuiteKeySize(suite), &content_key); !s.ok()) return s;
  std::string body;
  PutU32(&body, static_cast<uint32_t>(chunk_size));
  PutU16(&body, static_cast<uint16_t>(recipients.size()));
  for (const DocumentRecipient& r : recipients) {
    absl::StatusOr<std::string> wrapped = r.wrapper->Wrap(content_key);
    if (!wrapped.ok()) {
      internal::WipeString(content_key);
      return absl::Status(wrapped.status().code(), absl::StrCat("wrapping the content key to '", r.key_id,
                                                                "': ", wrapped.status().message()));
    }
    if (wrapped->size() > kMaxWrappedKeySize) {
      internal::WipeString(content_key);
      return absl::InternalError("wrapped content key is too large for the header");
    }
    body.push_back(static_cast<char>(r.key_id.size()));
    body.append(r.key_id);
    PutU16(&body, static_cast<uint16_t>(wrapped->size()));
    body.append(*wrapped);
  }
  if (body.size() > kMaxHeaderBody) {
    internal::WipeString(content_key);
    return absl::InvalidArgumentError("too many recipients: the document header would exceed 1 MiB");
  }

  auto state = std::make_unique<State>();
  state->suite = suite;
  state->chunk_size = chunk_size;
  state->header.append(kMagic, kMagicSize);
  state->header.push_back(static_cast<char>(kVersion));
  state->header.push_back(static_cast<char>(suite));
  PutU32(&state->header, static_cast<uint32_t>(body.size()));
  state->header.append(body);
  state->header_digest = Digest(SuiteDigest(suite), state->header);
  absl::StatusOr<std::unique_ptr<ChunkCipher>> cipher = ChunkCipher::Create(suite, content_key);
  internal::WipeString(content_key);
  if (!cipher.ok()) return cipher.status();
  state->cipher = *std::move(cipher);
  state->buffer.reserve(chunk_size);
  return std::unique_ptr<DocumentEncryptor>(new DocumentEncryptor(std::move(state)));
}

DocumentEncryptor::DocumentEncryptor(std::unique_ptr<State> state) : state_(std::move(state)) {}

DocumentEncryptor::~DocumentEncryptor() = default;

const std::string& DocumentEncryptor::header() const { return state_->header; }

absl::StatusOr<std::string> DocumentEncryptor::Update(absl::string_view plaintext) {
  if (state_->finished) return absl::FailedPreconditionError("DocumentEncryptor::Update after Finish");
  std::string out;
  while (!plaintext.empty()) {
    const size_t take = std::min(plaintext.size(), state_->chunk_size - state_->buffer.size());
    state_->buffer.append(plaintext.data(), take);
    plaintext.remove_prefix(take);
    // A full buffer is sealed as non-final only once more data proves it is not the last chunk.
    if (state_->buffer.size() == state_->chunk_size && !plaintext.empty()) {
      absl::StatusOr<std::string> frame = state_->SealChunk(state_->buffer, /*final=*/false);
      if (!frame.ok()) return frame.status();
      out.append(*frame);
      internal::WipeString(state_->buffer);
    }
  }
  return out;
}

absl::StatusOr<std::string> DocumentEncryptor::Finish() {
  if (state_->finished) return absl::FailedPreconditionError("DocumentEncryptor::Finish called twice");
  state_->finished = true;
  absl::StatusOr<std::string> frame = state_->SealChunk(state_->buffer, /*final=*/true);
  internal::WipeString(state_->buffer);
  return frame;
}

struct DocumentDecryptor::State {
  std::string key_id;
  const KeyUnwrapper* unwrapper = nullptr;
  DocumentSuite suite = DocumentSuite::kIntl;
  size_t chunk_size = 0;
  std::string header_digest;
  std::unique_ptr<ChunkCipher> cipher;
  std::string buffer;  // bytes received but not yet consumed: part of the header or one frame
  uint64_t next_index = 0;
  bool have_header = false;
  bool final_seen = false;
  absl::Status failure;  // sticky

  absl::Status Fail(absl::Status status) {
    failure = status;
    internal::WipeString(buffer);
    return status;
  }

  // Parses the header once it is complete; returns false while more bytes are needed.
  absl::StatusOr<bool> TryParseHeader() {
    if (buffer.size() < kFixedHeaderSize) return false;
    if (absl::string_view(buffer).substr(0, kMagicSize) != absl::string_view(kMagic, kMagicSize)) {
      return absl::InvalidArgumentError("not a CaseLink encrypted document (bad magic)");
    }
    if (static_cast<uint8_t>(buffer[kMagicSize]) != kVersion) {
      return absl::InvalidArgumentError(absl::StrCat("unsupported document format version ",
                                                     static_cast<int>(static_cast<uint8_t>(buffer[kMagicSize]))));
    }
    const uint8_t suite_byte = static_cast<uint8_t>(buffer[kMagicSize + 1]);
    if (!IsKnownSuite(suite_byte)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown document suite ", static_cast<int>(suite_byte)));
    }
    const uint32_t body_size = GetU32(absl::string_view(buffer).substr(kMagicSize + 2, 4));
    if (body_size > kMaxHeaderBody) return absl::InvalidArgumentError("document header is larger than 1 MiB");
    if (buffer.size() < kFixedHeaderSize + body_size) return false;

    const std::string header = buffer.substr(0, kFixedHeaderSize + body_size);
    absl::string_view body = absl::string_view(header).substr(kFixedHeaderSize);
    suite = static_cast<DocumentSuite>(suite_byte);
    if (unwrapper->algorithm() != SuiteWrap(suite)) {
      return absl::InvalidArgumentError(absl::StrCat("document uses the ", SuiteName(suite),
                                                     " suite, but the key unwrapper is for another profile"));
    }
    auto malformed = [] { return absl::InvalidArgumentError("document header is malformed"); };
    if (body.size() < 6) return malformed();
    chunk_size = GetU32(body);
    if (chunk_size < kMinDocumentChunkSize || chunk_size > kMaxDocumentChunkSize) {
      return absl::InvalidArgumentError(absl::StrCat("document chunk size ", chunk_size, " is out of range"));
    }
    const uint16_t count = GetU16(body.substr(4));
    body.remove_prefix(6);
    std::vector<std::string> ids;
    std::string wrapped_for_us;
    bool found = false;
    for (uint16_t i = 0; i < count; ++i) {
      if (body.empty()) return malformed();
      const size_t id_size = static_cast<unsigned char>(body[0]);
      if (body.size() < 1 + id_size + 2) return malformed();
      const absl::string_view id = body.substr(1, id_size);
      const size_t wrapped_size = GetU16(body.substr(1 + id_size));
      if (body.size() < 1 + id_size + 2 + wrapped_size) return malformed();
      if (id == key_id && !found) {
        found = true;
        wrapped_for_us = std::string(body.substr(1 + id_size + 2, wrapped_size));
      }
      ids.emplace_back(id);
      body.remove_prefix(1 + id_size + 2 + wrapped_size);
    }
    if (!body.empty()) return malformed();
    if (!found) {
      return absl::NotFoundError(absl::StrCat("document is not encrypted to key id '", key_id,
                                              "'; its recipients are: ", absl::StrJoin(ids, ", ")));
    }
    absl::StatusOr<std::string> content_key = unwrapper->Unwrap(wrapped_for_us);
    if (!content_key.ok()) {
      return absl::Status(content_key.status().code(), absl::StrCat("cannot unwrap the content key for '", key_id,
                                                                    "': ", content_key.status().message()));
    }
    if (content_key->size() != SuiteKeySize(suite)) {
      internal::WipeString(*content_key);
      return absl::UnauthenticatedError("unwrapped content key has the wrong length for the document suite");
    }
    absl::StatusOr<std::unique_ptr<ChunkCipher>> built = ChunkCipher::Create(suite, *content_key);
    internal::WipeString(*content_key);
    if (!built.ok()) return built.status();
    cipher = *std::move(built);
    header_digest = Digest(SuiteDigest(suite), header);
    buffer.erase(0, header.size());
    have_header = true;
    return true;
  }

  // Opens the next frame once it is complete; returns false while more bytes are needed.
  absl::StatusOr<bool> TryOpenFrame(std::string* out) {
    if (buffer.size() < kFrameHeaderSize) return false;
    const uint8_t flags = static_cast<uint8_t>(buffer[0]);
    const uint32_t sealed_size = GetU32(absl::string_view(buffer).substr(1, 4));
    const size_t tag_size = SuiteTagSize(suite);
    if ((flags & ~kFinalFlag) != 0 || sealed_size < tag_size || sealed_size > chunk_size + tag_size ||
        ((flags & kFinalFlag) == 0 && sealed_size != chunk_size + tag_size)) {
      return absl::InvalidArgumentError(absl::StrCat("chunk ", next_index, " has a malformed frame"));
    }
    if (buffer.size() < kFrameHeaderSize + sealed_size) return false;
    absl::StatusOr<std::string> plaintext =
        cipher->Open(next_index, absl::string_view(buffer).substr(kFrameHeaderSize, sealed_size),
                     ChunkAad(header_digest, next_index, flags));
    if (!plaintext.ok()) {
      if (plaintext.status().code() != absl::StatusCode::kUnauthenticated) return plaintext.status();
      return absl::UnauthenticatedError(absl::StrCat(
          "chunk ", next_index, " does not authenticate: the document was modified, reordered or truncated"));
    }
    out->append(*plaintext);
    internal::WipeString(*plaintext);
    buffer.erase(0, kFrameHeaderSize + sealed_size);
    ++next_index;
    if ((flags & kFinalFlag) != 0) final_seen = true;
    return true;
  }
};

absl::StatusOr<std::unique_ptr<DocumentDecryptor>> DocumentDecryptor::Create(std::string key_id,
                                                                            const KeyUnwrapper& unwrapper) {
  if (key_id.empty() || key_id.size() > kMaxKeyIdSize) {
    return absl::InvalidArgumentError(absl::StrCat("key id must be 1 to ", kMaxKeyIdSize, " bytes"));
  }
  auto state = std::make_unique<State>();
  state->key_id = std::move(key_id);
  state->unwrapper = &unwrapper;
  return std::unique_ptr<DocumentDecryptor>(new DocumentDecryptor(std::move(state)));
}

DocumentDecryptor::DocumentDecryptor(std::unique_ptr<State> state) : state_(std::move(state)) {}

DocumentDecryptor::~DocumentDecryptor() { internal::WipeString(state_->buffer); }

absl::StatusOr<std::string> DocumentDecryptor::Update(absl::string_view ciphertext) {
  State& s = *state_;
  if (!s.failure.ok()) return s.failure;
  if (ciphertext.empty()) return std::string();
  if (s.final_seen) {
    return s.Fail(absl::UnauthenticatedError("data follows the final chunk of the document"));
  }
  std::string out;
  while (!ciphertext.empty()) {
    // Take only what the current header or frame can use, so the buffer never grows past one
    // frame however large the input piece is.
    // Each Try* call below has already validated the lengths it read, so `want` is bounded by
    // one header or one frame.
    size_t want = 0;
    if (!s.have_header) {
      want = s.buffer.size() < kFixedHeaderSize
                 ? kFixedHeaderSize - s.buffer.size()
                 : kFixedHeaderSize + GetU32(absl::string_view(s.buffer).substr(kMagicSize + 2, 4)) - s.buffer.size();
    } else if (s.final_seen) {
      return s.Fail(absl::UnauthenticatedError("data follows the final chunk of the document"));
    } else {
      want = s.buffer.size() < kFrameHeaderSize
                 ? kFrameHeaderSize - s.buffer.size()
                 : kFrameHeaderSize + GetU32(absl::string_view(s.buffer).substr(1, 4)) - s.buffer.size();
    }
    want = std::max<size_t>(want, 1);
    const size_t take = std::min(want, ciphertext.size());
    s.buffer.append(ciphertext.data(), take);
    ciphertext.remove_prefix(take);
    absl::StatusOr<bool> progressed = s.have_header ? s.TryOpenFrame(&out) : s.TryParseHeader();
    if (!progressed.ok()) {
      // Plaintext of chunks that did authenticate in this call is withheld too: the caller
      // gets an error, never a partial result to mistake for success.
      internal::WipeString(out);
      return s.Fail(progressed.status());
    }
  }
  return out;
}

absl::Status DocumentDecryptor::Finish() {
  State& s = *state_;
  if (!s.failure.ok()) return s.failure;
  if (!s.have_header) return s.Fail(absl::UnauthenticatedError("document is truncated inside its header"));
  if (!s.final_seen) {
    return s.Fail(absl::UnauthenticatedError(
        absl::StrCat("document is truncated: no final chunk after ", s.next_index, " chunks")));
  }
  if (!s.buffer.empty()) return s.Fail(absl::UnauthenticatedError("data follows the final chunk of the document"));
  return absl::OkStatus();
}

size_t MaxDocumentHeaderSize() { return kFixedHeaderSize + kMaxHeaderBody; }

absl::StatusOr<size_t> DocumentHeaderSize(absl::string_view prefix) {
  if (prefix.size() < kFixedHeaderSize || prefix.substr(0, kMagicSize) != absl::string_view(kMagic, kMagicSize)) {
    return absl::InvalidArgumentError("not a CaseLink encrypted document (bad magic)");
  }
  if (static_cast<uint8_t>(prefix[kMagicSize]) != kVersion) {
    return absl::InvalidArgumentError(absl::StrCat("unsupported document format version ",
                                                   static_cast<int>(static_cast<uint8_t>(prefix[kMagicSize]))));
  }
  const uint32_t body_size = GetU32(prefix.substr(kMagicSize + 2, 4));
  if (body_size > kMaxHeaderBody) return absl::InvalidArgumentError("document header is larger than 1 MiB");
  return kFixedHeaderSize + body_size;
}

absl::StatusOr<DocumentHeaderInfo> ParseDocumentHeader(absl::string_view bytes) {
  absl::StatusOr<size_t> header_size = DocumentHeaderSize(bytes);
  if (!header_size.ok()) return header_size.status();
  auto malformed = [] { return absl::InvalidArgumentError("document header is malformed"); };
  if (bytes.size() < *header_size) return malformed();
  const uint8_t suite_byte = static_cast<uint8_t>(bytes[kMagicSize + 1]);
  if (!IsKnownSuite(suite_byte)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown document suite ", static_cast<int>(suite_byte)));
  }
  DocumentHeaderInfo info;
  info.suite = static_cast<DocumentSuite>(suite_byte);
  info.header_size = *header_size;
  absl::string_view body = bytes.substr(kFixedHeaderSize, *header_size - kFixedHeaderSize);
  if (body.size() < 6) return malformed();
  info.chunk_size = GetU32(body);
  if (info.chunk_size < kMinDocumentChunkSize || info.chunk_size > kMaxDocumentChunkSize) {
    return absl::InvalidArgumentError(absl::StrCat("document chunk size ", info.chunk_size, " is out of range"));
  }
  const uint16_t count = GetU16(body.substr(4));
  body.remove_prefix(6);
  for (uint16_t i = 0; i < count; ++i) {
    if (body.empty()) return malformed();
    const size_t id_size = static_cast<unsigned char>(body[0]);
    if (body.size() < 1 + id_size + 2) return malformed();
    const size_t wrapped_size = GetU16(body.substr(1 + id_size));
    if (body.size() < 1 + id_size + 2 + wrapped_size) return malformed();
    info.recipient_key_ids.emplace_back(body.substr(1, id_size));
    body.remove_prefix(1 + id_size + 2 + wrapped_size);
  }
  if (!body.empty() || count == 0) return malformed();
  return info;
}

uint64_t EncryptedDocumentSize(DocumentSuite suite, size_t header_size, size_t chunk_size, uint64_t plaintext_size) {
  // Every chunk but the last is full; an empty document still has its (empty) final chunk.
  const uint64_t chunks = plaintext_size == 0 ? 1 : (plaintext_size + chunk_size - 1) / chunk_size;
  return header_size + chunks * (kFrameHeaderSize + SuiteTagSize(suite)) + plaintext_size;
}

}  // namespace caselink::security
