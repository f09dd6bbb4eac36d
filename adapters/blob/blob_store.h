// Content-addressed storage for documents: bytes are streamed in, named by
// their SHA-256, and streamed out; never held whole in memory.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

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
};

// Blobs as files under <root>/sha256/<first two hex>/<digest hex>.
absl::StatusOr<std::unique_ptr<BlobStore>> OpenFileBlobStore(const std::string& root);

}  // namespace caselink
