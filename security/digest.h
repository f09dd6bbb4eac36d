// Message digests used for envelope ids, document addressing and audit hashing.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace caselink::security {

// SHA-256 of `data`, 32 raw bytes.
std::string Sha256(absl::string_view data);

// Incremental SHA-256 for streams (documents) of any size.
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;

  void Update(absl::string_view data);
  // Returns the 32-byte digest; the hasher must not be used afterwards.
  std::string Finish();

 private:
  struct Context;
  std::unique_ptr<Context> ctx_;
};

// Lowercase hex of raw bytes, and back (INVALID_ARGUMENT on bad input).
std::string HexEncode(absl::string_view bytes);
absl::StatusOr<std::string> HexDecode(absl::string_view hex);

}  // namespace caselink::security
