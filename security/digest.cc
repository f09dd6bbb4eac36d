// SHA-256 and SM3 (one-shot and streaming) and hex helpers over the OpenSSL 3 EVP digest API.
#include "security/digest.h"

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "security/openssl_util.h"

namespace caselink::security {
namespace {

constexpr size_t kDigestSize = 32;  // SHA-256 and SM3
constexpr char kHexDigits[] = "0123456789abcdef";

using internal::EvpMdCtxPtr;

// The digest API has no error channel, and a digest only fails on allocation failure
// or a broken OpenSSL install; continuing would hand out a wrong hash as an id.
[[noreturn]] void DieOnOpenSslFailure(const char* algorithm, const char* operation) {
  unsigned long err = ERR_get_error();
  char reason[256] = "unknown error";
  if (err != 0) ERR_error_string_n(err, reason, sizeof(reason));
  std::fprintf(stderr, "caselink: fatal: %s %s failed in OpenSSL: %s\n", algorithm, operation, reason);
  std::abort();
}

// Fetched once (SHA-256 in internal::Sha256Md): EVP_DigestInit_ex with EVP_sha256()
// or by name fetches the implementation again on every call.
// SM3 is looked up by name because a build may leave it out; that build cannot run
// the GM profile at all, so the failure is fatal and says so.
const EVP_MD* Sm3Md() {
  static const EVP_MD* const md = [] {
    EVP_MD* fetched = EVP_MD_fetch(nullptr, "SM3", nullptr);
    if (fetched == nullptr) DieOnOpenSslFailure("SM3", "lookup (this OpenSSL lacks SM3, required by the GM profile)");
    return fetched;
  }();
  return md;
}

// The state both hashers share: one EVP digest context, used once.
struct EvpHashState {
  const char* name = "";
  EvpMdCtxPtr md_ctx;
  bool finished = false;

  void Init(const char* algorithm, const EVP_MD* md) {
    name = algorithm;
    md_ctx.reset(EVP_MD_CTX_new());
    if (md_ctx == nullptr) DieOnOpenSslFailure(name, "context allocation");
    if (EVP_DigestInit_ex(md_ctx.get(), md, nullptr) != 1) DieOnOpenSslFailure(name, "init");
  }

  void Update(absl::string_view data) {
    if (finished) {
      std::fprintf(stderr, "caselink: fatal: %s hasher Update called after Finish\n", name);
      std::abort();
    }
    if (data.empty()) return;
    if (EVP_DigestUpdate(md_ctx.get(), data.data(), data.size()) != 1) DieOnOpenSslFailure(name, "update");
  }

  std::string Finish() {
    if (finished) {
      std::fprintf(stderr, "caselink: fatal: %s hasher Finish called twice\n", name);
      std::abort();
    }
    finished = true;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    if (EVP_DigestFinal_ex(md_ctx.get(), digest, &size) != 1 || size != kDigestSize) {
      DieOnOpenSslFailure(name, "final");
    }
    return std::string(reinterpret_cast<const char*>(digest), size);
  }
};

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

const char* DigestAlgorithmName(DigestAlgorithm algorithm) {
  switch (algorithm) {
    case DigestAlgorithm::kSha256:
      return "SHA-256";
    case DigestAlgorithm::kSm3:
      return "SM3";
  }
  return "unknown digest";
}

size_t DigestSize(DigestAlgorithm algorithm) { return kDigestSize; }

std::string Sha256(absl::string_view data) {
  Sha256Hasher hasher;
  hasher.Update(data);
  return hasher.Finish();
}

std::string Sm3(absl::string_view data) {
  Sm3Hasher hasher;
  hasher.Update(data);
  return hasher.Finish();
}

std::string Digest(DigestAlgorithm algorithm, absl::string_view data) {
  std::unique_ptr<Hasher> hasher = NewHasher(algorithm);
  hasher->Update(data);
  return hasher->Finish();
}

std::unique_ptr<Hasher> NewHasher(DigestAlgorithm algorithm) {
  switch (algorithm) {
    case DigestAlgorithm::kSha256:
      return std::make_unique<Sha256Hasher>();
    case DigestAlgorithm::kSm3:
      return std::make_unique<Sm3Hasher>();
  }
  std::fprintf(stderr, "caselink: fatal: unknown DigestAlgorithm %d\n", static_cast<int>(algorithm));
  std::abort();
}

struct Sha256Hasher::Context : EvpHashState {};

Sha256Hasher::Sha256Hasher() : ctx_(std::make_unique<Context>()) {
  const EVP_MD* md = internal::Sha256Md();
  if (md == nullptr) DieOnOpenSslFailure("SHA-256", "lookup");
  ctx_->Init("SHA-256", md);
}

Sha256Hasher::~Sha256Hasher() = default;

void Sha256Hasher::Update(absl::string_view data) { ctx_->Update(data); }

std::string Sha256Hasher::Finish() { return ctx_->Finish(); }

struct Sm3Hasher::Context : EvpHashState {};

Sm3Hasher::Sm3Hasher() : ctx_(std::make_unique<Context>()) { ctx_->Init("SM3", Sm3Md()); }

Sm3Hasher::~Sm3Hasher() = default;

void Sm3Hasher::Update(absl::string_view data) { ctx_->Update(data); }

std::string Sm3Hasher::Finish() { return ctx_->Finish(); }

std::string HexEncode(absl::string_view bytes) {
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    hex.push_back(kHexDigits[b >> 4]);
    hex.push_back(kHexDigits[b & 0x0f]);
  }
  return hex;
}

absl::StatusOr<std::string> HexDecode(absl::string_view hex) {
  if (hex.size() % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("hex string has odd length ", hex.size(), "; expected two digits per byte"));
  }
  std::string bytes;
  bytes.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = HexValue(hex[i]);
    int lo = HexValue(hex[i + 1]);
    if (hi < 0 || lo < 0) {
      size_t bad = hi < 0 ? i : i + 1;
      return absl::InvalidArgumentError(
          absl::StrCat("invalid hex digit at offset ", bad, "; expected 0-9, a-f or A-F"));
    }
    bytes.push_back(static_cast<char>((hi << 4) | lo));
  }
  return bytes;
}

}  // namespace caselink::security
