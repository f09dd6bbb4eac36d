// What Submit learned from the blob store about a referenced document (its blob name, size and,
// for a confidential one, the stored header), remembered by digest. Blobs are content-addressed
// and the gateway never changes or deletes one, so a positive answer stays true; a missing blob
// is never remembered, so a document uploaded after a refusal is seen at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "security/document_crypto.h"

namespace caselink {

struct StoredDocumentFacts {
  std::string sha256_hex;  // the blob's name in the store
  uint64_t size = 0;
  // Set once the blob was read as a CaseLink encrypted document and its header parsed.
  std::optional<security::DocumentHeaderInfo> header;
};

// Thread-safe; holds at most `capacity` documents and forgets the oldest first.
class DocumentFactsCache {
 public:
  static constexpr size_t kDefaultCapacity = 8192;

  explicit DocumentFactsCache(size_t capacity = kDefaultCapacity) : capacity_(capacity) {}
  DocumentFactsCache(const DocumentFactsCache&) = delete;
  DocumentFactsCache& operator=(const DocumentFactsCache&) = delete;

  // `key` names the digest (see Key); null when nothing is remembered.
  std::shared_ptr<const StoredDocumentFacts> Find(absl::string_view key) const;
  // Remembers facts read from the store just now; replaces what was there.
  void Remember(absl::string_view key, std::shared_ptr<const StoredDocumentFacts> facts);
  size_t size() const;

  // The cache key of a document digest: algorithm name and raw digest bytes.
  static std::string Key(absl::string_view algorithm, absl::string_view digest);

 private:
  const size_t capacity_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<const StoredDocumentFacts>> facts_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> order_ ABSL_GUARDED_BY(mu_);  // insertion order, for eviction
};

}  // namespace caselink
