// SM2-SM3 signing and strict-DER verification over OpenSSL 3. The user id is always set on the
// signature context: OpenSSL 3 silently uses an empty id otherwise, which no GM peer expects.
#include "security/sm2.h"

#include <memory>
#include <string>
#include <utility>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "security/digest.h"
#include "security/openssl_util.h"

namespace caselink::security {
namespace {

using internal::BytesOf;
using internal::EvpMdCtxPtr;
using internal::EvpPkeyCtxPtr;
using internal::EvpPkeyPtr;
using internal::OpenSslErrors;

constexpr size_t kFieldSize = 32;
constexpr char kSm2GroupName[] = "SM2";

absl::Status CheckUserId(absl::string_view user_id) {
  if (user_id.empty() || user_id.size() > kSm2MaxUserIdSize) {
    return absl::InvalidArgumentError(absl::StrCat("SM2 user id must be 1 to ", kSm2MaxUserIdSize,
                                                   " bytes, got ", user_id.size(),
                                                   "; the default is \"", kSm2DefaultUserId, "\""));
  }
  return absl::OkStatus();
}

const EVP_MD* Sm3Md() {
  static const EVP_MD* const md = EVP_MD_fetch(nullptr, "SM3", nullptr);
  return md;
}

// Sets up `ctx` for SM2-SM3 with `user_id` on the pkey context the EVP_MD_CTX owns.
absl::Status InitSm2DigestContext(EVP_MD_CTX* ctx, EVP_PKEY* pkey, absl::string_view user_id, bool sign) {
  if (Sm3Md() == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("this OpenSSL has no SM3 (required for SM2 signatures): ", OpenSslErrors()));
  }
  EVP_PKEY_CTX* pctx = nullptr;
  const int init = sign ? EVP_DigestSignInit(ctx, &pctx, Sm3Md(), nullptr, pkey)
                        : EVP_DigestVerifyInit(ctx, &pctx, Sm3Md(), nullptr, pkey);
  if (init != 1 || pctx == nullptr) {
    return absl::InternalError(absl::StrCat("SM2 ", sign ? "signing" : "verification",
                                            " setup failed: ", OpenSslErrors()));
  }
  // ZA is computed on the first update, so the id must be in place before any data.
  if (EVP_PKEY_CTX_set1_id(pctx, user_id.data(), user_id.size()) <= 0) {
    return absl::InternalError(absl::StrCat("cannot set the SM2 user id: ", OpenSslErrors()));
  }
  return absl::OkStatus();
}

// What every verifier factory does with the key it parsed.
absl::StatusOr<EvpPkeyPtr> VerifierKey(absl::StatusOr<EvpPkeyPtr> parsed) {
  if (!parsed.ok()) return parsed.status();
  return internal::ValidatedSm2PublicKey(*std::move(parsed), "public key");
}

std::string Be16(size_t v) {
  std::string out(2, '\0');
  out[0] = static_cast<char>((v >> 8) & 0xff);
  out[1] = static_cast<char>(v & 0xff);
  return out;
}

absl::StatusOr<std::string> FieldBytes(const BIGNUM* bn) {
  std::string out(kFieldSize, '\0');
  if (BN_bn2binpad(bn, internal::MutableBytesOf(out), kFieldSize) < 0) {
    return absl::InternalError("curve value does not fit in 32 bytes");
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> ComputeSm2Za(absl::string_view user_id, const Sm2ZaInput& input) {
  if (absl::Status s = CheckUserId(user_id); !s.ok()) return s;
  for (const std::string* v : {&input.a, &input.b, &input.gx, &input.gy, &input.public_x, &input.public_y}) {
    if (v->size() != kFieldSize) {
      return absl::InvalidArgumentError(
          absl::StrCat("ZA inputs must be 32-byte big-endian field elements, got ", v->size(), " bytes"));
    }
  }
  Sm3Hasher hasher;
  hasher.Update(Be16(user_id.size() * 8));
  hasher.Update(user_id);
  hasher.Update(input.a);
  hasher.Update(input.b);
  hasher.Update(input.gx);
  hasher.Update(input.gy);
  hasher.Update(input.public_x);
  hasher.Update(input.public_y);
  return hasher.Finish();
}

absl::StatusOr<std::string> ComputeSm2Za(absl::string_view user_id, absl::string_view uncompressed_point) {
  if (uncompressed_point.size() != 1 + 2 * kFieldSize || uncompressed_point[0] != 0x04) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SM2 public point must be uncompressed (65 bytes starting with 0x04), got ", uncompressed_point.size(),
        " bytes"));
  }
  internal::EcGroupPtr group(EC_GROUP_new_by_curve_name(NID_sm2));
  internal::BnCtxPtr bn_ctx(BN_CTX_new());
  internal::BignumPtr p(BN_new()), a(BN_new()), b(BN_new()), gx(BN_new()), gy(BN_new());
  if (group == nullptr || bn_ctx == nullptr || p == nullptr || a == nullptr || b == nullptr || gx == nullptr ||
      gy == nullptr) {
    return absl::InternalError(absl::StrCat("cannot load the SM2 curve: ", OpenSslErrors()));
  }
  const EC_POINT* generator = EC_GROUP_get0_generator(group.get());
  if (EC_GROUP_get_curve(group.get(), p.get(), a.get(), b.get(), bn_ctx.get()) != 1 || generator == nullptr ||
      EC_POINT_get_affine_coordinates(group.get(), generator, gx.get(), gy.get(), bn_ctx.get()) != 1) {
    return absl::InternalError(absl::StrCat("cannot read the SM2 curve parameters: ", OpenSslErrors()));
  }
  Sm2ZaInput input;
  for (auto [bn, out] : {std::pair{a.get(), &input.a}, std::pair{b.get(), &input.b},
                         std::pair{gx.get(), &input.gx}, std::pair{gy.get(), &input.gy}}) {
    absl::StatusOr<std::string> bytes = FieldBytes(bn);
    if (!bytes.ok()) return bytes.status();
    *out = *std::move(bytes);
  }
  input.public_x = std::string(uncompressed_point.substr(1, kFieldSize));
  input.public_y = std::string(uncompressed_point.substr(1 + kFieldSize, kFieldSize));
  return ComputeSm2Za(user_id, input);
}

std::string ComputeSm2E(absl::string_view za, absl::string_view message) {
  Sm3Hasher hasher;
  hasher.Update(za);
  hasher.Update(message);
  return hasher.Finish();
}

namespace {

// Completes a key holding only its EVP_PKEY with a context set up once (SM3 fetched, key bound,
// user id set) that every call copies; ZA is still computed per call, on the copy's first update.
template <typename KeyT>
absl::Status Prepare(KeyT& key, absl::string_view user_id, bool sign) {
  EVP_PKEY* pkey = key.pkey.get();
  auto prepared = internal::DigestContextTemplate::Create(
      [&](EVP_MD_CTX* ctx) { return InitSm2DigestContext(ctx, pkey, user_id, sign); });
  if (!prepared.ok()) return prepared.status();
  key.prepared = *std::move(prepared);
  return absl::OkStatus();
}

}  // namespace

struct Sm2Signer::Key {
  EvpPkeyPtr pkey;
  std::unique_ptr<internal::DigestContextTemplate> prepared;
};

struct Sm2Verifier::Key {
  EvpPkeyPtr pkey;
  std::unique_ptr<internal::DigestContextTemplate> prepared;
};

absl::StatusOr<std::unique_ptr<Sm2Signer>> Sm2Signer::Create(absl::string_view private_key_pem,
                                                             std::string key_id, absl::string_view user_id) {
  if (absl::Status s = CheckUserId(user_id); !s.ok()) return s;
  const std::string what = absl::StrCat("private key for '", key_id, "'");
  absl::StatusOr<EvpPkeyPtr> pkey = internal::ParsePrivateKeyPem(private_key_pem, what);
  if (!pkey.ok()) return pkey.status();
  if (absl::Status s = internal::CheckIsSm2(pkey->get(), what); !s.ok()) return s;
  absl::StatusOr<EvpPkeyPtr> sm2 = internal::NormalizeSm2Key(*std::move(pkey), /*include_private=*/true);
  if (!sm2.ok()) return sm2.status();
  auto key = std::make_unique<Key>();
  key->pkey = *std::move(sm2);
  if (absl::Status s = Prepare(*key, user_id, /*sign=*/true); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("key '", key_id, "': ", s.message()));
  }
  return std::unique_ptr<Sm2Signer>(new Sm2Signer(std::move(key), std::move(key_id), std::string(user_id)));
}

Sm2Signer::Sm2Signer(std::unique_ptr<Key> key, std::string key_id, std::string user_id)
    : key_(std::move(key)), key_id_(std::move(key_id)), user_id_(std::move(user_id)) {}

Sm2Signer::~Sm2Signer() = default;

absl::StatusOr<std::string> Sm2Signer::Sign(absl::string_view data) const {
  absl::StatusOr<EvpMdCtxPtr> ctx = key_->prepared->NewCall();
  if (!ctx.ok()) return absl::Status(ctx.status().code(), absl::StrCat("key '", key_id_, "': ", ctx.status().message()));
  return internal::DigestSign(ctx->get(), key_->pkey.get(), data, "SM2", key_id_);
}

absl::StatusOr<std::unique_ptr<Sm2Verifier>> Sm2Verifier::CreateFromPublicKeyPem(absl::string_view pem,
                                                                                 absl::string_view user_id) {
  if (absl::Status s = CheckUserId(user_id); !s.ok()) return s;
  absl::StatusOr<EvpPkeyPtr> pkey = VerifierKey(internal::ParsePublicKeyPem(pem, "public key"));
  if (!pkey.ok()) return pkey.status();
  auto key = std::make_unique<Key>();
  key->pkey = *std::move(pkey);
  if (absl::Status s = Prepare(*key, user_id, /*sign=*/false); !s.ok()) return s;
  return std::unique_ptr<Sm2Verifier>(new Sm2Verifier(std::move(key), std::string(user_id)));
}

absl::StatusOr<std::unique_ptr<Sm2Verifier>> Sm2Verifier::CreateFromPublicKeyDer(absl::string_view der,
                                                                                 absl::string_view user_id) {
  if (absl::Status s = CheckUserId(user_id); !s.ok()) return s;
  absl::StatusOr<EvpPkeyPtr> pkey = VerifierKey(internal::ParsePublicKeyDer(der, "public key"));
  if (!pkey.ok()) return pkey.status();
  auto key = std::make_unique<Key>();
  key->pkey = *std::move(pkey);
  if (absl::Status s = Prepare(*key, user_id, /*sign=*/false); !s.ok()) return s;
  return std::unique_ptr<Sm2Verifier>(new Sm2Verifier(std::move(key), std::string(user_id)));
}

absl::StatusOr<std::unique_ptr<Sm2Verifier>> Sm2Verifier::CreateFromUncompressedPoint(absl::string_view point,
                                                                                      absl::string_view user_id) {
  if (absl::Status s = CheckUserId(user_id); !s.ok()) return s;
  absl::StatusOr<EvpPkeyPtr> pkey = VerifierKey(internal::EcPublicKeyFromPoint("SM2", kSm2GroupName, point));
  if (!pkey.ok()) return pkey.status();
  auto key = std::make_unique<Key>();
  key->pkey = *std::move(pkey);
  if (absl::Status s = Prepare(*key, user_id, /*sign=*/false); !s.ok()) return s;
  return std::unique_ptr<Sm2Verifier>(new Sm2Verifier(std::move(key), std::string(user_id)));
}

Sm2Verifier::Sm2Verifier(std::unique_ptr<Key> key, std::string user_id)
    : key_(std::move(key)), user_id_(std::move(user_id)) {}

Sm2Verifier::~Sm2Verifier() = default;

absl::Status Sm2Verifier::Verify(absl::string_view signature, absl::string_view data) const {
  if (absl::Status s = internal::CheckCanonicalDerSignature(signature); !s.ok()) return s;
  absl::StatusOr<EvpMdCtxPtr> ctx = key_->prepared->NewCall();
  if (!ctx.ok()) return ctx.status();
  if (EVP_DigestVerify(ctx->get(), BytesOf(signature), signature.size(), BytesOf(data), data.size()) != 1) {
    ERR_clear_error();
    return absl::UnauthenticatedError("signature does not verify");
  }
  return absl::OkStatus();
}

absl::Status Sm2Verifier::VerifyPrecomputedDigest(absl::string_view signature, absl::string_view e) const {
  if (e.size() != kFieldSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("SM2 digest e must be 32 bytes (an SM3 output), got ", e.size()));
  }
  if (absl::Status s = internal::CheckCanonicalDerSignature(signature); !s.ok()) return s;
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key_->pkey.get(), nullptr));
  if (ctx == nullptr || EVP_PKEY_verify_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_signature_md(ctx.get(), Sm3Md()) <= 0) {
    return absl::InternalError(absl::StrCat("SM2 verification setup failed: ", OpenSslErrors()));
  }
  if (EVP_PKEY_verify(ctx.get(), BytesOf(signature), signature.size(), BytesOf(e), e.size()) != 1) {
    ERR_clear_error();
    return absl::UnauthenticatedError("signature does not verify");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Sm2Verifier::Za() const {
  absl::StatusOr<std::string> point = internal::EcPublicPoint(key_->pkey.get());
  if (!point.ok()) return point.status();
  return ComputeSm2Za(user_id_, *point);
}

}  // namespace caselink::security
