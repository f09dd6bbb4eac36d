// AES key wrap (RFC 3394, RFC 5649) over OpenSSL 3 EVP wrap ciphers.
#include "security/key_wrap.h"

#include <string>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "security/openssl_util.h"

namespace caselink::security {
namespace {

using internal::BytesOf;
using internal::MutableBytesOf;
using internal::OpenSslErrors;

constexpr size_t kSemiblock = 8;
// Far above any key; bounds the int-sized EVP lengths.
constexpr size_t kMaxWrapInput = size_t{1} << 20;

const EVP_CIPHER* WrapCipher(size_t kek_size, bool padded) {
  switch (kek_size) {
    case 16:
      return padded ? EVP_aes_128_wrap_pad() : EVP_aes_128_wrap();
    case 24:
      return padded ? EVP_aes_192_wrap_pad() : EVP_aes_192_wrap();
    case 32:
      return padded ? EVP_aes_256_wrap_pad() : EVP_aes_256_wrap();
    default:
      return nullptr;
  }
}

absl::StatusOr<std::string> RunWrap(absl::string_view kek, absl::string_view in, bool wrap, bool padded) {
  const char* name = padded ? "AES key wrap with padding (RFC 5649)" : "AES key wrap (RFC 3394)";
  const EVP_CIPHER* cipher = WrapCipher(kek.size(), padded);
  if (cipher == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": key-encryption key must be 16, 24 or 32 bytes, got ", kek.size()));
  }
  if (in.size() > kMaxWrapInput) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": input of ", in.size(), " bytes is too large"));
  }
  internal::EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (ctx == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot allocate a cipher context: ", OpenSslErrors()));
  }
  // OpenSSL refuses wrap modes through EVP unless the caller opts in, because their
  // output is longer than their input.
  EVP_CIPHER_CTX_set_flags(ctx.get(), EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
  if (EVP_CipherInit_ex(ctx.get(), cipher, nullptr, BytesOf(kek), nullptr, wrap ? 1 : 0) != 1) {
    return absl::InternalError(absl::StrCat(name, " setup failed: ", OpenSslErrors()));
  }
  std::string out(in.size() + 2 * kSemiblock, '\0');
  int written = 0;
  if (EVP_CipherUpdate(ctx.get(), MutableBytesOf(out), &written, BytesOf(in), static_cast<int>(in.size())) != 1 ||
      written < 0) {
    internal::WipeString(out);
    ERR_clear_error();
    if (wrap) return absl::InternalError(absl::StrCat(name, " failed"));
    return absl::UnauthenticatedError(
        absl::StrCat(name, ": integrity check failed; the wrapped key was modified or the key-encryption key is "
                           "wrong"));
  }
  int final_written = 0;
  if (EVP_CipherFinal_ex(ctx.get(), MutableBytesOf(out) + written, &final_written) != 1) {
    internal::WipeString(out);
    return absl::InternalError(absl::StrCat(name, " final step failed: ", OpenSslErrors()));
  }
  out.resize(static_cast<size_t>(written + final_written));
  return out;
}

}  // namespace

absl::StatusOr<std::string> AesKeyWrap(absl::string_view kek, absl::string_view key) {
  if (key.size() < 2 * kSemiblock || key.size() % kSemiblock != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "AES key wrap (RFC 3394) needs a key of at least 16 bytes in multiples of 8, got ", key.size(),
        " bytes; use AesKeyWrapWithPadding for other lengths"));
  }
  return RunWrap(kek, key, /*wrap=*/true, /*padded=*/false);
}

absl::StatusOr<std::string> AesKeyUnwrap(absl::string_view kek, absl::string_view wrapped) {
  if (wrapped.size() < 3 * kSemiblock || wrapped.size() % kSemiblock != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "AES-wrapped key must be at least 24 bytes in multiples of 8, got ", wrapped.size()));
  }
  return RunWrap(kek, wrapped, /*wrap=*/false, /*padded=*/false);
}

absl::StatusOr<std::string> AesKeyWrapWithPadding(absl::string_view kek, absl::string_view key) {
  if (key.empty()) return absl::InvalidArgumentError("AES key wrap with padding (RFC 5649): the key is empty");
  return RunWrap(kek, key, /*wrap=*/true, /*padded=*/true);
}

absl::StatusOr<std::string> AesKeyUnwrapWithPadding(absl::string_view kek, absl::string_view wrapped) {
  if (wrapped.size() < 2 * kSemiblock || wrapped.size() % kSemiblock != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "AES-wrapped (RFC 5649) key must be at least 16 bytes in multiples of 8, got ", wrapped.size()));
  }
  return RunWrap(kek, wrapped, /*wrap=*/false, /*padded=*/true);
}

}  // namespace caselink::security
