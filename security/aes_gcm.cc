// AES-GCM over OpenSSL 3 EVP_CIPHER with fixed 96-bit IVs and full 128-bit tags. Decryption
// wipes any plaintext it produced when the tag fails, so callers never see unauthenticated data.
#include "security/aes_gcm.h"

#include <memory>
#include <string>
#include <utility>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "security/openssl_util.h"

namespace caselink::security {
namespace {

using internal::BytesOf;
using internal::CipherUpdateAll;
using internal::EvpCipherCtxPtr;
using internal::MutableBytesOf;
using internal::OpenSslErrors;

constexpr char kName[] = "AES-GCM";

const EVP_CIPHER* CipherForKeySize(size_t size) {
  switch (size) {
    case 16:
      return EVP_aes_128_gcm();
    case 24:
      return EVP_aes_192_gcm();
    case 32:
      return EVP_aes_256_gcm();
    default:
      return nullptr;
  }
}

}  // namespace

struct AesGcm::State {
  internal::SecretBytes key;
  const EVP_CIPHER* cipher = nullptr;
  explicit State(absl::string_view k) : key(k) {}
};

absl::StatusOr<std::unique_ptr<AesGcm>> AesGcm::Create(absl::string_view key) {
  if (key.size() != kKeySize) {
    return absl::InvalidArgumentError(
        absl::StrCat("AES-256-GCM key must be ", kKeySize, " bytes, got ", key.size()));
  }
  return CreateAnyKeySize(key);
}

absl::StatusOr<std::unique_ptr<AesGcm>> AesGcm::CreateAnyKeySize(absl::string_view key) {
  const EVP_CIPHER* cipher = CipherForKeySize(key.size());
  if (cipher == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("AES-GCM key must be 16, 24 or 32 bytes, got ", key.size()));
  }
  auto state = std::make_unique<State>(key);
  state->cipher = cipher;
  return std::unique_ptr<AesGcm>(new AesGcm(std::move(state)));
}

AesGcm::AesGcm(std::unique_ptr<State> state) : state_(std::move(state)) {}

AesGcm::~AesGcm() = default;

size_t AesGcm::key_size() const { return state_->key.size(); }

absl::StatusOr<std::string> AesGcm::Encrypt(absl::string_view plaintext, absl::string_view aad) const {
  return internal::SealUnderRandomIv(kIvSize,
                                     [&](absl::string_view iv) { return EncryptWithIv(iv, plaintext, aad); });
}

absl::StatusOr<std::string> AesGcm::Decrypt(absl::string_view ciphertext, absl::string_view aad) const {
  if (absl::Status s = internal::CheckAeadHoldsIvAndTag(kName, ciphertext, kIvSize, kTagSize); !s.ok()) return s;
  return DecryptWithIv(ciphertext.substr(0, kIvSize), ciphertext.substr(kIvSize), aad);
}

absl::StatusOr<std::string> AesGcm::EncryptWithIv(absl::string_view iv, absl::string_view plaintext,
                                                  absl::string_view aad) const {
  if (absl::Status s = internal::CheckAeadIvSize(kName, iv, kIvSize); !s.ok()) return s;
  EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (ctx == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot allocate a cipher context: ", OpenSslErrors()));
  }
  // The default IV length of EVP's GCM is 12 bytes, the only one accepted here.
  if (EVP_EncryptInit_ex(ctx.get(), state_->cipher, nullptr, state_->key.data(), BytesOf(iv)) != 1) {
    return absl::InternalError(absl::StrCat("AES-GCM encryption setup failed: ", OpenSslErrors()));
  }
  std::string out(plaintext.size() + kTagSize, '\0');
  int final_size = 0;
  if (!CipherUpdateAll(ctx.get(), aad, nullptr) || !CipherUpdateAll(ctx.get(), plaintext, MutableBytesOf(out)) ||
      EVP_EncryptFinal_ex(ctx.get(), MutableBytesOf(out) + plaintext.size(), &final_size) != 1 ||
      final_size != 0 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_GET_TAG, kTagSize, MutableBytesOf(out) + plaintext.size()) !=
          1) {
    return absl::InternalError(absl::StrCat("AES-GCM encryption failed: ", OpenSslErrors()));
  }
  return out;
}

absl::StatusOr<std::string> AesGcm::DecryptWithIv(absl::string_view iv, absl::string_view ciphertext_and_tag,
                                                  absl::string_view aad) const {
  if (absl::Status s = internal::CheckAeadIvSize(kName, iv, kIvSize); !s.ok()) return s;
  if (absl::Status s = internal::CheckAeadHoldsTag(kName, ciphertext_and_tag, kTagSize); !s.ok()) return s;
  const absl::string_view ciphertext = ciphertext_and_tag.substr(0, ciphertext_and_tag.size() - kTagSize);
  std::string tag(ciphertext_and_tag.substr(ciphertext.size()));
  EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (ctx == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot allocate a cipher context: ", OpenSslErrors()));
  }
  if (EVP_DecryptInit_ex(ctx.get(), state_->cipher, nullptr, state_->key.data(), BytesOf(iv)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG, kTagSize, MutableBytesOf(tag)) != 1) {
    return absl::InternalError(absl::StrCat("AES-GCM decryption setup failed: ", OpenSslErrors()));
  }
  std::string plaintext(ciphertext.size(), '\0');
  if (!CipherUpdateAll(ctx.get(), aad, nullptr) ||
      !CipherUpdateAll(ctx.get(), ciphertext, MutableBytesOf(plaintext))) {
    internal::WipeString(plaintext);
    return absl::InternalError(absl::StrCat("AES-GCM decryption failed: ", OpenSslErrors()));
  }
  int final_size = 0;
  // The tag is checked (in constant time) only here; until then `plaintext` is unauthenticated.
  if (EVP_DecryptFinal_ex(ctx.get(), MutableBytesOf(plaintext) + plaintext.size(), &final_size) != 1) {
    internal::WipeString(plaintext);
    ERR_clear_error();
    return absl::UnauthenticatedError(
        "AES-GCM authentication failed: the ciphertext, IV, tag or associated data was modified, or the key is "
        "wrong");
  }
  return plaintext;
}

}  // namespace caselink::security
