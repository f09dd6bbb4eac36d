// RFC 6962 leaf/node hashing over an OpenSSL 3 digest fetched once per hasher.
#include "security/merkle/tree_hasher.h"

#include <openssl/err.h>
#include <openssl/evp.h>

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace caselink::merkle {
namespace {

constexpr unsigned char kLeafPrefix = 0x00;
constexpr unsigned char kNodePrefix = 0x01;
constexpr int kNoPrefix = -1;

struct EvpMdDeleter {
  void operator()(EVP_MD* md) const { EVP_MD_free(md); }
};
struct EvpMdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using EvpMdCtxPtr = std::unique_ptr<EVP_MD_CTX, EvpMdCtxDeleter>;

// OpenSSL's error queue as text, for messages.
std::string OpenSslErrors() {
  std::string out;
  char buffer[256];
  while (unsigned long err = ERR_get_error()) {
    ERR_error_string_n(err, buffer, sizeof buffer);
    if (!out.empty()) out += "; ";
    out += buffer;
  }
  return out.empty() ? "no OpenSSL error recorded" : out;
}

// A digest that worked in Create only fails later if memory runs out; a log
// must not continue with a hash it did not compute.
[[noreturn]] void DieOnOpenSslFailure(const char* operation) {
  std::fprintf(stderr, "caselink: fatal: Merkle tree hashing: %s failed in OpenSSL: %s\n",
               operation, OpenSslErrors().c_str());
  std::abort();
}

const char* FetchName(HashAlgorithm algorithm) {
  switch (algorithm) {
    case HashAlgorithm::kSha256:
      return "SHA2-256";
    case HashAlgorithm::kSm3:
      return "SM3";
  }
  return nullptr;
}

}  // namespace

// Fetched explicitly (rather than EVP_sha256()/EVP_sm3()) so OpenSSL 3 does
// not look the implementation up again on every one of millions of hashes.
struct TreeHasher::Md {
  std::unique_ptr<EVP_MD, EvpMdDeleter> md;
};

absl::string_view HashAlgorithmName(HashAlgorithm algorithm) {
  switch (algorithm) {
    case HashAlgorithm::kSha256:
      return "SHA-256";
    case HashAlgorithm::kSm3:
      return "SM3";
  }
  return "unknown";
}

absl::StatusOr<std::unique_ptr<TreeHasher>> TreeHasher::Create(HashAlgorithm algorithm) {
  const char* name = FetchName(algorithm);
  if (name == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown Merkle hash algorithm ", static_cast<int>(algorithm)));
  }
  auto md = std::make_unique<Md>();
  md->md.reset(EVP_MD_fetch(nullptr, name, nullptr));
  if (md->md == nullptr) {
    return absl::UnavailableError(absl::StrCat("this OpenSSL build does not provide ",
                                               HashAlgorithmName(algorithm), ": ",
                                               OpenSslErrors()));
  }
  const int size = EVP_MD_get_size(md->md.get());
  if (size <= 0) {
    return absl::InternalError(
        absl::StrCat("OpenSSL reports digest size ", size, " for ", HashAlgorithmName(algorithm)));
  }
  auto hasher = std::unique_ptr<TreeHasher>(
      new TreeHasher(algorithm, std::move(md), static_cast<size_t>(size)));
  hasher->empty_root_ = hasher->Hash(kNoPrefix, "", "");
  return hasher;
}

TreeHasher::TreeHasher(HashAlgorithm algorithm, std::unique_ptr<Md> md, size_t size)
    : algorithm_(algorithm), md_(std::move(md)), size_(size) {}

TreeHasher::~TreeHasher() = default;

std::string TreeHasher::HashLeaf(absl::string_view leaf) const {
  return Hash(kLeafPrefix, leaf, "");
}

std::string TreeHasher::HashChildren(absl::string_view left, absl::string_view right) const {
  return Hash(kNodePrefix, left, right);
}

std::string TreeHasher::Hash(int prefix, absl::string_view a, absl::string_view b) const {
  // One context per thread keeps the hasher usable from many threads at
  // once. Reused, it keeps its digest state allocated: a Merkle hash is two
  // compression rounds, and a fresh context's set-up cost more than they do.
  thread_local EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr) DieOnOpenSslFailure("EVP_MD_CTX_new");
  if (EVP_DigestInit_ex2(ctx.get(), md_->md.get(), nullptr) != 1) {
    DieOnOpenSslFailure("EVP_DigestInit_ex2");
  }
  if (prefix >= 0) {
    const unsigned char byte = static_cast<unsigned char>(prefix);
    if (EVP_DigestUpdate(ctx.get(), &byte, 1) != 1) DieOnOpenSslFailure("EVP_DigestUpdate");
  }
  if (!a.empty() && EVP_DigestUpdate(ctx.get(), a.data(), a.size()) != 1) {
    DieOnOpenSslFailure("EVP_DigestUpdate");
  }
  if (!b.empty() && EVP_DigestUpdate(ctx.get(), b.data(), b.size()) != 1) {
    DieOnOpenSslFailure("EVP_DigestUpdate");
  }
  std::string out(size_, '\0');
  unsigned int written = 0;
  if (EVP_DigestFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &written) != 1) {
    DieOnOpenSslFailure("EVP_DigestFinal_ex");
  }
  if (written != size_) DieOnOpenSslFailure("EVP_DigestFinal_ex (unexpected length)");
  return out;
}

}  // namespace caselink::merkle
