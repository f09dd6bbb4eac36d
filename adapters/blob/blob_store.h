// Content-addressed storage for documents: bytes are streamed in, named by
// their SHA-256, and streamed out; never held whole in memory. A blob may also
// be indexed by another digest of its bytes (SM3 under the GM profile).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "security/digest.h"

namespace caselink {

class BlobWriter {
 public:
  virtual ~BlobWriter() = default;  // an unfinished writer discards its bytes
  virtual absl::Status Append(absl::string_view chunk) = 0;
  virtual uint64_t size() const = 0;
  // Makes the blob durable under its digest; returns the digest as lowercase hex.
  virtual absl::StatusOr<std::string> Finish() = 0;
};

class BlobReader {
 public:
  virtual ~BlobReader() = default;
  // Up to `max_bytes`; an empty result means the end.
  virtual absl::StatusOr<std::string> Read(size_t max_bytes) = 0;
  virtual uint64_t size() const = 0;
};

class BlobStore {
 public:
  virtual ~BlobStore() = default;
  virtual absl::StatusOr<std::unique_ptr<BlobWriter>> BeginWrite() = 0;
  // Size of the blob, or NOT_FOUND.
  virtual absl::StatusOr<uint64_t> Size(absl::string_view digest_hex) const = 0;
  virtual absl::StatusOr<std::unique_ptr<BlobReader>> Open(absl::string_view digest_hex) const = 0;
  // Records, durably, that the stored blob `sha256_hex` has the digest
  // `digest_hex` under `algorithm`; the caller computed it over the same bytes.
  virtual absl::Status AddIndex(security::DigestAlgorithm algorithm, absl::string_view digest_hex,
                                absl::string_view sha256_hex) = 0;
  // The SHA-256 (hex) of the blob whose `algorithm` digest is `digest_hex`
  // (for SHA-256, the digest itself); NOT_FOUND when no such blob is stored.
  virtual absl::StatusOr<std::string> Resolve(security::DigestAlgorithm algorithm, absl::string_view digest_hex) const = 0;
};

// Blobs as files under <root>/sha256/<first two hex>/<digest hex>; the SM3
// index as files <root>/sm3/<first two hex>/<sm3 hex> holding the SHA-256 hex.
absl::StatusOr<std::unique_ptr<BlobStore>> OpenFileBlobStore(const std::string& root);

}  // namespace caselink
