// SHA-256 (one-shot and streaming) and hex helpers over the OpenSSL 3 EVP digest API.
#include "security/digest.h"

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace caselink::security {
namespace {

constexpr size_t kSha256Size = 32;
constexpr char kHexDigits[] = "0123456789abcdef";

struct EvpMdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using EvpMdCtxPtr = std::unique_ptr<EVP_MD_CTX, EvpMdCtxDeleter>;

// The digest API has no error channel, and SHA-256 only fails on allocation failure
// or a broken OpenSSL install; continuing would hand out a wrong hash as an id.
[[noreturn]] void DieOnOpenSslFailure(const char* operation) {
  unsigned long err = ERR_get_error();
  char reason[256] = "unknown error";
  if (err != 0) ERR_error_string_n(err, reason, sizeof(reason));
  std::fprintf(stderr, "caselink: fatal: SHA-256 %s failed in OpenSSL: %s\n", operation, reason);
  std::abort();
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string Sha256(absl::string_view data) {
  Sha256Hasher hasher;
  hasher.Update(data);
  return hasher.Finish();
}

struct Sha256Hasher::Context {
  EvpMdCtxPtr md_ctx;
  bool finished = false;
};

Sha256Hasher::Sha256Hasher() : ctx_(std::make_unique<Context>()) {
  ctx_->md_ctx.reset(EVP_MD_CTX_new());
  if (ctx_->md_ctx == nullptr) DieOnOpenSslFailure("context allocation");
  if (EVP_DigestInit_ex(ctx_->md_ctx.get(), EVP_sha256(), nullptr) != 1) {
    DieOnOpenSslFailure("init");
  }
}

Sha256Hasher::~Sha256Hasher() = default;

void Sha256Hasher::Update(absl::string_view data) {
  if (ctx_->finished) {
    std::fprintf(stderr, "caselink: fatal: Sha256Hasher::Update called after Finish\n");
    std::abort();
  }
  if (data.empty()) return;
  if (EVP_DigestUpdate(ctx_->md_ctx.get(), data.data(), data.size()) != 1) {
    DieOnOpenSslFailure("update");
  }
}

std::string Sha256Hasher::Finish() {
  if (ctx_->finished) {
    std::fprintf(stderr, "caselink: fatal: Sha256Hasher::Finish called twice\n");
    std::abort();
  }
  ctx_->finished = true;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_DigestFinal_ex(ctx_->md_ctx.get(), digest, &size) != 1 || size != kSha256Size) {
    DieOnOpenSslFailure("final");
  }
  return std::string(reinterpret_cast<const char*>(digest), size);
}

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
