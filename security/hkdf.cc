// HKDF over OpenSSL 3 EVP_KDF "HKDF" (extract-then-expand mode).
#include "security/hkdf.h"

#include <string>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "security/openssl_util.h"

namespace caselink::security {
namespace {

using internal::OpenSslErrors;

constexpr size_t kMaxBlocks = 255;  // RFC 5869: L <= 255 * HashLen

// OSSL_PARAM octet strings are read-only here, but the constructor takes void*.
void* Mutable(absl::string_view s) {
  static unsigned char empty = 0;
  return s.empty() ? static_cast<void*>(&empty) : static_cast<void*>(const_cast<char*>(s.data()));
}

}  // namespace

absl::StatusOr<std::string> Hkdf(DigestAlgorithm digest, absl::string_view ikm, absl::string_view salt,
                                 absl::string_view info, size_t size) {
  const size_t max_size = kMaxBlocks * DigestSize(digest);
  if (size == 0 || size > max_size) {
    return absl::InvalidArgumentError(absl::StrCat("HKDF-", DigestAlgorithmName(digest), " output size ", size,
                                                   " is out of range; it must be 1 to ", max_size, " bytes"));
  }
  // RFC 5869 2.2: an absent salt is HashLen zeros. Passing them explicitly keeps OpenSSL
  // from treating an empty salt parameter as "no key".
  const std::string zero_salt(DigestSize(digest), '\0');
  const absl::string_view effective_salt = salt.empty() ? absl::string_view(zero_salt) : salt;

  internal::EvpKdfPtr kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  if (kdf == nullptr) return absl::InternalError(absl::StrCat("this OpenSSL has no HKDF: ", OpenSslErrors()));
  internal::EvpKdfCtxPtr ctx(EVP_KDF_CTX_new(kdf.get()));
  if (ctx == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot allocate an HKDF context: ", OpenSslErrors()));
  }
  const char* md_name = digest == DigestAlgorithm::kSm3 ? "SM3" : "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(md_name), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, Mutable(ikm), ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, Mutable(effective_salt), effective_salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, Mutable(info), info.size()),
      OSSL_PARAM_construct_end(),
  };
  std::string out(size, '\0');
  if (EVP_KDF_derive(ctx.get(), internal::MutableBytesOf(out), out.size(), params) != 1) {
    internal::WipeString(out);
    return absl::InternalError(
        absl::StrCat("HKDF-", DigestAlgorithmName(digest), " derivation failed: ", OpenSslErrors()));
  }
  return out;
}

absl::StatusOr<std::string> HkdfSha256(absl::string_view ikm, absl::string_view salt, absl::string_view info,
                                       size_t size) {
  return Hkdf(DigestAlgorithm::kSha256, ikm, salt, info, size);
}

}  // namespace caselink::security
