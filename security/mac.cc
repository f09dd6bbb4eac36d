// HMAC over OpenSSL 3 EVP_MAC. A keyed template context is built once and duplicated per
// call, so concurrent callers never share mutable OpenSSL state.
#include "security/mac.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "security/openssl_util.h"

namespace caselink::security {
namespace {

using internal::BytesOf;
using internal::EvpMacCtxPtr;
using internal::EvpMacPtr;
using internal::OpenSslErrors;

// OpenSSL's digest names for OSSL_MAC_PARAM_DIGEST.
const char* OpenSslDigestName(DigestAlgorithm digest) {
  return digest == DigestAlgorithm::kSm3 ? "SM3" : "SHA256";
}

}  // namespace

struct Hmac::State {
  EvpMacPtr mac;
  EvpMacCtxPtr keyed;  // initialised with the key; only ever duplicated
};

absl::StatusOr<std::unique_ptr<Hmac>> Hmac::Create(DigestAlgorithm digest, absl::string_view key) {
  if (key.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("HMAC-", DigestAlgorithmName(digest), " key is empty; use at least 32 random bytes"));
  }
  auto state = std::make_unique<State>();
  state->mac.reset(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  if (state->mac == nullptr) {
    return absl::InternalError(absl::StrCat("this OpenSSL has no HMAC: ", OpenSslErrors()));
  }
  state->keyed.reset(EVP_MAC_CTX_new(state->mac.get()));
  if (state->keyed == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot allocate an HMAC context: ", OpenSslErrors()));
  }
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(OpenSslDigestName(digest)), 0),
      OSSL_PARAM_construct_end(),
  };
  if (EVP_MAC_init(state->keyed.get(), BytesOf(key), key.size(), params) != 1) {
    return absl::InternalError(absl::StrCat("cannot key HMAC-", DigestAlgorithmName(digest),
                                            " (is the digest available in this OpenSSL?): ", OpenSslErrors()));
  }
  return std::unique_ptr<Hmac>(new Hmac(std::move(state), digest));
}

Hmac::Hmac(std::unique_ptr<State> state, DigestAlgorithm digest) : state_(std::move(state)), digest_(digest) {}

Hmac::~Hmac() = default;

absl::StatusOr<std::string> Hmac::Compute(absl::string_view data) const { return ComputeOver({data}); }

absl::StatusOr<std::string> Hmac::ComputeOver(std::initializer_list<absl::string_view> parts) const {
  EvpMacCtxPtr ctx(EVP_MAC_CTX_dup(state_->keyed.get()));
  if (ctx == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot copy the HMAC context: ", OpenSslErrors()));
  }
  for (absl::string_view part : parts) {
    while (!part.empty()) {
      const size_t n = std::min(part.size(), internal::kMaxEvpChunk);
      if (EVP_MAC_update(ctx.get(), BytesOf(part), n) != 1) {
        return absl::InternalError(absl::StrCat("HMAC update failed: ", OpenSslErrors()));
      }
      part.remove_prefix(n);
    }
  }
  std::string tag(EVP_MAX_MD_SIZE, '\0');
  size_t size = 0;
  if (EVP_MAC_final(ctx.get(), internal::MutableBytesOf(tag), &size, tag.size()) != 1 || size != tag_size()) {
    return absl::InternalError(absl::StrCat("HMAC final failed: ", OpenSslErrors()));
  }
  tag.resize(size);
  return tag;
}

absl::Status Hmac::Verify(absl::string_view tag, absl::string_view data) const { return VerifyOver(tag, {data}); }

absl::Status Hmac::VerifyOver(absl::string_view tag, std::initializer_list<absl::string_view> parts) const {
  absl::StatusOr<std::string> expected = ComputeOver(parts);
  if (!expected.ok()) return expected.status();
  // The length is public (fixed per algorithm); only the contents need constant time.
  if (tag.size() != expected->size() || CRYPTO_memcmp(tag.data(), expected->data(), expected->size()) != 0) {
    return absl::UnauthenticatedError(absl::StrCat("HMAC-", DigestAlgorithmName(digest_), " tag does not verify"));
  }
  return absl::OkStatus();
}

}  // namespace caselink::security
