// ECDH P-256 + HKDF-SHA256 + AES-256 key wrap over OpenSSL 3 EVP_PKEY_derive; the layout is
// documented in the header.
#include "security/ecdh_p256.h"

#include <memory>
#include <string>
#include <utility>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "security/hkdf.h"
#include "security/openssl_util.h"

namespace caselink::security {
namespace {

using internal::CheckIsP256;
using internal::EvpPkeyCtxPtr;
using internal::EvpPkeyPtr;
using internal::OpenSslErrors;

constexpr size_t kPointSize = 65;
constexpr size_t kKekSize = 32;
constexpr char kP256GroupName[] = "prime256v1";

// The shared x-coordinate of ECDH between `own` (private) and `peer` (public).
absl::StatusOr<std::string> SharedSecret(EVP_PKEY* own, EVP_PKEY* peer) {
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, own, nullptr));
  if (ctx == nullptr || EVP_PKEY_derive_init(ctx.get()) != 1) {
    return absl::InternalError(absl::StrCat("ECDH setup failed: ", OpenSslErrors()));
  }
  if (EVP_PKEY_derive_set_peer_ex(ctx.get(), peer, /*validate_peer=*/1) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("ECDH peer key is not usable on P-256: ", OpenSslErrors()));
  }
  size_t size = 0;
  if (EVP_PKEY_derive(ctx.get(), nullptr, &size) != 1 || size == 0) {
    return absl::InternalError(absl::StrCat("ECDH failed: ", OpenSslErrors()));
  }
  std::string secret(size, '\0');
  if (EVP_PKEY_derive(ctx.get(), internal::MutableBytesOf(secret), &size) != 1) {
    internal::WipeString(secret);
    return absl::InternalError(absl::StrCat("ECDH failed: ", OpenSslErrors()));
  }
  secret.resize(size);
  return secret;
}

absl::StatusOr<std::string> DeriveKek(absl::string_view shared, absl::string_view ephemeral_point,
                                      absl::string_view recipient_point) {
  return HkdfSha256(shared, /*salt=*/"", absl::StrCat(kEcdhP256WrapInfo, ephemeral_point, recipient_point),
                    kKekSize);
}

}  // namespace

struct EcdhP256KeyWrapper::Key {
  EvpPkeyPtr recipient;
  std::string recipient_point;
};

struct EcdhP256KeyUnwrapper::Key {
  EvpPkeyPtr own;
  std::string own_point;
};

absl::StatusOr<std::unique_ptr<EcdhP256KeyWrapper>> EcdhP256KeyWrapper::Create(
    absl::string_view recipient_public_key_pem) {
  absl::StatusOr<EvpPkeyPtr> pkey = internal::ParsePublicKeyPem(recipient_public_key_pem, "recipient public key");
  if (!pkey.ok()) return pkey.status();
  if (absl::Status s = CheckIsP256(pkey->get(), "recipient public key"); !s.ok()) return s;
  if (absl::Status s = internal::CheckPublicKey(pkey->get(), "recipient public key"); !s.ok()) return s;
  absl::StatusOr<std::string> point = internal::EcPublicPoint(pkey->get());
  if (!point.ok()) return point.status();
  auto key = std::make_unique<Key>();
  key->recipient = *std::move(pkey);
  key->recipient_point = *std::move(point);
  return std::unique_ptr<EcdhP256KeyWrapper>(new EcdhP256KeyWrapper(std::move(key)));
}

EcdhP256KeyWrapper::EcdhP256KeyWrapper(std::unique_ptr<Key> key) : key_(std::move(key)) {}

EcdhP256KeyWrapper::~EcdhP256KeyWrapper() = default;

absl::StatusOr<std::string> EcdhP256KeyWrapper::Wrap(absl::string_view content_key) const {
  EvpPkeyPtr ephemeral(EVP_EC_gen(kP256GroupName));
  if (ephemeral == nullptr) {
    return absl::InternalError(absl::StrCat("ephemeral P-256 key generation failed: ", OpenSslErrors()));
  }
  absl::StatusOr<std::string> ephemeral_point = internal::EcPublicPoint(ephemeral.get());
  if (!ephemeral_point.ok()) return ephemeral_point.status();
  absl::StatusOr<std::string> shared = SharedSecret(ephemeral.get(), key_->recipient.get());
  if (!shared.ok()) return shared.status();
  absl::StatusOr<std::string> kek = DeriveKek(*shared, *ephemeral_point, key_->recipient_point);
  internal::WipeString(*shared);
  if (!kek.ok()) return kek.status();
  absl::StatusOr<std::string> wrapped = AesKeyWrap(*kek, content_key);
  internal::WipeString(*kek);
  if (!wrapped.ok()) return wrapped.status();
  return absl::StrCat(*ephemeral_point, *wrapped);
}

absl::StatusOr<std::unique_ptr<EcdhP256KeyUnwrapper>> EcdhP256KeyUnwrapper::Create(
    absl::string_view private_key_pem) {
  absl::StatusOr<EvpPkeyPtr> pkey = internal::ParsePrivateKeyPem(private_key_pem, "recipient private key");
  if (!pkey.ok()) return pkey.status();
  if (absl::Status s = CheckIsP256(pkey->get(), "recipient private key"); !s.ok()) return s;
  absl::StatusOr<std::string> point = internal::EcPublicPoint(pkey->get());
  if (!point.ok()) return point.status();
  auto key = std::make_unique<Key>();
  key->own = *std::move(pkey);
  key->own_point = *std::move(point);
  return std::unique_ptr<EcdhP256KeyUnwrapper>(new EcdhP256KeyUnwrapper(std::move(key)));
}

EcdhP256KeyUnwrapper::EcdhP256KeyUnwrapper(std::unique_ptr<Key> key) : key_(std::move(key)) {}

EcdhP256KeyUnwrapper::~EcdhP256KeyUnwrapper() = default;

absl::StatusOr<std::string> EcdhP256KeyUnwrapper::Unwrap(absl::string_view wrapped_key) const {
  if (wrapped_key.size() < kPointSize + 24) {
    return absl::InvalidArgumentError(absl::StrCat("ECDH-wrapped key is ", wrapped_key.size(),
                                                   " bytes; at least ", kPointSize + 24,
                                                   " (ephemeral point and a wrapped 16-byte key) are required"));
  }
  const absl::string_view ephemeral_point = wrapped_key.substr(0, kPointSize);
  absl::StatusOr<EvpPkeyPtr> ephemeral = internal::EcPublicKeyFromPoint("EC", kP256GroupName, ephemeral_point);
  if (!ephemeral.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("ephemeral key of the wrapped key is invalid: ", ephemeral.status().message()));
  }
  if (absl::Status s = internal::CheckPublicKey(ephemeral->get(), "ephemeral public key"); !s.ok()) return s;
  absl::StatusOr<std::string> shared = SharedSecret(key_->own.get(), ephemeral->get());
  if (!shared.ok()) return shared.status();
  absl::StatusOr<std::string> kek = DeriveKek(*shared, ephemeral_point, key_->own_point);
  internal::WipeString(*shared);
  if (!kek.ok()) return kek.status();
  absl::StatusOr<std::string> content_key = AesKeyUnwrap(*kek, wrapped_key.substr(kPointSize));
  internal::WipeString(*kek);
  if (!content_key.ok() && content_key.status().code() == absl::StatusCode::kUnauthenticated) {
    return absl::UnauthenticatedError(
        "wrapped key does not unwrap: it was modified or wrapped to a different recipient key");
  }
  return content_key;
}

}  // namespace caselink::security
