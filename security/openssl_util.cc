// Shared OpenSSL plumbing for caselink_security: error text, PEM/DER key and certificate
// parsing, SM2 key normalisation, strict signature encoding checks and AEAD framing.
#include "security/openssl_util.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <string>
#include <utility>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "absl/strings/str_cat.h"

namespace caselink::security::internal {
namespace {

constexpr size_t kEcFieldSize = 32;  // P-256 and SM2 both use 256-bit fields.

int GroupNid(const EVP_PKEY* pkey) {
  char group[80] = {0};
  size_t group_len = 0;
  if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), &group_len) != 1) {
    ERR_clear_error();
    return NID_undef;
  }
  int nid = OBJ_sn2nid(group);
  if (nid == NID_undef) nid = EC_curve_nist2nid(group);
  return nid;
}

}  // namespace

void WipeString(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

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

int RefusePassphrase(char*, int, int, void*) { return -1; }

const unsigned char* BytesOf(absl::string_view s) {
  static constexpr unsigned char kEmpty = 0;
  return s.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(s.data());
}

unsigned char* MutableBytesOf(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }

absl::StatusOr<BioPtr> ReadOnlyBio(absl::string_view text) {
  static constexpr char kEmpty[] = "";
  BioPtr bio;
  if (text.size() <= static_cast<size_t>(INT_MAX)) {
    bio.reset(BIO_new_mem_buf(text.empty() ? kEmpty : text.data(), static_cast<int>(text.size())));
  }
  if (bio == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot allocate a BIO: ", OpenSslErrors()));
  }
  return bio;
}

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  if (size <= 0 || data == nullptr) return "";
  return std::string(data, static_cast<size_t>(size));
}

std::string KeyDescription(const EVP_PKEY* pkey) {
  const char* type = EVP_PKEY_get0_type_name(pkey);
  if (type == nullptr) type = OBJ_nid2sn(EVP_PKEY_get_base_id(pkey));
  std::string out = type != nullptr ? type : "unknown";
  if (EVP_PKEY_is_a(pkey, "EC") || EVP_PKEY_is_a(pkey, "SM2")) {
    char group[80] = {0};
    size_t group_len = 0;
    if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), &group_len) == 1) {
      absl::StrAppend(&out, " on curve ", group);
    } else {
      ERR_clear_error();
      absl::StrAppend(&out, " with explicit curve parameters");
    }
  }
  return out;
}

KeyKind KindOf(const EVP_PKEY* pkey) {
  if (EVP_PKEY_is_a(pkey, "ED25519")) return KeyKind::kEd25519;
  if (EVP_PKEY_is_a(pkey, "SM2") || EVP_PKEY_is_a(pkey, "EC")) {
    switch (GroupNid(pkey)) {
      case NID_X9_62_prime256v1:
        return EVP_PKEY_is_a(pkey, "EC") ? KeyKind::kP256 : KeyKind::kOther;
      case NID_sm2:
        return KeyKind::kSm2;
      default:
        return KeyKind::kOther;
    }
  }
  return KeyKind::kOther;
}

absl::Status CheckIsP256(const EVP_PKEY* pkey, absl::string_view what) {
  if (KindOf(pkey) != KeyKind::kP256) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is ", KeyDescription(pkey), "; expected an EC key on P-256 (prime256v1)"));
  }
  return absl::OkStatus();
}

absl::Status CheckIsSm2(const EVP_PKEY* pkey, absl::string_view what) {
  if (KindOf(pkey) != KeyKind::kSm2) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is ", KeyDescription(pkey), "; expected an SM2 key on curve sm2p256v1"));
  }
  return absl::OkStatus();
}

absl::StatusOr<EvpPkeyPtr> NormalizeSm2Key(EvpPkeyPtr pkey, bool include_private) {
  if (absl::Status s = CheckIsSm2(pkey.get(), "key"); !s.ok()) return s;
  if (EVP_PKEY_is_a(pkey.get(), "SM2")) return pkey;
  // An EC-typed key on the SM2 curve would be used with ECDSA by EVP; re-import its
  // components under the SM2 key manager so the SM2 algorithms apply.
  const int selection = include_private ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY;
  OSSL_PARAM* raw_params = nullptr;
  if (EVP_PKEY_todata(pkey.get(), selection, &raw_params) != 1) {
    return absl::InternalError(absl::StrCat("cannot export the SM2 key components: ", OpenSslErrors()));
  }
  // The exported parameters hold the private scalar when include_private is set; wipe them
  // on every path before they are freed.
  struct WipingParamsDeleter {
    void operator()(OSSL_PARAM* params) const {
      for (OSSL_PARAM* p = params; p != nullptr && p->key != nullptr; ++p) {
        if (std::strcmp(p->key, OSSL_PKEY_PARAM_PRIV_KEY) == 0 && p->data != nullptr) {
          OPENSSL_cleanse(p->data, p->data_size);
        }
      }
      OSSL_PARAM_free(params);
    }
  };
  std::unique_ptr<OSSL_PARAM[], WipingParamsDeleter> params(raw_params);
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "SM2", nullptr));
  if (ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) != 1) {
    return absl::InternalError(
        absl::StrCat("this OpenSSL has no SM2 key support (needed for the GM profile): ", OpenSslErrors()));
  }
  EVP_PKEY* converted = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &converted, selection, params.get()) != 1) {
    return absl::InternalError(absl::StrCat("cannot import the key as SM2: ", OpenSslErrors()));
  }
  return EvpPkeyPtr(converted);
}

absl::StatusOr<EvpPkeyPtr> ParsePrivateKeyPem(absl::string_view pem, absl::string_view what) {
  absl::StatusOr<BioPtr> bio = ReadOnlyBio(pem);
  if (!bio.ok()) return bio.status();
  EvpPkeyPtr pkey(PEM_read_bio_PrivateKey(bio->get(), nullptr, RefusePassphrase, nullptr));
  if (pkey == nullptr) {
    std::string errors = OpenSslErrors();
    if (pem.find("ENCRYPTED") != absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " is passphrase-protected; provide an unencrypted PKCS#8 PEM key (", errors, ")"));
    }
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is not a PKCS#8 or SEC1 PEM private key (", errors, ")"));
  }
  return pkey;
}

absl::StatusOr<EvpPkeyPtr> ParsePublicKeyPem(absl::string_view pem, absl::string_view what) {
  absl::StatusOr<BioPtr> bio = ReadOnlyBio(pem);
  if (!bio.ok()) return bio.status();
  EvpPkeyPtr pkey(PEM_read_bio_PUBKEY(bio->get(), nullptr, RefusePassphrase, nullptr));
  if (pkey == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " is not a SubjectPublicKeyInfo PEM (\"BEGIN PUBLIC KEY\"): ", OpenSslErrors()));
  }
  return pkey;
}

absl::StatusOr<EvpPkeyPtr> ParsePublicKeyDer(absl::string_view der, absl::string_view what) {
  const unsigned char* p = BytesOf(der);
  const unsigned char* end = p + der.size();
  EvpPkeyPtr pkey(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
  if (pkey == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is not a DER SubjectPublicKeyInfo: ", OpenSslErrors()));
  }
  if (p != end) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " DER has ", end - p, " trailing bytes after the SubjectPublicKeyInfo"));
  }
  return pkey;
}

absl::StatusOr<EvpPkeyPtr> EcPublicKeyFromPoint(const char* key_type, const char* group,
                                                absl::string_view point) {
  if (point.size() != 1 + 2 * kEcFieldSize || static_cast<unsigned char>(point[0]) != 0x04) {
    return absl::InvalidArgumentError(absl::StrCat("public point must be an uncompressed SEC1 point on ", group,
                                                   " (65 bytes starting with 0x04), got ", point.size(),
                                                   " bytes"));
  }
  OsslParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot build EC key parameters: ", OpenSslErrors()));
  }
  OsslParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  if (params == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot build EC key parameters: ", OpenSslErrors()));
  }
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, key_type, nullptr));
  if (ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) != 1) {
    return absl::InternalError(absl::StrCat("cannot create a ", key_type, " key context: ", OpenSslErrors()));
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("public point is not on the ", group, " curve: ", OpenSslErrors()));
  }
  return EvpPkeyPtr(raw);
}

absl::StatusOr<std::string> EcPublicPoint(const EVP_PKEY* pkey) {
  BIGNUM* x_raw = nullptr;
  BIGNUM* y_raw = nullptr;
  const int got_x = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x_raw);
  BignumPtr x(x_raw);
  const int got_y = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y_raw);
  BignumPtr y(y_raw);
  if (got_x != 1 || got_y != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read the public point of ", KeyDescription(pkey), ": ", OpenSslErrors()));
  }
  std::string point(1 + 2 * kEcFieldSize, '\0');
  point[0] = 0x04;
  unsigned char* out = MutableBytesOf(point);
  if (BN_bn2binpad(x.get(), out + 1, kEcFieldSize) < 0 ||
      BN_bn2binpad(y.get(), out + 1 + kEcFieldSize, kEcFieldSize) < 0) {
    return absl::InvalidArgumentError("public point coordinates do not fit in 32 bytes");
  }
  return point;
}

absl::Status CheckPublicKey(EVP_PKEY* pkey, absl::string_view what) {
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  if (ctx == nullptr) {
    return absl::InternalError(absl::StrCat("cannot create key check context: ", OpenSslErrors()));
  }
  if (EVP_PKEY_public_check(ctx.get()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is not a valid point on its curve: ", OpenSslErrors()));
  }
  return absl::OkStatus();
}

absl::StatusOr<EvpPkeyPtr> ValidatedSm2PublicKey(EvpPkeyPtr pkey, absl::string_view what) {
  if (absl::Status s = CheckIsSm2(pkey.get(), what); !s.ok()) return s;
  absl::StatusOr<EvpPkeyPtr> sm2 = NormalizeSm2Key(std::move(pkey), /*include_private=*/false);
  if (!sm2.ok()) return sm2.status();
  if (absl::Status s = CheckPublicKey(sm2->get(), what); !s.ok()) return s;
  return sm2;
}

absl::StatusOr<X509Ptr> ParseCertificatePem(absl::string_view pem, absl::string_view what) {
  absl::StatusOr<BioPtr> bio = ReadOnlyBio(pem);
  if (!bio.ok()) return bio.status();
  // Certificates never carry passphrases; refusing keeps OpenSSL from ever prompting.
  X509Ptr x509(PEM_read_bio_X509(bio->get(), nullptr, RefusePassphrase, nullptr));
  if (x509 == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " is not a PEM certificate (expected a \"BEGIN CERTIFICATE\" block): ", OpenSslErrors()));
  }
  return x509;
}

absl::StatusOr<std::string> PublicKeyPem(EVP_PKEY* pkey) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_PUBKEY(bio.get(), pkey) != 1) {
    return absl::InternalError(absl::StrCat("cannot PEM-encode the public key: ", OpenSslErrors()));
  }
  return BioContents(bio.get());
}

absl::StatusOr<std::string> PublicKeyDer(EVP_PKEY* pkey) {
  unsigned char* raw = nullptr;
  int size = i2d_PUBKEY(pkey, &raw);
  OpenSslBytesPtr der(raw);
  if (size <= 0) {
    return absl::InternalError(absl::StrCat("cannot DER-encode the public key: ", OpenSslErrors()));
  }
  return std::string(reinterpret_cast<const char*>(der.get()), static_cast<size_t>(size));
}

absl::StatusOr<std::string> PrivateKeyPem(EVP_PKEY* pkey) {
  BioPtr bio(BIO_new(BIO_s_secmem()));
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), pkey, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return absl::InternalError(absl::StrCat("cannot PEM-encode the private key: ", OpenSslErrors()));
  }
  std::string pem = BioContents(bio.get());
  if (pem.empty()) return absl::InternalError("PEM encoding of the private key produced no output");
  return pem;
}

const EVP_MD* Sha256Md() {
  static const EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

absl::StatusOr<std::unique_ptr<DigestContextTemplate>> DigestContextTemplate::Create(
    const std::function<absl::Status(EVP_MD_CTX*)>& init) {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot allocate a digest context: ", OpenSslErrors()));
  }
  if (absl::Status s = init(ctx.get()); !s.ok()) return s;
  return std::unique_ptr<DigestContextTemplate>(new DigestContextTemplate(std::move(ctx)));
}

absl::StatusOr<EvpMdCtxPtr> DigestContextTemplate::NewCall() const {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot allocate a digest context: ", OpenSslErrors()));
  }
  if (EVP_MD_CTX_copy_ex(ctx.get(), ctx_.get()) != 1) {
    return absl::InternalError(absl::StrCat("cannot copy the prepared signature context: ", OpenSslErrors()));
  }
  // One-shot use: without this flag EVP_DigestSignFinal/VerifyFinal duplicate the context
  // once more so that it could be updated again.
  EVP_MD_CTX_set_flags(ctx.get(), EVP_MD_CTX_FLAG_FINALISE);
  return ctx;
}

absl::StatusOr<std::string> DigestSign(EVP_MD_CTX* ctx, const EVP_PKEY* pkey, absl::string_view data,
                                       absl::string_view algorithm, absl::string_view key_id) {
  int max_size = EVP_PKEY_get_size(pkey);
  if (max_size <= 0) {
    return absl::InternalError(
        absl::StrCat("cannot determine signature size for key '", key_id, "': ", OpenSslErrors()));
  }
  std::string signature(static_cast<size_t>(max_size), '\0');
  size_t size = signature.size();
  if (EVP_DigestSign(ctx, MutableBytesOf(signature), &size, BytesOf(data), data.size()) != 1) {
    return absl::InternalError(absl::StrCat(algorithm, " signing failed for key '", key_id, "': ", OpenSslErrors()));
  }
  signature.resize(size);
  return signature;
}

absl::Status CheckCanonicalDerSignature(absl::string_view signature) {
  const unsigned char* sig = BytesOf(signature);
  const unsigned char* p = sig;
  EcdsaSigPtr parsed(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(signature.size())));
  auto fail = [](absl::string_view why) {
    ERR_clear_error();
    return absl::UnauthenticatedError(absl::StrCat("signature does not verify: ", why));
  };
  if (parsed == nullptr) return fail("not a DER-encoded (r, s) signature");
  if (p != sig + signature.size()) return fail("trailing bytes after the DER signature");
  unsigned char* reencoded_raw = nullptr;
  int reencoded_size = i2d_ECDSA_SIG(parsed.get(), &reencoded_raw);
  OpenSslBytesPtr reencoded(reencoded_raw);
  if (reencoded_size <= 0) return fail("cannot re-encode the signature");
  if (static_cast<size_t>(reencoded_size) != signature.size() ||
      std::memcmp(reencoded.get(), sig, signature.size()) != 0) {
    return fail("signature is not in canonical DER form");
  }
  return absl::OkStatus();
}

absl::Status RandomBytes(size_t size, std::string* out) {
  out->assign(size, '\0');
  if (size == 0) return absl::OkStatus();
  if (size > static_cast<size_t>(INT_MAX) || RAND_bytes(MutableBytesOf(*out), static_cast<int>(size)) != 1) {
    return absl::InternalError(absl::StrCat("the random number generator failed: ", OpenSslErrors()));
  }
  return absl::OkStatus();
}

bool CipherUpdateAll(EVP_CIPHER_CTX* ctx, absl::string_view in, unsigned char* out) {
  while (!in.empty()) {
    const size_t n = std::min(in.size(), kMaxEvpChunk);
    int written = 0;
    if (EVP_CipherUpdate(ctx, out, &written, BytesOf(in), static_cast<int>(n)) != 1) return false;
    if (out != nullptr) {
      if (static_cast<size_t>(written) != n) return false;
      out += n;
    }
    in.remove_prefix(n);
  }
  return true;
}

absl::Status CheckAeadIvSize(absl::string_view name, absl::string_view iv, size_t iv_size) {
  if (iv.size() != iv_size) {
    return absl::InvalidArgumentError(absl::StrCat(name, " IV must be ", iv_size, " bytes, got ", iv.size()));
  }
  return absl::OkStatus();
}

absl::Status CheckAeadHoldsTag(absl::string_view name, absl::string_view ciphertext_and_tag, size_t tag_size) {
  if (ciphertext_and_tag.size() < tag_size) {
    return absl::InvalidArgumentError(absl::StrCat(name, " ciphertext is ", ciphertext_and_tag.size(),
                                                   " bytes; the ", tag_size, "-byte tag alone needs more"));
  }
  return absl::OkStatus();
}

absl::Status CheckAeadHoldsIvAndTag(absl::string_view name, absl::string_view ciphertext, size_t iv_size,
                                    size_t tag_size) {
  if (ciphertext.size() < iv_size + tag_size) {
    return absl::InvalidArgumentError(absl::StrCat(name, " ciphertext is ", ciphertext.size(), " bytes; at least ",
                                                   iv_size + tag_size, " (IV and tag) are required"));
  }
  return absl::OkStatus();
}

}  // namespace caselink::security::internal
