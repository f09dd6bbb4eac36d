// End-to-end document encryption: a streaming, chunked format that seals a document once under a
// fresh content key and wraps that key to each recipient, in constant memory on both sides.
//
// Format (integers big-endian; H = the suite's digest, SHA-256 for INTL, SM3 for GM):
//   header  = "CLDF" | version u8 (=1) | suite u8 | body_length u32 | body
//   body    = chunk_size u32 | recipient_count u16 |
//             recipient_count * { key_id_length u8 | key_id | wrapped_length u16 | wrapped_key }
//   chunk i = flags u8 (bit 0: final) | sealed_length u32 | sealed
//   sealed  = AEAD(content_key, nonce_i, plaintext_i, aad_i)
//   aad_i   = H(header) | i u64 | flags u8
// Suites:
//   kIntl: content key 32 bytes, AES-256-GCM, nonce_i = 0x00000000 | i u64 (12 bytes),
//          keys wrapped with ECDH P-256 + HKDF-SHA256 + AES-256-KW (ecdh_p256.h).
//   kGm:   content key 48 bytes, SM4-CTR + HMAC-SM3 (sm4_ctr_hmac_sm3.h), counter block
//          i u64 | 0 u64, so chunks use disjoint counter ranges; keys wrapped with SM2 encryption.
// Counter nonces are safe because every document has its own random content key. Every chunk
// but the last holds exactly chunk_size plaintext bytes; the last holds 0..chunk_size and has
// the final flag. The header digest, index and flag in the AAD make a modified header, a
// reordered, dropped, duplicated or truncated chunk, or data after the final chunk fail.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "security/key_wrap.h"

namespace caselink::security {

enum class DocumentSuite : uint8_t {
  kIntl = 1,  // AES-256-GCM, ECDH P-256 key wrap, SHA-256
  kGm = 2,    // SM4-CTR + HMAC-SM3, SM2 key wrap, SM3
};

inline constexpr size_t kDefaultDocumentChunkSize = 64 * 1024;
inline constexpr size_t kMinDocumentChunkSize = 1024;
inline constexpr size_t kMaxDocumentChunkSize = 16 * 1024 * 1024;

// One recipient of a document: the key id it is known by and a wrapper for its public key.
struct DocumentRecipient {
  std::string key_id;         // 1..255 bytes, unique within a document
  const KeyWrapper* wrapper;  // borrowed for the duration of DocumentEncryptor::Create
};

class DocumentEncryptor {
 public:
  // Draws a content key and wraps it to every recipient; each wrapper's algorithm must be the
  // suite's. INVALID_ARGUMENT for no recipients, duplicate or bad key ids, wrong wrappers or a
  // chunk size outside [kMinDocumentChunkSize, kMaxDocumentChunkSize].
  static absl::StatusOr<std::unique_ptr<DocumentEncryptor>> Create(
      DocumentSuite suite, const std::vector<DocumentRecipient>& recipients,
      size_t chunk_size = kDefaultDocumentChunkSize);
  ~DocumentEncryptor();

  // The header; write it before any chunk.
  const std::string& header() const;
  // Buffers `plaintext` and returns the chunks it completed (possibly none).
  absl::StatusOr<std::string> Update(absl::string_view plaintext);
  // Returns the final chunk. The encryptor cannot be used afterwards.
  absl::StatusOr<std::string> Finish();

 private:
  struct State;
  explicit DocumentEncryptor(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

class DocumentDecryptor {
 public:
  // `unwrapper` (borrowed; must outlive the decryptor) recovers the content key wrapped to
  // `key_id`; its algorithm must match the document's suite.
  static absl::StatusOr<std::unique_ptr<DocumentDecryptor>> Create(std::string key_id,
                                                                    const KeyUnwrapper& unwrapper);
  ~DocumentDecryptor();

  // Consumes the next bytes of the document (header, then chunks, in pieces of any size) and
  // returns the plaintext of every chunk completed and authenticated by them. A chunk that
  // fails authentication yields UNAUTHENTICATED and none of its plaintext; a malformed header
  // or frame yields INVALID_ARGUMENT; a document not addressed to `key_id` yields NOT_FOUND.
  // After any error the decryptor refuses further input. Plaintext returned before Finish()
  // succeeds is authentic chunk by chunk but may be an incomplete document: keep it
  // provisional (e.g. in a temporary file) until Finish() returns OK.
  absl::StatusOr<std::string> Update(absl::string_view ciphertext);
  // OK only when the final chunk was received and nothing follows it; a truncated document
  // is UNAUTHENTICATED.
  absl::Status Finish();

 private:
  struct State;
  explicit DocumentDecryptor(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// What the plaintext header of a stored document says, for parties that hold no key (the
// gateway checks a confidential document's suite and recipients without decrypting it).
struct DocumentHeaderInfo {
  DocumentSuite suite = DocumentSuite::kIntl;
  size_t chunk_size = 0;
  std::vector<std::string> recipient_key_ids;  // in header order
  size_t header_size = 0;                       // bytes of the whole header
};

// Bytes a header may take at most (fixed part plus the largest body a decryptor accepts).
size_t MaxDocumentHeaderSize();
// The length of the header that starts `prefix`, once its fixed part (10 bytes) is there;
// INVALID_ARGUMENT when `prefix` is not a CaseLink encrypted document or the header is too large.
absl::StatusOr<size_t> DocumentHeaderSize(absl::string_view prefix);
// Parses the header at the start of `bytes` (which may hold more after it). INVALID_ARGUMENT
// for anything but a complete, well-formed header.
absl::StatusOr<DocumentHeaderInfo> ParseDocumentHeader(absl::string_view bytes);
// The size of the encrypted document for `plaintext_size` bytes under an encryptor whose header
// is `header_size` bytes: lets a sender declare the upload size before it encrypts.
uint64_t EncryptedDocumentSize(DocumentSuite suite, size_t header_size, size_t chunk_size, uint64_t plaintext_size);

}  // namespace caselink::security
