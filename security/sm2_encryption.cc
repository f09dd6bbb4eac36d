// SM2 encryption and decryption over OpenSSL 3 EVP_PKEY_encrypt/decrypt (SM3 inside).
#include "security/sm2_encryption.h"

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
using internal::EvpPkeyCtxPtr;
using internal::EvpPkeyPtr;
using internal::MutableBytesOf;
using internal::OpenSslErrors;

// Ample for any content key; keeps lengths well inside OpenSSL's int-sized ASN.1 code.
constexpr size_t kMaxPlaintext = size_t{1} << 20;

}  // namespace

struct Sm2Encrypter::Key {
  EvpPkeyPtr pkey;
};

struct Sm2Decrypter::Key {
  EvpPkeyPtr pkey;
};

absl::StatusOr<std::unique_ptr<Sm2Encrypter>> Sm2Encrypter::Create(absl::string_view public_key_pem) {
  absl::StatusOr<EvpPkeyPtr> pkey = internal::ParsePublicKeyPem(public_key_pem, "recipient public key");
  if (!pkey.ok()) return pkey.status();
  absl::StatusOr<EvpPkeyPtr> sm2 = internal::ValidatedSm2PublicKey(*std::move(pkey), "recipient public key");
  if (!sm2.ok()) return sm2.status();
  auto key = std::make_unique<Key>();
  key->pkey = *std::move(sm2);
  return std::unique_ptr<Sm2Encrypter>(new Sm2Encrypter(std::move(key)));
}

Sm2Encrypter::Sm2Encrypter(std::unique_ptr<Key> key) : key_(std::move(key)) {}

Sm2Encrypter::~Sm2Encrypter() = default;

absl::StatusOr<std::string> Sm2Encrypter::Encrypt(absl::string_view plaintext) const {
  if (plaintext.empty() || plaintext.size() > kMaxPlaintext) {
    return absl::InvalidArgumentError(absl::StrCat("SM2 plaintext must be 1 to ", kMaxPlaintext,
                                                   " bytes, got ", plaintext.size()));
  }
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key_->pkey.get(), nullptr));
  if (ctx == nullptr || EVP_PKEY_encrypt_init(ctx.get()) != 1) {
    return absl::InternalError(absl::StrCat("SM2 encryption setup failed: ", OpenSslErrors()));
  }
  size_t size = 0;
  if (EVP_PKEY_encrypt(ctx.get(), nullptr, &size, BytesOf(plaintext), plaintext.size()) != 1) {
    return absl::InternalError(absl::StrCat("SM2 encryption failed: ", OpenSslErrors()));
  }
  std::string out(size, '\0');
  if (EVP_PKEY_encrypt(ctx.get(), MutableBytesOf(out), &size, BytesOf(plaintext), plaintext.size()) != 1) {
    return absl::InternalError(absl::StrCat("SM2 encryption failed: ", OpenSslErrors()));
  }
  out.resize(size);
  return out;
}

absl::StatusOr<std::unique_ptr<Sm2Decrypter>> Sm2Decrypter::Create(absl::string_view private_key_pem) {
  absl::StatusOr<EvpPkeyPtr> pkey = internal::ParsePrivateKeyPem(private_key_pem, "SM2 private key");
  if (!pkey.ok()) return pkey.status();
  if (absl::Status s = internal::CheckIsSm2(pkey->get(), "private key"); !s.ok()) return s;
  absl::StatusOr<EvpPkeyPtr> sm2 = internal::NormalizeSm2Key(*std::move(pkey), /*include_private=*/true);
  if (!sm2.ok()) return sm2.status();
  auto key = std::make_unique<Key>();
  key->pkey = *std::move(sm2);
  return std::unique_ptr<Sm2Decrypter>(new Sm2Decrypter(std::move(key)));
}

Sm2Decrypter::Sm2Decrypter(std::unique_ptr<Key> key) : key_(std::move(key)) {}

Sm2Decrypter::~Sm2Decrypter() = default;

absl::StatusOr<std::string> Sm2Decrypter::Decrypt(absl::string_view ciphertext) const {
  auto refuse = [] {
    ERR_clear_error();
    return absl::UnauthenticatedError(
        "SM2 ciphertext does not decrypt: it is malformed, was modified, or was made for another key");
  };
  if (ciphertext.empty() || ciphertext.size() > 2 * kMaxPlaintext) return refuse();
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key_->pkey.get(), nullptr));
  if (ctx == nullptr || EVP_PKEY_decrypt_init(ctx.get()) != 1) {
    return absl::InternalError(absl::StrCat("SM2 decryption setup failed: ", OpenSslErrors()));
  }
  size_t size = 0;
  if (EVP_PKEY_decrypt(ctx.get(), nullptr, &size, BytesOf(ciphertext), ciphertext.size()) != 1) return refuse();
  std::string out(size, '\0');
  if (EVP_PKEY_decrypt(ctx.get(), MutableBytesOf(out), &size, BytesOf(ciphertext), ciphertext.size()) != 1) {
    internal::WipeString(out);
    return refuse();
  }
  out.resize(size);
  return out;
}

absl::StatusOr<std::unique_ptr<Sm2KeyWrapper>> Sm2KeyWrapper::Create(absl::string_view recipient_public_key_pem) {
  absl::StatusOr<std::unique_ptr<Sm2Encrypter>> encrypter = Sm2Encrypter::Create(recipient_public_key_pem);
  if (!encrypter.ok()) return encrypter.status();
  return std::unique_ptr<Sm2KeyWrapper>(new Sm2KeyWrapper(*std::move(encrypter)));
}

absl::StatusOr<std::string> Sm2KeyWrapper::Wrap(absl::string_view content_key) const {
  return encrypter_->Encrypt(content_key);
}

absl::StatusOr<std::unique_ptr<Sm2KeyUnwrapper>> Sm2KeyUnwrapper::Create(absl::string_view private_key_pem) {
  absl::StatusOr<std::unique_ptr<Sm2Decrypter>> decrypter = Sm2Decrypter::Create(private_key_pem);
  if (!decrypter.ok()) return decrypter.status();
  return std::unique_ptr<Sm2KeyUnwrapper>(new Sm2KeyUnwrapper(*std::move(decrypter)));
}

absl::StatusOr<std::string> Sm2KeyUnwrapper::Unwrap(absl::string_view wrapped_key) const {
  return decrypter_->Decrypt(wrapped_key);
}

}  // namespace caselink::security
