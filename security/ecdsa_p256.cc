// ECDSA P-256/SHA-256 signing and strict-DER verification over OpenSSL 3 EVP_PKEY,
// so callers never see OpenSSL types or its lenient signature parsing.
#include "security/ecdsa_p256.h"

#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace caselink::security {
namespace {

constexpr size_t kUncompressedPointSize = 65;  // 0x04 || X (32) || Y (32)
constexpr unsigned char kUncompressedPrefix = 0x04;
constexpr char kP256GroupName[] = "prime256v1";

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* pkey) const { EVP_PKEY_free(pkey); }
};
struct EvpPkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};
struct EvpMdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
struct EcdsaSigDeleter {
  void operator()(ECDSA_SIG* sig) const { ECDSA_SIG_free(sig); }
};
struct OsslParamBldDeleter {
  void operator()(OSSL_PARAM_BLD* bld) const { OSSL_PARAM_BLD_free(bld); }
};
struct OsslParamDeleter {
  void operator()(OSSL_PARAM* params) const { OSSL_PARAM_free(params); }
};
struct OpenSslFreeDeleter {
  void operator()(unsigned char* p) const { OPENSSL_free(p); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;
using EvpPkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, EvpPkeyCtxDeleter>;
using EvpMdCtxPtr = std::unique_ptr<EVP_MD_CTX, EvpMdCtxDeleter>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, EcdsaSigDeleter>;
using OsslParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, OsslParamBldDeleter>;
using OsslParamPtr = std::unique_ptr<OSSL_PARAM[], OsslParamDeleter>;
using OpenSslBytesPtr = std::unique_ptr<unsigned char, OpenSslFreeDeleter>;

// Drains the thread's OpenSSL error queue so a stale error never leaks into a
// later, unrelated message.
std::string OpenSslErrors() {
  std::string out;
  while (unsigned long err = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "no OpenSSL error reported" : out;
}

// Encrypted keys would otherwise make OpenSSL prompt on the controlling terminal,
// which hangs a daemon; refusing the passphrase turns that into an error.
int RefusePassphrase(char*, int, int, void*) { return -1; }

// EVP calls want a non-null pointer even for empty input.
const unsigned char* BytesOf(absl::string_view s) {
  static constexpr unsigned char kEmpty = 0;
  return s.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(s.data());
}

// BIO_new_mem_buf refuses a null pointer, which a default string_view has.
BioPtr ReadOnlyBio(absl::string_view text) {
  static constexpr char kEmpty[] = "";
  return BioPtr(BIO_new_mem_buf(text.empty() ? kEmpty : text.data(), static_cast<int>(text.size())));
}

std::string KeyTypeName(const EVP_PKEY* pkey) {
  const char* name = EVP_PKEY_get0_type_name(pkey);
  if (name == nullptr) name = OBJ_nid2sn(EVP_PKEY_get_base_id(pkey));
  return name != nullptr ? name : "unknown";
}

// `what` names the key in messages ("private key", "public key").
absl::Status CheckIsP256(const EVP_PKEY* pkey, absl::string_view what) {
  if (!EVP_PKEY_is_a(pkey, "EC")) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is a ", KeyTypeName(pkey),
                                                   " key; expected an EC key on P-256 (prime256v1)"));
  }
  char group[80] = {0};
  size_t group_len = 0;
  if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), &group_len) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat(what, " uses explicit EC parameters; expected the named curve P-256 (prime256v1)"));
  }
  int nid = OBJ_sn2nid(group);
  if (nid == NID_undef) nid = EC_curve_nist2nid(group);
  if (nid != NID_X9_62_prime256v1) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is on EC curve ", group, "; expected P-256 (prime256v1)"));
  }
  return absl::OkStatus();
}

// Rejects points off the curve or of wrong order before they reach verification.
absl::Status CheckPublicKey(EVP_PKEY* pkey) {
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  if (ctx == nullptr) {
    return absl::InternalError(absl::StrCat("cannot create key check context: ", OpenSslErrors()));
  }
  if (EVP_PKEY_public_check(ctx.get()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("public key is not a valid P-256 point: ", OpenSslErrors()));
  }
  return absl::OkStatus();
}

absl::StatusOr<EvpPkeyPtr> ValidatedPublicKey(EvpPkeyPtr pkey) {
  if (absl::Status s = CheckIsP256(pkey.get(), "public key"); !s.ok()) return s;
  if (absl::Status s = CheckPublicKey(pkey.get()); !s.ok()) return s;
  return pkey;
}

absl::Status VerifyFailure(absl::string_view why) {
  ERR_clear_error();
  return absl::UnauthenticatedError(absl::StrCat("signature does not verify: ", why));
}

}  // namespace

struct EcdsaP256Signer::Key {
  EvpPkeyPtr pkey;
};

struct EcdsaP256Verifier::Key {
  EvpPkeyPtr pkey;
};

absl::StatusOr<std::unique_ptr<EcdsaP256Signer>> EcdsaP256Signer::Create(absl::string_view private_key_pem,
                                                                          std::string key_id) {
  BioPtr bio = ReadOnlyBio(private_key_pem);
  if (bio == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot allocate a BIO: ", OpenSslErrors()));
  }
  EvpPkeyPtr pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, RefusePassphrase, nullptr));
  if (pkey == nullptr) {
    std::string errors = OpenSslErrors();
    if (private_key_pem.find("ENCRYPTED") != absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "private key for '", key_id,
          "' is passphrase-protected; provide an unencrypted PKCS#8 or SEC1 PEM key (", errors, ")"));
    }
    return absl::InvalidArgumentError(absl::StrCat("private key for '", key_id,
                                                   "' is not a PKCS#8 or SEC1 PEM private key (", errors,
                                                   ")"));
  }
  if (absl::Status s = CheckIsP256(pkey.get(), absl::StrCat("private key for '", key_id, "'")); !s.ok()) {
    return s;
  }
  auto key = std::make_unique<Key>();
  key->pkey = std::move(pkey);
  return std::unique_ptr<EcdsaP256Signer>(new EcdsaP256Signer(std::move(key), std::move(key_id)));
}

EcdsaP256Signer::EcdsaP256Signer(std::unique_ptr<Key> key, std::string key_id)
    : key_(std::move(key)), key_id_(std::move(key_id)) {}

EcdsaP256Signer::~EcdsaP256Signer() = default;

absl::StatusOr<std::string> EcdsaP256Signer::Sign(absl::string_view data) const {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot allocate a digest context: ", OpenSslErrors()));
  }
  if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_->pkey.get()) != 1) {
    return absl::InternalError(
        absl::StrCat("ECDSA signing setup failed for key '", key_id_, "': ", OpenSslErrors()));
  }
  int max_size = EVP_PKEY_get_size(key_->pkey.get());
  if (max_size <= 0) {
    return absl::InternalError(
        absl::StrCat("cannot determine signature size for key '", key_id_, "': ", OpenSslErrors()));
  }
  std::string signature(static_cast<size_t>(max_size), '\0');
  size_t size = signature.size();
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &size, BytesOf(data),
                     data.size()) != 1) {
    return absl::InternalError(
        absl::StrCat("ECDSA signing failed for key '", key_id_, "': ", OpenSslErrors()));
  }
  signature.resize(size);
  return signature;
}

absl::StatusOr<std::unique_ptr<EcdsaP256Verifier>> EcdsaP256Verifier::CreateFromPublicKeyPem(
    absl::string_view pem) {
  BioPtr bio = ReadOnlyBio(pem);
  if (bio == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot allocate a BIO: ", OpenSslErrors()));
  }
  EvpPkeyPtr pkey(PEM_read_bio_PUBKEY(bio.get(), nullptr, RefusePassphrase, nullptr));
  if (pkey == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "public key is not a SubjectPublicKeyInfo PEM (\"BEGIN PUBLIC KEY\"): ", OpenSslErrors()));
  }
  absl::StatusOr<EvpPkeyPtr> valid = ValidatedPublicKey(std::move(pkey));
  if (!valid.ok()) return valid.status();
  auto key = std::make_unique<Key>();
  key->pkey = *std::move(valid);
  return std::unique_ptr<EcdsaP256Verifier>(new EcdsaP256Verifier(std::move(key)));
}

absl::StatusOr<std::unique_ptr<EcdsaP256Verifier>> EcdsaP256Verifier::CreateFromPublicKeyDer(
    absl::string_view der) {
  const unsigned char* p = BytesOf(der);
  const unsigned char* end = p + der.size();
  EvpPkeyPtr pkey(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
  if (pkey == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("public key is not a DER SubjectPublicKeyInfo: ", OpenSslErrors()));
  }
  if (p != end) {
    return absl::InvalidArgumentError(
        absl::StrCat("public key DER has ", end - p, " trailing bytes after the SubjectPublicKeyInfo"));
  }
  absl::StatusOr<EvpPkeyPtr> valid = ValidatedPublicKey(std::move(pkey));
  if (!valid.ok()) return valid.status();
  auto key = std::make_unique<Key>();
  key->pkey = *std::move(valid);
  return std::unique_ptr<EcdsaP256Verifier>(new EcdsaP256Verifier(std::move(key)));
}

absl::StatusOr<std::unique_ptr<EcdsaP256Verifier>> EcdsaP256Verifier::CreateFromUncompressedPoint(
    absl::string_view point) {
  if (point.size() != kUncompressedPointSize || static_cast<unsigned char>(point[0]) != kUncompressedPrefix) {
    return absl::InvalidArgumentError(
        absl::StrCat("public point must be an uncompressed SEC1 P-256 point "
                     "(65 bytes starting with 0x04), got ",
                     point.size(), " bytes"));
  }
  OsslParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, kP256GroupName, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot build EC key parameters: ", OpenSslErrors()));
  }
  OsslParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  if (params == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot build EC key parameters: ", OpenSslErrors()));
  }
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  if (ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) != 1) {
    return absl::InternalError(absl::StrCat("cannot create an EC key context: ", OpenSslErrors()));
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("public point is not on the P-256 curve: ", OpenSslErrors()));
  }
  absl::StatusOr<EvpPkeyPtr> valid = ValidatedPublicKey(EvpPkeyPtr(raw));
  if (!valid.ok()) return valid.status();
  auto key = std::make_unique<Key>();
  key->pkey = *std::move(valid);
  return std::unique_ptr<EcdsaP256Verifier>(new EcdsaP256Verifier(std::move(key)));
}

EcdsaP256Verifier::EcdsaP256Verifier(std::unique_ptr<Key> key) : key_(std::move(key)) {}

EcdsaP256Verifier::~EcdsaP256Verifier() = default;

absl::Status EcdsaP256Verifier::Verify(absl::string_view signature, absl::string_view data) const {
  // OpenSSL alone is lenient in places; signatures are accepted only in the one
  // canonical DER form, so a signature cannot be re-encoded into a second valid one.
  const unsigned char* sig = BytesOf(signature);
  const unsigned char* p = sig;
  EcdsaSigPtr parsed(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(signature.size())));
  if (parsed == nullptr) return VerifyFailure("not a DER-encoded ECDSA-Sig-Value");
  if (p != sig + signature.size()) return VerifyFailure("trailing bytes after the DER signature");
  unsigned char* reencoded_raw = nullptr;
  int reencoded_size = i2d_ECDSA_SIG(parsed.get(), &reencoded_raw);
  OpenSslBytesPtr reencoded(reencoded_raw);
  if (reencoded_size <= 0) return VerifyFailure("cannot re-encode the signature");
  if (static_cast<size_t>(reencoded_size) != signature.size() ||
      std::memcmp(reencoded.get(), sig, signature.size()) != 0) {
    return VerifyFailure("signature is not in canonical DER form");
  }

  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot allocate a digest context: ", OpenSslErrors()));
  }
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_->pkey.get()) != 1) {
    return absl::InternalError(absl::StrCat("ECDSA verification setup failed: ", OpenSslErrors()));
  }
  // 0 is a mismatch, negative is malformed input (e.g. r or s out of range): both
  // mean the signature is not acceptable.
  if (EVP_DigestVerify(ctx.get(), sig, signature.size(), BytesOf(data), data.size()) != 1) {
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
