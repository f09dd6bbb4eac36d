// Ed25519 over OpenSSL 3 EVP_PKEY (one-shot EVP_DigestSign/Verify with no digest, as
// RFC 8032 pure Ed25519 requires).
#include "security/ed25519.h"

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
using internal::EvpMdCtxPtr;
using internal::EvpPkeyPtr;
using internal::OpenSslErrors;

absl::Status CheckIsEd25519(const EVP_PKEY* pkey, absl::string_view what) {
  if (internal::KindOf(pkey) != internal::KeyKind::kEd25519) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is ", internal::KeyDescription(pkey), "; expected an Ed25519 key"));
  }
  return absl::OkStatus();
}

// What the SubjectPublicKeyInfo verifier factories do with the key they parsed.
absl::StatusOr<EvpPkeyPtr> VerifierKey(absl::StatusOr<EvpPkeyPtr> parsed) {
  if (!parsed.ok()) return parsed.status();
  if (absl::Status s = CheckIsEd25519(parsed->get(), "public key"); !s.ok()) return s;
  return parsed;
}

absl::StatusOr<std::string> RawPublicKey(const EVP_PKEY* pkey) {
  std::string raw(kEd25519PublicKeySize, '\0');
  size_t size = raw.size();
  if (EVP_PKEY_get_raw_public_key(pkey, internal::MutableBytesOf(raw), &size) != 1 ||
      size != kEd25519PublicKeySize) {
    return absl::InternalError(absl::StrCat("cannot read the Ed25519 public key: ", OpenSslErrors()));
  }
  return raw;
}

// Ed25519 hashes internally; passing a digest to the init is an error in OpenSSL.
absl::StatusOr<std::unique_ptr<internal::DigestContextTemplate>> ContextTemplate(EVP_PKEY* pkey, bool sign) {
  return internal::DigestContextTemplate::Create([pkey, sign](EVP_MD_CTX* ctx) {
    const int init = sign ? EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, pkey)
                          : EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, pkey);
    if (init != 1) {
      return absl::InternalError(
          absl::StrCat("Ed25519 ", sign ? "signing" : "verification", " setup failed: ", OpenSslErrors()));
    }
    return absl::OkStatus();
  });
}

// Completes a key holding only its EVP_PKEY with the context every call copies.
template <typename KeyT>
absl::Status Prepare(KeyT& key, bool sign) {
  auto prepared = ContextTemplate(key.pkey.get(), sign);
  if (!prepared.ok()) return prepared.status();
  key.prepared = *std::move(prepared);
  return absl::OkStatus();
}

}  // namespace

// Each key keeps a context set up once; every call works on a copy of it.
struct Ed25519Signer::Key {
  EvpPkeyPtr pkey;
  std::unique_ptr<internal::DigestContextTemplate> prepared;
};

struct Ed25519Verifier::Key {
  EvpPkeyPtr pkey;
  std::unique_ptr<internal::DigestContextTemplate> prepared;
};

absl::StatusOr<std::unique_ptr<Ed25519Signer>> Ed25519Signer::Create(absl::string_view private_key_pem,
                                                                      std::string key_id) {
  const std::string what = absl::StrCat("private key for '", key_id, "'");
  absl::StatusOr<EvpPkeyPtr> pkey = internal::ParsePrivateKeyPem(private_key_pem, what);
  if (!pkey.ok()) return pkey.status();
  if (absl::Status s = CheckIsEd25519(pkey->get(), what); !s.ok()) return s;
  absl::StatusOr<std::string> raw_public = RawPublicKey(pkey->get());
  if (!raw_public.ok()) return raw_public.status();
  auto key = std::make_unique<Key>();
  key->pkey = *std::move(pkey);
  if (absl::Status s = Prepare(*key, /*sign=*/true); !s.ok()) return s;
  return std::unique_ptr<Ed25519Signer>(
      new Ed25519Signer(std::move(key), std::move(key_id), *std::move(raw_public)));
}

absl::StatusOr<std::unique_ptr<Ed25519Signer>> Ed25519Signer::CreateFromRawPrivateKey(absl::string_view seed,
                                                                                       std::string key_id) {
  if (seed.size() != kEd25519PrivateKeySize) {
    return absl::InvalidArgumentError(absl::StrCat("Ed25519 private key for '", key_id, "' must be ",
                                                   kEd25519PrivateKeySize, " bytes, got ", seed.size()));
  }
  EvpPkeyPtr pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, BytesOf(seed), seed.size()));
  if (pkey == nullptr) {
    return absl::InternalError(absl::StrCat("cannot load the Ed25519 private key for '", key_id,
                                            "': ", OpenSslErrors()));
  }
  absl::StatusOr<std::string> raw_public = RawPublicKey(pkey.get());
  if (!raw_public.ok()) return raw_public.status();
  auto key = std::make_unique<Key>();
  key->pkey = std::move(pkey);
  if (absl::Status s = Prepare(*key, /*sign=*/true); !s.ok()) return s;
  return std::unique_ptr<Ed25519Signer>(
      new Ed25519Signer(std::move(key), std::move(key_id), *std::move(raw_public)));
}

Ed25519Signer::Ed25519Signer(std::unique_ptr<Key> key, std::string key_id, std::string raw_public_key)
    : key_(std::move(key)), key_id_(std::move(key_id)), raw_public_key_(std::move(raw_public_key)) {}

Ed25519Signer::~Ed25519Signer() = default;

absl::StatusOr<std::string> Ed25519Signer::Sign(absl::string_view data) const {
  absl::StatusOr<EvpMdCtxPtr> ctx = key_->prepared->NewCall();
  if (!ctx.ok()) return absl::Status(ctx.status().code(), absl::StrCat("key '", key_id_, "': ", ctx.status().message()));
  std::string signature(kEd25519SignatureSize, '\0');
  size_t size = signature.size();
  if (EVP_DigestSign(ctx->get(), internal::MutableBytesOf(signature), &size, BytesOf(data), data.size()) != 1 ||
      size != kEd25519SignatureSize) {
    return absl::InternalError(absl::StrCat("Ed25519 signing failed for key '", key_id_, "': ", OpenSslErrors()));
  }
  return signature;
}

absl::StatusOr<std::unique_ptr<Ed25519Verifier>> Ed25519Verifier::CreateFromPublicKeyPem(absl::string_view pem) {
  absl::StatusOr<EvpPkeyPtr> pkey = VerifierKey(internal::ParsePublicKeyPem(pem, "public key"));
  if (!pkey.ok()) return pkey.status();
  auto key = std::make_unique<Key>();
  key->pkey = *std::move(pkey);
  if (absl::Status s = Prepare(*key, /*sign=*/false); !s.ok()) return s;
  return std::unique_ptr<Ed25519Verifier>(new Ed25519Verifier(std::move(key)));
}

absl::StatusOr<std::unique_ptr<Ed25519Verifier>> Ed25519Verifier::CreateFromPublicKeyDer(absl::string_view der) {
  absl::StatusOr<EvpPkeyPtr> pkey = VerifierKey(internal::ParsePublicKeyDer(der, "public key"));
  if (!pkey.ok()) return pkey.status();
  auto key = std::make_unique<Key>();
  key->pkey = *std::move(pkey);
  if (absl::Status s = Prepare(*key, /*sign=*/false); !s.ok()) return s;
  return std::unique_ptr<Ed25519Verifier>(new Ed25519Verifier(std::move(key)));
}

absl::StatusOr<std::unique_ptr<Ed25519Verifier>> Ed25519Verifier::CreateFromRawPublicKey(absl::string_view raw) {
  if (raw.size() != kEd25519PublicKeySize) {
    return absl::InvalidArgumentError(absl::StrCat("Ed25519 public key must be ", kEd25519PublicKeySize,
                                                   " bytes, got ", raw.size()));
  }
  EvpPkeyPtr pkey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, BytesOf(raw), raw.size()));
  if (pkey == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("not an Ed25519 public key: ", OpenSslErrors()));
  }
  auto key = std::make_unique<Key>();
  key->pkey = std::move(pkey);
  if (absl::Status s = Prepare(*key, /*sign=*/false); !s.ok()) return s;
  return std::unique_ptr<Ed25519Verifier>(new Ed25519Verifier(std::move(key)));
}

Ed25519Verifier::Ed25519Verifier(std::unique_ptr<Key> key) : key_(std::move(key)) {}

Ed25519Verifier::~Ed25519Verifier() = default;

absl::Status Ed25519Verifier::Verify(absl::string_view signature, absl::string_view data) const {
  if (signature.size() != kEd25519SignatureSize) {
    return absl::UnauthenticatedError(absl::StrCat("signature does not verify: an Ed25519 signature is ",
                                                   kEd25519SignatureSize, " bytes, got ", signature.size()));
  }
  absl::StatusOr<EvpMdCtxPtr> ctx = key_->prepared->NewCall();
  if (!ctx.ok()) return ctx.status();
  // OpenSSL rejects S >= L (malleable signatures) and returns 0 on mismatch; both are refusals.
  if (EVP_DigestVerify(ctx->get(), BytesOf(signature), signature.size(), BytesOf(data), data.size()) != 1) {
    ERR_clear_error();
    return absl::UnauthenticatedError("signature does not verify");
  }
  return absl::OkStatus();
}

}  // namespace caselink::security
