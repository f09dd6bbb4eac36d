// ECDSA P-256/SHA-256 signing and strict-DER verification over OpenSSL 3 EVP_PKEY,
// so callers never see OpenSSL types or its lenient signature parsing.
#include "security/ecdsa_p256.h"

#include <memory>
#include <string>
#include <utility>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "security/openssl_util.h"

namespace caselink::security {
namespace {

using internal::BytesOf;
using internal::EcdsaSigPtr;
using internal::EvpMdCtxPtr;
using internal::EvpPkeyPtr;
using internal::OpenSslBytesPtr;
using internal::OpenSslErrors;

constexpr char kP256GroupName[] = "prime256v1";

// What every verifier factory does with the key it parsed: only a valid P-256 point is kept.
absl::StatusOr<EvpPkeyPtr> VerifierKey(absl::StatusOr<EvpPkeyPtr> parsed) {
  if (!parsed.ok()) return parsed.status();
  if (absl::Status s = internal::CheckIsP256(parsed->get(), "public key"); !s.ok()) return s;
  if (absl::Status s = internal::CheckPublicKey(parsed->get(), "P-256 public key"); !s.ok()) return s;
  return parsed;
}

absl::StatusOr<std::unique_ptr<internal::DigestContextTemplate>> VerifyTemplate(EVP_PKEY* pkey) {
  return internal::DigestContextTemplate::Create([pkey](EVP_MD_CTX* ctx) {
    if (internal::Sha256Md() == nullptr ||
        EVP_DigestVerifyInit(ctx, nullptr, internal::Sha256Md(), nullptr, pkey) != 1) {
      return absl::InternalError(absl::StrCat("ECDSA verification setup failed: ", OpenSslErrors()));
    }
    return absl::OkStatus();
  });
}

}  // namespace

// Each key keeps a context set up once (SHA-256 fetched, key bound); every call works on a copy.
struct EcdsaP256Signer::Key {
  EvpPkeyPtr pkey;
  std::unique_ptr<internal::DigestContextTemplate> sign;
};

struct EcdsaP256Verifier::Key {
  EvpPkeyPtr pkey;
  std::unique_ptr<internal::DigestContextTemplate> verify;
};

absl::StatusOr<std::unique_ptr<EcdsaP256Signer>> EcdsaP256Signer::Create(absl::string_view private_key_pem,
                                                                          std::string key_id) {
  const std::string what = absl::StrCat("private key for '", key_id, "'");
  absl::StatusOr<EvpPkeyPtr> pkey = internal::ParsePrivateKeyPem(private_key_pem, what);
  if (!pkey.ok()) return pkey.status();
  if (absl::Status s = internal::CheckIsP256(pkey->get(), what); !s.ok()) return s;
  auto key = std::make_unique<Key>();
  key->pkey = *std::move(pkey);
  EVP_PKEY* raw = key->pkey.get();
  auto sign = internal::DigestContextTemplate::Create([&](EVP_MD_CTX* ctx) {
    if (internal::Sha256Md() == nullptr ||
        EVP_DigestSignInit(ctx, nullptr, internal::Sha256Md(), nullptr, raw) != 1) {
      return absl::InternalError(absl::StrCat("ECDSA signing setup failed for key '", key_id, "': ", OpenSslErrors()));
    }
    return absl::OkStatus();
  });
  if (!sign.ok()) return sign.status();
  key->sign = *std::move(sign);
  return std::unique_ptr<EcdsaP256Signer>(new EcdsaP256Signer(std::move(key), std::move(key_id)));
}

EcdsaP256Signer::EcdsaP256Signer(std::unique_ptr<Key> key, std::string key_id)
    : key_(std::move(key)), key_id_(std::move(key_id)) {}

EcdsaP256Signer::~EcdsaP256Signer() = default;

absl::StatusOr<std::string> EcdsaP256Signer::Sign(absl::string_view data) const {
  absl::StatusOr<EvpMdCtxPtr> ctx = key_->sign->NewCall();
  if (!ctx.ok()) return absl::Status(ctx.status().code(), absl::StrCat("key '", key_id_, "': ", ctx.status().message()));
  return internal::DigestSign(ctx->get(), key_->pkey.get(), data, "ECDSA", key_id_);
}

absl::StatusOr<std::unique_ptr<EcdsaP256Verifier>> EcdsaP256Verifier::CreateFromPublicKeyPem(
    absl::string_view pem) {
  absl::StatusOr<EvpPkeyPtr> pkey = VerifierKey(internal::ParsePublicKeyPem(pem, "public key"));
  if (!pkey.ok()) return pkey.status();
  return FromKey(std::make_unique<Key>(Key{*std::move(pkey), nullptr}));
}

absl::StatusOr<std::unique_ptr<EcdsaP256Verifier>> EcdsaP256Verifier::CreateFromPublicKeyDer(
    absl::string_view der) {
  absl::StatusOr<EvpPkeyPtr> pkey = VerifierKey(internal::ParsePublicKeyDer(der, "public key"));
  if (!pkey.ok()) return pkey.status();
  return FromKey(std::make_unique<Key>(Key{*std::move(pkey), nullptr}));
}

absl::StatusOr<std::unique_ptr<EcdsaP256Verifier>> EcdsaP256Verifier::CreateFromUncompressedPoint(
    absl::string_view point) {
  absl::StatusOr<EvpPkeyPtr> pkey = VerifierKey(internal::EcPublicKeyFromPoint("EC", kP256GroupName, point));
  if (!pkey.ok()) return pkey.status();
  return FromKey(std::make_unique<Key>(Key{*std::move(pkey), nullptr}));
}

absl::StatusOr<std::unique_ptr<EcdsaP256Verifier>> EcdsaP256Verifier::FromKey(std::unique_ptr<Key> key) {
  auto verify = VerifyTemplate(key->pkey.get());
  if (!verify.ok()) return verify.status();
  key->verify = *std::move(verify);
  return std::unique_ptr<EcdsaP256Verifier>(new EcdsaP256Verifier(std::move(key)));
}

EcdsaP256Verifier::EcdsaP256Verifier(std::unique_ptr<Key> key) : key_(std::move(key)) {}

EcdsaP256Verifier::~EcdsaP256Verifier() = default;

absl::Status EcdsaP256Verifier::Verify(absl::string_view signature, absl::string_view data) const {
  // OpenSSL alone is lenient in places; signatures are accepted only in the one
  // canonical DER form, so a signature cannot be re-encoded into a second valid one.
  if (absl::Status s = internal::CheckCanonicalDerSignature(signature); !s.ok()) return s;

  absl::StatusOr<EvpMdCtxPtr> ctx = key_->verify->NewCall();
  if (!ctx.ok()) return ctx.status();
  // 0 is a mismatch, negative is malformed input (e.g. r or s out of range): both
  // mean the signature is not acceptable.
  if (EVP_DigestVerify(ctx->get(), BytesOf(signature), signature.size(), BytesOf(data), data.size()) != 1) {
    ERR_clear_error();
    return absl::UnauthenticatedError("signature does not verify");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> EcdsaSignatureP1363ToDer(absl::string_view p1363, size_t scalar_size) {
  if (scalar_size == 0 || p1363.size() != 2 * scalar_size) {
    return absl::InvalidArgumentError(absl::StrCat("P1363 signature must be ", 2 * scalar_size,
                                                   " bytes (r || s), got ", p1363.size()));
  }
  const unsigned char* bytes = BytesOf(p1363);
  BIGNUM* r = BN_bin2bn(bytes, static_cast<int>(scalar_size), nullptr);
  BIGNUM* s = BN_bin2bn(bytes + scalar_size, static_cast<int>(scalar_size), nullptr);
  EcdsaSigPtr sig(ECDSA_SIG_new());
  if (r == nullptr || s == nullptr || sig == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return absl::ResourceExhaustedError(absl::StrCat("cannot convert the signature: ", OpenSslErrors()));
  }
  unsigned char* der_raw = nullptr;
  int size = i2d_ECDSA_SIG(sig.get(), &der_raw);
  OpenSslBytesPtr der(der_raw);
  if (size <= 0) return absl::InternalError(absl::StrCat("cannot DER-encode the signature: ", OpenSslErrors()));
  return std::string(reinterpret_cast<const char*>(der.get()), static_cast<size_t>(size));
}

absl::StatusOr<std::string> EcdsaSignatureDerToP1363(absl::string_view der, size_t scalar_size) {
  const unsigned char* p = BytesOf(der);
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (sig == nullptr || p != BytesOf(der) + der.size()) {
    ERR_clear_error();
    return absl::InvalidArgumentError("signature is not a DER SEQUENCE { r INTEGER, s INTEGER }");
  }
  std::string out(2 * scalar_size, '\0');
  unsigned char* dst = reinterpret_cast<unsigned char*>(out.data());
  if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), dst, static_cast<int>(scalar_size)) < 0 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), dst + scalar_size, static_cast<int>(scalar_size)) < 0) {
    return absl::InvalidArgumentError(absl::StrCat("r or s does not fit in ", scalar_size, " bytes"));
  }
  return out;
}

}  // namespace caselink::security
