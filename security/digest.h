// Message digests used for envelope ids, document addressing and audit hashing: SHA-256
// (INTL profile) and SM3 (GM profile), one-shot and incremental.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace caselink::security {

enum class DigestAlgorithm {
  kSha256,  // FIPS 180-4
  kSm3,     // GB/T 32905-2016 (GM/T 0004-2012)
};

// "SHA-256" or "SM3", for messages and logs.
const char* DigestAlgorithmName(DigestAlgorithm algorithm);
// Digest length in bytes (32 for both algorithms).
size_t DigestSize(DigestAlgorithm algorithm);

// An incremental digest computation. Digests cannot fail on valid input; an OpenSSL
// failure here means a broken install, and the process aborts rather than hand out a
// wrong hash as an identifier.
class Hasher {
 public:
  virtual ~Hasher() = default;
  virtual void Update(absl::string_view data) = 0;
  // Returns the digest; the hasher must not be used afterwards.
  virtual std::string Finish() = 0;
  virtual DigestAlgorithm algorithm() const = 0;
};

// SHA-256 of `data`, 32 raw bytes.
std::string Sha256(absl::string_view data);
// SM3 of `data`, 32 raw bytes.
std::string Sm3(absl::string_view data);
// One-shot digest with the profile's algorithm.
std::string Digest(DigestAlgorithm algorithm, absl::string_view data);

// Incremental SHA-256 for streams (documents) of any size.
class Sha256Hasher : public Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher() override;
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;

  void Update(absl::string_view data) override;
  // Returns the 32-byte digest; the hasher must not be used afterwards.
  std::string Finish() override;
  DigestAlgorithm algorithm() const override { return DigestAlgorithm::kSha256; }

 private:
  struct Context;
  std::unique_ptr<Context> ctx_;
};

// Incremental SM3 for streams of any size.
class Sm3Hasher : public Hasher {
 public:
  Sm3Hasher();
  ~Sm3Hasher() override;
  Sm3Hasher(const Sm3Hasher&) = delete;
  Sm3Hasher& operator=(const Sm3Hasher&) = delete;

  void Update(absl::string_view data) override;
  // Returns the 32-byte digest; the hasher must not be used afterwards.
  std::string Finish() override;
  DigestAlgorithm algorithm() const override { return DigestAlgorithm::kSm3; }

 private:
  struct Context;
  std::unique_ptr<Context> ctx_;
};

// A fresh incremental hasher for `algorithm`.
std::unique_ptr<Hasher> NewHasher(DigestAlgorithm algorithm);

// Lowercase hex of raw bytes, and back (INVALID_ARGUMENT on bad input).
std::string HexEncode(absl::string_view bytes);
absl::StatusOr<std::string> HexDecode(absl::string_view hex);

}  // namespace caselink::security
